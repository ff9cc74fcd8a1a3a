"""NQL syntax tree to query plan (``nql.md``, *Meaning*).

Stages run left to right. Before any ``with``/``include`` the paths are relative to the source
table; after one, ``where`` stages filter that activity's events (paths relative to the event table)
and ``compute`` aggregates them. ``summarize`` groups the rows the stages before it left.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from engine.nql import ast
from engine.nql.lexer import tokenize
from engine.query import build, literals
from engine.query import plan as p
from engine.query.build import CompileContext, Where, fail
from engine.query.catalog import CategoryInfo
from engine.query.errors import LineIndex, QueryError, closest_first
from engine.schema import SCHEMA, FieldType, Link, Table

DEFAULT_EVENT_WINDOW = timedelta(hours=24)
BUCKET_UNIT_SECONDS = 15 * 60
COMPARISON_OPERATORS = {"==": "eq", "=": "eq", "!=": "ne", "<": "lt", "<=": "le", ">": "gt", ">=": "ge"}
FUNCTIONS = ("count", "sum", "avg", "min", "max", "countif")
UNGROUPABLE = (FieldType.DATETIME, FieldType.BYTES)
MAX_NESTING = 100


def at(node: ast.Node) -> Where:
    return Where(node.line, node.column)


@dataclass
class _ActivityState:
    table: Table
    path: tuple[Link, ...]
    window: p.TimeWindow
    required: bool
    conditions: list = field(default_factory=list)


@dataclass
class CompiledNql:
    plan: p.Plan
    executed_query: str
    parameter_names: list[str]


class NqlCompiler:
    def __init__(self, text: str, context: CompileContext, parameters: dict[str, str] | None):
        self.text = text
        self.context = context
        self.parameters = parameters  # None: only collect the parameter names (validation)
        self.parameter_names: list[str] = []
        self.used_parameters: set[str] = set()
        self._replacements: list[tuple[int, int, str]] = []  # (offset, length, literal) for executedQuery
        self._lines = LineIndex(text)
        self._in_where = False

    # -- query ----------------------------------------------------------------------------------

    def compile(self, query: ast.Query) -> CompiledNql:
        source = build.table_named(query.source.text, at(query.source), "nql")
        self.source = source
        conditions: list[p.Condition] = []
        window = None
        if source.is_event:
            window = self._window(query.timeframe) if query.timeframe else self._default_window()
        elif query.timeframe is not None:
            conditions.append(self._seen_within(source, self._window(query.timeframe), query.timeframe))
        activities: list[_ActivityState] = []
        computed: dict[str, p.AggregateColumn] = {}
        listed: list[p.OutputColumn] | None = None
        summary_columns: list[p.OutputColumn] | None = None
        summary: p.Summary | None = None
        order: list[p.Ordering] = []
        limit = None
        for stage in query.stages:
            if summary is not None and not isinstance(stage, ast.Sort | ast.Limit | ast.Where):
                raise fail("only where, sort and limit may follow summarize", at(stage))
            if isinstance(stage, ast.Where):
                if summary is not None:
                    raise fail("where after summarize is not supported; filter before it", at(stage))
                self._in_where = True
                if activities:
                    state = activities[-1]
                    state.conditions.append(self._condition(stage.condition, state.table))
                else:
                    conditions.append(self._condition(stage.condition, source))
                self._in_where = False
            elif isinstance(stage, ast.Activity):
                activities.append(self._activity(stage, source, len(activities)))
            elif isinstance(stage, ast.Compute):
                if not activities:
                    raise fail("compute needs a with or include before it", at(stage))
                for assignment in stage.assignments:
                    self._check_alias(assignment, computed)
                    computed[assignment.alias] = self._activity_aggregate(assignment.aggregate, activities)
            elif isinstance(stage, ast.ListStage):
                listed = [self._listed(path, source, computed) for path in stage.paths]
            elif isinstance(stage, ast.Summarize):
                if limit is not None:
                    raise fail("summarize after limit is not supported: limit the summarized rows", at(stage))
                order = []  # the order of rows before they are grouped does not change the groups
                summary, summary_columns = self._summarize(stage, source, computed)
            elif isinstance(stage, ast.Sort):
                if limit is not None:
                    raise fail("sort after limit is not supported: sort before you limit", at(stage))
                # Stages run left to right: a later sort decides first, an earlier one breaks its ties.
                order.insert(0, self._sort(stage, source, computed, listed, summary_columns))
            elif isinstance(stage, ast.Limit):
                new_limit = self._limit(stage)
                limit = new_limit if limit is None else min(limit, new_limit)
        for index, state in enumerate(activities):
            if not state.required and not any(c.activity == index for c in computed.values()):
                raise fail("include must be followed by a compute over its events", at(query))
        columns = self._columns(source, listed, summary_columns, computed)
        if self.parameters is not None:
            unused = sorted(set(self.parameters) - self.used_parameters)
            if unused:
                raise fail(f"parameter {unused[0]} is not used by the query", options=sorted(self.used_parameters))
        query_plan = p.Plan(
            source=source, columns=tuple(columns), condition=p.all_of(conditions), window=window,
            activities=tuple(
                p.Activity(s.table, s.path, p.all_of(s.conditions), s.window, s.required) for s in activities
            ),
            order=tuple(order), limit=limit, visibility=self.context.visibility, summary=summary,
        )
        return CompiledNql(query_plan, self._executed_query(), list(self.parameter_names))

    # -- time frames ----------------------------------------------------------------------------

    def _default_window(self) -> p.TimeWindow:
        return p.TimeWindow(self.context.now - DEFAULT_EVENT_WINDOW, self.context.now)

    def _window(self, frame: ast.Timeframe) -> p.TimeWindow:
        now = self.context.now
        try:
            if frame.kind == "past":
                return p.TimeWindow(now - timedelta(milliseconds=literals.read_duration(frame.past)), now)
            if frame.kind == "on":
                day = literals.read_datetime(frame.day[:10])
                return p.TimeWindow(day, day + timedelta(days=1))
            return p.TimeWindow(self._time_point(frame.start), self._time_point(frame.end))
        except (ValueError, OverflowError) as error:
            raise fail(f"invalid time frame: {error}", at(frame)) from None

    def _time_point(self, point: ast.TimePoint):
        if point.datetime is not None:
            return literals.read_datetime(point.datetime)
        return self.context.now - timedelta(milliseconds=literals.read_duration(point.ago))

    def _seen_within(self, table: Table, window: p.TimeWindow, node: ast.Node) -> p.Condition:
        seen = table.fields_by_name.get("last_seen")
        if seen is None:
            raise fail(f"table {table.nql} has no time: a time frame does not apply to it", at(node))
        column = p.Column((), seen)
        return p.BoolOp("and", (p.Comparison(column, "ge", window.start), p.Comparison(column, "lt", window.end)))

    # -- names ----------------------------------------------------------------------------------

    def _resolve(self, path: ast.Path, table: Table) -> tuple[tuple[Link, ...], object]:
        """Links and the field (or category) a path names, relative to ``table``."""
        text = path.text
        links: list[Link] = []
        current = table
        prefixes = {current.nql + ".", (current.nql_singular or "") + "."}
        for prefix in sorted(prefixes, key=len, reverse=True):
            if text.lower().startswith(prefix) and text[len(prefix):]:
                candidate = text[len(prefix):]
                if candidate.lower() in current.fields_by_nql or candidate.startswith("#"):
                    text = candidate
                    break
        while True:
            lowered = text.lower()
            if lowered.startswith("#"):
                category = build.category_named(self.context.categories, current, text[1:], at(path))
                return tuple(links), category
            if lowered in current.fields_by_nql:
                return tuple(links), current.fields_by_nql[lowered]
            head, dot, rest = text.partition(".")
            keyed = current.fields_by_nql.get(head.lower())
            if dot and keyed is not None and keyed.sub_field(rest) is not None:
                return tuple(links), keyed.sub_field(rest)
            link = current.links_by_name.get(head.lower())
            if not dot or link is None:
                options = [*current.fields_by_nql, *current.links_by_name]
                raise fail(f"unknown field '{path.text}' in table {current.nql or current.key}", at(path),
                           closest_first(text, options))
            links.append(link)
            current = SCHEMA.table(link.target)
            text = rest

    def _expression(self, path: ast.Path, table: Table) -> p.Column | p.CategoryColumn:
        links, target = self._resolve(path, table)
        if isinstance(target, CategoryInfo):
            return p.CategoryColumn(links, target.id, target.name)
        return p.Column(links, target)

    def _output_name(self, path: ast.Path, table: Table) -> str:
        links, target = self._resolve(path, table)
        if links:
            return path.text
        if isinstance(target, CategoryInfo):
            return f"{table.nql_singular}.#{path.text.split('#', 1)[1]}"
        return f"{table.nql_singular}.{target.nql}"

    # -- stages ---------------------------------------------------------------------------------

    def _activity(self, stage: ast.Activity, source: Table, index: int) -> _ActivityState:
        if not source.is_object:
            raise fail("with and include apply to object tables", at(stage))
        event = build.table_named(stage.table.text, at(stage.table), "nql")
        if not event.is_event:
            raise fail(f"with takes an event table, not {event.nql}", at(stage.table))
        path = build.link_path(event, source)
        if path is None:
            raise fail(f"table {event.nql} is not linked to {source.nql}", at(stage.table))
        window = self._window(stage.timeframe) if stage.timeframe else self._default_window()
        return _ActivityState(event, path, window, stage.required)

    def _check_alias(self, assignment: ast.Assignment, taken) -> None:
        if assignment.alias in taken or "." in assignment.alias or assignment.alias.startswith("#"):
            raise fail(f"alias '{assignment.alias}' is already used or not a plain name", at(assignment))

    def _activity_aggregate(self, aggregate: ast.Aggregate, activities: list[_ActivityState]) -> p.AggregateColumn:
        index = len(activities) - 1
        state = activities[index]
        measure = self._measure(aggregate, state.table, {})
        return p.AggregateColumn(index, measure, measure.type)

    def _measure(self, aggregate: ast.Aggregate, table: Table, computed: dict) -> p.Measure:
        function = aggregate.function
        if function not in FUNCTIONS:
            raise fail(f"unknown aggregate function '{function}'", at(aggregate), closest_first(function, FUNCTIONS))
        condition = None
        if function == "countif":
            if aggregate.condition is None:
                raise fail("countif needs a condition", at(aggregate))
            condition = self._condition(aggregate.condition, table)
            return p.Measure("count", None, condition, FieldType.INT)
        if aggregate.condition is not None:
            raise fail(f"{function}() takes no condition; use countif", at(aggregate))
        target_path = aggregate.target
        if target_path is None or target_path.text.lower() in (table.nql, table.nql_singular):
            if function != "count":
                raise fail(f"{function}() needs a field", at(aggregate))
            return p.Measure("count", None, None, FieldType.INT)
        if target_path.text in computed:
            target = computed[target_path.text]
        else:
            link = table.links_by_name.get(target_path.text.lower())
            if link is not None:  # `device.count()`: distinct devices
                linked = SCHEMA.table(link.target)
                if function != "count":
                    raise fail(f"{function}() needs a field of {linked.nql}", at(aggregate))
                identifier = p.Column((link,), linked.fields_by_name["id"])
                return p.Measure("count_distinct", identifier, None, FieldType.INT)
            target = self._expression(target_path, table)
        if function == "count":
            return p.Measure("count", target, None, FieldType.INT)
        if function in ("sum", "avg") and not target.type.is_numeric:
            raise fail(f"{function}() needs a number, not {build.type_label(target.type)}", at(aggregate))
        if function in ("min", "max") and not target.type.is_ordered:
            raise fail(f"{function}() needs an ordered value", at(aggregate))
        result = FieldType.REAL if function == "avg" and target.type in (FieldType.INT, FieldType.ID) else target.type
        return p.Measure(function, target, None, result)

    def _listed(self, path: ast.Path, source: Table, computed) -> p.OutputColumn:
        if path.text in computed:
            return p.OutputColumn(path.text, computed[path.text])
        return p.OutputColumn(self._output_name(path, source), self._expression(path, source))

    def _summarize(self, stage: ast.Summarize, source: Table, computed):
        columns: list[p.OutputColumn] = []
        group_by = []
        bucket_seconds = None
        if stage.by_duration is not None:
            if not source.is_event:
                raise fail("time buckets apply to event tables", at(stage.by_duration))
            try:
                milliseconds = literals.read_duration(stage.by_duration.text)
            except ValueError as error:
                raise fail(f"invalid time bucket: {error}", at(stage.by_duration)) from None
            if milliseconds <= 0 or milliseconds % (BUCKET_UNIT_SECONDS * 1000):
                raise fail("a time bucket is a multiple of 15 min, whole hours or days", at(stage.by_duration))
            bucket_seconds = milliseconds // 1000
            columns += [p.OutputColumn(part, p.BucketColumn(part))
                        for part in ("start_time", "end_time", "bucket_duration")]
        for path in stage.by_paths:
            if path.text in computed:
                expression, name = computed[path.text], path.text
            else:
                expression, name = self._expression(path, source), self._output_name(path, source)
            if expression.type in UNGROUPABLE:
                raise fail(f"cannot group by {path.text}, a {build.type_label(expression.type)} field", at(path))
            group_by.append(expression)
            columns.append(p.OutputColumn(name, expression))
        taken = dict(computed)
        for assignment in stage.assignments:
            self._check_alias(assignment, {c.name for c in columns})
            measure = self._measure(assignment.aggregate, source, taken)
            columns.append(p.OutputColumn(assignment.alias, p.SummaryColumn(measure)))
        return p.Summary(tuple(group_by), bucket_seconds), columns

    def _sort(self, stage: ast.Sort, source: Table, computed, listed, summary_columns) -> p.Ordering:
        name = stage.target.text
        for columns in (summary_columns, listed):
            for column in columns or ():
                if column.name == name or column.name.endswith("." + name):
                    return p.Ordering(column.expression, stage.descending)
        if summary_columns is not None:
            raise fail(f"sort after summarize takes one of its columns, not '{name}'", at(stage.target),
                       [c.name for c in summary_columns])
        if name in computed:
            return p.Ordering(computed[name], stage.descending)
        return p.Ordering(self._expression(stage.target, source), stage.descending)

    def _limit(self, stage: ast.Limit) -> int:
        try:
            value = literals.read_integer(stage.count)
        except ValueError:
            value = -1
        if value < 0:
            raise fail(f"limit takes a whole number, not '{stage.count}'", at(stage))
        return value

    def _columns(self, source: Table, listed, summary_columns, computed) -> list[p.OutputColumn]:
        if summary_columns is not None:
            return summary_columns
        if listed is None:
            listed = [p.OutputColumn(f"{source.nql_singular}.{f.nql}", p.Column((), f))
                      for f in source.fields if f.nql is not None]
        names = {column.name for column in listed}
        return listed + [p.OutputColumn(alias, column) for alias, column in computed.items() if alias not in names]

    # -- conditions -----------------------------------------------------------------------------

    def _condition(self, node, table: Table, depth: int = 0) -> p.Condition:
        """Chains of one operator become one n-ary operation and double negations cancel, so long
        ``a or b or c …`` lists compile without deep recursion; real nesting is bounded."""
        if depth > MAX_NESTING:
            raise fail(f"conditions are nested more than {MAX_NESTING} deep", at(node))
        negated = False
        while isinstance(node, ast.BoolOp) and node.op == "not":
            negated, node = not negated, node.items[0]
        if isinstance(node, ast.BoolOp):
            operands, pending = [], [node]
            while pending:
                current = pending.pop()
                if isinstance(current, ast.BoolOp) and current.op == node.op:
                    pending.extend(reversed(current.items))
                else:
                    operands.append(current)
            result = p.BoolOp(node.op, tuple(self._condition(item, table, depth + 1) for item in operands))
        else:
            result = self._comparison(node, table)
        return p.BoolOp("not", (result,)) if negated else result

    def _comparison(self, node: ast.Comparison, table: Table) -> p.Condition:
        links, target = self._resolve(node.target, table)
        category = target if isinstance(target, CategoryInfo) else None
        if category is not None:
            column = p.CategoryColumn(links, category.id, category.name)
            field_type, enum_values, label = FieldType.ENUM, (), f"#{category.name}"
        else:
            column = p.Column(links, target)
            field_type, enum_values, label = target.type, target.enum_values, node.target.text
        op = node.op
        if op in ("in", "!in"):
            values = tuple(self._value(v, field_type, enum_values, label, category) for v in node.values)
            if field_type is FieldType.IP:  # an address is "in" a list of networks when inside one
                if op == "in":
                    return p.BoolOp("or", tuple(p.Comparison(column, "inside", v) for v in values))
                return p.BoolOp("and", tuple(p.Comparison(column, "not_inside", v) for v in values))
            return p.Comparison(column, "in" if op == "in" else "not_in", values)
        literal = node.values[0]
        if literal.kind == "NULL":
            return p.Comparison(column, "is_null" if op in ("==", "=") else "not_null")
        if op in ("contains", "!contains"):
            if not field_type.is_textual and field_type is not FieldType.UID:
                raise fail(f"contains applies to text, not to {label}", at(node))
            value = self._value(literal, FieldType.STRING, (), label, None)
            return p.Comparison(column, "contains" if op == "contains" else "not_contains", value)
        plan_op = COMPARISON_OPERATORS[op]
        build.check_ordered(field_type, plan_op, label, at(node))
        textual = field_type.is_textual or field_type is FieldType.UID
        value = self._value(literal, field_type, enum_values, label, category)
        if (textual and category is None and literal.kind in ("STRING", "PARAM") and isinstance(value, str)
                and ("*" in value or "?" in value)):
            if plan_op not in ("eq", "ne"):
                raise fail("wildcards apply to == and !=", at(literal))
            return p.Comparison(column, "like" if plan_op == "eq" else "not_like", value)
        if field_type is FieldType.IP and plan_op in ("eq", "ne"):
            return p.Comparison(column, "inside" if plan_op == "eq" else "not_inside", value)
        return p.Comparison(column, plan_op, value)

    def _value(self, literal: ast.Literal, field_type: FieldType, enum_values, label: str,
               category: CategoryInfo | None):
        """A literal as a value of the compared field's type (parameters substituted)."""
        kind, text = literal.kind, literal.text
        if kind == "PARAM":
            return self._parameter(literal, field_type, enum_values, label, category)
        if category is not None:
            if kind not in ("PATH", "STRING"):
                raise fail(f"#{category.name} takes a keyword", at(literal))
            return build.keyword_named(category, text, at(literal))[1]
        accepted = _ACCEPTED_LITERALS.get(field_type, ())
        if kind not in accepted:
            raise fail(f"a {_LITERAL_LABELS.get(kind, kind.lower())} does not fit {label} of type "
                       f"{build.type_label(field_type)}", at(literal))
        if kind in ("TRUE", "FALSE"):
            return kind == "TRUE"
        if field_type is FieldType.DURATION and kind == "NUMBER":
            text = text + "ms"
        return build.read_literal(field_type, text, at(literal), target=label, enum_values=enum_values)

    def _parameter(self, literal: ast.Literal, field_type: FieldType, enum_values, label, category):
        name = literal.text
        if not self._in_where:
            raise fail(f"parameter ${name} may only stand in a where stage", at(literal))
        if name not in self.parameter_names:
            self.parameter_names.append(name)
        self.used_parameters.add(name)
        if self.parameters is None:
            return "" if field_type.is_textual else None
        if name not in self.parameters:
            raise fail(f"parameter ${name} has no value", at(literal))
        raw = self.parameters[name]
        if not isinstance(raw, str):
            raise fail(f"parameter {name} must be a string", at(literal))
        if "\x00" in raw:
            raise fail(f"parameter {name} contains a NUL character", at(literal))
        if category is not None:
            value = build.keyword_named(category, raw, at(literal))[1]
            written = value
        else:
            try:
                value = literals.read_value(field_type, raw, enum_values)
            except ValueError as error:
                raise fail(f"parameter {name}: invalid {build.type_label(field_type)} value '{raw}' for "
                           f"{label}: {error}", at(literal)) from None
            written = _as_written(raw, field_type) or canonical_literal(value, field_type)
        offset = self._lines.starts[literal.line - 1] + literal.column - 1
        self._replacements.append((offset, len(name) + 1, written))
        return value

    def _executed_query(self) -> str:
        text = self.text
        for offset, length, written in sorted(self._replacements, reverse=True):
            text = text[:offset] + written + text[offset + length:]
        return text


