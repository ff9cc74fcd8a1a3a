"""Celery tasks of remote actions: expiry (every minute), the demo fleet simulator (every 10 s), the
classic Act API's per-Engine parts and the sweep that sends lost ones again (every minute).

The schedules are data migrations (``0002_periodic_tasks``, ``0003_classic_dispatch``; django-celery-beat)."""

import contextlib

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

        from portal import dberrors

        logging.getLogger(__name__).exception("classic Act API: Engine task failed")
        if not dberrors.is_unavailable(error):  # a database outage: left to the sweep to send again
            with contextlib.suppress(Exception):  # unmarked, the part is only sent again
                classic.mark_answered(kwargs["request_id"], kwargs["engine_id"], classic.ENGINE_ERROR)
        return {"code": "engine_error", "message": f"Engine failed: {type(error).__name__}"}


@shared_task(name="remote_actions.redo_lost_classic_dispatches")
def redo_lost_classic_dispatches() -> dict[str, int]:
    """Classic Act parts whose task was lost (a worker killed) sent again (every minute)."""
    from remote_actions import classic

    return classic.redo_lost_dispatches()
