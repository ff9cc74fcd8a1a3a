"""The demo's simulated fleet: every simulated enrolled device on a CONNECTED Engine polls and
answers its executions through the same service functions a real collector reaches through the
device channel (``services.poll_device`` / ``services.report_device_result``).

``run_once`` is one tick (the Celery task runs it every 10 seconds): devices with executions
waiting are polled; an execution in progress is answered once ``answer_delay`` seconds (0..19,
derived from its id) have passed since it was fetched, so each one is answered within 30 seconds.
Outputs are plausible values of each declared output's type, derived from the execution id.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from django.utils import timezone

from engine.models import Device, Engine
from remote_actions import services
from remote_actions.models import Execution, RemoteActionOutput

Status = Execution.Status


def answer_delay(execution_id: int) -> int:
    return execution_id * 7 % 20


def simulated_outputs(execution: Execution) -> dict:
    rng = random.Random(execution.pk)
    kind = RemoteActionOutput.Type
    values = {}
    for output in execution.remote_action.outputs.all():
        values[output.name] = {
            kind.STRING: lambda: f"value {rng.randint(1, 999)}",
            kind.INT: lambda: rng.randint(60, 3_000_000),
            kind.FLOAT: lambda: round(rng.uniform(0, 100), 2),
            kind.BOOL: lambda: rng.random() < 0.5,
            kind.BYTES: lambda: rng.randint(1, 500) * 1024**3,
            kind.DURATION: lambda: rng.randint(100, 600_000),
            kind.DATETIME: lambda: timezone.now().replace(microsecond=0).isoformat().replace("+00:00", "Z"),
            kind.STRING_LIST: lambda: [f"item {n}" for n in range(rng.randint(0, 3))],
        }[output.type]()
    return values


def _fleet():
    return Execution.objects.filter(
        device__enrollment__simulated=True, device__enrollment__revoked=False,
        device__engine__status=Engine.Status.CONNECTED,
    )


def run_once(now: datetime | None = None) -> dict[str, int]:
    now = now or timezone.now()
    polled = answered = 0
    device_ids = set(_fleet().filter(status=Status.WAITING_FOR_DEVICE).values_list("device_id", flat=True))
    for device in Device.objects.filter(pk__in=device_ids):
        polled += len(services.poll_device(device, now))
    in_progress = (_fleet().filter(status=Status.IN_PROGRESS, fetched_at__lte=now)
                   .select_related("device", "remote_action"))
    for execution in in_progress:
        if execution.fetched_at + timedelta(seconds=answer_delay(execution.pk)) > now:
            continue
        failed = random.Random(f"failure:{execution.pk}").random() < 0.05
        try:
            services.report_device_result(
                execution.device, execution.pk,
                Status.FAILURE if failed else Status.SUCCESS,
                {} if failed else simulated_outputs(execution),
                "simulated failure" if failed else "", now,
            )
        except services.RemoteActionError:  # answered, expired or cancelled meanwhile
            continue
        answered += 1
    return {"polled": polled, "answered": answered}
