"""Exporter schedules: period boundaries, the windows a run exports (watermark, catch-up cap, manual
runs), the next run, crontab fields, and the django-celery-beat entry kept in step with the exporter."""

import inspect
import itertools
import json
import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django_celery_beat.models import PeriodicTask, PeriodicTasks

from exporters import schedule
from exporters.models import Exporter
from exporters.schedule import Window, crontab_fields, latest_boundary, next_run_at, windows_to_export
from exporters.tasks import run_exporter_task

from .sink import make_credential


def at(day: int, hour: int = 0, minute: int = 0, second: int = 0, month: int = 1) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=UTC)  # 2026-01-05 is a Monday


def hourly(every: int = 1, watermark: datetime | None = None) -> Exporter:
    return Exporter(recurrence="hourly", every_hours=every, watermark=watermark)


def daily(watermark: datetime | None = None) -> Exporter:
    return Exporter(recurrence="daily", watermark=watermark)


def weekly(day: int, watermark: datetime | None = None) -> Exporter:
    return Exporter(recurrence="weekly", weekday=day, watermark=watermark)


# -- windows ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("exporter", "now", "window"), [
    (hourly(), at(5, 1, 10), Window(at(5, 0), at(5, 1))),
    (hourly(), at(5, 1, 59, 59), Window(at(5, 0), at(5, 1))),
    (hourly(), at(5, 1, 9, 59), Window(at(4, 23), at(5, 0))),  # the completeness delay has not passed
    (hourly(6), at(5, 13, 0), Window(at(5, 6), at(5, 12))),
    (hourly(6), at(5, 12, 5), Window(at(5, 0), at(5, 6))),
    (hourly(24), at(5, 0, 10), Window(at(4, 0), at(5, 0))),
    (daily(), at(5, 0, 10), Window(at(4, 0), at(5, 0))),
    (daily(), at(5, 23, 59), Window(at(4, 0), at(5, 0))),
    (weekly(0), at(5, 0, 10), Window(datetime(2025, 12, 29, tzinfo=UTC), at(5, 0))),  # Monday
    (weekly(0), at(11, 23), Window(datetime(2025, 12, 29, tzinfo=UTC), at(5, 0))),  # the Sunday after
    (weekly(6), at(5, 0, 10), Window(datetime(2025, 12, 28, tzinfo=UTC), at(4, 0))),  # Sunday
    (weekly(2), at(7, 0, 9), Window(datetime(2025, 12, 24, tzinfo=UTC), datetime(2025, 12, 31, tzinfo=UTC))),
])
def test_a_first_run_exports_the_latest_complete_window(exporter, now, window):
    assert windows_to_export(exporter, now) == [window]
    assert latest_boundary(exporter, now) == window.end


def test_windows_from_the_watermark_oldest_first():
    windows = windows_to_export(hourly(watermark=at(5, 0)), at(5, 3, 10))
    assert windows == [Window(at(5, 0), at(5, 1)), Window(at(5, 1), at(5, 2)), Window(at(5, 2), at(5, 3))]
    assert windows_to_export(daily(watermark=at(2)), at(5, 0, 10)) == [
        Window(at(2), at(3)), Window(at(3), at(4)), Window(at(4), at(5))]
    assert windows_to_export(hourly(6, watermark=at(4, 12)), at(5, 7)) == [
        Window(at(4, 12), at(4, 18)), Window(at(4, 18), at(5, 0)), Window(at(5, 0), at(5, 6))]


def test_catch_up_is_capped_and_the_rest_is_left_to_the_next_runs(settings):
    settings.EXPORT_MAX_CATCH_UP = 2
    exporter = hourly(watermark=at(5, 0))
    done = []
    for _ in range(3):
        windows = windows_to_export(exporter, at(5, 5, 10))
        done += windows
        exporter.watermark = windows[-1].end if windows else exporter.watermark
    assert done == [Window(at(5, hour), at(5, hour + 1)) for hour in range(5)]  # none skipped


def test_the_default_catch_up_cap_is_168_windows():
    windows = windows_to_export(hourly(watermark=at(1, 0)), at(20, 0, 10))
    assert len(windows) == 168 and windows[0].start == at(1, 0) and windows[-1].end == at(8, 0)


