"""Hypothesis on query text and request bodies, through the HTTP APIs (in process, WSGI), every answer
checked like the schemathesis run (``tests.fuzz.harness.assert_answer``: never a 5xx, a documented status,
content type and body shape, no stack trace).

What the existing property tests do not already cover:
- ``tests/engine/test_nxql_fuzz.py`` sends NXQL to ``GET /2/query``; here NXQL goes in ``POST`` form
  bodies (same strategies, imported).
- ``tests/engine/test_nql_fuzz.py`` runs NQL text through ``engine.services``; here the same text reaches
  the NQL API as a saved query's text (saved without validation, as a query saved before a schema
  change would be) and the Configuration API as an exporter's query (validated, then test-loaded).
- JSON bodies: random JSON values under the documented field names, random bytes and content types,
  sent to every operation that takes a body.
"""

from __future__ import annotations

import json
import os
import string
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from engine.models import SavedQuery
from tests.engine import test_nql_fuzz as nql_fuzz
from tests.engine import test_nxql_fuzz as nxql_fuzz
from tests.fuzz.harness import DOCUMENT, OPERATIONS, call, label, operation, preferred_identity, raw_call

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("OPENDEX_FUZZ_BODY_EXAMPLES", "60"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                suppress_health_check=list(HealthCheck))

# -- strategies -------------------------------------------------------------------------------------------

texts = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", " ", "\x00", "\ud800", "é", "#all_devices", "*", "true", "null", "1e400", "9" * 30]),
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(min_value=-(2**80), max_value=2**80),
                    st.floats(allow_nan=False, allow_infinity=False), texts)
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(texts, inner, max_size=4)), max_leaves=12)
content_types = st.sampled_from([
    "application/json", "application/json; charset=utf-8", "application/json; charset=latin-1",
    "application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x", "", "application/xml",
])
raw_bytes = st.one_of(st.binary(max_size=64), st.sampled_from([
    b"", b"{}", b"[]", b"null", b"{", b'{"a":', b"\xff\xfe{}", b'{"a": NaN}', b'{"a": Infinity}', b"1e99999",
    b'"\\ud800"', b"[" * 5000 + b"]" * 5000, b'{"x": "\\u0000"}', b"\xef\xbb\xbf{}", b"grant_type=client_credentials",
    b"a=1&a=2&" * 30,
]))


def fields_of(op) -> list[str]:
    """The documented property names of the operation's request body (nested ones included)."""
    content = DOCUMENT["paths"][op.path][op.method.lower()].get("requestBody", {}).get("content", {})
    names: list[str] = []

    def walk(node, depth=0):
        if depth > 6 or not isinstance(node, dict):
            return
        if "$ref" in node:
            _, _, kind, name = node["$ref"].split("/")
            walk(DOCUMENT["components"][kind][name], depth + 1)
            return
        for name, value in node.get("properties", {}).items():
            names.append(name)
            walk(value, depth + 1)
        for key in ("items", "additionalProperties"):
            walk(node.get(key), depth + 1)
        for key in ("allOf", "oneOf", "anyOf"):
            for item in node.get(key, []):
                walk(item, depth + 1)

    for media in content.values():
        walk(media.get("schema"))
    return sorted(set(names)) or ["x"]


BODY_OPERATIONS = [op for op in OPERATIONS
                   if DOCUMENT["paths"][op.path][op.method.lower()].get("requestBody")]


def path_parameters(op, world) -> dict[str, str]:
    found = {}
    for name in ("uid", "executionId"):
        if "{" + name + "}" in op.path:
            pool = world.values["executionId"] if name == "executionId" else world.values[
                "exporter uid" if "/exporters/" in op.path else "credential uid"]
            found[name] = pool[-1]
    return found


@st.composite
def bodies(draw, op, world):
    """A body for ``op``: JSON under its field names (real values now and then), or any bytes."""
    kind = draw(st.integers(0, 4))
    if kind == 0:
        return draw(raw_bytes), draw(content_types)
    names = fields_of(op)
    value = draw(st.dictionaries(st.sampled_from([*names, "unknown"]), json_values, max_size=6))
    for name in list(value):
        if name in world.values and draw(st.booleans()):
            value[name] = draw(st.sampled_from(world.values[name]))
    if kind == 1:
        value = draw(json_values)
    media = next(iter(DOCUMENT["paths"][op.path][op.method.lower()]["requestBody"]["content"]))
    if media == "application/x-www-form-urlencoded" and isinstance(value, dict):
        form = {str(key): json.dumps(item) if not isinstance(item, str) else item for key, item in value.items()}
        return urlencode(form, encoding="utf-8", errors="surrogatepass").encode(), media
    text = json.dumps(value, ensure_ascii=draw(st.booleans()))
    return text.encode("utf-8", "surrogatepass"), draw(st.one_of(st.just(media), content_types))


