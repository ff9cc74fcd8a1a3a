"""Exporter domain logic shared by the admin, the configuration API, the Celery tasks and the commands:
validation, test loads, runs (windows, watermark, one run at a time), stale-run recovery.

A run holds a PostgreSQL advisory lock on its exporter for its whole duration (session level, on the
connection that streams the rows): a second trigger is recorded as skipped, and a ``running`` row
whose exporter's lock is free belongs to a worker that died — it is marked failed and redone.
Progress (records, batches, bytes, attempts) is written to the run row on a connection of its own
while the rows stream, so it is visible before the run ends.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import OuterRef
from django.utils import timezone

from engine.query import plan as p
from engine.query.errors import QueryError
from portal import metrics

from . import schedule
from .delivery import DeliveryFailed, Destination, batches
from .models import MAX_QUERIES, Exporter, ExporterQuery, ExporterRun, query_timeframes
from .rendering import Envelope, RecordRenderer, TemplateError, parse_template

logger = logging.getLogger(__name__)

TEST_LOAD_RECORDS = 20
ANSWER_START_CHARS = 500  # of the destination's answer shown after a test load
LOCK_CLASS = 0x45585052  # "EXPR": advisory-lock namespace of exporter runs
PROGRESS_INTERVAL = 0.5  # seconds between progress writes to the run row


# -- validation ----------------------------------------------------------------------------------

# Model field name -> the name the configuration API uses.
EXPORTER_FIELD_NAMES = {"every_hours": "recurrence", "weekday": "recurrence"}
QUERY_FIELD_NAMES = {"structure": "payload_structure"}


def validation_errors(exporter: Exporter, queries: Sequence[ExporterQuery]) -> dict[str, list[str]]:
    """Every problem of an exporter and its queries (saved or not), keyed ``field`` or
    ``queries[i].field`` with the configuration API's field names; empty when valid."""
    errors: dict[str, list[str]] = {}

    def add(key: str, messages: list[str]) -> None:
        for message in messages:
            if message not in errors.setdefault(key, []):
                errors[key].append(message)

    try:
        exporter.full_clean(exclude=["credential"] if exporter.credential_id is None else None,
                            validate_unique=True)
    except ValidationError as error:
        for name, messages in error.message_dict.items():
            add(EXPORTER_FIELD_NAMES.get(name, name), messages)
    if exporter.credential_id is None and "credential" not in errors:
        add("credential", ["This field is required."])
    if not queries:
        add("queries", ["Add at least one query."])
    elif len(queries) > MAX_QUERIES:
        add("queries", [f"An exporter can have at most {MAX_QUERIES} queries."])
    for index, query in enumerate(queries[:MAX_QUERIES]):
        query.exporter = exporter
        try:
            query.full_clean(exclude=["exporter", "position"], validate_unique=False)
        except ValidationError as error:
            for name, messages in error.message_dict.items():
                if name == NON_FIELD_ERRORS:
                    continue  # the count of queries, checked above for the whole list
                add(f"queries[{index}].{QUERY_FIELD_NAMES.get(name, name)}", messages)
    return errors


def saved_queries(exporter: Exporter) -> list[ExporterQuery]:
    return list(exporter.queries.order_by("position", "id"))


def delivery_runs():
    """Runs that delivered (or tried to): every trigger but test loads, newest first. An exporter's
    *last run* (portal list, configuration API) is the first of these."""
    return ExporterRun.objects.exclude(trigger=ExporterRun.TEST).order_by("-started_at", "-id")


def last_run_of_each():
    """``delivery_runs`` of the outer query's exporter, for ``Subquery(...)`` annotations."""
    return delivery_runs().filter(exporter=OuterRef("pk"))


# -- the lock ------------------------------------------------------------------------------------


