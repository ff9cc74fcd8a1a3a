"""The discovery page ``GET /api/beta/services`` and the service dashboard in the portal (``services.md``):
switch, authentication, trailing slash, view-domain limits, links in each format (followed), status
colours against ``node_statuses``, charts against ``metric_series``; then both pages in headless
Chromium."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from portal.models import Entity, Hierarchy, HierarchyLevel, HierarchyNode, PlatformSettings
from service_health.discovery import overview_url, path_values
from service_health.services import (
    HierarchyView,
    Window,
    metric_columns,
    metric_series,
    node_statuses,
    visible_entity_ids,
)
from tests import browser as browser_support
from tests.service_health.conftest import basic
from tests.service_health.world import INTRANET_UID, NOW, OUTLOOK_UID, PASSWORD, build, make_profile_account

browser = browser_support.browser  # the module-scoped headless Chromium fixture

PAGE = "/api/beta/services"
OVERVIEW = "/api/beta/service/data/overview"
FORMATS = ("table", "json", "csv")
COLOURS = {"green": "rgb(30, 142, 62)", "yellow": "rgb(242, 194, 0)", "red": "rgb(217, 48, 37)"}
AMERICA = ("America", "USA", "Boston", "Austin")


# -- A small DOM out of the standard library's parser --------------------------------------------------------


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    children: list[Element] = field(default_factory=list)
    content: list[Element | str] = field(default_factory=list)  # children and texts, in order

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    @property
    def text(self) -> str:
        return "".join(part if isinstance(part, str) else part.text for part in self.content)

    def iter(self):
        yield self
        for child in self.children:
            yield from child.iter()

    def find_all(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> list[Element]:
        return [e for e in self.iter() if (tag is None or e.tag == tag) and (cls is None or cls in e.classes)
                and all(e.attrs.get(name.replace("_", "-")) == value for name, value in attrs.items())]

    def find(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> Element:
        found = self.find_all(tag, cls, **attrs)
        assert found, f"no <{tag} class={cls} {attrs}>"
        return found[0]

    def direct(self, tag: str) -> list[Element]:
        return [child for child in self.children if child.tag == tag]


VOID = {"meta", "link", "br", "hr", "img", "input", "line", "circle", "rect", "polyline", "polygon", "path"}


class DomParser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag, attrs):
        element = Element(tag, {name: value or "" for name, value in attrs})
        self.stack[-1].children.append(element)
        self.stack[-1].content.append(element)
        if tag not in VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag, attrs):
        element = Element(tag, {name: value or "" for name, value in attrs})
        self.stack[-1].children.append(element)
        self.stack[-1].content.append(element)

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        for index in range(len(self.stack) - 1, 0, -1):
            if self.stack[index].tag == tag:
                del self.stack[index:]
                return

    def handle_data(self, data):
        self.stack[-1].content.append(data)


def dom(response) -> Element:
    parser = DomParser()
    parser.feed(response.content.decode())
    return parser.root


# -- Discovery page: helpers -----------------------------------------------------------------------------


def page(api, user: str = "admin", url: str = PAGE):
    response = api.get(url=url, user=user)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/html; charset=utf-8"
    return response


def section(document: Element, uid: str) -> Element:
    return document.find("section", cls="service", data_service=uid)


def hierarchy_block(document: Element, uid: str, hierarchy: str) -> Element:
    return section(document, uid).find("details", cls="hierarchy", data_hierarchy=hierarchy)


def tree_paths(block: Element) -> list[str]:
    return [li.attrs["data-path"] for li in block.find_all("li", cls="node")]


def format_links(element: Element) -> dict[str, str]:
    """The element's own overview links (not those of nested nodes), by format."""
    container = element.find("span", cls="formats")
    return {a.attrs["data-format"]: a.attrs["href"] for a in container.find_all("a")}


def query_of(url: str) -> dict[str, list[str]]:
    parts = urlsplit(url)
    assert parts.path == OVERVIEW, url
    return parse_qs(parts.query, keep_blank_values=True)


def view_for(world, account, hierarchy: str) -> HierarchyView:
    profile = account.profile
    return HierarchyView.load(world.hierarchies[hierarchy], visible_entity_ids(account), profile.view_domain_id)


# -- Discovery page: switch, authentication, paths ---------------------------------------------------------


