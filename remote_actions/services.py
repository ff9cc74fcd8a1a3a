"""The life cycle of remote-action executions (``remote-actions.md``, "Execution life cycle").

Every caller — the public APIs, the admin, the device channel, Celery — goes through these
functions. Errors are ``RemoteActionError`` subclasses carrying a stable ``code`` (the current
API's error codes) so an API layer maps them to HTTP answers without re-checking anything.
"""

from __future__ import annotations

import hashlib
import io
import secrets
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from engine.models import Device
from remote_actions.models import (
    DeviceEnrollment,
    Execution,
    RemoteAction,
    RemoteActionOutput,
    Request,
    TriggerMethod,
)

Status = Execution.Status

MIN_EXPIRES_IN_MINUTES = 60
MAX_EXPIRES_IN_MINUTES = 10080
DEFAULT_EXPIRES_IN_MINUTES = 60


class RemoteActionError(Exception):
    code = "INVALID_REQUEST"

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class InvalidParameter(RemoteActionError):
    """Unknown input, value outside the options, missing input without default."""

    code = "INVALID_PARAMETER"


class NotFound(RemoteActionError):
    code = "NOT_FOUND"


class Conflict(RemoteActionError):
    code = "CONFLICT"


class InvalidNode(RemoteActionError):
    """Unknown or revoked node key: the collector must re-enroll."""

    code = "NODE_INVALID"


class InvalidSecret(RemoteActionError):
    code = "INVALID_SECRET"


@dataclass(frozen=True)
class TriggerInfo:
    external_source: str = ""
    external_reference: str = ""
    reason: str = ""
    requested_by: str = ""


# -- Requests ---------------------------------------------------------------------------------


def resolve_params(action: RemoteAction, params: dict[str, str] | None) -> dict[str, str]:
    """The parameters the scripts get: given values checked, defaults filled in.

    Raises ``InvalidParameter`` for an unknown input, a value outside the options when custom
    values are not allowed, or a missing input without a default."""
    params = dict(params or {})
    inputs = {item.name: item for item in action.inputs.all()}
    unknown = sorted(set(params) - set(inputs))
    if unknown:
        raise InvalidParameter(f"unknown input(s): {', '.join(unknown)}")
    resolved: dict[str, str] = {}
    for name, item in inputs.items():
        if name in params:
            value = params[name]
            if not isinstance(value, str):
                raise InvalidParameter(f"input {name}: the value must be a string")
            if item.options and not item.allow_custom_value and value not in item.options:
                raise InvalidParameter(f"input {name}: '{value}' is not one of {', '.join(item.options)}")
            resolved[name] = value
        elif item.default_value is not None:
            resolved[name] = item.default_value
        else:
            raise InvalidParameter(f"input {name} is required (it has no default value)")
    return resolved


def create_request(
    action: RemoteAction,
    devices: Sequence[Device] | Iterable[tuple[int, str]],
    params: dict[str, str] | None = None,
    trigger_method: str = TriggerMethod.API,
    expires_in_minutes: int = DEFAULT_EXPIRES_IN_MINUTES,
    trigger_info: TriggerInfo | None = None,
    now: datetime | None = None,
    request_id: uuid.UUID | None = None,
) -> Request:
    """Stores a request and one execution per device, in one transaction.

    ``devices`` are ``Device`` rows or ``(device id, platform)`` pairs (what an API layer gets
    from one ``values_list`` query). Devices whose platform the action has no script for get
    ``failure`` / ``unsupported_platform`` at once. Executions are written with ``COPY``.
    """
    if not MIN_EXPIRES_IN_MINUTES <= expires_in_minutes <= MAX_EXPIRES_IN_MINUTES:
        raise RemoteActionError(
            f"expiresInMinutes must be between {MIN_EXPIRES_IN_MINUTES} and {MAX_EXPIRES_IN_MINUTES}"
        )
    info = trigger_info or TriggerInfo()
    if len(info.reason) > 500:
        raise RemoteActionError("reason is limited to 500 characters")
    resolved = resolve_params(action, params)
    now = now or timezone.now()
    pairs: dict[int, str] = {}
    for device in devices:
        device_id, platform = (device.pk, device.platform) if isinstance(device, Device) else device
        pairs.setdefault(device_id, platform)
    if not pairs:
        raise RemoteActionError("no devices")
    supported = {p for p in ("windows", "mac_os") if action.script_for(p)}
    with transaction.atomic():
        request = Request.objects.create(
            id=request_id or uuid.uuid4(), remote_action=action, trigger_method=trigger_method, params=resolved,
            expires_at=now + timedelta(minutes=expires_in_minutes), external_source=info.external_source[:255],
            external_reference=info.external_reference[:255], reason=info.reason,
            requested_by=info.requested_by[:255], created=now,
        )
        copy_executions(request, action, pairs, supported, now)
    return request