@contextmanager
def exporter_lock(exporter_id: int):
    """Yields whether this connection got the exporter's run lock (released on exit, or when the
    connection ends with its process)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [LOCK_CLASS, exporter_id])
        acquired = cursor.fetchone()[0]
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [LOCK_CLASS, exporter_id])


# -- progress --------------------------------------------------------------------------------------


class RunProgress:
    """The figures of a running run, written to its row on a connection of its own (the main one is
    inside the read transaction that streams the rows) at most every ``PROGRESS_INTERVAL``."""

    FIGURES = ("records_sent", "batches_sent", "bytes_sent", "attempts")

    def __init__(self, run: ExporterRun, on_change: Callable[[ExporterRun], None] | None = None):
        self.run = run
        self.on_change = on_change
        self._written = 0.0
        self._connection = None

    def attempt(self) -> None:
        self.run.attempts += 1
        if time.monotonic() - self._written >= PROGRESS_INTERVAL:
            self.write()  # a run that keeps retrying shows its attempts while it runs

    def batch_sent(self, records: int, size: int) -> None:
        self.run.records_sent += records
        self.run.batches_sent += 1
        self.run.bytes_sent += size
        if self.on_change is not None:
            self.on_change(self.run)
        if time.monotonic() - self._written >= PROGRESS_INTERVAL:
            self.write()

    def write(self) -> None:
        if self.run.pk is None:
            return
        if self._connection is None:
            main = connections[DEFAULT_DB_ALIAS]
            self._connection = type(main)(dict(main.settings_dict), alias="exporter_progress")
        with self._connection.cursor() as cursor:
            cursor.execute(
                "UPDATE exporters_exporterrun SET records_sent = %s, batches_sent = %s, bytes_sent = %s, "
                "attempts = %s WHERE id = %s",
                [*(getattr(self.run, name) for name in self.FIGURES), self.run.pk],
            )
        self._written = time.monotonic()

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


# -- sending one query's rows ------------------------------------------------------------------------


@dataclass
class QueryOutcome:
    """What one query sent: records, and the destination's last HTTP status and start of answer."""

    records: int = 0
    status: int | None = None
    response_start: str = ""
    errors: list[str] = field(default_factory=list)

    def as_json(self) -> dict:
        return {"records": self.records, "status": self.status, "response_start": self.response_start,
                "errors": self.errors}


def is_time_bound(query: ExporterQuery) -> bool:
    from engine.nql.parser import parse

    return bool(query_timeframes(parse(query.nql)))


def send_query(query: ExporterQuery, exporter: Exporter, destination: Destination, progress: RunProgress, *,
               now: datetime, max_records: int | None = None) -> QueryOutcome:
    """Runs one query as of ``now`` (its time frame ends there) and sends its rows in batches."""
    from engine.services import execute, prepare_nql

    plan = prepare_nql(query.nql, visibility=p.Visibility(), now=now).plan
    if max_records is not None:
        plan = replace(plan, limit=max_records if plan.limit is None else min(plan.limit, max_records))
    template = parse_template(query.structure, query.payload)
    result = execute(plan, timeout=settings.EXPORT_QUERY_TIMEOUT_SECONDS)
    outcome = QueryOutcome()
    try:
        renderer = RecordRenderer(template, result.columns)
        envelope = Envelope(template)
        batch_size = min(exporter.batch_size, max_records) if max_records is not None else exporter.batch_size
        for batch in batches(renderer, envelope, result.rows, max_records=batch_size,
                             max_bytes=exporter.max_request_bytes):
            try:
                sent = destination.send(batch.body, envelope.content_type)
            except DeliveryFailed as failure:
                failure.outcome = outcome  # what the query sent before this batch failed
                raise
            outcome.records += batch.records
            outcome.status, outcome.response_start = sent.status, sent.answer_start
            progress.batch_sent(batch.records, len(batch.body))
    finally:
        result.close()
    return outcome


# -- runs ------------------------------------------------------------------------------------------


def _finish(run: ExporterRun, status: str, error: str = "", http_status: int | None = None) -> ExporterRun:
    run.status = status
    run.finished_at = timezone.now()
    run.duration_ms = int((run.finished_at - run.started_at).total_seconds() * 1000)
    if error:
        run.last_error = error
    if http_status is not None:
        run.last_status = http_status
    run.save()
    metrics.exporter_run_finished(run.trigger, status, run.records_sent, run.duration_ms,
                                  run.last_status)
    return run


