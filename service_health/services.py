"""Health of services per hierarchy node and period (``services.md``): the domain logic behind the
Services API (``GET /api/beta/service/data/overview``) and, later, the discovery page and dashboard.

Three layers:

- **Visibility**: ``visible_entity_ids(account)`` (the entities under the profile's view domain, or
  None for every entity) and ``HierarchyView`` (a hierarchy's levels and the nodes that have at least
  one visible entity below them, with those entities). Two small queries per hierarchy.
- **Metrics**: ``compute_metrics`` runs **one SQL statement** for any set of node groupings: the
  service's activity rows of the window are reduced per (device, user, bucket), joined to the
  node ids at every depth of the hierarchy (passed as arrays, one row per visible and consuming
  entity), and aggregated with ``GROUPING SETS`` — one set per asked depth (``()`` is the root),
  optionally split into time buckets (hourly points). Nodes without activity get zero metrics.
  Before it, ``resolve_definition`` turns the service's definition into object ids (one small
  statement on the object tables), so the planner knows what the big statement reads.
- **Queries**: ``overview`` answers the Services API (parameters → ``Overview``); ``node_statuses``
  gives the status of every visible node of a hierarchy in one call; ``metric_series`` gives a node's
  metrics in hourly points over the last day in one call; ``devices_with_issues`` lists a node's
  devices with issues, data privacy applied.

A device **uses** a service in a window when it has activity matching the service's definition
(connections to its destinations on its ports, or web requests to its domains and path prefixes; from
its executables when it lists some; devices of its consuming entities only). A device **has an issue**
when, among that activity, a connection failed (rejected, no_host, no_service, timeout) or a web
request answered 5xx or took longer than the slow-response threshold, or when one of the service's
binaries crashed on it in the window (the listed executables; without a list, the binaries that made
the device's service activity in the window). Devices with issues are counted among the devices
using the service, so ``number_of_devices_with_issues <= number_of_devices``.

Counts count activity rows (``number_of_connections`` = connection rows), as everywhere in the query
engine; averages of durations are rounded to whole milliseconds; ratios are 0..1 (the data model's
``percent``) and null without activity.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection
from django.utils import timezone

from engine.models import Connection
from engine.schema import FieldType, Privacy
from portal.models import Hierarchy, HierarchyLevel, HierarchyNode

from .models import Service

# -- Time ---------------------------------------------------------------------------------------

PERIODS: dict[str, timedelta] = {"hour": timedelta(hours=1), "day": timedelta(days=1)}


def now() -> datetime:
    """The current time (tests replace this callable)."""
    return timezone.now()


@dataclass(frozen=True)
class Window:
    """``[start, end)`` in UTC."""

    start: datetime
    end: datetime

    @classmethod
    def ending(cls, scope: str, at: datetime | None = None) -> Window:
        """The last hour or day ending at ``at`` (default: now), to the second."""
        end = (at or now()).astimezone(UTC).replace(microsecond=0)
        return cls(end - PERIODS[scope], end)


# -- Metrics ------------------------------------------------------------------------------------

# (name, type) in the order the API shows them; "status" is green|yellow|red.
COMMON_METRICS: tuple[tuple[str, FieldType], ...] = (
    ("number_of_devices", FieldType.INT),
    ("number_of_users", FieldType.INT),
    ("number_of_devices_with_issues", FieldType.INT),
    ("status", FieldType.ENUM),
    ("incoming_traffic", FieldType.BYTES),
    ("outgoing_traffic", FieldType.BYTES),
)
TYPE_METRICS: dict[str, tuple[tuple[str, FieldType], ...]] = {
    Service.Type.CONNECTION: (
        ("number_of_connections", FieldType.INT),
        ("number_of_failed_connections", FieldType.INT),
        ("failed_connections_ratio", FieldType.PERCENT),
        ("average_network_response_time", FieldType.DURATION),
    ),
    Service.Type.WEB: (
        ("number_of_web_requests", FieldType.INT),
        ("number_of_http_errors", FieldType.INT),
        ("number_of_http_server_errors", FieldType.INT),
        ("http_errors_ratio", FieldType.PERCENT),
        ("average_response_time", FieldType.DURATION),
    ),
}


def metric_columns(service_type: str) -> tuple[tuple[str, FieldType], ...]:
    """The metrics of a service type, in order, with their data-model types."""
    return COMMON_METRICS + TYPE_METRICS[service_type]


@dataclass
class Totals:
    """What the SQL statement returns for one group: sums that the metrics are derived from."""

    devices: int = 0
    users: int = 0
    devices_with_issues: int = 0
    events: int = 0  # connection or web request rows
    errors: int = 0  # failed connections, or HTTP 4xx+5xx
    server_errors: int = 0  # HTTP 5xx (web)
    incoming: int = 0
    outgoing: int = 0
    response_time_sum: int = 0
    response_time_count: int = 0

    def metrics(self, service: Service) -> dict[str, Any]:
        """The API's metrics, in order (``metric_columns``)."""
        ratio = self.errors / self.events if self.events else None
        average = None
        if self.response_time_count:  # half-up, like round(avg(...)) on the non-negative durations
            average = (2 * self.response_time_sum + self.response_time_count) // (2 * self.response_time_count)
        values: dict[str, Any] = {
            "number_of_devices": self.devices,
            "number_of_users": self.users,
            "number_of_devices_with_issues": self.devices_with_issues,
            "status": service.status_for(self.devices_with_issues),
            "incoming_traffic": self.incoming,
            "outgoing_traffic": self.outgoing,
        }
        if service.type == Service.Type.CONNECTION:
            values.update(number_of_connections=self.events, number_of_failed_connections=self.errors,
                          failed_connections_ratio=ratio, average_network_response_time=average)
        else:
            values.update(number_of_web_requests=self.events, number_of_http_errors=self.errors,
                          number_of_http_server_errors=self.server_errors, http_errors_ratio=ratio,
                          average_response_time=average)
        return values


