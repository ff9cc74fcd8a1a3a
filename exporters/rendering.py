"""Exporter payloads: parse a record template and render batches of query rows with it (pure, no database).

A template is JSON text. ``{{column}}`` placeholders may appear inside string values of the record
template only. A string that is exactly one placeholder becomes the value's typed JSON form; a
placeholder inside a longer string is replaced by the value's text. Records are built as Python
objects and serialised with ``json.dumps``, so no value can break the payload's structure.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from engine.exports import json_value

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


def _fill(value, values: dict[str, object]):
    if isinstance(value, str):
        whole = PLACEHOLDER.fullmatch(value)
        if whole is not None:
            return values[whole.group(1)]
        if "{{" not in value:
            return value
        return PLACEHOLDER.sub(lambda match: value_text(values[match.group(1)]), value)
    if isinstance(value, dict):
        return {key: _fill(item, values) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill(item, values) for item in value]
    return value


def render_records(template: Template, columns: Sequence, rows: Iterable[Sequence]) -> list:
    """The records (Python objects) of ``rows``; ``columns`` have ``.name`` and ``.type``."""
    names = [column.name for column in columns]
    missing = [name for name in template.placeholders if name not in names]
    if missing:
        raise TemplateError("Unknown placeholders " + braces(missing)
                            + "; the query's columns are " + ", ".join(names) + ".")
    wanted = [(index, column) for index, column in enumerate(columns) if column.name in template.placeholders]
    records = []
    for row in rows:
        values = {column.name: json_value(row[index], column.type) for index, column in wanted}
        records.append(_fill(template.record, values))
    return records


def _dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def render_batch(template: Template, columns: Sequence, rows: Iterable[Sequence]) -> tuple[bytes, str]:
    """The request body of one batch of rows and its content type."""
    records = render_records(template, columns, rows)
    if template.structure == COLLECTION:
        return "".join(_dumps(record) + "\n" for record in records).encode(), NDJSON
    if template.structure == ARRAY:
        return _dumps(records).encode(), JSON
    body = {key: (records if key == template.array_key else value) for key, value in template.wrapper.items()}
    return _dumps(body).encode(), JSON
