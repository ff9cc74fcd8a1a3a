"""The metric and issue rules of ``service_health.services`` on hand-made rows, the one-statement
rule, and the helpers for pages (status of every node, hourly series, devices with issues)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from engine.models import Binary, Connection, Crash, Destination, Device, Domain, EndUser, Port, WebRequest
from portal.models import Entity, Hierarchy, HierarchyLevel, HierarchyNode
from service_health import services
from service_health.models import Service, ServiceDestination, ServiceDomain, ServiceExecutable, ServicePort
from service_health.services import HierarchyView, Window
from tests.factories import make_engine
from tests.service_health.world import NOW

HOUR = Window(NOW - timedelta(hours=1), NOW)
MINUTE = timedelta(minutes=1)


@dataclass
class Tiny:
    """Hierarchy ``Sites`` with one level: entities ``A`` and ``B`` (two devices each: a1, a2, b1, b2)."""

    view: HierarchyView
    nodes: dict[str, int]
    devices: dict[str, Device]
    entities: dict[str, Entity]
    user: EndUser
    binaries: dict[str, Binary] = field(default_factory=dict)
    objects: dict[str, object] = field(default_factory=dict)

    def refresh(self, visible=None) -> HierarchyView:
        self.view = HierarchyView.load(self.view.hierarchy, visible)
        return self.view

    def connect(self, device: str, *, status="established", destination="outlook.office365.com", port=(443, "tcp"),
                binary="outlook.exe", at=NOW - 10 * MINUTE, rt=10, incoming=100, outgoing=10, user=True):
        Connection.objects.create(
            device=self.devices[device], user=self.user if user else None, binary=self.binaries[binary],
            destination=self.objects[destination], port=self.objects[port], status=status, start_time=at,
            end_time=at, incoming_traffic=incoming, outgoing_traffic=outgoing,
            network_response_time=rt if status in ("established", "closed") else None)

    def request(self, device: str, *, status=200, domain="intranet.example.com", path="/", binary="chrome.exe",
                at=NOW - 10 * MINUTE, rt=100, incoming=1000, outgoing=100):
        WebRequest.objects.create(
            device=self.devices[device], user=self.user, binary=self.binaries[binary], domain=self.objects[domain],
            url_path=path, protocol="https", http_status=status, response_time=rt, start_time=at, end_time=at,
            incoming_traffic=incoming, outgoing_traffic=outgoing)

    def crash(self, device: str, binary: str, at=NOW - 5 * MINUTE):
        Crash.objects.create(device=self.devices[device], user=self.user, binary=self.binaries[binary], time=at)


@pytest.fixture
def tiny(db) -> Tiny:
    hierarchy = Hierarchy.objects.create(name="Sites")
    level = HierarchyLevel.objects.create(hierarchy=hierarchy, name="Site", depth=0)
    entities, nodes, devices = {}, {}, {}
    engine = make_engine("engine-1")
    for number, name in enumerate(("A", "B"), start=1):
        entities[name] = Entity.objects.create(name=f"site {name}")
        nodes[name] = HierarchyNode.objects.create(hierarchy=hierarchy, level=level, name=name,
                                                   entity=entities[name]).pk
        for index in (1, 2):
            key = f"{name.lower()}{index}"
            devices[key] = Device.objects.create(
                name=key.upper(), device_uid=f"{number * 10 + index:032x}", engine=engine, entity=entities[name],
                collector_uid=f"c-{key}", platform="windows", device_type="laptop", last_logged_on_user=f"{key}-user")
    world = Tiny(HierarchyView.load(hierarchy, None), nodes, devices, entities,
                 EndUser.objects.create(name="ann", user_uid="u-ann"))
    for name in ("outlook.exe", "chrome.exe", "teams.exe"):
        world.binaries[name] = Binary.objects.create(name=name, executable_name=name, platform="windows")
    for name, ip in (("outlook.office365.com", "52.97.146.162"), ("mail.example.com", "10.1.2.10"),
                     ("smtp.example.com", "10.2.0.1"), ("example.com", "10.1.0.1")):
        world.objects[name] = Destination.objects.create(name=name, ip_address=ip)
    for port in ((443, "tcp"), (443, "udp"), (25, "tcp")):
        world.objects[port] = Port.objects.create(port_number=port[0], protocol=port[1])
    for name in ("intranet.example.com", "hr.intranet.example.com", "www.example.org"):
        world.objects[name] = Domain.objects.create(name=name)
    return world


def connection_service(name="Outlook", destinations=("outlook.office365.com",), ports=((443, "tcp"),),
                       executables=(), **fields) -> Service:
    service = Service.objects.create(name=name, type="connection", warning_threshold=1, error_threshold=2, **fields)
    for value in destinations:
        ServiceDestination.objects.create(service=service, value=value)
    for number, protocol in ports:
        ServicePort.objects.create(service=service, port_number=number, protocol=protocol)
    for executable in executables:
        ServiceExecutable.objects.create(service=service, name=executable)
    return service


def web_service(name="Intranet", domains=(("intranet.example.com", ""),), slow=1000, executables=(),
                **fields) -> Service:
    service = Service.objects.create(name=name, type="web", warning_threshold=1, error_threshold=2,
                                     slow_response_threshold=slow, **fields)
    for domain, prefix in domains:
        ServiceDomain.objects.create(service=service, domain=domain, path_prefix=prefix)
    for executable in executables:
        ServiceExecutable.objects.create(service=service, name=executable)
    return service


def root(service: Service, tiny: Tiny, window: Window = HOUR) -> dict:
    totals = services.compute_metrics(service, window, tiny.view, [None])
    return totals.get((None, 0), services.Totals()).metrics(service)


def per_site(service: Service, tiny: Tiny, window: Window = HOUR) -> dict[str, dict]:
    totals = services.compute_metrics(service, window, tiny.view, [0])
    return {name: totals.get((node, 0), services.Totals()).metrics(service) for name, node in tiny.nodes.items()}


# -- Connection services ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_each_failed_status_is_an_issue_and_the_others_are_not(tiny):
    service = connection_service()
    for device, status in (("a1", "rejected"), ("a2", "no_host"), ("b1", "no_service"), ("b2", "timeout")):
        tiny.connect(device, status=status)
    assert root(service, tiny)["number_of_devices_with_issues"] == 4
    Connection.objects.all().delete()
    for device, status in (("a1", "established"), ("b1", "closed")):
        tiny.connect(device, status=status)
    metrics = root(service, tiny)
    assert metrics["number_of_devices"] == 2 and metrics["number_of_devices_with_issues"] == 0
    assert metrics["status"] == "green"


@pytest.mark.django_db
def test_connection_metrics(tiny):
    service = connection_service()
    tiny.connect("a1", rt=10, incoming=100, outgoing=1)
    tiny.connect("a1", rt=21, incoming=200, outgoing=2, user=False)
    tiny.connect("a1", status="timeout", incoming=0, outgoing=4)
    tiny.connect("a2", rt=30, incoming=400, outgoing=8)
    tiny.connect("b1", port=(443, "udp"))  # another port: not the service
    tiny.connect("b1", destination="mail.example.com")  # another destination
    tiny.connect("b2", at=NOW - timedelta(hours=2))  # outside the hour
    assert root(service, tiny) == {
        "number_of_devices": 2, "number_of_users": 1, "number_of_devices_with_issues": 1, "status": "yellow",
        "incoming_traffic": 700, "outgoing_traffic": 15, "number_of_connections": 4,
        "number_of_failed_connections": 1, "failed_connections_ratio": 0.25,
        "average_network_response_time": 20,  # (10 + 21 + 30) / 3 = 20.33, failed ones have none
    }
    sites = per_site(service, tiny)
    assert sites["A"]["number_of_connections"] == 4 and sites["B"]["number_of_devices"] == 0
    assert sites["B"]["failed_connections_ratio"] is None and sites["B"]["average_network_response_time"] is None
    day = root(service, tiny, Window(NOW - timedelta(days=1), NOW))
    assert day["number_of_devices"] == 3


@pytest.mark.django_db
def test_average_durations_round_half_up(tiny):
    service = connection_service()
    tiny.connect("a1", rt=10)
    tiny.connect("a1", rt=11)
    assert root(service, tiny)["average_network_response_time"] == 11


@pytest.mark.django_db
def test_a_crash_of_a_binary_of_the_service_is_an_issue(tiny):
    service = connection_service()
    tiny.connect("a1")  # outlook.exe: crashes
    tiny.connect("a2")  # outlook.exe: teams.exe crashes (not a binary of its Outlook activity)
    tiny.connect("b1")  # outlook.exe: crashes, but two hours ago
    tiny.crash("a1", "outlook.exe")
    tiny.crash("a2", "teams.exe")
    tiny.crash("b1", "outlook.exe", at=NOW - timedelta(hours=2))
    tiny.crash("b2", "outlook.exe")  # no Outlook activity: not using the service
    metrics = root(service, tiny)
    assert metrics["number_of_devices"] == 3
    assert metrics["number_of_devices_with_issues"] == 1
    assert per_site(service, tiny)["A"]["number_of_devices_with_issues"] == 1


@pytest.mark.django_db
def test_executables_limit_the_activity_and_their_crashes_are_issues(tiny):
    service = connection_service(executables=("OUTLOOK.EXE",))
    tiny.connect("a1", binary="outlook.exe")
    tiny.connect("a2", binary="teams.exe", status="timeout")  # not the service
    tiny.connect("b1", binary="outlook.exe")
    tiny.connect("b1", binary="teams.exe")
    tiny.crash("b1", "outlook.exe")
    tiny.crash("a1", "teams.exe")
    metrics = root(service, tiny)
    assert metrics["number_of_devices"] == 2 and metrics["number_of_connections"] == 2
    assert metrics["number_of_devices_with_issues"] == 1  # b1, by its outlook.exe crash
    unknown = connection_service(name="Nothing", executables=("nothing.exe",))
    assert root(unknown, tiny)["number_of_devices"] == 0


@pytest.mark.django_db
def test_destinations_by_network_and_by_subdomains(tiny):
    by_network = connection_service(name="Internal", destinations=("10.1.0.0/16",))
    by_suffix = connection_service(name="Example", destinations=("*.example.com",))
    tiny.connect("a1", destination="mail.example.com")  # 10.1.2.10
    tiny.connect("a2", destination="smtp.example.com")  # 10.2.0.1
    tiny.connect("b1", destination="example.com")  # 10.1.0.1; not a subdomain of example.com
    tiny.connect("b2", destination="outlook.office365.com")
    assert root(by_network, tiny)["number_of_devices"] == 2  # a1, b1
    assert root(by_suffix, tiny)["number_of_devices"] == 2  # a1, a2
    single = connection_service(name="One address", destinations=("10.2.0.1",), ports=((443, "tcp"), (25, "tcp")))
    tiny.connect("b2", destination="smtp.example.com", port=(25, "tcp"))
    assert root(single, tiny)["number_of_connections"] == 2


@pytest.mark.django_db
def test_consumers_limit_the_devices(tiny):
    service = connection_service(all_devices=False)
    service.consumer_entities.set([tiny.entities["B"]])
    for device in tiny.devices:
        tiny.connect(device, status="timeout")
    sites = per_site(service, tiny)
    assert sites["A"]["number_of_devices"] == 0 and sites["B"]["number_of_devices"] == 2
    assert root(service, tiny)["number_of_devices_with_issues"] == 2


@pytest.mark.django_db
def test_the_view_domain_limits_the_devices(tiny):
    service = connection_service()
    for device in tiny.devices:
        tiny.connect(device)
    view = tiny.refresh(visible=frozenset({tiny.entities["A"].pk}))
    assert list(view.entities) == [tiny.nodes["A"]]  # B has no visible entity: not shown
    assert root(service, tiny)["number_of_devices"] == 2


# -- Web services -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_web_issues_are_5xx_and_slow_responses(tiny):
    service = web_service(slow=1000)
    tiny.request("a1", status=503)  # issue
    tiny.request("a2", status=404, rt=1000)  # an HTTP error, not an issue; exactly the threshold: not slow
    tiny.request("b1", status=200, rt=1001)  # slow: issue
    tiny.request("b2", status=302)
    tiny.request("b2", status=200, domain="www.example.org", rt=9000)  # another domain
    metrics = root(service, tiny)
    assert metrics == {
        "number_of_devices": 4, "number_of_users": 1, "number_of_devices_with_issues": 2, "status": "red",
        "incoming_traffic": 4000, "outgoing_traffic": 400, "number_of_web_requests": 4,
        "number_of_http_errors": 2, "number_of_http_server_errors": 1, "http_errors_ratio": 0.5,
        "average_response_time": 550,  # (100 + 1000 + 1001 + 100) / 4 = 550.25
    }


@pytest.mark.django_db
def test_web_crash_of_the_browser_used_is_an_issue(tiny):
    service = web_service()
    tiny.request("a1", binary="chrome.exe")
    tiny.crash("a1", "chrome.exe")
    tiny.request("a2", binary="chrome.exe")
    tiny.crash("a2", "outlook.exe")
    assert root(service, tiny)["number_of_devices_with_issues"] == 1


@pytest.mark.django_db
def test_domains_by_subdomain_and_path_prefix(tiny):
    hr = web_service(name="HR", domains=(("intranet.example.com", "/hr"), ("*.intranet.example.com", "/leave")))
    tiny.request("a1", path="/hr/leave")  # in: prefix /hr
    tiny.request("a1", path="/hr")  # in
    tiny.request("a2", path="/news")  # out
    tiny.request("b1", domain="hr.intranet.example.com", path="/leave/2030")  # in: subdomain and /leave
    tiny.request("b2", domain="hr.intranet.example.com", path="/hr")  # out: /hr is for the main domain only
    metrics = root(hr, tiny)
    assert metrics["number_of_web_requests"] == 3 and metrics["number_of_devices"] == 2
    # A domain listed with and without a prefix takes every path (and a request counts once).
    both = web_service(name="Both", domains=(("intranet.example.com", "/hr"), ("intranet.example.com", "")))
    assert root(both, tiny)["number_of_web_requests"] == 3


# -- One statement, pages' helpers ------------------------------------------------------------------


@pytest.mark.django_db
def test_the_metrics_take_one_statement_whatever_the_number_of_nodes(api, world):
    for query in ({"hierarchy-level": "Entity"}, {}, {"path": "Europe"}):
        with CaptureQueriesContext(connection) as captured:
            response = api.get({"metric": str(world.services["Outlook"].uid), "format": "json", **query})
        assert response.status_code == 200
        metric_statements = [q["sql"] for q in captured.captured_queries if "GROUPING SETS" in q["sql"]]
        assert len(metric_statements) == 1, query
        assert all("engine_connection" not in q["sql"] for q in captured.captured_queries
                   if "GROUPING SETS" not in q["sql"])
        assert len(captured.captured_queries) <= 14, [q["sql"][:80] for q in captured.captured_queries]


@pytest.mark.django_db
def test_node_statuses_give_every_visible_node_in_one_statement(world):
    service = world.services["Outlook"]
    view = HierarchyView.load(world.hierarchies["Geography"], None)
    window = Window(NOW - timedelta(days=1), NOW)
    with CaptureQueriesContext(connection) as captured:
        statuses = services.node_statuses(service, view, window)
    assert sum("GROUPING SETS" in q["sql"] for q in captured.captured_queries) == 1
    assert set(statuses) == {None, *view.entities} and len(statuses) == 1 + 2 + 3 + 5
    europe = world.nodes[("Geography", "Europe")].pk
    assert statuses[europe]["number_of_devices"] == sum(
        statuses[world.nodes[("Geography", "Europe", country)].pk]["number_of_devices"]
        for country in ("Switzerland", "France"))
    for node_id, metrics in statuses.items():
        assert metrics["status"] == service.status_for(metrics["number_of_devices_with_issues"]), node_id


@pytest.mark.django_db
def test_metric_series_gives_hourly_points_over_the_last_day(world):
    service = world.services["Intranet"]
    view = HierarchyView.load(world.hierarchies["Geography"], None)
    europe = world.nodes[("Geography", "Europe")].pk
    with CaptureQueriesContext(connection) as captured:
        points = services.metric_series(service, view, europe)
    assert sum("GROUPING SETS" in q["sql"] for q in captured.captured_queries) == 1
    assert [at for at, _ in points] == [NOW - timedelta(hours=24 - i) for i in range(24)]
    day = services.compute_metrics(service, Window(NOW - timedelta(days=1), NOW), view, [0], within=europe)
    assert sum(m["number_of_web_requests"] for _, m in points) == day[(europe, 0)].events
    assert sum(m["incoming_traffic"] for _, m in points) == day[(europe, 0)].incoming
    last_hour = services.compute_metrics(service, Window(NOW - timedelta(hours=1), NOW), view, [0], within=europe)
    assert points[-1][1] == last_hour.get((europe, 0), services.Totals()).metrics(service)
    root_points = services.metric_series(service, view, None)
    assert sum(m["number_of_web_requests"] for _, m in root_points) >= day[(europe, 0)].events


@pytest.mark.parametrize(("privacy", "name_shown", "user_shown"), [
    ("none", True, True), ("partial", True, False), ("full", False, False)])
@pytest.mark.django_db
def test_devices_with_issues_apply_data_privacy(tiny, privacy, name_shown, user_shown):
    service = connection_service()
    tiny.connect("a1", status="timeout")
    tiny.connect("a1", status="timeout")
    tiny.connect("a2")
    tiny.connect("b1")
    tiny.crash("b1", "outlook.exe")
    rows = services.devices_with_issues(service, tiny.view, None, HOUR, privacy)
    assert [row["device_uid"] for row in rows] == [tiny.devices["a1"].device_uid, tiny.devices["b1"].device_uid]
    first = rows[0]
    assert first["entity"] == "site A" and first["issues"] == 2 and first["errors"] == 2 and first["crashes"] == 0
    assert rows[1]["crashes"] == 1 and rows[1]["issues"] == 0
    assert (first["name"] == "A1") is name_shown and (first["name"] is None) is not name_shown
    assert (first["last_logged_on_user"] == "a1-user") is user_shown
    assert services.devices_with_issues(service, tiny.view, tiny.nodes["B"], HOUR, privacy)[0]["entity"] == "site B"


@pytest.mark.django_db
def test_entities_outside_the_hierarchy_are_not_counted(world, api):
    """Geneva's devices have activity but Geneva is in no hierarchy: the root is the sum of its nodes."""
    from engine.models import Connection as Row

    geneva = Row.objects.filter(device__entity__name="Geneva", destination__name="outlook.office365.com",
                                start_time__gte=NOW - timedelta(days=1))
    assert geneva.exists()
    answer = api.json(metric=str(world.services["Outlook"].uid), scope="day")
    total, *continents = answer["nodes"]
    assert total["metrics"]["number_of_devices"] == sum(c["metrics"]["number_of_devices"] for c in continents)
