"""Statements the ORM compiles once per database connection, then run with new values on every call.

Building and compiling a queryset (filter, build_filter, setup_joins, as_sql) costs ~0.3-0.4 ms of Python
per statement, several times what PostgreSQL spends running it. The hot paths that run the same few
statements thousands of times a minute (the launch agent's poll loop) keep their rules written once as ORM
code: a Statement calls its builder ONCE per connection with sentinel values for its named parameters,
compiles the result with the ORM, records where each sentinel landed among the bound parameters, and from
then on executes that SQL with a raw cursor (still through Django's cursor wrapper: query counts, logging
and execute_wrappers see it).

Rules for builders:
- Every value that varies per call (ids, the time, cutoffs derived from settings) must be a named
  parameter: anything else is frozen in the cached SQL for the connection's life.
- Parameters are int, str or aware datetime: a sentinel must be bound, never inlined or folded. A value the
  ORM does not bind (or transforms) is not found among the parameters, and building fails loudly.
- Compiled per connection object, so each vendor (SQLite, PostgreSQL) gets its own SQL and its own
  result converters.
"""

import functools
import itertools
import threading
import weakref
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from django.db import connections
from django.db.models import Model, QuerySet, sql
from django.db.models.query import get_related_populators

_SENTINEL_INT_BASE = 1_987_650_000  # inside int32, so integer-range checks of lookups keep it as a parameter
_SENTINEL_TIME_BASE = datetime(1901, 2, 3, 4, 5, 6, tzinfo=UTC)
_counter = itertools.count(1)
M = TypeVar("M", bound=Model)


def _sentinel(kind: type, serial: int) -> Any:
    if kind is int:
        return _SENTINEL_INT_BASE + serial
    if kind is str:
        return f"\x1ecompiled-parameter-{serial}\x1e"
    if kind is datetime:
        return _SENTINEL_TIME_BASE + timedelta(seconds=serial, microseconds=serial)
    raise TypeError(f"A compiled statement's parameter is int, str or datetime, not {kind.__name__}.")


def select_sql(queryset: QuerySet, connection) -> tuple[str, tuple, Callable[[tuple], tuple] | None]:
    """A queryset's SELECT, its parameters and a function converting one row as the ORM would."""
    compiler = queryset.query.get_compiler(connection=connection)
    text, params = compiler.as_sql()
    converters = compiler.get_converters([column[0] for column in compiler.select])
    return text, tuple(params), _row_converter(compiler, converters)


def select_instances(queryset: QuerySet, connection) -> tuple[str, tuple, Callable[[tuple], Model]]:
    """A queryset's SELECT, its parameters and a function making one row the model instance the ORM would:
    its deferred fields (only()), what select_related() joins, and annotations as attributes. The steps of
    Django's ModelIterable, done once per compiled statement rather than once per query."""
    compiler = queryset.query.get_compiler(connection=connection)
    text, params = compiler.as_sql()
    convert = _row_converter(compiler, compiler.get_converters([column[0] for column in compiler.select]))
    select, klass_info, annotations = compiler.select, compiler.klass_info, compiler.annotation_col_map
    model, fields = klass_info["model"], klass_info["select_fields"]
    start, end = fields[0], fields[-1] + 1
    attnames = [column[0].target.attname for column in select[start:end]]
    populators = get_related_populators(klass_info, select, connection.alias)  # type: ignore[call-arg]  # Django 5.2's signature; the stubs have 6.0's
    annotated = list(annotations.items())

    def to_instance(row: tuple) -> Model:
        if convert is not None:
            row = convert(row)
        obj = model.from_db(connection.alias, attnames, row[start:end])
        for populator in populators:
            populator.populate(row, obj)
        for name, position in annotated:
            setattr(obj, name, row[position])
        return obj

    return text, tuple(params), to_instance


def update_sql(queryset: QuerySet, values: dict, connection) -> tuple[str, tuple, None]:
    """queryset.update(**values) as SQL, as QuerySet.update compiles it (no ordering, no annotations)."""
    query: Any = queryset.query.chain(sql.UpdateQuery)
    query.add_update_values(values)
    text, params = query.get_compiler(connection=connection).as_sql()
    return text, tuple(params), None


def model_columns(model: type[Model], connection) -> tuple[str, list[str], Callable[[tuple], tuple] | None]:
    """The quoted column list of a model's concrete fields, their attnames, and a row converter: for
    RETURNING clauses whose rows become instances (instance(model, row))."""
    fields = model._meta.concrete_fields
    compiler = connection.ops.compiler("SQLCompiler")(sql.Query(model), connection, None)
    table = model._meta.db_table
    columns = [field.get_col(table) for field in fields]
    converters = compiler.get_converters(columns)
    quoted = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    return quoted, _attnames(model), _row_converter(compiler, converters)


@functools.lru_cache(maxsize=64)  # one entry a model: bounded, as every cache here
def _attnames(model: type[Model]) -> list[str]:
    return [field.attname for field in model._meta.concrete_fields]


def instance(model: type[M], row: tuple, using: str = "default") -> M:
    """A model instance from a row of model_columns' columns, as the ORM would have loaded it."""
    return model.from_db(using, _attnames(model), row)


