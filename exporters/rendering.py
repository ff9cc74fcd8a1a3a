"""Exporter payloads: parse a record template and render batches of query rows with it (pure, no database).

A template is JSON text. ``{{column}}`` placeholders may appear inside string values of the record
template only. A string that is exactly one placeholder becomes the value's typed JSON form; a
placeholder inside a longer string is replaced by the value's text. Records are built as Python
objects and serialised with ``json.dumps``, so no value can break the payload's structure.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from json.encoder import encode_basestring  # C-accelerated; keeps non-ASCII as is

from engine.exports import json_value
from engine.query.render import format_text
from engine.schema.types import FieldType

COLLECTION = "collection"
ARRAY = "array"
OBJECT_WITH_ARRAY = "object_with_array"
STRUCTURES = (COLLECTION, ARRAY, OBJECT_WITH_ARRAY)

NDJSON = "application/x-ndjson"
JSON = "application/json; charset=utf-8"

PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")


def braces(names: Iterable[str]) -> str:
    """``{{a}}, {{b}}``: placeholder names as written in a template."""
    return ", ".join("{{" + name + "}}" for name in names)


class TemplateError(ValueError):
    """A payload that is not valid JSON or does not match its structure (message for the user)."""


@dataclass(frozen=True)
class Template:
    structure: str
    record: object  # the record template (a dict), placeholders still in its strings
    wrapper: dict | None = None  # object_with_array: the whole object
    array_key: str | None = None  # object_with_array: the property holding the records
    placeholders: tuple[str, ...] = field(default=())  # in order of first appearance


def _placeholders_in(value, found: list[str]) -> None:
    if isinstance(value, str):
        for match in PLACEHOLDER.finditer(value):
            if match.group(1) not in found:
                found.append(match.group(1))
    elif isinstance(value, dict):
        for key, item in value.items():
            _placeholders_in(key, found)
            _placeholders_in(item, found)
    elif isinstance(value, list):
        for item in value:
            _placeholders_in(item, found)


def parse_template(structure: str, payload_json: str) -> Template:
    """The template of ``payload_json`` for ``structure``; ``TemplateError`` says what is wrong."""
    if structure not in STRUCTURES:
        raise TemplateError(f"Choose a payload structure: {', '.join(STRUCTURES)}.")
    try:
        payload = json.loads(payload_json)
    except (ValueError, TypeError) as error:
        where = f" at line {error.lineno}, column {error.colno}" if isinstance(error, json.JSONDecodeError) else ""
        raise TemplateError(f"The payload is not valid JSON{where}.") from None
    if not isinstance(payload, dict):
        if structure == OBJECT_WITH_ARRAY:
            raise TemplateError('The payload must be one JSON object with one array holding the record template, '
                                'for example {"source": "opendex", "records": [{"name": "{{device.name}}"}]}.')
        raise TemplateError('The payload must be one JSON object (the template for one record), for example '
                            '{"name": "{{device.name}}"}.')
    if structure != OBJECT_WITH_ARRAY:
        record, wrapper, array_key = payload, None, None
    else:
        arrays = [key for key, value in payload.items() if isinstance(value, list)]
        if len(arrays) != 1:
            raise TemplateError("The payload object must have exactly one property whose value is an array "
                                f"holding the record template (it has {len(arrays)}).")
        array_key = arrays[0]
        items = payload[array_key]
        if len(items) != 1 or not isinstance(items[0], dict):
            raise TemplateError(f"The array “{array_key}” must hold exactly one JSON object: the record template.")
        record, wrapper = items[0], payload
        outside: list[str] = []
        _placeholders_in({key: value for key, value in payload.items() if key != array_key}, outside)
        _placeholders_in(array_key, outside)
        if outside:
            raise TemplateError("Placeholders are allowed only in the record template (inside "
                                f"“{array_key}”), not in " + braces(outside) + ".")
    keys: list[str] = []
    _placeholders_in(list(_keys(record)), keys)
    if keys:
        raise TemplateError("Placeholders are allowed only in values, not in property names: "
                            + braces(keys) + ".")
    found: list[str] = []
    _placeholders_in(record, found)
    if "" in found:
        raise TemplateError("A placeholder is empty: write {{column}} with a column name.")
    return Template(structure, record, wrapper, array_key, tuple(found))


def _keys(value) -> Iterable[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from _keys(item)


def value_text(value) -> str:
    """The text of a JSON value inside a longer string."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def _dumps(value) -> str:
    """Compact JSON text of a value; the common scalar types without the general encoder."""
    kind = type(value)
    if kind is str:
        return encode_basestring(value)
    if kind is int:
        return str(value)
    if value is None:
        return "null"
    return _encode(value)


