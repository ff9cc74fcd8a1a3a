"""Celery tasks of the Engine: NQL exports (``nql.md``) and the sweep that sends lost ones again
(every minute, data migration ``0005_redo_lost_exports``)."""

from celery import shared_task


@shared_task(name="engine.run_nql_export", acks_late=True, reject_on_worker_lost=True)
def run_nql_export(export_id: str) -> str:
    """Runs one NQL export. Acknowledged late: a worker that dies mid-export leaves the message to be
    delivered again, and ``run_export`` redoes an export left in progress but never one completed."""
    from engine.exports import run_export

    return run_export(export_id)


@shared_task(name="engine.redo_lost_nql_exports")
def redo_lost_nql_exports() -> int:
    """NQL exports left in progress by a worker that died, sent again (every minute)."""
    from engine.exports import redo_lost_exports

    return redo_lost_exports()
