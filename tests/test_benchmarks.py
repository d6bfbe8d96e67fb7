"""Regression guard for bench/: every benchmark runs at a tiny size (--smoke), so none rots.

Each script runs as a subprocess against databases of its own (named after this run's test database, never
the test database itself) and must exit 0. The query counts they print are asserted; timings are not (they
mean nothing at this size on a shared machine).
"""

import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parent.parent
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/launchui")

pytestmark = pytest.mark.bench_guard


def run_bench(script: str, *args: str, timeout: float = 240) -> str:
    parsed = urlparse(TEST_DATABASE_URL)
    bench_url = parsed._replace(path=f"{parsed.path}_guard_{Path(script).stem}").geturl()
    env = {**os.environ, "BENCH_DATABASE_URL": bench_url}
    env.pop("DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"{script} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def queries(output: str) -> dict[str, int]:
    line = next(line for line in output.splitlines() if line.startswith("QUERIES "))
    return {name: int(n) for name, n in re.findall(r"(\w+)=(\d+)", line)}


def test_bench_agent_loop_runs_and_each_agent_call_keeps_its_query_budget():
    output = run_bench("agent_loop.py", "--smoke")
    # No query for the cached API key; pop is the agent's contact RETURNING its queue, then one UPDATE ... RETURNING.
    assert queries(output) == {"LaunchAgent": 2, "popFromRunQueue": 2, "updateLaunchAgent": 1}
    assert "bare view GET /healthz" in output and "agent loop new" in output


def test_bench_pop_depth_runs_and_a_pop_is_one_statement_read_in_index_order():
    output = run_bench("pop_depth.py", "--smoke")
    assert queries(output) == {"pop": 1}
    assert "Index Scan using waiting_by_priority" in output


def test_bench_sqlite_agents_runs_with_no_errors_on_either_database():
    output = run_bench("sqlite_agents.py", "--smoke")
    rows = {line.split()[0]: line.split() for line in output.splitlines() if line.startswith(("sqlite ", "postgres "))}
    assert set(rows) == {"sqlite", "postgres"}
    assert rows["sqlite"][-1] == rows["postgres"][-1] == "0"  # the errors column


def test_bench_launch_page_runs_and_each_page_keeps_its_query_budget():
    output = run_bench("launch_page.py", "--smoke")
    # "new     launch unfiltered   median  p90  cpu  queries  sql  rows": the case is the words before the numbers.
    counts = {}
    for line in output.splitlines():
        if line.startswith("new "):
            words = line.split()
            counts[" ".join(words[1:-6]).split(",")[0].split(" entity=")[0]] = int(words[-3])
    assert counts == {
        "launch unfiltered": 5,
        "launch": 5,  # filtered by one entity: the same queries
        "launch sort=-queued": 5,
        "launch sort=queued": 5,
        "launch search": 5,  # searched and sorted by queued count
        "queue overview": 8,
        "agents page": 8,
    }, output


def test_bench_project_page_runs_at_the_same_queries_whatever_the_filter_or_sort():
    output = run_bench("project_page.py", "--smoke")
    counts = queries(output)
    assert set(counts) == {"unfiltered", "state", "tag", "queue", "text", "sort_summary", "sort_queue"}, output
    assert set(counts.values()) == {7}, counts  # session, user, project, queues, count, page, their items


def test_bench_builds_runs_one_build_over_https():
    # builds.py flushes its Redis db (BENCH_BROKER_URL, default db 11): never the tests' broker db.
    assert os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/11") != os.environ.get("CELERY_BROKER_URL")
    output = run_bench(
        "builds.py",
        "--builds",
        "1",
        "--latency-runs",
        "1",
        "--transport",
        "https",
        "--concurrency",
        "1",
        "--timeout",
        "200",
    )
    assert "worker concurrency 1: submit -> ready job version" in output


def test_bench_run_page_runs_with_the_same_queries_for_every_case():
    output = run_bench("run_page.py", "--smoke")
    # The page, the Charts tab, each chart's data and the console tail: a fixed handful of queries each.
    assert queries(output) == {"page": 4, "charts": 4, "data_step": 5, "data_wall": 5, "system": 4, "tail": 4}
    # The chart read keeps each of 500 step ranges' first, lowest and highest points: at most 3 x 500 + 1.
    points = int(re.search(r"points per chart: (\d+)", output).group(1))
    assert 500 <= points <= 1501 and "20 charts" in output


def test_bench_runs_scale_runs_on_both_databases_and_api_runs_pages_at_constant_queries():
    output = run_bench("runs_scale.py", "--smoke", timeout=600)
    # A first page and a page 100 runs from the end cost the same queries (cursor, page, stream facts).
    assert queries(output) == {"runs_first": 6, "runs_deep": 6}
    assert "postgres errors 0" in output and "sqlite errors 0" in output