# -- Visibility ---------------------------------------------------------------------------------


def visible_entity_ids(account) -> frozenset[int] | None:
    """The entities under the account's view domain; None when it has none (everything is visible)."""
    view_domain = account.profile.view_domain if account is not None else None
    if view_domain is None:
        return None
    return frozenset(view_domain.entity_ids())


@dataclass(frozen=True)
class NodeInfo:
    id: int
    name: str
    path: tuple[str, ...]
    depth: int
    level: str
    parent_id: int | None
    entity_id: int | None


@dataclass
class HierarchyView:
    """A hierarchy as an account sees it: its levels, and the nodes with a visible entity below them.

    ``entities[node_id]`` are the visible entities under the node; ``children[parent_id]`` the
    visible children (``None`` for the top level), by name. ``all_nodes`` holds every node, visible
    or not, so that an unknown node (400) can be told apart from one outside the view domain (403).
    """

    hierarchy: Hierarchy
    levels: list[HierarchyLevel]
    all_nodes: dict[int, NodeInfo]
    entities: dict[int, frozenset[int]]
    children: dict[int | None, list[int]]
    root_entities: frozenset[int]
    default_node_id: int | None = None  # the account's view-domain node when it is in this hierarchy

    @classmethod
    def load(cls, hierarchy: Hierarchy, visible: frozenset[int] | None, view_domain_id: int | None = None
             ) -> HierarchyView:
        levels = list(HierarchyLevel.objects.filter(hierarchy=hierarchy).order_by("depth"))
        level_of = {level.pk: level for level in levels}
        rows = list(HierarchyNode.objects.filter(hierarchy=hierarchy)
                    .values_list("id", "parent_id", "name", "level_id", "entity_id"))
        by_id = {row[0]: row for row in rows}
        all_nodes: dict[int, NodeInfo] = {}

        def info(node_id: int) -> NodeInfo:
            found = all_nodes.get(node_id)
            if found is None:
                _id, parent_id, name, level_id, entity_id = by_id[node_id]
                parent_path = info(parent_id).path if parent_id in by_id else ()
                level = level_of[level_id]
                found = all_nodes[node_id] = NodeInfo(node_id, name, (*parent_path, name), level.depth,
                                                      level.name, parent_id, entity_id)
            return found

        for row in rows:
            info(row[0])
        below: dict[int, set[int]] = defaultdict(set)
        for node in all_nodes.values():
            if node.entity_id is not None and (visible is None or node.entity_id in visible):
                current: int | None = node.id
                while current is not None:
                    below[current].add(node.entity_id)
                    current = all_nodes[current].parent_id
        entities = {node_id: frozenset(ids) for node_id, ids in below.items()}
        children: dict[int | None, list[int]] = defaultdict(list)
        for node_id in sorted(entities, key=lambda n: all_nodes[n].name):
            children[all_nodes[node_id].parent_id].append(node_id)
        root = frozenset().union(*(entities[n] for n in children.get(None, [])))
        default = view_domain_id if view_domain_id in all_nodes else None
        return cls(hierarchy, levels, all_nodes, entities, dict(children), root, default)

    @property
    def depth_count(self) -> int:
        return len(self.levels)

    def is_visible(self, node_id: int | None) -> bool:
        return node_id is None or node_id in self.entities

    def entities_of(self, node_id: int | None) -> frozenset[int]:
        return self.root_entities if node_id is None else self.entities.get(node_id, frozenset())

    def nodes_at(self, depth: int) -> list[int]:
        """Visible nodes at ``depth``, in tree order (parents by name, then the nodes by name)."""
        found: list[int] = []

        def walk(parent: int | None) -> None:
            for child in self.children.get(parent, []):
                if self.all_nodes[child].depth == depth:
                    found.append(child)
                elif self.all_nodes[child].depth < depth:
                    walk(child)

        walk(None)
        return found

    def ancestors(self, node_id: int) -> list[int]:
        """The node's ancestors from the top, and the node."""
        chain = []
        current: int | None = node_id
        while current is not None:
            chain.append(current)
            current = self.all_nodes[current].parent_id
        return list(reversed(chain))

    def find(self, names: Sequence[str]) -> int | None:
        """The node at the path ``names`` (None for the root); ``UnknownNode`` if a name is not found."""
        current: int | None = None
        for depth, name in enumerate(names):
            match = next((n.id for n in self.all_nodes.values() if n.parent_id == current and n.name == name), None)
            if match is None:
                raise UnknownNode(name, tuple(names[:depth]))
            current = match
        return current


