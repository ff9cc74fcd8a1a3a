"""The NQL API's domain logic (``nql.md``): values as JSON, CSV writing, exports and their links.

Views (``engine.api.nql_views``), the Celery task (``engine.tasks``), ``manage.py nql`` and the
admin's *Investigations* page call these; nothing here knows about HTTP.

* **Values.** ``json_value`` converts one row value to what ``json.dumps`` writes, with the
  conventions of ``engine.query.render`` and ``data-model.md``: datetimes ISO 8601 with ``Z``
  (whole seconds), durations and bytes as numbers, percent as 0..1, addresses as text, integral
  ``Decimal`` sums as integers, NaN and infinities as ``null``. ``render`` exposes no per-value JSON
  converter (it writes whole documents), hence this one.
* **CSV.** Comma-separated, a header line, ``\\n`` line ends, fields quoted only when needed
  (Python's ``csv`` module, minimal quoting); values written as the Web API's CSV writes them
  (``render``'s text formatters, ``hr=false``), an absent value as an empty field.
* **Exports.** ``submit_export`` validates the request (the query compiles with these parameters)
  and stores an ``NqlExport`` row in ``SUBMITTED``; ``enqueue_export`` hands its id to Celery once
  the row is committed. ``run_export`` (the task's body) is idempotent: an export already
  ``COMPLETED`` or in ``ERROR`` is left alone, one ``SUBMITTED`` or ``IN_PROGRESS`` (a worker died
  while running it: tasks are acknowledged late, so the broker delivers it again) is (re)done from
  the row. The file is streamed, compressed as asked, to a ``.part`` file of its own attempt and
  renamed into place when complete: a reader never sees half a file. An attempt holds a
  PostgreSQL session-level advisory lock on the export for its whole run: a second delivery of the
  task while the first still runs (Redis after its visibility timeout) leaves it alone, and the lock
  disappears with a dead worker's session, which is how ``redo_lost_exports`` (beat, every minute)
  tells an export whose worker was killed — kombu's SQLAlchemy transport never delivers its task
  again — from one still running, and sends it again.
* **Links.** ``results_path`` signs the export id with ``django.core.signing.TimestampSigner``; the
  link is valid ``RESULTS_LINK_SECONDS`` (15 minutes) and needs no token to download.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import io
import logging
import math
import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from itertools import islice
from pathlib import Path
from typing import IO

from django.conf import settings
from django.core import signing
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from engine import services
from engine.models import NqlExport, SavedQuery
from engine.query import plan as p
from engine.query.errors import QueryError
from engine.query.render import ResultColumn, format_text
from engine.schema import FieldType
from portal import metrics
from portal.logs import current_request_id

logger = logging.getLogger(__name__)

RESULTS_LINK_SECONDS = 15 * 60
RESULTS_LINK_SALT = "engine.exports.results-link"
# Exports a credential may have waiting or running at once; one more is a 429 (Retry-After).
DEFAULT_MAX_PENDING_EXPORTS = 10
RETRY_AFTER_SECONDS = 10

Compression = NqlExport.Compression
Status = NqlExport.Status

FILE_SUFFIXES = {Compression.NONE: ".csv", Compression.GZIP: ".csv.gz", Compression.ZSTD: ".csv.zst"}
CONTENT_TYPES = {
    Compression.NONE: "text/csv; charset=utf-8",
    Compression.GZIP: "application/gzip",
    Compression.ZSTD: "application/zstd",
}
CSV_CONTENT_TYPE = "text/csv; charset=utf-8"


class TooManyExports(Exception):
    """The credential has too many exports waiting or running (HTTP 429)."""

    def __init__(self, limit: int):
        self.limit = limit
        self.retry_after = RETRY_AFTER_SECONDS
        super().__init__(f"too many exports in progress (at most {limit} at once); try again later")


class ResultsLinkInvalid(Exception):
    """A results link that was not signed by this server, or whose 15 minutes have passed."""

    def __init__(self, message: str, *, expired: bool = False):
        self.message, self.expired = message, expired
        super().__init__(message)


# -- values -------------------------------------------------------------------------------------

_REAL_TYPES = (FieldType.REAL, FieldType.PERCENT)


def json_value(value, field_type: FieldType | None = None):
    """One row value as a JSON-serialisable Python value (see the module's docstring)."""
    if value is None:
        return None
    kind = type(value)
    if kind is str or kind is bool:
        return value
    if kind is int:
        return float(value) if field_type in _REAL_TYPES else value
    if kind is float:
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        if not value.is_finite():
            return None
        if field_type not in _REAL_TYPES and value == value.to_integral_value():
            return int(value)
        return float(value)
    if isinstance(value, list | tuple):
        return [json_value(item) for item in value]
    if isinstance(value, dict):
        return {str(key): json_value(item) for key, item in value.items()}
    if isinstance(value, int):  # int subclasses
        return int(value)
    if isinstance(value, float):
        return json_value(float(value), field_type)
    # datetimes, dates, addresses...: the text the Web API's JSON shows.
    return format_text(value, field_type if field_type is not None else FieldType.STRING)


def json_rows(columns: Sequence[ResultColumn], rows: Iterable[Sequence]) -> Iterator[list]:
    """Rows as lists of JSON values."""
    types = [column.type for column in columns]
    for row in rows:
        yield [json_value(value, field_type) for value, field_type in zip(row, types, strict=True)]


# -- CSV ----------------------------------------------------------------------------------------


def _text_formatter(field_type: FieldType) -> Callable[[object], str]:
    """The CSV text of a column's values (``hr=false``), before CSV quoting."""
    try:
        # render's own per-column formatter: chosen once, several times faster than format_text per
        # value (exports write up to a million rows).
        from engine.query.render import _identity
        from engine.query.render import _text_formatter as render_formatter

        return render_formatter(field_type, False, _identity)
    except (ImportError, ValueError):  # pragma: no cover - render reorganised: the public, slower path
        return lambda value: format_text(value, field_type)


def csv_writer(stream: IO[str]):
    """A writer of comma-separated lines with minimal quoting and ``\\n`` line ends."""
    return csv.writer(stream, delimiter=",", quotechar='"', lineterminator="\n", quoting=csv.QUOTE_MINIMAL)


def write_csv(stream: IO[str], columns: Sequence[ResultColumn], rows: Iterable[Sequence],
              max_rows: int | None = None) -> int:
    """Writes the header line and the rows (at most ``max_rows``) to a text stream; the row count."""
    writer = csv_writer(stream)
    writer.writerow([column.name for column in columns])
    formatters = [_text_formatter(column.type) for column in columns]
    count = 0

    def texts() -> Iterator[list[str]]:
        nonlocal count
        source = rows if max_rows is None else islice(rows, max_rows)
        for row in source:
            count += 1
            yield [formatter(value) for formatter, value in zip(formatters, row, strict=True)]

    writer.writerows(texts())
    return count


def csv_text(columns: Sequence[ResultColumn], rows: Iterable[Sequence], max_rows: int | None = None) -> str:
    """The whole CSV document as text (for answers of bounded size)."""
    buffer = io.StringIO()
    write_csv(buffer, columns, rows, max_rows)
    return buffer.getvalue()


# -- queries ------------------------------------------------------------------------------------


def limited(plan: p.Plan, max_rows: int) -> p.Plan:
    """The plan reading at most ``max_rows`` rows (its own ``limit`` stage, if lower, stays)."""
    limit = max_rows if plan.limit is None else min(plan.limit, max_rows)
    return dataclasses.replace(plan, limit=limit)


def check_parameters(text: str, parameters: dict[str, str]) -> list[str]:
    """The query's parameter names; ``QueryError`` for an invalid text, and ``ParameterMismatch`` (a
    ``QueryError``) for a missing parameter or one the query does not use."""
    names = [name.lstrip("$") for name in services.nql_parameter_names(text)]
    missing = [name for name in dict.fromkeys(names) if name not in parameters]
    if missing:
        raise ParameterMismatch(f"missing value for parameter {', '.join('$' + name for name in missing)}")
    unused = [name for name in parameters if name not in names]
    if unused:
        raise ParameterMismatch(f"the query has no parameter {', '.join('$' + name for name in unused)}")
    return names


class ParameterMismatch(QueryError):
    """A parameter the query needs is not given, or one is given that the query does not use."""


# -- exports ------------------------------------------------------------------------------------


def exports_dir() -> Path:
    return Path(settings.DATA_DIR) / "exports"


def max_pending_exports() -> int:
    return int(getattr(settings, "NQL_MAX_PENDING_EXPORTS", DEFAULT_MAX_PENDING_EXPORTS))


def submit_export(saved_query: SavedQuery, parameters: dict[str, str], compression: str, credential=None,
                  *, now: datetime | None = None) -> NqlExport:
    """Validates and stores an export, and has a worker run it once the row is committed.

    Raises ``QueryError`` (400) when the query does not compile with these parameters and
    ``TooManyExports`` (429) when the credential has too many exports waiting or running."""
    now = now or timezone.now()
    prepared = services.prepare_nql(saved_query.text, parameters=parameters, visibility=p.Visibility(), now=now)
    if credential is not None:
        limit = max_pending_exports()
        pending = NqlExport.objects.filter(
            requested_by=credential, status__in=(Status.SUBMITTED, Status.IN_PROGRESS)
        ).count()
        if pending >= limit:
            raise TooManyExports(limit)
    export = NqlExport.objects.create(
        saved_query=saved_query, query_id=saved_query.nql_id, query_text=saved_query.text,
        parameters=dict(parameters), executed_query=prepared.executed_query, compression=compression,
        requested_by=credential,
    )
    export_id = str(export.pk)
    transaction.on_commit(lambda: enqueue_export(export_id))
    return export


def enqueue_export(export_id: str) -> None:
    """Hands the export to a Celery worker (replaced in tests that run no worker)."""
    from engine.tasks import run_nql_export

    run_nql_export.delay(export_id)


def open_compressed(path: Path, compression: str, inner_name: str) -> IO[bytes]:
    """A binary stream writing ``path``, compressed as asked."""
    raw = open(path, "wb")  # noqa: SIM115 - returned, closed by the caller (through the wrapper)
    try:
        if compression == Compression.GZIP:
            return _ClosingGzip(raw, inner_name)
        if compression == Compression.ZSTD:
            import zstandard

            return zstandard.ZstdCompressor(level=3).stream_writer(raw, closefd=True)
    except BaseException:
        raw.close()
        raise
    return raw


class _ClosingGzip(gzip.GzipFile):
    """A GzipFile that also closes the file it writes to (GzipFile leaves a given fileobj open)."""

    def __init__(self, raw: IO[bytes], inner_name: str):
        self._raw = raw
        super().__init__(filename=inner_name, mode="wb", fileobj=raw, compresslevel=6)

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._raw.close()


def write_export_file(path: Path, compression: str, columns: Sequence[ResultColumn], rows: Iterable[Sequence],
                      max_rows: int | None = None) -> int:
    """Streams the CSV document to ``path``, compressed as asked; the number of rows written."""
    binary = open_compressed(path, compression, path.name.split(".")[0] + ".csv")
    with io.TextIOWrapper(binary, encoding="utf-8", errors="replace", newline="", write_through=False) as text:
        return write_csv(text, columns, rows, max_rows)


def _lock_key(export_id) -> int:
    return uuid.UUID(str(export_id)).int >> 65  # fits a positive PostgreSQL bigint


def _try_lock(export_id) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [_lock_key(export_id)])
        return cursor.fetchone()[0]


