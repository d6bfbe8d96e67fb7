#!/usr/bin/env python
"""Times the project page (/<entity>/<project>) at scale, server-side, through Django's test client.

    .venv/bin/python bench/project_page.py [--requests 30] [--explain]

Drops and recreates the PostgreSQL database launchui_bench_project (BENCH_DATABASE_URL overrides the
address), migrates, and seeds with bulk_create one project of 10,000 runs (config, summary of 5 metrics,
tags; finished, failed, killed, running and crashed), half of them launched through one of 4 queues (10,000
queue items in all, so a run's job and queue come from its item). Then it requests the page unfiltered,
filtered by state, by tag, by queue and by text, and sorted by a summary metric and by queue, each with a
summary column picked, interleaved after a warm-up, and prints each case's median and p90, its SQL queries
and their time, and the ratio of the slowest case to the unfiltered one. Figures are for one machine and
one run; compare ratios, not milliseconds.
"""

import argparse
import os
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

from benchlib import recreate_database, setup_django

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/launchui_bench_project")
RUNS, QUEUES = 10_000, 4
# A page measured in the same run as the project page, to read figures taken on a loaded machine: the
# Projects list (one row) pays the same session, middleware and layout, and almost nothing else.
REFERENCE = "/projects"


def seed():
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from launchui.accounts.services import team_create, user_create
    from launchui.launch.models import RunQueue, RunQueueItem
    from launchui.projects.models import Project, Run

    call_command("migrate", verbosity=0)
    rng = random.Random(42)
    now = timezone.now()
    user = user_create(username="bench", password="bench-password")
    team = team_create(name="bench-team", creator=user)
    project = Project.objects.create(entity=team, name="vision")
    queues = RunQueue.objects.bulk_create(
        [RunQueue(entity=team, name=f"queue-{i}", resource="local-process", created_by=user) for i in range(QUEUES)]
    )
    runs = []
    for i in range(RUNS):
        created = now - timedelta(minutes=RUNS - i)
        kind = i % 10
        completed = None if kind in (8, 9) else created + timedelta(minutes=rng.randint(1, 90))
        heartbeat = now if kind == 8 else (created + timedelta(minutes=5) if kind == 9 else completed)
        runs.append(
            Run(
                project=project,
                name=f"r{i:06x}",
                display_name=f"run-{i}",
                config={"lr": {"value": rng.choice([0.1, 0.01, 0.001])}, "batch": {"value": 32 * (1 + i % 4)}},
                summary={f"m{k}": rng.random() for k in range(4)} | {"loss": rng.random(), "_step": 100},
                tags=rng.sample(["baseline", "gpu", "sweep", "big", "ablation"], 2),
                created_by=user,
                created_at=created,
                heartbeat_at=heartbeat,
                completed_at=completed,
                exit_code=None if completed is None else (0 if kind < 6 else 1),
                stop_requested=kind == 7,
            )
        )
    Run.objects.bulk_create(runs, batch_size=2000)
    # auto_now_add overrode created_at: set the spread back
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE launch_run SET created_at = now() - ((%s - id) * interval '1 minute') WHERE project_id = %s",
            [RUNS + 1, project.pk],
        )
    items = [
        RunQueueItem(
            queue=queues[i % QUEUES],
            run_spec={"job": f"bench-team/vision/job-{i % 7}:v{i % 3}", "project": "vision"},
            state=RunQueueItem.CLAIMED,
            associated_run_id=f"r{i:06x}",
        )
        for i in range(0, RUNS, 2)
    ] + [
        RunQueueItem(queue=queues[i % QUEUES], run_spec={"job": "bench-team/vision/job-x:v0", "project": "vision"})
        for i in range(RUNS // 2)
    ]
    RunQueueItem.objects.bulk_create(items, batch_size=5000)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return user


def measure(client, urls: list[str], requests: int) -> list[tuple[float, float, int, float, int]]:
    """Requests are interleaved (one of each URL in turn), so load from other processes hits all alike."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for url in urls:
        for _ in range(5):
            assert client.get(url).status_code == 200
    timings: dict[str, list[float]] = {url: [] for url in urls}
    for _ in range(requests):
        for url in urls:
            start = time.perf_counter()
            response = client.get(url)
            timings[url].append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200, response.status_code
    results = []
    for url in urls:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        rows = response.content.count(b'class="badge badge-')  # one state badge per run row
        sql_ms = sum(float(q["time"]) for q in queries.captured_queries) * 1000
        ordered = sorted(timings[url])
        p90 = ordered[max(int(len(ordered) * 0.9) - 1, 0)]
        results.append((statistics.median(ordered), p90, len(queries), sql_ms, rows))
    return results


def explain(url: str) -> None:
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(User.objects.get(username="bench"))
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    slowest = max(queries.captured_queries, key=lambda q: float(q["time"]))
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + slowest["sql"])
        print(f"\n-- EXPLAIN ANALYZE, the slowest query of {url}")
        print("\n".join(row[0] for row in cursor.fetchall()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of each case's slowest query")
    parser.add_argument("--smoke", action="store_true", help="tiny data and 3 requests, for CI (timings mean nothing)")
    args = parser.parse_args()
    if args.smoke:
        global RUNS
        RUNS = 200
        args.requests = 3

    recreate_database(DATABASE_URL)
    setup_django(DATABASE_URL)
    from django.test import Client

    started = time.perf_counter()
    user = seed()
    print(
        f"Seeded 1 project of {RUNS:,} runs, {RUNS:,} queue items in {QUEUES} queues "
        f"in {time.perf_counter() - started:.1f} s ({DATABASE_URL.rsplit('/', 1)[-1]})."
    )
    client = Client()
    client.force_login(user)
    base = "/bench-team/vision?summary=loss"
    cases = [
        ("unfiltered", base),
        ("state=finished", base + "&state=finished"),
        ("tag=gpu", base + "&tag=gpu"),
        ("queue=queue-2", base + "&queue=queue-2"),
        ("q=run-99", base + "&q=run-99"),
        ("sort=-summary.loss", base + "&sort=-summary_metrics.loss"),
        ("sort=queue", base + "&sort=queue"),
    ]
    print(
        f"\nGET /<entity>/<project>, {args.requests} requests per case after 5 warm-up, interleaved, "
        "server-side through django.test.Client"
    )
    print(f"{'case':<22}{'median ms':>10}{'p90 ms':>9}{'queries':>9}{'SQL ms':>8}{'rows':>6}")
    results = measure(client, [url for _, url in cases] + [REFERENCE], args.requests)
    reference = results.pop()
    for (label, _), (median, p90, queries, sql_ms, rows) in zip(cases, results, strict=True):
        print(f"{label:<22}{median:>10.1f}{p90:>9.1f}{queries:>9}{sql_ms:>8.1f}{rows:>6}")
    print(f"{'reference /projects':<22}{reference[0]:>10.1f}{reference[1]:>9.1f}{reference[2]:>9}{reference[3]:>8.1f}")
    slowest = max(range(len(cases)), key=lambda i: results[i][0])
    print(f"\nslowest case: {cases[slowest][0]}, {results[slowest][0] / results[0][0]:.2f}x the unfiltered page")
    print(
        f"unfiltered page / reference page (the Projects list, one row, same middleware and layout): "
        f"{results[0][0] / reference[0]:.1f}x"
    )
    names = ["unfiltered", "state", "tag", "queue", "text", "sort_summary", "sort_queue"]
    print("QUERIES " + " ".join(f"{name}={r[2]}" for name, r in zip(names, results, strict=True)))
    if args.explain:
        for _, url in cases:
            explain(url)


if __name__ == "__main__":
    main()