def test_nothing_pending_scheduled_exports_nothing_manual_exports_the_latest_window_again():
    exporter = hourly(watermark=at(5, 1))
    assert windows_to_export(exporter, at(5, 1, 30)) == []
    assert windows_to_export(exporter, at(5, 1, 30), manual=True) == [Window(at(5, 0), at(5, 1))]


@pytest.mark.parametrize(("exporter", "window"), [
    (hourly(watermark=at(5, 0, 30)), Window(at(5, 3), at(5, 4))),  # not on a boundary
    (hourly(2, watermark=at(5, 1)), Window(at(5, 2), at(5, 4))),  # a boundary of another recurrence
    (daily(watermark=at(4, 6)), Window(at(4), at(5))),
    (hourly(watermark=at(9, 0)), Window(at(5, 3), at(5, 4))),  # after the latest boundary
])
def test_an_unusable_watermark_exports_the_latest_window(exporter, window):
    assert windows_to_export(exporter, at(5, 4, 10)) == [window]


def test_consecutive_runs_at_random_times_cover_time_without_gap_or_overlap():
    rng = random.Random(7)
    for exporter in (hourly(), hourly(3), daily()):
        now = at(5, 0, 10)
        covered: list[Window] = []
        for _ in range(60):
            now += timedelta(minutes=rng.randint(1, 300))
            windows = windows_to_export(exporter, now)
            covered += windows
            if windows:
                exporter.watermark = windows[-1].end
        assert covered, exporter.recurrence
        assert all(left.end == right.start for left, right in itertools.pairwise(covered))
        assert all(window.end - window.start == schedule.period(exporter) for window in covered)


def test_a_time_in_another_zone_is_read_as_utc():
    zurich = ZoneInfo("Europe/Zurich")
    now = datetime(2026, 1, 5, 2, 10, tzinfo=zurich)  # 01:10 UTC
    assert windows_to_export(hourly(), now) == [Window(at(5, 0), at(5, 1))]
    assert windows_to_export(daily(), datetime(2026, 1, 5, 0, 30, tzinfo=zurich)) == [Window(at(3), at(4))]
    assert next_run_at(hourly(), now) == at(5, 2, 10)


# -- next run and crontab ----------------------------------------------------------------------------


@pytest.mark.parametrize(("exporter", "now", "expected"), [
    (hourly(), at(5, 1, 5), at(5, 1, 10)),
    (hourly(), at(5, 1, 10), at(5, 2, 10)),
    (hourly(6), at(5, 1), at(5, 6, 10)),
    (hourly(6), at(5, 23, 59), at(6, 0, 10)),
    (daily(), at(5, 0, 5), at(5, 0, 10)),
    (daily(), at(5, 12), at(6, 0, 10)),
    (weekly(0), at(6, 12), at(12, 0, 10)),
    (weekly(4), at(6, 12), at(9, 0, 10)),  # Friday
])
def test_next_run_at(exporter, now, expected):
    assert next_run_at(exporter, now) == expected


@pytest.mark.parametrize(("exporter", "delay", "fields"), [
    (hourly(), 600, {"minute": "10", "hour": ",".join(str(h) for h in range(24)), "day_of_week": "*"}),
    (hourly(6), 600, {"minute": "10", "hour": "0,6,12,18", "day_of_week": "*"}),
    (hourly(24), 600, {"minute": "10", "hour": "0", "day_of_week": "*"}),
    (hourly(6), 5400, {"minute": "30", "hour": "1,7,13,19", "day_of_week": "*"}),
    (daily(), 600, {"minute": "10", "hour": "0", "day_of_week": "*"}),
    (daily(), 5400, {"minute": "30", "hour": "1", "day_of_week": "*"}),
    (weekly(0), 600, {"minute": "10", "hour": "0", "day_of_week": "1"}),  # crontab: Sunday is 0
    (weekly(6), 600, {"minute": "10", "hour": "0", "day_of_week": "0"}),
    (weekly(6), 5400, {"minute": "30", "hour": "1", "day_of_week": "0"}),
])
def test_crontab_fields(settings, exporter, delay, fields):
    settings.EXPORT_COMPLETENESS_DELAY = delay
    assert crontab_fields(exporter) == fields


