"""Running queries: visibility, compilation, streaming execution, category updates.

Views, management commands and tasks call these; the query languages stay free of Django.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg
from django.conf import settings
from django.db import DatabaseError, connection, transaction

from engine.models import Engine
from engine.nql.compiler import compile_nql
from engine.nql.parser import parse as parse_nql
from engine.nxql.compiler import compile_nxql
from engine.nxql.parser import parse, substitute_templates
from engine.query import plan as p
from engine.query.build import CompileContext
from engine.query.catalog import LazyCatalog
from engine.query.errors import QueryError, QueryTimeout
from engine.query.render import ResultColumn
from engine.query.sql import generate

logger = logging.getLogger(__name__)

PLATFORMS = ("windows", "mac_os", "mobile")
DEFAULT_PLATFORMS = ("windows", "mac_os")
FETCH_BATCH_ROWS = 5000


def parse_platforms(values: Sequence[str]) -> tuple[str, ...]:
    """Platforms from repeated and/or comma-separated values; none given means windows and mac_os."""
    found: list[str] = []
    for value in values:
        for item in value.split(","):
            name = item.strip().lower()
            if not name:
                continue
            if name not in PLATFORMS:
                raise QueryError(f"unknown platform '{item.strip()}'", options=PLATFORMS)
            if name not in found:
                found.append(name)
    return tuple(found) or DEFAULT_PLATFORMS


def engine_for_host(host: str | None) -> Engine | None:
    """The Engine whose address is the request's host name (port ignored), if any."""
    if not host:
        return None
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return Engine.objects.filter(address__iexact=name.strip("[]")).first()


def visibility_for(account, platforms: Sequence[str] | None, host: str | None = None) -> p.Visibility:
    """Devices ``account`` may see: its view domain, the platforms asked for, the Engine addressed."""
    entity_ids = None
    view_domain = account.profile.view_domain if account is not None else None
    if view_domain is not None:
        entity_ids = tuple(sorted(view_domain.entity_ids()))
    engine = engine_for_host(host)
    return p.Visibility(
        platforms=tuple(platforms) if platforms is not None else None,
        entity_ids=entity_ids,
        engine_id=engine.pk if engine else None,
    )


def compile_nxql_text(text: str, *, visibility: p.Visibility, template_values: dict[str, str] | None = None,
                      can_edit_categories: bool = False, now: datetime | None = None) -> p.Plan | p.UpdatePlan:
    """Text (with ``%N`` placeholders) to a plan; raises ``QueryError`` (400) or ``QueryForbidden``."""
    text = substitute_templates(text, template_values or {})
    tree = parse(text)
    context = CompileContext(now=now or datetime.now(UTC), categories=LazyCatalog(), visibility=visibility)
    return compile_nxql(tree, context, can_edit_categories=can_edit_categories)


@dataclass
class PreparedNql:
    plan: p.Plan
    executed_query: str


def nql_parameter_names(text: str) -> list[str]:
    """The ``$names`` of an NQL query in order of appearance; raises ``QueryError`` if it is invalid."""
    context = CompileContext(now=datetime.now(UTC), categories=LazyCatalog())
    return compile_nql(text, parse_nql(text), context, None).parameter_names


def prepare_nql(text: str, *, parameters: dict[str, str] | None = None, visibility: p.Visibility | None = None,
                now: datetime | None = None) -> PreparedNql:
    """An NQL query with its parameters, ready to run; ``QueryError`` (400) for a syntax or type error,
    a missing, unused or unconvertible parameter."""
    context = CompileContext(now=now or datetime.now(UTC), categories=LazyCatalog(),
                             visibility=visibility or p.Visibility())
    compiled = compile_nql(text, parse_nql(text), context, dict(parameters or {}))
    return PreparedNql(compiled.plan, compiled.executed_query)


# -- execution ----------------------------------------------------------------------------------


@dataclass
class QueryResult:
    """Columns and a lazy stream of rows. The read transaction stays open until the rows are read to
    the end or ``close()`` is called: close a result you stop reading before writing anything else."""

    columns: list[ResultColumn]
    rows: Iterator[tuple]
    _batches: Iterator | None = None

    def close(self) -> None:
        self.rows = iter(())
        if self._batches is not None:
            self._batches.close()  # leaves the read transaction now


