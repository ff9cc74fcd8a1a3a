"""NQL benchmarks on the seeded benchmark database (``seed_demo_bench.py --keep`` fills ``opendex_bench``).

1. Parse + compile (+ SQL generation) time per query: median over many runs, target under 1 ms.

    .venv/bin/python bench/nql_bench.py [--database opendex_bench]
"""

from __future__ import annotations

import argparse
import sys

from common import compile_medians, setup_django

COMPILE_QUERIES = [
    "devices | list name, collector.uid, operating_system.platform, entity",
    "devices | where operating_system.platform == windows and hardware.memory >= 8GB | list name, hardware.memory",
    'execution.events during past 1d | where binary.name == "outlook.exe" | list start_time, device.name, duration',
    "devices | with execution.events during past 7d | where binary.name == \"chrome*\" "
    "| compute n = count(), total = duration.sum() | sort n desc | limit 10",
    "connection.events during past 7d | summarize n = count(), failed = countif(status in [rejected, timeout]) "
    "by device.operating_system.platform",
    "web.events during past 2d | summarize n = count(), slow = response_time.avg() by 1h",
    "devices | include device_performance.events during past 7d | where type == system_boot "
    "| compute boots = count(), boot_time = duration.avg() | list name, boots, boot_time",
    "binaries | where threat_level in [medium, high] | list name, version, application.name",
    "users during past 7d | where department == \"Finance\" and type == domain | list name, full_name",
    "package.installations from 21d ago to 1d ago | where type == installation "
    "| summarize n = count() by package.name | sort n desc | limit 20",
]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", default="opendex_bench")
    args = parser.parse_args(argv)
    setup_django(args.database)
    from datetime import UTC, datetime

    from engine.nql.compiler import compile_nql
    from engine.nql.parser import parse
    from engine.query import plan as p
    from engine.query.build import CompileContext
    from engine.query.catalog import CategoryCatalog
    from engine.query.sql import generate

    context = CompileContext(now=datetime.now(UTC), categories=CategoryCatalog.load(), visibility=p.Visibility())
    print("\n1. parse + compile + SQL generation (median of 300 runs)")
    compile_medians(lambda query: generate(compile_nql(query, parse(query), context).plan), COMPILE_QUERIES)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
