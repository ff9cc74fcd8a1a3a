"""The service dashboard in the portal (``services.md``; administrators): the health of one service at a
glance, at ``/admin/service_health/service/<id>/dashboard/`` (``ServiceAdmin.get_urls``).

For a hierarchy chosen on the page (default: the first), the status of every node the administrator's
view domain shows (``node_statuses`` over the last hour or day: one statement), as a tree; for one
node of it (default: the view-domain node in that hierarchy, else the root) each metric over the last
day in hourly points (``metric_series``: one statement), drawn as inline SVG charts rendered here —
axes with their labels, each point's value in a ``<title>`` shown on hover, no script and no external
asset — the status as a band of coloured hours; and the node's devices with issues (data privacy of
the administrator's profile applied).

Query parameters: ``hierarchy`` (a name), ``node`` (a node id, or ``root``), ``scope`` (``hour`` or
``day``, for the statuses and the devices). An unknown hierarchy or a node that is not visible is a
404; an unknown scope reads as ``hour``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.template.response import TemplateResponse
from django.utils.http import urlencode

from engine.query.render import format_text
from engine.schema import FieldType
from portal.models import Hierarchy

from .discovery import TreeNode, tree
from .models import Service
from .services import (
    PERIODS,
    HierarchyView,
    Window,
    devices_with_issues,
    metric_columns,
    metric_series,
    node_statuses,
    visible_entity_ids,
)

STEP = timedelta(hours=1)
PERIOD = timedelta(days=1)
DEVICES_SHOWN = 20

# Each metric's chart title and the unit its axis reads in.
METRIC_LABELS: dict[str, tuple[str, str]] = {
    "number_of_devices": ("Devices using the service", "devices"),
    "number_of_users": ("Users", "users"),
    "number_of_devices_with_issues": ("Devices with issues", "devices"),
    "status": ("Status", ""),
    "incoming_traffic": ("Incoming traffic", "bytes"),
    "outgoing_traffic": ("Outgoing traffic", "bytes"),
    "number_of_connections": ("Connections", "connections"),
    "number_of_failed_connections": ("Failed connections", "connections"),
    "failed_connections_ratio": ("Failed connections ratio", "%"),
    "average_network_response_time": ("Average network response time", "duration"),
    "number_of_web_requests": ("Web requests", "requests"),
    "number_of_http_errors": ("HTTP errors (4xx and 5xx)", "requests"),
    "number_of_http_server_errors": ("HTTP server errors (5xx)", "requests"),
    "http_errors_ratio": ("HTTP errors ratio", "%"),
    "average_response_time": ("Average response time", "duration"),
}

# -- Charts -------------------------------------------------------------------------------------

WIDTH, HEIGHT, STATUS_HEIGHT = 440, 180, 84
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 12, 34
GRID_INTERVALS = 4
X_TICK_EVERY = 6  # points


@dataclass
class Point:
    index: int
    start: datetime
    end: datetime
    value: Any  # the metric's value (None: no activity)
    text: str  # the value as shown (units, human readable)
    x: float  # the centre of the point's slot
    slot_x: float  # the left of its slot
    y: float | None  # None for an absent value (and in the status band)

    @property
    def raw(self) -> str:
        return "" if self.value is None else str(self.value)

    @property
    def title(self) -> str:
        return f"{self.start:%Y-%m-%d %H:%M} to {self.end:%H:%M} UTC: {self.text or 'no activity'}"


@dataclass
class Tick:
    position: float
    label: str


@dataclass
class Chart:
    """One metric's chart: geometry in SVG user units, ready for the template."""

    metric: str
    title: str
    unit: str
    kind: str  # "line" or "status"
    width: int
    height: int
    points: list[Point]
    slot_width: float
    plot_left: int = LEFT
    plot_top: int = TOP
    plot_right: int = WIDTH - RIGHT
    plot_bottom: int = 0
    y_ticks: list[Tick] = field(default_factory=list)
    x_ticks: list[Tick] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)  # polyline "x,y x,y ..." per run of present values
    areas: list[str] = field(default_factory=list)  # polygon points under each line

    @property
    def plot_width(self) -> float:
        return self.plot_right - self.plot_left

    @property
    def plot_height(self) -> float:
        return self.plot_bottom - self.plot_top

    @property
    def axis_label_y(self) -> float:
        return self.plot_top + self.plot_height / 2

    @property
    def present(self) -> int:
        return sum(1 for point in self.points if point.value is not None)


