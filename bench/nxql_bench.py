"""NXQL benchmarks on the seeded benchmark database (``seed_demo_bench.py`` fills ``opendex_bench``).

1. Parse + compile (+ SQL generation) time per query: median over many runs, target under 1 ms.
2. End-to-end ``/2/query`` (Django's full request path in process: Basic auth, compile, server-side
   cursor, CSV rendering) for five typical queries, against the same hand-written SQL run through
   psycopg (execute + fetch every row): median of several runs each and their ratio, target 1.3x.
3. A 1,000,000-row CSV answer streamed from ``/2/query``: rows/s, and peak memory of the process
   measured for 100,000 and for 1,000,000 rows (flat memory: the two peaks are close).

    .venv/bin/python bench/nxql_bench.py [--database opendex_bench] [--runs 5]
"""

from __future__ import annotations

import argparse
import base64
import os
import subprocess
import sys
import time

from common import compile_medians, median_ms, setup_django

PASSWORD = "bench-password"  # what seed_demo_bench.py seeds the accounts with

COMPILE_QUERIES = [
    "(select (name device_uid platform) (from device))",
    '(select (name #Location) (from device (where device (eq platform (enum windows)) (eq #Criticality (enum high)))))',
    '(select (name) (from binary (with execution (where device (eq name (pattern "LAU*"))) '
    "(compute number_of_executions number_of_devices) (between now-1d now))) (order_by number_of_executions desc)"
    " (limit 10))",
    '(select ((execution (start_time duration)) (device (name)) (binary (name))) (from (execution device binary) '
    '(where binary (eq name (string "outlook.exe"))) (between midnight-1d midnight)))',
    "(select (name) (from (device package)))",
    '(select (name total_ram last_ip_address) (from device (where device (gt total_ram (bytes 8GB)) '
    '(eq last_ip_address (ip_address "10.0.0.0/8")))) (order_by total_ram desc) (limit 100))',
    "(select (name) (from device (with connection (where connection (eq status (enum timeout))) "
    "(compute number_of_failed_connections) (between now-7d now))))",
    "(select (name) (from domain (with web_request (compute number_of_http_errors average_response_time)"
    " (between now-1d now))))",
    "(select * (from user (where user (eq department (string Finance)))))",
    "(select (start_time type duration) (from event (where event (eq type (enum system_boot))) "
    "(between now-7d now)) (order_by start_time desc) (limit 50))",
]

# (name, NXQL, hand-written SQL giving the same rows)
END_TO_END = [
    (
        "devices on windows",
        "(select (name device_uid total_ram) (from device (where device (eq platform (enum windows)))))",
        "SELECT name, device_uid, total_ram FROM engine_device WHERE platform = 'windows'",
    ),
    (
        "top binaries by executions, past day",
        "(select (name) (from binary (with execution (compute number_of_executions number_of_devices) "
        "(between now-1d now))) (order_by number_of_executions desc) (limit 20))",
        "SELECT b.name, a.n, a.d FROM engine_binary b JOIN (SELECT e.binary_id, count(*) AS n, "
        "count(DISTINCT e.device_id) AS d FROM engine_execution e JOIN engine_device dv ON dv.id = e.device_id "
        "WHERE e.start_time >= now() - interval '1 day' AND e.start_time < now() "
        "AND dv.platform IN ('windows', 'mac_os') GROUP BY e.binary_id) a ON a.binary_id = b.id "
        "ORDER BY a.n DESC LIMIT 20",
    ),
    (
        "outlook executions with device, past day",
        "(select ((execution (start_time duration memory)) (device (name))) (from (execution device binary) "
        '(where binary (eq name (string "outlook.exe"))) (between now-1d now)))',
        "SELECT e.start_time, e.duration, e.memory, d.name FROM engine_execution e "
        "JOIN engine_device d ON d.id = e.device_id JOIN engine_binary b ON b.id = e.binary_id "
        "WHERE e.start_time >= now() - interval '1 day' AND e.start_time < now() "
        "AND d.platform IN ('windows', 'mac_os') AND lower(b.name) = 'outlook.exe'",
    ),
    (
        "devices with failed connections, past week",
        "(select (name) (from device (with connection (compute number_of_failed_connections) "
        "(between now-7d now))) (order_by number_of_failed_connections desc) (limit 100))",
        "SELECT d.name, c.f FROM engine_device d JOIN (SELECT device_id, count(*) FILTER (WHERE status IN "
        "('rejected', 'no_host', 'no_service', 'timeout')) AS f FROM engine_connection WHERE start_time >= "
        "now() - interval '7 days' AND start_time < now() GROUP BY device_id) c ON c.device_id = d.id "
        "WHERE d.platform IN ('windows', 'mac_os') ORDER BY c.f DESC LIMIT 100",
    ),
    (
        "boot events, past week",
        "(select ((event (start_time duration)) (device (name))) (from (event device) "
        "(where event (eq type (enum system_boot))) (between now-7d now)))",
        "SELECT e.start_time, e.duration, d.name FROM engine_event e JOIN engine_device d ON d.id = e.device_id "
        "WHERE e.start_time >= now() - interval '7 days' AND e.start_time < now() "
        "AND d.platform IN ('windows', 'mac_os') AND e.type = 'system_boot'",
    ),
]

