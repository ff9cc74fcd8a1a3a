"""The classic Act API v2 fan-out (``remote-actions.md``, "Classic Act API v2").

``parse_call`` checks a call's body in the documented order and raises ``ClassicError`` (the
classic error code, HTTP status and text); ``plan`` decides each targeted Engine's fate without a
task (``excluded``, ``not_connected``, ``no_permission``); ``dispatch`` sends one Celery task per
remaining Engine and ``wait`` polls their results from the result backend until every Engine has
answered or the deadline has passed (unanswered Engines are ``timeout``; what they store later
still counts). ``run_on_engine`` is the task's body: it stores the executions of the listed
devices the Engine holds (inside the account's view domain), idempotently.

One classic call is one request (``Request``, its own UUID): the first Engine to answer creates it
through ``services.create_request``; the others add their executions to it. A PostgreSQL advisory
lock on the request id serializes them, and an Engine that already has executions in the request
(a redelivered task) stores nothing again. Adding to an existing request goes through
``services.copy_executions``, the very writer ``create_request`` uses (same statuses, e.g.
``unsupported_platform``). Answers are the tasks' Celery results (the PostgreSQL result backend),
polled with a deadline, so the call returns in time even with no worker at all.

Nothing is lost when a worker dies: each Engine's part is a ``ClassicDispatch`` row from the send
until the task has answered, and ``redo_lost_dispatches`` (beat, every minute) sends a part again
when it has had no answer for ``REDO_AFTER_SECONDS`` — kombu's SQLAlchemy transport never redelivers
the message of a worker killed mid-task, and Redis redelivers only after its visibility timeout.
A part is sent at most ``MAX_SENDS`` times, then given up (logged). Sending twice is safe: the task
stores an Engine's executions once. An answer given to the caller stays as it was (``timeout`` when
the task was lost); the executions a redone part stores count, as for any late answer.

Decisions where the documentation is silent:
- ``timeoutSeconds`` is an integer from 1 to 3600; ``requestUid`` a string; ``params`` an object of
  strings (names the action does not declare are dropped; a value outside the options, or a
  missing input without default, is ``INVALID_REQUEST_CONTENT``, checked after
  ``NO_MANUAL_EXECUTION``).
- Device and Engine UIDs compare case-insensitively; duplicates are ignored (also for
  ``TOO_MANY_DEVICES``). An empty ``engineDatabaseUids`` means every Engine.
- Order of the answers: the listed order, or the Engines by name. ``no_permission`` is decided in
  the view (the account's view domain holds no device of the Engine); an ``ok`` Engine stores only
  the listed devices inside the view domain. An Engine holding none of the listed devices is
  ``ok`` and stores nothing.
- Any failure inside an Engine's task is its ``engine_error`` (with a message), never a 500.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from celery.result import AsyncResult
from django.db import connection, transaction
from django.utils import timezone

from engine.models import Device, Engine
from remote_actions import services
from remote_actions.models import ClassicDispatch, Execution, RemoteAction, Request, TriggerMethod

log = logging.getLogger(__name__)

EXTERNAL_SOURCE = "act_v2"
# The queue of the per-Engine tasks; None is Celery's default queue (tests route it elsewhere).
QUEUE: str | None = None
POLL_INTERVAL_SECONDS = 0.05
MAX_TIMEOUT_SECONDS = 3600
REDO_AFTER_SECONDS = 120  # an unanswered part is sent again after this long (tasks take seconds)
MAX_SENDS = 5
KEEP_ANSWERED_SECONDS = 86400  # answered parts are deleted by the sweep after a day
ABANDONED = "abandoned"

OK, TIMEOUT, ENGINE_ERROR = "ok", "timeout", "engine_error"
NOT_CONNECTED, EXCLUDED, NO_PERMISSION = "not_connected", "excluded", "no_permission"

DEVICE_UID = re.compile(r"^[0-9a-fA-F]{32}$")


class ClassicError(Exception):
    """A documented error of the classic API: ``{"code", "error"}`` with an HTTP status."""

    def __init__(self, code: str, error: str, status: int = 400):
        super().__init__(error)
        self.code, self.error, self.status = code, error, status


@dataclass
class Call:
    """A checked classic call."""

    action: RemoteAction
    device_uids: list[str]
    engine_uids: list[str] | None
    timeout_seconds: int
    params: dict[str, str]
    request_uid: str = ""


@dataclass
class EngineAnswer:
    database_uid: str
    code: str = ""
    message: str = ""
    engine_id: int | None = None
    task_id: str | None = None

    def as_json(self) -> dict[str, str]:
        return {"databaseUid": self.database_uid, "code": self.code, "message": self.message}


@dataclass
class Plan:
    request_id: uuid.UUID
    answers: list[EngineAnswer] = field(default_factory=list)

    @property
    def to_dispatch(self) -> list[EngineAnswer]:
        return [answer for answer in self.answers if not answer.code]


def _content(message: str) -> ClassicError:
    return ClassicError("INVALID_REQUEST_CONTENT", message)


def _string_list(data: dict, name: str) -> list | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _content(f"{name} must be a list of strings")
    return value


def parse_call(data, default_timeout: int, max_devices: int) -> Call:
    """Checks a decoded JSON body, in the documented order from ``INVALID_REQUEST_CONTENT`` to
    ``NO_MANUAL_EXECUTION`` (and the parameters); returns the call."""
    # INVALID_REQUEST_CONTENT: the shape and types.
    if not isinstance(data, dict):
        raise _content("the body must be a JSON object")
    request_uid = data.get("requestUid")
    if request_uid is not None and not isinstance(request_uid, str):
        raise _content("requestUid must be a string")
    action_uid = data.get("remoteActionUid")
    if action_uid is not None and not isinstance(action_uid, str):
        raise _content("remoteActionUid must be a string")
    device_uids = _string_list(data, "deviceUids")
    engine_uids = _string_list(data, "engineDatabaseUids")
    timeout = data.get("timeoutSeconds")
    if timeout is not None and (not isinstance(timeout, int) or isinstance(timeout, bool)
                                or not 1 <= timeout <= MAX_TIMEOUT_SECONDS):
        raise _content(f"timeoutSeconds must be an integer from 1 to {MAX_TIMEOUT_SECONDS}")
    params = data.get("params")
    if params is not None and (not isinstance(params, dict) or not all(isinstance(v, str) for v in params.values())):
        raise _content("params must be an object of strings")
    # Then the fields one by one.
    if not action_uid:
        raise ClassicError("NO_REMOTE_ACTION_UID", "No remote action UID")
    if not device_uids:
        raise ClassicError("NO_DEVICES", "No devices")
    unique_devices = list(dict.fromkeys(uid.lower() for uid in device_uids))
    if len(unique_devices) > max_devices:
        raise ClassicError("TOO_MANY_DEVICES", f"Too many devices (at most {max_devices})")
    try:
        action_uuid = uuid.UUID(action_uid)
    except ValueError:
        raise ClassicError("INVALID_ACTION_UID", "Invalid remote action UID") from None
    bad = [uid for uid in device_uids if not DEVICE_UID.match(uid)]
    if bad:
        raise ClassicError("INVALID_DEVICE_UID", f"Invalid device UID: {bad[0][:64]}")
    action = RemoteAction.objects.filter(uid=str(action_uuid), enabled=True).first()
    if action is None:
        raise ClassicError("UNKNOWN_OR_DISABLED_REMOTE_ACTION", "Unknown or disabled remote action")
    if not action.manual_enabled:
        raise ClassicError("NO_MANUAL_EXECUTION", "Remote action not configured for manual execution")
    known_inputs = set(action.inputs.values_list("name", flat=True))
    kept = {name: value for name, value in (params or {}).items() if name in known_inputs}
    try:
        services.resolve_params(action, kept)
    except services.RemoteActionError as error:
        raise _content(error.message) from None
    return Call(
        action=action, device_uids=unique_devices,
        engine_uids=list(dict.fromkeys(uid.lower() for uid in engine_uids)) if engine_uids else None,
        timeout_seconds=timeout if timeout is not None else default_timeout, params=kept,
        request_uid=request_uid or "",
    )


def plan(call: Call, account) -> Plan:
    """The targeted Engines, each decided (``excluded``, ``not_connected``, ``no_permission``) or
    left to dispatch (empty code). Raises ``NO_ENGINES_TO_TARGET`` when no known Engine is left."""
    engines = {engine.database_uid.lower(): engine for engine in Engine.objects.all()}
    targets = call.engine_uids if call.engine_uids is not None else sorted(engines, key=lambda u: engines[u].name)
    if not any(uid in engines for uid in targets):
        raise ClassicError("NO_ENGINES_TO_TARGET", "No Engines to target", status=403)
    entity_ids = view_domain_entities(account)
    visible_engines = None
    if entity_ids is not None:
        visible_engines = set(
            Device.objects.filter(entity_id__in=entity_ids).values_list("engine_id", flat=True).distinct()
        )
    result = Plan(request_id=uuid.uuid4())
    for uid in targets:
        engine = engines.get(uid)
        if engine is None:
            result.answers.append(EngineAnswer(uid, EXCLUDED, "Unknown Engine database UID"))
        elif engine.status != Engine.Status.CONNECTED:
            result.answers.append(EngineAnswer(engine.database_uid, NOT_CONNECTED, f"Engine is {engine.status}"))
        elif visible_engines is not None and engine.pk not in visible_engines:
            result.answers.append(EngineAnswer(engine.database_uid, NO_PERMISSION, "No permission on this Engine"))
        else:
            result.answers.append(EngineAnswer(engine.database_uid, engine_id=engine.pk))
    return result


def view_domain_entities(account) -> list[int] | None:
    view_domain = account.profile.view_domain if account is not None else None
    return sorted(view_domain.entity_ids()) if view_domain is not None else None


def dispatch(call: Call, the_plan: Plan, account) -> None:
    """Sends one task per Engine left to dispatch (a failed send is that Engine's ``engine_error``)."""
    from remote_actions.tasks import classic_run_on_engine

    entity_ids = view_domain_entities(account)
    parts = {}
    for answer in the_plan.to_dispatch:
        kwargs = {
            "request_id": str(the_plan.request_id), "engine_id": answer.engine_id, "action_id": call.action.pk,
            "device_uids": call.device_uids, "params": call.params, "entity_ids": entity_ids,
            "request_uid": call.request_uid, "requested_by": account.get_username(),
        }
        parts[answer.engine_id] = ClassicDispatch(request_id=the_plan.request_id, engine_id=answer.engine_id,
                                                  task_kwargs=kwargs)
    ClassicDispatch.objects.bulk_create(parts.values())  # kept before sending: a lost task is sent again
    options = {"queue": QUEUE} if QUEUE else {}
    for answer in the_plan.to_dispatch:
        try:
            answer.task_id = classic_run_on_engine.apply_async(kwargs=parts[answer.engine_id].task_kwargs,
                                                               **options).id
        except Exception as error:  # broker down: this Engine cannot be reached
            log.exception("classic Act API: dispatch to Engine %s failed", answer.database_uid)
            answer.code, answer.message = ENGINE_ERROR, f"dispatch failed: {type(error).__name__}"
            mark_answered(str(the_plan.request_id), answer.engine_id, ENGINE_ERROR)


def wait(the_plan: Plan, timeout_seconds: float, started: float | None = None) -> None:
    """Fills in the dispatched Engines' answers: their task results, or ``timeout`` once
    ``timeout_seconds`` (from ``started``, a ``time.monotonic()``) have passed."""
    deadline = (started if started is not None else time.monotonic()) + timeout_seconds
    pending = [answer for answer in the_plan.answers if not answer.code and answer.task_id]
    while pending:
        for answer in list(pending):
            result = AsyncResult(answer.task_id)
            state = result.state
            if state == "SUCCESS":
                value = result.result if isinstance(result.result, dict) else {}
                answer.code = value.get("code") or ENGINE_ERROR
                answer.message = str(value.get("message") or "")
            elif state in ("FAILURE", "REVOKED"):
                answer.code, answer.message = ENGINE_ERROR, f"Engine task failed: {type(result.result).__name__}"
            else:
                continue
            pending.remove(answer)
        if not pending:
            break
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        time.sleep(min(POLL_INTERVAL_SECONDS, remaining))
    for answer in pending:
        answer.code, answer.message = TIMEOUT, f"No answer within {timeout_seconds:g} s"


# -- The per-Engine task's body ---------------------------------------------------------------


def _lock_key(request_id: str) -> int:
    return uuid.UUID(request_id).int >> 65  # fits a positive PostgreSQL bigint


def run_on_engine(request_id: str, engine_id: int, action_id: int, device_uids: list[str],
                  params: dict[str, str] | None = None, entity_ids: list[int] | None = None,
                  request_uid: str = "", requested_by: str = "") -> dict[str, str]:
    """One Engine's answer ``{"code", "message"}``: stores an execution for each listed device it
    holds (within ``entity_ids`` when given) in the call's request, then records the part answered.
    Idempotent."""
    answer = _store_on_engine(request_id, engine_id, action_id, device_uids, params, entity_ids, request_uid,
                              requested_by)
    mark_answered(request_id, engine_id, answer["code"])
    return answer


def mark_answered(request_id: str, engine_id: int, code: str) -> None:
    ClassicDispatch.objects.filter(request_id=request_id, engine_id=engine_id, answered=None).update(
        answered=timezone.now(), outcome=code)


def _store_on_engine(request_id: str, engine_id: int, action_id: int, device_uids: list[str],
                     params: dict[str, str] | None, entity_ids: list[int] | None, request_uid: str,
                     requested_by: str) -> dict[str, str]:
    engine = Engine.objects.filter(pk=engine_id).first()
    if engine is None:
        return {"code": ENGINE_ERROR, "message": "Engine no longer exists"}
    if engine.status != Engine.Status.CONNECTED:
        return {"code": NOT_CONNECTED, "message": f"Engine is {engine.status}"}
    action = RemoteAction.objects.filter(pk=action_id, enabled=True, manual_enabled=True).first()
    if action is None:
        return {"code": ENGINE_ERROR, "message": "Remote action no longer enabled for manual execution"}
    devices = Device.objects.filter(engine=engine, device_uid__in=device_uids)
    if entity_ids is not None:
        devices = devices.filter(entity_id__in=entity_ids)
    pairs = dict(devices.values_list("pk", "platform"))
    if not pairs:
        return {"code": OK, "message": ""}
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_lock_key(request_id)])
            if Execution.objects.filter(request_id=request_id, device__engine_id=engine.pk).exists():
                return {"code": OK, "message": ""}  # a redelivered task: already stored
            request = Request.objects.filter(pk=request_id).first()
            if request is None:
                services.create_request(
                    action, list(pairs.items()), params, trigger_method=TriggerMethod.API,
                    trigger_info=services.TriggerInfo(
                        external_source=EXTERNAL_SOURCE, external_reference=request_uid, requested_by=requested_by,
                    ),
                    request_id=uuid.UUID(request_id),
                )
            else:
                supported = {p for p in ("windows", "mac_os") if action.script_for(p)}
                services.copy_executions(request, action, pairs, supported, timezone.now())
    except services.RemoteActionError as error:
        return {"code": ENGINE_ERROR, "message": error.message}
    return {"code": OK, "message": ""}


