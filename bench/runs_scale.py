#!/usr/bin/env python
"""Runs at scale: a long run's ingest, stored size and reads, a project of many runs, and many runs streaming.

    .venv/bin/python bench/runs_scale.py [--steps 100000] [--metrics 20] [--runs 10000] [--concurrent 50]
        [--seconds 15] [--workers 2] [--reads 21] [--databases postgres,sqlite] [--smoke]

Each database runs in a child process of this script, one after the other: PostgreSQL (BENCH_DATABASE_URL,
default launchui_bench_runs, dropped and recreated) and SQLite as `bin/run` uses it (a file in a new
temporary LAUNCHUI_DATA_DIR). Each child migrates, seeds one user, API key and team with the domain
services, starts `gunicorn launchui.wsgi --workers W --threads 4` on 127.0.0.1 and measures, in one run:

  1. Ingest: one run logging --steps history rows of --metrics metrics, POSTed to its file stream in chunks
     of 1,000 lines (the most the client batches), one request after the other; rows/s and errors. Then the
     stored size per logged value: the rows' table and its indexes, and the chart layer beside them.
  2. Reads of that run, in-process through the selectors the wire and the run page call (the median of
     --reads calls each): history(samples: 500), sampledHistory of one key with 500 samples, and the
     chart's read of one key (extremes: per step range its first, lowest and highest points); then the
     same sampledHistory over HTTP, as the client asks it. PostgreSQL is ANALYZEd first.
  3. scan_history over HTTP: every row, in the client's pages (history(minStep, maxStep) of 1,000 steps);
     rows/s.
  4. api.runs over a project of --runs runs: the client's Runs query, pages of 50, first page and a deep
     one; their SQL query counts (QUERIES line) and median ms, in-process through Django's test client.
  5. --concurrent simulated runs streaming at once for --seconds: each thread its own run and keep-alive
     session, POSTing what the client sends each time it flushes (10 history rows of --metrics metrics,
     one system-metrics line, the summary) without sleeping; requests/s, history rows/s, p50/p99 and
     errors; then the bare view (GET /healthz) with the same number of threads, and the ratio.

Any error fails the run (exit 1). --smoke: tiny sizes for CI (its timings mean nothing). The load generator
shares the machine with the server: compare the ratios measured in one run.
"""

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import agent_loop as loop  # noqa: E402  (gunicorn, database and percentile helpers)

PG_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/launchui_bench_runs")
ENTITY, PROJECT, MANY = "bench-team", "long", "many"
CHUNK = 1_000

HISTORY = """query RunHistory($entity: String!, $project: String!, $run: String!, $minStep: Int64!,
  $maxStep: Int64!, $pageSize: Int!) { project(name: $project, entityName: $entity) { run(name: $run) {
  history(minStep: $minStep, maxStep: $maxStep, samples: $pageSize) } } }"""
SAMPLED = """query RunSampledHistory($project: String!, $entity: String!, $name: String!, $specs: [JSONString!]!) {
  project(name: $project, entityName: $entity) { run(name: $name) { sampledHistory(specs: $specs) } } }"""
RUNS = """query Runs($project: String!, $entity: String!, $cursor: String, $perPage: Int = 50, $order: String,
  $filters: JSONString) { project(name: $project, entityName: $entity) { runCount(filters: $filters)
  runs(filters: $filters, after: $cursor, first: $perPage, order: $order) { edges { node { id name state
  config summaryMetrics systemMetrics historyLineCount historyKeys tags user { name } } cursor }
  pageInfo { endCursor hasNextPage } } } }"""


def history_line(step: int, metrics: int, rnd: random.Random) -> str:
    row = {"_step": step, "_runtime": step * 0.05, "_timestamp": 1.7e9 + step * 0.05}
    row.update({f"metric_{k:02d}": rnd.random() for k in range(metrics)})
    return json.dumps(row)


def median_ms(call, times: int) -> float:
    took = []
    for _ in range(times):
        began = time.perf_counter()
        call()
        took.append(time.perf_counter() - began)
    return statistics.median(took) * 1000


