"""Demo seeder of remote actions (``platform.md``, "Demo data"): the six demo remote actions, the
enroll secret, and every device on a CONNECTED Engine enrolled in the simulated fleet.

Node keys are derived from the seed (``ctx.hex("node_key", device id)``) and stored hashed only;
``node_key(ctx, device_id)`` gives a demo device's key back (tests and local collectors use it).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from engine.models import Engine
from portal.demo import DemoContext
from portal.models import PlatformSettings
from remote_actions.models import (
    DeviceEnrollment,
    Execution,
    RemoteAction,
    RemoteActionInput,
    RemoteActionOutput,
    Request,
    TriggerMethod,
)
from remote_actions.services import TriggerInfo, create_request, hash_node_key

RESET_TABLES: list[str] = [
    model._meta.db_table
    for model in (Execution, Request, RemoteActionInput, RemoteActionOutput, RemoteAction, DeviceEnrollment)
]

WINDOWS_INFO = """$os = Get-CimInstance Win32_OperatingSystem
$disk = Get-CimInstance Win32_LogicalDisk -Filter "DeviceID='C:'"
$uptime = [int]((Get-Date) - $os.LastBootUpTime).TotalSeconds
Write-Output (@{Uptime = $uptime; FreeDisk = [int64]$disk.FreeSpace} | ConvertTo-Json)
"""
MACOS_INFO = """#!/bin/zsh
boot=$(sysctl -n kern.boottime | awk '{print $4}' | tr -d ,)
free=$(df -k / | awk 'NR==2 {print $4 * 1024}')
echo "{\\"Uptime\\": $(( $(date +%s) - boot )), \\"FreeDisk\\": $free}"
"""

# nql_id: (name, description, purpose, flags, windows script, macOS script, inputs, outputs)
ACTIONS = (
    ("#get_device_info", "Get device info", "Collects uptime and free disk space.", ["DATA_COLLECTION"],
     {"api_enabled": True, "manual_enabled": True, "manual_allow_multiple_devices": True},
     WINDOWS_INFO, MACOS_INFO, (),
     (("Uptime", "int", "Seconds since the last boot."), ("FreeDisk", "bytes", "Free space of the system drive."))),
    ("#restart_service", "Restart service", "Restarts a Windows service.", ["REMEDIATION"],
     {"api_enabled": True, "manual_enabled": True},
     "param([string]$ServiceName)\nRestart-Service -Name $ServiceName -Force\n", "",
     (("ServiceName", "The service to restart.", ["Spooler", "wuauserv"], True, "Spooler"),), ()),
    ("#set_power_plan", "Set power plan", "Switches the power plan.", ["REMEDIATION"],
     {"api_enabled": True, "manual_enabled": True, "manual_allow_multiple_devices": True},
     "param([string]$Plan)\npowercfg /setactive $Plan\n", "#!/bin/zsh\npmset -a powermode \"$Plan\"\n",
     (("Plan", "The power plan.", ["balanced", "high_performance"], False, None),), ()),
    ("#clear_teams_cache", "Clear Teams cache", "Empties the Microsoft Teams cache.", ["REMEDIATION"],
     {"api_enabled": False, "manual_enabled": True},
     "Remove-Item \"$env:APPDATA\\Microsoft\\Teams\\Cache\\*\" -Recurse -Force\n",
     "#!/bin/zsh\nrm -rf ~/Library/Application\\ Support/Microsoft/Teams/Cache/*\n", (), ()),
    ("#collect_logs", "Collect logs", "Collects recent system logs.", ["DATA_COLLECTION"],
     {"api_enabled": True, "manual_enabled": False},
     "Get-WinEvent -LogName System -MaxEvents 100 | Out-String\n", "#!/bin/zsh\nlog show --last 1h | tail -100\n",
     (), (("LogSize", "bytes", "Size of the collected logs."),)),
    ("#legacy_cleanup", "Legacy cleanup", "Removes a retired agent (disabled).", ["REMEDIATION"],
     {"enabled": False, "api_enabled": True, "manual_enabled": True},
     "Remove-Item C:\\LegacyAgent -Recurse -Force\n", "", (), ()),
)


def node_key(ctx: DemoContext, device_id: int) -> str:
    return ctx.hex("node_key", device_id, length=64)


def enroll_secret(ctx: DemoContext) -> str:
    return ctx.hex("enroll_secret")


def seed(ctx: DemoContext) -> None:
    actions = 0
    for nql_id, name, description, purpose, flags, windows, macos, inputs, outputs in ACTIONS:
        action = RemoteAction.objects.create(
            nql_id=nql_id, name=name, description=description, purpose=purpose,
            uid=str(_uuid(ctx.hex("remote_action", nql_id))), windows_script=windows, macos_script=macos,
            timeout_seconds=120, **flags,
        )
        RemoteActionInput.objects.bulk_create(
            RemoteActionInput(remote_action=action, name=input_name, description=text, options=options,
                              allow_custom_value=custom, default_value=default,
                              used_by_windows=bool(windows), used_by_macos=bool(macos))
            for input_name, text, options, custom, default in inputs
        )
        RemoteActionOutput.objects.bulk_create(
            RemoteActionOutput(remote_action=action, name=output_name, type=kind, description=text,
                               used_by_windows=bool(windows), used_by_macos=bool(macos))
            for output_name, kind, text in outputs
        )
        actions += 1
    RemoteAction.objects.update(created=ctx.end, updated=ctx.end)
    ctx.add(RemoteAction._meta.db_table, actions)

    settings_row = PlatformSettings.load()
    settings_row.enroll_secret = enroll_secret(ctx)
    settings_row.save(update_fields=["enroll_secret"])

    connected = set(Engine.objects.filter(status=Engine.Status.CONNECTED).values_list("pk", flat=True))
    enrollments = [
        DeviceEnrollment(device_id=device_id, node_key_hash=hash_node_key(node_key(ctx, device_id)),
                         simulated=True, enrolled_at=ctx.end)
        for device_id, _name, _platform, engine_id in ctx.ids.get("devices", ())
        if engine_id in connected
    ]
    DeviceEnrollment.objects.bulk_create(enrollments, batch_size=5000)
    ctx.add(DeviceEnrollment._meta.db_table, len(enrollments))
    seed_history(ctx)


# A little finished history, so that remote_action.executions has rows in a fresh demo:
# (action, trigger method, hours before the end of the window, number of devices, external source)
HISTORY = (
    ("#get_device_info", TriggerMethod.API, 30, 25, "ServiceNow"),
    ("#restart_service", TriggerMethod.MANUAL, 6, 3, ""),
)


def seed_history(ctx: DemoContext) -> None:
    devices = [(device_id, platform) for device_id, _name, platform, _engine in ctx.ids.get("devices", ())]
    requests = executions = 0
    for number, (nql_id, trigger, hours, count, source) in enumerate(HISTORY):
        action = RemoteAction.objects.get(nql_id=nql_id)
        rng = ctx.rng("remote_action_history", number)
        targets = rng.sample(devices, min(count, len(devices)))
        if not targets:
            continue
        created = ctx.end - timedelta(hours=hours)
        request = create_request(
            action, targets, {}, trigger, 60,
            TriggerInfo(external_source=source, external_reference=f"INC{1000 + number}" if source else "",
                        requested_by="demo-client" if source else "admin"),
            now=created, request_id=uuid.UUID(hex=ctx.hex("remote_action_request", number), version=4),
        )
        outputs = {o.name: o.type for o in action.outputs.all()}
        done = []
        for execution in request.executions.filter(status=Execution.Status.WAITING_FOR_DEVICE).order_by("pk"):
            fetched = created + timedelta(seconds=rng.randint(5, 300))
            execution.fetched_at = fetched
            execution.time = fetched + timedelta(seconds=rng.randint(1, 25))
            if rng.random() < 0.9:
                execution.status = Execution.Status.SUCCESS
                execution.set_outputs({name: (rng.randint(600, 900_000) if kind == "int"
                                              else rng.randint(5, 400) * 1024**3)
                                       for name, kind in outputs.items()})
            else:
                execution.status, execution.status_details = Execution.Status.FAILURE, "exit code 1"
            done.append(execution)
        Execution.objects.bulk_update(
            done, ["status", "status_details", "fetched_at", "time", "outputs", "outputs_text"], batch_size=1000
        )
        requests += 1
        executions += len(targets)
    ctx.add(Request._meta.db_table, requests)
    ctx.add(Execution._meta.db_table, executions)


def _uuid(hex32: str) -> str:
    return str(uuid.UUID(hex=hex32, version=4))
