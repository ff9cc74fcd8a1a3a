"""Field types of the data model (``data-model.md``, *Types*)."""

from __future__ import annotations

from enum import Enum


class FieldType(Enum):
    """A field's type: how it is stored, compared and rendered.

    The value is the name NXQL uses in typed values where one exists (``(integer 3)``,
    ``(bytes 1024)``); ``unit`` is the unit of the stored number, if any.
    """

    STRING = "string"
    ENUM = "enum"
    INT = "integer"
    REAL = "real"
    BOOL = "boolean"
    DATETIME = "datetime"
    DURATION = "duration"
    BYTES = "bytes"
    PERCENT = "percent"
    IP = "ip_address"
    UID = "uid"
    LIST = "list"
    ID = "id"

    @property
    def unit(self) -> str | None:
        return _UNITS.get(self)

    @property
    def is_ordered(self) -> bool:
        """Whether lt/le/gt/ge make sense (numbers, datetimes, durations, bytes, strings)."""
        return self in _ORDERED

    @property
    def is_textual(self) -> bool:
        """Compared case-insensitively, with patterns (string, enum)."""
        return self in (FieldType.STRING, FieldType.ENUM)

    @property
    def is_numeric(self) -> bool:
        return self in _NUMERIC


_UNITS = {
    FieldType.DURATION: "ms",
    FieldType.BYTES: "B",
    FieldType.PERCENT: "ratio",
}
_NUMERIC = frozenset(
    {FieldType.INT, FieldType.REAL, FieldType.DURATION, FieldType.BYTES, FieldType.PERCENT, FieldType.ID}
)
_ORDERED = _NUMERIC | {FieldType.DATETIME, FieldType.STRING, FieldType.UID}


class Privacy(Enum):
    """Which data-privacy level hides a field (``platform.md``, *data_privacy*)."""

    NONE = "none"  # never hidden
    USER = "user"  # user-identifying: hidden at partial and full
    DEVICE = "device"  # device-identifying: hidden at full

    def hidden_at(self, data_privacy: str) -> bool:
        if self is Privacy.USER:
            return data_privacy in ("partial", "full")
        if self is Privacy.DEVICE:
            return data_privacy == "full"
        return False
