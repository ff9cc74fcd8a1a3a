"""``manage.py nxql "QUERY"``: runs NXQL as the admin would and prints what /2/query would answer."""

import sys

from django.core.management.base import BaseCommand, CommandError

from engine import services
from engine.query import plan as p
from engine.query.errors import QueryError
from engine.query.render import FORMATS, ResultColumn, render
from engine.schema import FieldType


class Command(BaseCommand):
    help = "Runs an NXQL query and prints the result exactly as the Web API V2 answers it."

    def add_arguments(self, parser):
        parser.add_argument("query")
        parser.add_argument("--format", default="csv", choices=FORMATS)
        parser.add_argument("--platform", action="append", default=[], help="windows, mac_os, mobile (repeatable)")
        parser.add_argument("--hr", action="store_true", help="human-readable units (not for json)")
        for number in range(1, 10):
            parser.add_argument(f"--p{number}", help=f"value of template parameter %{number}")

    def handle(self, *args, **options):
        templates = {f"p{n}": options[f"p{n}"] for n in range(1, 10) if options[f"p{n}"] is not None}
        try:
            platforms = services.parse_platforms(options["platform"])
            visibility = services.visibility_for(None, platforms)
            compiled = services.compile_nxql_text(options["query"], visibility=visibility,
                                                  template_values=templates, can_edit_categories=True)
            if isinstance(compiled, p.UpdatePlan):
                columns = [ResultColumn("updated", FieldType.INT)]
                rows = iter([(services.apply_update(compiled),)])
            else:
                result = services.execute(compiled)
                columns, rows = result.columns, result.rows
            output = sys.stdout.buffer
            for chunk in render(options["format"], columns, rows,
                                hr=options["hr"] and options["format"] != "json"):
                output.write(chunk)
            output.flush()
        except QueryError as error:
            message = error.full_message
            if error.options:
                message += "\nvalid options: " + ", ".join(error.options)
            raise CommandError(message) from None
