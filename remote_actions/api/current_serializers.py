"""The current remote-actions API's JSON (``remote-actions.md``, "Current API (Bearer token)").

- ``action_json``: the object of ``GET /api/v1/act/remote-action`` (and ``/details``); script
  bodies are never part of it, only ``hasScriptWindows`` / ``hasScriptMacOs``.
- ``list_filters``: the list's query parameters, checked strictly.
- ``parse_execute``: the body of ``POST /api/v1/act/execute``, every structural check that answers
  ``400 INVALID_REQUEST``; the domain checks (device count, action, devices, params) are the view's.

Every refusal is a ``RequestInvalid`` (the view answers ``400 {"code": "INVALID_REQUEST", "message"}``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from remote_actions.models import Purpose, RemoteAction
from remote_actions.services import DEFAULT_EXPIRES_IN_MINUTES, MAX_EXPIRES_IN_MINUTES, MIN_EXPIRES_IN_MINUTES

UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
NQL_ID_RE = re.compile(r"#[a-z0-9_]{1,255}")
MAX_REASON = 500
MAX_TEXT = 255  # externalSource / externalReference columns
EXECUTE_FIELDS = ("remoteActionId", "devices", "params", "expiresInMinutes", "triggerInfo")
TRIGGER_FIELDS = ("externalSource", "reason", "externalReference")


class RequestInvalid(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


# -- the remote action -----------------------------------------------------------------------


def action_json(action: RemoteAction) -> dict:
    """The API object of an action (inputs and outputs should be prefetched)."""
    return {
        "id": action.nql_id,
        "uuid": action.uid,
        "name": action.name,
        "description": action.description,
        "origin": action.origin,
        "builtInContentVersion": action.built_in_content_version or None,
        "purpose": list(action.purpose or []),
        "targeting": {
            "apiEnabled": action.api_enabled,
            "manualEnabled": action.manual_enabled,
            "workflowEnabled": action.workflow_enabled,
            "manualAllowMultipleDevices": action.manual_allow_multiple_devices,
        },
        "scriptInfo": {
            "runAs": action.run_as,
            "executionServiceDelegate": action.execution_service_delegate or None,
            "timeoutSeconds": action.timeout_seconds,
            "hasScriptWindows": action.has_script_windows,
            "hasScriptMacOs": action.has_script_macos,
            "inputs": [
                {
                    "id": item.name,
                    "name": item.name,
                    "description": item.description,
                    "usedByWindows": item.used_by_windows,
                    "usedByMacOs": item.used_by_macos,
                    "options": list(item.options or []),
                    "allowCustomValue": item.allow_custom_value,
                    "defaultValue": item.default_value,
                }
                for item in action.inputs.all()
            ],
            "outputs": [
                {
                    "id": item.name,
                    "name": item.name,
                    "type": item.type,
                    "description": item.description,
                    "usedByWindows": item.used_by_windows,
                    "usedByMacOs": item.used_by_macos,
                }
                for item in action.outputs.all()
            ],
        },
    }


# -- list filters ----------------------------------------------------------------------------

BOOLEANS = {"true": True, "false": False}


def _flag(getter: Callable[[RemoteAction], bool]):
    def build(value: str):
        if value not in BOOLEANS:
            raise RequestInvalid("must be true or false")
        wanted = BOOLEANS[value]
        return lambda action: getter(action) == wanted

    return build


def _purpose(value: str):
    if value not in Purpose.values:
        raise RequestInvalid(f"must be one of {', '.join(Purpose.values)}")
    return lambda action: value in (action.purpose or [])


def _origin(value: str):
    if value not in RemoteAction.Origin.values:
        raise RequestInvalid(f"must be one of {', '.join(RemoteAction.Origin.values)}")
    return lambda action: action.origin == value


FILTERS = {
    "hasScriptWindows": _flag(lambda action: action.has_script_windows),
    "hasScriptMacOs": _flag(lambda action: action.has_script_macos),
    "apiEnabled": _flag(lambda action: action.api_enabled),
    "manualEnabled": _flag(lambda action: action.manual_enabled),
    "purpose": _purpose,
    "origin": _origin,
}


def list_filters(query) -> list[Callable[[RemoteAction], bool]]:
    """Predicates of the list's query parameters (a ``QueryDict``); unknown, repeated or bad → invalid."""
    predicates = []
    for name in query:
        if name not in FILTERS:
            raise RequestInvalid(f"unknown query parameter '{name}'; expected {', '.join(FILTERS)}")
        values = query.getlist(name)
        if len(values) != 1:
            raise RequestInvalid(f"query parameter '{name}' is given more than once")
        try:
            predicates.append(FILTERS[name](values[0]))
        except RequestInvalid as error:
            raise RequestInvalid(f"query parameter '{name}' {error.message}") from None
    return predicates