def _row_converter(compiler, converters: dict) -> Callable[[tuple], tuple] | None:
    if not converters:
        return None
    steps = [(position, functions, expression) for position, (functions, expression) in converters.items()]
    connection = compiler.connection

    def convert(row: tuple) -> tuple:
        values = list(row)
        for position, functions, expression in steps:
            value = values[position]
            for function in functions:
                value = function(value, expression, connection)
            values[position] = value
        return tuple(values)

    return convert


class Statement:
    """One statement, compiled per connection from `build(connection, **sentinels)`, which returns
    (sql, params, row converter or None): select_sql, select_instances, update_sql, or SQL written around
    them."""

    def __init__(self, build: Callable[..., tuple[str, tuple, Any]], **parameters: type):
        self.build = build
        self.parameters = parameters
        self._compiled: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def _compile(self, connection):
        sentinels = {name: _sentinel(kind, next(_counter)) for name, kind in self.parameters.items()}
        text, params, convert = self.build(connection, **sentinels)
        adapted = {name: _adapt(value, connection) for name, value in sentinels.items()}
        by_value = {value: name for name, value in adapted.items()}
        slots: list[tuple[int, str]] = []
        for position, value in enumerate(params):
            name = by_value.get(value) if isinstance(value, (int, str, datetime)) else None
            if name is not None and not isinstance(value, bool):
                slots.append((position, name))
        missing = set(self.parameters) - {name for _, name in slots}
        if missing:
            raise ValueError(f"Parameters {sorted(missing)} were not bound by the compiled SQL: {text}")
        compiled = (text, list(params), slots, convert)
        with self._lock:
            self._compiled[connection] = compiled
        return compiled

    def _prepared(self, using: str, values: dict) -> tuple:
        connection = connections[using]
        compiled = self._compiled.get(connection) or self._compile(connection)
        text, params, slots, convert = compiled
        bound = list(params)
        for position, name in slots:
            bound[position] = _adapt(values[name], connection)
        return connection, text, bound, convert

    def rows(self, *, using: str = "default", **values: Any) -> list[Any]:
        return _fetch(*self._prepared(using, values))

    def execute(self, *, using: str = "default", **values: Any) -> int:
        """Runs the statement; the number of rows it changed."""
        connection, text, bound, _ = self._prepared(using, values)
        with connection.cursor() as cursor:
            cursor.execute(text, bound)
            return cursor.rowcount


def rows_once(build: Callable[..., tuple[str, tuple, Any]], *, using: str = "default", **values: Any) -> list[Any]:
    """A builder's statement built with these values and run once, uncached: for the shapes of a read that a
    Statement cannot take (a value the ORM transforms, such as a search pattern), so they share its builder."""
    connection = connections[using]
    return _fetch(connection, *build(connection, **values))


def _fetch(connection, text: str, params, convert) -> list[Any]:
    with connection.cursor() as cursor:
        cursor.execute(text, params)
        rows = cursor.fetchall()
    return [convert(row) for row in rows] if convert else rows


def count_sql(queryset: QuerySet, connection) -> tuple[str, tuple, None]:
    """SELECT COUNT(*) of a queryset's rows, as QuerySet.count() answers, for a Statement's builder."""
    text, params, _ = select_sql(queryset.order_by().values("pk"), connection)
    return f"SELECT COUNT(*) FROM ({text}) AS counted", params, None


def paged(built: tuple[str, tuple, Any], limit: Any, offset: Any) -> tuple[str, tuple, Any]:
    """A built SELECT (select_sql, select_instances), ordered, with LIMIT and OFFSET as parameters: the ORM
    writes a slice's bounds into the SQL, where a compiled statement would keep the first call's."""
    text, params, convert = built
    return f"{text} LIMIT %s OFFSET %s", (*params, limit, offset), convert


class IdsStatement:
    """A statement over an IN list of ids (a page's agents, items or queues): `build(connection, ids=[...],
    **values)`. Lists of up to COMPILE_UP_TO ids run one Statement compiled for that many, padded with 0
    (never a primary key); a longer one (a list that is not paged) runs the same builder once, uncompiled,
    so a read stays one query whatever its length."""

    COMPILE_UP_TO = 50  # a page of LAUNCHUI_PAGE_SIZE's default; tests lower it to take the uncompiled path

    def __init__(self, build: Callable[..., tuple[str, tuple, Any]], **parameters: type):
        self.build = build
        self.size = self.COMPILE_UP_TO
        self.names = [f"id{index}" for index in range(self.size)]

        def build_padded(connection, **values):
            ids = [values.pop(name) for name in self.names]
            return build(connection, ids=ids, **values)

        self.statement = Statement(build_padded, **parameters, **dict.fromkeys(self.names, int))

    def rows(self, ids: list[int], *, using: str = "default", **values: Any) -> list[Any]:
        if len(ids) > min(self.size, self.COMPILE_UP_TO):
            return rows_once(self.build, using=using, ids=ids, **values)
        padded = dict(zip(self.names, [*ids, *[0] * (self.size - len(ids))], strict=True))
        return self.statement.rows(using=using, **values, **padded)


def _adapt(value: Any, connection) -> Any:
    # What the ORM binds for a datetime on this vendor (SQLite: text in UTC); ints and strings go as they are.
    if isinstance(value, datetime):
        return connection.ops.adapt_datetimefield_value(value)
    return value
