"""Property tests: whatever NQL text (and parameters) reach ``services.prepare_nql`` + ``services.execute``,
the outcome is rows or a ``QueryError`` (400) — never any other exception (nql.md: a syntax, type or
parameter error is a 400).

Sources of input: random text, random NQL-like characters, token soups from the NQL vocabulary (keywords,
table names and field paths from ``engine.schema.SCHEMA``, operators, literals of every kind, pipes,
brackets, ``$``), queries generated from the grammar with random (valid and invalid) parts and parameters,
and mutations of valid queries. Data: the module-scoped data set of ``nxql_fixture``.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from engine import services
from engine.nql.lexer import KEYWORDS
from engine.query import plan as p
from engine.query.errors import QueryError
from engine.query.render import render
from engine.schema import SCHEMA

pytestmark = pytest.mark.django_db

FUZZ = settings(max_examples=150, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

NOW = datetime(2024, 3, 2, 12, 0, 0, tzinfo=UTC)
VISIBILITIES = [None, p.Visibility(platforms=("windows", "mac_os")), p.Visibility(platforms=("mobile",))]

NQL_TABLES = [t for t in SCHEMA.query_tables() if t.nql]
OBJECT_TABLES = [t for t in NQL_TABLES if t.is_object]
EVENT_TABLES = [t for t in NQL_TABLES if t.is_event]
TABLE_NAMES = [*sorted(t.nql for t in NQL_TABLES), "remote_action.executions", "devicez", "execution.event"]
CATEGORY_PATHS = ["#criticality", "#Location", "#\"Business Unit\"", "#approved", "#nope", "device.#criticality",
                  "device.#location", "binary.#approved", "#"]


def paths_of(table) -> list[str]:
    """NQL paths relative to ``table``: its fields, and the fields of the tables its links reach."""
    found = [f.nql for f in table.fields if f.nql]
    for link in table.links:
        target = SCHEMA.table(link.target)
        if target.nql is None:
            continue
        found += [f"{link.name}.{f.nql}" for f in target.fields if f.nql]
        for second in target.links:
            inner = SCHEMA.table(second.target)
            if inner.nql:
                found += [f"{link.name}.{second.name}.{f.nql}" for f in inner.fields if f.nql]
    return found


ALL_PATHS = sorted({path for table in NQL_TABLES for path in paths_of(table)})
SPECIAL_VALUES = ["null", '"lph"', "$p", '"*"']
OPERATORS = ["==", "=", "!=", "<", "<=", ">", ">=", "in", "!in", "contains", "!contains"]
LITERALS = [
    '"alpha"', "'Bravo'", '""', '"a\\"b"', "'it\\'s'", '"*o?"', '"*"', '"%_\\\\"', '"é"', '"\x00"', '"outlook.exe"',
    "0", "1", "-1", "4", "3.5", "-0.5", "400", "99999999999999999999", "9223372036854775807", "true", "false",
    "null", "windows", "mac_os", "mobile", "laptop", "high", "timeout", "system_boot", "installation", "https",
    "Lausanne", "nope", "2024-02-01", "2024-03-01 10:00:00", "2024-03-01 10:00", "2024-03-01T10:00:00",
    "2024-02-30", "9999-12-31", "0000-01-01", "100B", "3KB", "12MB", "2GB", "1TB", "1.5GB", "99999999TB",
    "5ms", "10s", "4min", "3h", "2d", "1w", "0d", "15min", "1.5h", "99999999999999d", "10.1.2.3", "10.1.0.0/16",
    "999.1.1.1", "10.0.0.0/33", "0.0.0.0/0", "v1.2.3", "v1.0", "$p", "$name", "$x1", "²", "٣",
]
AGGREGATE_TEXTS = ["count()", "duration.sum()", "duration.avg()", "duration.min()", "duration.max()",
                   "binary.count()", "device.count()", "user.count()", "http_status.countif(http_status >= 400)",
                   "memory.avg()", "start_time.max()", "name.sum()", "count(", "countif()", "x.median()"]
PUNCTUATION = ["|"] * 8 + [",", "(", ")", "[", "]", "$", "!", "=", "#", "*", "?", "."]
VOCABULARY = [*sorted(KEYWORDS), "!in", "!contains", "WHERE", "List", *TABLE_NAMES, *ALL_PATHS, *CATEGORY_PATHS,
              *OPERATORS, *LITERALS, *AGGREGATE_TEXTS, *PUNCTUATION]

VALID_QUERIES = [
    "devices | list name, hardware.memory | sort hardware.memory desc | limit 3",
    'devices | where operating_system.platform == windows and (hardware.memory > 8GB or name == "b*") | list name',
    "devices during past 7d | where #criticality != null | list name, #criticality",
    'execution.events during past 7d | where binary.name == "outlook.exe" | list start_time, device.name, user.name',
    "execution.events from 2024-02-01 00:00:00 to 2024-03-02 | list duration, binary.application.name",
    "execution.events from 21d ago to 1d ago | summarize n = count(), total = duration.sum() by device.name",
    "execution.events on 2024-03-01 | summarize n = count() by 1h | sort n desc",
    "devices | with execution.events during past 7d | where binary.name != \"chrome.exe\" "
    "| compute n = count(), total = duration.sum(), bins = binary.count() | sort n desc | list name, n, total",
    "devices | include web.events | compute errors = http_status.countif(http_status >= 400), rt = response_time.avg()",
    "binaries | where threat_level in [low, high] | with execution.events | compute devs = device.count()",
    "connection.events during past 2d | where status !in [established, closed] and destination.ip_address == "
    "10.0.0.0/8 | list status, destination.name",
    "devices | where name == $name and hardware.number_of_cpus >= $cpus | list name",
    "devices | where last_seen >= $since or last_ip_address == $net | list name",
    "users | where department contains \"fin\" or type == system | list name, type",
    "device_performance.events | where type in [system_boot, user_logon] | summarize n = count() by type",
    "package.installations during past 7d | where type == installation | list device.name, package.name",
]
PARAMETER_VALUES = ["alpha", "4", "-1", "8GB", "2024-03-01", "2024-03-01T10:00:00Z", "10.1.0.0/16", "windows",
                    "high", "", " ", "1:02:03", "99999999999999999999", "a\"b\\c", "*", "\x00", "nan", "1e400",
                    "true", "٣", "0.5", "1.5 GB", "v1.2"]

TOKEN = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|!in\b|!contains\b|[|,()\[\]]|[^\s|,()\[\]]+')
PARAMETER = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def run_anything(text: str, parameters=None, visibility=None) -> None:
    """Prepares, runs and renders ``text``: rows, or a QueryError with status 400; anything else fails."""
    try:
        prepared = services.prepare_nql(text, parameters=parameters, visibility=visibility, now=NOW)
        result = services.execute(prepared.plan)
        document = b"".join(render("json", result.columns, result.rows))
    except QueryError as error:
        assert error.status in (400, 503), f"{error.status} for {text!r}: {error}"
        assert error.message
        return
    json.loads(document)
    assert isinstance(prepared.executed_query, str)


# -- strategies ----------------------------------------------------------------------------------------------

safe_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=200)
nql_like_text = st.text(st.sampled_from("|||,()[]$!=<>\"'#*?.:/- \n\t0123456789abcdeghilmnoprstuvwxyzBGKMT_"),
                        max_size=200)


@st.composite
def token_soups(draw):
    return " ".join(draw(st.lists(st.sampled_from(VOCABULARY), max_size=40)))


@st.composite
def durations(draw):
    return draw(st.sampled_from(["45min", "1h", "7d", "24h", "30s", "15min", "2w", "0d", "1.5h", "5ms",
                                 "99999999999999d", "10min", "1d"]))


@st.composite
def timeframes(draw):
    kind = draw(st.integers(0, 4))
    if kind == 0:
        return ""
    if kind == 1:
        return f"during past {draw(durations())}"
    if kind == 2:
        points = ["2024-02-01", "2024-03-01 10:00:00", "2024-03-02 00:00", "2024-02-30", "9999-12-31",
                  "0001-01-01"]
        start = draw(st.one_of(st.sampled_from(points), durations().map(lambda d: f"{d} ago")))
        end = draw(st.one_of(st.sampled_from(points), durations().map(lambda d: f"{d} ago")))
        return f"from {start} to {end}"
    return f"on {draw(st.sampled_from(['2024-03-01', '2024-02-29', '2024-13-01', '2024-03-01 10:00:00']))}"


@st.composite
def literals(draw):
    return draw(st.sampled_from(LITERALS))


@st.composite
def conditions(draw, paths, depth=0):
    kind = draw(st.integers(0, 9 if depth < 2 else 5))
    path = draw(st.sampled_from(paths + CATEGORY_PATHS[:3] + ["nme"]))
    if kind <= 3:
        return f"{path} {draw(st.sampled_from(['==', '=', '!=', '<', '<=', '>', '>=']))} {draw(literals())}"
    if kind == 4:
        items = draw(st.lists(literals(), min_size=1, max_size=4))
        return f"{path} {draw(st.sampled_from(['in', '!in']))} [{', '.join(items)}]"
    if kind == 5:
        operator = draw(st.sampled_from(["contains", "!contains", "==", "!="]))
        return f"{path} {operator} {draw(st.sampled_from(SPECIAL_VALUES))}"
    if kind == 6:
        return f"not {draw(conditions(paths, depth + 1))}"
    if kind == 7:
        return f"({draw(conditions(paths, depth + 1))})"
    joiner = draw(st.sampled_from(["and", "or"]))
    return f"{draw(conditions(paths, depth + 1))} {joiner} {draw(conditions(paths, depth + 1))}"


@st.composite
def assignments(draw, paths):
    items = []
    for number in range(draw(st.integers(1, 3))):
        function = draw(st.sampled_from(["count", "sum", "avg", "min", "max", "countif", "median"]))
        if function == "count" and draw(st.booleans()):
            aggregate = "count()"
        elif function == "countif":
            aggregate = f"{draw(st.sampled_from(paths))}.countif({draw(conditions(paths, 2))})"
        else:
            aggregate = f"{draw(st.sampled_from(paths))}.{function}()"
        alias = draw(st.sampled_from([f"a{number}", "n", "device.name", "#x"]))
        items.append(f"{alias} = {aggregate}")
    return ", ".join(items)


@st.composite
def generated_queries(draw):
    """A query built from the grammar, its parts drawn from the schema (valid or not)."""
    source = draw(st.sampled_from(NQL_TABLES))
    paths = paths_of(source)
    text = f"{source.nql} {draw(timeframes())}"
    current = paths
    for _ in range(draw(st.integers(0, 5))):
        stage = draw(st.sampled_from(["where", "where", "list", "sort", "limit", "with", "include", "compute",
                                      "summarize"]))
        if stage == "where":
            text += f" | where {draw(conditions(current))}"
        elif stage == "list":
            chosen = draw(st.lists(st.sampled_from([*paths, "n", "a0"]), min_size=1, max_size=4))
            text += f" | list {', '.join(chosen)}"
        elif stage == "sort":
            text += f" | sort {draw(st.sampled_from([*paths, 'n', 'a0']))} {draw(st.sampled_from(['', 'asc', 'desc']))}"
        elif stage == "limit":
            text += f" | limit {draw(st.sampled_from(['0', '1', '5', '-1', '99999999999999999999', '2.5']))}"
        elif stage in ("with", "include"):
            event = draw(st.sampled_from(EVENT_TABLES))
            current = paths_of(event)
            text += f" | {stage} {event.nql} {draw(timeframes())}"
        elif stage == "compute":
            text += f" | compute {draw(assignments(current))}"
        else:
            by = draw(st.sampled_from(["", "paths", "duration"]))
            text += f" | summarize {draw(assignments(paths))}"
            if by == "paths":
                text += " by " + ", ".join(draw(st.lists(st.sampled_from(paths), min_size=1, max_size=2)))
            elif by == "duration":
                text += f" by {draw(durations())}"
    return text


@st.composite
def parameters_for(draw, text):
    names = list(dict.fromkeys(PARAMETER.findall(text)))
    chosen = {}
    for name in names:
        if draw(st.integers(0, 9)):  # sometimes missing
            chosen[name] = draw(st.one_of(st.sampled_from(PARAMETER_VALUES), safe_text))
    if draw(st.integers(0, 9)) == 0:
        chosen["unused"] = "x"
    return chosen


def _same_kind(token: str) -> list[str]:
    """Replacements of the same syntactic kind as ``token``."""
    if token in OPERATORS[:7]:
        return OPERATORS[:7]
    if token in TABLE_NAMES:
        return TABLE_NAMES
    if token.lower() in KEYWORDS or token in ("|", ",", "(", ")", "[", "]"):
        return [token]
    if token in LITERALS or token[:1] in "\"'$-0123456789":
        return LITERALS
    return ALL_PATHS + CATEGORY_PATHS


@st.composite
def mutated_queries(draw):
    tokens = TOKEN.findall(draw(st.sampled_from(VALID_QUERIES)))
    for _ in range(draw(st.integers(1, 4))):
        if not tokens:
            break
        index = draw(st.integers(0, len(tokens) - 1))
        operation = draw(st.sampled_from(["delete", "duplicate", "swap", "replace", "insert", "same_kind",
                                          "same_kind", "same_kind"]))
        if operation == "same_kind":  # keeps the syntax most of the time: exercises the compiler and SQL
            tokens[index] = draw(st.sampled_from(_same_kind(tokens[index])))
        elif operation == "delete":
            del tokens[index]
        elif operation == "duplicate":
            tokens.insert(index, tokens[index])
        elif operation == "swap" and index + 1 < len(tokens):
            tokens[index], tokens[index + 1] = tokens[index + 1], tokens[index]
        elif operation == "replace":
            tokens[index] = draw(st.sampled_from(VOCABULARY))
        elif operation == "insert":
            tokens.insert(index, draw(st.sampled_from(VOCABULARY)))
    return " ".join(tokens)


# -- properties ------------------------------------------------------------------------------------------------


@FUZZ
@example(text="devices | limit ²")
@example(text='devices | where name == "al\x00pha"')
@example(text="devices | where name == 99999999999999999999")
@given(text=safe_text)
def test_random_text_is_rows_or_a_query_error(nxql_data, text):
    run_anything(text)


@FUZZ
@given(text=nql_like_text)
def test_random_nql_like_characters_are_rows_or_a_query_error(nxql_data, text):
    run_anything(text)


@FUZZ
@example(query="execution.events during past 99999999999999d")
@example(query="execution.events from 0001-01-01 to 9999-12-31 | summarize n = count() by 15min")
@given(query=token_soups())
def test_token_soups_are_rows_or_a_query_error(nxql_data, query):
    run_anything(query)


@FUZZ
@given(data=st.data(), query=generated_queries(), visibility=st.sampled_from(VISIBILITIES))
def test_generated_queries_are_rows_or_a_query_error(nxql_data, data, query, visibility):
    run_anything(query, data.draw(parameters_for(query)), visibility)


@FUZZ
@given(data=st.data(), query=mutated_queries(), visibility=st.sampled_from(VISIBILITIES))
def test_mutations_of_valid_queries_are_rows_or_a_query_error(nxql_data, data, query, visibility):
    run_anything(query, data.draw(parameters_for(query)), visibility)


@FUZZ
@given(name=st.one_of(st.sampled_from(PARAMETER_VALUES), safe_text),
       cpus=st.one_of(st.sampled_from(PARAMETER_VALUES), safe_text),
       since=st.one_of(st.sampled_from(PARAMETER_VALUES), safe_text),
       net=st.one_of(st.sampled_from(PARAMETER_VALUES), safe_text))
def test_random_parameter_values_are_rows_or_a_query_error(nxql_data, name, cpus, since, net):
    run_anything("devices | where name == $name or hardware.memory > $cpus", {"name": name, "cpus": "1GB"})
    run_anything("devices | where name == $name and hardware.number_of_cpus >= $cpus", {"name": name, "cpus": cpus})
    run_anything("devices | where last_seen >= $since or last_ip_address == $net", {"since": since, "net": net})


HARD_INPUTS = {
    "long or chain": "devices | where " + " or ".join(f'name == "n{i}"' for i in range(3000)),
    "long not chain": "devices | where " + "not " * 3000 + 'name == "alpha"',
    "long chain in countif": "devices | with execution.events | compute n = countif("
                             + " or ".join(f"duration == {i}" for i in range(3000)) + ")",
    "deep parentheses": "devices | where " + "(" * 20_000 + 'name == "alpha"' + ")" * 20_000,
    "huge in list": "devices | where name in [" + ", ".join(f'"n{i}"' for i in range(70_000)) + "]",
    "many where stages": "devices" + ' | where name != "x"' * 2000,
    "many list paths": "devices | list " + ", ".join(["name"] * 5000),
    "huge past": "execution.events during past 99999999999999d",
    "huge ago": "execution.events from 99999999999999d ago to 1d ago",
    "huge bucket": "execution.events | summarize n = count() by 99999999999999d",
    "large bucket": "execution.events | summarize n = count() by 9999999999d",
    "huge bytes": "devices | where hardware.memory > 99999999TB",
    "huge limit": "devices | limit 99999999999999999999",
    "max limit": "devices | limit 9223372036854775807",
    "min integer": "devices | where hardware.number_of_cpus > -9223372036854775808",
    "widest window": "execution.events from 0001-01-01 to 9999-12-31 | summarize n = count() by 15min",
    "reversed window": "execution.events from 9999-12-31 to 0001-01-01",
    # found by test_generated_queries_are_rows_or_a_query_error
    "sort before summarize": "devices | sort id | limit 0 | summarize a0 = id.count()",
    "sort by an aggregate before summarize": "devices | with execution.events | compute n = count() | sort n "
                                             "| summarize c = count()",
}


@pytest.mark.parametrize("text", HARD_INPUTS.values(), ids=HARD_INPUTS.keys())
def test_hard_inputs_are_rows_or_a_query_error(nxql_data, text):
    run_anything(text)


def test_valid_queries_of_the_corpus_run(nxql_data):
    parameters = {"name": "alpha", "cpus": "4", "since": "2024-01-01", "net": "10.0.0.0/8"}
    for query in VALID_QUERIES:
        used = {k: v for k, v in parameters.items() if f"${k}" in query}
        prepared = services.prepare_nql(query, parameters=used, now=NOW)
        list(services.execute(prepared.plan).rows)
