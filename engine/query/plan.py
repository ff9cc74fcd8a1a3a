"""The query plan: what to read, independent of the language it was written in.

NXQL and NQL front ends both compile to a ``Plan``; ``engine.query.sql`` turns a plan into one
parameterised PostgreSQL statement. Every name in a plan has been resolved against the schema
registry, every literal converted to a Python value of the field's type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from engine.schema import AggregateForm, Field, FieldType, Link, Table

# -- expressions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """A field of the row source or of a table reached from it through links (``binary.application``)."""

    path: tuple[Link, ...]
    field: Field

    @property
    def type(self) -> FieldType:
        return self.field.type


@dataclass(frozen=True)
class CategoryColumn:
    """The keyword an object row holds in a category (null when it holds none)."""

    path: tuple[Link, ...]  # to the object table the category applies to
    category_id: int
    name: str

    @property
    def type(self) -> FieldType:
        return FieldType.ENUM


@dataclass(frozen=True)
class Measure:
    """An aggregate function over rows: ``count`` (of rows, or of ``target`` values when given),
    ``count_distinct``, ``sum``, ``avg``, ``min``, ``max``; only rows meeting ``condition`` count."""

    function: str
    target: Column | CategoryColumn | AggregateColumn | None
    condition: Condition | None
    type: FieldType


@dataclass(frozen=True)
class AggregateColumn:
    """An aggregate over the events of one activity of the plan (``Plan.activities[activity]``): a
    registry aggregate's form (NXQL) or a measure written in the query (NQL)."""

    activity: int
    form: AggregateForm | Measure
    result_type: FieldType

    @property
    def type(self) -> FieldType:
        return self.result_type


@dataclass(frozen=True)
class SummaryColumn:
    """A measure over the rows of each group of a summarized plan."""

    measure: Measure

    @property
    def type(self) -> FieldType:
        return self.measure.type


@dataclass(frozen=True)
class BucketColumn:
    """Of a time bucket: its ``start_time``, ``end_time`` or ``bucket_duration``."""

    part: str

    @property
    def type(self) -> FieldType:
        return FieldType.DURATION if self.part == "bucket_duration" else FieldType.DATETIME


@dataclass(frozen=True)
class Summary:
    """Rows grouped by expressions, or by time buckets of ``bucket_seconds`` on the source's time."""

    group_by: tuple[Column | CategoryColumn | AggregateColumn, ...] = ()
    bucket_seconds: int | None = None


Expression = Column | CategoryColumn | AggregateColumn | SummaryColumn | BucketColumn

# Comparison operators of a plan. `eq`/`ne` on text compare case-insensitively; `like`/`not_like` take
# a pattern with `*` and `?`; `inside`/`not_inside` test an address against a network.
OPERATORS = frozenset({
    "eq", "ne", "lt", "le", "gt", "ge", "like", "not_like", "in", "not_in", "contains", "not_contains",
    "inside", "not_inside", "is_null", "not_null",
})


@dataclass(frozen=True)
class Comparison:
    target: Column | CategoryColumn
    op: str
    value: object = None  # a Python value of the target's type; a tuple for in/not_in


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and" | "or" | "not"
    items: tuple[Condition, ...]


Condition = Comparison | BoolOp


def all_of(conditions) -> Condition | None:
    items = tuple(c for c in conditions if c is not None)
    if not items:
        return None
    return items[0] if len(items) == 1 else BoolOp("and", items)


def any_of(conditions) -> Condition | None:
    items = tuple(c for c in conditions if c is not None)
    if not items:
        return None
    return items[0] if len(items) == 1 else BoolOp("or", items)


# -- row sources --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimeWindow:
    """The half-open window [start, end) an event's time must lie in."""

    start: datetime
    end: datetime


@dataclass(frozen=True)
class Activity:
    """Events linked to each row of an object source (NXQL ``with``, NQL ``with``/``include``).

    ``path`` leads from the event table to the source's table (``execution.binary.application`` for
    applications); ``condition`` is rooted at the event table. A ``required`` activity keeps only the
    rows that have at least one matching event.
    """

    table: Table
    path: tuple[Link, ...]
    condition: Condition | None = None
    window: TimeWindow | None = None
    required: bool = True


@dataclass(frozen=True)
class PairLink:
    """An event table whose rows link two objects (its links to the first and to the second)."""

    table: Table
    first: Link
    second: Link
    current_state: tuple[str, str] | None = None  # (column, value) the pair's latest row must hold


@dataclass(frozen=True)
class PairSource:
    """Unique pairs of two object tables linked through the rows of event tables."""

    first: Table
    second: Table
    through: tuple[PairLink, ...]
    window: TimeWindow | None = None

    @property
    def first_link(self) -> Link:
        return Link(self.first.key, self.first.key, "first_id")

    @property
    def second_link(self) -> Link:
        return Link(self.second.key, self.second.key, "second_id")


@dataclass(frozen=True)
class Visibility:
    """The devices an account may see, and so their activity (``None``: no restriction)."""

    platforms: tuple[str, ...] | None = None
    entity_ids: tuple[int, ...] | None = None
    engine_id: int | None = None

    @property
    def restricts(self) -> bool:
        return self.platforms is not None or self.entity_ids is not None or self.engine_id is not None


@dataclass(frozen=True)
class OutputColumn:
    name: str
    expression: Expression

    @property
    def type(self) -> FieldType:
        return self.expression.type


@dataclass(frozen=True)
class Ordering:
    expression: Expression
    descending: bool = False


@dataclass(frozen=True)
class Plan:
    source: Table | PairSource
    columns: tuple[OutputColumn, ...]
    condition: Condition | None = None
    window: TimeWindow | None = None  # on an event source
    activities: tuple[Activity, ...] = ()
    order: tuple[Ordering, ...] = ()
    limit: int | None = None
    visibility: Visibility = field(default_factory=Visibility)
    summary: Summary | None = None

    @property
    def root_table(self) -> Table | None:
        return self.source if isinstance(self.source, Table) else None


@dataclass(frozen=True)
class CategoryUpdate:
    """Sets (or clears, ``keyword_id`` None) one category on every object a plan selects."""

    category_id: int
    keyword_id: int | None


@dataclass(frozen=True)
class UpdatePlan:
    selection: Plan  # its single output column is the object's id
    assignments: tuple[CategoryUpdate, ...]