def _unlock(export_id) -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [_lock_key(export_id)])
    except Exception:  # the session is gone, and its lock with it
        logger.warning("NQL export %s: could not release its lock (the session is gone)", export_id)


def run_export(export_id: str) -> str:
    """Runs one export (the Celery task's body); returns the export's final status.

    Safe to run again for the same export: see the module's docstring."""
    try:
        uuid.UUID(str(export_id))
    except ValueError:
        return "MISSING"
    if not _try_lock(export_id):
        logger.info("NQL export %s is being run by another worker", export_id)
        return Status.IN_PROGRESS
    try:
        return _run_export(export_id)
    finally:
        _unlock(export_id)


def redo_lost_exports() -> int:
    """Sends again every export ``IN_PROGRESS`` whose lock is free (its worker died); their number."""
    sent = 0
    for export_id in NqlExport.objects.filter(status=Status.IN_PROGRESS).values_list("pk", flat=True):
        if not _try_lock(export_id):
            continue  # running
        _unlock(export_id)
        if NqlExport.objects.filter(pk=export_id, status=Status.IN_PROGRESS).exists():  # not just finished
            logger.warning("NQL export %s was left in progress by a worker that stopped; sending it again",
                           export_id)
            enqueue_export(str(export_id))
            sent += 1
    return sent