def stored_bytes(database: str) -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        if database == "postgres":
            sizes = {}
            for label, table in (("rows", "projects_runstreamline"), ("layer", "projects_runhistorybucket")):
                cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [table])
                if cursor.fetchone()[0]:
                    cursor.execute("SELECT pg_total_relation_size(%s)", [table])
                    sizes[label] = cursor.fetchone()[0]
            return sizes
        cursor.execute("PRAGMA page_count")
        pages = cursor.fetchone()[0]
        cursor.execute("PRAGMA page_size")
        return {"file": pages * cursor.fetchone()[0]}


class Streams:
    def __init__(self):
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.error_count = 0
        self.rows = 0
        self.lock = threading.Lock()


def stream_worker(base: str, auth: str, run_name: str, metrics: int, start, times: dict, out: Streams) -> None:
    """One simulated run: what the client's file stream sends each flush, as fast as it is answered."""
    import requests

    session = requests.Session()
    session.headers.update({"Authorization": auth, "Content-Type": "application/json"})
    url = f"{base}/files/{ENTITY}/{PROJECT}/{run_name}/file_stream"
    rnd = random.Random(run_name)
    step = events = 0
    latencies, errors, error_count, rows = [], [], 0, 0

    def body() -> bytes:
        nonlocal step, events
        lines = [history_line(s, metrics, rnd) for s in range(step, step + 10)]
        chunk = {
            "files": {
                "wandb-history.jsonl": {"offset": step, "content": lines},
                "wandb-events.jsonl": {
                    "offset": events,
                    "content": [json.dumps({"system.cpu": rnd.random() * 100, "system.memory": 41.5})],
                },
                "wandb-summary.json": {"offset": 0, "content": [lines[-1]]},
            }
        }
        step += 10
        events += 1
        return json.dumps(chunk).encode()

    def call() -> tuple[float, str | None]:
        payload = body()
        began = time.perf_counter()
        try:
            response = session.post(url, data=payload, timeout=60)
        except requests.RequestException as exc:
            return time.perf_counter() - began, repr(exc)
        took = time.perf_counter() - began
        if response.status_code != 200:
            return took, f"{response.status_code}: {response.text[:200]}"
        return took, None

    _, error = call()  # warm-up
    if error:
        errors.append(error)
        error_count += 1
    start.wait(timeout=120)
    while time.perf_counter() < times["deadline"]:
        took, error = call()
        latencies.append(took)
        rows += 10
        if error:
            error_count += 1
            if len(errors) < 5:
                errors.append(error)
    with out.lock:
        out.latencies.extend(latencies)
        out.errors.extend(errors)
        out.error_count += error_count
        out.rows += rows


def healthz_worker(base: str, start, times: dict, out: Streams) -> None:
    import requests

    session = requests.Session()
    latencies, error_count = [], 0
    session.get(f"{base}/healthz", timeout=60)
    start.wait(timeout=120)
    while time.perf_counter() < times["deadline"]:
        began = time.perf_counter()
        response = session.get(f"{base}/healthz", timeout=60)
        latencies.append(time.perf_counter() - began)
        error_count += response.status_code != 200
    with out.lock:
        out.latencies.extend(latencies)
        out.error_count += error_count


def phase(threads: int, seconds: float, target, args_for) -> tuple[Streams, float]:
    out = Streams()
    times: dict = {}
    began: dict = {}

    def go() -> None:
        began["t"] = time.perf_counter()
        times["deadline"] = began["t"] + seconds

    start = threading.Barrier(threads + 1, action=go)
    workers = [
        threading.Thread(target=target, args=(*args_for(i), start, times, out), daemon=True) for i in range(threads)
    ]
    for worker in workers:
        worker.start()
    start.wait(timeout=180)
    for worker in workers:
        worker.join(timeout=seconds + 120)
    return out, time.perf_counter() - began["t"]


