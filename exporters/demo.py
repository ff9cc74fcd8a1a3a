"""Demo seeder of exporters: two connector credentials and two exporters, as a CMDB and a SIEM
integration would be configured. They are disabled: their destinations (``*.example.com``) do not
exist; point a credential at a real tool, enable the exporter, and it runs on its schedule.
"""

from __future__ import annotations

import json
import uuid

from django_celery_beat.models import PeriodicTask

from portal.demo import DemoContext

from .models import ConnectorCredential, Exporter, ExporterQuery
from .schedule import BEAT_ENTRY_PREFIX

# Emptying these also empties the run history (TRUNCATE ... CASCADE: runs reference exporters).
RESET_TABLES: list[str] = [model._meta.db_table for model in (ExporterQuery, Exporter, ConnectorCredential)]

CMDB_PAYLOAD = {"source": "opendex", "records": [{
    "name": "{{device.name}}", "os": "{{device.operating_system.name}}", "ram_bytes": "{{device.hardware.memory}}",
    "last_seen": "{{device.last_seen}}", "entity": "{{device.entity}}",
}]}
SIEM_PAYLOAD = {"event": "application_crash", "device": "{{device.name}}", "binary": "{{binary.name}}",
                "time": "{{execution.crash.time}}", "message": "{{binary.name}} crashed on {{device.name}}"}


def seed(ctx: DemoContext) -> None:
    # TRUNCATE fires no delete signal: drop the beat entries of the exporters it removed.
    for entry in PeriodicTask.objects.filter(name__startswith=BEAT_ENTRY_PREFIX):
        entry.delete()
    cmdb = ConnectorCredential.objects.create(
        uid=uuid.UUID(ctx.hex("credential", "cmdb")), name="ServiceNow (demo)",
        base_url="https://servicenow.example.com", auth_type=ConnectorCredential.AUTH_BASIC,
        username="opendex.integration", password=ctx.hex("credential password", "cmdb")[:20],
    )
    siem = ConnectorCredential.objects.create(
        uid=uuid.UUID(ctx.hex("credential", "siem")), name="SIEM collector (demo)",
        base_url="https://siem.example.com/services/collector", auth_type=ConnectorCredential.AUTH_OAUTH2,
        token_url="https://login.example.com/oauth2/token", client_id="opendex",
        client_secret=ctx.hex("credential secret", "siem")[:32], scope="ingest",
    )
    exporters = [
        (cmdb, "CMDB devices (demo)", "Every device with its hardware, daily.", "PUT",
         "api/now/import/u_opendex_devices/insertMultiple", Exporter.DAILY, None,
         "devices | list name, operating_system.name, hardware.memory, last_seen, entity",
         "object_with_array", CMDB_PAYLOAD),
        (siem, "SIEM application crashes (demo)", "Crashes of the past hour, hourly, one event per line.", "POST",
         "event", Exporter.HOURLY, 1,
         "execution.crashes during past 1h | list device.name, binary.name, time",
         "collection", SIEM_PAYLOAD),
    ]
    for credential, name, description, method, resource, recurrence, every, nql, structure, payload in exporters:
        exporter = Exporter.objects.create(
            uid=uuid.UUID(ctx.hex("exporter", name)), name=name, description=description, credential=credential,
            method=method, resource=resource, recurrence=recurrence, every_hours=every, enabled=False,
        )
        ExporterQuery.objects.create(exporter=exporter, position=0, nql=nql, structure=structure,
                                     payload=json.dumps(payload, indent=2))
    ConnectorCredential.objects.update(created=ctx.end, updated=ctx.end)  # deterministic rows
    Exporter.objects.update(created=ctx.end, updated=ctx.end)
    ctx.add(ConnectorCredential._meta.db_table, 2)
    ctx.add(Exporter._meta.db_table, len(exporters))
