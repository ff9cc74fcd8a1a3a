"""Body validation of the device channel: strict JSON objects (unknown fields and wrong types refused).

A refused body is answered ``400 {"code": "INVALID_REQUEST", "message": "...", "errors": {field:
message}}``; ``errors`` is empty when the body is not a JSON object at all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field


class BodyError(Exception):
    def __init__(self, message: str, errors: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors or {}


@dataclass(frozen=True)
class Spec:
    """Allowed fields: name -> (python types, required)."""

    fields: dict[str, tuple[tuple[type, ...], bool]]
    extra_allowed: bool = False
    nullable: frozenset[str] = field(default_factory=frozenset)


STR = (str,)
ENROLL = Spec({
    "enrollSecret": (STR, True), "collectorUid": (STR, True), "deviceUid": (STR, False), "name": (STR, False),
    "platform": (STR, False),
}, extra_allowed=True)  # the collector may send more host facts ("...")
POLL = Spec({"nodeKey": (STR, True)})
RESULT = Spec({
    "nodeKey": (STR, True), "status": (STR, True), "outputs": ((dict,), False), "statusDetails": (STR, False),
}, nullable=frozenset({"outputs", "statusDetails"}))


def parse(body: bytes, spec: Spec) -> dict:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: nested too deeply
        raise BodyError("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise BodyError("the body must be a JSON object")
    errors: dict[str, str] = {}
    for name, (types, required) in spec.fields.items():
        if name not in data:
            if required:
                errors[name] = "this field is required"
            continue
        value = data[name]
        if value is None and name in spec.nullable:
            continue
        if not isinstance(value, types):
            errors[name] = f"must be a {'string' if types == STR else 'JSON object'}"
    if not spec.extra_allowed:
        for name in sorted(set(data) - set(spec.fields)):
            errors[name] = "unknown field"
    if errors:
        raise BodyError("invalid body", errors)
    return data
