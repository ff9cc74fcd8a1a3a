"""Benchmark of ``manage.py seed_demo``: event rows per second, against a bare COPY as upper bound.

Runs ``seed_demo --reset --devices N --days D --seed 1`` in a database of its own (``opendex_bench``
on the project's server, created if missing and migrated), so the development data is untouched.
Then writes the same number of execution rows with a bare psycopg ``COPY`` of pre-built rows into
an empty table without indexes (the upper bound: no generation, no index, no other table), once as
text lines and once in binary COPY format (which the seeder uses), and prints the rates and the
seeder's ratio to each.

    .venv/bin/python bench/seed_demo_bench.py [--devices 10000] [--days 7] [--database opendex_bench] [--keep]
"""

from __future__ import annotations

import argparse
import os
import re
import struct
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
EVENT_TABLES = ("engine_execution", "engine_crash", "engine_connection", "engine_webrequest", "engine_event",
                "engine_installation")
SUMMARY = re.compile(r"\(([\d,]+) event rows\) in ([\d.]+) s")


def server_settings() -> dict:
    """The connection settings of the project's database (starting the private cluster if needed)."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    from django.conf import settings

    return dict(settings.DATABASES["default"])


def connect(db: dict, name: str, **kwargs):
    import psycopg

    params = {"dbname": name, "user": db.get("USER") or None, "password": db.get("PASSWORD") or None,
              "host": db.get("HOST") or None, "port": db.get("PORT") or None}
    params.update({k: v for k, v in (db.get("OPTIONS") or {}).items() if k in ("host", "port", "sslmode")})
    return psycopg.connect(**{k: v for k, v in params.items() if v is not None}, **kwargs)


def database_url(db: dict, name: str) -> str:
    user = quote(db.get("USER") or "", safe="")
    if db.get("PASSWORD"):
        user += ":" + quote(db["PASSWORD"], safe="")
    options = db.get("OPTIONS") or {}
    host = str(db.get("HOST") or options.get("host") or "")
    port = str(db.get("PORT") or options.get("port") or "")
    if host.startswith("/"):
        # A Unix socket directory travels as a query parameter (dj-database-url reads host and port).
        query = f"?host={quote(host, safe='/')}" + (f"&port={port}" if port else "")
        return f"postgresql://{user}@/{quote(name, safe='')}{query}"
    netloc = host + (f":{port}" if port else "")
    return f"postgresql://{user}@{netloc}/{quote(name, safe='')}"


def ensure_database(db: dict, name: str) -> None:
    with connect(db, db["NAME"], autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def run_manage(url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": url}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, text=True,
                          capture_output=True, check=False)


def baseline_rows(binary: bool) -> list:
    """10,000 pre-built execution rows (text lines or binary COPY rows) in the seeder's column order."""
    rows = []
    pack = struct.Struct("!hiqiqiqi").pack
    tail = struct.Struct("!iqiqiqiqiqiqii").pack
    path = "C:\\Program Files\\Microsoft Office\\root\\Office16\\outlook.exe"
    base_us = (1714521600 - 946684800) * 1_000_000  # 2024-05-01 in microseconds since 2000-01-01
    for i in range(10_000):
        start = 86400 * (i % 7) + 3600 * (8 + i % 10) + 61 * (i % 59)
        end = start + 600 + i % 3000
        device, user, binary_id = 1 + i % 997, 5 + i % 1201, 1 + i % 53
        duration, cpu, memory = 1000 + i * 37, 20 + i % 900, 50_000_000 + i * 1031
        if binary:
            data = path.encode()
            rows.append(pack(11, 8, device, 8, user, 8, binary_id, len(data)) + data
                        + tail(8, i + 1, 8, base_us + start * 1_000_000, 8, base_us + end * 1_000_000,
                               8, duration, 8, cpu, 8, memory, 4, 0))
        else:
            start_text = time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime(1714521600 + start))
            end_text = time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime(1714521600 + end))
            rows.append(f"{device}\t{user}\t{binary_id}\t{path.replace(chr(92), chr(92) * 2)}\t{i + 1}\t"
                        f"{start_text}\t{end_text}\t{duration}\t{cpu}\t{memory}\t0\n")
    return rows