# -- any body to any operation -------------------------------------------------------------------------


def nested(depth: int, field: str | None) -> bytes:
    """A JSON object whose ``field`` (or itself) nests ``depth`` arrays and objects."""
    inner = '{"a": ' * (depth // 2) + "[" * (depth - depth // 2) + "1" + "]" * (depth - depth // 2) \
        + "}" * (depth // 2)
    return (inner if field is None else json.dumps({field: "x"}).replace('"x"', inner)).encode()


DEPTHS = (50, 400, 900, 5000)  # the last ones are past the decoder's recursion limit


@pytest.mark.parametrize("op", BODY_OPERATIONS, ids=label)
def test_any_body_is_answered_as_documented(op, world, wsgi_app, no_tasks, record_property):
    headers, cookies = preferred_identity(op, world)
    parameters = path_parameters(op, world)
    statuses: dict[int, int] = {}
    media = next(iter(DOCUMENT["paths"][op.path][op.method.lower()]["requestBody"]["content"]))
    deep = [nested(depth, field) for depth in DEPTHS for field in (None, *fields_of(op))]

    @settings(FUZZ, max_examples=max(EXAMPLES // 3, 10))
    @given(body=st.one_of(bodies(op, world), st.sampled_from(deep).map(lambda data: (data, media))))
    def fuzz(body):
        data, content_type = body
        response = raw_call(op, wsgi_app, body=data, content_type=content_type, headers=headers, cookies=cookies,
                            path_parameters=parameters)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    fuzz()
    for data in deep:  # every one of them, not a sample: deep nesting found 500s
        response = raw_call(op, wsgi_app, body=data, content_type=media, headers=headers, cookies=cookies,
                            path_parameters=parameters)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
    record_property("fuzz_cases", {"operation": f"{label(op)} (raw bodies)", "cases": sum(statuses.values()),
                                   "statuses": dict(sorted(statuses.items()))})


# -- NXQL in POST form bodies ---------------------------------------------------------------------------


def test_nxql_text_in_post_forms(world, wsgi_app, record_property):
    op = operation("POST", "/2/query")
    headers, cookies = preferred_identity(op, world)
    statuses: dict[int, int] = {}

    @FUZZ
    @example(query=nxql_fuzz.LIMIT_SUPERSCRIPT, fmt="csv")
    @example(query=nxql_fuzz.NUL_IN_STRING, fmt="json")
    @given(query=st.one_of(nxql_fuzz.generated_queries(), nxql_fuzz.mutated_queries(), nxql_fuzz.token_sequences(),
                           nxql_fuzz.safe_text),
           fmt=st.sampled_from(["csv", "json", "xml", "html"]))
    def fuzz(query, fmt):
        case = op.Case(body={"query": query, "format": fmt, "p1": "alpha"},
                       media_type="application/x-www-form-urlencoded")
        response = call(case, wsgi_app, headers, cookies)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    fuzz()
    record_property("fuzz_cases", {"operation": "POST /2/query (NXQL text)", "cases": sum(statuses.values()),
                                   "statuses": dict(sorted(statuses.items()))})
    assert statuses.get(200)


# -- NQL text through the NQL API and the Configuration API --------------------------------------------

nql_texts = st.one_of(nql_fuzz.generated_queries(), nql_fuzz.mutated_queries(), nql_fuzz.token_soups(),
                      nql_fuzz.nql_like_text, nql_fuzz.safe_text)


def test_saved_query_text_through_the_nql_api(world, wsgi_app, no_tasks, record_property):
    """A saved query whose text does not compile (saved before a schema change, or by hand) is a 400."""
    saved = SavedQuery.objects.create(nql_id="#fuzz_text", name="fuzz", text="devices")
    ways = {path: preferred_identity(operation("POST", path), world)
            for path in ("/api/v1/nql/execute", "/api/v2/nql/execute", "/api/v1/nql/export")}
    statuses: dict[int, int] = {}

    @FUZZ
    @example(query=("devices | limit ²", {}), accept="text/csv")
    @example(query=('devices | where name == "al\x00pha"', {}), accept="*/*")
    @example(query=("devices | where name == $name", {"name": "\x00"}), accept="application/json")
    @given(query=nql_texts.flatmap(lambda text: nql_fuzz.parameters_for(text).map(lambda found: (text, found))),
           accept=st.sampled_from(["application/json", "text/csv", "*/*"]))
    def fuzz(query, accept):
        text, parameters = query
        SavedQuery.objects.filter(pk=saved.pk).update(text=text.replace("\x00", "\\0"))
        for path, (headers, cookies) in ways.items():
            body = {"queryId": "#fuzz_text", "parameters": parameters}
            case = operation("POST", path).Case(body=body, media_type="application/json",
                                                headers={"Accept": accept if "execute" in path else "*/*"})
            response = call(case, wsgi_app, headers, cookies)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    fuzz()
    record_property("fuzz_cases", {"operation": "POST NQL API (saved-query text)", "cases": sum(statuses.values()),
                                   "statuses": dict(sorted(statuses.items()))})
    assert statuses.get(200) and statuses.get(400)


def test_nql_parameter_values_through_the_nql_api(world, wsgi_app, no_tasks, record_property):
    op = operation("POST", "/api/v2/nql/execute")
    headers, cookies = preferred_identity(op, world)
    statuses: dict[int, int] = {}

    @FUZZ
    @given(value=st.one_of(st.sampled_from(nql_fuzz.PARAMETER_VALUES), nql_fuzz.safe_text),
           extra=st.dictionaries(st.text(string.ascii_letters, min_size=1, max_size=5), st.text(max_size=5),
                                 max_size=2))
    def fuzz(value, extra):
        body = {"queryId": "#devices_on_platform", "parameters": {"platform": value, **extra}}
        response = call(op.Case(body=body, media_type="application/json"), wsgi_app, headers, cookies)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    fuzz()
    record_property("fuzz_cases", {"operation": "POST /api/v2/nql/execute (parameter values)",
                                   "cases": sum(statuses.values()), "statuses": dict(sorted(statuses.items()))})
    assert statuses.get(200) and statuses.get(400)


PAYLOADS = st.one_of(
    st.sampled_from([
        '{"name": "{{device.name}}"}', '{"records": [{"n": "{{device.name}}"}], "source": "x"}', "{}", "[]", "",
        '{"a": "{{nope}}"}', '{"a": "{{device.name}} on {{device.name}}"}', '{"a": "{{', "null", '{"a": 1e999}',
        '{"records": [{"n": "{{device.name}}"}, {}]}', '{"a": "\\u0000"}',
    ]),
    json_values.map(json.dumps),
    st.text(max_size=30),
)


def test_exporter_queries_through_the_configuration_api(world, wsgi_app, no_tasks, record_property):
    """NQL text, payload templates and recurrences through validation and the test load (the destination is
    unreachable: outgoing HTTP fails at once in these tests)."""
    op = operation("POST", "/api/config/v1/exporters/test-load")
    headers, cookies = preferred_identity(op, world)
    statuses: dict[int, int] = {}

    @FUZZ
    @example(nql="devices | list name", structure="collection", payload='{"name": "{{device.name}}"}',
             recurrence={"kind": "daily"})
    @given(nql=nql_texts, structure=st.sampled_from(["collection", "array", "object_with_array", "csv", ""]),
           payload=PAYLOADS,
           recurrence=st.one_of(st.sampled_from([{"kind": "daily"}, {"kind": "hourly", "every_hours": 1},
                                                 {"kind": "weekly", "day": "monday"}]), json_values))
    def fuzz(nql, structure, payload, recurrence):
        body = {"name": "fuzz", "credential": world.values["credential"][0], "method": "POST",
                "resource": "api/import", "recurrence": recurrence,
                "queries": [{"nql": nql, "payload_structure": structure, "payload": payload}]}
        response = call(op.Case(body=body, media_type="application/json"), wsgi_app, headers, cookies)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    fuzz()
    record_property("fuzz_cases", {"operation": "POST /api/config/v1/exporters/test-load (NQL, payloads)",
                                   "cases": sum(statuses.values()), "statuses": dict(sorted(statuses.items()))})
    assert statuses.get(200) and statuses.get(400)
