"""Keeps each exporter's Celery Beat entry in step with it, whoever saves or deletes it (admin, API,
shell), and forgets the watermark when the recurrence changes (windows of another period)."""

from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver

from . import schedule
from .models import Exporter

RECURRENCE_FIELDS = ("recurrence", "every_hours", "weekday")


@receiver(pre_save, sender=Exporter)
def note_a_recurrence_change(sender, instance: Exporter, raw: bool = False, **kwargs) -> None:
    instance._recurrence_changed = False
    if raw or instance._state.adding or instance.pk is None:
        return
    stored = Exporter.objects.filter(pk=instance.pk).values(*RECURRENCE_FIELDS).first()
    instance._recurrence_changed = stored is not None and any(
        stored[name] != getattr(instance, name) for name in RECURRENCE_FIELDS)


@receiver(post_save, sender=Exporter)
def keep_beat_entry(sender, instance: Exporter, raw: bool = False, **kwargs) -> None:
    if raw:
        return
    if getattr(instance, "_recurrence_changed", False):
        # Windows of another period: the watermark no longer counts them (``Exporter.save`` never writes
        # it, so it is cleared here directly).
        Exporter.objects.filter(pk=instance.pk).update(watermark=None)
        instance.watermark = None
    schedule.sync_beat_entry(instance)


@receiver(post_delete, sender=Exporter)
def remove_beat_entry(sender, instance: Exporter, **kwargs) -> None:
    schedule.remove_beat_entry(instance)