MILLION_QUERY = "(select (start_time duration memory cpu_time) (from execution) (limit {rows}))"


def bench_compile() -> None:
    from datetime import UTC, datetime

    from engine.nxql.compiler import compile_nxql
    from engine.nxql.parser import parse
    from engine.query import plan as p
    from engine.query.build import CompileContext
    from engine.query.catalog import CategoryCatalog
    from engine.query.sql import generate

    context = CompileContext(now=datetime.now(UTC), categories=CategoryCatalog.load(),
                             visibility=p.Visibility(platforms=("windows", "mac_os")))
    print("\n1. parse + compile + SQL generation (median of 300 runs)")
    compile_medians(lambda query: generate(compile_nxql(parse(query), context)), COMPILE_QUERIES)


def bench_end_to_end(runs: int) -> None:
    from django.db import connection
    from django.test import Client

    client = Client()
    auth = "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    print(f"\n2. /2/query end to end vs hand-written SQL through psycopg (median of {runs} runs)")
    print(f"   {'query':42} {'rows':>8} {'/2/query':>10} {'SQL':>10} {'ratio':>6}")
    for name, nxql, sql in END_TO_END:
        def through_api(nxql=nxql):
            response = client.get("/2/query", {"query": nxql, "format": "csv"}, HTTP_AUTHORIZATION=auth)
            assert response.status_code == 200, response.status_code
            return b"".join(response.streaming_content)

        def through_sql(sql=sql):
            with connection.cursor() as cursor:
                cursor.execute(sql)
                return cursor.fetchall()

        body = through_api()  # warm caches and the verified-credentials cache
        rows = len(through_sql())
        api_rows = body.count(b"\n") - 1
        if api_rows != rows:  # the windows end at "now": a second apart, an edge row may differ
            print(f"   note: {name}: {api_rows} rows through the API, {rows} through SQL")
        api_ms = median_ms(through_api, runs)
        sql_ms = median_ms(through_sql, runs)
        print(f"   {name:42} {rows:8,} {api_ms:8.1f} ms {sql_ms:8.1f} ms {api_ms / sql_ms:5.2f}x")


def stream_rows(rows: int) -> None:
    """Child process: streams a CSV answer of ``rows`` rows, prints seconds, bytes and peak RSS."""
    import resource

    from django.test import Client

    client = Client()
    auth = "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    started = time.perf_counter()
    response = client.get("/2/query", {"query": MILLION_QUERY.format(rows=rows)}, HTTP_AUTHORIZATION=auth)
    size = lines = 0
    for chunk in response.streaming_content:
        size += len(chunk)
        lines += chunk.count(b"\n")
    elapsed = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"{lines - 1} {elapsed:.3f} {size} {peak_kb}")


def bench_export() -> None:
    print("\n3. CSV answer streamed from /2/query (execution rows, 4 columns)")
    for rows in (100_000, 1_000_000):
        output = subprocess.run([sys.executable, __file__, "--stream", str(rows)], capture_output=True,
                                text=True, check=True, env=os.environ).stdout.split()
        got, seconds, size, peak_kb = int(output[0]), float(output[1]), int(output[2]), int(output[3])
        print(f"   {got:9,} rows in {seconds:6.2f} s = {got / seconds:9,.0f} rows/s, {size / 1e6:6.1f} MB,"
              f" peak RSS {peak_kb / 1024:6.1f} MB")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", default="opendex_bench")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--stream", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    setup_django(args.database)
    if args.stream:
        stream_rows(args.stream)
        return 0
    from engine.models import Device

    print(f"database {args.database}: {Device.objects.count():,} devices")
    bench_compile()
    bench_end_to_end(args.runs)
    bench_export()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