def _unused_marker(text: str) -> str:
    """A string that does not occur in ``text`` (to cut a serialised template into pieces)."""
    index = 0
    while (marker := f"\x00opendex-{index}\x00") in text or _dumps(marker) in text:
        index += 1
    return marker


class RecordRenderer:
    """Renders rows into records (JSON text) fast: the record template is serialised once into constant
    pieces and slots; a row only fills the slots. A slot is a whole-value placeholder (the typed JSON
    value) or a string with embedded placeholders (the string with the values' text, JSON-escaped).
    ``render(row)`` is compiled per template and columns."""

    def __init__(self, template: Template, columns: Sequence):
        names = [column.name for column in columns]
        missing = [name for name in template.placeholders if name not in names]
        if missing:
            raise TemplateError("Unknown placeholders " + braces(missing)
                                + "; the query's columns are " + ", ".join(names) + ".")
        self._slots = [(names.index(name), columns[names.index(name)].type) for name in template.placeholders]
        self._slot_of = {name: slot for slot, name in enumerate(template.placeholders)}
        pieces: list = []
        self._encode(template.record, pieces)
        self.render = self._compile(self._merge(pieces))

    def _encode(self, value, pieces: list) -> None:
        if isinstance(value, str):
            whole = PLACEHOLDER.fullmatch(value)
            if whole is not None:
                pieces.append(("value", self._slot_of[whole.group(1)]))
            elif "{{" in value and PLACEHOLDER.search(value):
                # "text {{a}} more": alternating constant text and slots, joined then JSON-escaped
                parts: list = []
                position = 0
                for match in PLACEHOLDER.finditer(value):
                    parts.append(value[position:match.start()])
                    parts.append(self._slot_of[match.group(1)])
                    position = match.end()
                parts.append(value[position:])
                pieces.append(("text", tuple(parts)))
            else:
                pieces.append(_dumps(value))
        elif isinstance(value, dict):
            pieces.append("{")
            for index, (key, item) in enumerate(value.items()):
                pieces.append(("," if index else "") + _dumps(key) + ":")
                self._encode(item, pieces)
            pieces.append("}")
        elif isinstance(value, list):
            pieces.append("[")
            for index, item in enumerate(value):
                if index:
                    pieces.append(",")
                self._encode(item, pieces)
            pieces.append("]")
        else:
            pieces.append(_dumps(value))

    @staticmethod
    def _merge(pieces: list) -> list:
        merged: list = []
        for piece in pieces:
            if isinstance(piece, str) and merged and isinstance(merged[-1], str):
                merged[-1] += piece
            else:
                merged.append(piece)
        return merged

    def _compile(self, pieces: list) -> Callable[[Sequence], str]:
        """The record function: one expression joining the constant pieces and the slots (constants
        and converters are bound as default arguments, so the function only reads locals)."""
        bound: dict[str, object] = {"D": _dumps, "T": value_text}
        terms = []
        for number, piece in enumerate(pieces):
            if isinstance(piece, str):
                bound[f"c{number}"] = piece
                terms.append(f"c{number}")
            elif piece[0] == "value":
                index, field_type = self._slots[piece[1]]
                bound[f"j{number}"] = json_text_converter(field_type)
                terms.append(f"j{number}(row[{index}])")
            else:
                parts = []
                for part_number, part in enumerate(piece[1]):
                    if isinstance(part, str):
                        bound[f"c{number}_{part_number}"] = part
                        parts.append(f"c{number}_{part_number}")
                    else:
                        index, field_type = self._slots[part]
                        bound[f"v{number}_{part_number}"] = functools.partial(json_value, field_type=field_type)
                        parts.append(f"T(v{number}_{part_number}(row[{index}]))")
                terms.append(f"D({' + '.join(parts)})")
        source = (f"def render(row, {', '.join(f'{name}={name}' for name in bound)}):\n"
                  f"    return ''.join(({', '.join(terms)},))\n")
        namespace: dict = dict(bound)
        exec(compile(source, "<record template>", "exec"), namespace)
        return namespace["render"]


