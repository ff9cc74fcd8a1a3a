"""Celery tasks of remote actions: expiry (every minute) and the demo fleet simulator (every 10 s).

Both are scheduled by the data migration ``0002_periodic_tasks`` (django-celery-beat)."""

from celery import shared_task


@shared_task(name="remote_actions.expire_overdue")
def expire_overdue() -> dict[str, int]:
    from remote_actions import services

    return services.expire_overdue()


@shared_task(name="remote_actions.simulate_fleet")
def simulate_fleet() -> dict[str, int]:
    from remote_actions import simulator

    return simulator.run_once()