def child(database: str, args) -> dict:
    data_dir = Path(tempfile.mkdtemp(prefix=f"launchui-bench-runs-{database}-"))
    (data_dir / "static").mkdir()
    env = {
        "LAUNCHUI_DATA_DIR": str(data_dir),
        "STATIC_ROOT": str(data_dir / "static"),
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "launchui.settings",
        "PYTHONUNBUFFERED": "1",
    }
    if database == "postgres":
        loop.recreate_database(PG_URL)
        env["DATABASE_URL"] = PG_URL
    else:
        os.environ.pop("DATABASE_URL", None)
    os.environ.update(env)
    proc = None
    figures: dict = {"database": database, "errors": 0, "error_samples": []}
    try:
        import django

        django.setup()
        import requests
        from django.core.management import call_command
        from django.db import connection
        from django.test import Client
        from django.test.utils import CaptureQueriesContext

        from launchui.accounts.services import api_key_create, team_create, user_create
        from launchui.projects import selectors
        from launchui.projects.models import Run
        from launchui.projects.services import project_get_or_create, run_upsert

        call_command("migrate", verbosity=0)
        user = user_create(username="bench", password=None)
        _, raw_key = api_key_create(user=user, name="bench runs")
        team = team_create(name=ENTITY, creator=user)
        project = project_get_or_create(entity=team, name=PROJECT)
        long_run = run_upsert(project=project, name="long-run", created_by=user)[0]
        streamers = [
            run_upsert(project=project, name=f"stream-{i}", created_by=user)[0].name for i in range(args.concurrent)
        ]
        connection.close()

        port = loop.free_port()
        log_path = data_dir / "gunicorn.log"
        server_env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        server_env.update(env)
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                loop.gunicorn_command(port, args.workers),
                cwd=ROOT,
                env=server_env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        base = f"http://127.0.0.1:{port}"
        loop.wait_until_up(proc, base + "/graphql", log_path)
        auth = loop.basic_auth(raw_key)
        session = requests.Session()
        session.headers.update({"Authorization": auth, "Content-Type": "application/json"})

        def fail(message: str) -> None:
            figures["errors"] += 1
            if len(figures["error_samples"]) < 8:
                figures["error_samples"].append(message[:300])

        # 1. Ingest through the file stream.
        before = stored_bytes(database)
        rnd = random.Random(7)
        url = f"{base}/files/{ENTITY}/{PROJECT}/{long_run.name}/file_stream"
        began = time.perf_counter()
        for offset in range(0, args.steps, CHUNK):
            lines = [history_line(s, args.metrics, rnd) for s in range(offset, min(offset + CHUNK, args.steps))]
            body = {"files": {"wandb-history.jsonl": {"offset": offset, "content": lines}}}
            response = session.post(url, data=json.dumps(body), timeout=120)
            if response.status_code != 200:
                fail(f"ingest at {offset}: {response.status_code} {response.text[:200]}")
        figures["ingest_s"] = time.perf_counter() - began
        after = stored_bytes(database)
        values = args.steps * args.metrics
        figures["bytes_per_value"] = {k: (after[k] - before.get(k, 0)) / values for k in after}
        if database == "postgres":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")

        # 2. Reads of the long run.
        run = Run.objects.get(pk=long_run.pk)
        figures["stored_rows"] = selectors.run_history_line_count(run)
        if figures["stored_rows"] != args.steps:
            fail(f"stored {figures['stored_rows']} history rows of {args.steps}")
        key = "metric_03"
        reads = {
            "history(samples: 500)": lambda: selectors.run_history_sample(run, 500),
            "sampledHistory 1 key, 500": lambda: selectors.run_sampled_history(run, ["_step", key], 500),
        }
        try:
            chart = selectors.run_sampled_history(run, ["_step", key], 500, extremes=True)
            reads["chart 1 key (extremes), 500"] = lambda: selectors.run_sampled_history(
                run, ["_step", key], 500, extremes=True
            )
            figures["chart_points"] = len(chart)
        except TypeError:  # a checkout from before the chart read
            figures["chart_points"] = None
        sampled = selectors.run_sampled_history(run, ["_step", key], 500)
        figures["sampled_points"] = len(sampled)
        if len(sampled) != min(500, args.steps) or sampled[0]["_step"] != 0 or sampled[-1]["_step"] != args.steps - 1:
            fail(f"sampledHistory gave {len(sampled)} rows from {sampled[:1]} to {sampled[-1:]}")
        figures["reads_ms"] = {label: median_ms(call, args.reads) for label, call in reads.items()}
        wire_body = json.dumps(
            {
                "query": SAMPLED,
                "variables": {
                    "entity": ENTITY,
                    "project": PROJECT,
                    "name": long_run.name,
                    "specs": [json.dumps({"keys": ["_step", key], "samples": 500})],
                },
            }
        )

        def wire_read() -> None:
            response = session.post(f"{base}/graphql", data=wire_body, timeout=60)
            if response.status_code != 200 or "errors" in response.json():
                fail(f"sampledHistory over HTTP: {response.status_code} {response.text[:200]}")

        figures["reads_ms"]["sampledHistory over HTTP"] = median_ms(wire_read, args.reads)

        # 3. scan_history over HTTP, in the client's pages.
        began = time.perf_counter()
        scanned = 0
        for low in range(0, args.steps, CHUNK):
            variables = {
                "entity": ENTITY,
                "project": PROJECT,
                "run": long_run.name,
                "minStep": low,
                "maxStep": low + CHUNK,
                "pageSize": CHUNK,
            }
            response = session.post(f"{base}/graphql", data=json.dumps({"query": HISTORY, "variables": variables}))
            answer = response.json()
            if response.status_code != 200 or "errors" in answer:
                fail(f"scan page at {low}: {response.status_code} {response.text[:200]}")
                break
            scanned += len(answer["data"]["project"]["run"]["history"])
        figures["scan_rows_per_s"] = scanned / (time.perf_counter() - began)
        if scanned != args.steps:
            fail(f"scan_history read {scanned} rows of {args.steps}")

        # 4. api.runs over a project of many runs.
        many = project_get_or_create(entity=team, name=MANY)
        Run.objects.bulk_create(
            [
                Run(
                    project=many,
                    name=f"run-{i:05d}",
                    display_name=f"run {i}",
                    created_by=user,
                    config={"lr": i % 10 / 10},
                    summary={"loss": (i * 7919) % 1000 / 1000},
                )
                for i in range(args.runs)
            ],
            batch_size=2000,
        )
        if database == "postgres":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        client = Client()
        headers = {"HTTP_AUTHORIZATION": auth}

        def runs_page(cursor):
            variables = {"entity": ENTITY, "project": MANY, "perPage": 50, "order": "-created_at", "cursor": cursor}
            response = client.post(
                "/graphql",
                json.dumps({"query": RUNS, "variables": variables}),
                content_type="application/json",
                **headers,
            )
            answer = response.json()
            if response.status_code != 200 or "errors" in answer:
                fail(f"api.runs page after {cursor}: {response.status_code} {str(answer)[:200]}")
                return None
            return answer["data"]["project"]

        runs_page(None)  # the key's first use writes its last-used time
        deep = str(max(0, args.runs - 100))
        counts = {}
        for label, start_after in (("runs_first", None), ("runs_deep", deep)):
            with CaptureQueriesContext(connection) as captured:
                page = runs_page(start_after)
            counts[label] = len(captured)
            if page is None or len(page["runs"]["edges"]) != 50 or page["runCount"] != args.runs:
                fail(f"api.runs {label}: {str(page)[:200]}")
        figures["queries"] = counts
        figures["runs_ms"] = {
            "first page": median_ms(lambda: runs_page(None), args.reads),
            "deep page": median_ms(lambda: runs_page(deep), args.reads),
        }
        connection.close()

        # 5. Many runs streaming at once, then the bare view with as many threads.
        streams, wall = phase(
            args.concurrent,
            args.seconds,
            stream_worker,
            lambda i: (base, auth, streamers[i], args.metrics),
        )
        bare, bare_wall = phase(args.concurrent, args.seconds, healthz_worker, lambda i: (base,))
        ordered, bare_ordered = sorted(streams.latencies), sorted(bare.latencies)
        figures["streams"] = {
            "requests": len(ordered),
            "req_s": len(ordered) / wall,
            "rows_s": streams.rows / wall,
            "p50": loop.percentile(ordered, 0.5) * 1000,
            "p99": loop.percentile(ordered, 0.99) * 1000,
            "errors": streams.error_count,
            "bare_req_s": len(bare_ordered) / bare_wall,
            "bare_p50": loop.percentile(bare_ordered, 0.5) * 1000,
            "bare_p99": loop.percentile(bare_ordered, 0.99) * 1000,
            "bare_errors": bare.error_count,
        }
        for error in streams.errors:
            fail(f"stream: {error}")
        figures["errors"] += bare.error_count
        locked = log_path.read_text(errors="replace").count("database is locked")
        if locked:
            fail(f"gunicorn log: {locked} x 'database is locked'")
        return figures
    finally:
        if proc is not None:
            loop.stop_gunicorn(proc)
        try:
            from django.db import connections

            connections.close_all()
        except Exception:
            pass
        if database == "postgres":
            try:
                loop.recreate_database(PG_URL, create=False)
            except Exception as exc:
                print(f"could not drop the benchmark database: {exc}", file=sys.stderr)
        shutil.rmtree(data_dir, ignore_errors=True)


