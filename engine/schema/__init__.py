"""The schema registry (see ``registry``) and field types."""

from engine.schema.registry import (
    SCHEMA,
    Aggregate,
    AggregateForm,
    Condition,
    Field,
    Link,
    ObjectPair,
    Schema,
    Table,
    TableKind,
    UnknownName,
)
from engine.schema.types import FieldType, Privacy

__all__ = [
    "SCHEMA",
    "Aggregate",
    "AggregateForm",
    "Condition",
    "Field",
    "FieldType",
    "Link",
    "ObjectPair",
    "Privacy",
    "Schema",
    "Table",
    "TableKind",
    "UnknownName",
]
