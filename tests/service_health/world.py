"""A small world for the services tests: entities, two hierarchies, devices, services and activity with
exact timestamps around ``NOW`` (random but seeded), and the hand-written SQL the metrics are checked
against (``oracle``).

Geography (position 0): Europe (Switzerland: Lausanne, Zurich; France: Paris), America (USA: Boston,
Austin). Organization (position 1): Corporate (Lausanne, Boston), Field (Zurich, Paris, Austin). The
entity Geneva is in no hierarchy. Four devices per entity (two in Geneva).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import connection

from engine.models import Binary, Connection, Crash, Destination, Device, Domain, EndUser, Port, WebRequest
from portal.models import Entity, Hierarchy, HierarchyLevel, HierarchyNode, PlatformSettings, Profile
from service_health.models import Service, ServiceDestination, ServiceDomain, ServicePort
from tests.factories import make_engine

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
GEOGRAPHY = {"Europe": {"Switzerland": ["Lausanne", "Zurich"], "France": ["Paris"]},
             "America": {"USA": ["Boston", "Austin"]}}
ORGANIZATION = {"Corporate": ["Lausanne", "Boston"], "Field": ["Zurich", "Paris", "Austin"]}
FAILED = ("rejected", "no_host", "no_service", "timeout")
OUTLOOK_UID = "0b0e1d8c-0000-4000-8000-000000000001"
INTRANET_UID = "0b0e1d8c-0000-4000-8000-000000000002"


@dataclass
class World:
    entities: dict[str, Entity] = field(default_factory=dict)
    hierarchies: dict[str, Hierarchy] = field(default_factory=dict)
    nodes: dict[tuple[str, ...], HierarchyNode] = field(default_factory=dict)  # ("Geography", "Europe", ...)
    devices: dict[str, Device] = field(default_factory=dict)
    users: list[EndUser] = field(default_factory=list)
    binaries: dict[str, Binary] = field(default_factory=dict)
    destinations: dict[str, Destination] = field(default_factory=dict)
    ports: dict[tuple[int, str], Port] = field(default_factory=dict)
    domains: dict[str, Domain] = field(default_factory=dict)
    services: dict[str, Service] = field(default_factory=dict)

    def entity_ids(self, hierarchy: str, *path: str) -> set[int]:
        """The entities under a node (the root without ``path``) of a hierarchy of this world."""
        node: dict | list = GEOGRAPHY if hierarchy == "Geography" else ORGANIZATION
        for name in path:
            if isinstance(node, dict):
                node = node[name]
            else:
                assert name in node, name
                node = [name]
        return {self.entities[name].pk for name in _leaves(node)}


def _leaves(node: dict | list) -> list[str]:
    if isinstance(node, list):
        return list(node)
    return [leaf for child in node.values() for leaf in _leaves(child)]


def _hierarchy(world: World, name: str, levels: list[str], tree: dict, position: int) -> None:
    hierarchy = Hierarchy.objects.create(name=name, position=position)
    world.hierarchies[name] = hierarchy
    level_rows = [HierarchyLevel.objects.create(hierarchy=hierarchy, name=level, depth=depth)
                  for depth, level in enumerate(levels)]

    def add(node, parent: HierarchyNode | None, path: tuple[str, ...], depth: int) -> None:
        children = node.items() if isinstance(node, dict) else ((leaf, None) for leaf in node)
        for child_name, grandchildren in children:
            is_base = depth == len(levels) - 1
            row = HierarchyNode.objects.create(
                hierarchy=hierarchy, level=level_rows[depth], parent=parent, name=child_name,
                entity=world.entities[child_name] if is_base else None)
            world.nodes[(name, *path, child_name)] = row
            if grandchildren is not None:
                add(grandchildren, row, (*path, child_name), depth + 1)

    add(tree, None, (), 0)


def build(seed: int = 7) -> World:
    """The world with its services and about 1,500 activity rows over the 30 hours before ``NOW``."""
    rng = random.Random(seed)
    world = World()
    for name in ("Lausanne", "Zurich", "Paris", "Boston", "Austin", "Geneva"):
        world.entities[name] = Entity.objects.create(name=name)
    _hierarchy(world, "Geography", ["Continent", "Country", "Entity"], GEOGRAPHY, 0)
    _hierarchy(world, "Organization", ["Division", "Entity"], ORGANIZATION, 1)
    engine = make_engine("engine-1")
    number = 0
    for entity in world.entities.values():
        for index in range(2 if entity.name == "Geneva" else 4):
            number += 1
            name = f"{entity.name[:3].upper()}-{index}"
            world.devices[name] = Device.objects.create(
                name=name, device_uid=f"{number:032x}", collector_uid=f"00000000-0000-4000-8000-{number:012x}",
                engine=engine, entity=entity, platform="windows", device_type="laptop",
                last_logged_on_user=f"user{number}")
    world.users = [EndUser.objects.create(name=f"user{n}", user_uid=f"u-{n}") for n in range(1, 9)]
    for name in ("outlook.exe", "chrome.exe", "teams.exe"):
        world.binaries[name] = Binary.objects.create(name=name, executable_name=name, platform="windows",
                                                     version="1.0")
    for name, ip in (("outlook.office365.com", "52.97.146.162"), ("mail.example.com", "10.1.2.10"),
                     ("teams.microsoft.com", "52.113.194.132"), ("files.example.com", "10.9.0.1")):
        world.destinations[name] = Destination.objects.create(name=name, ip_address=ip)
    for port in ((443, "tcp"), (80, "tcp"), (443, "udp")):
        world.ports[port] = Port.objects.create(port_number=port[0], protocol=port[1])
    for name in ("intranet.example.com", "hr.intranet.example.com", "www.google.com"):
        world.domains[name] = Domain.objects.create(name=name)

    outlook = Service.objects.create(uid=OUTLOOK_UID, name="Outlook", type="connection", warning_threshold=2,
                                     error_threshold=4)
    ServiceDestination.objects.create(service=outlook, value="outlook.office365.com")
    ServicePort.objects.create(service=outlook, port_number=443, protocol="tcp")
    intranet = Service.objects.create(uid=INTRANET_UID, name="Intranet", type="web", warning_threshold=1,
                                      error_threshold=3, slow_response_threshold=1000)
    ServiceDomain.objects.create(service=intranet, domain="intranet.example.com")
    world.services = {"Outlook": outlook, "Intranet": intranet}

    _activity(world, rng)
    settings_row = PlatformSettings.load()
    settings_row.services_api_enabled = True
    settings_row.save()
    return world


def _activity(world: World, rng: random.Random) -> None:
    connections, requests, crashes = [], [], []
    devices = [d for d in world.devices.values()]
    destinations = list(world.destinations.values())
    ports = list(world.ports.values())
    domains = list(world.domains.values())
    outlook, chrome, teams = (world.binaries[n] for n in ("outlook.exe", "chrome.exe", "teams.exe"))
    paths = ["/", "/hr/leave", "/hr", "/news", "/leave/2030", "/search"]
    for device in devices:
        user = rng.choice(world.users)
        for _ in range(rng.randint(15, 40)):
            start = NOW - timedelta(seconds=rng.randint(1, 30 * 3600))
            status = rng.choice(FAILED) if rng.random() < 0.08 else rng.choice(("established", "closed"))
            connections.append(Connection(
                device=device, user=user if rng.random() < 0.9 else None,
                binary=outlook if rng.random() < 0.7 else rng.choice((chrome, teams)),
                destination=destinations[0] if rng.random() < 0.6 else rng.choice(destinations),
                port=ports[0] if rng.random() < 0.8 else rng.choice(ports),
                status=status, start_time=start, end_time=start + timedelta(seconds=5),
                incoming_traffic=rng.randint(0, 50_000), outgoing_traffic=rng.randint(0, 9_000),
                network_response_time=None if status in FAILED else rng.randint(1, 300),
            ))
        for _ in range(rng.randint(10, 30)):
            start = NOW - timedelta(seconds=rng.randint(1, 30 * 3600))
            status = rng.choice((200, 200, 200, 200, 304, 302, 404, 403, 500, 503))
            requests.append(WebRequest(
                device=device, user=user, binary=chrome if rng.random() < 0.8 else teams,
                domain=domains[0] if rng.random() < 0.6 else rng.choice(domains), url_path=rng.choice(paths),
                protocol="https", http_status=status, response_time=rng.choice((20, 80, 150, 400, 999, 1000, 1001,
                                                                                 2500)),
                start_time=start, end_time=start + timedelta(seconds=1),
                incoming_traffic=rng.randint(0, 90_000), outgoing_traffic=rng.randint(0, 3_000),
            ))
        for _ in range(rng.randint(0, 2)):
            crashes.append(Crash(device=device, user=user, binary=rng.choice((outlook, chrome, teams)),
                                 time=NOW - timedelta(seconds=rng.randint(1, 30 * 3600))))
    # Window edges: at the start of the hour and of the day (in), at NOW and just before the day (out).
    edge_device = world.devices["LAU-0"]
    for start in (NOW - timedelta(hours=1), NOW, NOW - timedelta(days=1), NOW - timedelta(days=1, seconds=1)):
        connections.append(Connection(
            device=edge_device, user=world.users[0], binary=outlook, destination=destinations[0], port=ports[0],
            status="timeout", start_time=start, end_time=start, incoming_traffic=0, outgoing_traffic=1,
        ))
        requests.append(WebRequest(
            device=edge_device, user=world.users[0], binary=chrome, domain=domains[0], url_path="/", protocol="https",
            http_status=503, response_time=5, start_time=start, end_time=start, incoming_traffic=1, outgoing_traffic=1,
        ))
    Connection.objects.bulk_create(connections)
    WebRequest.objects.bulk_create(requests)
    Crash.objects.bulk_create(crashes)


# -- The hand-written SQL the metrics are checked against -------------------------------------------

CONNECTION_ORACLE = """
WITH ev AS (
    SELECT c.device_id, c.user_id, c.binary_id, c.status, c.incoming_traffic, c.outgoing_traffic,
           c.network_response_time
    FROM engine_connection c
    JOIN engine_device d ON d.id = c.device_id
    JOIN engine_destination ds ON ds.id = c.destination_id
    JOIN engine_port p ON p.id = c.port_id
    WHERE ds.name = 'outlook.office365.com' AND p.port_number = 443 AND p.protocol = 'tcp'
      AND c.start_time >= %(start)s AND c.start_time < %(end)s AND d.entity_id = ANY(%(entities)s)
),
crashed AS (
    SELECT DISTINCT cr.device_id FROM engine_crash cr
    WHERE cr.time >= %(start)s AND cr.time < %(end)s
      AND EXISTS (SELECT 1 FROM ev WHERE ev.device_id = cr.device_id AND ev.binary_id = cr.binary_id)
)
SELECT count(DISTINCT device_id), count(DISTINCT user_id),
       count(DISTINCT device_id) FILTER (WHERE status IN ('rejected', 'no_host', 'no_service', 'timeout')
                                         OR device_id IN (SELECT device_id FROM crashed)),
       COALESCE(sum(incoming_traffic), 0), COALESCE(sum(outgoing_traffic), 0),
       count(*), count(*) FILTER (WHERE status IN ('rejected', 'no_host', 'no_service', 'timeout')),
       round(avg(network_response_time))
