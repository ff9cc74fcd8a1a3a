"""NQL grammar (nql.md, *Grammar*): every stage, time frame, literal kind and aggregate form parses
to the expected syntax tree, and bad text is a positioned ``QueryError``, never a crash.

Parse level only (``engine.nql.parser.parse``): no database.
"""

from __future__ import annotations

import contextlib

import pytest

from engine.nql import ast
from engine.nql.parser import MAX_QUERY_LENGTH, parse
from engine.query.errors import QueryError

# -- helpers --------------------------------------------------------------------------------------


def stages(text: str) -> tuple:
    return parse(text).stages


def only_stage(text: str):
    found = stages(text)
    assert len(found) == 1, found
    return found[0]


def where_condition(condition_text: str, source: str = "devices"):
    stage = only_stage(f"{source} | where {condition_text}")
    assert isinstance(stage, ast.Where)
    return stage.condition


def literal_of(value_text: str) -> ast.Literal:
    """The literal of ``x == <value_text>``."""
    condition = where_condition(f"x == {value_text}")
    assert isinstance(condition, ast.Comparison)
    assert len(condition.values) == 1
    return condition.values[0]


def shape(condition) -> object:
    """A condition as nested tuples: ("or", a, b), ("not", a), or the compared path text."""
    if isinstance(condition, ast.BoolOp):
        return (condition.op, *(shape(item) for item in condition.items))
    assert isinstance(condition, ast.Comparison)
    return condition.target.text


def syntax_error(text: str) -> QueryError:
    with pytest.raises(QueryError) as caught:
        parse(text)
    assert caught.value.status == 400
    return caught.value


# -- source and whole queries ------------------------------------------------------------------------


@pytest.mark.parametrize("table", [
    "devices", "users", "binaries", "applications", "packages", "execution.events", "execution.crashes",
    "connection.events", "web.events", "device_performance.events", "package.installations",
    "remote_action.executions",
])
def test_every_source_table_of_the_grammar_parses(table):
    query = parse(table)
    assert query.source.text == table
    assert query.timeframe is None
    assert query.stages == ()


def test_stages_run_left_to_right_in_the_order_written():
    query = parse('devices | where name == "a" | list name | sort name | limit 3')
    assert [type(s) for s in query.stages] == [ast.Where, ast.ListStage, ast.Sort, ast.Limit]


def test_whitespace_and_newlines_are_free():
    query = parse('devices\n  |\twhere name == "a"\n  | list name,\n       hardware.memory\n')
    assert [type(s) for s in query.stages] == [ast.Where, ast.ListStage]
    assert [p.text for p in query.stages[1].paths] == ["name", "hardware.memory"]


def test_positions_are_one_based_lines_and_columns():
    query = parse('devices\n| where name == "a"')
    assert (query.line, query.column) == (1, 1)
    where = query.stages[0]
    assert (where.line, where.column) == (2, 3)
    assert (where.condition.line, where.condition.column) == (2, 9)
    assert (where.condition.values[0].line, where.condition.values[0].column) == (2, 17)


# -- where: comparisons and boolean structure ----------------------------------------------------------


@pytest.mark.parametrize("op", ["==", "=", "!=", "<", "<=", ">", ">="])
def test_every_comparison_operator(op):
    condition = where_condition(f"hardware.number_of_cpus {op} 4")
    assert isinstance(condition, ast.Comparison)
    assert condition.target.text == "hardware.number_of_cpus"
    assert condition.op == op
    assert [(v.kind, v.text) for v in condition.values] == [("NUMBER", "4")]


def test_or_binds_looser_than_and():
    assert shape(where_condition('a == 1 or b == 2 and c == 3')) == ("or", "a", ("and", "b", "c"))
    assert shape(where_condition('a == 1 and b == 2 or c == 3')) == ("or", ("and", "a", "b"), "c")


def test_not_binds_tighter_than_and_and_or():
    assert shape(where_condition('not a == 1 and b == 2')) == ("and", ("not", "a"), "b")
    assert shape(where_condition('not a == 1 or b == 2')) == ("or", ("not", "a"), "b")
    assert shape(where_condition('not not a == 1')) == ("not", ("not", "a"))


