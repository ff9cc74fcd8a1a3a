"""``manage.py run_exporter NAME [--test] [--at ISO]`` against a real local HTTP server, and the demo
exporters (valid as seeded, disabled, so without beat entries)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest
from django.core.management import CommandError, call_command
from django_celery_beat.models import PeriodicTask

from exporters import services
from exporters.models import ConnectorCredential, Exporter, ExporterQuery, ExporterRun
from portal import demo
from tests.exporters.sink import Sink
from tests.factories import make_device

pytestmark = pytest.mark.django_db(transaction=True)


def make_exporter(sink: Sink, **fields) -> Exporter:
    credential = ConnectorCredential.objects.create(
        name="sink", base_url=sink.url + "/api", allow_plain_http=True, auth_type="basic",
        username="opendex", password="s3cret-password")
    values = dict(name="CMDB", credential=credential, resource="import", recurrence=Exporter.DAILY, batch_size=10)
    values.update(fields)
    exporter = Exporter.objects.create(**values)
    ExporterQuery.objects.create(exporter=exporter, nql="devices | list name | sort name asc", structure="array",
                                 payload='{"name": "{{device.name}}"}')
    return exporter


def manage(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("run_exporter", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_a_run_sends_everything_and_prints_its_figures():
    for number in range(25):
        make_device(number)
    with Sink() as sink:
        make_exporter(sink)
        out, err = manage("CMDB", "--at", "2026-03-04T05:00:00Z")
    names = [record["name"] for request in sink.requests for record in request.json()]
    assert names == [f"DEV-{number:05d}" for number in range(25)]
    assert [request.path for request in sink.requests] == ["/api/import"] * 3
    assert out.startswith("success: 25 records in 3 requests")
    assert "2026-03-03 00:00 to 2026-03-04 00:00 UTC" in out
    assert "25 records sent in 3 requests" in err  # progress, as it goes
    run = ExporterRun.objects.get()
    assert (run.trigger, run.status, run.records_sent, run.batches_sent) == ("manual", "success", 25, 3)
    assert "s3cret-password" not in out + err


def test_test_load_sends_at_most_20_records_and_prints_the_answer():
    for number in range(25):
        make_device(number)
    with Sink() as sink:
        sink.default.body = b'{"imported": 20}'
        make_exporter(sink)
        out, _ = manage("CMDB", "--test")
    assert sum(len(request.json()) for request in sink.requests) == 20
    assert out.splitlines()[0] == 'query 1: 20 records sent, HTTP 200, answer: {"imported": 20}'
    assert ExporterRun.objects.get().trigger == "test"


def test_a_failed_run_exits_non_zero_with_the_destination_answer():
    make_device(1)
    with Sink() as sink:
        sink.default.status, sink.default.body = 400, b'{"error": "unknown table u_devices"}'
        make_exporter(sink)
        with pytest.raises(CommandError, match="HTTP 400") as caught:
            manage("CMDB")
    assert "unknown table u_devices" in str(caught.value)
    assert len(sink.requests) == 1  # a 400 is not retried


def test_unknown_exporter_invalid_exporter_and_bad_time_are_refused():
    with pytest.raises(CommandError, match="No exporter is named 'nope'"):
        manage("nope")
    with Sink() as sink:
        exporter = make_exporter(sink)
        with pytest.raises(CommandError, match="--at takes an ISO 8601 time"):
            manage("CMDB", "--at", "yesterday")
        ExporterQuery.objects.filter(exporter=exporter).update(nql="devices | list nam")
        with pytest.raises(CommandError, match=r"queries\[0\]\.nql"):
            manage("CMDB")
    assert not sink.requests


def test_demo_exporters_are_valid_disabled_and_unscheduled():
    from django.db import transaction

    ctx = demo.DemoContext(seed=3, devices=10, days=1, end=datetime(2024, 5, 15, 12, tzinfo=UTC), password="pw-42-pw")
    with transaction.atomic():
        demo.run(ctx)
    exporters = list(Exporter.objects.all())
    assert len(exporters) == 2 and not any(exporter.enabled for exporter in exporters)
    for exporter in exporters:
        assert services.validation_errors(exporter, services.saved_queries(exporter)) == {}
        json.loads(exporter.queries.get().payload)
    assert not PeriodicTask.objects.filter(name__startswith="exporter ").exists()