FROM ev
"""

WEB_ORACLE = """
WITH ev AS (
    SELECT w.device_id, w.user_id, w.binary_id, w.http_status, w.response_time, w.incoming_traffic,
           w.outgoing_traffic
    FROM engine_webrequest w
    JOIN engine_device d ON d.id = w.device_id
    JOIN engine_domain dm ON dm.id = w.domain_id
    WHERE dm.name = 'intranet.example.com'
      AND w.start_time >= %(start)s AND w.start_time < %(end)s AND d.entity_id = ANY(%(entities)s)
),
crashed AS (
    SELECT DISTINCT cr.device_id FROM engine_crash cr
    WHERE cr.time >= %(start)s AND cr.time < %(end)s
      AND EXISTS (SELECT 1 FROM ev WHERE ev.device_id = cr.device_id AND ev.binary_id = cr.binary_id)
)
SELECT count(DISTINCT device_id), count(DISTINCT user_id),
       count(DISTINCT device_id) FILTER (WHERE http_status BETWEEN 500 AND 599 OR response_time > 1000
                                         OR device_id IN (SELECT device_id FROM crashed)),
       COALESCE(sum(incoming_traffic), 0), COALESCE(sum(outgoing_traffic), 0),
       count(*), count(*) FILTER (WHERE http_status BETWEEN 400 AND 599),
       count(*) FILTER (WHERE http_status BETWEEN 500 AND 599),
       round(avg(response_time))
