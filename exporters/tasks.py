"""Celery tasks of exporters: runs (scheduled by each exporter's beat entry, or manual) and the sweep
that redoes the runs of workers that died (every minute, data migration ``0004_periodic_tasks``)."""

from celery import shared_task


@shared_task(name="exporters.run_exporter", acks_late=True, reject_on_worker_lost=True)
def run_exporter_task(exporter_id: int, trigger: str = "schedule", redo_of: str | None = None) -> dict:
    """Runs one exporter. Acknowledged late, so a broker that redelivers a dead worker's message runs it
    again; the run then finds the dead run's row stale and starts from the watermark."""
    from exporters import services

    run = services.run_exporter(exporter_id, trigger, redo_of=redo_of)
    if run is None:
        return {"status": "deleted"}
    return {"run": str(run.uid), "status": run.status, "records_sent": run.records_sent}


@shared_task(name="exporters.sweep_stale_runs")
def sweep_stale_runs() -> int:
    from exporters import services

    return services.sweep_stale_runs()
