"""Demo seeder of services (``platform.md``, "Demo data"): ``Outlook`` and ``Intranet``, with
thresholds and activity that gives issues in some entities and not in others.

The Engine's demo activity already holds Outlook connections (outlook.exe and the macOS client to
outlook.office365.com:443, a few failing) and browser requests to intranet.example.com (a few 5xx,
now and then a slow one) everywhere. On top of that this seeder adds two incidents in the last three
hours before ``ctx.end`` (denser in the last hour), so that right after seeding the overview shows
them: Outlook connections timing out for a share of the **Paris** devices, and slow or failing
(503) Intranet requests for a share of the **Boston** devices. The thresholds scale with the fleet
so that those two entities go red while the others stay green or yellow.

Rows are derived from the seed (``ctx.rng``, ``ctx.hex``): the same options give the same rows.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.db import connection

from engine.models import Connection, WebRequest
from portal.demo import DemoContext, copy_rows

from .models import Service, ServiceDestination, ServiceDomain, ServiceExecutable, ServicePort

# TRUNCATE ... CASCADE also empties the services' consumer entities (the demo services have none).
RESET_TABLES: list[str] = [
    model._meta.db_table
    for model in (ServiceExecutable, ServiceDomain, ServicePort, ServiceDestination, Service)
]
OUTLOOK_EXECUTABLES = ("outlook.exe", "Microsoft Outlook")  # the Windows and the macOS client

INCIDENT_HOURS = 3
OUTLOOK_INCIDENT = ("Paris", 0.45)  # entity, share of its devices using Outlook that are hit
INTRANET_INCIDENT = ("Boston", 0.4)
ROWS_PER_DEVICE = 6  # incident rows per hit device, 4 of them in the last hour


def service_uid(ctx: DemoContext, name: str) -> uuid.UUID:
    return uuid.UUID(hex=ctx.hex("service", name), version=4)


def thresholds(ctx: DemoContext) -> tuple[int, int]:
    """Warning and error thresholds for the fleet's size: 2 % and 5 % of the devices (20 and 50 for the
    default 1,000 devices). Over the last hour the everyday failures stay under them; the incidents'
    entities go red. Over a day the everyday failures add up to yellow in most entities."""
    return max(2, round(ctx.devices * 0.02)), max(3, round(ctx.devices * 0.05))


def seed(ctx: DemoContext) -> None:
    warning, error = thresholds(ctx)
    outlook = Service.objects.create(
        uid=service_uid(ctx, "Outlook"), name="Outlook", type=Service.Type.CONNECTION,
        description="Microsoft Outlook mail and calendar: connections to Exchange Online.",
        warning_threshold=warning, error_threshold=error,
    )
    ServiceDestination.objects.create(service=outlook, value="outlook.office365.com")
    ServicePort.objects.create(service=outlook, port_number=443, protocol="tcp")
    for name in OUTLOOK_EXECUTABLES:
        ServiceExecutable.objects.create(service=outlook, name=name)
    intranet = Service.objects.create(
        uid=service_uid(ctx, "Intranet"), name="Intranet", type=Service.Type.WEB,
        description="The company intranet (news, HR, IT service desk).",
        warning_threshold=warning, error_threshold=error, slow_response_threshold=2000,
    )
    ServiceDomain.objects.create(service=intranet, domain="intranet.example.com")
    Service.objects.filter(pk__in=[outlook.pk, intranet.pk]).update(created=ctx.end, updated=ctx.end)
    ctx.ids["services"] = {"Outlook": outlook.pk, "Intranet": intranet.pk}
    ctx.add(Service._meta.db_table, 2)
    ctx.add(ServiceDestination._meta.db_table, 1)
    ctx.add(ServicePort._meta.db_table, 1)
    ctx.add(ServiceExecutable._meta.db_table, len(OUTLOOK_EXECUTABLES))
    ctx.add(ServiceDomain._meta.db_table, 1)
    seed_outlook_incident(ctx)
    seed_intranet_incident(ctx)


def _incident_times(ctx: DemoContext, rng) -> list:
    """``ROWS_PER_DEVICE`` start times in the last ``INCIDENT_HOURS`` hours, most in the last hour."""
    end = ctx.end
    times = []
    for index in range(ROWS_PER_DEVICE):
        hours = 1 if index < ROWS_PER_DEVICE * 2 // 3 else INCIDENT_HOURS
        seconds = 60 + int(rng.random() * (hours * 3600 - 120))
        times.append(end - timedelta(seconds=seconds))
    return sorted(times)


def _users_of(table: str, link: str, name: str, entity: str) -> list[tuple[int, int | None, int]]:
    """(device, user, binary) of the latest row of each device of ``entity`` to the destination or
    domain ``name`` (the devices that use the service), by device id."""
    target = "engine_destination" if link == "destination_id" else "engine_domain"
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT DISTINCT ON (e.device_id) e.device_id, e.user_id, e.binary_id
            FROM {table} e
            JOIN engine_device d ON d.id = e.device_id
            JOIN portal_entity en ON en.id = d.entity_id
            WHERE e.{link} IN (SELECT id FROM {target} WHERE name = %s) AND en.name = %s
            ORDER BY e.device_id, e.start_time DESC, e.id DESC
            """,
            [name, entity],
        )
        return cursor.fetchall()


