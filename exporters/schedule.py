"""When exporters run and which time windows a run exports (exporters.md, "Schedule and time windows").

Periods start at period boundaries in UTC: every N hours from 00:00 (N divides 24), every day at
00:00, every week on the chosen day at 00:00. A run is due ``EXPORT_COMPLETENESS_DELAY`` after a
boundary and exports the window that ended there, whenever it actually starts; the exporter's
watermark (the end of the last window delivered completely) says where the next run starts, so
windows touch and a failed one is exported again by the next run.

Each enabled exporter has one django-celery-beat entry (a crontab in UTC) kept in step by the
exporter's save and delete signals.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings

from .models import Exporter

RUN_TASK = "exporters.run_exporter"
BEAT_ENTRY_PREFIX = "exporter "
WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True)
class Window:
    """The half-open interval [start, end) a run exports."""

    start: datetime
    end: datetime


def completeness_delay() -> timedelta:
    return timedelta(seconds=settings.EXPORT_COMPLETENESS_DELAY)


def period(exporter: Exporter) -> timedelta:
    if exporter.recurrence == Exporter.HOURLY:
        return timedelta(hours=exporter.every_hours or 1)
    if exporter.recurrence == Exporter.WEEKLY:
        return timedelta(days=7)
    return timedelta(days=1)


def boundary_at_or_before(exporter: Exporter, moment: datetime) -> datetime:
    """The latest period boundary at or before ``moment`` (an aware datetime, in UTC or not)."""
    moment = moment.astimezone(UTC)  # boundaries are UTC midnights and hours, whatever zone ``moment`` is in
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if exporter.recurrence == Exporter.HOURLY:
        every = exporter.every_hours or 1
        return day + timedelta(hours=(moment.hour // every) * every)
    if exporter.recurrence == Exporter.WEEKLY:
        return day - timedelta(days=(day.weekday() - (exporter.weekday or 0)) % 7)
    return day


def latest_boundary(exporter: Exporter, now: datetime) -> datetime:
    """The end of the latest window whose completeness delay has passed at ``now``."""
    return boundary_at_or_before(exporter, now - completeness_delay())


def next_run_at(exporter: Exporter, now: datetime) -> datetime:
    """When the next scheduled run is due (the next boundary plus the completeness delay)."""
    return latest_boundary(exporter, now) + period(exporter) + completeness_delay()


def windows_to_export(exporter: Exporter, now: datetime, *, manual: bool = False) -> list[Window]:
    """The windows a run starting at ``now`` delivers, oldest first: from the watermark to the latest
    boundary, at most ``EXPORT_MAX_CATCH_UP`` (the rest is left to the next run, nothing is skipped).
    Without a usable watermark (first run, or the recurrence changed) only the latest window. A manual
    run with nothing pending exports the latest window again."""
    step = period(exporter)
    end = latest_boundary(exporter, now)
    start = exporter.watermark
    if start is None or start > end or boundary_at_or_before(exporter, start) != start:
        start = end - step
    if start == end:
        return [Window(end - step, end)] if manual else []
    windows = []
    while start < end and len(windows) < settings.EXPORT_MAX_CATCH_UP:
        windows.append(Window(start, start + step))
        start += step
    return windows


# -- Celery Beat entries ---------------------------------------------------------------------------


def beat_entry_name(exporter: Exporter) -> str:
    return f"{BEAT_ENTRY_PREFIX}{exporter.uid}"


def crontab_fields(exporter: Exporter) -> dict[str, str]:
    """The crontab (UTC) of the exporter's runs: each boundary plus the completeness delay."""
    delay_minutes = settings.EXPORT_COMPLETENESS_DELAY // 60
    minute, hour_offset = delay_minutes % 60, delay_minutes // 60
    if exporter.recurrence == Exporter.HOURLY:
        every = exporter.every_hours or 1
        hours = sorted({(start + hour_offset) % 24 for start in range(0, 24, every)})
        return {"minute": str(minute), "hour": ",".join(map(str, hours)), "day_of_week": "*"}
    day_shift, hour = divmod(hour_offset, 24)
    if exporter.recurrence == Exporter.WEEKLY:
        # celery's crontab counts days of the week from Sunday = 0
        weekday = ((exporter.weekday or 0) + day_shift + 1) % 7
        return {"minute": str(minute), "hour": str(hour), "day_of_week": str(weekday)}
    return {"minute": str(minute), "hour": str(hour), "day_of_week": "*"}


def sync_beat_entry(exporter: Exporter) -> None:
    """Creates, changes or removes the exporter's beat entry so that it matches the exporter."""
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    name = beat_entry_name(exporter)
    if not exporter.enabled or not exporter.recurrence:
        remove_beat_entry(exporter)
        return
    fields = crontab_fields(exporter)
    schedule, _ = CrontabSchedule.objects.get_or_create(
        minute=fields["minute"], hour=fields["hour"], day_of_week=fields["day_of_week"],
        day_of_month="*", month_of_year="*", timezone="UTC",
    )
    PeriodicTask.objects.update_or_create(name=name, defaults={
        "task": RUN_TASK, "crontab": schedule, "interval": None, "enabled": True,
        "kwargs": json.dumps({"exporter_id": exporter.pk, "trigger": "schedule"}),
        "description": f"Exporter {exporter.name}: {exporter.recurrence_text()}",
    })


def remove_beat_entry(exporter: Exporter) -> None:
    from django_celery_beat.models import PeriodicTask

    for task in PeriodicTask.objects.filter(name=beat_entry_name(exporter)):
        task.delete()  # one by one: the model's delete() tells the beat scheduler that tasks changed
