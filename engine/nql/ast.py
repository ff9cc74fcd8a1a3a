"""The NQL syntax tree: small dataclasses, each with its position in the text (1-based)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Node:
    line: int
    column: int


@dataclass(frozen=True)
class Path(Node):
    text: str


@dataclass(frozen=True)
class Literal(Node):
    """A value as written; ``kind`` is the lexer's token type (STRING, NUMBER, DURATION, PATH for a bare
    word, PARAM for ``$name``, TRUE/FALSE/NULL, ...)."""

    kind: str
    text: str


@dataclass(frozen=True)
class TimePoint(Node):
    """``2024-02-01 00:00:00`` (``datetime``) or ``21d ago`` (``ago``: a duration)."""

    datetime: str | None = None
    ago: str | None = None


@dataclass(frozen=True)
class Timeframe(Node):
    kind: str  # "past" | "range" | "on"
    past: str | None = None
    start: TimePoint | None = None
    end: TimePoint | None = None
    day: str | None = None


@dataclass(frozen=True)
class Comparison(Node):
    target: Path
    op: str  # ==, =, !=, <, <=, >, >=, in, !in, contains, !contains
    values: tuple[Literal, ...]


@dataclass(frozen=True)
class BoolOp(Node):
    op: str  # and | or | not
    items: tuple


@dataclass(frozen=True)
class Aggregate(Node):
    """``count()``, ``duration.sum()``, ``binary.count()``, ``http_status.countif(http_status >= 400)``."""

    target: Path | None
    function: str
    condition: Comparison | BoolOp | None = None


@dataclass(frozen=True)
class Assignment(Node):
    alias: str
    aggregate: Aggregate


@dataclass(frozen=True)
class Where(Node):
    condition: Comparison | BoolOp


@dataclass(frozen=True)
class ListStage(Node):
    paths: tuple[Path, ...]


@dataclass(frozen=True)
class Sort(Node):
    target: Path
    descending: bool


@dataclass(frozen=True)
class Limit(Node):
    count: str


@dataclass(frozen=True)
class Activity(Node):
    """``with`` (required) or ``include`` (optional) events."""

    table: Path
    timeframe: Timeframe | None
    required: bool


@dataclass(frozen=True)
class Compute(Node):
    assignments: tuple[Assignment, ...]


@dataclass(frozen=True)
class Summarize(Node):
    assignments: tuple[Assignment, ...]
    by_paths: tuple[Path, ...] = ()
    by_duration: Literal | None = None


@dataclass(frozen=True)
class Query(Node):
    source: Path
    timeframe: Timeframe | None
    stages: tuple
