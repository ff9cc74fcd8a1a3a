"""``GET /api/beta/service/data/overview``: switch, authentication, every parameter and error, the
aggregation rules, view domains, data privacy and the three formats (``services.md``)."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta
from html.parser import HTMLParser

import pytest

from portal.models import AuthenticationFailure, Hierarchy, PlatformSettings
from service_health.services import metric_columns
from tests.service_health.conftest import URL, basic
from tests.service_health.world import INTRANET_UID, NOW, OUTLOOK_UID, oracle

CONNECTION_METRICS = [
    "number_of_devices", "number_of_users", "number_of_devices_with_issues", "status", "incoming_traffic",
    "outgoing_traffic", "number_of_connections", "number_of_failed_connections", "failed_connections_ratio",
    "average_network_response_time",
]
WEB_METRICS = [
    "number_of_devices", "number_of_users", "number_of_devices_with_issues", "status", "incoming_traffic",
    "outgoing_traffic", "number_of_web_requests", "number_of_http_errors", "number_of_http_server_errors",
    "http_errors_ratio", "average_response_time",
]


def assert_error(response, status: int, *fragments: str) -> str:
    assert response.status_code == status, (response.status_code, response.content)
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert list(body) == ["error"] and isinstance(body["error"], str) and body["error"]
    for fragment in fragments:
        assert fragment in body["error"], body["error"]
    return body["error"]


def shape(answer) -> list[tuple[str, tuple[str, ...], str | None]]:
    return [(n["name"], tuple(n["path"]), n["level"]) for n in answer["nodes"]]


# -- Feature switch, method, authentication ------------------------------------------------------------


@pytest.mark.django_db
def test_off_answers_404_before_anything_else(api, monkeypatch):
    monkeypatch.delenv("OPENDEX_SERVICES_API", raising=False)
    PlatformSettings.objects.update(services_api_enabled=False)
    assert_error(api.get({"metric": OUTLOOK_UID}), 404)
    assert_error(api.get({"metric": OUTLOOK_UID}, user=None), 404)  # no challenge: the API does not exist
    assert_error(api.get({}, url=URL + "/"), 404)
    assert_error(api.client.post(URL), 404)


@pytest.mark.django_db
def test_the_environment_switch_turns_it_on(api, monkeypatch):
    PlatformSettings.objects.update(services_api_enabled=False)
    monkeypatch.setenv("OPENDEX_SERVICES_API", "true")
    assert api.get({"metric": OUTLOOK_UID, "format": "json"}).status_code == 200
    monkeypatch.setenv("OPENDEX_SERVICES_API", "false")
    assert api.get({"metric": OUTLOOK_UID, "format": "json"}).status_code == 404


@pytest.mark.parametrize("authorization", [
    None, basic("admin", "wrong password"), basic("nobody"), basic("gone"), "Bearer abc", "Basic !!!",
])
@pytest.mark.django_db
def test_authentication_failures_answer_401_with_the_basic_challenge(api, authorization):
    extra = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}
    response = api.get({"metric": OUTLOOK_UID, "format": "csv"}, user=None, **extra)
    assert_error(response, 401, "authentication")
    assert response["WWW-Authenticate"] == 'Basic realm="OpenDEX"'


@pytest.mark.django_db
def test_repeated_failures_are_throttled_with_429(api):
    for _ in range(10):
        assert api.get({"metric": OUTLOOK_UID}, password="wrong").status_code == 401
    response = api.get({"metric": OUTLOOK_UID})  # the right password, too late
    assert_error(response, 429, "try again later")
    assert int(response["Retry-After"]) > 0
    assert AuthenticationFailure.objects.filter(key="admin").count() == 10
    assert api.get({"metric": OUTLOOK_UID, "format": "json"}, user="viewer").status_code == 200  # others unaffected


@pytest.mark.django_db
def test_any_active_account_may_call_it(api):
    answer = api.get({"metric": OUTLOOK_UID, "format": "json"}, user="viewer")
    assert answer.status_code == 200 and answer.json()["service"]["name"] == "Outlook"


@pytest.mark.django_db
def test_trailing_slash_answers_the_same_without_redirect(api):
    plain = api.get({"metric": OUTLOOK_UID, "format": "json"})
    slash = api.get({"metric": OUTLOOK_UID, "format": "json"}, url=URL + "/")
    assert plain.status_code == slash.status_code == 200
    assert plain.json() == slash.json()
    assert_error(api.get({}, url=URL + "/"), 400, "metric")


@pytest.mark.django_db
def test_only_get_and_head(api):
    response = api.client.post(URL + "?metric=" + OUTLOOK_UID, HTTP_AUTHORIZATION=basic("admin"))
    assert_error(response, 405, "POST")
    assert response["Allow"] == "GET, HEAD"
    head = api.client.head(URL, {"metric": OUTLOOK_UID, "format": "json"}, HTTP_AUTHORIZATION=basic("admin"))
    assert head.status_code == 200 and head["Content-Type"] == "application/json"


# -- Parameters and their errors ------------------------------------------------------------------------


BAD_PARAMETERS = [
    ({}, 400, ["parameter 'metric' is required"]),
    ({"metric": ""}, 400, ["parameter 'metric' is required"]),
    ({"metric": "outlook"}, 400, ["unknown service 'outlook'"]),
    ({"metric": str(uuid.UUID(int=5))}, 400, [f"unknown service '{uuid.UUID(int=5)}'"]),
    ({"metric": OUTLOOK_UID, "scope": "week"}, 400, ["unknown scope 'week'"]),
    ({"metric": OUTLOOK_UID, "format": "xml"}, 400, ["unknown format 'xml'"]),
    ({"metric": OUTLOOK_UID, "hierarchy": "Nope"}, 400, ["unknown hierarchy 'Nope'"]),
    ({"metric": OUTLOOK_UID, "hierarchy": "geography"}, 400, ["unknown hierarchy 'geography'"]),
    ({"metric": OUTLOOK_UID, "hierarchy-level": "Planet"}, 400, ["unknown level 'Planet'", "'Geography'"]),
    ({"metric": OUTLOOK_UID, "hierarchy": "Organization", "hierarchy-level": "Country"}, 400,
     ["unknown level 'Country'", "'Organization'"]),
    ({"metric": OUTLOOK_UID, "path": "Atlantis"}, 400, ["unknown node 'Atlantis'", "'Geography'"]),
    ({"metric": OUTLOOK_UID, "path": "Europe/Atlantis"}, 400, ["unknown node 'Atlantis' under 'Europe'"]),
    ({"metric": OUTLOOK_UID, "path": "Europe/USA"}, 400, ["unknown node 'USA' under 'Europe'"]),
    ({"metric": OUTLOOK_UID, "path": "Europe", "hierarchy-level": "Country"}, 400,
     ["either 'hierarchy-level' or 'path'"]),
    ({"metric": "outlook", "path": "Europe", "hierarchy-level": "Country"}, 400,  # checked before the service
     ["either 'hierarchy-level' or 'path'"]),
    ({"metric": [OUTLOOK_UID, INTRANET_UID]}, 400, ["'metric' is given more than once"]),
    ({"metric": OUTLOOK_UID, "scope": ["hour", "day"]}, 400, ["'scope' is given more than once"]),
    ({"metric": OUTLOOK_UID, "format": ["json", "json"]}, 400, ["'format' is given more than once"]),
    ({"metric": OUTLOOK_UID, "hierarchy": "Geo\x00graphy"}, 400, ["'hierarchy' holds a NUL character"]),
    ({"metric": OUTLOOK_UID, "path": ["Europe", "\x00"]}, 400, ["'path' holds a NUL character"]),
]


@pytest.mark.django_db
def test_bad_parameters_answer_400_naming_them(api):
    for params, status, fragments in BAD_PARAMETERS:
        try:
            assert_error(api.get(params), status, *fragments)
        except AssertionError as error:
            raise AssertionError(f"{params}: {error}") from None


@pytest.mark.parametrize("output", ["table", "csv", "json"])
@pytest.mark.django_db
def test_errors_are_json_whatever_the_format(api, output):
    assert_error(api.get({"metric": "nope", "format": output}), 400, "unknown service 'nope'")
    assert_error(api.get({"metric": OUTLOOK_UID, "format": output, "path": "America"}, user="europe"), 403)


@pytest.mark.django_db
def test_a_node_outside_the_view_domain_is_403(api):
    for path in ("America", "America/USA", "America/USA/Boston"):
        assert_error(api.get({"metric": OUTLOOK_UID, "path": path}, user="europe"), 403, f"'{path}'",
                     "view domain")
    assert_error(api.get({"metric": OUTLOOK_UID, "path": "Europe/France"}, user="swiss"), 403)
    # An unknown node is a 400 even under a node the account cannot see.
    assert_error(api.get({"metric": OUTLOOK_UID, "path": "America/Atlantis"}, user="europe"), 400)


@pytest.mark.django_db
def test_defaults_hour_first_hierarchy_root_and_table(api):
    response = api.get({"metric": OUTLOOK_UID})
    assert response.status_code == 200 and response["Content-Type"] == "text/html; charset=utf-8"
    answer = api.json(metric=OUTLOOK_UID)
    assert answer["scope"] == "hour" and answer["hierarchy"] == "Geography"
    assert answer["from"] == "2030-01-01T11:00:00Z" and answer["to"] == "2030-01-01T12:00:00Z"
    assert answer["level"] == "Continent"
    assert shape(answer) == [("all", (), None), ("America", ("America",), "Continent"),
                             ("Europe", ("Europe",), "Continent")]
    # The first hierarchy by position is the default.
    Hierarchy.objects.filter(name="Organization").update(position=0)
    Hierarchy.objects.filter(name="Geography").update(position=5)
    assert api.json(metric=OUTLOOK_UID)["hierarchy"] == "Organization"


@pytest.mark.django_db
def test_values_are_trimmed_case_insensitive_where_sensible_and_empty_reads_as_absent(api):
    answer = api.json(metric=f" {OUTLOOK_UID.upper()} ", scope="DAY", format="JSON", hierarchy="", path="")
    assert answer["scope"] == "day" and answer["service"]["uid"] == OUTLOOK_UID
    assert answer["from"] == "2029-12-31T12:00:00Z" and answer["to"] == "2030-01-01T12:00:00Z"
    assert shape(answer)[0] == ("all", (), None)


@pytest.mark.django_db
def test_unknown_parameters_are_ignored(api):
    assert api.json(metric=OUTLOOK_UID, foo="bar", **{"_": "123"}) == api.json(metric=OUTLOOK_UID)


@pytest.mark.django_db
def test_time_window_drops_fractions_of_seconds(api, monkeypatch):
    from service_health import services

    monkeypatch.setattr(services, "now", lambda: NOW + timedelta(seconds=5, microseconds=600_000))
    answer = api.json(metric=OUTLOOK_UID)
    assert (answer["from"], answer["to"]) == ("2030-01-01T11:00:05Z", "2030-01-01T12:00:05Z")


# -- Aggregation rules ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_hierarchy_level_query_gives_each_node_and_an_all_per_parent(api):
    answer = api.json(metric=OUTLOOK_UID, **{"hierarchy-level": "Country"})
    assert answer["level"] == "Country"
    assert shape(answer) == [
        ("all", ("America",), "Continent"), ("USA", ("America", "USA"), "Country"),
        ("all", ("Europe",), "Continent"), ("France", ("Europe", "France"), "Country"),
        ("Switzerland", ("Europe", "Switzerland"), "Country"),
    ]
    top = api.json(metric=OUTLOOK_UID, **{"hierarchy-level": "Continent"})
    assert top["level"] == "Continent"
    assert shape(top) == [("all", (), None), ("America", ("America",), "Continent"),
                          ("Europe", ("Europe",), "Continent")]
    base = api.json(metric=OUTLOOK_UID, hierarchy="Organization", **{"hierarchy-level": "Entity"})
    assert shape(base) == [
        ("all", ("Corporate",), "Division"), ("Boston", ("Corporate", "Boston"), "Entity"),
        ("Lausanne", ("Corporate", "Lausanne"), "Entity"),
        ("all", ("Field",), "Division"), ("Austin", ("Field", "Austin"), "Entity"),
        ("Paris", ("Field", "Paris"), "Entity"), ("Zurich", ("Field", "Zurich"), "Entity"),
    ]


@pytest.mark.django_db
def test_path_query_gives_the_node_and_its_children(api):
    answer = api.json(metric=OUTLOOK_UID, path="Europe/Switzerland")
    assert answer["level"] == "Entity"
    assert shape(answer) == [("all", ("Europe", "Switzerland"), "Country"),
                             ("Lausanne", ("Europe", "Switzerland", "Lausanne"), "Entity"),
                             ("Zurich", ("Europe", "Switzerland", "Zurich"), "Entity")]
    # Repeated, one name each; leading and trailing slashes are ignored.
    assert api.json(metric=OUTLOOK_UID, path=["Europe", "Switzerland"]) == answer
    assert api.json(metric=OUTLOOK_UID, path="/Europe/Switzerland/") == answer


@pytest.mark.django_db
def test_an_entity_has_no_children(api):
    answer = api.json(metric=OUTLOOK_UID, path="Europe/Switzerland/Lausanne")
    assert answer["level"] == "Entity"
    assert shape(answer) == [("all", ("Europe", "Switzerland", "Lausanne"), "Entity")]


@pytest.mark.django_db
def test_the_root_entry_and_path_slash(api):
    answer = api.json(metric=OUTLOOK_UID, path="/")
    assert answer["nodes"][0]["name"] == "all" and answer["nodes"][0]["path"] == []
    assert answer["nodes"][0]["level"] is None
    assert answer == api.json(metric=OUTLOOK_UID)  # the admin's default path is the root


@pytest.mark.django_db
def test_the_all_entries_add_up_their_children(api):
    answer = api.json(metric=OUTLOOK_UID, scope="day", **{"hierarchy-level": "Entity"})
    groups: dict[tuple, list] = {}
    for node in answer["nodes"]:
        key = tuple(node["path"]) if node["name"] == "all" else tuple(node["path"][:-1])
        groups.setdefault(key, []).append(node["metrics"])
    for parent, (total, *children) in groups.items():
        for metric in ("number_of_devices", "number_of_devices_with_issues", "number_of_connections",
                       "number_of_failed_connections", "incoming_traffic", "outgoing_traffic"):
            assert total[metric] == sum(child[metric] for child in children), (parent, metric)
        assert total["number_of_devices"] > 0


# -- View domains and data privacy --------------------------------------------------------------------


@pytest.mark.django_db
def test_the_europe_account_sees_europe_only(api, world):
    answer = api.json(user="europe", metric=OUTLOOK_UID, scope="day")  # default path: its view-domain node
    assert answer["level"] == "Country"
    assert shape(answer) == [("all", ("Europe",), "Continent"), ("France", ("Europe", "France"), "Country"),
                             ("Switzerland", ("Europe", "Switzerland"), "Country")]
    assert answer == api.json(user="europe", metric=OUTLOOK_UID, scope="day", path="Europe")
    assert answer == api.json(metric=OUTLOOK_UID, scope="day", path="Europe")  # the same figures as the admin's
    levels = api.get({"metric": OUTLOOK_UID, "scope": "day", "format": "json", "hierarchy-level": "Continent"},
                     user="europe").json()
    assert shape(levels) == [("all", (), None), ("Europe", ("Europe",), "Continent")]
    assert levels["nodes"][0]["metrics"] == levels["nodes"][1]["metrics"]  # the root holds Europe only
    countries = api.get({"metric": OUTLOOK_UID, "format": "json", "hierarchy-level": "Country"}, user="europe")
    assert [n["path"][0] for n in countries.json()["nodes"]] == ["Europe"] * 3


@pytest.mark.django_db
def test_in_another_hierarchy_the_default_is_the_root_and_hidden_entities_are_left_out(api, world):
    answer = api.get({"metric": OUTLOOK_UID, "scope": "day", "format": "json", "hierarchy": "Organization"},
                     user="europe").json()
    assert shape(answer) == [("all", (), None), ("Corporate", ("Corporate",), "Division"),
                             ("Field", ("Field",), "Division")]
    corporate = api.get({"metric": OUTLOOK_UID, "scope": "day", "format": "json", "hierarchy": "Organization",
                         "path": "Corporate"}, user="europe").json()
    assert shape(corporate) == [("all", ("Corporate",), "Division"), ("Lausanne", ("Corporate", "Lausanne"), "Entity")]
    lausanne = world.entity_ids("Geography", "Europe", "Switzerland", "Lausanne")
    expected = oracle(world.services["Outlook"], lausanne, NOW - timedelta(days=1), NOW)
    assert corporate["nodes"][0]["metrics"] == expected == corporate["nodes"][1]["metrics"]
    # A view domain in Organization limits Geography the same way.
    geography = api.get({"metric": OUTLOOK_UID, "format": "json", "hierarchy-level": "Entity"},
                        user="corporate").json()
    assert [n["name"] for n in geography["nodes"]] == ["all", "Boston", "all", "Lausanne"]


@pytest.mark.parametrize("user", ["partial", "full"])
@pytest.mark.django_db
def test_data_privacy_leaves_the_overview_unchanged(api, user):
    """The overview holds aggregates and node names only: nothing user- or device-identifying."""
    for params in ({"metric": OUTLOOK_UID, "scope": "day"}, {"metric": INTRANET_UID, "hierarchy-level": "Entity"}):
        params = {**params, "format": "json"}
        assert api.get(params, user=user).json() == api.get(params).json()


# -- Metrics against hand-written SQL -----------------------------------------------------------------


QUERIES = [
    ("admin", "Geography", {"hierarchy-level": "Country"}),
    ("admin", "Geography", {"hierarchy-level": "Entity"}),
    ("admin", "Organization", {}),
    ("europe", "Geography", {}),
    ("europe", "Organization", {"hierarchy-level": "Entity"}),
    ("corporate", "Geography", {"path": "America/USA"}),
    ("swiss", "Organization", {"path": "Field"}),
]


@pytest.mark.parametrize("uid", [OUTLOOK_UID, INTRANET_UID])
@pytest.mark.parametrize("scope", ["hour", "day"])
@pytest.mark.django_db
def test_metrics_match_hand_written_sql(api, world, accounts, uid, scope):
    service = next(s for s in world.services.values() if str(s.uid) == uid)
    start = NOW - (timedelta(hours=1) if scope == "hour" else timedelta(days=1))
    seen_devices = 0
    for user, hierarchy, query in QUERIES:
        domain = accounts[user].profile.view_domain
        visible = set(domain.entity_ids()) if domain is not None else None
        answer = api.json(user=user, metric=uid, scope=scope, hierarchy=hierarchy, **query)
        assert len(answer["nodes"]) >= 2, answer
        assert list(answer["nodes"][0]["metrics"]) == (CONNECTION_METRICS if service.type == "connection"
                                                       else WEB_METRICS)
        for node in answer["nodes"]:
            entities = world.entity_ids(hierarchy, *node["path"])
            if visible is not None:
                entities &= visible
            expected = oracle(service, entities, start, NOW)
            assert node["metrics"] == expected, (user, hierarchy, query, node["name"], node["path"])
        seen_devices += answer["nodes"][0]["metrics"]["number_of_devices"]
    assert seen_devices > 10  # the comparisons were not all on empty nodes


@pytest.mark.django_db
def test_window_edges_start_included_end_excluded(api, world):
    hour = api.json(metric=OUTLOOK_UID, path="Europe/Switzerland/Lausanne")["nodes"][0]["metrics"]
    day = api.json(metric=OUTLOOK_UID, scope="day", path="Europe/Switzerland/Lausanne")["nodes"][0]["metrics"]
    lausanne = world.entity_ids("Geography", "Europe", "Switzerland", "Lausanne")
    assert hour == oracle(world.services["Outlook"], lausanne, NOW - timedelta(hours=1), NOW)
    assert day == oracle(world.services["Outlook"], lausanne, NOW - timedelta(days=1), NOW)
    assert hour["number_of_failed_connections"] >= 1  # the timeout exactly at NOW - 1 h


# -- Formats ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_json_shape(api):
    answer = api.json(metric=INTRANET_UID, path="Europe")
    assert list(answer) == ["service", "scope", "from", "to", "hierarchy", "level", "nodes"]
    assert answer["service"] == {"uid": INTRANET_UID, "name": "Intranet", "type": "web"}
    assert answer["level"] == "Country"
    for node in answer["nodes"]:
        assert list(node) == ["name", "path", "level", "metrics"]
        assert list(node["metrics"]) == WEB_METRICS
        assert node["metrics"]["status"] in ("green", "yellow", "red")
        ratio = node["metrics"]["http_errors_ratio"]
        assert ratio is None or 0 <= ratio <= 1
    assert [c for c, _ in metric_columns("web")] == WEB_METRICS


@pytest.mark.django_db
def test_csv_header_and_lines(api):
    params = {"metric": OUTLOOK_UID, "scope": "day", "hierarchy-level": "Country"}
    answer = api.json(**params)
    response = api.get({**params, "format": "csv"})
    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    text = response.content.decode()
    lines = text.split("\n")
    assert lines[0] == "service,hierarchy,level,path,node," + ",".join(CONNECTION_METRICS)
    assert lines[-1] == "" and len(lines) == len(answer["nodes"]) + 2
    rows = list(csv.reader(io.StringIO(text)))[1:]
    for row, node in zip(rows, answer["nodes"], strict=True):
        metrics = node["metrics"]
        assert row[:5] == ["Outlook", "Geography", node["level"], "/".join(node["path"]), node["name"]]
        assert row[5:9] == [str(metrics[m]) for m in CONNECTION_METRICS[:4]]
        ratio = metrics["failed_connections_ratio"]
        assert row[13] == ("" if ratio is None else repr(ratio).removesuffix(".0"))
    assert rows[0][3] == "America"
    root = api.get({"metric": OUTLOOK_UID, "format": "csv"}).content.decode().split("\n")[1]
    assert root.startswith("Outlook,Geography,,,all,")  # the root: no level, empty path


@pytest.mark.django_db
def test_csv_shows_absent_values_empty(api, world):
    from engine.models import Connection

    Connection.objects.all().delete()
    lines = api.get({"metric": OUTLOOK_UID, "format": "csv"}).content.decode().split("\n")
    assert lines[1] == "Outlook,Geography,,,all,0,0,0,green,0,0,0,0,,"


class TableParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows: list[list[str]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append("".join(self.cell))
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


@pytest.mark.django_db
def test_html_page_shows_the_same_table(api):
    params = {"metric": INTRANET_UID, "scope": "day", "hierarchy-level": "Entity"}
    page = api.get({**params, "format": "table"})
    assert page.status_code == 200 and page["Content-Type"] == "text/html; charset=utf-8"
    parser = TableParser()
    parser.feed(page.content.decode())
    table = list(csv.reader(io.StringIO(api.get({**params, "format": "csv"}).content.decode())))
    assert parser.rows == table
    assert b'class="status-' in page.content and b"<title>Intranet" in page.content


@pytest.mark.django_db
def test_names_are_escaped_in_every_format(api, world):
    from portal.models import HierarchyNode

    HierarchyNode.objects.filter(name="France").update(name='<b>"France", & co</b>')
    html = api.get({"metric": OUTLOOK_UID, "path": "Europe"}).content.decode()
    assert "<b>" not in html and "&lt;b&gt;&quot;France&quot;, &amp; co&lt;/b&gt;" in html
    text = api.get({"metric": OUTLOOK_UID, "path": "Europe", "format": "csv"}).content.decode()
    assert '"Europe/<b>""France"", & co</b>","<b>""France"", & co</b>"' in text
    answer = api.json(metric=OUTLOOK_UID, path=["Europe", '<b>"France", & co</b>'])
    assert answer["nodes"][0]["path"] == ["Europe", '<b>"France", & co</b>']
