"""``manage.py seed_demo``: deterministic demo data (platform.md, "Demo data").

The seeding itself lives in ``portal.demo`` (and the ``demo`` modules it lists in ``SEEDERS``).
"""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from tqdm import tqdm

from portal import demo


def positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(value)
    return number


positive.__name__ = "positive integer"


def parse_end(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"--end: not an ISO 8601 date and time: {value!r}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


class Command(BaseCommand):
    help = (
        "Creates the demo data: accounts, hierarchies, engines, devices and their activity. Refuses a "
        "database that holds devices or accounts unless --reset, which replaces everything in one "
        "transaction. Same options, same data."
    )

    def add_arguments(self, parser):
        parser.add_argument("--devices", type=positive, default=1000, help="number of devices (default 1000)")
        parser.add_argument("--days", type=positive, default=7, help="days of activity (default 7)")
        parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
        parser.add_argument("--password", help="password of the demo accounts and API credentials "
                                               "(default: random, printed on standard output)")
        parser.add_argument("--reset", action="store_true", help="replace the data already there")
        parser.add_argument("--end", help="end of the activity window, ISO 8601 (default: now, floored to "
                                          "the hour, UTC); activity covers the --days days before it")

    def handle(self, *args, devices: int, days: int, seed: int, password: str | None, reset: bool,
               end: str | None, **options):
        generated = not password
        ctx = demo.DemoContext(
            seed=seed, devices=devices, days=days, end=parse_end(end) if end else demo.default_end(),
            password=password or secrets.token_urlsafe(12), progress=self._progress,
        )
        started = time.perf_counter()
        with transaction.atomic():
            if not reset and not demo.database_is_empty():
                raise CommandError(
                    "The database already holds data (devices or accounts): seed_demo refuses to add to "
                    "it. Run it with --reset to replace that data with the demo data."
                )
            demo.run(ctx)
        elapsed = time.perf_counter() - started
        self._summary(ctx, elapsed, generated)
        if generated:
            self.stdout.write(ctx.password)

    def _progress(self, description: str, total: int):
        return tqdm(total=total, desc=description, unit="sessions", file=self.stderr._out, leave=False,
                    dynamic_ncols=True, disable=None)

    def _summary(self, ctx: demo.DemoContext, elapsed: float, generated: bool) -> None:
        def write(line: str) -> None:
            self.stderr.write(line, style_func=lambda text: text)

        write(f"Demo data: {ctx.devices} devices, {ctx.days} days of activity up to "
              f"{ctx.end:%Y-%m-%d %H:%M}Z, seed {ctx.seed}.")
        for table, count in ctx.counts.items():
            write(f"  {table:<32} {count:>12,}")
        rate = ctx.event_rows / elapsed if elapsed > 0 else 0.0
        write(f"{ctx.total_rows:,} rows ({ctx.event_rows:,} event rows) in {elapsed:.1f} s: "
              f"{rate:,.0f} event rows/s.")
        accounts = ", ".join(username for username, _, _ in demo.ACCOUNTS)
        client_ids = ", ".join(client_id for client_id, _, _ in demo.API_CREDENTIALS)
        secret = "password printed on standard output" if generated else "given password"
        write(f"Accounts {accounts} and API clients {client_ids} share the {secret}.")
