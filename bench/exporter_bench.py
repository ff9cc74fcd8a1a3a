"""HTTP API exporter benchmark: 1,000,000 rows to a local HTTP sink with batch size 1000.

Runs the exporter's own run (``exporters.services.run_exporter``: NQL on the benchmark database,
server-side cursor, rendering into an ``array`` payload, batching, HTTP with keep-alive) in a child
process per size (100,000 and 1,000,000 rows) so that each peak RSS is its own, and prints
records/s, the RSS growth of the run, and the rate of a bare loop posting the same bytes (every body
the sink received, replayed with one ``requests`` session) — the floor set by HTTP alone.

The sink is a separate process (it must not share the exporter's GIL), on 127.0.0.1.

    .venv/bin/python bench/exporter_bench.py [--database opendex_bench] [--rows 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from common import setup_django

QUERY = ("execution.events during past 7d | list start_time, duration, memory, device.name, binary.name "
         "| limit {rows}")
PAYLOAD = {"time": "{{execution.event.start_time}}", "duration_ms": "{{execution.event.duration}}",
           "memory": "{{execution.event.memory}}",
           "device": "{{device.name}}", "binary": "{{binary.name}}", "source": "opendex {{device.name}}"}
BATCH_SIZE = 1000


# -- the sink (its own process) ---------------------------------------------------------------------


def serve_sink(port_file: str, bodies_file: str) -> None:
    """Answers every request 200 and appends its body (length-prefixed) to ``bodies_file``."""
    out = open(bodies_file, "wb")  # noqa: SIM115 - lives as long as the process

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # else the answer's body waits for the client's delayed ACK

        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            out.write(len(body).to_bytes(8, "big") + body)
            out.flush()
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    Path(port_file).write_text(str(server.server_address[1]))
    server.serve_forever()


def start_sink(workdir: Path) -> tuple[subprocess.Popen, int, Path]:
    port_file, bodies = workdir / "port", workdir / "bodies.bin"
    process = subprocess.Popen([sys.executable, __file__, "--sink", str(port_file), str(bodies)])
    for _ in range(100):
        if port_file.exists() and port_file.read_text():
            return process, int(port_file.read_text()), bodies
        time.sleep(0.05)
    process.kill()
    raise RuntimeError("the sink did not start")


def bare_loop(port: int, bodies: Path) -> tuple[int, float]:
    """Posts every recorded body again with one session: (requests, seconds)."""
    import requests

    payloads = []
    with open(bodies, "rb") as recorded:
        while header := recorded.read(8):
            payloads.append(recorded.read(int.from_bytes(header, "big")))
    session = requests.Session()
    url = f"http://127.0.0.1:{port}/bare"
    started = time.perf_counter()
    for body in payloads:
        session.post(url, data=body, headers={"Content-Type": "application/json; charset=utf-8"}).raise_for_status()
    return len(payloads), time.perf_counter() - started


# -- one run (a child process) ------------------------------------------------------------------------


def current_rss_kb() -> int:
    """The process's resident set size now (not its peak so far)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0



def run_once(rows: int, port: int) -> None:
    """Configures the benchmark exporter for ``rows`` rows, runs it, prints its figures."""
    import resource
    from datetime import timedelta

    from django.db import connection

    from exporters import schedule, services
    from exporters.models import ConnectorCredential, Exporter, ExporterQuery

    with connection.cursor() as cursor:
        cursor.execute("SELECT max(start_time) FROM engine_execution")
        newest = cursor.fetchone()[0]
    # A weekly exporter whose latest window ends just after the newest event: the whole week of data.
    end = newest.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    now = end + schedule.completeness_delay() + timedelta(minutes=1)
    credential, _ = ConnectorCredential.objects.update_or_create(name="bench sink", defaults=dict(
        base_url=f"http://127.0.0.1:{port}", allow_plain_http=True, auth_type="bearer", token="bench-token"))
    exporter, _ = Exporter.objects.update_or_create(name="bench exporter", defaults=dict(
        credential=credential, resource="/ingest", recurrence=Exporter.WEEKLY, weekday=end.weekday(),
        batch_size=BATCH_SIZE, enabled=False))
    Exporter.objects.filter(pk=exporter.pk).update(watermark=None)  # runs own it: save() never writes it
    exporter.queries.all().delete()
    ExporterQuery.objects.create(exporter=exporter, nql=QUERY.format(rows=rows), structure="array",
                                 payload=json.dumps(PAYLOAD))
    baseline_kb = current_rss_kb()
    started = time.perf_counter()
    run = services.run_exporter(exporter.pk, "manual", now=now)
    elapsed = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(run.status, run.records_sent, run.batches_sent, run.bytes_sent, f"{elapsed:.3f}", baseline_kb, peak_kb,
          json.dumps(run.last_error))


def main(argv: list[str]) -> int:
    if argv[:1] == ["--sink"]:
        serve_sink(argv[1], argv[2])
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", default="opendex_bench")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    setup_django(args.database)
    if args.child:
        run_once(args.child, args.port)
        return 0
    from django.core.management import call_command

    call_command("migrate", verbosity=0)  # the benchmark database may predate the exporter tables
    print(f"HTTP API exporter, batch size {BATCH_SIZE}, array payload of 6 properties, query: "
          f"{QUERY.format(rows='N')}")
    for rows in sorted({min(100_000, args.rows), args.rows}):
        with tempfile.TemporaryDirectory() as workdir:
            sink, port, bodies = start_sink(Path(workdir))
            try:
                output = subprocess.run(
                    [sys.executable, __file__, "--database", args.database, "--child", str(rows), "--port",
                     str(port)], capture_output=True, text=True, check=True, env=os.environ,
                ).stdout.split(maxsplit=7)
                status, records, batches, size = output[0], int(output[1]), int(output[2]), int(output[3])
                seconds, baseline_kb, peak_kb = float(output[4]), int(output[5]), int(output[6])
                if status != "success":
                    print(f"   run {status}: {json.loads(output[7])}")
                    return 1
                posted, bare_seconds = bare_loop(port, bodies)
            finally:
                sink.kill()
                sink.wait()
        rate, bare_rate = records / seconds, records / bare_seconds
        print(f"   {records:9,} records in {batches:5,} requests ({size / 1e6:6.1f} MB): {seconds:6.2f} s = "
              f"{rate:8,.0f} records/s; bare loop posting the same {posted:,} bodies: {bare_seconds:5.2f} s = "
              f"{bare_rate:9,.0f} records/s (exporter at {bare_rate / rate:4.1f}x its time); "
              f"RSS growth {(peak_kb - baseline_kb) / 1024:5.1f} MB (peak {peak_kb / 1024:5.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