# -- Parts whose task was lost ---------------------------------------------------------------------


def redo_lost_dispatches(redo_after: float | None = None) -> dict[str, int]:
    """Sends again each part unanswered for ``redo_after`` seconds (``REDO_AFTER_SECONDS``) since its
    last send; gives up on a part sent ``MAX_SENDS`` times; deletes parts answered over a day ago.
    Returns ``{"sent": n, "abandoned": n, "deleted": n}``."""
    from remote_actions.tasks import classic_run_on_engine

    now = timezone.now()
    cutoff = now - timedelta(seconds=REDO_AFTER_SECONDS if redo_after is None else redo_after)
    options = {"queue": QUEUE} if QUEUE else {}
    sent = abandoned = 0
    with transaction.atomic():
        lost = ClassicDispatch.objects.select_for_update(skip_locked=True).filter(answered=None, sent__lte=cutoff)
        for part in lost:
            if part.attempts >= MAX_SENDS:
                log.error("classic Act API: Engine %s never answered request %s after %d sends; given up",
                          part.engine_id, part.request_id, part.attempts)
                part.answered, part.outcome = now, ABANDONED
                part.save(update_fields=["answered", "outcome"])
                abandoned += 1
                continue
            log.warning("classic Act API: Engine %s has not answered request %s (sent %d times); sending again",
                        part.engine_id, part.request_id, part.attempts)
            classic_run_on_engine.apply_async(kwargs=part.task_kwargs, **options)
            part.attempts += 1
            part.sent = now
            part.save(update_fields=["attempts", "sent"])
            sent += 1
    deleted, _ = ClassicDispatch.objects.filter(
        answered__lt=now - timedelta(seconds=KEEP_ANSWERED_SECONDS)).delete()
    return {"sent": sent, "abandoned": abandoned, "deleted": deleted}
