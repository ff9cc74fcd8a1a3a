"""Fault scenarios (issue 8): PostgreSQL restarted under load; Celery workers killed mid-task.

1. **PostgreSQL restarted during load.** A throwaway cluster of its own (``bench/live.py``: never the
   shared one), migrated, with the load accounts and 200 devices; gunicorn on it as
   ``runplatform`` starts it; ``--clients`` threads call ``/2/query`` (Basic), the NQL API execute
   (Bearer) and the RA API list (Bearer) in turn, every answer recorded; after ``--before`` seconds
   the server is stopped (fast: sessions cut), kept down ``--down`` seconds and started again on the
   same socket; the load goes on ``--after`` seconds. Expected: only 200 and 503 (with
   ``Retry-After`` and the endpoint's error body), never a 500 or a cut connection; 200 again soon
   after the server is back, from the same gunicorn worker processes.
2. **Celery workers killed** (SIGKILL) during an exporter run, during a classic Act fan-out, during
   an NQL export, and with Redis as broker: the tests that do it with real workers, run here and reported
   (``tests/exporters/test_worker.py``, ``tests/portal/test_faults.py``,
   ``tests/portal/test_redis_broker.py``).

    .venv/bin/python bench/faults_bench.py [--clients 8] [--before 5] [--down 5] [--after 10] [--skip-workers]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import live  # noqa: E402

MESSAGE = "the database is unavailable; try again shortly"  # portal.dberrors.MESSAGE
SHAPES = {
    "/2/query": lambda r: b'id="error_message"' in r.content and MESSAGE.encode() in r.content,
    "nql execute": lambda r: r.json() == {"message": MESSAGE, "code": 503},
    "ra list": lambda r: r.json() == {"code": "SERVICE_UNAVAILABLE", "message": MESSAGE},
}


def client_thread(base: str, token: str, done: threading.Event, records: list, lock: threading.Lock) -> None:
    import requests

    session = requests.Session()
    account = {"Authorization": live.basic()}
    bearer = {"Authorization": f"Bearer {token}"}
    calls = [
        ("/2/query", lambda: session.get(f"{base}/2/query", params={"query": live.NXQL, "format": "json"},
                                         headers=account, timeout=30)),
        ("nql execute", lambda: session.post(f"{base}/api/v1/nql/execute", json=live.NQL_BODY, headers=bearer,
                                             timeout=30)),
        ("ra list", lambda: session.get(f"{base}/api/v1/act/remote-action", headers=bearer, timeout=30)),
    ]
    index = 0
    while not done.is_set():
        name, call = calls[index % len(calls)]
        index += 1
        started = time.monotonic()
        try:
            response = call()
            status = response.status_code
            shaped = status != 503 or (response.headers.get("Retry-After") == "5" and SHAPES[name](response))
            record = (started, time.monotonic() - started, name, status, shaped)
        except requests.RequestException as error:
            record = (started, time.monotonic() - started, name, type(error).__name__, False)
            session = requests.Session()
        with lock:
            records.append(record)


def restart_under_load(args) -> bool:
    print(f"1. PostgreSQL restarted under load: {args.clients} client threads, {args.before} s before, "
          f"down {args.down} s, {args.after} s after", flush=True)
    with live.ThrowawayCluster() as cluster, tempfile.TemporaryDirectory() as data_dir:
        started = time.monotonic()
        url = cluster.migrated_database()
        print(f"   throwaway cluster migrated and seeded in {time.monotonic() - started:.1f} s", flush=True)
        port = live.free_port()
        web = live.start_web(url, port, workers=2, threads=8, log_path=Path(data_dir) / "web.log",
                             env={"OPENDEX_DATA_DIR": data_dir})
        try:
            base = f"http://{live.HOST}:{port}"
            token = live.token(base)
            pids = live.worker_pids(web)
            records: list = []
            lock, done = threading.Lock(), threading.Event()
            threads = [threading.Thread(target=client_thread, args=(base, token, done, records, lock))
                       for _ in range(args.clients)]
            origin = time.monotonic()
            for thread in threads:
                thread.start()
            try:
                time.sleep(args.before)
                stop_at = time.monotonic()
                cluster.restart(args.down)
                up_at = time.monotonic()
                time.sleep(args.after)
            finally:
                done.set()
                for thread in threads:
                    thread.join(timeout=60)
            same_processes = live.worker_pids(web) == pids and web.poll() is None
        finally:
            live.stop(web)
        errors = [line for line in (Path(data_dir) / "web.log").read_text(errors="replace").splitlines()
                  if "ERROR" in line and "Service Unavailable" not in line]

    table = Counter((name, status) for _, _, name, status, _ in records)
    print(f"   server stopped at {stop_at - origin:.1f} s, answering again at {up_at - origin:.1f} s "
          f"(down {up_at - stop_at:.1f} s)")
    print(f"   {'endpoint':<12} {'200':>6} {'503':>6} {'other':>6}  first 503   last 503   first 200 after")
    ok = True
    for name in SHAPES:
        mine = sorted(record for record in records if record[2] == name)
        unavailable = [record for record in mine if record[3] == 503]
        other = [record for record in mine if record[3] not in (200, 503)]
        back = next((record for record in mine if record[0] > up_at and record[3] == 200), None)
        tail = [record for record in mine if record[0] > (back[0] if back else float("inf"))]
        ok &= not other and back is not None and all(record[3] == 200 for record in tail)
        ok &= all(record[4] for record in unavailable)
        print(f"   {name:<12} {table[(name, 200)]:>6} {len(unavailable):>6} {len(other):>6}  "
              + (f"{unavailable[0][0] - origin:>7.2f} s  {unavailable[-1][0] - origin:>7.2f} s  "
                 if unavailable else f"{'-':>9}  {'-':>9}  ")
              + (f"{back[0] - origin:>7.2f} s (+{back[0] - up_at:.2f} s)" if back else "never"))
        if other:
            print(f"      unexpected answers: {Counter(record[3] for record in other)}")
    shapes = all(record[4] for record in records if record[3] == 503)
    slowest = max((record[1] for record in records if record[3] == 503), default=0)
    print(f"   every 503 with Retry-After: 5 and the endpoint's error body: {shapes}; slowest 503 answered in "
          f"{slowest * 1000:.0f} ms")
    print(f"   same gunicorn worker processes throughout, no restart: {same_processes}")
    if errors:
        print(f"   errors logged by the web server ({len(errors)}), the first ones:")
        print("\n".join("      " + line[:3000] for line in errors[:3]))
    ok &= same_processes
    print(f"   outcome: {'PASS' if ok else 'FAIL'}", flush=True)
    return ok


WORKER_TESTS = [
    ("worker killed during an exporter run (SQLAlchemy broker)",
     "tests/exporters/test_worker.py::test_a_killed_workers_run_is_found_stale_and_redone_with_nothing_lost"),
    ("worker killed during a classic Act fan-out (SQLAlchemy broker)",
     "tests/portal/test_faults.py::test_a_worker_killed_during_a_classic_fan_out_loses_nothing_and_stores_once"),
    ("worker killed during an NQL export (SQLAlchemy broker)",
     "tests/portal/test_faults.py::test_a_worker_killed_during_an_nql_export_has_it_redone"),
    ("worker killed mid-task with Redis as broker (acks_late redelivery)",
     "tests/portal/test_redis_broker.py::test_a_task_of_a_killed_worker_is_redelivered_by_redis_and_done_once"),
]


def killed_workers() -> bool:
    print("2. Celery workers killed (SIGKILL) mid-task, real workers (pytest):", flush=True)
    ok = True
    env = {**os.environ, "OPENDEX_TEST_DB": os.environ.get("OPENDEX_TEST_DB", "test_opendex_faults_bench")}
    for label, test in WORKER_TESTS:
        started = time.monotonic()
        result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test],
                                cwd=live.ROOT, env=env, capture_output=True, text=True)
        passed = result.returncode == 0
        ok &= passed
        print(f"   {label}: {'PASS' if passed else 'FAIL'} ({time.monotonic() - started:.0f} s)", flush=True)
        if not passed:
            print("\n".join("      " + line for line in result.stdout.splitlines()[-30:]))
    return ok


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--before", type=float, default=5)
    parser.add_argument("--down", type=float, default=5)
    parser.add_argument("--after", type=float, default=10)
    parser.add_argument("--skip-workers", action="store_true", help="only the PostgreSQL restart")
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()  # the project's settings: where the throwaway cluster lives, the private data dir
    ok = restart_under_load(args)
    if not args.skip_workers:
        ok &= killed_workers()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