def run_exporter(exporter_id: int, trigger: str = ExporterRun.SCHEDULE, *, redo_of: str | None = None,
                 now: datetime | None = None,
                 on_progress: Callable[[ExporterRun], None] | None = None) -> ExporterRun | None:
    """Runs an exporter: every pending window, oldest first, each query in order; the watermark moves
    after each window delivered completely. None when the exporter no longer exists."""
    exporter = Exporter.objects.select_related("credential").filter(pk=exporter_id).first()
    if exporter is None:
        logger.info("Exporter %s was deleted; nothing to run.", exporter_id)
        return None
    now = now or datetime.now(UTC)
    base = {"exporter": exporter, "exporter_name": exporter.name, "trigger": trigger,
            "redo_of": ExporterRun.objects.filter(uid=redo_of).first() if redo_of else None}
    if trigger == ExporterRun.SCHEDULE and not exporter.enabled:
        # a beat entry removed after it fired, or the redo of a run of an exporter disabled since
        return _finish(ExporterRun(**base), ExporterRun.SKIPPED, "The exporter is disabled.")
    with exporter_lock(exporter.pk) as acquired:
        if not acquired:
            run = ExporterRun(**base)
            return _finish(run, ExporterRun.SKIPPED, "Another run of this exporter was in progress.")
        mark_stale_runs(exporter, redo=False)
        queries = saved_queries(exporter)
        errors = validation_errors(exporter, queries)
        if errors:
            run = ExporterRun.objects.create(**base)
            return _finish(run, ExporterRun.FAILED, "The exporter's configuration is not valid: " + "; ".join(
                f"{key}: {' '.join(messages)}" for key, messages in errors.items()))
        time_bound = [is_time_bound(query) for query in queries]
        windows = schedule.windows_to_export(
            exporter, now, manual=trigger != ExporterRun.SCHEDULE or not any(time_bound))
        run = ExporterRun.objects.create(
            **base, window_start=windows[0].start if windows else None,
            window_end=windows[-1].end if windows else None,
        )
        if any(time_bound) and windows and not _usable_watermark(exporter):
            # First run (or the recurrence changed): remember where delivery starts, so that if this
            # window fails the next run exports it instead of only its own latest window.
            exporter.watermark = windows[0].start
            Exporter.objects.filter(pk=exporter.pk).update(watermark=exporter.watermark)
        progress = RunProgress(run, on_progress)
        try:
            with Destination(exporter, on_attempt=progress.attempt) as destination:
                for position, window in enumerate(windows):
                    last = position == len(windows) - 1
                    for query, bound in zip(queries, time_bound, strict=True):
                        if bound or last:  # snapshot queries: once per run, with the latest window
                            outcome = send_query(query, exporter, destination, progress, now=window.end)
                            if outcome.status is not None:
                                run.last_status = outcome.status
                    if any(time_bound) and (exporter.watermark is None or window.end > exporter.watermark):
                        exporter.watermark = window.end
                        Exporter.objects.filter(pk=exporter.pk).update(watermark=window.end)
        except DeliveryFailed as failure:
            return _finish(run, ExporterRun.FAILED, failure.detail, failure.status)
        except (QueryError, TemplateError) as error:
            message = error.full_message if isinstance(error, QueryError) else str(error)
            return _finish(run, ExporterRun.FAILED, f"The query failed: {message}")
        except Exception as error:
            logger.exception("Exporter %s: run %s failed unexpectedly.", exporter.name, run.uid)
            return _finish(run, ExporterRun.FAILED, f"Internal error ({type(error).__name__}); see the worker log.")
        finally:
            progress.close()
        return _finish(run, ExporterRun.SUCCESS)


def _usable_watermark(exporter: Exporter) -> bool:
    """Whether the exporter's watermark is a period boundary from which windows can be counted."""
    return (exporter.watermark is not None
            and schedule.boundary_at_or_before(exporter, exporter.watermark) == exporter.watermark)


def mark_stale_runs(exporter: Exporter, *, redo: bool) -> list[ExporterRun]:
    """Marks the exporter's ``running`` rows failed: call it holding the exporter's lock, so they belong
    to workers that died. With ``redo``, a run of the exporter is queued again, once (it delivers every
    pending window from the watermark, the dead runs' too; tests are never redone)."""
    stale = _fail_stale_runs(exporter, redo=redo)
    if redo:
        _queue_redos(exporter, stale)
    return stale


def _fail_stale_runs(exporter: Exporter, *, redo: bool) -> list[ExporterRun]:
    stale = list(ExporterRun.objects.filter(exporter=exporter, status=ExporterRun.RUNNING)
                 .exclude(trigger=ExporterRun.TEST))
    for run in stale:
        _finish(run, ExporterRun.FAILED, "The worker running it stopped before the end; the run was redone."
                if redo else "The worker running it stopped before the end.")
    return stale


