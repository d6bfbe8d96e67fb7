"""Reads that must use a partial index even as a prepared statement's generic plan (core/plans.py)."""

import re

import pytest
from django.db import connection

from launchui.launch import selectors, services
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
            values = ", ".join(
                "NULL" if value is None else "'" + str(value).replace("'", "''") + "'" for value in params
            )
            cursor.execute(f"EXPLAIN EXECUTE generic_check({values})")
            return "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("DEALLOCATE generic_check")


def statements_of(call) -> list[tuple[str, list]]:
    """The SQL and parameters of each statement `call` sends, as Django's cursor sends them."""
    seen = []

    def capture(execute, sql, params, many, context):
        seen.append((sql, list(params or ())))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        call()
    return seen


# A partial waiting index (launch/models.py), or an index whose condition holds the waiting states: either
# way the scan reads the waiting items only, not every item of the queue.
WAITING_INDEX = re.compile(
    r"Scan (Backward )?using waiting_(items|by_age|by_priority) "
    r"|Index Cond: .*state\)::text = ANY \('\{PENDING,LEASED\}'"
)


@pytest.mark.parametrize("prioritized", [False, True])
def test_every_waiting_read_uses_a_partial_index_under_a_generic_plan(queue, owner, prioritized):
    """The waiting rule (liveness.waiting_q) carries its states as literals (plans.LiteralIn), so every read
    built from it keeps a partial waiting index when prepared and planned without its values: the Launch
    page's counts and its queued sort, the Agents page's unserved queues, a queue's waiting positions and
    the pop. With the states only as parameters, the generic plan read every item of the queue."""
    if prioritized:
        queue.prioritization_mode = RunQueue.PRIORITIZATION_V0
        queue.save(update_fields=["prioritization_mode"])
    # Most of a queue's items done, as in use: the partial index is then the cheap way to the waiting ones.
    RunQueueItem.objects.bulk_create(
        [RunQueueItem(queue=queue, state=RunQueueItem.FAILED, run_spec={}) for _ in range(2000)]
        + [RunQueueItem(queue=queue, state=RunQueueItem.PENDING, run_spec={}, priority=2) for _ in range(3)]
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE launch_runqueueitem")
    waiting = list(queue.items.filter(state=RunQueueItem.PENDING).values_list("pk", flat=True))
    one_pass_ranking = selectors.LaunchQueues(user=owner, sort="-queued")
    one_pass_ranking.COUNT_VISIBLE_ONLY_UP_TO = 0  # as past that many visible queues
    one_pass_ranking.count()
    reads = {
        "unserved queues": lambda: selectors.unserved_queues(user=owner, limit=21),
        "queue stats": lambda: list(selectors.with_queue_stats(RunQueue.objects.filter(pk=queue.pk))),
        "queued sort": lambda: selectors.LaunchQueues(user=owner, sort="-queued")[0:50],
        "queued sort, one index pass": lambda: one_pass_ranking[0:50],
        "waiting positions": lambda: selectors.waiting_positions(queue, waiting),
        "pop": lambda: services.item_pop(queue=queue, agent_id=None),
    }
    for name, read in reads.items():
        statements = [(sql, params) for sql, params in statements_of(read) if "launch_runqueueitem" in sql]
        assert statements, name
        for sql, params in statements:
            plan = generic_plan(sql, params)
            assert WAITING_INDEX.search(plan), f"{name}: {sql}\n{plan}"
