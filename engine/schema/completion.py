"""The schema registry as the NXQL editor's completion data (``nxql.md``, *NXQL editor*).

The editor embeds this dictionary in its page (``json_script``) and completes table, field,
aggregate and keyword names from it as the user types; nothing in the page hard-codes a name.
"""

from __future__ import annotations

from functools import lru_cache

from engine.schema.registry import SCHEMA, TableKind
from engine.schema.types import FieldType

# NXQL words that are not names of the registry (``nxql.md``, *Grammar*).
CLAUSE_KEYWORDS = ("select", "update", "set", "from", "where", "with", "between", "compute", "order_by", "limit")
OPERATORS = ("eq", "ne", "lt", "le", "gt", "ge")
VALUE_TYPES = ("string", "pattern", "enum", "integer", "real", "boolean", "datetime", "duration", "bytes",
               "ip_address", "id", "null")
ORDER_WORDS = ("asc", "desc")
TIME_WORDS = ("now", "midnight")


@lru_cache(maxsize=1)
def completion_data() -> dict:
    """Tables (by NXQL name) with their fields and aggregates, every aggregate, and the keywords.

    ``{"tables": {"device": {"kind": "object", "description": …, "fields": [{"name", "type",
    "description", "enum"}…], "aggregates": ["number_of_…"…]}, …}, "aggregates": [{"name", "type",
    "description", "tables"}…], "keywords": {"clauses": […], "operators": […], "types": […],
    "order": […], "time": […]}}``. Tables appear in registry order; internal tables are left out.
    """
    tables: dict[str, dict] = {}
    for table in SCHEMA.query_tables():
        if not table.nxql:
            continue
        tables[table.nxql] = {
            "kind": table.kind.value,
            "description": table.description,
            "fields": [
                {
                    "name": field.name,
                    "type": _type_name(field.type),
                    "description": field.description,
                    "enum": list(field.enum_values),
                }
                for field in table.fields
            ],
            "aggregates": [aggregate.name for aggregate in SCHEMA.aggregates_for(table.key)],
        }
    aggregates = [
        {
            "name": aggregate.name,
            "type": _type_name(aggregate.type),
            "description": aggregate.description,
            "tables": [SCHEMA.table(form.table).nxql for form in aggregate.forms
                       if SCHEMA.table(form.table).kind is not TableKind.INTERNAL],
        }
        for aggregate in SCHEMA.aggregates
    ]
    return {
        "tables": tables,
        "aggregates": aggregates,
        "keywords": {
            "clauses": list(CLAUSE_KEYWORDS),
            "operators": list(OPERATORS),
            "types": list(VALUE_TYPES),
            "order": list(ORDER_WORDS),
            "time": list(TIME_WORDS),
        },
    }


def _type_name(field_type: FieldType) -> str:
    """The type as the editor shows it: the NXQL value type, with its unit when it has one."""
    unit = field_type.unit
    return f"{field_type.value} ({unit})" if unit else field_type.value
