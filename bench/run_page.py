#!/usr/bin/env python
"""Times the run page of a long run: its HTML and its chart data server-side, and its charts in Chromium.

    .venv/bin/python bench/run_page.py [--requests 30] [--loads 5] [--no-browser] [--smoke]

Drops and recreates the PostgreSQL database launchui_run_bench (BENCH_DATABASE_URL overrides the address),
migrates, and stores one run through the file-stream service (projects.services.run_stream, as the client's
requests do): 100,000 history steps of 20 metrics (train/m00..m09, val/m00..m09), 2 hours of system metrics
sampled every 15 s (CPU, 8 cores, memory, disk, network, 2 GPUs: 480 rows) and 2,000 console lines.

Server side, through Django's test client (no network), interleaved after 5 warm-up requests each: the run
page's HTML (Overview, the address the client prints; and the Charts tab), one chart's data (train/m00,
500 samples of 100,000 rows, by step and by wall time), one system chart, and the console's live tail. It
prints each case's median and p90 and the SQL queries of one request with their time.

Browser: the Charts tab in headless Chromium (/usr/bin/chromium through Playwright) against a live server
in this process; each load waits for static/js/charts.js's window.launchuiCharts.drawn, which is the
Performance API measure "charts:drawn" (from the script's start until all 20 charts are fetched and
painted), and the time spent inside uPlot alone. Figures are for one machine and one run.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import benchlib
from benchlib import recreate_database

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/launchui_run_bench")
CHROMIUM = "/usr/bin/chromium"
STEPS, METRICS, SYSTEM_ROWS, CONSOLE_LINES = 100_000, 20, 480, 2_000


def setup_django() -> None:
    # An existing STATIC_ROOT of its own, in the data folder: whitenoise warns when the folder is missing.
    data_dir = Path(os.environ.setdefault("LAUNCHUI_DATA_DIR", str(Path(tempfile.gettempdir()) / "launchui-run-bench")))
    os.environ["STATIC_ROOT"] = str(data_dir / "static")
    (data_dir / "static").mkdir(parents=True, exist_ok=True)
    benchlib.setup_django(DATABASE_URL, allowed_hosts="testserver,127.0.0.1,localhost")


def _chunks(lines: list[str], size: int = 5_000):
    for start in range(0, len(lines), size):
        yield start, lines[start : start + size]


def seed():
    from django.core.management import call_command
    from django.db import connection

    from launchui.accounts.services import team_create, user_create
    from launchui.projects.services import project_get_or_create, run_stream, run_upsert

    call_command("migrate", verbosity=0)
    user = user_create(username="bench", password="bench-password")
    team = team_create(name="acme", creator=user)
    project = project_get_or_create(entity=team, name="vision")
    run, _ = run_upsert(
        project=project,
        name="long-run",
        created_by=user,
        config={"lr": {"value": 0.001}, "layers": {"value": [512, 256]}},
        host="bench-host",
        summary={f"train/m{i:02d}": 0.5 for i in range(10)},
    )
    keys = [f"{split}/m{i:02d}" for split in ("train", "val") for i in range(METRICS // 2)]
    start = 1_700_000_000.0
    history = [
        json.dumps(
            {"_step": s, "_runtime": s * 0.072, "_timestamp": start + s * 0.072}
            | {key: round(1.0 / (s + 1 + n), 6) for n, key in enumerate(keys)}
        )
        for s in range(STEPS)
    ]
    for offset, chunk in _chunks(history):
        run_stream(
            run=run, complete=False, exit_code=None, files={"wandb-history.jsonl": {"offset": offset, "content": chunk}}
        )
    events = []
    for i in range(SYSTEM_ROWS):
        row = {"_runtime": i * 15.0, "_timestamp": start + i * 15, "system.cpu": 50 + i % 40}
        row |= {f"system.cpu.{c}.cpu_percent": (i * 7 + c) % 100 for c in range(8)}
        row |= {
            "system.memory_percent": 40 + i % 10,
            "system.proc.memory.rssMB": 2000 + i,
            "system.disk./.usagePercent": 61.5,
        }
        row |= {"system.network.sent": i * 1e6, "system.network.recv": i * 2e6}
        for gpu in range(2):
            row |= {
                f"system.gpu.{gpu}.gpu": (i + gpu * 10) % 100,
                f"system.gpu.{gpu}.memory": 70,
                f"system.gpu.{gpu}.temp": 60 + gpu,
                f"system.gpu.{gpu}.powerWatts": 250.0,
            }
        events.append(json.dumps(row))
    console = [
        f"2026-11-30T06:00:00.000000 \x1b[32mstep {i}\x1b[0m loss={1 / (i + 1):.4f}" for i in range(CONSOLE_LINES)
    ]
    # Finished, so that the pages do not refresh themselves while they are timed.
    run_stream(
        run=run,
        complete=True,
        exit_code=0,
        files={"wandb-events.jsonl": {"offset": 0, "content": events}, "output.log": {"offset": 0, "content": console}},
    )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    run.refresh_from_db()
    return user, run


def measure(client, urls: list[str], requests: int) -> list[tuple[float, float, int, float]]:
    """Requests are interleaved (one of each URL in turn), so load from other processes hits all alike."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for url in urls:
        for _ in range(5):
            assert client.get(url).status_code == 200, url
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
            client.get(url)
        sql_ms = sum(float(q["time"]) for q in queries.captured_queries) * 1000
        ordered = sorted(timings[url])
        p90 = ordered[max(0, int(len(ordered) * 0.9) - 1)]
        results.append((statistics.median(ordered), p90, len(queries), sql_ms))
    return results