def test_parentheses_override_precedence():
    assert shape(where_condition('(a == 1 or b == 2) and c == 3')) == ("and", ("or", "a", "b"), "c")
    assert shape(where_condition('not (a == 1 or b == 2)')) == ("not", ("or", "a", "b"))
    assert shape(where_condition('((a == 1))')) == "a"


def test_and_and_or_are_left_associative():
    assert shape(where_condition('a == 1 and b == 2 and c == 3')) == ("and", ("and", "a", "b"), "c")
    assert shape(where_condition('a == 1 or b == 2 or c == 3')) == ("or", ("or", "a", "b"), "c")


def test_boolean_keywords_ignore_case():
    assert shape(where_condition('a == 1 AND NOT b == 2 Or c == 3')) == ("or", ("and", "a", ("not", "b")), "c")


@pytest.mark.parametrize(("op", "expected"), [("in", "in"), ("!in", "!in")])
def test_in_and_not_in_take_a_list_of_literals(op, expected):
    condition = where_condition(f'name {op} ["a", \'b\', c, 3]')
    assert condition.op == expected
    assert [(v.kind, v.text) for v in condition.values] == [("STRING", "a"), ("STRING", "b"), ("PATH", "c"),
                                                             ("NUMBER", "3")]


def test_in_with_one_literal():
    condition = where_condition('operating_system.platform in [windows]')
    assert condition.op == "in"
    assert [(v.kind, v.text) for v in condition.values] == [("PATH", "windows")]


@pytest.mark.parametrize(("op", "expected"), [("contains", "contains"), ("!contains", "!contains")])
def test_contains_and_not_contains(op, expected):
    condition = where_condition(f'name {op} "lph"')
    assert condition.op == expected
    assert [(v.kind, v.text) for v in condition.values] == [("STRING", "lph")]


@pytest.mark.parametrize("op", ["==", "!="])
def test_comparison_with_null(op):
    condition = where_condition(f"hardware.memory {op} null")
    assert condition.op == op
    assert [v.kind for v in condition.values] == ["NULL"]


@pytest.mark.parametrize("text", [
    "name in []", "name in [1,]", "name in 1", "name ! in [1]", "name !in 1", "name contains", "name ==",
    "== 1", "name == 1 and", "name == 1 or or name == 2", "(name == 1", "name == 1)", "not", "name < null",
    "name in [null]", "name", "name == 1 name == 2",
])
def test_malformed_conditions_are_syntax_errors(text):
    syntax_error(f"devices | where {text}")


# -- list, sort, limit ----------------------------------------------------------------------------------


def test_list_takes_one_or_more_paths():
    assert [p.text for p in only_stage("devices | list name").paths] == ["name"]
    stage = only_stage("execution.events | list start_time, device.name, binary.application.name, device.#criticality")
    assert [p.text for p in stage.paths] == ["start_time", "device.name", "binary.application.name",
                                              "device.#criticality"]


@pytest.mark.parametrize(("text", "descending"), [("", False), (" asc", False), (" desc", True),
                                                   (" DESC", True)])
def test_sort_ascending_unless_desc(text, descending):
    stage = only_stage(f"devices | sort hardware.memory{text}")
    assert isinstance(stage, ast.Sort)
    assert stage.target.text == "hardware.memory"
    assert stage.descending is descending


def test_limit_takes_a_number():
    stage = only_stage("devices | limit 25")
    assert isinstance(stage, ast.Limit)
    assert stage.count == "25"


@pytest.mark.parametrize("text", ["devices | list", "devices | list name,", "devices | sort",
                                  "devices | sort name up", "devices | limit", "devices | limit ten",
                                  "devices | limit $n", "devices | list $x", "devices |", "| devices",
                                  "devices || list name", "devices | frobnicate name"])
def test_malformed_stages_are_syntax_errors(text):
    syntax_error(text)


# -- with, include, compute, summarize ------------------------------------------------------------------