# -- beat entries ------------------------------------------------------------------------------------


def beat_entry(exporter: Exporter) -> PeriodicTask | None:
    return PeriodicTask.objects.filter(name=f"exporter {exporter.uid}").select_related("crontab").first()


@pytest.fixture
def exporter(db) -> Exporter:
    return Exporter.objects.create(name="Devices", credential=make_credential("https://tool.example.com"),
                                   resource="api/devices", recurrence="hourly", every_hours=1)


def test_an_enabled_exporter_has_a_beat_entry(exporter):
    task = beat_entry(exporter)
    assert task is not None and task.enabled and task.task == "exporters.run_exporter"
    assert (task.crontab.minute, task.crontab.hour, task.crontab.day_of_week) == (
        "10", ",".join(str(h) for h in range(24)), "*")
    assert (task.crontab.day_of_month, task.crontab.month_of_year, str(task.crontab.timezone)) == ("*", "*", "UTC")
    kwargs = json.loads(task.kwargs)
    assert kwargs == {"exporter_id": exporter.pk, "trigger": "schedule"}
    inspect.signature(run_exporter_task.run).bind(**kwargs)  # the task takes them


def test_the_beat_entry_follows_changes_enable_disable_and_delete(exporter):
    entry_id = beat_entry(exporter).pk
    exporter.recurrence, exporter.every_hours, exporter.weekday = "weekly", None, 2
    exporter.save()
    task = beat_entry(exporter)
    assert task.pk == entry_id  # changed in place: one entry per exporter
    assert (task.crontab.minute, task.crontab.hour, task.crontab.day_of_week) == ("10", "0", "3")
    assert PeriodicTask.objects.filter(name__startswith="exporter ", task="exporters.run_exporter").count() == 1

    exporter.enabled = False
    exporter.save()
    assert beat_entry(exporter) is None
    exporter.enabled = True
    exporter.save()
    assert beat_entry(exporter).crontab.day_of_week == "3"

    changed = PeriodicTasks.last_change()
    exporter.delete()
    assert not PeriodicTask.objects.filter(name__startswith="exporter ", task="exporters.run_exporter").exists()
    assert PeriodicTasks.last_change() > changed  # the beat scheduler sees the removal


def test_a_disabled_exporter_has_no_beat_entry(db):
    exporter = Exporter.objects.create(name="Off", credential=make_credential("https://tool.example.com"),
                                       resource="api/devices", recurrence="daily", enabled=False)
    assert beat_entry(exporter) is None


def test_saving_a_copy_read_before_a_run_never_moves_the_watermark_back(exporter):
    stale_copy = Exporter.objects.get(pk=exporter.pk)  # read by the admin before the run below
    Exporter.objects.filter(pk=exporter.pk).update(watermark=at(5, 3))  # what a run does
    stale_copy.description = "edited while the run went on"
    stale_copy.save()
    saved = Exporter.objects.get(pk=exporter.pk)
    assert (saved.description, saved.watermark) == ("edited while the run went on", at(5, 3))


def test_a_recurrence_change_forgets_the_watermark_other_changes_keep_it(exporter):
    Exporter.objects.filter(pk=exporter.pk).update(watermark=at(5, 3))
    exporter = Exporter.objects.get(pk=exporter.pk)
    exporter.name, exporter.batch_size, exporter.enabled = "Renamed", 50, False
    exporter.save()
    assert Exporter.objects.get(pk=exporter.pk).watermark == at(5, 3)
    exporter.every_hours = 2
    exporter.save()
    assert Exporter.objects.get(pk=exporter.pk).watermark is None

    Exporter.objects.filter(pk=exporter.pk).update(watermark=at(5, 2))
    exporter = Exporter.objects.get(pk=exporter.pk)
    exporter.recurrence, exporter.every_hours, exporter.enabled = "daily", None, True
    exporter.save()
    assert Exporter.objects.get(pk=exporter.pk).watermark is None
    assert beat_entry(exporter).crontab.hour == "0"