@pytest.mark.parametrize("url", [PAGE, PAGE + "/"])
@pytest.mark.django_db
def test_the_page_is_404_while_the_feature_is_off(api, url):
    settings_row = PlatformSettings.load()
    settings_row.services_api_enabled = False
    settings_row.save()
    for user in ("admin", None):
        response = api.get(url=url, user=user)
        assert response.status_code == 404
        assert response.json() == {"error": "not found"}
        assert "WWW-Authenticate" not in response


@pytest.mark.django_db
def test_the_environment_switch_turns_it_on(api, monkeypatch):
    settings_row = PlatformSettings.load()
    settings_row.services_api_enabled = False
    settings_row.save()
    monkeypatch.setenv("OPENDEX_SERVICES_API", "true")
    assert api.get(url=PAGE).status_code == 200


@pytest.mark.parametrize("url", [PAGE, PAGE + "/"])
@pytest.mark.django_db
def test_basic_credentials_of_an_active_account_are_required(api, url):
    for user, password in ((None, PASSWORD), ("admin", "wrong"), ("gone", PASSWORD), ("nobody", PASSWORD)):
        response = api.get(url=url, user=user, password=password)
        assert response.status_code == 401, (user, password)
        assert response["WWW-Authenticate"] == 'Basic realm="OpenDEX"'
        assert response.json() == {"error": "authentication required: HTTP Basic credentials of an active account"}
    # any active account, whatever its rights: the overview's rule
    assert api.get(url=url, user="viewer").status_code == 200


@pytest.mark.django_db
def test_both_paths_answer_the_same_page_without_redirecting(api):
    without, with_slash = page(api, url=PAGE), page(api, url=PAGE + "/")
    assert without.content == with_slash.content  # the clock is fixed
    assert "Location" not in without and "Location" not in with_slash


@pytest.mark.django_db
def test_other_methods_are_405_and_head_is_answered(api):
    response = api.client.post(PAGE, HTTP_AUTHORIZATION=basic("admin"))
    assert response.status_code == 405 and response["Allow"] == "GET, HEAD"
    assert response.json() == {"error": "method POST is not allowed"}
    assert api.client.head(PAGE, HTTP_AUTHORIZATION=basic("admin")).status_code == 200


@pytest.mark.django_db
def test_an_unexpected_failure_is_a_json_500_with_a_request_id(api, monkeypatch, caplog):
    from service_health import discovery

    monkeypatch.setattr(discovery, "discovery_page", lambda *args, **kwargs: 1 / 0)
    response = api.get(url=PAGE)
    assert response.status_code == 500
    message = response.json()["error"]
    assert message.startswith("internal error (request id ")
    assert message[len("internal error (request id "):-1] in caplog.text
    assert message == f"internal error (request id {response['X-Request-ID']})"  # the request's own id


# -- Discovery page: contents -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_services_hierarchies_and_levels_are_listed(api, world):
    document = dom(page(api))
    rows = document.find("table", cls="services").find_all("tr", data_service=INTRANET_UID)
    assert len(rows) == 1
    cells = [td.text.strip() for td in rows[0].find_all("td")]
    assert cells[:3] == ["Intranet", "web", INTRANET_UID]
    outlook = document.find("table", cls="services").find("tr", data_service=OUTLOOK_UID)
    assert [td.text.strip() for td in outlook.find_all("td")][:3] == ["Outlook", "connection", OUTLOOK_UID]
    hierarchies = document.find("table", cls="hierarchies")
    assert [tr.attrs["data-hierarchy"] for tr in hierarchies.find_all("tr") if "data-hierarchy" in tr.attrs] == [
        "Geography", "Organization"]
    levels = {tr.attrs["data-hierarchy"]: tr.find("td", cls="levels").text.split(" \u203a ")
              for tr in hierarchies.find_all("tr") if "data-hierarchy" in tr.attrs}
    assert levels == {"Geography": ["Continent", "Country", "Entity"], "Organization": ["Division", "Entity"]}
    for uid in (OUTLOOK_UID, INTRANET_UID):
        geography = hierarchy_block(document, uid, "Geography")
        assert [li.attrs["data-level"] for li in geography.find("ol", cls="levels").find_all("li")] == [
            "Continent", "Country", "Entity"]


