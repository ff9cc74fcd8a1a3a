"""NXQL grammar (nxql.md, Grammar): every rule and tolerance, on the syntax tree."""

import pytest

from engine.nxql import ast
from engine.nxql.parser import parse, substitute_templates
from engine.query.errors import QueryError


def names(items):
    return [item.text if isinstance(item, ast.Name) else f"#{item.name}" for item in items]


def test_plain_selection_of_fields_globs_star_and_categories():
    tree = parse('(select (name *_time * #Location #"Name with spaces" #\'single\' #*) (from device))')
    assert isinstance(tree, ast.Select)
    assert names(tree.fields) == ["name", "*_time", "*", "#Location", "#Name with spaces", "#single", "#*"]
    assert names(tree.source.tables) == ["device"]


def test_single_field_selection_without_parentheses():
    assert names(parse("(select name (from device))").fields) == ["name"]


def test_per_table_selection():
    tree = parse("(select ((execution (start_time duration)) (device (name)) (binary name)) "
                 "(from (execution device binary)))")
    assert tree.fields == ()
    assert [(s.table.text, names(s.fields)) for s in tree.per_table] == [
        ("execution", ["start_time", "duration"]), ("device", ["name"]), ("binary", ["name"]),
    ]
    assert names(tree.source.tables) == ["execution", "device", "binary"]


def test_where_conditions_and_values():
    tree = parse('(select name (from device (where device (eq name (string "a\\"b\\\\c")) '
                 "(ne platform (enum windows)) (gt total_ram (bytes 8GB)) (le last_seen (datetime 2024-01-31@13:45:00))"
                 " (eq last_ip_address (ip_address \"10.1.0.0/16\")) (eq device_model (null)))))")
    where = tree.source.wheres[0]
    assert where.table.text == "device"
    ops = [(c.op.text, c.target.text, c.value.type_name.text, c.value.literal and c.value.literal.text)
           for c in where.conditions]
    assert ops == [
        ("eq", "name", "string", 'a"b\\c'),
        ("ne", "platform", "enum", "windows"),
        ("gt", "total_ram", "bytes", "8GB"),
        ("le", "last_seen", "datetime", "2024-01-31@13:45:00"),
        ("eq", "last_ip_address", "ip_address", "10.1.0.0/16"),
        ("eq", "device_model", "null", None),
    ]
    assert where.conditions[0].value.literal.quoted is True
    assert where.conditions[1].value.literal.quoted is False


def test_category_condition_and_quoted_literal_forms():
    tree = parse('(select name (from device (where device (eq #Location (enum "Lausanne")) (eq #\'A b\' (enum x)))))')
    conditions = tree.source.wheres[0].conditions
    assert [c.target.name for c in conditions] == ["Location", "A b"]
    assert conditions[0].value.literal.text == "Lausanne"


def test_between_with_time_words_and_datetimes():
    tree = parse("(select name (from execution (between now-7d now)))")
    between = tree.source.betweens[0]
    assert (between.start.word.text, between.end.word.text) == ("now-7d", "now")
    tree = parse('(select name (from execution (between (datetime 2024-01-01@00:00:00) (datetime "2024-01-02"))))')
    between = tree.source.betweens[0]
    assert between.start.value.literal.text == "2024-01-01@00:00:00"
    assert between.end.value.literal.text == "2024-01-02"


def test_with_clauses_in_any_order_and_several_withs():
    tree = parse("(select name (from device (with execution (compute number_of_executions) "
                 "(where binary (eq name (string outlook.exe))) (between midnight-1d midnight)) "
                 "(with connection (where connection (eq status (enum timeout))))))")
    first, second = tree.source.withs
    assert first.table.text == "execution"
    assert names(first.computes[0].aggregates) == ["number_of_executions"]
    assert first.wheres[0].table.text == "binary"
    assert first.betweens[0].start.word.text == "midnight-1d"
    assert second.table.text == "connection"


def test_order_by_directions_and_limit_in_either_order():
    for text, direction in [("(order_by name)", None), ("(order_by name desc)", "desc"),
                            ("(order_by name (asc))", "asc"), ("(order_by name (DESC))", "DESC")]:
        tree = parse(f"(select name (from device) {text} (limit 3))")
        assert tree.order_by[0].target.text == "name"
        assert (tree.order_by[0].direction.text if tree.order_by[0].direction else None) == direction
        assert tree.limits[0].count.text == "3"
    tree = parse("(select name (from device) (limit 3) (order_by name desc))")
    assert tree.limits[0].count.text == "3" and tree.order_by[0].direction.text == "desc"


def test_keywords_are_case_insensitive_and_whitespace_is_free():
    tree = parse("(SELECT\n  (name)\n\t(FROM device\n (WHERE device (EQ name (STRING x))))\n (LIMIT 1))")
    assert names(tree.fields) == ["name"]
    assert tree.source.wheres[0].conditions[0].op.text == "EQ"


def test_missing_closing_parentheses_are_added():
    tree = parse("(select (name) (from device (where device (eq name (string x")
    assert tree.source.wheres[0].conditions[0].value.literal.text == "x"


def test_outermost_parentheses_may_be_left_out():
    tree = parse("select (name) (from device)")
    assert names(tree.fields) == ["name"]


def test_two_object_tables():
    assert names(parse("(select name (from (device package)))").source.tables) == ["device", "package"]


def test_update_statement():
    tree = parse('(update (set #Criticality (enum high)) (set #Location (null)) '
                 '(from device (where device (eq name (string "LAU-1")))))')
    assert isinstance(tree, ast.Update)
    assert [(a.category.name, a.value.literal and a.value.literal.text) for a in tree.assignments] == [
        ("Criticality", "high"), ("Location", None),
    ]


def test_positions_are_one_based_lines_and_columns():
    tree = parse("(select (name)\n  (from devce))")
    table = tree.source.tables[0]
    assert (table.line, table.column) == (2, 9)


@pytest.mark.parametrize("text, fragment", [
    ("(select (name) (from device) (bogus))", "syntax error near 'bogus'"),
    ("(select)", "syntax error near ')'"),
    ("(select (name) (from device)))", "syntax error near ')'"),
    ("(select (name) (from device (where device (eq name (string \"open", "unterminated string"),
    ("", "the query is empty"),
    ("   \n ", "the query is empty"),
    ("(select (name) (from device (where device (eq name))))", "syntax error"),
])
def test_syntax_errors_are_query_errors_with_a_position(text, fragment):
    with pytest.raises(QueryError) as error:
        parse(text)
    assert fragment in error.value.full_message
    assert error.value.status == 400


def test_syntax_error_position():
    with pytest.raises(QueryError) as error:
        parse("(select (name)\n (from device) (bogus))")
    assert (error.value.line, error.value.column) == (2, 17)


def test_template_parameters_are_substituted_as_text():
    text = substitute_templates("(select (name #%1) (from device (where device (eq name (string %2)))))",
                                {"p1": "Location", "p2": '"LAU-1"'})
    assert text == '(select (name #Location) (from device (where device (eq name (string "LAU-1")))))'
    with pytest.raises(QueryError) as error:
        substitute_templates("(select (name #%3) (from device))", {"p1": "x"})
    assert "%3" in error.value.message


def test_huge_queries_are_refused_cleanly():
    with pytest.raises(QueryError):
        parse("(select (name) (from device))" + " " * 1_000_001)
    deep = "(" * 5000
    with pytest.raises(QueryError):
        parse(deep)