class UnknownNode(LookupError):
    def __init__(self, name: str, parent_path: tuple[str, ...]):
        super().__init__(name)
        self.name, self.parent_path = name, parent_path


# -- The SQL statement --------------------------------------------------------------------------

FAILED_STATUSES = list(Connection.FAILED_STATUSES)


@dataclass(frozen=True)
class Definition:
    """A service's definition resolved to the Engine's object ids (``resolve_definition``)."""

    target_ids: list[int]  # destinations (connection) or domains (web)
    port_ids: list[int]  # connection services
    prefix_domain_ids: list[int]  # web services with URL path prefixes: (domain id, prefix) pairs;
    prefixes: list[str]  # empty when every domain of the definition takes every path
    binary_ids: list[int] | None  # the executables' binaries; None when the service lists none

    @property
    def matches_nothing(self) -> bool:
        return not self.target_ids or (self.binary_ids is not None and not self.binary_ids)


# One statement: destinations by host name, *.suffix or IP network (the kind decides how a value is
# read, so a host name is never cast to inet), ports, domains with their path prefixes, binaries.
RESOLVE_SQL = """
WITH domains AS (
    SELECT dm.id, sd.path_prefix FROM engine_domain dm
    JOIN service_health_servicedomain sd ON sd.service_id = %(service)s
     AND (lower(dm.name) = sd.domain
          OR (left(sd.domain, 2) = '*.' AND right(lower(dm.name), length(sd.domain) - 1) = substr(sd.domain, 2)))
)
SELECT
    ARRAY(SELECT DISTINCT d.id FROM engine_destination d
          JOIN service_health_servicedestination sd ON sd.service_id = %(service)s
           AND CASE sd.kind WHEN 'network' THEN d.ip_address <<= sd.value::inet
                            WHEN 'suffix' THEN right(lower(d.name), length(sd.value) - 1) = substr(sd.value, 2)
                            ELSE lower(d.name) = sd.value END
          ORDER BY d.id),
    ARRAY(SELECT p.id FROM engine_port p
          JOIN service_health_serviceport sp ON sp.service_id = %(service)s
           AND sp.port_number = p.port_number AND sp.protocol = p.protocol
          ORDER BY p.id),
    ARRAY(SELECT DISTINCT id FROM domains ORDER BY id),
    ARRAY(SELECT id FROM domains ORDER BY id, path_prefix),
    ARRAY(SELECT path_prefix FROM domains ORDER BY id, path_prefix),
    EXISTS (SELECT 1 FROM service_health_serviceexecutable WHERE service_id = %(service)s),
    ARRAY(SELECT b.id FROM engine_binary b
          WHERE EXISTS (SELECT 1 FROM service_health_serviceexecutable x
                        WHERE x.service_id = %(service)s
                          AND (lower(b.name) = lower(x.name) OR lower(b.executable_name) = lower(x.name)))
          ORDER BY b.id)
"""


