"""The one SQL generator: a ``Plan`` becomes a single parameterised PostgreSQL statement.

Identifiers come from the schema registry only; every value of a query travels as a named psycopg
parameter (``%(p0)s``). Text values absent from a row (stored as ``''``) read as NULL, so that they
render as absent and compare as absent.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.query import plan as p
from engine.query.errors import QueryError
from engine.schema import SCHEMA, AggregateForm, FieldType, Link, Table

TEXT_TYPES = frozenset({FieldType.STRING, FieldType.ENUM, FieldType.UID})
# What one PostgreSQL statement can bind.
MAX_PARAMETERS = 65_535
WHOLE_NUMBERS = frozenset({FieldType.DURATION, FieldType.BYTES, FieldType.INT, FieldType.ID})


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def pattern_to_like(pattern: str) -> str:
    """``*`` (any run) and ``?`` (one character) to a LIKE pattern; everything else literal."""
    return escape_like(pattern).replace("*", "%").replace("?", "_")


@dataclass
class Parameters:
    values: dict[str, object] = field(default_factory=dict)

    def add(self, value) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f"%({name})s"


@dataclass
class Statement:
    sql: str
    params: dict[str, object]


class _Scope:
    """The FROM clause of one SELECT: its root alias and the joins its expressions need."""

    def __init__(self, generator: SqlGenerator, root_sql: str, root_table: Table | None, prefix: str):
        self.generator = generator
        self.prefix = prefix
        self.root_alias = f"{prefix}0"
        self.root_sql = root_sql
        self.root_table = root_table
        self.joins: list[str] = []
        self._aliases: dict[tuple, str] = {(): self.root_alias}

    def _new_alias(self) -> str:
        return f"{self.prefix}{len(self._aliases)}"

    def alias_for(self, path: tuple[Link, ...]) -> str:
        """The alias of the table at the end of ``path``, joining what is missing."""
        key = tuple((link.name, link.column, link.target) for link in path)
        if key in self._aliases:
            return self._aliases[key]
        parent = self.alias_for(path[:-1])
        link = path[-1]
        target = SCHEMA.table(link.target)
        alias = self._new_alias()
        nullable = any(step.nullable for step in path)
        kind = "LEFT JOIN" if nullable else "JOIN"
        self.joins.append(f"{kind} {target.sql_table} {alias} ON {alias}.id = {parent}.{link.column}")
        self._aliases[key] = alias
        return alias

    def category_alias(self, column: p.CategoryColumn) -> str:
        key = ("#category", column.category_id, *((link.name, link.column) for link in column.path))
        if key in self._aliases:
            return self._aliases[key]
        owner = self.alias_for(column.path)
        assignment = self._new_alias()
        self._aliases[(*key, "assignment")] = assignment
        keyword = self._new_alias()
        self._aliases[key] = keyword
        category = self.generator.params.add(column.category_id)
        self.joins.append(
            f"LEFT JOIN engine_categoryassignment {assignment} ON {assignment}.object_id = {owner}.id "
            f"AND {assignment}.category_id = {category}"
        )
        self.joins.append(f"LEFT JOIN engine_keyword {keyword} ON {keyword}.id = {assignment}.keyword_id")
        return keyword

    def from_clause(self) -> str:
        return " ".join([f"FROM {self.root_sql} {self.root_alias}", *self.joins])


class SqlGenerator:
    def __init__(self, query_plan: p.Plan):
        self.plan = query_plan
        self.params = Parameters()
        self._activity_aliases: dict[int, tuple[str, bool]] = {}
        self._activity_forms: dict[int, list[AggregateForm]] = {}
        self._visibility: list[tuple[str, str]] | None = None
        self._scopes = 0

    # -- entry point ---------------------------------------------------------------------------

    def generate(self) -> Statement:
        query_plan = self.plan
        scope = self._root_scope()
        where: list[str] = []
        if isinstance(query_plan.source, Table):
            table = query_plan.source
            if table.is_event:
                where.extend(self._event_restrictions(scope, table, query_plan.window))
            elif table.key == "device":
                where.extend(self._device_visibility(scope.root_alias))
        for index, activity in enumerate(query_plan.activities):
            where.extend(self._activity(scope, index, activity))
        selected = [f"{self._expression(scope, column.expression)} AS c{number}"
                    for number, column in enumerate(query_plan.columns)]
        if query_plan.condition is not None:
            where.append(self._condition(scope, query_plan.condition))
        order = [self._ordering(scope, ordering) for ordering in query_plan.order]
        sql = f"SELECT {', '.join(selected)} {scope.from_clause()}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        if query_plan.summary is not None:
            groups = [self._expression(scope, expression) for expression in query_plan.summary.group_by]
            if query_plan.summary.bucket_seconds is not None:
                groups.append(self._bucket_start(scope))
            if groups:
                sql += " GROUP BY " + ", ".join(groups)
        if order:
            sql += " ORDER BY " + ", ".join(order)
        if query_plan.limit is not None:
            sql += f" LIMIT {self.params.add(query_plan.limit)}"
        if len(self.params.values) > MAX_PARAMETERS:
            raise QueryError(f"the query is too complex: it compares more than {MAX_PARAMETERS} values")
        return Statement(sql, self.params.values)

    # -- sources ---------------------------------------------------------------------------------

    def _new_scope(self, root_sql: str, root_table: Table | None) -> _Scope:
        prefix = "t" if self._scopes == 0 else f"s{self._scopes}_"
        self._scopes += 1
        return _Scope(self, root_sql, root_table, prefix)

    def _root_scope(self) -> _Scope:
        source = self.plan.source
        if isinstance(source, Table):
            return self._new_scope(source.sql_table, source)
        return self._new_scope(f"({self._pairs(source)})", None)

    def _pairs(self, source: p.PairSource) -> str:
        parts = []
        for link in source.through:
            table, first, second = link.table, link.first, link.second
            scope = self._new_scope(table.sql_table, table)
            alias = scope.root_alias
            conditions = [f"{alias}.{first.column} IS NOT NULL", f"{alias}.{second.column} IS NOT NULL"]
            conditions += self._event_restrictions(scope, table, source.window)
            pair = f"{alias}.{first.column} AS first_id, {alias}.{second.column} AS second_id"
            where = " AND ".join(conditions)
            if link.current_state is None:
                parts.append(f"SELECT DISTINCT {pair} {scope.from_clause()} WHERE {where}")
                continue
            # Pairs whose latest event leaves them in the state (a package installed, not uninstalled).
            column, state = link.current_state
            latest = (
                f"SELECT DISTINCT ON ({alias}.{first.column}, {alias}.{second.column}) {pair}, "
                f"{alias}.{column} AS state {scope.from_clause()} WHERE {where} "
                f"ORDER BY {alias}.{first.column}, {alias}.{second.column}, {alias}.{table.time_column} DESC"
            )
            parts.append(f"SELECT first_id, second_id FROM ({latest}) latest WHERE state = {self.params.add(state)}")
        return " UNION ".join(parts)

    def _event_restrictions(self, scope: _Scope, table: Table, window: p.TimeWindow | None) -> list[str]:
        """The time window and the device visibility of an event table's rows."""
        alias = scope.root_alias
        restrictions = []
        if window is not None:
            time_column = f"{alias}.{table.time_column}"
            restrictions.append(f"{time_column} >= {self.params.add(window.start)}")
            restrictions.append(f"{time_column} < {self.params.add(window.end)}")
        if self.plan.visibility.restricts:
            device = scope.alias_for((table.links_by_name["device"],))
            restrictions.extend(self._device_visibility(device))
        return restrictions

    def _device_visibility(self, device_alias: str) -> list[str]:
        if self._visibility is None:
            # One set of parameters, however many scopes restrict their devices.
            visibility = self.plan.visibility
            self._visibility = []
            if visibility.platforms is not None:
                self._visibility.append(("platform = ANY({})", self.params.add(list(visibility.platforms))))
            if visibility.entity_ids is not None:
                self._visibility.append(("entity_id = ANY({})", self.params.add(list(visibility.entity_ids))))
            if visibility.engine_id is not None:
                self._visibility.append(("engine_id = {}", self.params.add(visibility.engine_id)))
        return [f"{device_alias}." + test.format(placeholder) for test, placeholder in self._visibility]

    def _activity(self, scope: _Scope, index: int, activity: p.Activity) -> list[str]:
        """Joins the activity's aggregates (or tests its existence); returns conditions to add."""
        forms = [expression.form for expression in self._aggregates_used() if expression.activity == index]
        inner = self._new_scope(activity.table.sql_table, activity.table)
        key = f"{inner.alias_for(activity.path[:-1])}.{activity.path[-1].column}"
        conditions = [f"{key} IS NOT NULL", *self._event_restrictions(inner, activity.table, activity.window)]
        if activity.condition is not None:
            conditions.append(self._condition(inner, activity.condition))
        if not forms and activity.required:
            conditions.insert(0, f"{key} = {scope.root_alias}.id")
            return [f"EXISTS (SELECT 1 {inner.from_clause()} WHERE {' AND '.join(conditions)})"]
        forms = list(dict.fromkeys(forms))
        aggregates = ", ".join(f"{self._aggregate(inner, form)} AS a{number}" for number, form in enumerate(forms))
        alias = f"act{index}"
        self._activity_aliases[index] = (alias, activity.required)
        self._activity_forms[index] = forms
        select = f"SELECT {key} AS object_id" + (f", {aggregates}" if aggregates else "")
        subquery = f"{select} {inner.from_clause()} WHERE {' AND '.join(conditions)} GROUP BY {key}"
        kind = "JOIN" if activity.required else "LEFT JOIN"
        scope.joins.append(f"{kind} ({subquery}) {alias} ON {alias}.object_id = {scope.root_alias}.id")
        return []

    def _aggregates_used(self) -> list[p.AggregateColumn]:
        """Activity aggregates the plan reads: as columns, to order by, to group by or summarize."""
        used = []
        summary = self.plan.summary
        candidates = [column.expression for column in self.plan.columns]
        candidates += [ordering.expression for ordering in self.plan.order]
        candidates += list(summary.group_by) if summary else []
        for expression in candidates:
            if isinstance(expression, p.SummaryColumn):
                expression = expression.measure.target
            if isinstance(expression, p.AggregateColumn):
                used.append(expression)
        return used

    def _aggregate(self, scope: _Scope, form: AggregateForm | p.Measure) -> str:
        """An aggregate over the rows of ``scope`` (an activity's events)."""
        if isinstance(form, p.Measure):
            return self._measure(scope, form)
        event_alias = scope.root_alias
        column = f"{event_alias}.{form.column}" if form.column else None
        expression = _aggregate_call(form.function, column)
        if form.condition is not None:
            expression += f" FILTER (WHERE {self._fixed_condition(event_alias, form.condition)})"
        return expression

    def _measure(self, scope: _Scope, measure: p.Measure) -> str:
        target = None if measure.target is None else self._expression(scope, measure.target)
        expression = _aggregate_call(measure.function, target)
        if measure.condition is not None:
            expression += f" FILTER (WHERE {self._condition(scope, measure.condition)})"
        return expression

    def _measure_value(self, sql: str, function: str, result_type: FieldType, zero_when_missing: bool) -> str:
        """Typed output of an aggregate: whole numbers stay whole, missing counts and sums are zero."""
        whole = result_type in WHOLE_NUMBERS
        if function in ("count", "count_distinct") or (function == "sum" and whole):
            sql = f"{sql}::bigint"
        elif function == "avg" and whole:
            return f"round({sql})::bigint"
        elif function in ("sum", "avg"):
            sql = f"{sql}::double precision"
        if zero_when_missing and function in ("count", "count_distinct", "sum"):
            return f"COALESCE({sql}, 0)"
        return sql

    def _bucket_start(self, scope: _Scope) -> str:
        seconds = self.plan.summary.bucket_seconds
        time_column = f"{scope.root_alias}.{scope.root_table.time_column}"
        return f"to_timestamp(floor(extract(epoch FROM {time_column}) / {int(seconds)}) * {int(seconds)})"

    def _fixed_condition(self, alias: str, condition) -> str:
        column = f"{alias}.{condition.column}"
        if condition.op == "in":
            return f"{column} = ANY({self.params.add(list(condition.value))})"
        if condition.op == ">=":
            return f"{column} >= {self.params.add(condition.value)}"
        raise ValueError(f"unknown aggregate condition {condition.op}")

    # -- expressions -----------------------------------------------------------------------------

    def _raw_expression(self, scope: _Scope, expression: p.Expression, empty_is_null: bool = True) -> str:
        """The SQL of an expression; text stored empty reads as NULL unless ``empty_is_null`` is off
        (comparisons with a value, where '' can never match and a bare column keeps indexes usable)."""
        if isinstance(expression, p.Column):
            path = expression.path
            if expression.field.via:
                owner = SCHEMA.table(path[-1].target) if path else scope.root_table
                path = (*path, owner.links_by_name[expression.field.via])
            sql = f"{scope.alias_for(path)}.{expression.field.column}"
            if expression.field.json_key is not None:
                sql = f"({sql} ->> {self.params.add(expression.field.json_key)})"
            if expression.type in TEXT_TYPES and empty_is_null:
                sql = f"NULLIF({sql}, '')"
            return sql
        if isinstance(expression, p.CategoryColumn):
            return f"{scope.category_alias(expression)}.name"
        if isinstance(expression, p.AggregateColumn):
            alias, _required = self._activity_aliases[expression.activity]
            number = self._activity_forms[expression.activity].index(expression.form)
            return f"{alias}.a{number}"
        raise TypeError(f"not an expression: {expression!r}")

    def _expression(self, scope: _Scope, expression: p.Expression) -> str:
        if isinstance(expression, p.SummaryColumn):
            measure = expression.measure
            return self._measure_value(self._measure(scope, measure), measure.function, measure.type, False)
        if isinstance(expression, p.BucketColumn):
            seconds = int(self.plan.summary.bucket_seconds)
            if expression.part == "bucket_duration":
                return f"{seconds * 1000}::bigint"
            start = self._bucket_start(scope)
            return start if expression.part == "start_time" else f"{start} + interval '{seconds} seconds'"
        sql = self._raw_expression(scope, expression)
        if isinstance(expression, p.AggregateColumn):
            _alias, required = self._activity_aliases[expression.activity]
            sql = self._measure_value(sql, expression.form.function, expression.type, not required)
        return sql

    def _ordering(self, scope: _Scope, ordering: p.Ordering) -> str:
        sql = self._expression(scope, ordering.expression)
        if ordering.expression.type in TEXT_TYPES or isinstance(ordering.expression, p.CategoryColumn):
            sql = f'{sql} COLLATE "C"'
        return f"{sql} {'DESC' if ordering.descending else 'ASC'} NULLS LAST"

    # -- conditions ------------------------------------------------------------------------------

    def _condition(self, scope: _Scope, condition: p.Condition) -> str:
        if isinstance(condition, p.BoolOp):
            parts = [self._condition(scope, item) for item in condition.items]
            if condition.op == "not":
                return f"NOT ({parts[0]})"
            joiner = " AND " if condition.op == "and" else " OR "
            return "(" + joiner.join(parts) + ")"
        return self._comparison(scope, condition)

    def _comparison(self, scope: _Scope, comparison: p.Comparison) -> str:
        target = comparison.target
        op, value = comparison.op, comparison.value
        if op in ("is_null", "not_null"):
            sql = self._raw_expression(scope, target)
            return f"{sql} IS NULL" if op == "is_null" else f"{sql} IS NOT NULL"
        sql = self._raw_expression(scope, target, empty_is_null=False)
        textual = isinstance(target, p.CategoryColumn) or target.type in TEXT_TYPES
        if op in ("like", "not_like"):
            test = f"{sql} ILIKE {self.params.add(pattern_to_like(value))}"
            return test if op == "like" else f"({sql} IS NULL OR NOT {test})"
        if op in ("contains", "not_contains"):
            test = f"{sql} ILIKE {self.params.add('%' + escape_like(value) + '%')}"
            return test if op == "contains" else f"({sql} IS NULL OR NOT {test})"
        if op in ("inside", "not_inside"):
            test = f"{sql} <<= {self.params.add(str(value))}::inet"
            return test if op == "inside" else f"({sql} IS NULL OR NOT {test})"
        enum_column = isinstance(target, p.Column) and target.type is FieldType.ENUM
        if op in ("in", "not_in"):
            values = [v.lower() for v in value] if textual else list(value)
            subject = f"lower({sql})" if textual and not enum_column else sql
            test = f"{subject} = ANY({self.params.add(values)})"
            return test if op == "in" else f"({sql} IS NULL OR NOT {test})"
        if textual and op in ("eq", "ne"):
            # Enums are stored as lowercase words: compared as they are, an index on them still works.
            subject = sql if enum_column else f"lower({sql})"
            test = f"{subject} = {self.params.add(value.lower())}"
            return test if op == "eq" else f"({sql} IS NULL OR NOT {test})"
        if op == "ne":
            return f"{sql} IS DISTINCT FROM {self.params.add(value)}"
        symbol = {"eq": "=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}[op]
        if textual:
            sql = f'{sql} COLLATE "C"'
        return f"{sql} {symbol} {self.params.add(value)}"


def _aggregate_call(function: str, argument: str | None) -> str:
    """SQL of an aggregate function over ``argument`` (``count`` without one counts rows)."""
    if function == "count":
        return f"count({argument})" if argument else "count(*)"
    if function == "count_distinct":
        return f"count(DISTINCT {argument})"
    if function in ("sum", "avg", "min", "max"):
        return f"{function}({argument})"
    raise ValueError(f"unknown aggregate function {function}")


def generate(query_plan: p.Plan) -> Statement:
    return SqlGenerator(query_plan).generate()