def _next_id(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table}")
        return cursor.fetchone()[0]


def _incident_users(ctx: DemoContext, table: str, column: str, name: str, incident: tuple[str, float],
                    scope: str):
    """The incident's random generator and the (device, user, binary) triples it hits: a share of those
    of the entity using ``name`` (none when nobody there uses it)."""
    entity, share = incident
    users = _users_of(table, column, name, entity)
    if not users:
        return None, []
    rng = ctx.rng("service_health", scope)
    return rng, sorted(rng.sample(users, max(1, round(len(users) * share))))


def seed_outlook_incident(ctx: DemoContext) -> None:
    """Timeouts and rejected connections to outlook.office365.com:443 for a share of Paris devices."""
    table = Connection._meta.db_table
    rng, hit = _incident_users(ctx, table, "destination_id", "outlook.office365.com", OUTLOOK_INCIDENT,
                               "outlook_incident")
    if not hit:
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM engine_destination WHERE name = 'outlook.office365.com' ORDER BY id LIMIT 1")
        destination_id = cursor.fetchone()[0]
        cursor.execute("SELECT id FROM engine_port WHERE port_number = 443 AND protocol = 'tcp'")
        port_id = cursor.fetchone()[0]
    next_id = _next_id(table)
    rows = []
    for device_id, user_id, binary_id in hit:
        for start in _incident_times(ctx, rng):
            status = "timeout" if rng.random() < 0.8 else "rejected"
            end = start + timedelta(seconds=21) if status == "timeout" else start
            rows.append((next_id, device_id, user_id, binary_id, destination_id, port_id, status, start, end,
                         0, 66, None, 1))
            next_id += 1
    copy_rows(ctx, table, ("id", "device_id", "user_id", "binary_id", "destination_id", "port_id", "status",
                           "start_time", "end_time", "incoming_traffic", "outgoing_traffic",
                           "network_response_time", "number_of_connections"), rows, events=True)


def seed_intranet_incident(ctx: DemoContext) -> None:
    """Slow (3-9 s) and 503 answers from intranet.example.com for a share of Boston devices."""
    table = WebRequest._meta.db_table
    rng, hit = _incident_users(ctx, table, "domain_id", "intranet.example.com", INTRANET_INCIDENT,
                               "intranet_incident")
    if not hit:
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM engine_domain WHERE name = 'intranet.example.com'")
        domain_id = cursor.fetchone()[0]
    paths = ("/", "/news", "/hr/leave-request", "/it/servicedesk", "/search")
    next_id = _next_id(table)
    rows = []
    for device_id, user_id, binary_id in hit:
        for start in _incident_times(ctx, rng):
            failing = rng.random() < 0.35
            status = 503 if failing else 200
            response = 3000 + int(rng.random() * 6000) if not failing else 30_000
            end = start + timedelta(milliseconds=response)
            rows.append((next_id, device_id, user_id, binary_id, domain_id, rng.choice(paths), "https", status,
                         response, 600 if failing else 20_000 + int(rng.random() * 80_000),
                         700 + int(rng.random() * 2400), start, end, 1))
            next_id += 1
    copy_rows(ctx, table, ("id", "device_id", "user_id", "binary_id", "domain_id", "url_path", "protocol",
                           "http_status", "response_time", "incoming_traffic", "outgoing_traffic", "start_time",
                           "end_time", "number_of_requests"), rows, events=True)