def resolve_definition(service: Service) -> Definition:
    """The Engine objects the service's definition matches, in one statement."""
    with connection.cursor() as cursor:
        cursor.execute(RESOLVE_SQL, {"service": service.pk})
        destinations, ports, domains, pair_ids, pair_prefixes, has_executables, binaries = cursor.fetchone()
    # A domain listed without a prefix takes every path: its prefixes do not matter.
    whole = {domain_id for domain_id, prefix in zip(pair_ids, pair_prefixes, strict=True) if not prefix}
    pairs = [(d, p) for d, p in zip(pair_ids, pair_prefixes, strict=True) if d not in whole]
    return Definition(
        target_ids=list(destinations if service.type == Service.Type.CONNECTION else domains),
        port_ids=list(ports),
        prefix_domain_ids=[d for d, _ in pairs], prefixes=[p for _, p in pairs],
        binary_ids=list(binaries) if has_executables else None,
    )


def _activity_sql(service: Service, definition: Definition, step: bool) -> str:
    """``ev``: the service's activity rows of the window (every device; the scope is applied later).

    The rows are read through the index on ``(destination_id, start_time AT TIME ZONE 'UTC')``
    (``domain_id`` for web requests; ``engine.models``). The window is written on that expression so
    that this index is the only one serving it: through the plain time index, whose heap order the
    planner favours, a day of one destination reads every destination's rows of the day, several
    times more. The ids are literal arrays, so the planner estimates the rows from the statistics of
    those very destinations (and of the expression), and plans the aggregation for the real size.
    """
    bucket = "floor(extract(epoch FROM e.start_time - %(start)s) / %(step)s)::int" if step else "0"
    binaries = "AND e.binary_id = ANY(%(binary_ids)s::bigint[])" if definition.binary_ids is not None else ""
    # A crash of a binary of the service on the device in the row's bucket: a listed executable, or
    # without a list this row's binary (the few crash rows of the window, looked up as a hash).
    if definition.binary_ids is not None:
        crashed = f"(e.device_id, {bucket}) IN (SELECT device_id, bucket FROM crashes)"
    else:
        crashed = f"(e.device_id, e.binary_id, {bucket}) IN (SELECT device_id, binary_id, bucket FROM crashes)"
    if service.type == Service.Type.CONNECTION:
        return f"""
        ev AS (
            SELECT e.device_id, e.user_id, e.binary_id, {bucket} AS bucket, {crashed} AS crashed,
                   e.status = ANY(%(failed)s) AS error, false AS server_error, e.status = ANY(%(failed)s) AS issue,
                   e.incoming_traffic, e.outgoing_traffic, e.network_response_time AS response_time
            FROM engine_connection e
            WHERE e.destination_id = ANY(%(target_ids)s::bigint[])
              AND (e.start_time AT TIME ZONE 'UTC') >= %(start_utc)s
              AND (e.start_time AT TIME ZONE 'UTC') < %(end_utc)s
              AND e.port_id = ANY(%(port_ids)s::bigint[])
            {binaries}
        )"""
    prefixes = ""
    if definition.prefixes:
        prefixes = """AND (e.domain_id <> ALL(%(prefix_domain_ids)s::bigint[]) OR EXISTS (
                SELECT 1 FROM unnest(%(prefix_domain_ids)s::bigint[], %(prefixes)s::text[]) AS p(domain_id, prefix)
                WHERE p.domain_id = e.domain_id AND starts_with(e.url_path, p.prefix)))"""
    return f"""
        ev AS (
            SELECT e.device_id, e.user_id, e.binary_id, {bucket} AS bucket, {crashed} AS crashed,
                   e.http_status BETWEEN 400 AND 599 AS error, e.http_status BETWEEN 500 AND 599 AS server_error,
                   e.http_status BETWEEN 500 AND 599 OR e.response_time > %(slow)s AS issue,
                   e.incoming_traffic, e.outgoing_traffic, e.response_time
            FROM engine_webrequest e
            WHERE e.domain_id = ANY(%(target_ids)s::bigint[])
              AND (e.start_time AT TIME ZONE 'UTC') >= %(start_utc)s
              AND (e.start_time AT TIME ZONE 'UTC') < %(end_utc)s
              {prefixes}
            {binaries}
        )"""


def _window_params(window: Window) -> dict[str, datetime]:
    """The window as timestamptz (``start``, ``end``) and as UTC timestamps (``start_utc``, ``end_utc``)."""
    return {"start": window.start, "end": window.end,
            "start_utc": window.start.astimezone(UTC).replace(tzinfo=None),
            "end_utc": window.end.astimezone(UTC).replace(tzinfo=None)}


