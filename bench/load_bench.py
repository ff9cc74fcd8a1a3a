"""HTTP load on the real web server: ``/2/query``, the NQL API and the current RA API list.

Starts gunicorn as ``manage.py runplatform`` does (gthread workers) on 127.0.0.1 and a free port,
on the benchmark database (``opendex_bench``, seeded by ``seed_demo_bench.py --keep``: 10,000
devices) or any database given with ``--database``, adds the load accounts there
(``bench/live.py``: Basic account ``load-bench``, API credential ``load-bench-client``), takes a
Bearer token from the token endpoint, then puts each endpoint under concurrent load with wrk
(Debian package; ``scripts/system-deps.sh --bench`` installs it) for a fixed time:

- ``GET /2/query`` (Basic): a typical NXQL query, 100 Windows devices, JSON;
- ``POST /api/v1/nql/execute`` (Bearer): a saved query with a parameter, 100 rows;
- ``GET /api/v1/act/remote-action`` (Bearer): the enabled remote actions.

For each: requests/s, latency p50/p99 (wrk's own histogram, corrected for coordinated omission) and
errors: connection errors, time-outs and any status other than 2xx/3xx. Zero errors expected.
Each endpoint is warmed up first (``--warmup`` seconds of the same load, not counted: each
gunicorn thread's first Basic request checks the password with Argon2, which is what the
verified-credentials cache then saves, and connections are opened), and the warm-up's own figures
are printed too.

    .venv/bin/python bench/load_bench.py [--database opendex_bench] [--duration 20] [--connections 16]
        [--threads 2] [--workers 2] [--web-threads 8]

Why wrk: a C load generator with an event loop, so the client costs little of the machine's two
cores (a Python client at these rates would measure itself); its latency histogram is precise, and
a small Lua script per endpoint sets the method, body and headers and prints the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import live  # noqa: E402

LUA = """
wrk.method = {method}
wrk.body = {body}
wrk.headers["Authorization"] = {authorization}
{content_type}
done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'RESULT {{"requests": %d, "duration_us": %d, "bytes": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, ' ..
    '"max_us": %d, "connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}}\\n',
    summary.requests, summary.duration, summary.bytes, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, errors.connect, errors.read, errors.write, errors.status, errors.timeout))
end
"""


def lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string literal is a valid Lua string literal for this text


def endpoints(token: str) -> list[tuple[str, str, str, str | None, str]]:
    """(label, method, path with query, body, Authorization)."""
    from urllib.parse import urlencode

    query = urlencode({"query": live.NXQL, "format": "json"})
    return [
        ("GET /2/query (Basic, NXQL, 100 rows JSON)", "GET", f"/2/query?{query}", None, live.basic()),
        ("POST /api/v1/nql/execute (Bearer, 100 rows)", "POST", "/api/v1/nql/execute",
         json.dumps(live.NQL_BODY), f"Bearer {token}"),
        ("GET /api/v1/act/remote-action (Bearer)", "GET", "/api/v1/act/remote-action", None, f"Bearer {token}"),
    ]


def run_wrk(url: str, method: str, body: str | None, authorization: str, *, duration: int, connections: int,
            threads: int) -> dict:
    script = LUA.format(
        method=lua_string(method), body=lua_string(body) if body is not None else "nil",
        authorization=lua_string(authorization),
        content_type='wrk.headers["Content-Type"] = "application/json"' if body is not None else "",
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        result = subprocess.run(
            ["wrk", "--threads", str(threads), "--connections", str(connections), "--duration", f"{duration}s",
             "--timeout", "10s", "--script", handle.name, url],
            capture_output=True, text=True, timeout=duration + 60,
        )
    finally:
        os.unlink(handle.name)
    line = next((line for line in result.stdout.splitlines() if line.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed: {result.stdout}\n{result.stderr}")
    return json.loads(line.removeprefix("RESULT "))


def check_once(base: str, method: str, path: str, body: str | None, authorization: str) -> tuple[int, int]:
    """One request before the load: its status and size (a wrong setup shows here, not as errors)."""
    import urllib.request

    request = urllib.request.Request(base + path, data=body.encode() if body else None, method=method,
                                     headers={"Authorization": authorization,
                                              **({"Content-Type": "application/json"} if body else {})})
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.status, len(response.read())


def server_database_url(database: str) -> str:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    from django.conf import settings

    from portal.database import database_url

    return database_url(dict(settings.DATABASES["default"], NAME=database))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", default="opendex_bench")
    parser.add_argument("--duration", type=int, default=20, help="seconds of load per endpoint")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of load before, not counted")
    parser.add_argument("--connections", type=int, default=16, help="concurrent connections")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--web-threads", type=int, default=8, help="threads per gunicorn worker")
    args = parser.parse_args(argv)

    if shutil.which("wrk") is None:
        subprocess.run(["bash", str(live.ROOT / "scripts" / "system-deps.sh"), "--bench"], check=True)
    url = os.environ.get("DATABASE_URL") or server_database_url(args.database)
    live.ensure_fixtures(url)
    port = live.free_port()
    base = f"http://{live.HOST}:{port}"
    with tempfile.TemporaryDirectory() as data_dir:
        web = live.start_web(url, port, workers=args.workers, threads=args.web_threads,
                             log_path=Path(data_dir) / "web.log", env={"OPENDEX_DATA_DIR": data_dir})
        try:
            token = live.token(base)
            print(f"gunicorn {args.workers} workers x {args.web_threads} threads on {base}, database "
                  f"{args.database}; wrk {args.threads} threads, {args.connections} connections, "
                  f"{args.duration} s per endpoint")
            print(f"{'endpoint':<46} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} "
                  f"{'errors':>7}")
            failed = False
            for label, method, path, body, authorization in endpoints(token):
                status, size = check_once(base, method, path, body, authorization)
                if status != 200:
                    raise RuntimeError(f"{label}: status {status} before the load")
                for phase, seconds in (("warm-up", args.warmup), ("load", args.duration)):
                    if seconds <= 0:
                        continue
                    figures = run_wrk(base + path, method, body, authorization, duration=seconds,
                                      connections=args.connections, threads=args.threads)
                    errors = sum(figures[key] for key in ("connect", "read", "write", "status", "timeout"))
                    failed |= errors > 0
                    rate = figures["requests"] / (figures["duration_us"] / 1e6)
                    shown = label if phase == "load" else f"  (warm-up, {seconds} s)"
                    print(f"{shown:<46} {figures['requests']:>9,} {rate:>8,.0f} {figures['p50_us'] / 1000:>8.1f} "
                          f"{figures['p90_us'] / 1000:>8.1f} {figures['p99_us'] / 1000:>8.1f} {errors:>7}"
                          + (f"  ({ {k: figures[k] for k in ('connect', 'read', 'write', 'status', 'timeout')} })"
                             if errors else "") + (f"  [{size:,} bytes each]" if phase == "load" else ""),
                          flush=True)
        finally:
            live.stop(web)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