@pytest.mark.django_db
def test_the_tree_holds_every_visible_node_under_the_root(api, world):
    document = dom(page(api))
    geography = hierarchy_block(document, OUTLOOK_UID, "Geography")
    assert tree_paths(geography) == [
        "", "America", "America/USA", "America/USA/Austin", "America/USA/Boston",
        "Europe", "Europe/France", "Europe/France/Paris", "Europe/Switzerland", "Europe/Switzerland/Lausanne",
        "Europe/Switzerland/Zurich"]
    # nested: each node's children are in its own <ul>
    root = geography.find("ul", cls="tree").direct("li")[0]
    top = [li.attrs["data-path"] for li in root.direct("ul")[0].direct("li")]
    assert top == ["America", "Europe"]
    organization = hierarchy_block(document, OUTLOOK_UID, "Organization")
    assert tree_paths(organization) == ["", "Corporate", "Corporate/Boston", "Corporate/Lausanne", "Field",
                                        "Field/Austin", "Field/Paris", "Field/Zurich"]
    assert "Geneva" not in page(api).content.decode()  # in no hierarchy


@pytest.mark.django_db
def test_europe_sees_europe_only(api, world):
    response = page(api, user="europe")
    text = response.content.decode()
    for name in AMERICA:
        assert name not in text, name
    document = dom(response)
    assert "Geography / Europe" in document.find("p", cls="meta").text
    for uid in (OUTLOOK_UID, INTRANET_UID):
        assert tree_paths(hierarchy_block(document, uid, "Geography")) == [
            "", "Europe", "Europe/France", "Europe/France/Paris", "Europe/Switzerland",
            "Europe/Switzerland/Lausanne", "Europe/Switzerland/Zurich"]
        assert tree_paths(hierarchy_block(document, uid, "Organization")) == [
            "", "Corporate", "Corporate/Lausanne", "Field", "Field/Paris", "Field/Zurich"]
    defaults = {tr.attrs["data-hierarchy"]: tr.find_all("td")[2].text
                for tr in document.find("table", cls="hierarchies").find_all("tr") if "data-hierarchy" in tr.attrs}
    assert defaults == {"Geography": "Europe", "Organization": "the root (/)"}


@pytest.mark.django_db
def test_an_account_whose_view_domain_is_elsewhere_sees_no_tree_there(api, world):
    entity = Entity.objects.create(name="Nowhere")
    other = Hierarchy.objects.create(name="Other", position=5)
    level = HierarchyLevel.objects.create(hierarchy=other, name="Entity", depth=0)
    HierarchyNode.objects.create(hierarchy=other, level=level, name="Nowhere", entity=entity)
    document = dom(page(api, user="swiss"))
    block = hierarchy_block(document, OUTLOOK_UID, "Other")
    assert tree_paths(block) == []
    assert "No node of this hierarchy has an entity in your view domain." in block.text
    assert tree_paths(hierarchy_block(document, OUTLOOK_UID, "Geography")) == [
        "", "Europe", "Europe/Switzerland", "Europe/Switzerland/Lausanne", "Europe/Switzerland/Zurich"]


@pytest.mark.django_db
def test_without_services_the_page_says_so(api, world):
    for service in world.services.values():
        service.delete()
    assert "No service is defined yet." in page(api).content.decode()


@pytest.mark.parametrize("user", ["admin", "europe"])
@pytest.mark.django_db
def test_status_colours_are_those_of_node_statuses(api, world, accounts, user):
    document = dom(page(api, user=user))
    window = Window.ending("hour")
    seen = set()
    for name, service in world.services.items():
        for hierarchy in ("Geography", "Organization"):
            view = view_for(world, accounts[user], hierarchy)
            expected = node_statuses(service, view, window)
            block = hierarchy_block(document, str(service.uid), hierarchy)
            nodes = block.find_all("li", cls="node")
            assert len(nodes) == len(expected), (name, hierarchy)
            for li in nodes:
                path = tuple(part for part in li.attrs["data-path"].split("/") if part)
                node_id = view.find(path)
                metrics = expected[node_id]
                badge = li.find("span", cls="status")
                assert li.attrs["data-status"] == metrics["status"] == badge.text, (name, hierarchy, path)
                assert f"status-{metrics['status']}" in badge.classes
                assert badge.attrs["title"].startswith(
                    f"{metrics['number_of_devices_with_issues']} of {metrics['number_of_devices']} device")
                seen.add(metrics["status"])
    assert seen == {"green", "yellow", "red"}  # the world has every colour


