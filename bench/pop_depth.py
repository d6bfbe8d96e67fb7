#!/usr/bin/env python
"""Times a pop, and the waiting-item counts, with 1,000,000 waiting items spread over 100 queues.

    .venv/bin/python bench/pop_depth.py [--items 1000000] [--queues 100] [--pops 2000] [--smoke]

Drops and recreates the PostgreSQL database launchui_bench_pop (BENCH_DATABASE_URL overrides the address),
migrates it, creates one user, one team and --queues prioritized queues with the domain services, then
writes the items in one INSERT ... SELECT generate_series (seconds, not the hours item_push would take):
priorities 0-3 at random, created over the last 30 days, spread evenly over the queues; besides them, 5% as
many items already claimed (history the pop must skip) and 1% leased within the lease (still held, also
skipped), then VACUUM ANALYZE. It then runs in-process, with Django's PostgreSQL connection:

  1. --pops calls of launchui.launch.services.item_pop, each on a queue picked at random, timed one by one
     (p50, p99, max), after 50 warm-up pops;
  2. the waiting-item counts: the Launch page's queue list (launch.selectors.queue_list, the count of
     waiting items and live agents of every queue the user sees, one query) and one queue's count
     (queue_for_user), 20 times each;
  3. EXPLAIN (ANALYZE, BUFFERS) of one pop statement and of the queue list, printed.

It prints the SQL queries of one pop on a line starting QUERIES. --smoke runs it at 10,000 items over 10
queues and 200 pops, for CI: it checks the script still works; its timings mean nothing. The database is
dropped at the end, even on error. Figures are for one machine and one run.
"""

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from agent_loop import recreate_database  # noqa: E402  (same database helpers as the agent loop)

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/launchui_bench_pop")


def setup_django(data_dir: Path) -> None:
    os.environ.update(
        {
            "DATABASE_URL": DATABASE_URL,
            "LAUNCHUI_DATA_DIR": str(data_dir),
            "STATIC_ROOT": str(data_dir / "static"),
            "DEBUG": "false",
            "LOG_LEVEL": "WARNING",
            "DJANGO_SETTINGS_MODULE": "launchui.settings",
        }
    )
    import django

    django.setup()


def seed(items: int, queue_count: int):
    from django.core.management import call_command
    from django.db import connection

    from launchui.accounts.services import team_create, user_create
    from launchui.launch.models import RunQueue, RunQueueItem
    from launchui.launch.services import agent_register, queue_create

    call_command("migrate", verbosity=0)
    user = user_create(username="bench", password=None)
    team = team_create(name="bench-team", creator=user)
    queues = [
        queue_create(
            entity=team,
            name=f"queue-{i}",
            resource="local-container",
            created_by=user,
            prioritization_mode=RunQueue.PRIORITIZATION_V0,
        )
        for i in range(queue_count)
    ]
    agent = agent_register(entity=team, queues=queues[:1], hostname="bench", config={}, version="", created_by=user)
    first_queue = queues[0].pk  # queue_create makes consecutive ids
    table = RunQueueItem._meta.db_table
    with connection.cursor() as cursor:
        # state by row: the first `items` rows wait; then 5% claimed; then 1% leased just now.
        claimed, leased = items // 20, items // 100
        cursor.execute(
            f"""
            INSERT INTO {table} (queue_id, run_spec, template_variable_values, priority, state, created_by_id,
                                 created_at, updated_at, leased_at, claimed_at, agent_id, associated_run_id,
                                 error_message, error_stage, error_file_paths, warnings)
            SELECT %(first)s + (n %% %(queues)s),
                   jsonb_build_object('entity', 'bench-team', 'project', 'p', 'job', 'job-' || n),
                   '{{}}'::jsonb, (random() * 3.999)::int,
                   CASE WHEN n < %(items)s THEN 'PENDING' WHEN n < %(items)s + %(claimed)s THEN 'CLAIMED'
                        ELSE 'LEASED' END,
                   %(user)s, t, t,
                   CASE WHEN n < %(items)s THEN NULL ELSE now() END,
                   CASE WHEN n >= %(items)s AND n < %(items)s + %(claimed)s THEN now() END,
                   CASE WHEN n < %(items)s THEN NULL ELSE %(agent)s END, '', '', '', '[]'::jsonb, '[]'::jsonb
            FROM generate_series(0, %(total)s - 1) AS n,
                 LATERAL (SELECT now() - random() * interval '30 days' AS t) AS created
        """,
            {
                "first": first_queue,
                "queues": queue_count,
                "items": items,
                "claimed": claimed,
                "user": user.pk,
                "agent": agent.pk,
                "total": items + claimed + leased,
            },
        )
    connection.close()
    import psycopg

    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        conn.execute(f"VACUUM ANALYZE {table}")
    return user, queues