FROM ev
"""


def oracle(service: Service, entities: set[int], start: datetime, end: datetime) -> dict:
    """The metrics of ``service`` (the world's Outlook or Intranet) over the devices of ``entities``."""
    sql = CONNECTION_ORACLE if service.type == "connection" else WEB_ORACLE
    with connection.cursor() as cursor:
        cursor.execute(sql, {"start": start, "end": end, "entities": sorted(entities)})
        row = cursor.fetchone()
    devices, users, issues, incoming, outgoing, events, errors, *rest = row
    metrics = {"number_of_devices": devices, "number_of_users": users, "number_of_devices_with_issues": issues,
               "status": service.status_for(issues), "incoming_traffic": int(incoming),
               "outgoing_traffic": int(outgoing)}
    ratio = errors / events if events else None
    if service.type == "connection":
        (average,) = rest
        metrics.update(number_of_connections=events, number_of_failed_connections=errors,
                       failed_connections_ratio=ratio,
                       average_network_response_time=None if average is None else int(average))
    else:
        server_errors, average = rest
        metrics.update(number_of_web_requests=events, number_of_http_errors=errors,
                       number_of_http_server_errors=server_errors, http_errors_ratio=ratio,
                       average_response_time=None if average is None else int(average))
    return metrics


def make_profile_account(username: str, *, view_domain: HierarchyNode | None = None, data_privacy: str = "none",
                         is_active: bool = True, **rights):
    from portal.models import Account

    profile = Profile.objects.create(name=f"profile of {username}", view_domain=view_domain,
                                     data_privacy=data_privacy, **rights)
    account = Account(username=username, profile=profile, is_active=is_active)
    account.set_password(PASSWORD)
    account.save()
    return account
