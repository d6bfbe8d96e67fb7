#!/usr/bin/env python
"""Times the list pages at scale, server-side, through Django's test client.

    .venv/bin/python bench/launch_page.py [--requests 30] [--explain] [--variant NAME@DIR ...]

Drops and recreates the PostgreSQL database launchui_bench (BENCH_DATABASE_URL overrides the address),
migrates, and seeds with bulk_create: 1,000 entities (one user's personal entity plus 999 teams, the user a
member of all), 10,000 queues, 2,000 agents (live, offline, killed) and 50,000 queue items, 10,000 of them
waiting in one queue. Then it requests, interleaved after a warm-up: the Launch page (GET /launch) unfiltered,
filtered by one entity, sorted by queued count (both directions), and searched and sorted by queued count; the
Overview of the queue with 10,000 waiting items; and the on-call Agents page (GET /launch/agents). It prints
each case's median and p90 wall time, the median CPU time of the Django process (steadier than wall time on a
loaded machine; PostgreSQL's time is not in it), and the SQL queries of one request with their total time.

--variant NAME@DIR measures another checkout (e.g. the commit before a change, in a temporary `git worktree`)
against the same seeded database, in a subprocess, after this checkout: before/after in one run. The
variant's migrations must match this checkout's. --explain prints EXPLAIN ANALYZE of the Launch page's queue
queries. Figures are for one machine and one run; compare ratios, not milliseconds.
"""

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from benchlib import recreate_database, setup_django

# --code DIR (what --variant passes to its subprocess) imports launchui from another checkout.
ROOT = Path(sys.argv[sys.argv.index("--code") + 1]) if "--code" in sys.argv else Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/launchui_bench")
ENTITIES, QUEUES, AGENTS, ITEMS, DEEP = 1_000, 10_000, 2_000, 50_000, 10_000
DEEP_QUEUE = "queue-00"  # of the user's personal entity: DEEP of the ITEMS wait in it


