"""Services API benchmark on the seeded benchmark database (``seed_demo_bench.py`` fills ``opendex_bench``).

``GET /api/beta/service/data/overview`` for the demo services ``Outlook`` (connection) and
``Intranet`` (web) over the 10,000 devices with ``scope=day`` on a day of activity (the last full
working day of the seeded week, midnight to midnight UTC), end to end through Django in process
(Basic authentication, parameters, hierarchy and view domain, the metrics statement, JSON
rendering): p50 and p95 of many runs, for a hierarchy-level query (``Country``: every country and
each continent's ``all``), the default path query (the root and the continents) and a path query on
a country; next to it the metrics statement alone (``compute_metrics``). Then a hand-written SQL
baseline: one plain statement computing the same country and continent figures (``GROUP BY
ROLLUP``; no view domain, consumers, crashes or users per node; through the same ``(destination_id,
start_time AT TIME ZONE 'UTC')`` index), run through psycopg.

Creates the two services in the database when they are missing (the benchmark database may have been
seeded before services existed); run ``manage.py migrate`` on it first if needed.

    .venv/bin/python -m portal.pgcluster run -- .venv/bin/python bench/services_bench.py [--runs 40]
"""

from __future__ import annotations

import argparse
import base64
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from datetime import time as dt_time

from common import setup_django

PASSWORD = "bench-password"  # what seed_demo_bench.py seeds the accounts with

# Entity -> (continent, country) of the Geography hierarchy, computed once (five rows).
GEOGRAPHY = """
    geo AS MATERIALIZED (
        SELECT n0.entity_id AS id, n2.name AS continent, n1.name AS country
        FROM portal_hierarchynode n0
        JOIN portal_hierarchynode n1 ON n1.id = n0.parent_id
        JOIN portal_hierarchynode n2 ON n2.id = n1.parent_id
        WHERE n0.entity_id IS NOT NULL AND n0.hierarchy_id = (SELECT id FROM portal_hierarchy WHERE name = 'Geography')
    )"""

BASELINE = {
    "connection": f"""
        WITH {GEOGRAPHY},
        c AS MATERIALIZED (
            SELECT device_id, user_id, status, incoming_traffic, outgoing_traffic, network_response_time
            FROM engine_connection
            WHERE destination_id = (SELECT id FROM engine_destination WHERE name = 'outlook.office365.com')
              AND (start_time AT TIME ZONE 'UTC') >= %(start_utc)s AND (start_time AT TIME ZONE 'UTC') < %(end_utc)s
              AND port_id = (SELECT id FROM engine_port WHERE port_number = 443 AND protocol = 'tcp')
        )
        SELECT geo.continent, geo.country, count(DISTINCT c.device_id), count(DISTINCT c.user_id),
               count(DISTINCT c.device_id) FILTER (WHERE c.status IN ('rejected', 'no_host', 'no_service', 'timeout')),
               count(*), count(*) FILTER (WHERE c.status IN ('rejected', 'no_host', 'no_service', 'timeout')),
               sum(c.incoming_traffic), sum(c.outgoing_traffic), round(avg(c.network_response_time))
        FROM c JOIN engine_device d ON d.id = c.device_id JOIN geo ON geo.id = d.entity_id
        GROUP BY ROLLUP (geo.continent, geo.country)
    """,
    "web": f"""
        WITH {GEOGRAPHY},
        w AS MATERIALIZED (
            SELECT device_id, user_id, http_status, response_time, incoming_traffic, outgoing_traffic
            FROM engine_webrequest
            WHERE domain_id = (SELECT id FROM engine_domain WHERE name = 'intranet.example.com')
              AND (start_time AT TIME ZONE 'UTC') >= %(start_utc)s AND (start_time AT TIME ZONE 'UTC') < %(end_utc)s
        )
        SELECT geo.continent, geo.country, count(DISTINCT w.device_id), count(DISTINCT w.user_id),
               count(DISTINCT w.device_id) FILTER (WHERE w.http_status BETWEEN 500 AND 599 OR w.response_time > 2000),
               count(*), count(*) FILTER (WHERE w.http_status BETWEEN 400 AND 599),
               count(*) FILTER (WHERE w.http_status BETWEEN 500 AND 599),
               sum(w.incoming_traffic), sum(w.outgoing_traffic), round(avg(w.response_time))
        FROM w JOIN engine_device d ON d.id = w.device_id JOIN geo ON geo.id = d.entity_id
        GROUP BY ROLLUP (geo.continent, geo.country)
    """,
}

