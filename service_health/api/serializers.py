"""The Services API answer in its three formats (``services.md``): JSON, CSV and an HTML table.

Values follow the data model's types (``data-model.md``, hr=false): counts as digits, traffic in
bytes, durations in milliseconds, ratios (``percent``) as 0..1; absent values are ``null`` in JSON
and empty in CSV and HTML. The HTML page shows the same table as the CSV, with the same texts.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from django.template.loader import render_to_string

from engine.query.render import format_text
from service_health.services import Overview, metric_columns

TABLE_COLUMNS = ("service", "hierarchy", "level", "path", "node")


def _timestamp(moment) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def overview_json(answer: Overview) -> dict[str, Any]:
    service = answer.service
    return {
        "service": {"uid": str(service.uid), "name": service.name, "type": service.type},
        "scope": answer.scope,
        "from": _timestamp(answer.window.start),
        "to": _timestamp(answer.window.end),
        "hierarchy": answer.hierarchy,
        "level": answer.level,
        "nodes": [
            {"name": entry.name, "path": list(entry.path), "level": entry.level, "metrics": entry.metrics}
            for entry in answer.entries
        ],
    }


def overview_table(answer: Overview) -> tuple[list[str], list[list[str]]]:
    """The header and the rows, as texts (the CSV and the HTML page show these)."""
    metrics = metric_columns(answer.service.type)
    header = [*TABLE_COLUMNS, *(name for name, _ in metrics)]
    rows = []
    for entry in answer.entries:
        rows.append([
            answer.service.name, answer.hierarchy, entry.level or "", "/".join(entry.path), entry.name,
            *(format_text(entry.metrics[name], field_type) for name, field_type in metrics),
        ])
    return header, rows


def overview_csv(answer: Overview) -> str:
    header, rows = overview_table(answer)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def overview_html(answer: Overview) -> str:
    header, rows = overview_table(answer)
    status_column = header.index("status")
    return render_to_string("service_health/overview.html", {
        "answer": answer, "header": header, "status_column": status_column,
        "rows": [[(value, index == status_column) for index, value in enumerate(row)] for row in rows],
        "from": _timestamp(answer.window.start), "to": _timestamp(answer.window.end),
    })
