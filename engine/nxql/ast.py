"""The NXQL syntax tree: small dataclasses, each with its position in the text (1-based)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Node:
    line: int
    column: int


@dataclass(frozen=True)
class Name(Node):
    """A bare word where a name is expected: table, field, glob (``*_time``), operator, type, ..."""

    text: str


@dataclass(frozen=True)
class CategoryRef(Node):
    """``#Name`` / ``#"Name with spaces"`` (``#*``: every category)."""

    name: str


@dataclass(frozen=True)
class Literal(Node):
    text: str
    quoted: bool


@dataclass(frozen=True)
class Value(Node):
    """``(type literal)``; ``literal`` is None for ``(null)``."""

    type_name: Name | None
    literal: Literal | None


@dataclass(frozen=True)
class Comparison(Node):
    op: Name
    target: Name | CategoryRef
    value: Value


@dataclass(frozen=True)
class Where(Node):
    table: Name
    conditions: tuple[Comparison, ...]


@dataclass(frozen=True)
class TimePoint(Node):
    """``now``, ``midnight-1d`` (``word``) or ``(datetime 2024-01-31@13:45:00)`` (``value``)."""

    word: Name | None = None
    value: Value | None = None


@dataclass(frozen=True)
class Between(Node):
    start: TimePoint
    end: TimePoint


@dataclass(frozen=True)
class Compute(Node):
    aggregates: tuple[Name, ...]


@dataclass(frozen=True)
class With(Node):
    table: Name
    wheres: tuple[Where, ...] = ()
    betweens: tuple[Between, ...] = ()
    computes: tuple[Compute, ...] = ()


@dataclass(frozen=True)
class From(Node):
    tables: tuple[Name, ...]
    wheres: tuple[Where, ...] = ()
    betweens: tuple[Between, ...] = ()
    withs: tuple[With, ...] = ()


@dataclass(frozen=True)
class OrderBy(Node):
    target: Name | CategoryRef
    direction: Name | None


@dataclass(frozen=True)
class Limit(Node):
    count: Name


@dataclass(frozen=True)
class TableSelection(Node):
    """``(device (name device_uid))`` inside a per-table selection."""

    table: Name
    fields: tuple[Name | CategoryRef, ...]


@dataclass(frozen=True)
class Select(Node):
    fields: tuple[Name | CategoryRef, ...]  # plain selection
    per_table: tuple[TableSelection, ...]  # per-table selection (then ``fields`` is empty)
    source: From
    order_by: tuple[OrderBy, ...] = ()
    limits: tuple[Limit, ...] = ()


@dataclass(frozen=True)
class Assignment(Node):
    """``(set #Name value)`` of an update."""

    category: CategoryRef
    value: Value


@dataclass(frozen=True)
class Update(Node):
    assignments: tuple[Assignment, ...]
    source: From