@pytest.mark.django_db
def test_every_link_is_the_matching_overview_query_in_each_format(api, world):
    document = dom(page(api, user="europe"))
    for uid in (OUTLOOK_UID, INTRANET_UID):
        block = section(document, uid)
        default = format_links(block.find("p", cls="muted"))
        assert list(default) == list(FORMATS)
        for output_format, url in default.items():
            assert query_of(url) == {"metric": [uid], "format": [output_format]}
        for hierarchy in ("Geography", "Organization"):
            details = hierarchy_block(document, uid, hierarchy)
            for li in details.find("ol", cls="levels").find_all("li"):
                links = format_links(li)
                assert list(links) == list(FORMATS)
                for output_format, url in links.items():
                    assert query_of(url) == {"metric": [uid], "hierarchy": [hierarchy],
                                             "hierarchy-level": [li.attrs["data-level"]], "format": [output_format]}
            for li in details.find_all("li", cls="node"):
                links = format_links(li)
                path = li.attrs["data-path"] or "/"
                for output_format, url in links.items():
                    assert query_of(url) == {"metric": [uid], "hierarchy": [hierarchy], "path": [path],
                                             "format": [output_format]}
                    assert "&" not in path and f"path={quote(path, safe='')}" in url  # percent-encoded


def overview_of(api, url: str, user: str):
    response = api.client.get(url, HTTP_AUTHORIZATION=basic(user))
    assert response.status_code == 200, (url, response.content)
    return response


@pytest.mark.django_db
def test_following_the_links_answers_the_node_or_level_asked(api, world):
    document = dom(page(api, user="europe"))
    for uid in (OUTLOOK_UID, INTRANET_UID):
        for hierarchy in ("Geography", "Organization"):
            details = hierarchy_block(document, uid, hierarchy)
            for li in details.find_all("li", cls="node"):
                links = format_links(li)
                answer = overview_of(api, links["json"], "europe").json()
                expected_path = [part for part in li.attrs["data-path"].split("/") if part]
                assert answer["service"]["uid"] == uid and answer["hierarchy"] == hierarchy
                assert answer["nodes"][0]["name"] == "all" and answer["nodes"][0]["path"] == expected_path
                assert answer["nodes"][0]["metrics"]["status"] == li.attrs["data-status"]
                csv = overview_of(api, links["csv"], "europe")
                assert csv["Content-Type"] == "text/csv; charset=utf-8"
                assert len(csv.content.decode().splitlines()) == 1 + len(answer["nodes"])
                table = overview_of(api, links["table"], "europe")
                assert table["Content-Type"] == "text/html; charset=utf-8"
            for li in details.find("ol", cls="levels").find_all("li"):
                answer = overview_of(api, format_links(li)["json"], "europe").json()
                assert answer["level"] == li.attrs["data-level"]
                assert {node["level"] for node in answer["nodes"] if node["name"] != "all"} == {li.attrs["data-level"]}
        for url in format_links(section(document, uid).find("p", cls="muted")).values():
            overview_of(api, url, "europe")
        default = overview_of(api, format_links(section(document, uid).find("p", cls="muted"))["json"], "europe")
        assert default.json()["nodes"][0]["path"] == ["Europe"]  # the account's default path


@pytest.mark.django_db
def test_names_that_need_encoding_are_linked_exactly(api, world):
    odd = Hierarchy.objects.create(name="Teams & Sites", position=3)
    top = HierarchyLevel.objects.create(hierarchy=odd, name="Group #1", depth=0)
    base = HierarchyLevel.objects.create(hierarchy=odd, name="Entity", depth=1)
    names = {"R&D / Labs é": "Lausanne", "Sales+Ops?": "Zurich", "100% = x": "Paris"}
    for group, entity in names.items():
        parent = HierarchyNode.objects.create(hierarchy=odd, level=top, name=group)
        HierarchyNode.objects.create(hierarchy=odd, level=base, parent=parent, name=f"{entity} site",
                                     entity=world.entities[entity])
    document = dom(page(api))
    details = hierarchy_block(document, OUTLOOK_UID, "Teams & Sites")
    paths = tree_paths(details)
    assert set(paths) >= {"R&D / Labs é", "R&D / Labs é/Lausanne site", "Sales+Ops?", "100% = x/Paris site"}
    for li in details.find_all("li", cls="node"):
        expected = li.find("span", cls="node-name").text if li.attrs["data-path"] else None
        answer = overview_of(api, format_links(li)["json"], "admin").json()
        assert answer["hierarchy"] == "Teams & Sites"
        path = answer["nodes"][0]["path"]
        assert (path[-1] if path else None) == expected
    for li in details.find("ol", cls="levels").find_all("li"):
        answer = overview_of(api, format_links(li)["json"], "admin").json()
        assert answer["level"] == li.attrs["data-level"]