# (label, API parameters, the grouping depths and node of the same query through compute_metrics)
QUERIES = (
    ("hierarchy-level=Country", {"hierarchy-level": "Country"}, [0, 1], None),
    ("default path (root + continents)", {}, [None, 0], None),
    ("path=Europe/Switzerland", {"path": "Europe/Switzerland"}, [1, 2], ("Europe", "Switzerland")),
)


def ensure_services() -> dict[str, str]:
    """The demo services (created as ``service_health.demo`` defines them when missing): name -> UID."""
    from service_health.models import Service, ServiceDestination, ServiceDomain, ServicePort

    outlook, created = Service.objects.get_or_create(
        name="Outlook", defaults={"type": "connection", "warning_threshold": 200, "error_threshold": 500})
    if created:
        ServiceDestination.objects.create(service=outlook, value="outlook.office365.com")
        ServicePort.objects.create(service=outlook, port_number=443, protocol="tcp")
    intranet, created = Service.objects.get_or_create(
        name="Intranet", defaults={"type": "web", "warning_threshold": 200, "error_threshold": 500,
                                   "slow_response_threshold": 2000})
    if created:
        ServiceDomain.objects.create(service=intranet, domain="intranet.example.com")
    return {"Outlook": str(outlook.uid), "Intranet": str(intranet.uid)}


def busy_day_end(model) -> datetime:
    """Midnight UTC after the last full working day (Mon-Fri) of the seeded activity."""
    last = model.objects.order_by("-start_time").values_list("start_time", flat=True).first()
    day = last.date()
    while True:
        end = datetime.combine(day, dt_time(0), UTC)
        if end <= last and (day - timedelta(days=1)).weekday() < 5:
            return end
        day -= timedelta(days=1)


def percentiles(timings: list[float]) -> tuple[float, float]:
    ordered = sorted(timings)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95


def timed(function, runs: int) -> list[float]:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", default="opendex_bench")
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args(argv)
    setup_django(args.database)

    from django.db import connection
    from django.test import Client

    from engine.models import Connection, Device
    from portal.models import Hierarchy, PlatformSettings
    from service_health import services
    from service_health.models import Service

    uids = ensure_services()
    settings_row = PlatformSettings.load()
    if not settings_row.services_api_enabled:
        settings_row.services_api_enabled = True
        settings_row.save()
    window = services.Window.ending("day", busy_day_end(Connection))
    services.now = lambda: window.end
    client = Client()
    auth = "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    print(f"database {args.database}: {Device.objects.count():,} devices; scope=day from {window.start:%Y-%m-%d %H:%M}"
          f" to {window.end:%Y-%m-%d %H:%M} UTC; {args.runs} runs each (after 3 warm-up runs)")
    print(f"   {'service':9} {'query':34} {'entries':>7} {'API p50':>10} {'API p95':>10} {'statement p50':>14}")
    worst = 0.0
    geography = Hierarchy.objects.get(name="Geography")
    for name, service_type in (("Outlook", "connection"), ("Intranet", "web")):
        service = Service.objects.get(name=name)

        def baseline(service_type=service_type):
            with connection.cursor() as cursor:
                cursor.execute(BASELINE[service_type], {"start_utc": window.start.replace(tzinfo=None),
                                                        "end_utc": window.end.replace(tzinfo=None)})
                return cursor.fetchall()

        for label, extra, depths, within in QUERIES:
            params = {"metric": uids[name], "scope": "day", "format": "json", **extra}

            def through_api(params=params):
                response = client.get("/api/beta/service/data/overview", params, HTTP_AUTHORIZATION=auth)
                assert response.status_code == 200, (response.status_code, response.content[:300])
                return response

            view = services.HierarchyView.load(geography, None)
            node = view.find(within) if within else None

            def statement(view=view, depths=depths, node=node, service=service):
                return services.compute_metrics(service, window, view, depths, within=node)

            for _ in range(3):
                answer = through_api().json()
                statement()
            p50, p95 = percentiles(timed(through_api, args.runs))
            statement50, _ = percentiles(timed(statement, args.runs))
            worst = max(worst, p95)
            print(f"   {name:9} {label:34} {len(answer['nodes']):7} {p50:7.1f} ms {p95:7.1f} ms {statement50:11.1f} ms")
        for _ in range(3):
            baseline()
        base50, base95 = percentiles(timed(baseline, args.runs))
        print(f"   {name:9} {'hand-written SQL baseline':34} {6:7} {base50:7.1f} ms {base95:7.1f} ms")
        root = answer["nodes"][0]["metrics"]
        print(f"   {'':9} (Europe/Switzerland: {root['number_of_devices']:,} devices, "
              f"{root['number_of_devices_with_issues']:,} with issues)")
    print(f"   worst p95: {worst:.1f} ms (target < 300 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
