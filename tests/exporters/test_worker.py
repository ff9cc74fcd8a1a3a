"""A worker killed (SIGKILL) in the middle of a run: the run is found stale, marked failed and redone on
another worker, which delivers the whole window (at-least-once: nothing lost) and moves the watermark."""

import os
import signal
from datetime import UTC, datetime, timedelta

import pytest

from engine.models import Binary, Crash
from exporters import schedule, services
from exporters.models import Exporter, ExporterRun
from exporters.tasks import run_exporter_task
from tests.factories import make_device

from .sink import Answer, Sink, make_credential, make_exporter, wait_for

CRASHES = "execution.crashes during past 1h | list time, exception_code | sort time asc"
RECORD = '{"id": "{{execution.crash.exception_code}}"}'

pytestmark = pytest.mark.slow  # starts Celery worker processes


@pytest.mark.django_db(transaction=True)
def test_a_killed_workers_run_is_found_stale_and_redone_with_nothing_lost(celery_workers, monkeypatch):
    queue = celery_workers.queue

    def start_worker():
        return celery_workers.start(EXPORT_RETRY_BASE_SECONDS="0.01")

    with Sink() as sink:
        sink.default = Answer(200, delay=0.25)  # a slow destination: the run is still going when killed
        exporter = make_exporter(make_credential(sink.url), [(CRASHES, "collection", RECORD)], batch_size=2)
        # The worker runs "now": the window is the latest complete hour (and, if an hour passes during
        # the test, the next one too: the watermark makes the redo start at ours whatever the time).
        end = schedule.latest_boundary(exporter, datetime.now(UTC))
        Exporter.objects.filter(pk=exporter.pk).update(watermark=end - timedelta(hours=1))
        device = make_device(1)
        binary = Binary.objects.create(name="app.exe", executable_name="app.exe", platform="windows")
        names = [f"r{index:02d}" for index in range(24)]
        Crash.objects.bulk_create(
            Crash(device=device, binary=binary, time=end - timedelta(hours=1) + timedelta(minutes=2 * index),
                  exception_code=name) for index, name in enumerate(names))

        first = start_worker()
        run_exporter_task.apply_async(kwargs={"exporter_id": exporter.pk, "trigger": "schedule"}, queue=queue)
        dying = wait_for(lambda: ExporterRun.objects.filter(exporter=exporter, status=ExporterRun.RUNNING,
                                                            records_sent__gte=4).first(), timeout=40)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        sent_before = {record["id"] for request in sink.received() for record in request.lines()}
        assert 4 <= len(sent_before) < len(names)  # killed in the middle of the window
        assert ExporterRun.objects.get(pk=dying.pk).status == ExporterRun.RUNNING  # nobody finished it

        # The sweep (a beat task every minute) queues the redo; here on the test workers' queue.
        monkeypatch.setattr(run_exporter_task, "delay",
                            lambda **kwargs: run_exporter_task.apply_async(kwargs=kwargs, queue=queue))
        wait_for(lambda: services.sweep_stale_runs() == 1, timeout=30)  # once the dead session's lock is gone
        dying.refresh_from_db()
        assert dying.status == ExporterRun.FAILED
        assert dying.last_error == "The worker running it stopped before the end; the run was redone."

        sink.default = Answer(200)
        start_worker()
        redo = wait_for(lambda: ExporterRun.objects.filter(redo_of=dying).exclude(status=ExporterRun.RUNNING)
                        .first(), timeout=40)
        assert redo.status == ExporterRun.SUCCESS, redo.last_error
        assert (redo.trigger, redo.window_start) == ("schedule", end - timedelta(hours=1))
        delivered = [record["id"] for request in sink.received() for record in request.lines()]
        assert set(delivered) == set(names)  # every record at least once
        assert redo.records_sent >= len(names)
        assert Exporter.objects.get(pk=exporter.pk).watermark >= end