def _run_export(export_id: str) -> str:
    with transaction.atomic():
        export = NqlExport.objects.select_for_update().filter(pk=export_id).first()
        if export is None:
            logger.warning("NQL export %s does not exist (deleted before it ran?)", export_id)
            return "MISSING"
        if export.status in (Status.COMPLETED, Status.ERROR):
            return export.status
        if export.status == Status.IN_PROGRESS:
            logger.warning("NQL export %s was left in progress (attempt %d); running it again",
                           export_id, export.attempts)
        export.status = Status.IN_PROGRESS
        export.started = timezone.now()
        export.attempts += 1
        export.save(update_fields=["status", "started", "attempts"])
    attempt = export.attempts
    directory = exports_dir()
    name = f"{export.pk}{FILE_SUFFIXES[export.compression]}"
    part = directory / f"{name}.{attempt}.{uuid.uuid4().hex[:8]}.part"
    result = None
    try:
        started = time.monotonic()
        prepared = services.prepare_nql(export.query_text, parameters=export.parameters,
                                        visibility=p.Visibility(), now=export.created)
        result = services.execute(limited(prepared.plan, int(settings.NQL_EXPORT_MAX_ROWS)))
        directory.mkdir(parents=True, exist_ok=True)
        # The plan's limit bounds the rows: they are read to the end, so that the cursor's transaction
        # is over before the export's status is written (a half-read result would roll it back later).
        count = write_export_file(part, export.compression, result.columns, result.rows)
        metrics.observe_query("nql", "export", started, count)
        os.replace(part, directory / name)
        outcome = Status.COMPLETED, {"file_path": name, "row_count": count}
    except QueryError as error:
        outcome = Status.ERROR, {"error_description": error.full_message}
    except Exception:
        request_id = current_request_id()
        logger.exception("NQL export %s failed (request id %s)", export_id, request_id)
        outcome = Status.ERROR, {"error_description": f"internal error (request id {request_id})"}
    finally:
        if result is not None:
            result.close()
    if outcome[0] != Status.COMPLETED:
        _remove(part)
    return _finish(export, attempt, outcome[0], **outcome[1])


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)