def test_path_values_and_overview_urls():
    assert path_values(()) == ["/"]
    assert path_values(("Europe", "Switzerland")) == ["Europe/Switzerland"]
    assert path_values(("A/B",)) == ["A/B", ""]  # one name holding "/": repeated, so it is not split
    assert path_values(("A/B", "C")) == ["A/B", "C"]

    class Service:
        uid = OUTLOOK_UID

    url = overview_url(Service, "csv", hierarchy="Teams & Sites", path=("R&D / Labs é", "x"))
    assert url == (f"{OVERVIEW}?metric={OUTLOOK_UID}&hierarchy=Teams%20%26%20Sites"
                   "&path=R%26D%20%2F%20Labs%20%C3%A9&path=x&format=csv")
    assert overview_url(Service, "table", level="Country") == (
        f"{OVERVIEW}?metric={OUTLOOK_UID}&hierarchy-level=Country&format=table")


@pytest.mark.django_db
def test_one_status_statement_per_service_and_hierarchy(api, world, django_assert_max_num_queries):
    page(api)  # warm: sessions, settings row
    for index in range(20):  # more nodes do not make more statements
        parent = HierarchyNode.objects.create(hierarchy=world.hierarchies["Organization"],
                                              level=world.hierarchies["Organization"].levels.get(depth=0),
                                              name=f"Division {index}")
        HierarchyNode.objects.create(hierarchy=world.hierarchies["Organization"],
                                     level=world.hierarchies["Organization"].levels.get(depth=1), parent=parent,
                                     name=f"Lausanne {index}", entity=world.entities["Lausanne"])
    # settings, account and profile, view domain, hierarchies, per hierarchy 2 (levels, nodes), services,
    # per service and hierarchy 2 (definition, metrics)
    with django_assert_max_num_queries(6 + 2 * 2 + 1 + 2 * 2 * 2):
        page(api)


# -- Dashboard ---------------------------------------------------------------------------------------------


def dashboard_url(service, **params) -> str:
    url = reverse("admin:service_health_service_dashboard", args=[service.pk])
    if params:
        url += "?" + "&".join(f"{name}={quote(str(value))}" for name, value in params.items())
    return url


def logged_in(account) -> Client:
    client = Client()
    client.force_login(account)
    return client


@pytest.fixture
def administrator(world):
    return make_profile_account("service-admin", administration=True)


@pytest.mark.django_db
def test_the_dashboard_is_for_administrators_only(world, accounts, administrator):
    url = dashboard_url(world.services["Outlook"])
    anonymous = Client().get(url)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith(reverse("admin:login"))
    for user in ("europe", "viewer", "partial"):  # finder access or not, no administration right
        response = logged_in(accounts[user]).get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login")), user
    assert logged_in(administrator).get(url).status_code == 200
    assert logged_in(accounts["admin"]).get(url).status_code == 200
    assert logged_in(administrator).get(reverse("admin:service_health_service_dashboard", args=[999999])
                                        ).status_code == 404


@pytest.mark.django_db
def test_the_list_and_the_change_page_link_to_the_dashboard(world, administrator):
    client = logged_in(administrator)
    service = world.services["Outlook"]
    url = dashboard_url(service)
    listing = client.get(reverse("admin:service_health_service_changelist"))
    assert f'href="{url}"' in listing.content.decode()
    change = dom(client.get(reverse("admin:service_health_service_change", args=[service.pk])))
    assert change.find("a", cls="dashboardlink").attrs["href"] == url
    add = client.get(reverse("admin:service_health_service_add")).content.decode()
    assert "dashboardlink" not in add


def chart_points(document: Element, metric: str) -> list[Element]:
    svg = document.find("svg", cls="chart", data_metric=metric)
    return svg.find_all("g", cls="point")