def _definition_params(service: Service, definition: Definition) -> dict[str, Any]:
    return {
        "target_ids": definition.target_ids, "port_ids": definition.port_ids,
        "prefix_domain_ids": definition.prefix_domain_ids, "prefixes": definition.prefixes,
        "binary_ids": definition.binary_ids or [], "failed": FAILED_STATUSES,
        "slow": service.slow_response_threshold if service.slow_response_threshold is not None else 2**62,
    }


def _common_ctes(service: Service, definition: Definition, step: bool = False) -> str:
    """``crashes`` (the crash rows of the window: few), ``ev`` (the activity rows, each marked when a
    binary of the service crashed on its device in its bucket), then ``du`` per device, user and
    bucket. ``du.issue``: an issue of the device in that bucket (its own rows, or a crash).

    Buckets split the window in ``%(step)s`` seconds when ``step``; otherwise all is bucket 0."""
    crash_bucket = "floor(extract(epoch FROM c.time - %(start)s) / %(step)s)::int" if step else "0"
    executables = "AND c.binary_id = ANY(%(binary_ids)s::bigint[])" if definition.binary_ids is not None else ""
    return f"""
    crashes AS MATERIALIZED (
        SELECT c.device_id, c.binary_id, {crash_bucket} AS bucket
        FROM engine_crash c
        WHERE c.time >= %(start)s AND c.time < %(end)s {executables}
    ),{_activity_sql(service, definition, step)},
    du AS (
        SELECT device_id, user_id, bucket, count(*) AS events, count(*) FILTER (WHERE issue) AS issue_events,
               count(*) FILTER (WHERE error) AS errors, count(*) FILTER (WHERE server_error) AS server_errors,
               bool_or(issue OR crashed) AS issue, sum(incoming_traffic) AS incoming, sum(outgoing_traffic) AS outgoing,
               sum(response_time) AS rt_sum, count(response_time) AS rt_count, bool_or(crashed) AS crashed
        FROM ev
        GROUP BY device_id, user_id, bucket
    )"""


def _statement(service: Service, definition: Definition, depth_count: int, grouping_depths: Sequence[int | None],
               step: bool) -> str:
    """The whole statement: activity, crashes, per (device, user, bucket) rows, grouping sets.

    Its rows: ``GROUPING`` bits of the grouped keys (``_grouped_keys``), the bucket, those keys, then
    the ``Totals`` fields in order. The scope (visible and consuming entities, with the node ids of
    their ancestors ``k0`` … ``kN``) is applied when the per-device rows meet the devices."""
    keys = [f"k{d}" for d in range(depth_count)]
    key_arrays = ", ".join(f"%({k})s::bigint[]" for k in keys)
    sets = ", ".join("(du.bucket)" if d is None else f"(du.bucket, s.k{d})" for d in grouping_depths)
    grouped = [f"s.k{d}" for d in _grouped_keys(grouping_depths)]
    grouping = f"GROUPING({', '.join(grouped)})" if grouped else "0"
    key_columns = "".join(f"{column}, " for column in grouped)
    return f"""
    WITH {_common_ctes(service, definition, step)},
    scope AS (
        SELECT * FROM unnest(%(entities)s::bigint[], {key_arrays}) AS s(entity_id, {", ".join(keys)})
    )
    SELECT {grouping} AS grouping, du.bucket, {key_columns}
           count(DISTINCT du.device_id), count(DISTINCT du.user_id),
           count(DISTINCT du.device_id) FILTER (WHERE du.issue),
           sum(du.events), sum(du.errors), sum(du.server_errors), sum(du.incoming), sum(du.outgoing),
           sum(du.rt_sum), sum(du.rt_count)
    FROM du
    JOIN engine_device d ON d.id = du.device_id
    JOIN scope s ON s.entity_id = d.entity_id
    GROUP BY GROUPING SETS ({sets})
    """


def _grouped_keys(grouping_depths: Sequence[int | None]) -> list[int]:
    return sorted({d for d in grouping_depths if d is not None})


def _scope_arrays(view: HierarchyView, entity_ids: Iterable[int]) -> dict[str, list[int]]:
    """One row per entity: its id and the ids of its ancestors at every depth (``k0`` … ``kN``)."""
    base_node = {n.entity_id: n.id for n in view.all_nodes.values() if n.entity_id is not None}
    arrays: dict[str, list[int]] = {"entities": []}
    for d in range(view.depth_count):
        arrays[f"k{d}"] = []
    for entity_id in sorted(entity_ids):
        chain = view.ancestors(base_node[entity_id])
        arrays["entities"].append(entity_id)
        for d in range(view.depth_count):
            arrays[f"k{d}"].append(chain[d] if d < len(chain) else None)
    return arrays


