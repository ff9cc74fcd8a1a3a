"""The NXQL parser (PLY, LALR): text to the syntax tree of ``engine.nxql.ast``.

Grammar rules live in the docstrings of the ``p_`` methods. Before parsing, the tolerance rules of
the documented product apply (``nxql.md``): missing closing parentheses at the end are added, and
the outermost parentheses may be left out (the grammar accepts a bare ``select …``/``update …``).
Template parameters (``%1``…``%9``) are substituted by the caller before parsing (``templates``).
"""

from __future__ import annotations

import re

from engine.nxql import ast
from engine.nxql.lexer import NxqlLexer, tokenize
from engine.query.errors import LineIndex, QueryError, position
from engine.query.lexing import syntax_error
from engine.query.plytables import build_parser

MAX_QUERY_LENGTH = 1_000_000
TEMPLATE_PLACEHOLDER = re.compile(r"%([1-9])")


def substitute_templates(text: str, parameters: dict[str, str]) -> str:
    """Replaces ``%N`` with request parameter ``pN``, exactly as text; a missing ``pN`` is an error."""

    def replace(match: re.Match) -> str:
        key = f"p{match.group(1)}"
        if key not in parameters:
            raise QueryError(f"template parameter %{match.group(1)} has no value (parameter {key})")
        return parameters[key]

    return TEMPLATE_PLACEHOLDER.sub(replace, text)


