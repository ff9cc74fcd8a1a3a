"""Exporter runs against a real local HTTP sink: time windows and the watermark (a failed window is
exported by the next run, nothing lost, none skipped, records exactly in their window), catch-up,
snapshot queries, one run at a time, progress visible while running, stale runs, the test load."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, connections

from engine.models import Binary, Crash, Device
from exporters import services
from exporters.models import Exporter, ExporterQuery, ExporterRun
from exporters.services import run_exporter, sweep_stale_runs, test_load
from exporters.tasks import run_exporter_task
from tests.factories import make_device

from .sink import Answer, make_credential, make_exporter, wait_for

pytestmark = pytest.mark.django_db(transaction=True)  # runs write progress on a second connection

CRASHES = "execution.crashes during past 1h | list time, exception_code | sort time asc"
CRASH_RECORD = '{"id": "{{execution.crash.exception_code}}", "at": "{{execution.crash.time}}"}'
DEVICES = "devices | list name | sort name asc"
DEVICE_RECORD = '{"device": "{{device.name}}"}'


def at(hour: int, minute: int = 0, second: int = 0, microsecond: int = 0, day: int = 5) -> datetime:
    return datetime(2026, 1, day, hour, minute, second, microsecond, tzinfo=UTC)


def crashes(**times: datetime) -> None:
    """One crash per name (its ``exception_code``) at its time, on one device."""
    device = Device.objects.filter(name="DEV-00001").first() or make_device(1)
    binary = Binary.objects.get_or_create(name="app.exe", executable_name="app.exe", platform="windows")[0]
    Crash.objects.bulk_create(Crash(device=device, binary=binary, time=time, exception_code=name)
                              for name, time in times.items())


def ids(request) -> list[str]:
    return [record["id"] for record in request.lines()]


def watermark(exporter: Exporter) -> datetime | None:
    return Exporter.objects.get(pk=exporter.pk).watermark


BOUNDARY_CRASHES = dict(
    z9=at(23, 59, 59, day=4),                                    # before the first window
    a0=at(0), a1=at(0, 59, 59, 999_999),                         # [00:00, 01:00)
    b0=at(1), b1=at(1, 30), b2=at(1, 59, 59, 999_999),           # [01:00, 02:00)
    c0=at(2), c1=at(2, 59, 59),                                  # [02:00, 03:00)
    d0=at(3),                                                    # [03:00, 04:00): not complete at 03:10
)


def test_a_failed_window_is_exported_by_the_next_run_nothing_lost_none_skipped(sink):
    crashes(**BOUNDARY_CRASHES)
    exporter = make_exporter(make_credential(sink.url), [(CRASHES, "collection", CRASH_RECORD)])

    first = run_exporter(exporter.pk, now=at(1, 10))
    assert first.status == ExporterRun.SUCCESS
    assert (first.window_start, first.window_end) == (at(0), at(1))
    assert [ids(request) for request in sink.requests] == [["a0", "a1"]]
    assert watermark(exporter) == at(1)

    sink.script((400, {}, b'{"error": "import set closed"}'))
    failed = run_exporter(exporter.pk, now=at(2, 10))
    assert failed.status == ExporterRun.FAILED and failed.last_status == 400
    assert (failed.window_start, failed.window_end) == (at(1), at(2))
    assert "import set closed" in failed.last_error
    assert watermark(exporter) == at(1)  # stays before the failed window

    caught_up = run_exporter(exporter.pk, now=at(3, 10))
    assert caught_up.status == ExporterRun.SUCCESS, caught_up.last_error
    assert (caught_up.window_start, caught_up.window_end) == (at(1), at(3))
    assert [ids(request) for request in sink.requests[2:]] == [["b0", "b1", "b2"], ["c0", "c1"]]  # oldest first
    assert watermark(exporter) == at(3)
    delivered = [name for request in (sink.requests[0], *sink.requests[2:]) for name in ids(request)]
    assert delivered == ["a0", "a1", "b0", "b1", "b2", "c0", "c1"]  # each once, in its own window
    assert caught_up.records_sent == 5 and caught_up.batches_sent == 2

    assert run_exporter(exporter.pk, now=at(3, 50)).records_sent == 0  # nothing pending yet
    assert len(sink.requests) == 4
    assert run_exporter(exporter.pk, now=at(4, 10)).records_sent == 1
    assert ids(sink.requests[4]) == ["d0"] and watermark(exporter) == at(4)
    empty = run_exporter(exporter.pk, now=at(5, 10))  # a window without records: nothing to send
    assert (empty.status, empty.records_sent, empty.window_end) == (ExporterRun.SUCCESS, 0, at(5))
    assert len(sink.requests) == 5 and watermark(exporter) == at(5)


def test_a_failed_first_run_is_not_skipped_by_the_next_run(sink):
    crashes(**BOUNDARY_CRASHES)
    exporter = make_exporter(make_credential(sink.url), [(CRASHES, "collection", CRASH_RECORD)])
    sink.script(503)
    exporter.max_attempts = 1
    exporter.save()
    assert run_exporter(exporter.pk, now=at(1, 10)).status == ExporterRun.FAILED
    assert watermark(exporter) == at(0)  # the failed window is remembered as pending
    later = run_exporter(exporter.pk, now=at(2, 10))
    assert later.status == ExporterRun.SUCCESS
    assert [ids(request) for request in sink.requests[1:]] == [["a0", "a1"], ["b0", "b1", "b2"]]
    assert watermark(exporter) == at(2)


def test_a_failure_in_the_middle_of_a_catch_up_keeps_the_windows_delivered_before_it(sink, settings):
    crashes(**BOUNDARY_CRASHES)
    exporter = make_exporter(make_credential(sink.url), [(CRASHES, "collection", CRASH_RECORD)])
    Exporter.objects.filter(pk=exporter.pk).update(watermark=at(0))
    sink.script(200, 400)
    failed = run_exporter(exporter.pk, now=at(3, 10))
    assert failed.status == ExporterRun.FAILED
    assert (failed.window_start, failed.window_end, failed.records_sent) == (at(0), at(3), 2)
    assert watermark(exporter) == at(1)

    settings.EXPORT_MAX_CATCH_UP = 1  # one window per run: the rest waits, nothing is skipped
    assert run_exporter(exporter.pk, now=at(3, 10)).window_end == at(2)
    assert watermark(exporter) == at(2)
    assert run_exporter(exporter.pk, now=at(3, 10)).window_end == at(3)
    assert watermark(exporter) == at(3)
    assert [ids(request) for request in sink.requests] == [["a0", "a1"], ["b0", "b1", "b2"], ["b0", "b1", "b2"],
                                                           ["c0", "c1"]]


def test_a_snapshot_query_is_sent_once_per_run_with_the_latest_window(sink):
    crashes(**BOUNDARY_CRASHES)  # also makes the device DEV-00001
    exporter = make_exporter(make_credential(sink.url), [(CRASHES, "collection", CRASH_RECORD),
                                                         (DEVICES, "array", DEVICE_RECORD)])
    Exporter.objects.filter(pk=exporter.pk).update(watermark=at(0))
    run = run_exporter(exporter.pk, now=at(3, 10))
    assert run.status == ExporterRun.SUCCESS
    assert len(sink.requests) == 4
    assert sink.requests[0].body == (b'{"id":"a0","at":"2026-01-05T00:00:00Z"}\n'
                                     b'{"id":"a1","at":"2026-01-05T00:59:59Z"}\n')
    assert [ids(request) for request in sink.requests[1:3]] == [["b0", "b1", "b2"], ["c0", "c1"]]
    assert sink.requests[3].body == b'[{"device":"DEV-00001"}]'  # once, after the last window


def test_a_scheduled_run_with_nothing_pending_sends_nothing_a_manual_run_sends_the_latest_window(sink):
    crashes(**BOUNDARY_CRASHES)
    exporter = make_exporter(make_credential(sink.url), [(CRASHES, "collection", CRASH_RECORD)])
    Exporter.objects.filter(pk=exporter.pk).update(watermark=at(2))
    idle = run_exporter(exporter.pk, ExporterRun.SCHEDULE, now=at(2, 30))
    assert (idle.status, idle.records_sent, idle.window_start) == (ExporterRun.SUCCESS, 0, None)
    assert sink.requests == []
    manual = run_exporter(exporter.pk, ExporterRun.MANUAL, now=at(2, 30))
    assert (manual.trigger, manual.window_start, manual.window_end) == (ExporterRun.MANUAL, at(1), at(2))
    assert [ids(request) for request in sink.requests] == [["b0", "b1", "b2"]]
    assert watermark(exporter) == at(2)


def test_a_second_run_while_one_runs_is_skipped_and_progress_is_visible_while_running(sink, fast_retries):
    for number in range(1, 5):
        make_device(number)
    exporter = make_exporter(make_credential(sink.url), [(DEVICES, "array", DEVICE_RECORD)], batch_size=1)
    sink.default = Answer(200, delay=0.4)
    sink.script(Answer(503, delay=0.6))
    outcome = {}

    def run_in_thread():
        try:
            outcome["run"] = run_exporter(exporter.pk, ExporterRun.MANUAL, now=at(1, 10))
        finally:
            connection.close()

    thread = threading.Thread(target=run_in_thread)
    thread.start()
    try:
        retrying = wait_for(lambda: ExporterRun.objects.filter(exporter=exporter, status=ExporterRun.RUNNING,
                                                                attempts__gte=1).first())
        assert retrying.records_sent == 0  # the first request is still unanswered
        running = wait_for(lambda: ExporterRun.objects.filter(exporter=exporter, status=ExporterRun.RUNNING,
                                                               records_sent__gte=1).first())
        assert running.batches_sent >= 1 and running.bytes_sent >= len(b'[{"device":"DEV-00001"}]')
        assert running.attempts >= 1 and running.finished_at is None
        skipped = run_exporter(exporter.pk, ExporterRun.SCHEDULE, now=at(1, 10))
        assert skipped.status == ExporterRun.SKIPPED
        assert skipped.last_error == "Another run of this exporter was in progress."
        assert (skipped.records_sent, skipped.window_start) == (0, None)
        assert ExporterRun.objects.get(pk=skipped.pk).status == ExporterRun.SKIPPED
    finally:
        thread.join(timeout=20)
    assert outcome["run"].status == ExporterRun.SUCCESS and outcome["run"].records_sent == 4
    assert len(sink.requests) == 5
    stored = ExporterRun.objects.get(pk=outcome["run"].pk)
    assert (stored.records_sent, stored.batches_sent, stored.attempts) == (4, 4, 5)
    assert stored.duration_ms >= 2200


def test_an_invalid_configuration_fails_the_run_before_sending(sink):
    make_device(1)
    exporter = make_exporter(make_credential(sink.url), [(DEVICES, "array", DEVICE_RECORD)])
    ExporterQuery.objects.filter(exporter=exporter).update(payload='{"n": "{{device.nme}}"}')
    run = run_exporter(exporter.pk, ExporterRun.MANUAL, now=at(1, 10))
    assert run.status == ExporterRun.FAILED and sink.requests == []
    assert run.last_error.startswith("The exporter's configuration is not valid: queries[0].payload: ")
    assert "{{device.nme}}" in run.last_error


def test_a_disabled_exporter_is_not_run_by_its_schedule_but_can_be_run_by_hand(sink):
    make_device(1)
    exporter = make_exporter(make_credential(sink.url), [(DEVICES, "array", DEVICE_RECORD)], enabled=False)
    scheduled = run_exporter(exporter.pk, ExporterRun.SCHEDULE, now=at(1, 10))
    assert scheduled.status == ExporterRun.SKIPPED and "disabled" in scheduled.last_error
    assert sink.requests == []
    assert run_exporter(exporter.pk, ExporterRun.MANUAL, now=at(1, 10)).status == ExporterRun.SUCCESS
    assert len(sink.requests) == 1


def test_a_deleted_exporter_is_not_run():
    assert run_exporter(999_999, now=at(1, 10)) is None


# -- stale runs --------------------------------------------------------------------------------------


def test_a_run_finds_the_rows_of_dead_workers_and_marks_them_failed(sink):
    make_device(1)
    exporter = make_exporter(make_credential(sink.url), [(DEVICES, "array", DEVICE_RECORD)])
    dead = ExporterRun.objects.create(exporter=exporter, exporter_name=exporter.name, trigger="schedule")
    run = run_exporter(exporter.pk, now=at(1, 10))
    assert run.status == ExporterRun.SUCCESS
    dead.refresh_from_db()
    assert dead.status == ExporterRun.FAILED
    assert dead.last_error == "The worker running it stopped before the end."


def test_the_sweep_redoes_runs_whose_lock_is_free_and_leaves_live_runs_alone(sink, monkeypatch):
    crashes(**BOUNDARY_CRASHES)
    credential = make_credential(sink.url)
    dead_one = make_exporter(credential, [(CRASHES, "collection", CRASH_RECORD)], name="Dead")
    live_one = make_exporter(credential, [(CRASHES, "collection", CRASH_RECORD)], name="Live")
    Exporter.objects.filter(pk=dead_one.pk).update(watermark=at(1))
    dead = ExporterRun.objects.create(exporter=dead_one, exporter_name="Dead", trigger="schedule",
                                      window_start=at(1), window_end=at(2), records_sent=2)
    live = ExporterRun.objects.create(exporter=live_one, exporter_name="Live", trigger="schedule")
    test = ExporterRun.objects.create(exporter=dead_one, exporter_name="Dead", trigger="test",
                                      started_at=datetime.now(UTC) - timedelta(hours=2))
    queued = []
    monkeypatch.setattr(run_exporter_task, "delay", lambda **kwargs: queued.append(kwargs) or _Queued())

    main = connections["default"]
    holder = type(main)(dict(main.settings_dict), alias="holder")  # a live worker's session
    try:
        with holder.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", [services.LOCK_CLASS, live_one.pk])
        assert sweep_stale_runs() == 1
        live.refresh_from_db()
        assert live.status == ExporterRun.RUNNING
    finally:
        holder.close()
    dead.refresh_from_db()
    assert dead.status == ExporterRun.FAILED
    assert dead.last_error == "The worker running it stopped before the end; the run was redone."
    test.refresh_from_db()
    assert test.status == ExporterRun.FAILED and test.last_error == "The test load stopped before the end."
    assert queued == [{"exporter_id": dead_one.pk, "trigger": "schedule", "redo_of": str(dead.uid)}]

    redo = run_exporter(**queued[0], now=at(2, 10))  # what the worker does with the queued task
    assert redo.status == ExporterRun.SUCCESS and redo.redo_of == dead
    assert [ids(request) for request in sink.requests] == [["b0", "b1", "b2"]]
    assert watermark(dead_one) == at(2)


class _Queued:
    id = "queued-task"


# -- test load ---------------------------------------------------------------------------------------


def test_test_load_sends_at_most_20_records_per_query_and_is_recorded_as_a_test_run(sink):
    for number in range(1, 26):
        make_device(number)
    crashes(**{f"x{minute:02d}": at(0, minute) for minute in range(30)}, early=at(23, 30, day=4),
            late=at(1, 0))
    exporter = make_exporter(make_credential(sink.url), [(DEVICES, "array", DEVICE_RECORD),
                                                         (CRASHES, "collection", CRASH_RECORD)], batch_size=8)
    load = test_load(exporter, services.saved_queries(exporter), now=at(1, 10))
    assert [(query.records, query.status, query.errors) for query in load.queries] == [(20, 200, []), (20, 200, [])]
    assert load.queries[0].response_start == '{"result": "ok"}'
    batches = [request.json() if index < 3 else request.lines() for index, request in enumerate(sink.requests)]
    assert [len(batch) for batch in batches] == [8, 8, 4, 8, 8, 4]
    assert [record["device"] for batch in batches[:3] for record in batch] == [f"DEV-{n:05d}" for n in range(1, 21)]
    # the time-bound query covers the latest complete window, [00:00, 01:00): its first 20 records
    assert [record["id"] for batch in batches[3:] for record in batch] == [f"x{minute:02d}" for minute in range(20)]
    run = ExporterRun.objects.get(pk=load.run.pk)
    assert (run.trigger, run.status, run.records_sent, run.batches_sent) == ("test", "success", 40, 6)
    assert (run.window_start, run.window_end, run.last_status) == (at(0), at(1), 200)
    assert run.results == [{"records": 20, "status": 200, "response_start": '{"result": "ok"}', "errors": []}] * 2
    assert watermark(exporter) is None  # a test moves nothing


def test_test_load_of_an_unsaved_exporter_reports_the_destinations_refusal(sink, fast_retries):
    make_device(1)
    make_device(2)
    exporter = Exporter(name="Draft", credential=make_credential(sink.url), resource="api/x",
                        recurrence="daily", batch_size=1)
    query = ExporterQuery(nql=DEVICES, structure="object_with_array", payload='{"r": [' + DEVICE_RECORD + "]}")
    sink.script(200, (503, {}, b"maintenance " * 100))
    load = test_load(exporter, [query], now=at(1, 10))
    assert len(sink.requests) == 2  # one attempt per request: the user sees the answer at once
    [outcome] = load.queries
    assert (outcome.records, outcome.status) == (1, 503)
    assert outcome.response_start == ("maintenance " * 100)[:500]
    assert "answered HTTP 503" in outcome.errors[0]
    run = ExporterRun.objects.get(pk=load.run.pk)
    assert (run.exporter, run.exporter_name, run.trigger, run.status) == (None, "Draft", "test", "failed")
    assert (run.records_sent, run.last_status, run.results[0]["records"]) == (1, 503, 1)
    assert [request.json() for request in sink.requests] == [{"r": [{"device": "DEV-00001"}]},
                                                             {"r": [{"device": "DEV-00002"}]}]