def nice_maximum(largest: float, field_type: FieldType) -> float:
    """A round top of the axis, at or above ``largest``, that ``GRID_INTERVALS`` divides into round steps
    (whole numbers for counts, bytes and durations; at most 100 % for ratios)."""
    if field_type == FieldType.PERCENT:
        largest = min(largest, 1.0)
    if largest <= 0:
        return 1.0 if field_type == FieldType.PERCENT else float(GRID_INTERVALS)
    if field_type == FieldType.BYTES and largest >= 1024:  # round in the unit the labels use (KB, MB...)
        unit = 1024 ** min(math.floor(math.log(largest, 1024)), 4)
        return nice_maximum(largest / unit, FieldType.REAL) * unit
    raw_step = largest / GRID_INTERVALS
    magnitude = 10 ** math.floor(math.log10(raw_step))
    whole = field_type in (FieldType.INT, FieldType.BYTES, FieldType.DURATION)
    for factor in (1, 2, 2.5, 5, 10):
        step = factor * magnitude
        if whole and (step < 1 or step != int(step)):
            continue
        if step * GRID_INTERVALS >= largest:
            break
    step = max(step, 1) if whole else step
    top = step * GRID_INTERVALS
    return min(top, 1.0) if field_type == FieldType.PERCENT and top > 1 else top


def _label(value: Any, field_type: FieldType) -> str:
    if value is None:
        return ""
    if field_type == FieldType.INT:
        return f"{int(value):,}"
    return format_text(value, field_type, hr=True)


def _axis_label(value: float, field_type: FieldType) -> str:
    if field_type in (FieldType.INT, FieldType.BYTES, FieldType.DURATION):
        value = round(value)
    return _label(value, field_type)


def build_chart(metric: str, field_type: FieldType, series: list[tuple[datetime, dict[str, Any]]],
                step: timedelta = STEP) -> Chart:
    """The chart of ``metric`` over ``series`` (``metric_series``): a line with its points, or for
    ``status`` a band of coloured slots."""
    title, unit = METRIC_LABELS.get(metric, (metric, ""))
    is_status = metric == "status"
    height = STATUS_HEIGHT if is_status else HEIGHT
    count = max(len(series), 1)
    slot = (WIDTH - RIGHT - LEFT) / count
    chart = Chart(metric, title, unit, "status" if is_status else "line", WIDTH, height, [], slot,
                  plot_bottom=height - BOTTOM)
    values = [metrics[metric] for _, metrics in series]
    top = None if is_status else nice_maximum(max((v for v in values if v is not None), default=0), field_type)
    for index, ((start, metrics), value) in enumerate(zip(series, values, strict=True)):
        y = None
        if top is not None and value is not None:
            y = chart.plot_bottom - chart.plot_height * min(float(value) / top, 1.0)
            y = round(y, 2)
        text = value if is_status else _label(value, field_type)
        if is_status:
            text = f"{value} ({metrics['number_of_devices_with_issues']} of {metrics['number_of_devices']} devices "
            text += "with issues)"
        chart.points.append(Point(index, start, start + step, value, text, round(LEFT + (index + 0.5) * slot, 2),
                                  round(LEFT + index * slot, 2), y))
    for index in range(0, len(series) + 1, X_TICK_EVERY):
        moment = series[0][0] + index * step if series else None
        if moment is not None:
            chart.x_ticks.append(Tick(round(LEFT + index * slot, 2), f"{moment:%H:%M}"))
    if top is None:
        return chart
    for interval in range(GRID_INTERVALS + 1):
        value = top * interval / GRID_INTERVALS
        position = chart.plot_bottom - chart.plot_height * interval / GRID_INTERVALS
        chart.y_ticks.append(Tick(round(position, 2), _axis_label(value, field_type)))
    run: list[Point] = []
    for point in [*chart.points, None]:
        if point is not None and point.y is not None:
            run.append(point)
            continue
        if run:
            chart.lines.append(" ".join(f"{p.x},{p.y}" for p in run))
            chart.areas.append(f"{run[0].x},{chart.plot_bottom} {chart.lines[-1]} {run[-1].x},{chart.plot_bottom}")
        run = []
    return chart