class NxqlParser:
    tokens = NxqlLexer.tokens

    # -- queries ------------------------------------------------------------------------------

    def p_query(self, p):
        """query : LPAREN statement RPAREN
                 | statement"""
        p[0] = p[2] if len(p) == 4 else p[1]

    def p_statement_select(self, p):
        """statement : SELECT selection from_clause select_tail"""
        fields, per_table = p[2]
        order_by = tuple(item for item in p[4] if isinstance(item, ast.OrderBy))
        limits = tuple(item for item in p[4] if isinstance(item, ast.Limit))
        p[0] = ast.Select(*self._pos(p, 1), fields=fields, per_table=per_table, source=p[3],
                          order_by=order_by, limits=limits)

    def p_statement_update(self, p):
        """statement : UPDATE assignments from_clause"""
        p[0] = ast.Update(*self._pos(p, 1), assignments=tuple(p[2]), source=p[3])

    def p_select_tail(self, p):
        """select_tail : empty
                       | select_tail order_by
                       | select_tail limit"""
        p[0] = [] if len(p) == 2 else _appended(p[1], p[2])

    # -- selection ------------------------------------------------------------------------------

    def p_selection_single(self, p):
        """selection : field_ref"""
        p[0] = ((p[1],), ())

    def p_selection_list(self, p):
        """selection : LPAREN field_refs RPAREN"""
        p[0] = (tuple(p[2]), ())

    def p_selection_per_table(self, p):
        """selection : LPAREN table_selections RPAREN"""
        p[0] = ((), tuple(p[2]))

    def p_table_selections(self, p):
        """table_selections : table_selection
                            | table_selections table_selection"""
        p[0] = [p[1]] if len(p) == 2 else _appended(p[1], p[2])

    def p_table_selection(self, p):
        """table_selection : LPAREN name LPAREN field_refs RPAREN RPAREN
                           | LPAREN name field_ref RPAREN"""
        fields = p[4] if len(p) == 7 else [p[3]]
        p[0] = ast.TableSelection(*self._pos(p, 1), table=p[2], fields=tuple(fields))

    def p_field_refs(self, p):
        """field_refs : field_ref
                      | field_refs field_ref"""
        p[0] = [p[1]] if len(p) == 2 else _appended(p[1], p[2])

    def p_field_ref(self, p):
        """field_ref : name
                     | category"""
        p[0] = p[1]

    def p_name(self, p):
        """name : ATOM"""
        p[0] = ast.Name(*self._pos(p, 1), text=p[1])

    def p_category(self, p):
        """category : CATEGORY"""
        p[0] = ast.CategoryRef(*self._pos(p, 1), name=p[1])

    # -- from -----------------------------------------------------------------------------------

    def p_from_clause(self, p):
        """from_clause : LPAREN FROM from_tables from_items RPAREN"""
        items = p[4]
        p[0] = ast.From(
            *self._pos(p, 2), tables=tuple(p[3]),
            wheres=tuple(i for i in items if isinstance(i, ast.Where)),
            betweens=tuple(i for i in items if isinstance(i, ast.Between)),
            withs=tuple(i for i in items if isinstance(i, ast.With)),
        )

    def p_from_tables(self, p):
        """from_tables : name
                       | LPAREN names RPAREN"""
        p[0] = [p[1]] if len(p) == 2 else p[2]

    def p_names(self, p):
        """names : name
                 | names name"""
        p[0] = [p[1]] if len(p) == 2 else _appended(p[1], p[2])

    def p_from_items(self, p):
        """from_items : empty
                      | from_items where
                      | from_items between
                      | from_items with"""
        p[0] = [] if len(p) == 2 else _appended(p[1], p[2])

    def p_where(self, p):
        """where : LPAREN WHERE name conditions RPAREN"""
        p[0] = ast.Where(*self._pos(p, 2), table=p[3], conditions=tuple(p[4]))

    def p_conditions(self, p):
        """conditions : empty
                      | conditions condition"""
        p[0] = [] if len(p) == 2 else _appended(p[1], p[2])

    def p_condition(self, p):
        """condition : LPAREN name field_ref value RPAREN"""
        p[0] = ast.Comparison(*self._pos(p, 1), op=p[2], target=p[3], value=p[4])

    def p_value(self, p):
        """value : LPAREN name literal RPAREN
                 | LPAREN name RPAREN"""
        if len(p) == 5:
            p[0] = ast.Value(*self._pos(p, 1), type_name=p[2], literal=p[3])
        else:  # `(null)`: the word stands where a type would
            p[0] = ast.Value(*self._pos(p, 1), type_name=p[2], literal=None)

    def p_literal(self, p):
        """literal : ATOM
                   | STRING"""
        quoted = p.slice[1].type == "STRING"
        p[0] = ast.Literal(*self._pos(p, 1), text=p[1], quoted=quoted)

    def p_between(self, p):
        """between : LPAREN BETWEEN time_point time_point RPAREN"""
        p[0] = ast.Between(*self._pos(p, 2), start=p[3], end=p[4])

    def p_time_point_word(self, p):
        """time_point : name"""
        p[0] = ast.TimePoint(p[1].line, p[1].column, word=p[1])

    def p_time_point_value(self, p):
        """time_point : value"""
        p[0] = ast.TimePoint(p[1].line, p[1].column, value=p[1])

    def p_with(self, p):
        """with : LPAREN WITH name with_items RPAREN"""
        items = p[4]
        p[0] = ast.With(
            *self._pos(p, 2), table=p[3],
            wheres=tuple(i for i in items if isinstance(i, ast.Where)),
            betweens=tuple(i for i in items if isinstance(i, ast.Between)),
            computes=tuple(i for i in items if isinstance(i, ast.Compute)),
        )

    def p_with_items(self, p):
        """with_items : empty
                      | with_items where
                      | with_items between
                      | with_items compute"""
        p[0] = [] if len(p) == 2 else _appended(p[1], p[2])

    def p_compute(self, p):
        """compute : LPAREN COMPUTE names RPAREN"""
        p[0] = ast.Compute(*self._pos(p, 2), aggregates=tuple(p[3]))

    # -- order, limit, update -------------------------------------------------------------------

    def p_order_by(self, p):
        """order_by : LPAREN ORDER_BY field_ref RPAREN
                    | LPAREN ORDER_BY field_ref name RPAREN
                    | LPAREN ORDER_BY field_ref LPAREN name RPAREN RPAREN"""
        direction = None
        if len(p) == 6:
            direction = p[4]
        elif len(p) == 8:
            direction = p[5]
        p[0] = ast.OrderBy(*self._pos(p, 2), target=p[3], direction=direction)

    def p_limit(self, p):
        """limit : LPAREN LIMIT name RPAREN"""
        p[0] = ast.Limit(*self._pos(p, 2), count=p[3])

    def p_assignments(self, p):
        """assignments : assignment
                       | assignments assignment"""
        p[0] = [p[1]] if len(p) == 2 else _appended(p[1], p[2])

    def p_assignment(self, p):
        """assignment : LPAREN SET category value RPAREN"""
        p[0] = ast.Assignment(*self._pos(p, 2), category=p[3], value=p[4])

    def p_empty(self, p):
        """empty :"""
        p[0] = None

    def p_error(self, tok):
        raise syntax_error(tok, tok and {"LPAREN": "'('", "RPAREN": "')'"}.get(tok.type))

    # -- helpers --------------------------------------------------------------------------------

    def _pos(self, p, index: int) -> tuple[int, int]:
        return p.lexer.line_index.position(p.lexpos(index))


def _appended(items: list, item) -> list:
    """Grows a list the grammar is building (in place: copying would make long lists quadratic)."""
    items.append(item)
    return items


_PARSER = build_parser(NxqlParser(), "nxql", start="query")


def close_parentheses(text: str) -> str:
    """Adds the closing parentheses missing at the end of the text (a documented tolerance)."""
    depth = 0
    for tok in tokenize(text):
        if tok.type == "LPAREN":
            depth += 1
        elif tok.type == "RPAREN":
            depth -= 1
    return text + ")" * depth if depth > 0 else text


def parse(text: str) -> ast.Select | ast.Update:
    """The syntax tree of an NXQL query (template parameters already substituted)."""
    if len(text) > MAX_QUERY_LENGTH:
        raise QueryError(f"the query is longer than {MAX_QUERY_LENGTH} characters")
    if not text.strip():
        raise QueryError("the query is empty")
    if "\x00" in text:
        line, column = position(text, text.index("\x00"))
        raise QueryError("the query contains a NUL character", line=line, column=column)
    text = close_parentheses(text)
    lexer = tokenize(text)
    lexer.line_index = LineIndex(text)
    return _PARSER.parse(text, lexer=lexer)
