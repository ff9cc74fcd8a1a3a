"""Literal values of the query languages, read once for NXQL and NQL.

Each reader takes the literal's text and returns the Python value the SQL generator binds as a
parameter (durations in milliseconds, byte sizes in bytes, datetimes in UTC), or raises
``ValueError`` with a short reason; the front ends turn that into a positioned ``QueryError``.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime, timedelta

from engine.schema import FieldType

DURATION_UNITS_MS = {
    "ms": 1,
    "s": 1000,
    "sec": 1000,
    "m": 60_000,
    "min": 60_000,
    "h": 3_600_000,
    "d": 86_400_000,
    "w": 7 * 86_400_000,
}
BYTE_UNITS = {"b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3, "tb": 1024**4}

_INTEGER = re.compile(r"[+-]?\d+")
_REAL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_WITH_UNIT = re.compile(r"(\d+(?:\.\d+)?)\s*([A-Za-z]*)")
_CLOCK = re.compile(r"(?:(\d+)\.)?(\d+):(\d{1,2}):(\d{1,2})(?:\.(\d{1,3}))?")
_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:[@T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?(Z|[+-]00:?00)?"
)
MAX_BIGINT = 2**63 - 1


def read_integer(text: str) -> int:
    if not _INTEGER.fullmatch(text):
        raise ValueError("not an integer")
    value = int(text)
    if abs(value) > MAX_BIGINT:
        raise ValueError("integer out of range")
    return value


def read_real(text: str) -> float:
    if not _REAL.fullmatch(text):
        raise ValueError("not a number")
    value = float(text)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError("not a finite number")
    return value


def read_boolean(text: str) -> bool:
    lowered = text.lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    raise ValueError("not true or false")


def read_duration(text: str) -> int:
    """Milliseconds from ``500ms``, ``12s``, ``4min``, ``3h``, ``2d``, ``1w``, ``1:02:03``; bare = ms."""
    text = text.strip()
    clock = _CLOCK.fullmatch(text)
    if clock:
        days, hours, minutes, seconds, millis = clock.groups()
        total = ((int(days or 0) * 24 + int(hours)) * 60 + int(minutes)) * 60 + int(seconds)
        return _bounded(total * 1000 + int((millis or "0").ljust(3, "0")))
    match = _WITH_UNIT.fullmatch(text)
    if not match:
        raise ValueError("not a duration")
    number, unit = match.groups()
    factor = DURATION_UNITS_MS.get(unit.lower() if unit else "ms")
    if factor is None:
        raise ValueError(f"unknown duration unit '{unit}'")
    return _bounded(round(float(number) * factor))


def read_bytes(text: str) -> int:
    """Bytes from ``512``, ``100B``, ``3KB``, ``1.5MB``, ``2GB``, ``1TB`` (powers of 1024)."""
    match = _WITH_UNIT.fullmatch(text.strip())
    if not match:
        raise ValueError("not a byte size")
    number, unit = match.groups()
    factor = BYTE_UNITS.get(unit.lower() if unit else "b")
    if factor is None:
        raise ValueError(f"unknown byte unit '{unit}'")
    return _bounded(round(float(number) * factor))


def read_datetime(text: str) -> datetime:
    """UTC datetime from ``2024-01-31@13:45:00``, ``2024-01-31 13:45``, ``2024-01-31`` or ISO 8601."""
    match = _DATETIME.fullmatch(text.strip())
    if not match:
        raise ValueError("not a datetime (expected YYYY-MM-DD@hh:mm:ss)")
    year, month, day, hour, minute, second, _zone = match.groups()
    try:
        return datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0),
                        tzinfo=UTC)
    except ValueError as error:
        raise ValueError(f"not a valid datetime ({error})") from None


def read_ip(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """An address or a network (``10.1.0.0/16``); an address is a network of one."""
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise ValueError("not an IP address or network") from None


def read_enum(text: str, allowed: tuple[str, ...]) -> str:
    lowered = text.lower()
    if allowed and lowered not in allowed:
        raise ValueError(f"'{text}' is not one of {', '.join(allowed)}")
    return lowered


def _bounded(value: int) -> int:
    if abs(value) > MAX_BIGINT:
        raise ValueError("value out of range")
    return value


def relative_time(word: str, now: datetime) -> datetime:
    """``now``, ``midnight`` (00:00 UTC today), optionally minus ``N<unit>`` (s, m/min, h, d, w)."""
    match = re.fullmatch(r"(now|midnight)(?:-(\d+)(s|m|min|h|d|w))?", word.strip().lower())
    if not match:
        raise ValueError("not a time (now, midnight, now-7d, midnight-1d or a datetime)")
    base_word, amount, unit = match.groups()
    base = now if base_word == "now" else now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if amount is None:
        return base
    try:
        return base - timedelta(milliseconds=int(amount) * DURATION_UNITS_MS[unit])
    except OverflowError:
        raise ValueError("time out of range") from None


READERS = {
    FieldType.INT: read_integer,
    FieldType.ID: read_integer,
    FieldType.REAL: read_real,
    FieldType.PERCENT: read_real,
    FieldType.BOOL: read_boolean,
    FieldType.DURATION: read_duration,
    FieldType.BYTES: read_bytes,
    FieldType.DATETIME: read_datetime,
    FieldType.IP: read_ip,
}


def read_value(field_type: FieldType, text: str, enum_values: tuple[str, ...] = ()):
    """The Python value of ``text`` read as a literal of ``field_type``."""
    if field_type is FieldType.ENUM:
        return read_enum(text, enum_values)
    reader = READERS.get(field_type)
    return reader(text) if reader else text