@pytest.mark.parametrize("name", ["Outlook", "Intranet"])
@pytest.mark.django_db
def test_one_chart_per_metric_with_24_hourly_points_of_metric_series(world, administrator, name):
    service = world.services[name]
    document = dom(logged_in(administrator).get(dashboard_url(service)))
    charts = document.find_all("svg", cls="chart")
    assert [svg.attrs["data-metric"] for svg in charts] == [metric for metric, _ in metric_columns(service.type)]
    view = view_for(world, administrator, "Geography")
    series = metric_series(service, view, None)
    assert len(series) == 24 and series[-1][0] == NOW.replace(hour=11)
    for metric, _ in metric_columns(service.type):
        points = chart_points(document, metric)
        assert len(points) == 24, metric
        for point, (start, metrics) in zip(points, series, strict=True):
            value = metrics[metric]
            assert point.attrs["data-start"] == start.isoformat()
            title = point.find("title").text
            assert title.startswith(f"{start:%Y-%m-%d %H:%M} to ")
            if value is None:
                assert point.attrs["data-value"] == "" and title.endswith("no activity")
                assert not point.find_all("circle")
            elif metric == "status":
                assert point.attrs["data-value"] == value
                assert f"band-{value}" in point.find("rect").classes
            else:
                assert float(point.attrs["data-value"]) == pytest.approx(value)
                assert len(point.find_all("circle")) == 1
    # some hours have activity, and the charts show it
    assert any(metrics["number_of_devices"] for _, metrics in series)


@pytest.mark.django_db
def test_charts_have_axes_and_labels(world, administrator):
    document = dom(logged_in(administrator).get(dashboard_url(world.services["Outlook"])))
    svg = document.find("svg", cls="chart", data_metric="incoming_traffic")
    assert svg.find("title").text == "Incoming traffic, hourly over the last day"
    y_ticks = [text.text for text in svg.find_all("text", cls="y-tick")]
    assert y_ticks[0] == "0 B" and len(y_ticks) == 5 and y_ticks[-1].endswith("KB")
    assert [text.text for text in svg.find_all("text", cls="x-tick")] == ["12:00", "18:00", "00:00", "06:00", "12:00"]
    assert svg.find("text", cls="y-label").text == "bytes"
    assert svg.find("text", cls="x-label").text == "hour (UTC)"
    assert svg.find_all("polyline", cls="line")
    ratio = document.find("svg", cls="chart", data_metric="failed_connections_ratio")
    assert all(text.text.endswith("%") for text in ratio.find_all("text", cls="y-tick"))


@pytest.mark.parametrize(("hierarchy", "scope"), [("Geography", "hour"), ("Organization", "day")])
@pytest.mark.django_db
def test_the_status_tree_matches_node_statuses(world, administrator, hierarchy, scope):
    service = world.services["Outlook"]
    document = dom(logged_in(administrator).get(dashboard_url(service, hierarchy=hierarchy, scope=scope)))
    view = view_for(world, administrator, hierarchy)
    expected = node_statuses(service, view, Window.ending(scope))
    rows = document.find("table", cls="status-tree").find_all("tr", cls="node")
    assert len(rows) == len(expected)
    for row in rows:
        node_id = None if row.attrs["data-node"] == "root" else int(row.attrs["data-node"])
        metrics = expected[node_id]
        assert row.attrs["data-status"] == metrics["status"]
        assert f"status-{metrics['status']}" in row.find("span", cls="status-badge").classes
        cells = [td.text.strip() for td in row.find_all("td")]
        assert cells[3:] == [str(metrics["number_of_devices_with_issues"]), str(metrics["number_of_devices"])]
    assert rows[0].attrs["data-node"] == "root" and "selected" in rows[0].classes


@pytest.mark.django_db
def test_choosing_a_node_charts_that_node(world, administrator):
    service = world.services["Intranet"]
    client = logged_in(administrator)
    document = dom(client.get(dashboard_url(service)))
    europe = world.nodes[("Geography", "Europe")]
    link = document.find("tr", cls="node", data_node=str(europe.pk)).find("a").attrs["href"]
    assert parse_qs(link.lstrip("?")) == {"hierarchy": ["Geography"], "scope": ["hour"], "node": [str(europe.pk)]}
    chosen = dom(client.get(dashboard_url(service) + link))
    assert "selected" in chosen.find("tr", cls="node", data_node=str(europe.pk)).classes
    assert chosen.find("h2", id="charts-title").text.startswith("Europe:")
    series = metric_series(service, view_for(world, administrator, "Geography"), europe.pk)
    values = [point.attrs["data-value"] for point in chart_points(chosen, "number_of_devices")]
    assert values == [str(metrics["number_of_devices"]) for _, metrics in series]


