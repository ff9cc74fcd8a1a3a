"""NXQL syntax tree to query plan (``nxql.md``, *Meaning*)."""

from __future__ import annotations

import fnmatch

from engine.nxql import ast
from engine.query import build, literals
from engine.query import plan as p
from engine.query.build import CompileContext, Where, fail
from engine.query.errors import QueryForbidden, closest_first
from engine.schema import SCHEMA, FieldType, Link, Table

OPERATORS = ("eq", "ne", "lt", "le", "gt", "ge")
VALUE_TYPES = ("string", "pattern", "enum", "integer", "real", "boolean", "datetime", "duration", "bytes",
               "ip_address", "id")
# Which NXQL value types fit a field of each type.
ACCEPTED_VALUE_TYPES = {
    FieldType.STRING: {"string", "pattern"},
    FieldType.ENUM: {"enum", "pattern"},
    FieldType.UID: {"string", "pattern"},
    FieldType.INT: {"integer"},
    FieldType.ID: {"id", "integer"},
    FieldType.REAL: {"real", "integer"},
    FieldType.PERCENT: {"real", "integer"},
    FieldType.BOOL: {"boolean"},
    FieldType.DATETIME: {"datetime"},
    FieldType.DURATION: {"duration"},
    FieldType.BYTES: {"bytes"},
    FieldType.IP: {"ip_address"},
    FieldType.LIST: {"string", "pattern", "enum"},
}


def at(node: ast.Node) -> Where:
    return Where(node.line, node.column)


class _Sources:
    """The tables of a ``from`` and how a table named in the query is reached from the row source."""

    def __init__(self, from_clause: ast.From):
        self.tables = [build.table_named(name.text, at(name), "nxql") for name in from_clause.tables]
        self.first = self.tables[0]
        self.pair: p.PairSource | None = None
        events = [t for t in self.tables if t.is_event]
        if len(self.tables) > 1:
            if events:
                if events[0] is not self.first or len(events) > 1:
                    raise fail("only one event table may be queried, and it must come first",
                               at(from_clause.tables[0]))
                for table, name in zip(self.tables[1:], from_clause.tables[1:], strict=True):
                    if build.link_path(self.first, table) is None:
                        raise fail(f"table {table.nxql} is not linked to {self.first.nxql}", at(name),
                                   closest_first(table.key, self.first.links_by_name))
            else:
                self.pair = self._pair(from_clause)

    def _pair(self, from_clause: ast.From) -> p.PairSource:
        if len(self.tables) > 2:
            raise fail("at most two object tables may be queried together", at(from_clause.tables[2]))
        first, second = self.tables
        pair = SCHEMA.pair(first.key, second.key)
        if pair is None:
            raise fail(f"tables {first.nxql} and {second.nxql} are not linked", at(from_clause.tables[1]))
        through = tuple(
            p.PairLink(event, event.links_by_name[first.key], event.links_by_name[second.key], pair.current_state)
            for event in map(SCHEMA.table, pair.through)
        )
        return p.PairSource(first, second, through)

    @property
    def source(self) -> Table | p.PairSource:
        return self.pair or self.first

    def path_to(self, table: Table, node: ast.Node) -> tuple[Link, ...]:
        """Links from the row source to ``table``."""
        if self.pair is not None:
            if table is self.pair.first:
                return (self.pair.first_link,)
            if table is self.pair.second:
                return (self.pair.second_link,)
        elif table is self.first:
            return ()
        else:
            path = build.link_path(self.first, table)
            if path is not None:
                return path
        names = [t.nxql for t in self.tables] + list(self.first.links_by_name)
        raise fail(f"table {table.nxql} is not part of this query", at(node), closest_first(table.key, names))