def percentile(ordered: list[float], fraction: float) -> float:
    return ordered[min(len(ordered) - 1, max(0, int(round(fraction * len(ordered) + 0.5)) - 1))]


def timed(fn, times: int) -> list[float]:
    values = []
    for _ in range(times):
        began = time.perf_counter()
        fn()
        values.append((time.perf_counter() - began) * 1000)
    return sorted(values)


def explain(sql: str, params) -> str:
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql, params)
        plan = "\n".join("    " + row[0] for row in cursor.fetchall())
        transaction.set_rollback(True)  # the EXPLAINed pop leases an item: undo it
    return plan


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=1_000_000, help="waiting items in all")
    parser.add_argument("--queues", type=int, default=100)
    parser.add_argument("--pops", type=int, default=2000)
    parser.add_argument("--smoke", action="store_true", help="10,000 items, 10 queues, 200 pops (CI)")
    args = parser.parse_args()
    if args.smoke:
        args.items, args.queues, args.pops = 10_000, 10, 200
    if not (1 <= args.queues <= 10_000 and args.queues <= args.items <= 20_000_000 and 1 <= args.pops <= 100_000):
        parser.error("--queues 1..10000, --items >= queues (at most 20,000,000), --pops 1..100000")

    data_dir = Path(tempfile.mkdtemp(prefix="launchui-bench-pop-"))
    try:
        recreate_database(DATABASE_URL)
        setup_django(data_dir)
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        from launchui.launch import selectors
        from launchui.launch.models import RunQueueItem
        from launchui.launch.services import item_pop

        began = time.perf_counter()
        user, queues = seed(args.items, args.queues)
        print(
            f"Seeded {args.items:,} waiting items over {args.queues} prioritized queues (plus "
            f"{args.items // 20:,} claimed and {args.items // 100:,} leased) in {time.perf_counter() - began:.1f} s "
            f"({DATABASE_URL.rsplit('/', 1)[-1]})."
        )

        rng = random.Random(13)
        with CaptureQueriesContext(connection) as captured:
            item = item_pop(queue=queues[0], agent_id=None)
        assert item is not None and item.state == RunQueueItem.LEASED
        print(f"QUERIES pop={len(captured)}   (SQL statements of one item_pop on PostgreSQL)")
        pop_sql = captured.captured_queries[-1]["sql"]

        def pop() -> None:
            if item_pop(queue=rng.choice(queues), agent_id=None) is None:
                raise RuntimeError("a queue ran dry: seed more items per queue than pops")

        timed(pop, 50)
        pops = timed(pop, args.pops)
        print(
            f"\nitem_pop x {args.pops}, random queue, {args.items:,} waiting: p50 {statistics.median(pops):.2f} ms, "
            f"p99 {percentile(pops, 0.99):.2f} ms, max {pops[-1]:.2f} ms (goal: p99 <= 10 ms)"
        )

        one = queues[1]
        page = timed(lambda: list(selectors.queue_list(user=user)), 20)
        single = timed(lambda: selectors.queue_for_user(user=user, entity_name="bench-team", queue_name=one.name), 20)
        counted = {q.name: q.queued_count for q in selectors.queue_list(user=user)}
        total = sum(counted.values())
        print(
            f"queue list with waiting counts of all {args.queues} queues ({total:,} waiting): "
            f"p50 {statistics.median(page):.1f} ms, max {page[-1]:.1f} ms"
        )
        print(
            f"one queue with its waiting count ({counted[one.name]:,} waiting): "
            f"p50 {statistics.median(single):.2f} ms, max {single[-1]:.2f} ms"
        )

        # The plan of a pop: an index scan in pop order on the partial index, no sort.
        plan = explain(pop_sql.replace("%", "%%"), ())
        print("\nEXPLAIN ANALYZE of one pop:\n" + plan)
        sql, params = selectors.queue_list(user=user).query.sql_with_params()
        print("\nEXPLAIN ANALYZE of the queue list:\n" + explain(sql, params))
        if "Sort" in plan:
            print("\nFAILED: the pop sorts the queue instead of reading an index in pop order.", file=sys.stderr)
            return 1
        return 0
    finally:
        try:
            from django.db import connections

            connections.close_all()
        except Exception:
            pass
        try:
            recreate_database(DATABASE_URL, create=False)
        except Exception as exc:
            print(f"could not drop the benchmark database: {exc}", file=sys.stderr)
        import shutil

        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