def _finish(export: NqlExport, attempt: int, status: str, **fields) -> str:
    """Records the end of one attempt, unless another attempt has taken the export over since."""
    with transaction.atomic():
        current = NqlExport.objects.select_for_update().get(pk=export.pk)
        if current.status != Status.IN_PROGRESS or current.attempts != attempt:
            logger.warning("NQL export %s: attempt %d ended after attempt %d took over", export.pk, attempt,
                           current.attempts)
            return current.status
        NqlExport.objects.filter(pk=export.pk).update(status=status, finished=timezone.now(), **fields)
    return status


# -- results links ------------------------------------------------------------------------------


def _signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=RESULTS_LINK_SALT)


def results_path(export: NqlExport) -> str:
    """The path of the export's results file, signed and valid ``RESULTS_LINK_SECONDS``."""
    return reverse("engine-api:nql-results", args=[_signer().sign(str(export.pk))])


def export_for_link(token: str) -> NqlExport | None:
    """The completed export a signed link points at (None when there is no such file any more).

    Raises ``ResultsLinkInvalid`` for a link this server did not sign or that has expired."""
    try:
        export_id = _signer().unsign(token, max_age=RESULTS_LINK_SECONDS)
    except signing.SignatureExpired:
        raise ResultsLinkInvalid("the results link has expired; ask for the export's status again",
                                 expired=True) from None
    except signing.BadSignature:
        raise ResultsLinkInvalid("the results link is not valid") from None
    try:
        export = NqlExport.objects.filter(pk=uuid.UUID(export_id), status=Status.COMPLETED).first()
    except ValueError:
        return None
    if export is None or not export.file_path:
        return None
    return export


def results_file(export: NqlExport) -> Path | None:
    """The export's file on disk, if it is still there."""
    path = exports_dir() / export.file_path
    return path if export.file_path and path.is_file() else None


def iter_csv(columns: Sequence[ResultColumn], rows: Iterable[Sequence], max_rows: int | None = None,
             chunk_rows: int = 2000) -> Iterator[bytes]:
    """The CSV document in UTF-8 chunks of ``chunk_rows`` rows (for streamed downloads)."""
    buffer = io.StringIO()
    writer = csv_writer(buffer)
    writer.writerow([column.name for column in columns])
    formatters = [_text_formatter(column.type) for column in columns]
    source = iter(rows) if max_rows is None else islice(rows, max_rows)
    while True:
        batch = list(islice(source, chunk_rows))
        writer.writerows([formatter(value) for formatter, value in zip(formatters, row, strict=True)]
                         for row in batch)
        text = buffer.getvalue()
        if text:
            yield text.encode("utf-8", "replace")
            buffer.seek(0)
            buffer.truncate()
        if len(batch) < chunk_rows:
            return
