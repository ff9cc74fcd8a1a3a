"""``manage.py nql "QUERY" [--format table|csv|json]``: runs NQL over the whole platform and prints the result.

* ``table`` (default): the column names, a rule, then one line per row, columns aligned (values as
  CSV shows them, an absent value empty);
* ``csv``: comma-separated with a header line (as NQL export files);
* ``json``: an array of objects, one per row, keyed by column name (values as the NQL API's JSON).

``--param NAME=VALUE`` (repeatable) gives values to ``$NAME`` placeholders. Errors go to standard
error, with a non-zero exit status; standard output holds only the result.
"""

from __future__ import annotations

import io
import json
import sys

from django.core.management.base import BaseCommand, CommandError

from engine import exports, services
from engine.query import plan as p
from engine.query.errors import QueryError
from engine.query.render import format_text

FORMATS = ("table", "csv", "json")


def table_lines(names: list[str], rows: list[list[str]]) -> list[str]:
    widths = [len(name) for name in names]
    for row in rows:
        for index, value in enumerate(row):
            widths[index] = max(widths[index], len(value))

    def line(values) -> str:
        return "  ".join(value.ljust(width) for value, width in zip(values, widths, strict=True)).rstrip()

    return [line(names), line(["-" * width for width in widths]), *(line(row) for row in rows)]


class Command(BaseCommand):
    help = "Runs an NQL query over the whole platform and prints the result."

    def add_arguments(self, parser):
        parser.add_argument("query")
        parser.add_argument("--format", default="table", choices=FORMATS)
        parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                            help="value of the query's $NAME parameter (repeatable)")

    def handle(self, *args, **options):
        parameters = {}
        for item in options["param"]:
            name, equals, value = item.partition("=")
            if not equals or not name.strip():
                raise CommandError(f"--param takes NAME=VALUE, not '{item}'")
            parameters[name.strip().lstrip("$")] = value
        try:
            prepared = services.prepare_nql(options["query"], parameters=parameters, visibility=p.Visibility())
            result = services.execute(prepared.plan)
            output = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="", write_through=True)
            try:
                self.write(output, options["format"], result)
            finally:
                output.detach()
        except QueryError as error:
            raise CommandError(error.full_message) from None

    def write(self, output, fmt: str, result) -> None:
        columns = result.columns
        if fmt == "csv":
            exports.write_csv(output, columns, result.rows)
        elif fmt == "json":
            names = [column.name for column in columns]
            output.write("[")
            written = 0
            for row in exports.json_rows(columns, result.rows):
                output.write(",\n" if written else "\n")
                output.write(json.dumps(dict(zip(names, row, strict=True)), ensure_ascii=False, allow_nan=False))
                written += 1
            output.write("\n]\n" if written else "]\n")
        else:
            names = [column.name for column in columns]
            rows = [[format_text(value, column.type) for value, column in zip(row, columns, strict=True)]
                    for row in result.rows]
            for line in table_lines(names, rows):
                output.write(line + "\n")
        output.flush()
