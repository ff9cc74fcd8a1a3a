"""The NXQL lexer (PLY).

Tokens: parentheses, quoted strings, category names (``#name``, ``#"any text"``), and bare atoms —
every other run of characters up to whitespace or a parenthesis: names, globs, numbers, datetimes
(``2024-01-31@13:45:00``), IP addresses with masks, time words (``now-7d``). What an atom means
depends on where it stands, so the parser and the compiler read it; only the clause keywords are
reserved (they are never field names). Keywords are case-insensitive.
"""

from __future__ import annotations

import ply.lex as lex

from engine.query.lexing import lexer_error, unescape

RESERVED = {
    "select": "SELECT",
    "from": "FROM",
    "where": "WHERE",
    "between": "BETWEEN",
    "with": "WITH",
    "compute": "COMPUTE",
    "order_by": "ORDER_BY",
    "limit": "LIMIT",
    "update": "UPDATE",
    "set": "SET",
}


class NxqlLexer:
    """Token rules; one PLY lexer is built from them at import and cloned for each text."""

    tokens = ("LPAREN", "RPAREN", "STRING", "CATEGORY", "ATOM", *RESERVED.values())

    t_ignore = " \t\r\f\v"
    t_LPAREN = r"\("
    t_RPAREN = r"\)"

    # -- rules (functions are tried in definition order) ------------------------------------

    def t_newline(self, t):
        r"\n+"
        t.lexer.lineno += len(t.value)

    def t_CATEGORY(self, t):
        r"\#(\"(\\.|[^\"\\])*\"|'(\\.|[^'\\])*'|[^\s()\"']+)"
        body = t.value[1:]
        if body[:1] in ('"', "'"):
            body = unescape(body[1:-1])
        t.value = body
        return t

    def t_STRING(self, t):
        r"\"(\\.|[^\"\\])*\"|'(\\.|[^'\\])*'"
        t.lexer.lineno += t.value.count("\n")
        t.value = unescape(t.value[1:-1])
        return t

    def t_ATOM(self, t):
        r"[^\s()\"'\#]+"
        t.type = RESERVED.get(t.value.lower(), "ATOM")
        return t

    def t_error(self, t):
        raise lexer_error(t)


_BASE_LEXER = lex.lex(module=NxqlLexer())


def tokenize(text: str):
    """A PLY lexer positioned at the start of ``text`` (cheap: a clone of the prebuilt one)."""
    lexer = _BASE_LEXER.clone()
    lexer.lineno = 1
    lexer.input(text)
    return lexer