def consumer_entities(service: Service, candidates: frozenset[int]) -> frozenset[int]:
    """``candidates`` limited to the service's consuming entities."""
    if service.all_devices:
        return candidates
    return candidates & frozenset(service.consumer_entities.values_list("id", flat=True))


@dataclass
class MetricsQuery:
    """The one statement of ``compute_metrics``, its parameters, and how to read its rows."""

    sql: str
    params: dict[str, Any]
    grouped: list[int]  # the depths whose node ids the rows carry, in column order
    depths: list[int | None]

    def read(self, rows: Iterable[Sequence]) -> dict[tuple[int | None, int], Totals]:
        all_bits = (1 << len(self.grouped)) - 1
        masks = {(all_bits if d is None else all_bits & ~(1 << (len(self.grouped) - 1 - self.grouped.index(d)))): d
                 for d in self.depths}
        results: dict[tuple[int | None, int], Totals] = {}
        for row in rows:
            grouping, bucket, *rest = row
            keys, values = rest[:len(self.grouped)], rest[len(self.grouped):]
            depth = masks[grouping]
            node_id = None if depth is None else keys[self.grouped.index(depth)]
            results[(node_id, bucket)] = Totals(*(int(v or 0) for v in values))
        return results

    def run(self) -> dict[tuple[int | None, int], Totals]:
        with connection.cursor() as cursor:
            cursor.execute(self.sql, self.params)
            return self.read(cursor.fetchall())


def metrics_query(service: Service, window: Window, view: HierarchyView, grouping_depths: Sequence[int | None],
                  *, within: int | None = None, step: timedelta | None = None) -> MetricsQuery | None:
    """The statement of ``compute_metrics``; None when nothing can match (no entity, empty definition)."""
    entity_ids = consumer_entities(service, view.entities_of(within))
    if not entity_ids or not grouping_depths:
        return None
    definition = resolve_definition(service)
    if definition.matches_nothing:
        return None
    params: dict[str, Any] = {
        **_definition_params(service, definition), **_scope_arrays(view, entity_ids), **_window_params(window),
        "step": (step or (window.end - window.start)).total_seconds(),
    }
    depths = list(dict.fromkeys(grouping_depths))
    sql = _statement(service, definition, view.depth_count, depths, step is not None)
    return MetricsQuery(sql, params, _grouped_keys(depths), depths)


def compute_metrics(service: Service, window: Window, view: HierarchyView, grouping_depths: Sequence[int | None],
                    *, within: int | None = None, step: timedelta | None = None,
                    ) -> dict[tuple[int | None, int], Totals]:
    """Totals per (node id, bucket) for the visible nodes at ``grouping_depths`` (``None``: the root,
    keyed ``None``) under ``within`` (a node id; None: the whole hierarchy), in one SQL statement.

    Buckets are ``step`` long from ``window.start`` (numbered from 0); without ``step`` the whole
    window is bucket 0. Groups without activity are absent (read them as ``Totals()``).
    """
    query = metrics_query(service, window, view, grouping_depths, within=within, step=step)
    return query.run() if query is not None else {}


# -- Node statuses and series (for pages) -------------------------------------------------------


def node_statuses(service: Service, view: HierarchyView, window: Window) -> dict[int | None, dict[str, Any]]:
    """The metrics (with ``status``) of the root (key None) and every visible node, in one statement."""
    totals = compute_metrics(service, window, view, [None, *range(view.depth_count)])
    nodes = [None, *view.entities]
    return {node: totals.get((node, 0), Totals()).metrics(service) for node in nodes}


def metric_series(service: Service, view: HierarchyView, node_id: int | None, *, at: datetime | None = None,
                  step: timedelta = timedelta(hours=1), period: timedelta = timedelta(days=1),
                  ) -> list[tuple[datetime, dict[str, Any]]]:
    """A node's metrics in points of ``step`` over the ``period`` ending at ``at`` (hourly over the
    last day by default), oldest first, in one statement."""
    end = (at or now()).astimezone(UTC).replace(microsecond=0)
    window = Window(end - period, end)
    depth = None if node_id is None else view.all_nodes[node_id].depth
    totals = compute_metrics(service, window, view, [depth], within=node_id, step=step)
    points = int(period / step)
    return [(window.start + i * step, totals.get((node_id, i), Totals()).metrics(service)) for i in range(points)]


# -- Devices with issues (data privacy applies) -------------------------------------------------