def baseline(db: dict, name: str, rows: int, *, binary: bool) -> float:
    """Seconds a bare COPY of ``rows`` pre-built execution rows takes (fresh table, no index)."""
    block = baseline_rows(binary)
    per_chunk = 600
    chunks = [(b"" if binary else "").join(block[i:i + per_chunk]) for i in range(0, len(block), per_chunk)]
    columns = ("device_id, user_id, binary_id, binary_path, id, start_time, end_time, duration, cpu_time, memory, "
               "number_of_crashes")
    options = "FORMAT binary, FREEZE" if binary else "FREEZE"
    with connect(db, name) as conn:
        cursor = conn.cursor()
        cursor.execute("DROP TABLE IF EXISTS bench_copy_baseline")
        cursor.execute("CREATE TABLE bench_copy_baseline (LIKE engine_execution INCLUDING DEFAULTS)")
        started = time.perf_counter()
        with cursor.copy(f"COPY bench_copy_baseline ({columns}) FROM STDIN WITH ({options})") as copy:
            if binary:
                copy.write(b"PGCOPY\n\xff\r\n\x00" + bytes(8))
            written = 0
            while written < rows:
                if rows - written >= len(block):
                    for chunk in chunks:
                        copy.write(chunk)
                    written += len(block)
                else:
                    copy.write((b"" if binary else "").join(block[: rows - written]))
                    written = rows
            if binary:
                copy.write(b"\xff\xff")
        conn.commit()
        elapsed = time.perf_counter() - started
        cursor.execute("DROP TABLE bench_copy_baseline")
        conn.commit()
    return elapsed


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database", default="opendex_bench")
    parser.add_argument("--no-baseline", action="store_true", help="skip the bare COPY baselines")
    parser.add_argument("--keep", action="store_true",
                        help="keep the benchmark database (it is dropped at the end otherwise: gigabytes)")
    args = parser.parse_args(argv)

    db = server_settings()
    ensure_database(db, args.database)
    url = database_url(db, args.database)
    migrated = run_manage(url, "migrate", "--verbosity", "0")
    if migrated.returncode:
        sys.stderr.write(migrated.stdout + migrated.stderr)
        return migrated.returncode

    print(f"seed_demo --reset --devices {args.devices} --days {args.days} --seed {args.seed} "
          f"(database {args.database})", flush=True)
    started = time.perf_counter()
    seeded = run_manage(url, "seed_demo", "--reset", "--devices", str(args.devices), "--days", str(args.days),
                        "--seed", str(args.seed), "--password", "bench-password")
    wall = time.perf_counter() - started
    if seeded.returncode:
        sys.stderr.write(seeded.stdout + seeded.stderr)
        return seeded.returncode
    sys.stdout.write("".join(f"  {line}\n" for line in seeded.stderr.splitlines() if line.startswith("  ")))
    with connect(db, args.database) as conn:
        rows = sum(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in EVENT_TABLES)
    found = SUMMARY.search(seeded.stderr)
    seconds = float(found.group(2)) if found else wall
    rate = rows / seconds
    print(f"event rows:        {rows:,}")
    print(f"seconds:           {seconds:.1f} (seeding transaction; {wall:.1f} s with process start)")
    print(f"rows/s:            {rate:,.0f}")
    try:
        report_baselines(db, args, rows, rate)
    finally:
        if not args.keep:
            with connect(db, db["NAME"], autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{args.database}"')
    return 0


def report_baselines(db: dict, args: argparse.Namespace, rows: int, rate: float) -> None:
    if not args.no_baseline:
        for label, binary in (("text", False), ("binary", True)):
            bare = baseline(db, args.database, rows, binary=binary)
            bare_rate = rows / bare
            print(f"bare {label} COPY:{' ' * (7 - len(label))}{bare:.1f} s for as many execution rows: "
                  f"{bare_rate:,.0f} rows/s, ratio {rate / bare_rate:.2f}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