@pytest.mark.django_db
def test_the_dashboard_keeps_to_the_administrators_view_domain(world):
    admin_eu = make_profile_account("admin-eu", administration=True, view_domain=world.nodes[("Geography", "Europe")])
    client = logged_in(admin_eu)
    service = world.services["Outlook"]
    response = client.get(dashboard_url(service))
    text = response.content.decode()
    for name in AMERICA:
        assert f">{name}<" not in text, name
    document = dom(response)
    selected = document.find("tr", cls="selected")
    assert selected.attrs["data-path"] == "Europe"  # its view-domain node by default
    series = metric_series(service, view_for(world, admin_eu, "Geography"), world.nodes[("Geography", "Europe")].pk)
    assert [p.attrs["data-value"] for p in chart_points(document, "number_of_devices")] == [
        str(metrics["number_of_devices"]) for _, metrics in series]
    america = world.nodes[("Geography", "America")]
    assert client.get(dashboard_url(service, node=america.pk)).status_code == 404
    assert client.get(dashboard_url(service, node="nope")).status_code == 404
    assert client.get(dashboard_url(service, hierarchy="Atlantis")).status_code == 404
    assert client.get(dashboard_url(service, scope="year")).status_code == 200  # read as hour


@pytest.mark.django_db
def test_devices_with_issues_follow_data_privacy(world):
    service = world.services["Outlook"]
    shown = dom(logged_in(make_profile_account("admin-none", administration=True)).get(
        dashboard_url(service, scope="day")))
    rows = shown.find("table", id="devices-with-issues").find_all("tr")[1:]
    assert rows and all(row.find_all("td")[0].text in world.devices for row in rows)
    assert any(row.find_all("td")[2].text.startswith("user") for row in rows)
    hidden = dom(logged_in(make_profile_account("admin-full", administration=True, data_privacy="full")).get(
        dashboard_url(service, scope="day")))
    rows = hidden.find("table", id="devices-with-issues").find_all("tr")[1:]
    uids = {device.device_uid for device in world.devices.values()}
    assert rows and all(row.find_all("td")[0].text in uids for row in rows)  # the uid instead of the name
    assert all(row.find_all("td")[2].text == "—" for row in rows)


# -- In headless Chromium ------------------------------------------------------------------------------------


WAIT_SECONDS = 10


def rgb(css_colour: str) -> str:
    """``rgb(r, g, b)`` out of a computed ``rgb(...)`` or opaque ``rgba(..., 1)``."""
    numbers = re.findall(r"[\d.]+", css_colour)
    assert len(numbers) == 3 or (len(numbers) == 4 and float(numbers[3]) == 1), css_colour
    return "rgb({}, {}, {})".format(*numbers[:3])


def with_credentials(live_server, user: str, path: str) -> str:
    """The live server URL with Basic credentials in it (Chromium answers the challenge with them, then
    keeps them for the realm: links on the page are followed authenticated)."""
    return live_server.url.replace("://", f"://{quote(user, safe='')}:{quote(PASSWORD, safe='')}@", 1) + path


