"""Exporter payload rendering: template rules and exact request bodies (no database)."""

import json
from datetime import UTC, datetime

import pytest

from engine.query.render import ResultColumn
from engine.schema import FieldType
from exporters.rendering import NDJSON, TemplateError, parse_template, render_batch

COLUMNS = [
    ResultColumn("device.name", FieldType.STRING),
    ResultColumn("device.total_ram", FieldType.BYTES),
    ResultColumn("device.cpu_usage", FieldType.REAL),
    ResultColumn("device.online", FieldType.BOOL),
    ResultColumn("device.last_seen", FieldType.DATETIME),
    ResultColumn("device.tags", FieldType.LIST),
]
SEEN = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
ROWS = [
    ("pc-1", 1024, 3, True, SEEN, ["a", "b"]),
    ("pc-2", None, 0.5, False, None, []),
]
JSON_TYPE = "application/json; charset=utf-8"


def render(structure: str, payload, rows=ROWS, columns=COLUMNS) -> tuple[bytes, str]:
    text = payload if isinstance(payload, str) else json.dumps(payload)
    return render_batch(parse_template(structure, text), columns, rows)


def test_collection_is_one_object_per_line() -> None:
    body, content_type = render("collection", {"name": "{{device.name}}", "ram": "{{device.total_ram}}"})
    assert content_type == NDJSON == "application/x-ndjson"
    assert body == b'{"name":"pc-1","ram":1024}\n{"name":"pc-2","ram":null}\n'


def test_array() -> None:
    body, content_type = render("array", {"name": "{{device.name}}"})
    assert content_type == JSON_TYPE
    assert body == b'[{"name":"pc-1"},{"name":"pc-2"}]'


def test_object_with_array_keeps_the_constant_properties() -> None:
    template = {"source": "opendex", "records": [{"n": "{{device.name}}"}], "version": 2}
    body, content_type = render("object_with_array", template)
    assert content_type == JSON_TYPE
    assert body == b'{"source":"opendex","records":[{"n":"pc-1"},{"n":"pc-2"}],"version":2}'


def test_empty_batch() -> None:
    assert render("collection", {"n": "{{device.name}}"}, rows=[])[0] == b""
    assert render("array", {"n": "{{device.name}}"}, rows=[])[0] == b"[]"
    assert render("object_with_array", {"r": [{"n": "{{device.name}}"}]}, rows=[])[0] == b'{"r":[]}'


def test_typed_placeholders() -> None:
    template = {"ram": "{{device.total_ram}}", "cpu": "{{device.cpu_usage}}", "online": "{{device.online}}",
                "seen": "{{device.last_seen}}", "tags": "{{device.tags}}", "nested": {"list": ["{{device.name}}"]}}
    body, _ = render("array", template)
    assert json.loads(body) == [
        {"ram": 1024, "cpu": 3.0, "online": True, "seen": "2024-05-01T12:30:00Z", "tags": ["a", "b"],
         "nested": {"list": ["pc-1"]}},
        {"ram": None, "cpu": 0.5, "online": False, "seen": None, "tags": [], "nested": {"list": ["pc-2"]}},
    ]
    assert b'"seen":"2024-05-01T12:30:00Z"' in body
    assert b'"ram":null' in body


def test_placeholder_inside_a_longer_string_is_the_values_text() -> None:
    template = {"d": "{{device.name}} has {{device.total_ram}} B, online={{device.online}}, seen {{device.last_seen}}",
                "t": "tags: {{ device.tags }}"}
    body, _ = render("collection", template)
    assert body.decode().splitlines() == [
        '{"d":"pc-1 has 1024 B, online=true, seen 2024-05-01T12:30:00Z","t":"tags: [\\"a\\",\\"b\\"]"}',
        '{"d":"pc-2 has  B, online=false, seen ","t":"tags: []"}',
    ]


@pytest.mark.parametrize("name", [
    'quote " and backslash \\', "line\nbreak\r\ttab", "unicode é ✓ 𝄞", '"}, {"injected": true}, {"x": "',
    "{{device.total_ram}}", "\x00\x1f",
])
@pytest.mark.parametrize("structure", ["collection", "array", "object_with_array"])
def test_a_value_can_never_break_the_payload(structure: str, name: str) -> None:
    record = {"exact": "{{device.name}}", "inside": "<{{device.name}}>"}
    template = {"records": [record]} if structure == "object_with_array" else record
    body, _ = render(structure, template, rows=[(name, 1, 1.0, True, SEEN, [name])])
    text = body.decode("utf-8")
    if structure == "collection":
        assert text.endswith("\n") and text.count("\n") == 1
        records = [json.loads(text)]
    elif structure == "array":
        records = json.loads(text)
    else:
        records = json.loads(text)["records"]
    assert records == [{"exact": name, "inside": f"<{name}>"}]


def test_unicode_is_written_as_utf8() -> None:
    body, _ = render("array", {"n": "{{device.name}}"}, rows=[("café ✓", *ROWS[0][1:])])
    assert body == '[{"n":"café ✓"}]'.encode()


def test_constant_template_repeats_the_same_object() -> None:
    template = parse_template("collection", '{"kind": "device", "count": 1, "ok": true, "x": null}')
    assert template.placeholders == ()
    body, _ = render_batch(template, COLUMNS, ROWS)
    assert body == b'{"kind":"device","count":1,"ok":true,"x":null}\n' * 2


def test_placeholders_are_listed_in_order() -> None:
    template = parse_template("array", '{"a": "{{device.name}} {{device.tags}}", "b": ["{{device.name}}"]}')
    assert template.placeholders == ("device.name", "device.tags")


@pytest.mark.parametrize(("structure", "payload", "message"), [
    ("array", "{", "not valid JSON at line 1, column 2"),
    ("array", "", "not valid JSON"),
    ("collection", "[]", "must be one JSON object"),
    ("array", '[{"a": 1}]', "must be one JSON object"),
    ("array", '"text"', "must be one JSON object"),
    ("object_with_array", "[]", "one JSON object with one array"),
    ("object_with_array", '{"a": 1}', "exactly one property whose value is an array"),
    ("object_with_array", '{"a": [{}], "b": [{}]}', "holding the record template (it has 2)"),
    ("object_with_array", '{"a": []}', "must hold exactly one JSON object"),
    ("object_with_array", '{"a": [{}, {}]}', "must hold exactly one JSON object"),
    ("object_with_array", '{"a": [1]}', "must hold exactly one JSON object"),
    ("object_with_array", '{"s": "{{device.name}}", "a": [{}]}',
     "Placeholders are allowed only in the record template"),
    ("array", '{"{{device.name}}": 1}', "not in property names"),
    ("array", '{"a": "{{}}"}', "A placeholder is empty"),
    ("table", "{}", "Choose a payload structure"),
])
def test_template_errors(structure: str, payload: str, message: str) -> None:
    with pytest.raises(TemplateError) as caught:
        parse_template(structure, payload)
    assert message in str(caught.value)


def test_rendering_with_a_missing_column_is_refused() -> None:
    template = parse_template("array", '{"a": "{{device.nope}}"}')
    with pytest.raises(TemplateError, match=r"device\.nope"):
        render_batch(template, COLUMNS, ROWS)