class NxqlCompiler:
    def __init__(self, context: CompileContext):
        self.context = context

    # -- statements -------------------------------------------------------------------------------

    def compile(self, tree: ast.Select | ast.Update) -> p.Plan | p.UpdatePlan:
        if isinstance(tree, ast.Update):
            return self._update(tree)
        return self._select(tree)

    def _select(self, tree: ast.Select) -> p.Plan:
        sources = _Sources(tree.source)
        condition, window, activities, aggregates = self._from(tree.source, sources)
        columns = self._columns(tree, sources, aggregates)
        order = tuple(self._ordering(item, sources, columns, aggregates) for item in tree.order_by)
        limit = self._limit(tree.limits)
        return p.Plan(
            source=sources.source, columns=tuple(columns), condition=condition, window=window,
            activities=tuple(activities), order=order, limit=limit, visibility=self.context.visibility,
        )

    def _update(self, tree: ast.Update) -> p.UpdatePlan:
        sources = _Sources(tree.source)
        table = sources.first
        if sources.pair is not None or not table.is_object:
            raise fail("update applies to one object table", at(tree.source.tables[0]))
        condition, _window, activities, _aggregates = self._from(tree.source, sources)
        assignments = []
        for assignment in tree.assignments:
            category = build.category_named(self.context.categories, table, assignment.category.name,
                                            at(assignment.category))
            value = assignment.value
            if value.literal is None:
                if value.type_name.text.lower() != "null":
                    raise fail("expected (enum keyword) or (null)", at(value))
                keyword_id = None
            else:
                if value.type_name.text.lower() not in ("enum", "string"):
                    raise fail(f"category #{category.name} takes an enum value, not {value.type_name.text}",
                               at(value.type_name))
                keyword_id, _name = build.keyword_named(category, value.literal.text, at(value.literal))
            assignments.append(p.CategoryUpdate(category.id, keyword_id))
        identifier = p.Column((), table.fields_by_name["id"])
        selection = p.Plan(
            source=table, columns=(p.OutputColumn("id", identifier),), condition=condition,
            activities=tuple(activities), visibility=self.context.visibility,
        )
        return p.UpdatePlan(selection, tuple(assignments))

    # -- from ---------------------------------------------------------------------------------------

    def _from(self, clause: ast.From, sources: _Sources):
        condition = self._wheres(clause.wheres, sources.path_to, sources)
        window = self._window(clause.betweens)
        if window is not None and sources.pair is None and not sources.first.is_event:
            raise fail("between applies to event tables; use it inside a with", at(clause.betweens[0]))
        if sources.pair is not None and window is not None:
            sources.pair = p.PairSource(sources.pair.first, sources.pair.second, sources.pair.through, window)
        activities, aggregates = [], {}
        for index, with_clause in enumerate(clause.withs):
            if sources.pair is not None or not sources.first.is_object:
                raise fail("with applies to a query on one object table", at(with_clause))
            activity, computed = self._activity(index, with_clause, sources.first)
            activities.append(activity)
            for name, (column, node) in computed.items():
                if name in aggregates:
                    raise fail(f"aggregate {name} is computed twice", at(node))
                aggregates[name] = column
        return condition, window, activities, aggregates

    def _activity(self, index: int, clause: ast.With, owner: Table):
        event = build.table_named(clause.table.text, at(clause.table), "nxql")
        if not event.is_event:
            raise fail(f"with takes an event table, not {event.nxql}", at(clause.table),
                       [t.nxql for t in SCHEMA.query_tables() if t.is_event])
        path = self._path_from_event(event, owner, clause.table)

        def path_to(table: Table, node: ast.Node) -> tuple[Link, ...]:
            if table is event:
                return ()
            path = build.link_path(event, table)
            if path is not None:
                return path
            raise fail(f"table {table.nxql} is not linked to {event.nxql}", at(node),
                       closest_first(table.key, [event.nxql, *event.links_by_name]))

        condition = self._wheres(clause.wheres, path_to, None)
        window = self._window(clause.betweens)
        computed = {}
        for compute in clause.computes:
            for name in compute.aggregates:
                aggregate = self._aggregate_named(name, event)
                form = aggregate.form_for(event.key)
                computed[aggregate.name] = (p.AggregateColumn(index, form, aggregate.type), name)
        activity = p.Activity(event, path, condition, window, required=True)
        return activity, computed

    def _aggregate_named(self, name: ast.Name, event: Table):
        available = [a.name for a in SCHEMA.aggregates_for(event.key)]
        if name.text.lower() not in available:
            raise fail(f"unknown aggregate '{name.text}' for table {event.nxql}", at(name),
                       closest_first(name.text, available))
        return SCHEMA.aggregate(name.text)

    def _path_from_event(self, event: Table, owner: Table, node: ast.Node) -> tuple[Link, ...]:
        path = build.link_path(event, owner)
        if path is None:
            raise fail(f"table {event.nxql} is not linked to {owner.nxql}", at(node))
        return path

    def _window(self, betweens: tuple[ast.Between, ...]) -> p.TimeWindow | None:
        if not betweens:
            return None
        if len(betweens) > 1:
            raise fail("between is given more than once", at(betweens[1]))
        between = betweens[0]
        return p.TimeWindow(self._time(between.start), self._time(between.end))

    def _time(self, point: ast.TimePoint):
        if point.word is not None:
            try:
                return literals.relative_time(point.word.text, self.context.now)
            except ValueError as error:
                raise fail(f"invalid time '{point.word.text}': {error}", at(point.word)) from None
        value = point.value
        if value.literal is None or value.type_name.text.lower() != "datetime":
            raise fail("a time is now, midnight, now-N<unit>, midnight-N<unit> or (datetime …)", at(value))
        return build.read_literal(FieldType.DATETIME, value.literal.text, at(value.literal), target="between")

    # -- where ---------------------------------------------------------------------------------------

    def _wheres(self, wheres, path_to, sources: _Sources | None) -> p.Condition | None:
        """AND inside one where; OR across wheres on the same table; AND across tables."""
        by_table: dict[str, list[p.Condition | None]] = {}
        for where in wheres:
            table = build.table_named(where.table.text, at(where.table), "nxql")
            path = path_to(table, where.table)
            comparisons = [self._comparison(c, table, path) for c in where.conditions]
            by_table.setdefault(table.key, []).append(p.all_of(comparisons))
        # A where without conditions (None) holds for every row: its table's alternatives all pass.
        return p.all_of(p.any_of(alternatives) for alternatives in by_table.values() if None not in alternatives)

    def _comparison(self, node: ast.Comparison, table: Table, path: tuple[Link, ...]) -> p.Comparison:
        op = node.op.text.lower()
        if op not in OPERATORS:
            raise fail(f"unknown operator '{node.op.text}'", at(node.op), closest_first(op, OPERATORS))
        if isinstance(node.target, ast.CategoryRef):
            category = build.category_named(self.context.categories, table, node.target.name, at(node.target))
            target = p.CategoryColumn(path, category.id, category.name)
            label, field_type, enum_values = f"#{category.name}", FieldType.ENUM, None
        else:
            field = build.field_named(table, node.target.text, at(node.target), "nxql")
            target = p.Column(path, field)
            label, field_type, enum_values = field.name, field.type, field.enum_values
            category = None
        value = node.value
        if value.literal is None:
            if value.type_name.text.lower() != "null":
                raise fail(f"value ({value.type_name.text}) has no literal", at(value))
            if op not in ("eq", "ne"):
                raise fail(f"operator {op} does not apply to (null)", at(node.op))
            return p.Comparison(target, "is_null" if op == "eq" else "not_null")
        value_type = value.type_name.text.lower()
        if value_type not in VALUE_TYPES:
            raise fail(f"unknown value type '{value.type_name.text}'", at(value.type_name),
                       closest_first(value_type, VALUE_TYPES))
        accepted = ACCEPTED_VALUE_TYPES[field_type]
        if value_type not in accepted:
            raise fail(
                f"value of type {value_type} does not fit field {label} of type {build.type_label(field_type)}",
                at(value.type_name), sorted(accepted),
            )
        text = value.literal.text
        build.check_ordered(field_type, op, label, at(node.op))
        if value_type == "pattern":
            if op not in ("eq", "ne"):
                raise fail(f"operator {op} does not apply to a pattern", at(node.op))
            return p.Comparison(target, "like" if op == "eq" else "not_like", text)
        if category is not None:
            _id, keyword = build.keyword_named(category, text, at(value.literal))
            return p.Comparison(target, op, keyword)
        literal = build.read_literal(field_type, text, at(value.literal), target=label,
                                     enum_values=enum_values)
        if field_type is FieldType.IP:
            return p.Comparison(target, "inside" if op == "eq" else "not_inside", literal)
        return p.Comparison(target, op, literal)

    # -- selection ---------------------------------------------------------------------------------

    def _columns(self, tree: ast.Select, sources: _Sources, aggregates) -> list[p.OutputColumn]:
        columns: list[p.OutputColumn] = []
        if tree.per_table:
            for selection in tree.per_table:
                table = build.table_named(selection.table.text, at(selection.table), "nxql")
                path = sources.path_to(table, selection.table)
                for item in selection.fields:
                    for name, expression in self._expand(item, table, path, aggregates):
                        columns.append(p.OutputColumn(f"{table.nxql}/{name}", expression))
        else:
            table = sources.first
            path = sources.path_to(table, tree.source.tables[0])
            for item in tree.fields:
                for name, expression in self._expand(item, table, path, aggregates):
                    columns.append(p.OutputColumn(name, expression))
        listed = {id(column.expression) for column in columns}
        for name, column in aggregates.items():
            if id(column) not in listed:
                columns.append(p.OutputColumn(name, column))
        return columns

    def _expand(self, item, table: Table, path, aggregates):
        """(name, expression) pairs for one selected item: a field, a glob, a category, an aggregate."""
        if isinstance(item, ast.CategoryRef):
            categories = self.context.categories.for_table(table.key)
            if item.name == "*" or "*" in item.name:
                matched = [c for key, c in sorted(categories.items()) if fnmatch.fnmatchcase(key, item.name.lower())]
                return [(c.name, p.CategoryColumn(path, c.id, c.name)) for c in matched]
            category = build.category_named(self.context.categories, table, item.name, at(item))
            return [(category.name, p.CategoryColumn(path, category.id, category.name))]
        text = item.text.lower()
        if "*" in text:
            matched = [f for f in table.fields if fnmatch.fnmatchcase(f.name, text)]
            if not matched:
                raise fail(f"'{item.text}' matches no field of table {table.nxql}", at(item),
                           [f.name for f in table.fields])
            return [(f.name, p.Column(path, f)) for f in matched]
        if text in aggregates:
            return [(text, aggregates[text])]
        field = build.field_named(table, item.text, at(item), "nxql")
        return [(field.name, p.Column(path, field))]

    def _ordering(self, item: ast.OrderBy, sources: _Sources, columns, aggregates) -> p.Ordering:
        descending = False
        if item.direction is not None:
            direction = item.direction.text.lower()
            if direction not in ("asc", "desc"):
                raise fail(f"unknown order '{item.direction.text}'", at(item.direction), ["asc", "desc"])
            descending = direction == "desc"
        target = item.target
        if isinstance(target, ast.CategoryRef):
            name = target.name
            for column in columns:
                if isinstance(column.expression, p.CategoryColumn) and column.expression.name.lower() == name.lower():
                    return p.Ordering(column.expression, descending)
            category = build.category_named(self.context.categories, sources.first, name, at(target))
            path = sources.path_to(sources.first, target)
            return p.Ordering(p.CategoryColumn(path, category.id, category.name), descending)
        name = target.text.lower()
        if name in aggregates:
            return p.Ordering(aggregates[name], descending)
        for column in columns:
            if column.name.lower() == name:
                return p.Ordering(column.expression, descending)
        table = sources.first
        if "/" in name:  # per-table column name: `device/name`
            table_name, _slash, name = name.partition("/")
            table = build.table_named(table_name, at(target), "nxql")
        field = build.field_named(table, name, at(target), "nxql")
        return p.Ordering(p.Column(sources.path_to(table, target), field), descending)

    def _limit(self, limits: tuple[ast.Limit, ...]) -> int | None:
        if not limits:
            return None
        if len(limits) > 1:
            raise fail("limit is given more than once", at(limits[1]))
        count = limits[0].count
        try:
            value = literals.read_integer(count.text)
        except ValueError:
            value = -1
        if value < 0 or not count.text.isascii():
            raise fail(f"limit takes a whole number, not '{count.text}'", at(count))
        return value


def compile_nxql(tree, context: CompileContext, *, can_edit_categories: bool = True):
    if isinstance(tree, ast.Update) and not can_edit_categories:
        raise QueryForbidden("updating categories needs the right to edit categories")
    return NxqlCompiler(context).compile(tree)
