"""The discovery page of the Services API, ``GET /api/beta/services`` (``services.md``): what an account
can ask ``GET /api/beta/service/data/overview`` about, as links in each format.

For the account (its view domain applied, ``HierarchyView``): the services (name, type, UID), the
hierarchies with their levels, and per service and hierarchy the visible nodes as a tree from the
root, each with its status over the last hour (``node_statuses``: one statement per service and
hierarchy) and its overview links — a path query per node (``path=/`` for the root), a
hierarchy-level query per level, and the service's default query (the account's default path in the
first hierarchy). Every link exists in the three formats (``table``, ``json``, ``csv``).

``overview_url`` builds those URLs: ``path`` is one ``/``-separated value unless a node name holds a
``/``; then the names are repeated ``path`` values, one each (with an empty extra value when there is
a single name, so that it is not split).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from django.template.loader import render_to_string
from django.urls import reverse

from portal.models import Hierarchy

from .models import Service
from .services import FORMATS, HierarchyView, Window, node_statuses, visible_entity_ids

SCOPE = "hour"  # the statuses of the page: the last hour, the overview's default scope


def path_values(path: Sequence[str]) -> list[str]:
    """The ``path`` parameter values naming ``path`` (``["/"]`` for the root)."""
    if not path:
        return ["/"]
    if not any("/" in name for name in path):
        return ["/".join(path)]
    return [*path, ""] if len(path) == 1 else list(path)


def overview_url(service: Service, output_format: str, *, hierarchy: str | None = None, level: str | None = None,
                 path: Sequence[str] | None = None) -> str:
    """The overview URL of ``service`` (absolute path and query), every value percent-encoded."""
    params: list[tuple[str, str]] = [("metric", str(service.uid))]
    if hierarchy is not None:
        params.append(("hierarchy", hierarchy))
    if level is not None:
        params.append(("hierarchy-level", level))
    if path is not None:
        params.extend(("path", value) for value in path_values(path))
    params.append(("format", output_format))
    return reverse("service-health-api:overview") + "?" + urlencode(params, quote_via=quote)


@dataclass(frozen=True)
class Link:
    format: str
    url: str


def links(service: Service, **query: Any) -> list[Link]:
    """The overview URL for ``query`` in each format."""
    return [Link(output_format, overview_url(service, output_format, **query)) for output_format in FORMATS]


@dataclass
class TreeNode:
    """A visible node (the root: ``node_id`` None, ``path`` ()) with its status and links."""

    node_id: int | None
    name: str
    path: tuple[str, ...]
    level: str | None
    status: str
    devices: int
    devices_with_issues: int
    links: list[Link]
    children: list[TreeNode] = field(default_factory=list)

    @property
    def path_text(self) -> str:
        return "/".join(self.path)

    def walk(self):
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass
class LevelLinks:
    name: str
    depth: int
    links: list[Link]


@dataclass
class ServiceHierarchy:
    """One service in one hierarchy: its level links and its node tree (None: no visible node)."""

    hierarchy: Hierarchy
    levels: list[LevelLinks]
    tree: TreeNode | None


@dataclass
class ServiceSection:
    service: Service
    links: list[Link]  # the default query
    hierarchies: list[ServiceHierarchy]


@dataclass
class HierarchySummary:
    hierarchy: Hierarchy
    levels: list[str]
    default_path: tuple[str, ...]  # the account's default path in it
    visible_nodes: int
    is_default: bool


@dataclass
class DiscoveryPage:
    account: Any
    view_domain: str | None
    window: Window
    hierarchies: list[HierarchySummary]
    services: list[ServiceSection]


def tree(service: Service, view: HierarchyView, statuses: dict[int | None, dict[str, Any]]) -> TreeNode | None:
    """The visible nodes of ``view`` from the root, with ``statuses`` (``node_statuses``) and path links."""
    if not view.children.get(None):
        return None
    name = view.hierarchy.name

    def build(node_id: int | None) -> TreeNode:
        metrics = statuses[node_id]
        info = view.all_nodes[node_id] if node_id is not None else None
        path = info.path if info is not None else ()
        node = TreeNode(
            node_id=node_id, name=info.name if info is not None else "all", path=path,
            level=info.level if info is not None else None, status=metrics["status"],
            devices=metrics["number_of_devices"], devices_with_issues=metrics["number_of_devices_with_issues"],
            links=links(service, hierarchy=name, path=path),
        )
        node.children = [build(child) for child in view.children.get(node_id, [])]
        return node

    return build(None)


def discovery_page(account, *, at=None) -> DiscoveryPage:
    """What the page shows to ``account``: one ``node_statuses`` statement per service and hierarchy."""
    visible = visible_entity_ids(account)
    view_domain = account.profile.view_domain
    hierarchies = list(Hierarchy.objects.order_by("position", "name"))
    views = [HierarchyView.load(hierarchy, visible, view_domain.pk if view_domain else None)
             for hierarchy in hierarchies]
    window = Window.ending(SCOPE, at)
    summaries = [
        HierarchySummary(
            hierarchy=view.hierarchy, levels=[level.name for level in view.levels],
            default_path=view.all_nodes[view.default_node_id].path if view.default_node_id is not None else (),
            visible_nodes=len(view.entities), is_default=index == 0,
        )
        for index, view in enumerate(views)
    ]
    sections = []
    for service in Service.objects.order_by("name"):
        per_hierarchy = []
        for view in views:
            name = view.hierarchy.name
            levels = [LevelLinks(level.name, level.depth, links(service, hierarchy=name, level=level.name))
                      for level in view.levels]
            statuses = node_statuses(service, view, window) if view.children.get(None) else {}
            per_hierarchy.append(ServiceHierarchy(view.hierarchy, levels, tree(service, view, statuses)))
        sections.append(ServiceSection(service, links(service), per_hierarchy))
    domain_text = f"{view_domain.hierarchy.name} / {view_domain}" if view_domain is not None else None
    return DiscoveryPage(account, domain_text, window, summaries, sections)


def _timestamp(moment) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def render(account, *, at=None) -> str:
    page = discovery_page(account, at=at)
    return render_to_string("service_health/discovery.html", {
        "page": page, "from": _timestamp(page.window.start), "to": _timestamp(page.window.end), "scope": SCOPE,
        "overview_path": reverse("service-health-api:overview"),
    })
