"""The NQL lexer (PLY).

Paths are one token (``device.operating_system.platform``, ``device.#criticality``); literals with
units are typed by the lexer (``45min`` a duration, ``3KB`` a size, ``10.1.0.0/16`` an address,
``2024-02-01 00:00:00`` a datetime, ``v1.2.3`` a version), so the parser sees what each one is.
"""

from __future__ import annotations

import ply.lex as lex

from engine.query.lexing import lexer_error, unescape

KEYWORDS = {
    "where": "WHERE", "list": "LIST", "sort": "SORT", "limit": "LIMIT", "with": "WITH",
    "include": "INCLUDE", "compute": "COMPUTE", "summarize": "SUMMARIZE", "by": "BY",
    "during": "DURING", "past": "PAST", "from": "FROM", "to": "TO", "on": "ON", "ago": "AGO",
    "and": "AND", "or": "OR", "not": "NOT", "in": "IN", "contains": "CONTAINS", "null": "NULL",
    "true": "TRUE", "false": "FALSE", "asc": "ASC", "desc": "DESC",
}


class NqlLexer:
    tokens = (
        "PIPE", "COMMA", "LPAREN", "RPAREN", "LBRACKET", "RBRACKET",
        "EQEQ", "EQ", "NE", "LE", "GE", "LT", "GT", "NOT_IN", "NOT_CONTAINS",
        "STRING", "DATETIME", "IP", "VERSION", "DURATION", "BYTES", "NUMBER", "PARAM", "PATH",
        *sorted(set(KEYWORDS.values())),
    )

    t_ignore = " \t\r\f\v"
    t_PIPE = r"\|"
    t_COMMA = r","
    t_LPAREN = r"\("
    t_RPAREN = r"\)"
    t_LBRACKET = r"\["
    t_RBRACKET = r"\]"
    t_EQEQ = r"=="
    t_NE = r"!="
    t_LE = r"<="
    t_GE = r">="
    t_LT = r"<"
    t_GT = r">"
    t_EQ = r"="

    def t_newline(self, t):
        r"\n+"
        t.lexer.lineno += len(t.value)

    def t_NOT_IN(self, t):
        r"!in\b"
        return t

    def t_NOT_CONTAINS(self, t):
        r"!contains\b"
        return t

    def t_STRING(self, t):
        r"\"(\\.|[^\"\\])*\"|'(\\.|[^'\\])*'"
        t.value = unescape(t.value[1:-1])
        return t

    def t_DATETIME(self, t):
        r"\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2})?)?(?![\w.])"
        return t

    def t_IP(self, t):
        r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?:/\d{1,2})?(?![\w.])"
        return t

    def t_VERSION(self, t):
        r"v\d+(?:\.\d+)+(?![\w.])"
        t.value = t.value[1:]
        return t

    def t_DURATION(self, t):
        r"\d+(?:\.\d+)?(?:ms|min|s|h|d|w)(?![\w.])"
        return t

    def t_BYTES(self, t):
        r"\d+(?:\.\d+)?(?:B|KB|MB|GB|TB)(?![\w.])"
        return t

    def t_NUMBER(self, t):
        r"-?\d+(?:\.\d+)?(?![\w.])"
        return t

    def t_PARAM(self, t):
        r"\$[A-Za-z_][A-Za-z0-9_]*"
        t.value = t.value[1:]
        return t

    def t_PATH(self, t):
        r"[A-Za-z_#*?][A-Za-z0-9_.#*?]*"
        t.type = KEYWORDS.get(t.value.lower(), "PATH") if "." not in t.value else "PATH"
        return t

    def t_error(self, t):
        raise lexer_error(t)


_BASE_LEXER = lex.lex(module=NqlLexer())


def tokenize(text: str):
    lexer = _BASE_LEXER.clone()
    lexer.lineno = 1
    lexer.input(text)
    return lexer
