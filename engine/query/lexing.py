"""Pieces both lexers share: quoted-string escapes and the error for a character no token takes."""

from __future__ import annotations

from engine.query.errors import QueryError, position


def unescape(body: str) -> str:
    r"""Resolves the backslash escapes of a quoted string's body (``\"``, ``\'``, ``\\``)."""
    out, index = [], 0
    while index < len(body):
        char = body[index]
        if char == "\\" and index + 1 < len(body):
            index += 1
            char = body[index]
        out.append(char)
        index += 1
    return "".join(out)


def lexer_error(token) -> QueryError:
    """The error for the character at a PLY lexer's error token: an unterminated string or a stray
    character, with its line and column."""
    line, column = position(token.lexer.lexdata, token.lexpos)
    char = token.value[0]
    if char in "\"'":
        return QueryError("unterminated string", line=line, column=column)
    return QueryError(f"unexpected character {char!r}", line=line, column=column)


def syntax_error(token, shown: str | None = None) -> QueryError:
    """The error for a token a parser did not expect (``None``: the text ended too early)."""
    if token is None:
        return QueryError("unexpected end of query")
    line, column = position(token.lexer.lexdata, token.lexpos)
    return QueryError(f"syntax error near {shown or repr(token.value)}", line=line, column=column)