def report(results: list[dict], args) -> None:
    print(
        f"\nParameters: --steps {args.steps} --metrics {args.metrics} --runs {args.runs} --concurrent "
        f"{args.concurrent} --seconds {args.seconds:g} --workers {args.workers} (gunicorn gthread, 4 threads a "
        f"worker), {os.cpu_count()} cores, client and server on the same machine, one run."
    )
    for r in results:
        db = r["database"]
        print(f"\n[{db}]")
        if "ingest_s" in r:
            sizes = ", ".join(f"{k} {v:.1f}" for k, v in r["bytes_per_value"].items())
            print(
                f"{db} ingest: {args.steps:,} rows x {args.metrics} metrics in {r['ingest_s']:.1f} s = "
                f"{args.steps / r['ingest_s']:,.0f} rows/s through the file stream; stored bytes per logged "
                f"value: {sizes}"
            )
        for label, ms in r.get("reads_ms", {}).items():
            print(f"{db} read {label:<32} median {ms:8.1f} ms")
        if "chart_points" in r:
            print(f"{db} points: sampledHistory {r['sampled_points']}, chart {r['chart_points']}")
        if "scan_rows_per_s" in r:
            print(f"{db} scan_history over HTTP: {r['scan_rows_per_s']:,.0f} rows/s")
        if "runs_ms" in r:
            print(
                f"{db} api.runs over {args.runs:,} runs, 50 a page: first {r['runs_ms']['first page']:.1f} ms, "
                f"deep {r['runs_ms']['deep page']:.1f} ms median; queries {r['queries']}"
            )
        if "streams" in r:
            s = r["streams"]
            print(
                f"{db} {args.concurrent} runs streaming: {s['requests']} requests, {s['req_s']:.0f} req/s, "
                f"{s['rows_s']:,.0f} history rows/s, p50 {s['p50']:.1f} ms, p99 {s['p99']:.1f} ms, errors "
                f"{s['errors']}; bare view GET /healthz: {s['bare_req_s']:.0f} req/s (p50 {s['bare_p50']:.1f}, "
                f"p99 {s['bare_p99']:.1f}); ratio {s['req_s'] / max(s['bare_req_s'], 1e-9):.2f}"
            )
        print(f"{db} errors {r['errors']}")
        for sample in r["error_samples"]:
            print(f"  {sample}")
    pg = next((r for r in results if r["database"] == "postgres" and "queries" in r), None)
    if pg:
        print("QUERIES " + " ".join(f"{k}={v}" for k, v in pg["queries"].items()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--metrics", type=int, default=20)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--concurrent", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--reads", type=int, default=21)
    parser.add_argument("--databases", default="postgres,sqlite")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes for CI; timings mean nothing")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.smoke:
        args.steps, args.runs, args.concurrent, args.seconds, args.reads = 3_000, 150, 3, 1.0, 3
    if min(args.steps, args.metrics, args.runs, args.concurrent, args.workers, args.reads) < 1 or args.runs < 101:
        parser.error("sizes must be positive (and --runs at least 101)")
    if args.child:
        try:
            figures = child(args.child, args)
        except Exception as exc:
            import traceback

            traceback.print_exc()
            figures = {"database": args.child, "errors": 1, "error_samples": [repr(exc)]}
        print("RESULT " + json.dumps(figures))
        return 0
    results = []
    for database in args.databases.split(","):
        if database not in ("postgres", "sqlite"):
            parser.error("--databases: postgres and/or sqlite")
        command = [sys.executable, __file__, "--child", database, *sys.argv[1:]]
        done = subprocess.run(command, capture_output=True, text=True, timeout=3600)
        line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
        if line is None:
            print(done.stdout[-3000:], done.stderr[-3000:], file=sys.stderr)
            results.append({"database": database, "errors": 1, "error_samples": [f"child exited {done.returncode}"]})
            continue
        results.append(json.loads(line[len("RESULT ") :]))
        print(f"{database} done", flush=True)
    report(results, args)
    return 1 if any(r["errors"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