def _copy_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def copy_executions(request: Request, action: RemoteAction, pairs: dict[int, str], supported: set[str],
                     now: datetime) -> None:
    columns = ("request_id", "remote_action_id", "device_id", "status", "status_details", "outputs",
               "outputs_text", "time", "request_uid", "trigger_method", "external_source", "external_reference")
    common_tail = "\t".join((
        now.isoformat(), str(request.pk), request.trigger_method,
        _copy_value(request.external_source), _copy_value(request.external_reference),
    ))
    head = f"{request.pk}\t{action.pk}\t"
    buffer = io.StringIO()
    for device_id, platform in pairs.items():
        if platform in supported:
            status, details = Status.WAITING_FOR_DEVICE.value, ""
        else:
            status, details = Status.FAILURE.value, "unsupported_platform"
        buffer.write(f"{head}{device_id}\t{status}\t{details}\t{{}}\t\t{common_tail}\n")
    table = Execution._meta.db_table
    with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        copy.write(buffer.getvalue())


def cancel(executions) -> int:
    """Cancels the pending executions among ``executions`` (a queryset); returns how many."""
    return executions.filter(status__in=Execution.PENDING).update(
        status=Status.CANCELLED, status_details="cancelled by an administrator", time=timezone.now()
    )


def expire_overdue(now: datetime | None = None) -> dict[str, int]:
    """Waiting executions past their request's expiry become ``expired``; executions in progress
    past ``fetched_at`` + the action's ``timeout_seconds`` become ``failure`` / ``timeout``."""
    now = now or timezone.now()
    table = Execution._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} e SET status = %s, status_details = 'expired', time = %s "
            f"FROM {Request._meta.db_table} r WHERE e.request_id = r.id AND e.status = %s AND r.expires_at <= %s",
            [Status.EXPIRED, now, Status.WAITING_FOR_DEVICE, now],
        )
        expired = cursor.rowcount
        cursor.execute(
            f"UPDATE {table} e SET status = %s, status_details = 'timeout', time = %s "
            f"FROM {RemoteAction._meta.db_table} a WHERE e.remote_action_id = a.id AND e.status = %s "
            f"AND e.fetched_at + a.timeout_seconds * interval '1 second' <= %s",
            [Status.FAILURE, now, Status.IN_PROGRESS, now],
        )
        timed_out = cursor.rowcount
    return {"expired": expired, "timed_out": timed_out}


# -- Device channel ---------------------------------------------------------------------------


def hash_node_key(node_key: str) -> str:
    return hashlib.sha256(node_key.encode()).hexdigest()


def enroll_device(device: Device, node_key: str | None = None, now: datetime | None = None) -> str:
    """(Re-)enrolls a device; returns the new node key (only its hash is stored)."""
    node_key = node_key or secrets.token_urlsafe(32)
    DeviceEnrollment.objects.update_or_create(
        device=device,
        defaults={"node_key_hash": hash_node_key(node_key), "revoked": False, "enrolled_at": now or timezone.now()},
    )
    return node_key


def enroll(enroll_secret: str, collector_uid: str, device_uid: str = "", name: str = "",
           platform: str = "") -> str:
    """The device channel's enrollment: checks the platform's enroll secret, finds the device by
    collector UID (or device UID) and returns a fresh node key."""
    from portal.models import PlatformSettings

    expected = PlatformSettings.load().enroll_secret
    if not expected or not secrets.compare_digest(expected.encode(), enroll_secret.encode()):
        raise InvalidSecret("invalid enroll secret")
    device = Device.objects.filter(collector_uid=collector_uid).first()
    if device is None and device_uid:
        device = Device.objects.filter(device_uid=device_uid.lower()).first()
    if device is None:
        raise NotFound("unknown device")
    return enroll_device(device)