# -- execute ---------------------------------------------------------------------------------


@dataclass
class ExecuteBody:
    remote_action_id: str
    devices: list[str]  # canonical (lowercase) collector UIDs, de-duplicated, in the given order
    params: dict[str, str] = field(default_factory=dict)
    expires_in_minutes: int = DEFAULT_EXPIRES_IN_MINUTES
    external_source: str = ""
    external_reference: str = ""
    reason: str = ""


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _storable(value: str) -> bool:
    """PostgreSQL stores neither NUL characters nor lone surrogates."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _text(value, name: str, max_length: int | None = None) -> str:
    if not isinstance(value, str):
        raise RequestInvalid(f"{name} must be a string")
    if not _storable(value):
        raise RequestInvalid(f"{name} contains characters that cannot be stored")
    if max_length is not None and len(value) > max_length:
        raise RequestInvalid(f"{name} is limited to {max_length} characters")
    return value


def load_json(raw: bytes):
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise RequestInvalid("the body is not valid UTF-8") from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise RequestInvalid("the body is not valid JSON") from None


def parse_execute(raw: bytes) -> ExecuteBody:
    data = load_json(raw)
    if not isinstance(data, dict):
        raise RequestInvalid("the body must be a JSON object")
    unknown = [name for name in data if name not in EXECUTE_FIELDS]
    if unknown:
        raise RequestInvalid(f"unknown field '{unknown[0]}'; expected {', '.join(EXECUTE_FIELDS)}"[:1000])

    action_id = data.get("remoteActionId")
    if action_id is None:
        raise RequestInvalid("remoteActionId is required")
    action_id = _text(action_id, "remoteActionId")
    if not action_id:
        raise RequestInvalid("remoteActionId must not be empty")

    devices = data.get("devices")
    if devices is None:
        raise RequestInvalid("devices is required")
    if not isinstance(devices, list):
        raise RequestInvalid("devices must be an array of collector UIDs")
    if not devices:
        raise RequestInvalid("devices must list at least one collector UID")
    for index, device in enumerate(devices):
        if not isinstance(device, str) or not UUID_RE.fullmatch(device):
            raise RequestInvalid(f"devices[{index}] is not a collector UID (a UUID string)")
    unique = list(dict.fromkeys(device.lower() for device in devices))

    params = data.get("params")
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise RequestInvalid("params must be an object of strings")
    for name, value in params.items():
        if not _storable(name):
            raise RequestInvalid("a parameter name contains characters that cannot be stored")
        _text(value, f"params.{name}")

    expires = data.get("expiresInMinutes")
    if expires is None:
        expires = DEFAULT_EXPIRES_IN_MINUTES
    if not isinstance(expires, int) or isinstance(expires, bool):
        raise RequestInvalid("expiresInMinutes must be an integer")
    if not MIN_EXPIRES_IN_MINUTES <= expires <= MAX_EXPIRES_IN_MINUTES:
        raise RequestInvalid(
            f"expiresInMinutes must be between {MIN_EXPIRES_IN_MINUTES} and {MAX_EXPIRES_IN_MINUTES}"
        )

    trigger = data.get("triggerInfo")
    if trigger is None:
        trigger = {}
    if not isinstance(trigger, dict):
        raise RequestInvalid("triggerInfo must be an object")
    unknown = [name for name in trigger if name not in TRIGGER_FIELDS]
    if unknown:
        raise RequestInvalid(f"unknown field 'triggerInfo.{unknown[0]}'; expected {', '.join(TRIGGER_FIELDS)}"[:1000])
    texts = {}
    for name in TRIGGER_FIELDS:
        value = trigger.get(name)
        texts[name] = "" if value is None else _text(
            value, f"triggerInfo.{name}", MAX_REASON if name == "reason" else MAX_TEXT
        )

    return ExecuteBody(
        remote_action_id=action_id, devices=unique, params=dict(params), expires_in_minutes=expires,
        external_source=texts["externalSource"], external_reference=texts["externalReference"],
        reason=texts["reason"],
    )