def json_text_converter(field_type) -> Callable[[object], str]:
    """A column's values as JSON text, as ``_dumps(json_value(value, field_type))`` gives them, with the
    frequent cases (absent values, text, whole numbers, datetimes) taken directly."""
    if field_type in (FieldType.STRING, FieldType.ENUM, FieldType.UID):
        def convert(value) -> str:
            if type(value) is str:
                return encode_basestring(value)
            return "null" if value is None else _dumps(json_value(value, field_type))
    elif field_type == FieldType.DATETIME:
        def convert(value) -> str:
            if type(value) is datetime:
                return '"' + format_text(value, field_type) + '"'
            return "null" if value is None else _dumps(json_value(value, field_type))
    elif field_type in (FieldType.INT, FieldType.BYTES, FieldType.DURATION):
        def convert(value) -> str:
            if type(value) is int:
                return str(value)
            return "null" if value is None else _dumps(json_value(value, field_type))
    else:
        def convert(value) -> str:
            return _dumps(json_value(value, field_type))
    return convert


class Envelope:
    """How records are joined into a request body for a payload structure: bytes before the first
    record, between records and after the last."""

    def __init__(self, template: Template):
        if template.structure == COLLECTION:
            self.head, self.separator, self.tail, self.content_type = b"", b"\n", b"\n", NDJSON
        elif template.structure == ARRAY:
            self.head, self.separator, self.tail, self.content_type = b"[", b",", b"]", JSON
        else:
            text = _dumps(template.wrapper)
            marker = _unused_marker(text)
            wrapper = {key: (marker if key == template.array_key else value)
                       for key, value in template.wrapper.items()}
            head, tail = _dumps(wrapper).split(_dumps(marker))
            self.head, self.separator, self.tail = (head + "[").encode(), b",", ("]" + tail).encode()
            self.content_type = JSON

    def body(self, records: Sequence[bytes]) -> bytes:
        if not records and self.content_type == NDJSON:
            return b""  # no lines at all, not one empty line
        return self.head + self.separator.join(records) + self.tail

    def size(self, record_bytes: int, records: int) -> int:
        """The body's size for ``records`` records of ``record_bytes`` bytes in all."""
        return len(self.head) + record_bytes + len(self.separator) * max(records - 1, 0) + len(self.tail)


def render_records(template: Template, columns: Sequence, rows: Iterable[Sequence]) -> list:
    """The records of ``rows`` as Python objects (for showing them; sending uses ``render_batch``)."""
    renderer = RecordRenderer(template, columns)
    return [json.loads(renderer.render(row)) for row in rows]


def render_batch(template: Template, columns: Sequence, rows: Iterable[Sequence]) -> tuple[bytes, str]:
    """The request body of one batch of rows and its content type."""
    renderer = RecordRenderer(template, columns)
    envelope = Envelope(template)
    return envelope.body([renderer.render(row).encode() for row in rows]), envelope.content_type
