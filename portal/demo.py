"""Demo data (``manage.py seed_demo``): the seeders, their shared context and bulk-loading helpers.

``run(ctx)`` empties the tables the seeders own and calls every seeder of ``SEEDERS`` in order, in
the caller's transaction. A seeder is a dotted path to a ``seed(ctx: DemoContext)`` function; its
module lists the tables it fills in ``RESET_TABLES`` (emptied, identities restarted, before any
seeder runs). Seeders pass what later ones need through ``ctx.ids`` (the portal seeder puts the
entity ids there, the engine seeder the engine and device ids, ...) and report the rows they wrote
with ``ctx.add``.

Everything is derived from ``ctx.seed`` and the window ``[ctx.start, ctx.end)``: the same options
give the same rows, ids included. Only the salted password hashes differ from one run to the next.

This module also seeds the portal's own objects: entities, the two hierarchies, profiles and
accounts, the platform settings and the demo API credentials (platform.md, "Demo data").
"""

from __future__ import annotations

import hashlib
import logging
import random
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import import_module
from typing import Any, Protocol

from django.contrib.auth.hashers import make_password
from django.db import connection
from django.utils.module_loading import import_string

from portal.models import (
    Account,
    ApiCredential,
    Entity,
    Hierarchy,
    HierarchyLevel,
    HierarchyNode,
    PlatformSettings,
    Profile,
)

log = logging.getLogger(__name__)

# Seeders, in the order they run. Later issues append e.g. "remote_actions.demo.seed".
SEEDERS: list[str] = [
    "portal.demo.seed", "engine.demo.seed", "remote_actions.demo.seed", "exporters.demo.seed",
    "service_health.demo.seed",
]

# Tables this module fills. TRUNCATE ... CASCADE also empties the tables that reference them
# (account groups and permissions, admin log, OAuth tokens and grants).
RESET_TABLES: list[str] = [
    model._meta.db_table
    for model in (Account, Profile, HierarchyNode, HierarchyLevel, Hierarchy, Entity, ApiCredential)
]


# -- Context ------------------------------------------------------------------------------------


class Progress(Protocol):
    def update(self, n: int = 1) -> Any: ...

    def close(self) -> Any: ...


class _NoProgress:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def no_progress(description: str, total: int) -> Progress:
    return _NoProgress()


def default_end() -> datetime:
    """The current UTC time floored to the hour."""
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


@dataclass
class DemoContext:
    """What every seeder gets: the options, a place to share ids, and the row counts."""

    seed: int = 1
    devices: int = 1000
    days: int = 7
    end: datetime = field(default_factory=default_end)
    password: str = ""
    # progress(description, total) -> an object with update(n) and close() (tqdm fits).
    progress: Callable[[str, int], Progress] = no_progress
    # Ids seeders publish for the ones after them, e.g. ids["entities"] = {"Lausanne": 1, ...}.
    ids: dict[str, Any] = field(default_factory=dict)
    # Rows written per table, in the order the tables were first written.
    counts: dict[str, int] = field(default_factory=dict)
    event_tables: set[str] = field(default_factory=set)
    # Tables emptied in the current transaction (COPY into them may use FREEZE).
    truncated: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.end.tzinfo is None:
            self.end = self.end.replace(tzinfo=UTC)
        self.end = self.end.astimezone(UTC)

    @property
    def start(self) -> datetime:
        return self.end - timedelta(days=self.days)

    def rng(self, *scope: object) -> random.Random:
        """A random generator of its own for one part of the data (stable whatever else changes)."""
        return random.Random(":".join(str(part) for part in (self.seed, *scope)))

    def hex(self, *scope: object, length: int = 32) -> str:
        """A stable hexadecimal identifier derived from the seed and ``scope``."""
        text = ":".join(str(part) for part in (self.seed, *scope))
        return hashlib.sha256(text.encode()).hexdigest()[:length]

    def add(self, table: str, rows: int, *, events: bool = False) -> None:
        self.counts[table] = self.counts.get(table, 0) + rows
        if events:
            self.event_tables.add(table)

    @property
    def event_rows(self) -> int:
        return sum(n for table, n in self.counts.items() if table in self.event_tables)

    @property
    def total_rows(self) -> int:
        return sum(self.counts.values())


