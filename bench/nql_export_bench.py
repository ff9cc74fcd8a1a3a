"""NQL export benchmark: a 1,000,000-row export (CSV, gzip) on the benchmark database, its rows/s,
and the peak memory of the process for 100,000 and for 1,000,000 rows (flat memory: close peaks).

Runs the export's own code (``engine.exports.run_export``, the Celery task's body) in a child
process per size, so each peak is its own.

    .venv/bin/python bench/nql_export_bench.py [--database opendex_bench] [--compression GZIP]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from common import setup_django

QUERY = ("execution.events during past 7d | list start_time, duration, memory, device.name, binary.name "
         "| limit {rows}")


def export_once(rows: int, compression: str) -> None:
    """Child process: stores an export of ``rows`` rows, runs it, prints its figures."""
    import resource

    from engine import exports
    from engine.models import NqlExport, SavedQuery

    saved, _ = SavedQuery.objects.update_or_create(
        nql_id=f"#bench_export_{rows}", defaults={"name": f"Benchmark export of {rows} rows",
                                                  "text": QUERY.format(rows=rows)},
    )
    exports.enqueue_export = lambda export_id: None  # run below, in this process
    export = exports.submit_export(saved, {}, compression)
    started = time.perf_counter()
    status = exports.run_export(str(export.pk))
    elapsed = time.perf_counter() - started
    export = NqlExport.objects.get(pk=export.pk)
    size = os.path.getsize(exports.results_file(export))
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(status, export.row_count, f"{elapsed:.3f}", size, peak_kb)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", default="opendex_bench")
    parser.add_argument("--compression", default="GZIP", choices=["NONE", "GZIP", "ZSTD"])
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    setup_django(args.database)
    if args.child:
        export_once(args.child, args.compression)
        return 0
    print(f"NQL export, {args.compression}, query: {QUERY.format(rows='N')}")
    for rows in (100_000, 1_000_000):
        output = subprocess.run(
            [sys.executable, __file__, "--database", args.database, "--compression", args.compression,
             "--child", str(rows)], capture_output=True, text=True, check=True, env=os.environ,
        ).stdout.split()
        status, got, seconds = output[0], int(output[1]), float(output[2])
        size, peak_kb = int(output[3]), int(output[4])
        print(f"   {status}: {got:9,} rows in {seconds:6.2f} s = {got / seconds:9,.0f} rows/s, "
              f"file {size / 1e6:6.1f} MB, peak RSS {peak_kb / 1024:6.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
