"""Prepared statements and partial indexes: conditions written as literals, so that a prepared statement's
generic plan can still use a partial index.

With server-side binding psycopg prepares a statement it has run twice (settings.py), and after five runs
PostgreSQL may keep a generic plan, made without the values. A generic plan cannot prove a partial index's
condition (state IN ('PENDING', 'LEASED')) from `state = $1`: a read that should stop after the first rows of
the pop index then sorts every waiting item (the queue Overview's waiting positions took 9 ms at 10,000
waiting items instead of 0.7; the Agents page's unserved list 7 ms instead of 2)."""

from collections.abc import Iterable, Sequence
from typing import Any

from django.db.models import BooleanField, Expression, F


class LiteralIn(Expression):
    """`column IN ('a', 'b')` with the values written into the SQL, not bound: a condition a prepared
    statement's generic plan can match against a partial index's (`state IN ('PENDING', 'LEASED')`), where the
    same values as parameters ($1, $2) cannot. For constant values only (they are quoted here, never user
    input). Added beside the real rule (a redundant filter), so the rule keeps one home."""

    conditional = True
    output_field = BooleanField()

    def __init__(self, column: str, values: Iterable[str]) -> None:
        super().__init__()
        self.column: Any = F(column)
        self.values = tuple(values)

    def get_source_expressions(self) -> list:
        return [self.column]

    def set_source_expressions(self, exprs: Sequence[Any]) -> None:
        (self.column,) = exprs

    def resolve_expression(self, query=None, allow_joins=True, reuse=None, summarize=False, for_save=False):
        resolved = self.copy()
        resolved.column = self.column.resolve_expression(query, allow_joins, reuse, summarize, for_save)
        return resolved

    def as_sql(self, compiler, connection) -> Any:
        sql, params = compiler.compile(self.column)
        literals = ", ".join("'" + value.replace("'", "''") + "'" for value in self.values)
        return f"{sql} IN ({literals})", params
