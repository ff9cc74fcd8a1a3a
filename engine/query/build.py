"""Name resolution, literal typing and error messages shared by the NXQL and NQL compilers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from engine.query import literals
from engine.query import plan as p
from engine.query.catalog import CategoryCatalog, CategoryInfo
from engine.query.errors import QueryError, closest_first
from engine.schema import SCHEMA, Field, FieldType, Link, Table, UnknownName


@dataclass(frozen=True)
class Where:
    """A position in the query text, for error messages."""

    line: int | None = None
    column: int | None = None


def fail(message: str, at: Where | None = None, options=()) -> QueryError:
    at = at or Where()
    return QueryError(message, line=at.line, column=at.column, options=options)


@dataclass
class CompileContext:
    """What a compiler needs besides the text: the clock, the categories, the visible devices."""

    now: datetime
    categories: CategoryCatalog
    visibility: p.Visibility = field(default_factory=p.Visibility)


# -- names -------------------------------------------------------------------------------------


def table_named(name: str, at: Where, language: str) -> Table:
    try:
        return SCHEMA.nxql_table(name) if language == "nxql" else SCHEMA.nql_table(name)
    except UnknownName as error:
        raise fail(f"unknown table '{name}'", at, closest_first(name, error.candidates)) from None


def field_named(table: Table, name: str, at: Where, language: str) -> Field:
    lowered = name.lower()
    fields = table.fields_by_name if language == "nxql" else table.fields_by_nql
    found = fields.get(lowered)
    if found is None and "." in name:  # a key of a keyed field: `outputs.Uptime`
        head, _dot, key = name.partition(".")
        parent = fields.get(head.lower())
        found = parent.sub_field(key) if parent is not None else None
    if found is None:
        label = table.nxql if language == "nxql" else table.nql
        raise fail(f"unknown field '{name}' in table {label}", at, closest_first(name, fields))
    return found


def category_named(catalog: CategoryCatalog, table: Table, name: str, at: Where) -> CategoryInfo:
    categories = catalog.for_table(table.key)
    found = categories.get(name.lower())
    if found is None:
        raise fail(f"unknown category '#{name}' for table {table.nxql}", at,
                   closest_first(name, [c.name for c in categories.values()]))
    return found


def keyword_named(category: CategoryInfo, text: str, at: Where) -> tuple[int, str]:
    found = category.keywords.get(text.lower())
    if found is None:
        raise fail(f"unknown keyword '{text}' for category #{category.name}", at,
                   closest_first(text, [name for _id, name in category.keywords.values()]))
    return found


def link_path(source: Table, target: Table) -> tuple[Link, ...] | None:
    """The links from ``source`` to ``target``: one (execution -> binary) or two (execution -> binary
    -> application); None when the tables are not linked."""
    for link in source.links:
        if link.target == target.key:
            return (link,)
    for link in source.links:
        middle = SCHEMA.table(link.target)
        for second in middle.links:
            if second.target == target.key:
                return (link, second)
    return None


# -- literals ------------------------------------------------------------------------------------

_TYPE_LABELS = {
    FieldType.STRING: "string", FieldType.ENUM: "enum", FieldType.INT: "integer", FieldType.REAL: "real",
    FieldType.BOOL: "boolean", FieldType.DATETIME: "datetime", FieldType.DURATION: "duration",
    FieldType.BYTES: "bytes", FieldType.PERCENT: "percent", FieldType.IP: "ip_address",
    FieldType.UID: "uid", FieldType.LIST: "list", FieldType.ID: "id",
}


def type_label(field_type: FieldType) -> str:
    return _TYPE_LABELS[field_type]


def read_literal(field_type: FieldType, text: str, at: Where, *, target: str,
                 enum_values: tuple[str, ...] = ()) -> object:
    """``text`` as a value of ``field_type``; a 400 naming the field and the type otherwise."""
    try:
        return literals.read_value(field_type, text, enum_values)
    except ValueError as error:
        options = enum_values if field_type is FieldType.ENUM else ()
        raise fail(f"invalid {type_label(field_type)} value '{text}' for {target}: {error}", at, options) from None


ORDERED_OPERATORS = frozenset({"lt", "le", "gt", "ge"})


def check_ordered(target_type: FieldType, op: str, target: str, at: Where) -> None:
    if op in ORDERED_OPERATORS and not target_type.is_ordered:
        raise fail(f"operator {op} does not apply to {target} of type {type_label(target_type)}", at)