def devices_with_issues(service: Service, view: HierarchyView, node_id: int | None, window: Window,
                        data_privacy: str, limit: int = 500) -> list[dict[str, Any]]:
    """The devices with issues under a node, most issues first: uid, name, entity, last logged-on user,
    ``issues`` (failed connections, or 5xx and slow web requests), ``errors`` (failed connections, or
    HTTP 4xx+5xx) and ``crashes`` (of the service's binaries), in one statement.

    Data privacy hides the device name at ``full`` and the user at ``partial`` and ``full``
    (``platform.md``); hidden values are None.
    """
    entity_ids = consumer_entities(service, view.entities_of(node_id))
    if not entity_ids:
        return []
    definition = resolve_definition(service)
    if definition.matches_nothing:
        return []
    crash_match = ("c.device_id IN (SELECT device_id FROM ev)" if definition.binary_ids is not None else
                   "EXISTS (SELECT 1 FROM ev WHERE ev.device_id = c.device_id AND ev.binary_id = c.binary_id)")
    sql = f"""
    WITH {_common_ctes(service, definition)},
    crash_counts AS (
        SELECT c.device_id, count(*) AS crashes FROM crashes c WHERE {crash_match} GROUP BY c.device_id
    ),
    per_device AS (
        SELECT du.device_id, sum(du.issue_events) AS issue_events, sum(du.errors) AS errors,
               COALESCE(max(cc.crashes), 0) AS crashes, bool_or(du.issue) AS has_issue
        FROM du
        LEFT JOIN crash_counts cc ON cc.device_id = du.device_id
        GROUP BY du.device_id
    )
    SELECT d.device_uid, d.name, en.name, d.last_logged_on_user, p.issue_events, p.errors, p.crashes
    FROM per_device p
    JOIN engine_device d ON d.id = p.device_id
    JOIN portal_entity en ON en.id = d.entity_id
    WHERE p.has_issue AND d.entity_id = ANY(%(entities)s::bigint[])
    ORDER BY p.issue_events + p.crashes DESC, d.device_uid
    LIMIT %(limit)s
    """
    params = {**_definition_params(service, definition), **_window_params(window), "entities": sorted(entity_ids),
              "step": (window.end - window.start).total_seconds(), "limit": limit}
    hide_device, hide_user = Privacy.DEVICE.hidden_at(data_privacy), Privacy.USER.hidden_at(data_privacy)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [{
        "device_uid": uid, "name": None if hide_device else name, "entity": entity,
        "last_logged_on_user": None if hide_user else (user or None),
        "issues": issues, "errors": errors, "crashes": crashes,
    } for uid, name, entity, user, issues, errors, crashes in rows]


# -- The Services API overview ------------------------------------------------------------------

FORMATS = ("table", "json", "csv")
SINGLE_PARAMETERS = ("metric", "scope", "hierarchy", "hierarchy-level", "format")


