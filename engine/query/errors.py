"""Errors of the query languages, shared by NXQL and NQL."""

from __future__ import annotations

import bisect
import difflib
from collections.abc import Iterable


class QueryError(Exception):
    """A query that cannot run: syntax, unknown name, type mismatch, bad parameter (HTTP 400).

    ``options`` lists valid alternatives, closest first (``error_options`` on the error page).
    """

    status = 400

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None,
                 options: Iterable[str] = ()):
        self.message = message
        self.line, self.column = line, column
        self.options = list(options)
        super().__init__(self.full_message)

    @property
    def full_message(self) -> str:
        if self.line is None:
            return self.message
        return f"{self.message} at line {self.line}, column {self.column}"


class QueryForbidden(QueryError):
    """The account may not run this query (NXQL ``update`` without the category-editing right)."""

    status = 403


class QueryTimeout(QueryError):
    """The query ran past its time limit and was cancelled (HTTP 503)."""

    status = 503


def closest_first(name: str, candidates: Iterable[str]) -> list[str]:
    """Every candidate, the ones most like ``name`` first (ties keep alphabetical order)."""
    lowered = name.lower()
    unique = sorted(set(candidates))

    def distance(candidate: str) -> float:
        return -difflib.SequenceMatcher(None, lowered, candidate.lower()).ratio()

    return sorted(unique, key=distance)


class LineIndex:
    """Line and column of offsets in one text, in logarithmic time (queries may be megabytes long)."""

    def __init__(self, text: str):
        self.starts = [0]
        index = text.find("\n")
        while index != -1:
            self.starts.append(index + 1)
            index = text.find("\n", index + 1)

    def position(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self.starts, offset)
        return line, offset - self.starts[line - 1] + 1


def position(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of an offset in a query text (one look-up; see ``LineIndex``)."""
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, column
