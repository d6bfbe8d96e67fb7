"""Reads that must use a partial index even as a prepared statement's generic plan (core/plans.py)."""

import re

import pytest
from django.db import connection

from launchui.launch import selectors
from launchui.launch.models import RunQueue, RunQueueItem


def generic_plan(sql: str, params: list) -> str:
    """EXPLAIN of the statement as PostgreSQL runs it once prepared and planned without its values, with
    scans that could read every row disabled (tiny test tables would otherwise be read whole)."""
    marks = iter(range(1, len(params) + 1))
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute("PREPARE generic_check AS " + re.sub("%s", lambda _: f"${next(marks)}", sql))
        try:
            # Literals: a utility statement's own parameters would have no type to infer.
            values = ", ".join("'" + str(value).replace("'", "''") + "'" for value in params)
            cursor.execute(f"EXPLAIN EXECUTE generic_check({values})")
            return "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("DEALLOCATE generic_check")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's plans")
def test_waiting_counts_read_the_partial_index_under_a_generic_plan(queue, owner):
    """The unserved queues (Agents page) and the Launch page count waiting items from a partial index of
    them; with the states only as parameters, the generic plan could not match the index's condition and
    read the queue's every item (plans.LiteralIn)."""
    # Most of a queue's items done, as in use: the partial index is then the cheap way to the waiting ones.
    RunQueueItem.objects.bulk_create(
        [RunQueueItem(queue=queue, state=RunQueueItem.FAILED, run_spec={}) for _ in range(2000)]
        + [RunQueueItem(queue=queue, state=RunQueueItem.PENDING, run_spec={})]
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE launch_runqueueitem")
    for queryset in (
        selectors.unserved_queues(user=owner)[:21],
        selectors.with_queue_stats(RunQueue.objects.filter(pk=queue.pk)),
    ):
        sql, params = queryset.query.sql_with_params()
        # Any of the three indexes with the condition state IN ('PENDING', 'LEASED') (launch/models.py)
        assert re.search(r"Scan using waiting_(items|by_age|by_priority) ", generic_plan(sql, list(params)))