class OverviewError(Exception):
    """A request the API refuses: 400 (bad parameter) or 403 (node outside the view domain)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


@dataclass(frozen=True)
class OverviewRequest:
    """The parameters of ``GET /api/beta/service/data/overview``, read but not yet resolved."""

    metric: str
    scope: str = "hour"
    hierarchy: str | None = None
    level: str | None = None
    path: tuple[str, ...] | None = None  # None: absent; () the root ("path=/")
    format: str = "table"

    @classmethod
    def parse(cls, query: Mapping[str, Sequence[str]] | Any) -> OverviewRequest:
        """From a ``QueryDict`` (or a dict of lists). Unknown parameters are ignored; giving one of
        ``SINGLE_PARAMETERS`` twice is a 400; empty values read as absent."""
        values = {name: list(query.getlist(name)) if hasattr(query, "getlist") else list(query.get(name, []))
                  for name in (*SINGLE_PARAMETERS, "path")}
        for name, given in values.items():
            if name in SINGLE_PARAMETERS and len(given) > 1:
                raise OverviewError(400, f"parameter '{name}' is given more than once")
            if any("\x00" in value for value in given):  # no name holds one (PostgreSQL text cannot)
                raise OverviewError(400, f"parameter '{name}' holds a NUL character")
        single = {name: (values[name][0].strip() if values[name] else "") for name in SINGLE_PARAMETERS}
        output_format = single["format"].lower() or "table"
        if output_format not in FORMATS:
            raise OverviewError(400, f"unknown format '{single['format']}' (table, json or csv)")
        path = _read_path(values["path"])
        if single["hierarchy-level"] and path is not None:
            raise OverviewError(400, "give either 'hierarchy-level' or 'path', not both")
        if not single["metric"]:
            raise OverviewError(400, "parameter 'metric' is required: the UID of a service")
        scope = single["scope"].lower() or "hour"
        if scope not in PERIODS:
            raise OverviewError(400, f"unknown scope '{single['scope']}' (hour or day)")
        return cls(metric=single["metric"], scope=scope, hierarchy=single["hierarchy"] or None,
                   level=single["hierarchy-level"] or None, path=path, format=output_format)


def _read_path(values: list[str]) -> tuple[str, ...] | None:
    """One value is split on ``/``; repeated values are one node name each. Empty segments are
    dropped; ``path=/`` is the root; an empty ``path=`` is absent."""
    if not any(values):
        return None
    if len(values) == 1:
        return tuple(part for part in values[0].split("/") if part)
    return tuple(value for value in values if value)


@dataclass(frozen=True)
class Entry:
    name: str  # "all" for an aggregate
    path: tuple[str, ...]
    level: str | None
    metrics: dict[str, Any]


@dataclass
class Overview:
    service: Service
    scope: str
    window: Window
    hierarchy: str
    level: str | None
    entries: list[Entry] = field(default_factory=list)


def find_service(metric: str) -> Service:
    try:
        uid = uuid.UUID(metric)
    except ValueError:
        raise OverviewError(400, f"unknown service '{metric}'") from None
    service = Service.objects.filter(uid=uid).first()
    if service is None:
        raise OverviewError(400, f"unknown service '{metric}'")
    return service


def find_hierarchy(name: str | None) -> Hierarchy:
    if name is None:
        hierarchy = Hierarchy.objects.order_by("position", "name").first()
        if hierarchy is None:
            raise OverviewError(400, "no hierarchy is defined")
        return hierarchy
    hierarchy = Hierarchy.objects.filter(name=name).first()
    if hierarchy is None:
        raise OverviewError(400, f"unknown hierarchy '{name}'")
    return hierarchy


def overview(account, request: OverviewRequest, *, at: datetime | None = None) -> Overview:
    """The Services API answer for ``account``; raises ``OverviewError`` (400/403)."""
    service = find_service(request.metric)
    hierarchy = find_hierarchy(request.hierarchy)
    profile = account.profile
    view = HierarchyView.load(hierarchy, visible_entity_ids(account), profile.view_domain_id)
    window = Window.ending(request.scope, at)
    answer = Overview(service, request.scope, window, hierarchy.name, None)

    def entry(node_id: int | None, totals: Mapping, aggregate: bool) -> Entry:
        metrics = totals.get((node_id, 0), Totals()).metrics(service)
        if node_id is None:
            return Entry("all", (), None, metrics)
        node = view.all_nodes[node_id]
        return Entry("all" if aggregate else node.name, node.path, node.level, metrics)

    if request.level is not None:
        level = next((lv for lv in view.levels if lv.name == request.level), None)
        if level is None:
            raise OverviewError(400, f"unknown level '{request.level}' in hierarchy '{hierarchy.name}'")
        parent_depth = level.depth - 1 if level.depth > 0 else None
        totals = compute_metrics(service, window, view, [parent_depth, level.depth])
        parents = [None] if parent_depth is None else view.nodes_at(parent_depth)
        for parent in parents:
            answer.entries.append(entry(parent, totals, aggregate=True))
            for child in view.children.get(parent, []):
                answer.entries.append(entry(child, totals, aggregate=False))
        answer.level = level.name
        return answer

    if request.path is not None:
        try:
            node_id = view.find(request.path)
        except UnknownNode as error:
            where = f" under '{'/'.join(error.parent_path)}'" if error.parent_path else ""
            raise OverviewError(400, f"unknown node '{error.name}'{where} in hierarchy '{hierarchy.name}'") from None
        if not view.is_visible(node_id):
            raise OverviewError(
                403, f"the node '{'/'.join(request.path)}' has no entity in the account's view domain")
    else:
        node_id = view.default_node_id
    depth = None if node_id is None else view.all_nodes[node_id].depth
    children = view.children.get(node_id, [])
    depths = [depth] if not children else [depth, depth + 1 if depth is not None else 0]
    totals = compute_metrics(service, window, view, depths, within=node_id)
    answer.entries.append(entry(node_id, totals, aggregate=True))
    answer.entries.extend(entry(child, totals, aggregate=False) for child in children)
    if children:
        answer.level = view.levels[0 if depth is None else depth + 1].name
    else:
        answer.level = view.all_nodes[node_id].level if node_id is not None else None
    return answer
