"""``manage.py run_exporter NAME [--test] [--at ISO]``: runs an exporter now, in this process.

Without ``--test`` it is a manual run (every pending window from the watermark, or the latest window
again when none is pending), with the records sent shown as they go and the run's figures at the
end. ``--test`` is the *Test load up to 20 records*: at most 20 records per query, one line per query
with the destination's status and the start of its answer. ``--at`` pretends the run starts at that
UTC time (windows are computed from it). The exit status is non-zero when the run fails.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError

from exporters import services
from exporters.models import Exporter, ExporterRun


def parse_moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CommandError(f"--at takes an ISO 8601 time such as 2026-01-02T01:10:00Z, not '{text}'") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class Command(BaseCommand):
    help = "Runs an exporter now (or its test load with --test) and prints the outcome."

    def add_arguments(self, parser):
        parser.add_argument("name", help="the exporter's name")
        parser.add_argument("--test", action="store_true", help="test load: at most 20 records per query")
        parser.add_argument("--at", help="run as if it were this UTC time (ISO 8601)")

    def handle(self, *args, **options):
        exporter = Exporter.objects.select_related("credential").filter(name=options["name"]).first()
        if exporter is None:
            names = ", ".join(Exporter.objects.values_list("name", flat=True)[:20]) or "none"
            raise CommandError(f"No exporter is named '{options['name']}' (exporters: {names}).")
        now = parse_moment(options["at"]) if options["at"] else datetime.now(UTC)
        queries = services.saved_queries(exporter)
        errors = services.validation_errors(exporter, queries)
        if errors:
            lines = [f"  {field}: {' '.join(messages)}" for field, messages in errors.items()]
            raise CommandError("The exporter is not valid:\n" + "\n".join(lines))
        if options["test"]:
            self.test_load(exporter, queries, now)
        else:
            self.run(exporter, now)

    def test_load(self, exporter: Exporter, queries, now: datetime) -> None:
        outcome = services.test_load(exporter, queries, now=now)
        for index, query in enumerate(outcome.queries):
            status = query.status if query.status is not None else "no answer"
            self.stdout.write(f"query {index + 1}: {query.records} records sent, HTTP {status}"
                              + (f", answer: {query.response_start[:200]}" if query.response_start else ""))
            for error in query.errors:
                self.stdout.write(f"  error: {error}")
        if outcome.run.status != ExporterRun.SUCCESS:
            raise CommandError("The test load failed.")

    def run(self, exporter: Exporter, now: datetime) -> None:
        def progress(run: ExporterRun) -> None:
            self.stderr.write(f"\r{run.records_sent:,} records sent in {run.batches_sent:,} requests", ending="")

        run = services.run_exporter(exporter.pk, ExporterRun.MANUAL, now=now, on_progress=progress)
        self.stderr.write("")
        window = (f"{run.window_start:%Y-%m-%d %H:%M} to {run.window_end:%Y-%m-%d %H:%M} UTC"
                  if run.window_start and run.window_end else "no window")
        self.stdout.write(f"{run.status}: {run.records_sent} records in {run.batches_sent} requests "
                          f"({run.bytes_sent} bytes, {run.attempts} attempts) for {window} in {run.duration_ms} ms")
        if run.status != ExporterRun.SUCCESS:
            raise CommandError(run.last_error or f"The run ended {run.status}.")