def _queue_redos(exporter: Exporter, stale: list[ExporterRun]) -> None:
    if stale:  # the oldest dead run is the one redone
        queue_run(exporter, stale[-1].trigger, redo_of=str(stale[-1].uid))


def sweep_stale_runs() -> int:
    """Finds runs whose worker died (their exporter's lock is free), marks them failed and redoes them.
    The redo is queued once the lock is released, so that a worker picking it up at once is not skipped."""
    found = 0
    exporter_ids = (ExporterRun.objects.filter(status=ExporterRun.RUNNING, exporter__isnull=False)
                    .exclude(trigger=ExporterRun.TEST).values_list("exporter_id", flat=True).distinct())
    for exporter_id in list(exporter_ids):
        stale: list[ExporterRun] = []
        with exporter_lock(exporter_id) as acquired:
            if acquired:
                exporter = Exporter.objects.filter(pk=exporter_id).first()
                if exporter is not None:
                    stale = _fail_stale_runs(exporter, redo=True)
        if stale:
            _queue_redos(exporter, stale)
            found += len(stale)
    abandoned_tests = ExporterRun.objects.filter(
        trigger=ExporterRun.TEST, status=ExporterRun.RUNNING,
        started_at__lt=timezone.now() - timezone.timedelta(hours=1))
    for run in abandoned_tests:
        _finish(run, ExporterRun.FAILED, "The test load stopped before the end.")
    return found


def queue_run(exporter: Exporter, trigger: str = ExporterRun.MANUAL, redo_of: str | None = None) -> str:
    """Queues a run on a Celery worker; the task id."""
    from .tasks import run_exporter_task

    result = run_exporter_task.delay(exporter_id=exporter.pk, trigger=trigger, redo_of=redo_of)
    return result.id


# -- test load -------------------------------------------------------------------------------------


@dataclass
class TestLoad:
    run: ExporterRun
    queries: list[QueryOutcome]

    __test__ = False  # not a pytest class


def test_load(exporter: Exporter, queries: Sequence[ExporterQuery], *, now: datetime | None = None) -> TestLoad:
    """Sends at most the first ``TEST_LOAD_RECORDS`` records of each query (one attempt per request) of a
    valid exporter, saved or not; time-bound queries cover the latest complete window. Recorded as a
    test run."""
    now = now or datetime.now(UTC)
    end = schedule.latest_boundary(exporter, now)
    run = ExporterRun.objects.create(
        exporter=exporter if exporter.pk else None, exporter_name=exporter.name, trigger=ExporterRun.TEST,
        window_start=end - schedule.period(exporter), window_end=end,
    )
    progress = RunProgress(run)
    outcomes: list[QueryOutcome] = []
    try:
        with Destination(exporter, max_attempts=1, on_attempt=progress.attempt) as destination:
            for query in queries:
                try:
                    outcome = send_query(query, exporter, destination, progress, now=end,
                                         max_records=TEST_LOAD_RECORDS)
                except DeliveryFailed as failure:
                    sent = getattr(failure, "outcome", None)
                    outcome = QueryOutcome(records=sent.records if sent is not None else 0, status=failure.status,
                                           response_start=failure.answer, errors=[str(failure)])
                except (QueryError, TemplateError) as error:
                    outcome = QueryOutcome(errors=[error.full_message if isinstance(error, QueryError)
                                                   else str(error)])
                except Exception as error:
                    logger.exception("Exporter %s: test load %s failed unexpectedly.", exporter.name, run.uid)
                    outcome = QueryOutcome(errors=[f"Internal error ({type(error).__name__}); see the log."])
                outcome.response_start = outcome.response_start[:ANSWER_START_CHARS]
                outcomes.append(outcome)
    finally:
        progress.close()
    run.results = [outcome.as_json() for outcome in outcomes]
    failures = [error for outcome in outcomes for error in outcome.errors]
    statuses = [outcome.status for outcome in outcomes if outcome.status is not None]
    _finish(run, ExporterRun.FAILED if failures else ExporterRun.SUCCESS, "; ".join(failures),
            statuses[-1] if statuses else None)
    return TestLoad(run, outcomes)


test_load.__test__ = False  # not a pytest test when imported into a test module