_ACCEPTED_LITERALS = {
    FieldType.STRING: ("STRING", "PATH", "VERSION", "NUMBER"),
    FieldType.UID: ("STRING", "PATH", "NUMBER"),
    FieldType.LIST: ("STRING", "PATH"),
    FieldType.ENUM: ("PATH", "STRING"),
    FieldType.INT: ("NUMBER",),
    FieldType.ID: ("NUMBER",),
    FieldType.REAL: ("NUMBER",),
    FieldType.PERCENT: ("NUMBER",),
    FieldType.BOOL: ("TRUE", "FALSE"),
    FieldType.DATETIME: ("DATETIME", "STRING"),
    FieldType.DURATION: ("DURATION", "NUMBER"),
    FieldType.BYTES: ("BYTES", "NUMBER"),
    FieldType.IP: ("IP", "STRING"),
}
_UNIT_TYPES = (FieldType.DURATION, FieldType.BYTES, FieldType.DATETIME, FieldType.IP)
_LITERAL_LABELS = {
    "STRING": "string", "PATH": "word", "NUMBER": "number", "DURATION": "duration", "BYTES": "byte size",
    "DATETIME": "datetime", "IP": "IP address", "VERSION": "version", "TRUE": "boolean", "FALSE": "boolean",
}


def _as_written(raw: str, field_type: FieldType) -> str | None:
    """``raw`` itself when it already reads as one NQL literal of the field's type (``8GB``, ``1s``),
    so that ``executedQuery`` keeps what the caller wrote; None otherwise."""
    if field_type in (FieldType.STRING, FieldType.UID, FieldType.LIST):
        return None  # always quoted
    try:
        tokens = list(tokenize(raw.strip()))
    except QueryError:
        return None
    if len(tokens) != 1:
        return None
    kind = tokens[0].type
    if kind not in _ACCEPTED_LITERALS.get(field_type, ()):
        return None
    if kind in ("STRING", "NUMBER") and field_type in _UNIT_TYPES:  # `5000` alone reads as no unit
        return None
    return raw.strip()


def canonical_literal(value, field_type: FieldType) -> str:
    """``value`` written as the NQL literal of its type (what ``executedQuery`` shows a parameter as)."""
    if field_type in (FieldType.STRING, FieldType.UID, FieldType.LIST):
        return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
    if field_type is FieldType.BOOL:
        return "true" if value else "false"
    if field_type is FieldType.DATETIME:
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if field_type is FieldType.DURATION:
        return f"{value}ms"
    if field_type is FieldType.BYTES:
        return f"{value}B"
    if field_type in (FieldType.REAL, FieldType.PERCENT):
        return format(Decimal(repr(float(value))), "f")
    if field_type is FieldType.IP:
        return str(value.network_address) if value.num_addresses == 1 else str(value)
    return str(value)  # integers, ids, enums (bare, lowercase)


def compile_nql(text: str, tree: ast.Query, context: CompileContext,
                parameters: dict[str, str] | None = None) -> CompiledNql:
    return NqlCompiler(text, context, parameters).compile(tree)