def charts(service: Service, series: list[tuple[datetime, dict[str, Any]]]) -> list[Chart]:
    """One chart per metric of the service's type, in the API's order."""
    return [build_chart(name, field_type, series) for name, field_type in metric_columns(service.type)]


# -- The page -----------------------------------------------------------------------------------


@dataclass
class Row:
    """A row of the status tree: a node, its depth, whether it is the charted one, its dashboard URL."""

    node: TreeNode
    depth: int
    selected: bool
    url: str

    @property
    def indent(self) -> str:
        return f"{self.depth * 1.2:.1f}rem"


def _node_key(node_id: int | None) -> str:
    return "root" if node_id is None else str(node_id)


def _read_node(view: HierarchyView, value: str | None) -> int | None:
    """The node the ``node`` parameter names (default: the view-domain node); 404 unless it is visible."""
    if value is None or value == "":
        return view.default_node_id if view.is_visible(view.default_node_id) else None
    if value == "root":
        return None
    try:
        node_id = int(value)
    except ValueError:
        raise Http404("no such node") from None
    if node_id not in view.all_nodes or not view.is_visible(node_id):
        raise Http404("no such node in the hierarchy, or outside your view domain")
    return node_id


def dashboard_view(model_admin, request, object_id: str) -> TemplateResponse:
    """The dashboard of the service ``object_id`` (wrapped in ``admin_site.admin_view``)."""
    service = model_admin.get_object(request, object_id)
    if service is None:
        raise Http404("no such service")
    if not model_admin.has_view_permission(request, service):
        raise PermissionDenied
    account = request.user
    hierarchies = list(Hierarchy.objects.order_by("position", "name"))
    hierarchy_name = request.GET.get("hierarchy") or (hierarchies[0].name if hierarchies else None)
    hierarchy = next((h for h in hierarchies if h.name == hierarchy_name), None)
    if hierarchies and hierarchy is None:
        raise Http404("no such hierarchy")
    scope = request.GET.get("scope", "hour")
    scope = scope if scope in PERIODS else "hour"
    context: dict[str, Any] = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts, "original": service, "service": service,
        "title": f"{service.name}: dashboard", "subtitle": None,
        "hierarchies": hierarchies, "hierarchy": hierarchy, "scope": scope, "scopes": list(PERIODS),
        "charts": [], "rows": [], "node": None,
    }
    if hierarchy is not None:
        view_domain = account.profile.view_domain
        view = HierarchyView.load(hierarchy, visible_entity_ids(account), view_domain.pk if view_domain else None)
        node_id = _read_node(view, request.GET.get("node"))
        window = Window.ending(scope)
        if view.children.get(None):
            root = tree(service, view, node_statuses(service, view, window))

            def url(node: TreeNode) -> str:
                return "?" + urlencode({"hierarchy": hierarchy.name, "scope": scope, "node": _node_key(node.node_id)})

            context["rows"] = [Row(node, len(node.path), node.node_id == node_id, url(node)) for node in root.walk()]
            context["node"] = next(row.node for row in context["rows"] if row.selected)
            series = metric_series(service, view, node_id, step=STEP, period=PERIOD)
            context["charts"] = charts(service, series)
            context["series_from"], context["series_to"] = series[0][0], series[-1][0] + STEP
            context["devices"] = devices_with_issues(service, view, node_id, window, account.profile.data_privacy,
                                                     limit=DEVICES_SHOWN)
            context["window"] = window
    return TemplateResponse(request, "service_health/dashboard.html", context)
