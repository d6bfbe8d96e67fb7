"""Statements that PostgreSQL must plan with their values, never with a prepared statement's generic plan."""

from django.db.backends.utils import CursorWrapper


def execute_planned_with_values(cursor: CursorWrapper, sql: str, params: tuple | list) -> None:
    """cursor.execute(sql, params), but on PostgreSQL never as a prepared statement.

    With server-side binding psycopg prepares a statement it has run twice (settings.py), and after five runs
    PostgreSQL may keep a generic plan, made without the values. A generic plan cannot prove a partial index's
    condition (state IN ('PENDING', 'LEASED')) from `state = $1`, so a read that should stop after the first
    rows of the pop index sorts every waiting item instead: the queue Overview's waiting positions took 9 ms
    at 10,000 waiting items instead of 0.7. Still one statement through Django's cursor (counted, logged)."""
    if cursor.db.vendor != "postgresql":
        cursor.execute(sql, params)
        return

    def unprepared(execute, sql, params, many, context):
        with context["connection"].wrap_database_errors:
            return context["cursor"].cursor.execute(sql, params, prepare=False)

    with cursor.db.execute_wrapper(unprepared):
        cursor.execute(sql, params)