def _timeout_setting(timeout: float | None) -> str:
    """PostgreSQL's statement_timeout for a limit in seconds (at least 1 ms: 0 would mean none)."""
    seconds = timeout if timeout is not None else float(settings.NXQL_TIMEOUT_SECONDS)
    return f"{max(1, math.ceil(seconds * 1000))}ms"


def _row_batches(statement, timeout: str) -> Iterator[list[tuple]]:
    """Fetches the statement's rows through a server-side cursor, in batches, inside one transaction."""
    with transaction.atomic():
        connection.ensure_connection()
        raw = connection.connection
        with raw.cursor() as settings_cursor:
            settings_cursor.execute("SELECT set_config('statement_timeout', %s, true)", [timeout])
        try:
            # A name of its own: a connection may hold more than one open result.
            with raw.cursor(name=f"result_{uuid.uuid4().hex}") as cursor:
                cursor.itersize = FETCH_BATCH_ROWS
                cursor.execute(statement.sql, statement.params)
                while True:
                    batch = cursor.fetchmany(FETCH_BATCH_ROWS)
                    yield batch
                    if len(batch) < FETCH_BATCH_ROWS:
                        return
        except psycopg.errors.QueryCanceled:
            raise QueryTimeout(f"the query ran longer than {timeout} and was cancelled") from None
        except psycopg.Error as error:
            refusal = _refusal(error)
            if refusal is None:
                raise
            raise refusal from None


def _refusal(error: psycopg.Error) -> QueryError | None:
    """The 400 for a query PostgreSQL refuses for its size (SQLSTATE class 54, program limit
    exceeded) or its values (class 22, data exception); None for any other error."""
    state = error.sqlstate or ""
    if isinstance(error, psycopg.DataError) and not state:  # refused client-side (e.g. a NUL in text)
        return QueryError(f"a value of the query cannot be stored: {error}")
    if state.startswith("54"):
        return QueryError("the query is too complex to run")
    if state.startswith("22"):
        return QueryError(f"a value of the query is out of range: {error.diag.message_primary}")
    return None


def execute(query_plan: p.Plan, timeout: float | None = None) -> QueryResult:
    """Runs a plan. The first batch is read before returning, so time-outs and database errors
    surface here, before any byte of an answer is sent. A result that fits in the first batch is
    finished here too (cursor closed, read transaction ended): nothing of it can fail once the
    answer has started, e.g. when the database goes away (a 503 then, not a cut answer)."""
    statement = generate(query_plan)
    batches = _row_batches(statement, _timeout_setting(timeout))
    first = next(batches)
    if len(first) < FETCH_BATCH_ROWS:
        for _ in batches:  # ends the generator: closes the cursor and commits
            pass

    def rows() -> Iterator[tuple]:
        yield from first
        for batch in batches:
            yield from batch

    columns = [ResultColumn(column.name, column.type) for column in query_plan.columns]
    return QueryResult(columns, rows(), batches)


def apply_update(update: p.UpdatePlan, timeout: float | None = None) -> int:
    """Sets the categories of every object the update selects, in one transaction; the count."""
    statement = generate(update.selection)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('statement_timeout', %s, true)", [_timeout_setting(timeout)])
        try:
            cursor.execute(statement.sql, statement.params)
            ids = [row[0] for row in cursor.fetchall()]
            for assignment in update.assignments:
                cursor.execute(
                    "DELETE FROM engine_categoryassignment WHERE category_id = %s AND object_id = ANY(%s)",
                    [assignment.category_id, ids],
                )
                if assignment.keyword_id is not None:
                    cursor.execute(
                        "INSERT INTO engine_categoryassignment (category_id, keyword_id, object_id) "
                        "SELECT %s, %s, unnest(%s::bigint[])",
                        [assignment.category_id, assignment.keyword_id, ids],
                    )
        except DatabaseError as error:
            cause = error.__cause__
            if isinstance(cause, psycopg.errors.QueryCanceled):
                raise QueryTimeout("the update ran too long and was cancelled") from None
            refusal = _refusal(cause) if isinstance(cause, psycopg.Error) else None
            if refusal is None:
                raise
            raise refusal from None
    return len(ids)