@pytest.mark.parametrize(("keyword", "required"), [("with", True), ("include", False)])
def test_with_and_include_take_an_event_table_and_an_optional_time_frame(keyword, required):
    stage = only_stage(f"devices | {keyword} execution.events")
    assert isinstance(stage, ast.Activity)
    assert stage.table.text == "execution.events"
    assert stage.required is required
    assert stage.timeframe is None
    stage = only_stage(f"devices | {keyword} web.events during past 7d")
    assert stage.timeframe.kind == "past"
    assert stage.timeframe.past == "7d"


def test_compute_with_several_assignments():
    stage = stages("devices | with execution.events | compute n = count(), total = duration.sum(), "
                   "worst = duration.max(), crashy = number_of_crashes.countif(number_of_crashes > 0)")[1]
    assert isinstance(stage, ast.Compute)
    assert [a.alias for a in stage.assignments] == ["n", "total", "worst", "crashy"]
    functions = [(a.aggregate.target.text if a.aggregate.target else None, a.aggregate.function)
                 for a in stage.assignments]
    assert functions == [(None, "count"), ("duration", "sum"), ("duration", "max"), ("number_of_crashes", "countif")]
    assert shape(stage.assignments[3].aggregate.condition) == "number_of_crashes"


def test_summarize_without_by():
    stage = only_stage("execution.events | summarize n = count()")
    assert isinstance(stage, ast.Summarize)
    assert [a.alias for a in stage.assignments] == ["n"]
    assert stage.by_paths == ()
    assert stage.by_duration is None


def test_summarize_by_paths():
    stage = only_stage("execution.events | summarize n = count(), avg_d = duration.avg() by device.name, binary.name")
    assert [a.alias for a in stage.assignments] == ["n", "avg_d"]
    assert [p.text for p in stage.by_paths] == ["device.name", "binary.name"]
    assert stage.by_duration is None


@pytest.mark.parametrize("bucket", ["15min", "1h", "1d", "45min", "2d"])
def test_summarize_by_a_duration(bucket):
    stage = only_stage(f"execution.events | summarize n = count() by {bucket}")
    assert stage.by_paths == ()
    assert (stage.by_duration.kind, stage.by_duration.text) == ("DURATION", bucket)


@pytest.mark.parametrize("function", ["count", "sum", "avg", "min", "max"])
def test_path_dot_function_aggregates(function):
    stage = stages(f"devices | with execution.events | compute v = duration.{function}()")[1]
    aggregate = stage.assignments[0].aggregate
    assert aggregate.target.text == "duration"
    assert aggregate.function == function
    assert aggregate.condition is None


def test_count_of_rows_and_of_a_link():
    stage = stages("devices | with execution.events | compute a = count(), b = binary.count()")[1]
    first, second = (a.aggregate for a in stage.assignments)
    assert (first.target, first.function) == (None, "count")
    assert (second.target.text, second.function) == ("binary", "count")


def test_countif_takes_a_condition():
    stage = stages('devices | with web.events | compute errors = http_status.countif(http_status >= 400 '
                   'and protocol == https)')[1]
    aggregate = stage.assignments[0].aggregate
    assert aggregate.function == "countif"
    assert shape(aggregate.condition) == ("and", "http_status", "protocol")


@pytest.mark.parametrize("text", [
    "devices | with", "devices | with execution.events during", "devices | compute", "devices | compute n",
    "devices | compute n = ", "devices | compute n = count", "devices | compute n = count(",
    "devices | compute n == count()", "devices | compute n = count(), ", "execution.events | summarize",
    "execution.events | summarize n = count() by", "execution.events | summarize n = count() by 1d, name",
    "execution.events | summarize n = count() by 1d 2d",
])
def test_malformed_activity_and_aggregate_stages_are_syntax_errors(text):
    syntax_error(text)


# -- time frames ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("duration", ["45min", "1h", "7d", "30s", "2w"])
def test_during_past_a_duration(duration):
    frame = parse(f"execution.events during past {duration}").timeframe
    assert (frame.kind, frame.past) == ("past", duration)


def test_from_datetime_to_date():
    frame = parse("execution.events from 2024-02-01 00:00:00 to 2024-02-02").timeframe
    assert frame.kind == "range"
    assert (frame.start.datetime, frame.start.ago) == ("2024-02-01 00:00:00", None)
    assert (frame.end.datetime, frame.end.ago) == ("2024-02-02", None)