def seed() -> tuple:
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from launchui.accounts.models import Entity, Membership
    from launchui.accounts.services import user_create
    from launchui.launch.models import LaunchAgent, RunQueue, RunQueueItem

    call_command("migrate", verbosity=0)
    rng = random.Random(42)
    now = timezone.now()
    user = user_create(username="bench", password="bench-password")
    teams = Entity.objects.bulk_create(
        [Entity(name=f"team-{i:04d}", is_team=True) for i in range(ENTITIES - 1)], batch_size=2000
    )
    Membership.objects.bulk_create(
        [
            Membership(entity=e, user=user, role=Membership.ADMIN if i % 2 else Membership.MEMBER)
            for i, e in enumerate(teams)
        ],
        batch_size=2000,
    )
    entities = [user.personal_entity, *teams]
    resources = [r for r, _ in RunQueue.RESOURCES]
    per_entity = QUEUES // ENTITIES
    queues = RunQueue.objects.bulk_create(
        [
            RunQueue(
                entity=e,
                name=f"queue-{j:02d}",
                resource=resources[j % len(resources)],
                config={"resource_args": {resources[j % len(resources)]: {}}},
                created_by=user,
            )
            for e in entities
            for j in range(per_entity)
        ],
        batch_size=2000,
    )

    offline = now - timedelta(seconds=settings.LAUNCHUI_AGENT_OFFLINE_AFTER * 10)
    # Seen "in a day": live for the whole run, however long seeding and measuring take (seen `now`, every agent
    # went Offline a minute in, and the Agents page measured had no live agent, so no running-jobs query).
    seen = now + timedelta(days=1)
    agent_queues = [rng.choice(queues) for _ in range(AGENTS)]
    agents = LaunchAgent.objects.bulk_create(
        [
            LaunchAgent(
                entity_id=q.entity_id,
                name=f"agent-bench{i:05d}",
                hostname=f"host-{i}",
                reported_status=(LaunchAgent.KILLED if i % 5 == 0 else LaunchAgent.POLLING),
                last_seen_at=offline if i % 3 == 0 else seen,
                created_by=user,
            )
            for i, q in enumerate(agent_queues)
        ],
        batch_size=2000,
    )
    through = LaunchAgent.queues.through
    through.objects.bulk_create(
        [through(launchagent_id=a.pk, runqueue_id=q.pk) for a, q in zip(agents, agent_queues, strict=True)],
        batch_size=5000,
    )

    expired = now - timedelta(seconds=settings.LAUNCHUI_LEASE_SECONDS * 10)
    states = [(RunQueueItem.PENDING, None)] * 4 + [
        (RunQueueItem.LEASED, now),
        (RunQueueItem.LEASED, expired),
        (RunQueueItem.CLAIMED, now),
        (RunQueueItem.FAILED, None),
    ]
    deep = queues[0]  # the personal entity's queue-00
    assert deep.entity_id == user.personal_entity.pk and deep.name == DEEP_QUEUE
    items = []
    for i in range(ITEMS):
        state, leased_at = states[i % len(states)] if i >= DEEP else (RunQueueItem.PENDING, None)
        items.append(
            RunQueueItem(
                queue=rng.choice(queues) if i >= DEEP else deep,
                run_spec={"job": f"job-{i}"},
                state=state,
                leased_at=leased_at,
                priority=RunQueueItem.MEDIUM,
                created_by=user,
            )
        )
    RunQueueItem.objects.bulk_create(items, batch_size=5000)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")  # the steady state autovacuum keeps
    return user, entities[len(entities) // 2]


def measure(client, urls: list[str], requests: int) -> list[tuple[float, float, float, int, float, int]]:
    """Requests are interleaved (one of each URL in turn), so load from other processes hits all alike."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for url in urls:
        for _ in range(5):
            assert client.get(url).status_code == 200
    timings: dict[str, list[float]] = {url: [] for url in urls}
    cpu: dict[str, list[float]] = {url: [] for url in urls}
    for _ in range(requests):
        for url in urls:
            start, start_cpu = time.perf_counter(), time.process_time()
            response = client.get(url)
            timings[url].append((time.perf_counter() - start) * 1000)
            cpu[url].append((time.process_time() - start_cpu) * 1000)
            assert response.status_code == 200, response.status_code
    results = []
    for url in urls:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        rows = response.content.count(b"<tr") - response.content.count(b"<thead>")  # minus header rows
        rows -= response.content.count(b'class="recent-row"')  # the Launch page's hidden expander rows
        sql_ms = sum(float(q["time"]) for q in queries.captured_queries) * 1000
        ordered = sorted(timings[url])
        results.append(
            (
                statistics.median(ordered),
                ordered[int(len(ordered) * 0.9) - 1],
                statistics.median(cpu[url]),
                len(queries),
                sql_ms,
                rows,
            )
        )
    return results


def cases(user, entity) -> list[tuple[str, str]]:
    personal = user.personal_entity.name
    return [
        ("launch unfiltered", "/launch"),
        (f"launch entity={entity}", f"/launch?entity={entity}"),
        ("launch sort=-queued", "/launch?sort=-queued"),
        ("launch sort=queued", "/launch?sort=queued"),
        # A search matching 1,000 of the 10,000 queues, by queued count: PostgreSQL guesses that one name matches.
        ("launch search, sort=-queued", "/launch?search=queue-01&sort=-queued"),
        (f"queue overview, {DEEP:,} waiting", f"/launch/{personal}/queues/{DEEP_QUEUE}/"),
        ("agents page", "/launch/agents"),
    ]


def run_cases(variant: str, requests: int, entity: str) -> None:
    from django.contrib.auth.models import User
    from django.test import Client

    user = User.objects.get(username="bench")
    client = Client()
    client.force_login(user)
    chosen = cases(user, entity)
    results = measure(client, [url for _, url in chosen], requests)
    for (label, _), (median, p90, cpu, queries, sql_ms, rows) in zip(chosen, results, strict=True):
        print(f"{variant:<8}{label:<30}{median:>10.1f}{p90:>8.1f}{cpu:>8.1f}{queries:>9}{sql_ms:>8.1f}{rows:>6}")
    sys.stdout.flush()


def explain(user, entity_name: str) -> None:
    """EXPLAIN ANALYZE of the queue queries (the page count and the rows) of the Launch page's cases, as the
    page runs them."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(user)
    for label, url in cases(user, entity_name)[:5]:
        with CaptureQueriesContext(connection) as queries:
            client.get(url)
        for query in queries.captured_queries:
            if "launch_runqueue" not in query["sql"]:
                continue
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + query["sql"])
                print(f"\n-- EXPLAIN ANALYZE, {label}")
                print("\n".join(row[0] for row in cursor.fetchall()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of the queue queries")
    parser.add_argument("--smoke", action="store_true", help="tiny data and 3 requests, for CI (timings mean nothing)")
    parser.add_argument(
        "--variant", action="append", default=[], metavar="NAME@DIR", help="also measure the checkout in DIR"
    )
    parser.add_argument("--code", help=argparse.SUPPRESS)  # a variant's subprocess: measure only
    parser.add_argument("--measure", metavar="NAME:ENTITY", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.smoke:
        global ENTITIES, QUEUES, AGENTS, ITEMS, DEEP
        ENTITIES, QUEUES, AGENTS, ITEMS, DEEP = 10, 100, 20, 500, 100
        args.requests = 3
    if args.measure:
        setup_django(DATABASE_URL)
        name, entity = args.measure.split(":", 1)
        run_cases(name, args.requests, entity)
        return

    recreate_database(DATABASE_URL)
    setup_django(DATABASE_URL)
    started = time.perf_counter()
    user, entity = seed()
    print(
        f"Seeded {ENTITIES:,} entities, {QUEUES:,} queues, {AGENTS:,} agents, {ITEMS:,} items ({DEEP:,} waiting in "
        f"{user.personal_entity.name}/{DEEP_QUEUE}) in {time.perf_counter() - started:.1f} s "
        f"({DATABASE_URL.rsplit('/', 1)[-1]})."
    )
    print(
        f"\n{args.requests} requests per case after 5 warm-up, interleaved, server-side through django.test.Client; "
        "cpu = the Django process's CPU time"
    )
    header = f"{'variant':<8}{'case':<30}{'median ms':>10}{'p90 ms':>8}{'cpu ms':>8}{'queries':>9}{'SQL ms':>8}"
    print(f"{header}{'rows':>6}")
    run_cases("new", args.requests, entity.name)
    for variant in args.variant:
        name, _, code = variant.partition("@")
        command = [sys.executable, __file__, "--code", code, "--measure", f"{name}:{entity.name}"]
        command += ["--requests", str(args.requests)] + (["--smoke"] if args.smoke else [])
        subprocess.run(command, check=True, env={**os.environ, "BENCH_DATABASE_URL": DATABASE_URL})
    if args.explain:
        explain(user, entity.name)


if __name__ == "__main__":
    main()