# -- Orchestration ------------------------------------------------------------------------------


def seeders() -> list[Callable[[DemoContext], None]]:
    return [import_string(path) for path in SEEDERS]


def reset_tables() -> list[str]:
    tables: list[str] = []
    for func in seeders():
        for table in getattr(import_module(func.__module__), "RESET_TABLES", ()):
            if table not in tables:
                tables.append(table)
    return tables


def database_is_empty() -> bool:
    """True when there is neither a device nor an account (``seed_demo`` may then run)."""
    from engine.models import Device

    return not Device.objects.exists() and not Account.objects.exists()


def run(ctx: DemoContext) -> None:
    """Replaces the demo data: empties the seeders' tables, then runs every seeder.

    Call it inside a transaction (``transaction.atomic()``): readers see the old data until the
    commit, then the new data.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("portal.demo.run() must run inside a transaction")
    tables = reset_tables()
    with connection.cursor() as cursor:
        # Foreign keys are checked row by row from here on, so no trigger event is pending when the
        # seeders alter tables (bulk_load drops and restores constraints).
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        truncate(ctx, tables)
    for func in seeders():
        func(ctx)
    with connection.cursor() as cursor:
        reset_sequences(tables)
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")


# -- Bulk-loading helpers -----------------------------------------------------------------------


def quote_name(name: str) -> str:
    return connection.ops.quote_name(name)


def truncate(ctx: DemoContext, tables: Sequence[str]) -> None:
    if not tables:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"TRUNCATE {', '.join(quote_name(t) for t in tables)} RESTART IDENTITY CASCADE"
        )
    ctx.truncated.update(tables)


def reset_sequences(tables: Iterable[str]) -> None:
    """Points each table's id sequence past its largest id (rows were loaded with explicit ids)."""
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [quote_name(table)])
            (sequence,) = cursor.fetchone()
            if sequence:
                cursor.execute(
                    f"SELECT setval(%s, COALESCE(MAX(id), 0) + 1, false) FROM {quote_name(table)}",
                    [sequence],
                )


def _copy_sql(ctx: DemoContext, table: str, columns: Sequence[str], *, binary: bool = False) -> str:
    options = ["FORMAT binary"] if binary else []
    if table in ctx.truncated:  # FREEZE needs a plain table emptied in this transaction
        with connection.cursor() as cursor:
            cursor.execute("SELECT relkind FROM pg_class WHERE oid = %s::regclass", [quote_name(table)])
            if cursor.fetchone()[0] == "r":
                options.append("FREEZE")
    with_options = f" WITH ({', '.join(options)})" if options else ""
    return f"COPY {quote_name(table)} ({', '.join(quote_name(c) for c in columns)}) FROM STDIN{with_options}"


def copy_rows(ctx: DemoContext, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]],
              *, events: bool = False) -> int:
    """Loads Python rows (psycopg adapts and escapes each value) with COPY; returns the count."""
    count = 0
    with connection.cursor() as cursor, cursor.cursor.copy(_copy_sql(ctx, table, columns)) as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    ctx.add(table, count, events=events)
    return count


# -- Binary COPY ----------------------------------------------------------------------------------
#
# For tens of millions of rows: rows are packed in PostgreSQL's binary COPY format with ``struct``,
# which the server reads about twice as fast as text (no parsing of numbers and timestamps) and
# which Python packs faster than it formats text. A row is an int16 field count, then per field an
# int32 length (-1 for null) and the value: int8/int4 big-endian, timestamptz as int8 microseconds
# since 2000-01-01 UTC, text as UTF-8.

COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, header extension length
COPY_TRAILER = b"\xff\xff"
NULL_FIELD = b"\xff\xff\xff\xff"
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_INT8 = struct.Struct("!iq")
_INT4 = struct.Struct("!ii")
_LENGTH = struct.Struct("!i")
_COUNT = struct.Struct("!h")
# How binary COPY writes each column type this module knows.
BINARY_KINDS = {"int8": "int8", "int4": "int4", "timestamptz": "timestamptz", "varchar": "text", "text": "text"}