def browser_loads(client, url: str, loads: int) -> list[dict]:
    """The Charts tab loaded `loads` times in headless Chromium against a live server in this process."""
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.core.servers.basehttp import WSGIServer
    from django.test.testcases import LiveServerThread
    from playwright.sync_api import sync_playwright

    server = LiveServerThread("127.0.0.1", StaticFilesHandler, port=0)
    server.daemon = True
    server.start()
    server.is_ready.wait()
    if server.error:
        raise server.error
    assert isinstance(server.httpd, WSGIServer)
    base = f"http://127.0.0.1:{server.port}"
    results = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            context = browser.new_context(base_url=base, viewport={"width": 1280, "height": 900})
            context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": base}])
            page = context.new_page()
            for _ in range(loads + 1):  # the first load warms the caches and is not counted
                page.goto(url)
                page.wait_for_function("window.launchuiCharts !== undefined")
                results.append(page.evaluate("window.launchuiCharts.drawn"))
            browser.close()
    finally:
        server.terminate()
    return results[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--loads", type=int, default=5, help="page loads in Chromium")
    parser.add_argument("--no-browser", action="store_true", help="server-side timings only")
    parser.add_argument("--smoke", action="store_true", help="a tiny run and 3 requests, for CI (timings mean nothing)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    if args.smoke:
        global STEPS, SYSTEM_ROWS, CONSOLE_LINES
        STEPS, SYSTEM_ROWS, CONSOLE_LINES = 1_000, 20, 50
        args.requests, args.loads = 3, 1

    recreate_database(DATABASE_URL)
    try:
        setup_django()
        from django.test import Client
        from django.urls import reverse

        started = time.perf_counter()
        user, run = seed()
        print(
            f"Seeded one run: {STEPS:,} steps of {METRICS} metrics, {SYSTEM_ROWS:,} system-metric rows, "
            f"{CONSOLE_LINES:,} console lines, in {time.perf_counter() - started:.1f} s "
            f"({DATABASE_URL.rsplit('/', 1)[-1]})."
        )
        client = Client()
        client.force_login(user)
        address = ["acme", "vision", run.name]
        data = reverse("run_chart_data", args=address)
        cases = [
            ("page HTML (Overview)", reverse("run", args=address)),
            ("Charts tab HTML", reverse("run_charts", args=address)),
            ("chart data, by step", f"{data}?key=train/m00"),
            ("chart data, by wall time", f"{data}?key=val/m09&x=wall"),
            (
                "system chart (8 cores)",
                f"{data}?stream=system" + "".join(f"&key=system.cpu.{c}.cpu_percent" for c in range(8)),
            ),
            ("console tail", reverse("run_logs_tail", args=address) + f"?after={CONSOLE_LINES - 1}"),
        ]
        print(
            f"\n{args.requests} requests per case after 5 warm-up, interleaved, server-side through django.test.Client"
        )
        print(f"{'case':<28}{'median ms':>10}{'p90 ms':>9}{'queries':>9}{'SQL ms':>8}")
        results = measure(client, [url for _, url in cases], args.requests)
        names = ["page", "charts", "data_step", "data_wall", "system", "tail"]
        for (label, _), (median, p90, queries, sql_ms) in zip(cases, results, strict=True):
            print(f"{label:<28}{median:>10.1f}{p90:>9.1f}{queries:>9}{sql_ms:>8.1f}")
        print("QUERIES " + " ".join(f"{name}={r[2]}" for name, r in zip(names, results, strict=True)))
        points = len(client.get(cases[2][1]).json()["x"])
        print(f"points per chart: {points} (of {STEPS:,} steps)")
        if not args.no_browser:
            loads = browser_loads(client, reverse("run_charts", args=address), args.loads)
            durations = sorted(load["duration"] for load in loads)
            draw = sorted(load["drawMs"] for load in loads)
            print(
                f"\nChromium, Charts tab, {len(loads)} loads after 1 warm-up: {loads[0]['charts']} charts; "
                f"fetched and painted (Performance measure charts:drawn) median {statistics.median(durations):.0f} ms, "
                f"max {durations[-1]:.0f} ms; inside uPlot median {statistics.median(draw):.0f} ms"
            )
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            recreate_database(DATABASE_URL, create=False)


if __name__ == "__main__":
    main()
