"""The NQL parser (PLY, LALR): text to the syntax tree of ``engine.nql.ast``.

Grammar rules live in the docstrings of the ``p_`` methods (``nql.md``, *Grammar*).
"""

from __future__ import annotations

from engine.nql import ast
from engine.nql.lexer import NqlLexer, tokenize
from engine.query.errors import LineIndex, QueryError, position
from engine.query.lexing import syntax_error
from engine.query.plytables import build_parser

MAX_QUERY_LENGTH = 1_000_000
LITERAL_TOKENS = ("STRING", "NUMBER", "DURATION", "BYTES", "DATETIME", "IP", "VERSION", "PARAM", "PATH",
                  "TRUE", "FALSE")


def _appended(items: list, item) -> list:
    items.append(item)
    return items


class NqlParser:
    tokens = NqlLexer.tokens

    precedence = (
        ("left", "OR"),
        ("left", "AND"),
        ("right", "NOT"),
    )

    # -- query and stages -----------------------------------------------------------------------

    def p_query(self, p):
        """query : path timeframe_opt stages"""
        p[0] = ast.Query(p[1].line, p[1].column, source=p[1], timeframe=p[2], stages=tuple(p[3]))

    def p_stages(self, p):
        """stages : empty
                  | stages PIPE stage"""
        p[0] = [] if len(p) == 2 else _appended(p[1], p[3])

    def p_stage_where(self, p):
        """stage : WHERE condition"""
        p[0] = ast.Where(*self._pos(p, 1), condition=p[2])

    def p_stage_list(self, p):
        """stage : LIST paths"""
        p[0] = ast.ListStage(*self._pos(p, 1), paths=tuple(p[2]))

    def p_stage_sort(self, p):
        """stage : SORT path
                 | SORT path ASC
                 | SORT path DESC"""
        descending = len(p) == 4 and p.slice[3].type == "DESC"
        p[0] = ast.Sort(*self._pos(p, 1), target=p[2], descending=descending)

    def p_stage_limit(self, p):
        """stage : LIMIT NUMBER"""
        p[0] = ast.Limit(*self._pos(p, 1), count=p[2])

    def p_stage_activity(self, p):
        """stage : WITH path timeframe_opt
                 | INCLUDE path timeframe_opt"""
        p[0] = ast.Activity(*self._pos(p, 1), table=p[2], timeframe=p[3], required=p.slice[1].type == "WITH")

    def p_stage_compute(self, p):
        """stage : COMPUTE assignments"""
        p[0] = ast.Compute(*self._pos(p, 1), assignments=tuple(p[2]))

    def p_stage_summarize(self, p):
        """stage : SUMMARIZE assignments
                 | SUMMARIZE assignments BY paths
                 | SUMMARIZE assignments BY DURATION"""
        by_paths, by_duration = (), None
        if len(p) == 5:
            if p.slice[4].type == "DURATION":
                by_duration = ast.Literal(*self._pos(p, 4), kind="DURATION", text=p[4])
            else:
                by_paths = tuple(p[4])
        p[0] = ast.Summarize(*self._pos(p, 1), assignments=tuple(p[2]), by_paths=by_paths, by_duration=by_duration)

    def p_paths(self, p):
        """paths : path
                 | paths COMMA path"""
        p[0] = [p[1]] if len(p) == 2 else _appended(p[1], p[3])

    def p_path(self, p):
        """path : PATH"""
        p[0] = ast.Path(*self._pos(p, 1), text=p[1])

    # -- time frames ------------------------------------------------------------------------------

    def p_timeframe_opt(self, p):
        """timeframe_opt : empty
                         | DURING PAST DURATION
                         | FROM time_point TO time_point
                         | ON DATETIME"""
        if len(p) == 2:
            p[0] = None
        elif p.slice[1].type == "DURING":
            p[0] = ast.Timeframe(*self._pos(p, 1), kind="past", past=p[3])
        elif p.slice[1].type == "FROM":
            p[0] = ast.Timeframe(*self._pos(p, 1), kind="range", start=p[2], end=p[4])
        else:
            p[0] = ast.Timeframe(*self._pos(p, 1), kind="on", day=p[2])

    def p_time_point(self, p):
        """time_point : DATETIME
                      | DURATION AGO"""
        if len(p) == 2:
            p[0] = ast.TimePoint(*self._pos(p, 1), datetime=p[1])
        else:
            p[0] = ast.TimePoint(*self._pos(p, 1), ago=p[1])

    # -- conditions -------------------------------------------------------------------------------

    def p_condition_binary(self, p):
        """condition : condition AND condition
                     | condition OR condition"""
        p[0] = ast.BoolOp(p[1].line, p[1].column, op=p[2].lower(), items=(p[1], p[3]))

    def p_condition_not(self, p):
        """condition : NOT condition"""
        p[0] = ast.BoolOp(*self._pos(p, 1), op="not", items=(p[2],))

    def p_condition_group(self, p):
        """condition : LPAREN condition RPAREN"""
        p[0] = p[2]

    def p_condition_compare(self, p):
        """condition : path EQEQ literal
                     | path EQ literal
                     | path NE literal
                     | path LT literal
                     | path LE literal
                     | path GT literal
                     | path GE literal
                     | path CONTAINS literal
                     | path NOT_CONTAINS literal"""
        op = p[2].lower() if p.slice[2].type in ("CONTAINS", "NOT_CONTAINS") else p[2]
        p[0] = ast.Comparison(p[1].line, p[1].column, target=p[1], op=op, values=(p[3],))

    def p_condition_null(self, p):
        """condition : path EQEQ NULL
                     | path EQ NULL
                     | path NE NULL"""
        null = ast.Literal(*self._pos(p, 3), kind="NULL", text="null")
        p[0] = ast.Comparison(p[1].line, p[1].column, target=p[1], op=p[2], values=(null,))

    def p_condition_in(self, p):
        """condition : path IN LBRACKET literals RBRACKET
                     | path NOT_IN LBRACKET literals RBRACKET"""
        p[0] = ast.Comparison(p[1].line, p[1].column, target=p[1], op=p[2].lower(), values=tuple(p[4]))

    def p_literals(self, p):
        """literals : literal
                    | literals COMMA literal"""
        p[0] = [p[1]] if len(p) == 2 else _appended(p[1], p[3])

    def p_literal(self, p):
        """literal : STRING
                   | NUMBER
                   | DURATION
                   | BYTES
                   | DATETIME
                   | IP
                   | VERSION
                   | PARAM
                   | PATH
                   | TRUE
                   | FALSE"""
        p[0] = ast.Literal(*self._pos(p, 1), kind=p.slice[1].type, text=p[1])

    # -- aggregates -------------------------------------------------------------------------------

    def p_assignments(self, p):
        """assignments : assignment
                       | assignments COMMA assignment"""
        p[0] = [p[1]] if len(p) == 2 else _appended(p[1], p[3])

    def p_assignment(self, p):
        """assignment : PATH EQ aggregate"""
        p[0] = ast.Assignment(*self._pos(p, 1), alias=p[1], aggregate=p[3])

    def p_aggregate(self, p):
        """aggregate : PATH LPAREN RPAREN
                     | PATH LPAREN condition RPAREN"""
        target_text, _dot, function = p[1].rpartition(".")
        line, column = self._pos(p, 1)
        target = ast.Path(line, column, text=target_text) if target_text else None
        condition = p[3] if len(p) == 5 else None
        p[0] = ast.Aggregate(line, column, target=target, function=function.lower(), condition=condition)

    def p_empty(self, p):
        """empty :"""
        p[0] = None

    def p_error(self, tok):
        raise syntax_error(tok)

    def _pos(self, p, index: int) -> tuple[int, int]:
        return p.lexer.line_index.position(p.lexpos(index))


_PARSER = build_parser(NqlParser(), "nql", start="query")


def parse(text: str) -> ast.Query:
    if len(text) > MAX_QUERY_LENGTH:
        raise QueryError(f"the query is longer than {MAX_QUERY_LENGTH} characters")
    if not text.strip():
        raise QueryError("the query is empty")
    if "\x00" in text:
        line, column = position(text, text.index("\x00"))
        raise QueryError("the query contains a NUL character", line=line, column=column)
    lexer = tokenize(text)
    lexer.line_index = LineIndex(text)
    return _PARSER.parse(text, lexer=lexer)