def test_from_ago_to_ago():
    frame = parse("execution.events from 21d ago to 1d ago").timeframe
    assert frame.kind == "range"
    assert (frame.start.datetime, frame.start.ago) == (None, "21d")
    assert (frame.end.datetime, frame.end.ago) == (None, "1d")


def test_from_mixes_a_datetime_and_ago():
    frame = parse("execution.events from 2024-02-01 10:30 to 2h ago").timeframe
    assert frame.start.datetime == "2024-02-01 10:30"
    assert frame.end.ago == "2h"


def test_on_a_date():
    frame = parse("execution.events on 2024-02-01").timeframe
    assert (frame.kind, frame.day) == ("on", "2024-02-01")


def test_time_frame_is_followed_by_stages():
    query = parse("devices during past 7d | list name")
    assert query.timeframe.kind == "past"
    assert [type(s) for s in query.stages] == [ast.ListStage]


@pytest.mark.parametrize("text", [
    "execution.events during 7d", "execution.events during past", "execution.events during past 7",
    "execution.events during past 7d ago", "execution.events from 2024-02-01", "execution.events from 21d to 1d",
    "execution.events from 2024-02-01 to", "execution.events on", "execution.events on 7d",
    "execution.events on 2024-02-01 to 2024-02-02", "execution.events past 7d",
    "execution.events during past 7d during past 1d",
])
def test_malformed_time_frames_are_syntax_errors(text):
    syntax_error(text)


# -- literals ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("written", "kind", "text"), [
    ('"alpha"', "STRING", "alpha"),
    ("'alpha'", "STRING", "alpha"),
    ('"say \\"hi\\""', "STRING", 'say "hi"'),
    ("'it\\'s'", "STRING", "it's"),
    ('"back\\\\slash"', "STRING", "back\\slash"),
    ("'double \" inside single'", "STRING", 'double " inside single'),
    ('"single \' inside double"', "STRING", "single ' inside double"),
    ('""', "STRING", ""),
    ('"a | where b == c"', "STRING", "a | where b == c"),
    ('"*o?"', "STRING", "*o?"),
    ('"é ünïcode"', "STRING", "é ünïcode"),
    ("42", "NUMBER", "42"),
    ("0", "NUMBER", "0"),
    ("-3", "NUMBER", "-3"),
    ("3.25", "NUMBER", "3.25"),
    ("-0.5", "NUMBER", "-0.5"),
    ("true", "TRUE", "true"),
    ("false", "FALSE", "false"),
    ("windows", "PATH", "windows"),
    ("mac_os", "PATH", "mac_os"),
    ("system_boot", "PATH", "system_boot"),
    ("2024-02-01", "DATETIME", "2024-02-01"),
    ("2024-02-01 13:45:00", "DATETIME", "2024-02-01 13:45:00"),
    ("2024-02-01 13:45", "DATETIME", "2024-02-01 13:45"),
    ("2024-02-01T13:45:00", "DATETIME", "2024-02-01T13:45:00"),
    ("100B", "BYTES", "100B"),
    ("3KB", "BYTES", "3KB"),
    ("12MB", "BYTES", "12MB"),
    ("2GB", "BYTES", "2GB"),
    ("1TB", "BYTES", "1TB"),
    ("1.5GB", "BYTES", "1.5GB"),
    ("5ms", "DURATION", "5ms"),
    ("10s", "DURATION", "10s"),
    ("4min", "DURATION", "4min"),
    ("3h", "DURATION", "3h"),
    ("2d", "DURATION", "2d"),
    ("10.1.2.3", "IP", "10.1.2.3"),
    ("10.1.0.0/16", "IP", "10.1.0.0/16"),
    ("0.0.0.0/0", "IP", "0.0.0.0/0"),
    ("v1.2.3", "VERSION", "1.2.3"),
    ("v10.0", "VERSION", "10.0"),
    ("v1.2.3.4", "VERSION", "1.2.3.4"),
    ("$name", "PARAM", "name"),
    ("$device_name_2", "PARAM", "device_name_2"),
])
def test_literal_kinds(written, kind, text):
    literal = literal_of(written)
    assert (literal.kind, literal.text) == (kind, text)