def microseconds(moment: datetime) -> int:
    """A timestamptz value in binary COPY: microseconds since 2000-01-01 UTC."""
    delta = moment - PG_EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def int8_field(value: int | None) -> bytes:
    return NULL_FIELD if value is None else _INT8.pack(8, value)


def int4_field(value: int | None) -> bytes:
    return NULL_FIELD if value is None else _INT4.pack(4, value)


def text_field(value: str | None) -> bytes:
    if value is None:
        return NULL_FIELD
    data = value.encode()
    return _LENGTH.pack(len(data)) + data


def binary_row(*fields: bytes) -> bytes:
    return _COUNT.pack(len(fields)) + b"".join(fields)


def check_binary_columns(table: str, columns: Sequence[tuple[str, str]]) -> None:
    """Fails clearly when a column's type is not the one the packed rows assume."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.attname, t.typname FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
            "WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped",
            [quote_name(table)],
        )
        actual = {name: BINARY_KINDS.get(type_name, type_name) for name, type_name in cursor.fetchall()}
    wrong = [f"{name} is {actual.get(name, 'missing')}, packed as {kind}"
             for name, kind in columns if actual.get(name) != kind]
    if wrong:
        raise RuntimeError(f"The demo data generator is out of date for {table}: {'; '.join(wrong)}")


@contextmanager
def copy_binary(ctx: DemoContext, table: str, columns: Sequence[tuple[str, str]]
                ) -> Iterator[Callable[[bytes], None]]:
    """``COPY table FROM STDIN (FORMAT binary)``; yields ``write(data)`` taking whole packed rows.

    ``columns`` are (name, kind) pairs, kind one of int8, int4, timestamptz, text; they are checked
    against the table first. Pass about 100 KB at a time: libpq sends it without waiting while the
    server keeps up, so the server reads one chunk while the caller packs the next (measured faster
    than psycopg's writer thread, which waits for the GIL between chunks). When the table was
    emptied in this transaction the rows are loaded frozen (no later rewrite of every page).
    """
    check_binary_columns(table, columns)
    sql = _copy_sql(ctx, table, [name for name, _ in columns], binary=True)
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        copy.write(COPY_SIGNATURE)
        yield copy.write
        copy.write(COPY_TRAILER)


class BulkLoad:
    """Drops the tables' foreign keys and secondary indexes; ``restore`` puts them back, analyzed.

    Loading tens of millions of rows is much faster into bare tables: each index is then built by
    sorting once, and each foreign key is checked with one join instead of once per row. The
    constraints and indexes come back with their original names and definitions. Use it in a
    transaction: should anything fail, the drops roll back with the rest.
    """

    def __init__(self, tables: Sequence[str]) -> None:
        self.tables = list(tables)
        self.restored: set[str] = set()
        names = [quote_name(t) for t in self.tables]
        with connection.cursor() as cursor:
            cursor.execute(
                """
                SELECT c.conrelid::regclass::text, quote_ident(c.conname), pg_get_constraintdef(c.oid)
                FROM pg_constraint c
                WHERE c.contype = 'f' AND c.conrelid = ANY(%s::regclass[])
                ORDER BY 1, 2
                """,
                [names],
            )
            self.foreign_keys = cursor.fetchall()
            cursor.execute(
                """
                SELECT i.indrelid::regclass::text, i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
                FROM pg_index i
                WHERE i.indrelid = ANY(%s::regclass[]) AND NOT i.indisprimary
                  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
                ORDER BY 1, 2
                """,
                [names],
            )
            self.indexes = cursor.fetchall()
            for table, name, _definition in self.foreign_keys:
                cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
            for _table, name, _definition in self.indexes:
                cursor.execute(f"DROP INDEX {name}")

    def restore(self, table: str) -> None:
        """Builds the table's indexes, adds its foreign keys back (checking them), analyzes it."""
        if table in self.restored:
            return
        self.restored.add(table)
        quoted = quote_name(table)
        with connection.cursor() as cursor:
            cursor.execute("SELECT %s::regclass::text", [quoted])
            (regclass,) = cursor.fetchone()
            started = time.perf_counter()
            for owner, _name, definition in self.indexes:
                if owner == regclass:
                    # A partitioned table's index is defined "ON ONLY" the parent: rebuild it everywhere.
                    cursor.execute(definition.replace(" ON ONLY ", " ON ", 1))
            for owner, name, definition in self.foreign_keys:
                if owner == regclass:
                    cursor.execute(f"ALTER TABLE {owner} ADD CONSTRAINT {name} {definition}")
            cursor.execute(f"ANALYZE {quoted}")
            log.debug("%s: indexes, foreign keys and statistics in %.2f s", table, time.perf_counter() - started)

    def restore_all(self) -> None:
        for table in self.tables:
            self.restore(table)


@contextmanager
def bulk_load(tables: Sequence[str]) -> Iterator[BulkLoad]:
    """``BulkLoad`` of ``tables``; whatever was not restored inside the block is restored at its end."""
    load = BulkLoad(tables)
    yield load
    load.restore_all()


class Prefetch:
    """Runs a generator ahead in a thread while this thread waits on the database.

    Meant for the time the server spends building indexes: the database driver releases the GIL
    while it waits, so the generator gets a core. ``take()`` stops the thread and yields what it
    produced, then the rest of the generator in the caller's thread: the items and their order are
    those of the generator alone. At most ``limit`` items are kept in memory.
    """

    def __init__(self, items: Iterator[Any], limit: int = 3000) -> None:
        self.items = items
        self.limit = limit
        self.buffer: list[Any] = []
        self.error: BaseException | None = None
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="demo-prefetch", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            for item in self.items:
                self.buffer.append(item)
                if self.stopping.is_set() or len(self.buffer) >= self.limit:
                    return
        except BaseException as exc:  # handed to the caller by take()
            self.error = exc

    def cancel(self) -> None:
        self.stopping.set()

    def take(self) -> Iterator[Any]:
        self.stopping.set()
        self.thread.join()
        if self.error is not None:
            raise self.error
        log.debug("prefetched %d items (limit %d)", len(self.buffer), self.limit)
        yield from self.buffer
        self.buffer = []
        yield from self.items


# -- Portal objects -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoEntity:
    name: str
    code: str  # device name prefix
    continent: str
    country: str
    division: str
    timezone: str
    share: float  # of the devices
    subnet: int  # second octet of the entity's 10.x.0.0/16 network


ENTITIES: tuple[DemoEntity, ...] = (
    DemoEntity("Lausanne", "LAU", "Europe", "Switzerland", "Corporate", "Europe/Zurich", 0.30, 10),
    DemoEntity("Zurich", "ZRH", "Europe", "Switzerland", "Field", "Europe/Zurich", 0.20, 20),
    DemoEntity("Paris", "PAR", "Europe", "France", "Field", "Europe/Paris", 0.15, 30),
    DemoEntity("Boston", "BOS", "America", "USA", "Corporate", "America/New_York", 0.20, 40),
    DemoEntity("Austin", "AUS", "America", "USA", "Field", "America/Chicago", 0.15, 50),
)

# (account, profile name, profile rights); view_domain names a node of the Geography hierarchy.
ACCOUNTS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("admin", "Administrator", {
        "finder_access": True, "allow_remote_action_api": True, "can_edit_categories": True,
        "administration": True,
    }),
    ("analyst", "Analyst", {"finder_access": True}),
    ("partial", "Analyst (partial privacy)", {"finder_access": True, "data_privacy": "partial"}),
    ("viewer", "Viewer", {}),
    ("actor", "Remote action operator", {"finder_access": True, "allow_remote_action_api": True}),
    ("editor", "Category editor", {"finder_access": True, "can_edit_categories": True}),
    ("europe", "Europe analyst", {"finder_access": True, "view_domain": "Europe"}),
    ("actor_eu", "Europe remote action operator", {
        "finder_access": True, "allow_remote_action_api": True, "view_domain": "Europe",
    }),
)