def device_for_node(node_key: str) -> Device:
    enrollment = (DeviceEnrollment.objects.select_related("device")
                  .filter(node_key_hash=hash_node_key(node_key or ""), revoked=False).first())
    if enrollment is None:
        raise InvalidNode("unknown or revoked node key")
    return enrollment.device


def poll(node_key: str, now: datetime | None = None) -> list[dict]:
    """The device's executions waiting for it (not expired): marked ``in_progress`` and returned
    with the script for the device's platform."""
    return poll_device(device_for_node(node_key), now)


def poll_device(device: Device, now: datetime | None = None) -> list[dict]:
    now = now or timezone.now()
    with transaction.atomic():
        executions = list(
            Execution.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("request", "remote_action")
            .filter(device=device, status=Status.WAITING_FOR_DEVICE, request__expires_at__gt=now)
            .order_by("id")
        )
        answer = []
        fetched = []
        for execution in executions:
            script = execution.remote_action.script_for(device.platform)
            if script is None:  # the action's scripts changed since the request
                execution.status, execution.status_details = Status.FAILURE, "unsupported_platform"
            else:
                execution.status, execution.fetched_at = Status.IN_PROGRESS, now
                answer.append({
                    "executionId": execution.pk,
                    "remoteActionId": execution.remote_action.nql_id,
                    "script": script[0],
                    "language": script[1],
                    "params": execution.request.params,
                    "timeoutSeconds": execution.remote_action.timeout_seconds,
                })
            execution.time = now
            fetched.append(execution)
        Execution.objects.bulk_update(fetched, ["status", "status_details", "fetched_at", "time"])
    return answer


def _check_output(output: RemoteActionOutput, value):
    kind = RemoteActionOutput.Type
    ok = {
        kind.STRING: isinstance(value, str),
        kind.DATETIME: isinstance(value, str) and _is_datetime(value),
        kind.BOOL: isinstance(value, bool),
        kind.INT: isinstance(value, int) and not isinstance(value, bool),
        kind.BYTES: isinstance(value, int) and not isinstance(value, bool) and value >= 0,
        kind.DURATION: isinstance(value, int | float) and not isinstance(value, bool) and value >= 0,
        kind.FLOAT: isinstance(value, int | float) and not isinstance(value, bool),
        kind.STRING_LIST: isinstance(value, list) and all(isinstance(v, str) for v in value),
    }[output.type]
    if not ok:
        raise RemoteActionError(f"output {output.name}: not a valid {output.type}")


def _is_datetime(value: str) -> bool:
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def report_result(node_key: str, execution_id: int, status: str, outputs: dict | None = None,
                  details: str = "", now: datetime | None = None) -> Execution:
    return report_device_result(device_for_node(node_key), execution_id, status, outputs, details, now)


def report_device_result(device: Device, execution_id: int, status: str, outputs: dict | None = None,
                         details: str = "", now: datetime | None = None) -> Execution:
    """Stores a device's answer. Another device's (or no) execution: ``NotFound``; an execution
    that is no longer in progress (already answered, expired, cancelled): ``Conflict``."""
    if status not in (Status.SUCCESS, Status.FAILURE):
        raise RemoteActionError("status must be success or failure")
    outputs = outputs or {}
    now = now or timezone.now()
    with transaction.atomic():
        execution = (Execution.objects.select_for_update(of=("self",)).select_related("remote_action")
                     .filter(pk=execution_id, device=device).first())
        if execution is None:
            raise NotFound("no such execution for this device")
        if execution.status not in Execution.PENDING:
            raise Conflict(f"the execution is already {execution.status}")
        declared = {o.name: o for o in execution.remote_action.outputs.all()}
        unknown = sorted(set(outputs) - set(declared))
        if unknown:
            raise RemoteActionError(f"undeclared output(s): {', '.join(unknown)}")
        for name, value in outputs.items():
            if value is not None:
                _check_output(declared[name], value)
        execution.status = status
        execution.status_details = details or ""
        execution.set_outputs(outputs)
        execution.time = now
        if execution.fetched_at is None:
            execution.fetched_at = now
        execution.save(update_fields=["status", "status_details", "outputs", "outputs_text", "time", "fetched_at"])
    return execution
