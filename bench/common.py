"""Shared by the benchmarks: Django on the benchmark database, timing helpers."""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup_django(database: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django
    from django.conf import settings as django_settings

    from portal.database import database_url

    if "DATABASE_URL" not in os.environ:
        # Read the project's server settings first, then point Django at the benchmark database.
        django.setup()
        server = dict(django_settings.DATABASES["default"], NAME=database)
        os.environ["DATABASE_URL"] = database_url(server)
        os.execv(sys.executable, [sys.executable, *sys.argv])
    os.environ["ALLOWED_HOSTS"] = "testserver,localhost"
    django.setup()


def median_ms(function, runs: int) -> float:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def compile_medians(compile_one, queries: list[str], runs: int = 300) -> None:
    """Prints the median time of ``compile_one(query)`` for each query and over all of them."""
    medians = []
    for query in queries:
        median = median_ms(lambda query=query: compile_one(query), runs)
        medians.append(median)
        print(f"   {median:7.3f} ms  {query[:90]}")
    print(f"   median over the queries: {statistics.median(medians):.3f} ms (target < 1 ms)")