def test_literals_of_every_kind_in_one_list():
    condition = where_condition('x in ["s", \'t\', 1, 2.5, true, false, word, 2024-02-01, 2024-02-01 10:00:00, '
                                "3KB, 4min, 10.0.0.1, 10.0.0.0/8, v1.2, $p]")
    assert [v.kind for v in condition.values] == ["STRING", "STRING", "NUMBER", "NUMBER", "TRUE", "FALSE", "PATH",
                                                  "DATETIME", "DATETIME", "BYTES", "DURATION", "IP", "IP", "VERSION",
                                                  "PARAM"]


def test_parameters_may_stand_in_any_comparison_of_a_where():
    condition = where_condition("name == $a or name in [$b, $c] or name contains $d or name != $e")
    found = []

    def walk(node):
        if isinstance(node, ast.BoolOp):
            for item in node.items:
                walk(item)
        else:
            found.extend(v.text for v in node.values if v.kind == "PARAM")

    walk(condition)
    assert found == ["a", "b", "c", "d", "e"]


@pytest.mark.parametrize("text", [
    'devices | where name == "unterminated',
    "devices | where name == 'unterminated",
    'devices | where name == "a" "b"',
    "devices | where name == $",
    "devices | where name == $1abc",
    "devices | where name == @home",
    "devices | where name == 1.2.3",
    "devices | where name == 10.1.2.3/",
    "devices | where name == 10.1.2",
])
def test_malformed_literals_are_errors(text):
    syntax_error(text)


# -- syntax errors: where, and never a crash --------------------------------------------------------------------


def test_syntax_error_names_line_and_column_of_the_offending_token():
    error = syntax_error('devices\n| where name == "a"\n| list name name')
    assert (error.line, error.column) == (3, 13)
    assert "line 3, column 13" in str(error)


def test_unexpected_character_names_its_line_and_column():
    error = syntax_error('devices | where name == "a"\n  | where name == @x')
    assert (error.line, error.column) == (2, 19)
    assert "@" in error.message


def test_unterminated_string_names_its_line_and_column():
    error = syntax_error('devices\n | where name == "abc')
    assert (error.line, error.column) == (2, 18)
    assert "string" in error.message


def test_unexpected_end_of_query_is_a_query_error():
    error = syntax_error('devices | where name ==')
    assert "end" in error.message


@pytest.mark.parametrize("text", ["", " ", "\n\t  \n"])
def test_empty_query_is_a_query_error(text):
    error = syntax_error(text)
    assert "empty" in error.message


def test_nul_character_is_a_query_error_with_its_position():
    error = syntax_error('devices\n| where name == "al\x00pha"')
    assert (error.line, error.column) == (2, 20)
    assert "NUL" in error.message


def test_query_over_the_length_limit_is_a_query_error():
    text = "devices | where " + " or ".join(['name == "x"'] * (MAX_QUERY_LENGTH // 15 + 1))
    assert len(text) > MAX_QUERY_LENGTH
    error = syntax_error(text)
    assert "longer" in error.message


def test_long_query_under_the_limit_parses():
    text = "devices | where " + " or ".join([f'name == "x{i}"' for i in range(20_000)])
    condition = parse(text).stages[0].condition
    assert isinstance(condition, ast.BoolOp)


def test_deeply_nested_parentheses_parse_or_fail_cleanly():
    depth = 50_000
    text = "devices | where " + "(" * depth + 'name == "x"' + ")" * depth
    with contextlib.suppress(QueryError):
        parse(text)


def test_long_not_chain_parses_or_fails_cleanly():
    text = "devices | where " + "not " * 20_000 + 'name == "x"'
    with contextlib.suppress(QueryError):
        parse(text)


@pytest.mark.parametrize("text", [
    "devices | where name == \"a\" \x01", "devices \u2028| list name", "devices | list name ;",
    "devices | list name -- comment", "devices | where name == \"\\\"", "\\", "$", "[", "]", "(", ")", "|", ",",
    "devices | where name == ²", "devices | limit ٣", "'", '"', "#", "devices | list #", "devices{}",
])
def test_odd_text_is_a_query_error_or_parses(text):
    try:
        parse(text)
    except QueryError as error:
        assert error.status == 400