API_CREDENTIALS: tuple[tuple[str, str, str], ...] = (
    ("demo-client", "Demo integration (all public APIs)", "service:integration"),
    ("demo-nql-only", "Demo NQL client", "nql"),
)


def _hierarchy(name: str, description: str, levels: Sequence[str],
               paths: Sequence[tuple[str, ...]], entities: dict[str, Entity],
               position: int = 0) -> dict[tuple[str, ...], int]:
    """Creates a hierarchy from its level names and the paths to its base nodes (entity names)."""
    hierarchy = Hierarchy.objects.create(name=name, description=description, position=position)
    level_rows = [HierarchyLevel.objects.create(hierarchy=hierarchy, name=level, depth=depth)
                  for depth, level in enumerate(levels)]
    nodes: dict[tuple[str, ...], HierarchyNode] = {}
    for path in paths:
        for depth in range(len(path)):
            key = path[: depth + 1]
            if key in nodes:
                continue
            is_base = depth == len(levels) - 1
            nodes[key] = HierarchyNode.objects.create(
                hierarchy=hierarchy, level=level_rows[depth], parent=nodes.get(key[:-1]), name=key[-1],
                entity=entities[key[-1]] if is_base else None,
            )
    return {key: node.pk for key, node in nodes.items()}


def seed(ctx: DemoContext) -> None:
    """Entities, hierarchies, profiles and accounts, platform settings and API credentials."""
    entities = {e.name: Entity.objects.create(name=e.name) for e in ENTITIES}
    ctx.ids["entities"] = {name: entity.pk for name, entity in entities.items()}

    geography = _hierarchy(
        "Geography", "Where the devices are.", ["Continent", "Country", "Entity"],
        [(e.continent, e.country, e.name) for e in ENTITIES], entities,
    )
    organization = _hierarchy(
        "Organization", "Which division runs the site.", ["Division", "Entity"],
        [(e.division, e.name) for e in sorted(ENTITIES, key=lambda e: (e.division != "Corporate", e.name))],
        entities, position=1,
    )
    ctx.ids["geography"] = geography
    ctx.ids["organization"] = organization

    # One Argon2 hash for every demo secret: they all are the same password.
    password_hash = make_password(ctx.password)
    accounts = {}
    for username, profile_name, rights in ACCOUNTS:
        rights = dict(rights)
        domain = rights.pop("view_domain", None)
        profile = Profile.objects.create(
            name=profile_name,
            description=f"Rights of the demo account {username!r}.",
            view_domain_id=geography[(domain,)] if domain else None,
            **rights,
        )
        account = Account(
            username=username, profile=profile, email=f"{username}@example.com",
            first_name=username.replace("_", " ").title(), last_name="Demo",
            is_superuser=username == "admin", is_staff=username == "admin",
            date_joined=ctx.end, password=password_hash,
        )
        account.save()
        accounts[username] = account.pk
    ctx.ids["accounts"] = accounts
    ctx.add(Entity._meta.db_table, len(entities))
    ctx.add(Hierarchy._meta.db_table, 2)
    ctx.add(HierarchyLevel._meta.db_table, 5)
    ctx.add(HierarchyNode._meta.db_table, len(geography) + len(organization))
    ctx.add(Profile._meta.db_table, len(ACCOUNTS))
    ctx.add(Account._meta.db_table, len(ACCOUNTS))

    settings_row = PlatformSettings.load()
    settings_row.services_api_enabled = True
    settings_row.save()

    credentials = {}
    for client_id, name, scopes in API_CREDENTIALS:
        credential = ApiCredential.objects.create(
            client_id=client_id, name=name, allowed_scopes=scopes,
            client_type=ApiCredential.CLIENT_CONFIDENTIAL,
            authorization_grant_type=ApiCredential.GRANT_CLIENT_CREDENTIALS,
            client_secret=password_hash, hash_client_secret=True,
        )
        credentials[client_id] = credential.pk
    # created/updated are set to "now" on save; pin them to the window's end (same seed, same rows).
    ApiCredential.objects.filter(pk__in=credentials.values()).update(created=ctx.end, updated=ctx.end)
    ctx.ids["api_credentials"] = credentials
    ctx.add(ApiCredential._meta.db_table, len(credentials))
