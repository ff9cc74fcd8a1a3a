"""Platform-level Celery tasks."""

from celery import shared_task


@shared_task(name="portal.ping")
def ping(payload: str) -> dict:
    """Answers with what it was sent and what the worker sees in the database (health check)."""
    from engine.models import Device

    return {"echo": payload, "devices": Device.objects.count()}
