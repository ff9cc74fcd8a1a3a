"""Rendering speed of the Web API V2 result formats (engine/query/render.py), no database.

Renders N rows (default 1,000,000) of five typical device columns (name, last_seen, last boot
duration, total RAM, last IP address) into a null sink and prints rows/s per format.

    .venv/bin/python bench/render_bench.py [--rows N] [--formats csv,json] [--hr]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from itertools import cycle, islice
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.query.render import FORMATS, ResultColumn, render
from engine.schema.types import FieldType

COLUMNS = [
    ResultColumn("name", FieldType.STRING),
    ResultColumn("last_seen", FieldType.DATETIME),
    ResultColumn("last_boot_duration", FieldType.DURATION),
    ResultColumn("total_ram", FieldType.BYTES),
    ResultColumn("last_ip_address", FieldType.IP),
]


def sample_rows(count: int = 10_000) -> list[tuple]:
    """A pool of distinct rows as psycopg returns them (the benchmark cycles through it)."""
    rng = random.Random(42)
    now = datetime(2024, 6, 1, tzinfo=UTC)
    rows = []
    for index in range(count):
        rows.append((
            f"DESKTOP-{index:06d}",
            now - timedelta(seconds=rng.randrange(90 * 86400), microseconds=rng.randrange(10**6)),
            rng.randrange(5_000, 300_000),
            rng.choice((8, 16, 32, 64)) * 1024**3,
            IPv4Address(rng.randrange(0x0A000000, 0x0AFFFFFF)),
        ) if index % 50 else (f"LAPTOP-{index:06d}", None, None, None, None))
    return rows


def run(fmt: str, rows: int, hr: bool, pool: list[tuple]) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, bytes) of rendering ``rows`` rows into a null sink."""
    started, cpu_started = time.perf_counter(), time.process_time()
    size = 0
    for chunk in render(fmt, COLUMNS, islice(cycle(pool), rows), hr=hr):
        size += len(chunk)
    return time.perf_counter() - started, time.process_time() - cpu_started, size


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--formats", default="csv,json", help=f"comma-separated, among {', '.join(FORMATS)}")
    parser.add_argument("--hr", action="store_true", help="human-readable units (not for JSON)")
    args = parser.parse_args(argv)
    pool = sample_rows()
    for fmt in args.formats.split(","):
        seconds, cpu, size = run(fmt, args.rows, args.hr, pool)
        print(
            f"{fmt:5}{' hr' if args.hr and fmt != 'json' else '   '} {args.rows:>10,} rows in {seconds:6.2f} s:"
            f" {args.rows / seconds:>10,.0f} rows/s, {size / seconds / 1e6:6.1f} MB/s ({size / 1e6:.1f} MB;"
            f" CPU {cpu:.2f} s = {args.rows / cpu:,.0f} rows/s)",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