@pytest.mark.django_db(transaction=True)
def test_the_discovery_page_in_chromium(browser, live_server):
    world = build()
    make_profile_account("europe", view_domain=world.nodes[("Geography", "Europe")])
    browser.get(with_credentials(live_server, "europe", PAGE))
    WebDriverWait(browser, WAIT_SECONDS).until(lambda d: d.title == "Services API — discovery")
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "America" not in body and "Boston" not in body
    outlook = browser.find_element(By.CSS_SELECTOR, f"section[data-service='{OUTLOOK_UID}']")
    geography = outlook.find_element(By.CSS_SELECTOR, "details[data-hierarchy='Geography']")
    nodes = geography.find_elements(By.CSS_SELECTOR, "li.node")
    assert [node.get_attribute("data-path") for node in nodes] == [
        "", "Europe", "Europe/France", "Europe/France/Paris", "Europe/Switzerland", "Europe/Switzerland/Lausanne",
        "Europe/Switzerland/Zurich"]
    assert all(node.is_displayed() for node in nodes)
    # nested lists: Lausanne is drawn to the right of Switzerland, itself to the right of Europe
    x = {node.get_attribute("data-path"): node.location["x"] for node in nodes}
    assert x[""] < x["Europe"] < x["Europe/Switzerland"] < x["Europe/Switzerland/Lausanne"]
    seen = set()
    for badge in browser.find_elements(By.CSS_SELECTOR, "li.node > span.status"):
        status = badge.text
        assert rgb(badge.value_of_css_property("background-color")) == COLOURS[status]
        seen.add(status)
    assert len(seen) >= 2
    view = HierarchyView.load(world.hierarchies["Geography"], frozenset(world.entity_ids("Geography", "Europe")))
    statuses = node_statuses(world.services["Outlook"], view, Window.ending("hour"))
    for node in nodes:
        path = tuple(part for part in node.get_attribute("data-path").split("/") if part)
        assert node.get_attribute("data-status") == statuses[view.find(path)]["status"]
    switzerland = geography.find_element(By.CSS_SELECTOR, "li.node[data-path='Europe/Switzerland']")
    expected_status = switzerland.get_attribute("data-status")
    switzerland.find_element(By.CSS_SELECTOR, ":scope > span.formats a[data-format='json']").click()
    WebDriverWait(browser, WAIT_SECONDS).until(lambda d: OVERVIEW in d.current_url)
    answer = json.loads(browser.find_element(By.TAG_NAME, "body").text)
    assert answer["service"] == {"uid": OUTLOOK_UID, "name": "Outlook", "type": "connection"}
    assert answer["hierarchy"] == "Geography" and answer["level"] == "Entity"
    assert [node["path"] for node in answer["nodes"]] == [
        ["Europe", "Switzerland"], ["Europe", "Switzerland", "Lausanne"], ["Europe", "Switzerland", "Zurich"]]
    assert answer["nodes"][0]["metrics"]["status"] == expected_status


@pytest.mark.django_db(transaction=True)
def test_the_dashboard_in_chromium(browser, live_server):
    world = build()
    account = make_profile_account("chart-admin", administration=True)
    session = logged_in(account).cookies[django_settings.SESSION_COOKIE_NAME].value
    browser.get(live_server.url + "/admin/login/")
    browser.delete_all_cookies()
    browser.add_cookie({"name": django_settings.SESSION_COOKIE_NAME, "value": session, "path": "/"})
    service = world.services["Outlook"]
    browser.get(live_server.url + reverse("admin:service_health_service_change", args=[service.pk]))
    browser.find_element(By.CSS_SELECTOR, "a.dashboardlink").click()
    WebDriverWait(browser, WAIT_SECONDS).until(lambda d: d.find_elements(By.CSS_SELECTOR, "svg.chart"))
    charts = browser.find_elements(By.CSS_SELECTOR, "svg.chart")
    assert [chart.get_attribute("data-metric") for chart in charts] == [m for m, _ in metric_columns("connection")]
    for chart in charts:
        size = chart.size
        assert size["width"] > 300 and size["height"] > 50, chart.get_attribute("data-metric")
        assert len(chart.find_elements(By.CSS_SELECTOR, "g.point")) == 24
    devices = browser.find_element(By.CSS_SELECTOR, "svg.chart[data-metric='number_of_devices']")
    line = devices.find_element(By.CSS_SELECTOR, "polyline.line")
    assert line.size["width"] > 200  # drawn across the day
    dots = devices.find_elements(By.CSS_SELECTOR, "circle.dot")
    assert len(dots) == 24 and all(dot.is_displayed() for dot in dots)
    bands = browser.find_elements(By.CSS_SELECTOR, "svg.chart[data-metric='status'] rect.band")
    assert len(bands) == 24
    for band in bands:
        status = band.find_element(By.XPATH, "..").get_attribute("data-value")
        assert rgb(band.value_of_css_property("fill")) == COLOURS[status]
    # choosing a node charts it
    europe = world.nodes[("Geography", "Europe")]
    browser.find_element(By.CSS_SELECTOR, f"tr.node[data-node='{europe.pk}'] a").click()
    WebDriverWait(browser, WAIT_SECONDS).until(
        lambda d: d.find_element(By.ID, "charts-title").text.startswith("Europe:"))
    assert browser.find_element(By.CSS_SELECTOR, "tr.node.selected").get_attribute("data-path") == "Europe"
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg.chart")) == len(metric_columns("connection"))
