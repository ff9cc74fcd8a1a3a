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


@shared_task(name="remote_actions.classic_run_on_engine")
def classic_run_on_engine(**kwargs) -> dict[str, str]:
    """One Engine's part of a classic Act API v2 call (``remote_actions.classic``); idempotent."""
    from remote_actions import classic

    try:
        return classic.run_on_engine(**kwargs)
    except Exception as error:  # the Engine failed: answered as engine_error, never lost
        import logging

        logging.getLogger(__name__).exception("classic Act API: Engine task failed")
        return {"code": "engine_error", "message": f"Engine failed: {type(error).__name__}"}
