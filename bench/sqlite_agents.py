#!/usr/bin/env python
"""The embedded default under load: 8 agents and a person using the pages, on SQLite, beside PostgreSQL.

    .venv/bin/python bench/sqlite_agents.py [--seconds 60] [--agents 8] [--workers 2] [--smoke]

Runs the same workload twice, one database after the other, each in a child process of this script:
SQLite as `bin/run` uses it (no DATABASE_URL: the file in LAUNCHUI_DATA_DIR, a new temporary directory) and
PostgreSQL (BENCH_DATABASE_URL, default launchui_bench_sqlite_pg, dropped and recreated). Each child
migrates and seeds with the domain services (one user with a password and an API key, one team, 4 queues,
the agents, 2 items per agent), starts `gunicorn launchui.wsgi --workers W --threads 4` on 127.0.0.1, and
for --seconds runs at once:

  - --agents threads looping LaunchAgent -> popFromRunQueue -> updateLaunchAgent(POLLING), the wandb
    agent's calls, without sleeping (bench/agent_loop.py's agent thread);
  - one person, signed in through /login, loading the Launch page, the Agents page and a queue's page in
    turn, as fast as they answer;
  - a refiller, in the child process (as a second writer, like the Celery worker), pushing items back into
    the queues once a second with item_push.

Any non-200 answer, GraphQL error or page mentioning "database is locked" is an error; the run fails
(exit 1) unless both databases had 0 errors. It prints requests per second for each database and the
SQLite/PostgreSQL ratio. --smoke: 3 s per database, 2 agents (CI: checks the script still works).
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import agent_loop as loop  # noqa: E402  (the agent thread, gunicorn and database helpers)

PG_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/launchui_bench_sqlite_pg")
PASSWORD = "bench-password-1234"
PAGES = ["/launch", "/launch/agents", f"/launch/{loop.ENTITY}/queues/queue-0/"]


def person_worker(base: str, start: threading.Barrier, times: dict, recorder: "loop.Recorder") -> None:
    import requests

    session = requests.Session()
    latencies: dict[str, list[float]] = {"pages": []}
    errors: list[str] = []
    error_count = 0

    def get(path: str) -> str | None:
        response = session.get(base + path, timeout=30)
        body = response.text
        if response.status_code != 200 or "database is locked" in body:
            return f"GET {path}: HTTP {response.status_code}: {body[:200]!r}"
        return None

    try:
        page = session.get(base + "/login", timeout=30)
        found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        if page.status_code != 200 or found is None:
            raise RuntimeError(f"GET /login: HTTP {page.status_code}: {page.text[:300]!r}")
        token = found.group(1)
        signed_in = session.post(
            base + "/login",
            data={"username": "bench", "password": PASSWORD, "csrfmiddlewaretoken": token},
            headers={"Referer": base + "/login"},
            timeout=30,
            allow_redirects=False,
        )
        if signed_in.status_code != 302:
            raise RuntimeError(f"sign-in failed: HTTP {signed_in.status_code}")
        for path in PAGES:  # warm-up
            if error := get(path):
                errors.append("warm-up " + error)
                error_count += 1
        start.wait()
        while time.perf_counter() < times["deadline"]:
            for path in PAGES:
                began = time.perf_counter()
                error = get(path)
                latencies["pages"].append(time.perf_counter() - began)
                if error:
                    error_count += 1
                    if len(errors) < 5:
                        errors.append(error)
    except Exception as exc:
        errors.append(f"person: {type(exc).__name__}: {exc}")
        error_count += 1
        try:
            start.abort()
        except threading.BrokenBarrierError:
            pass
    finally:
        session.close()
        recorder.merge(latencies, errors, error_count, 0)


class GunicornMeter:
    def __init__(self, pid: int):
        self.pid = pid

    def sample(self) -> dict:
        busy, total = loop.machine_busy()
        return {
            "client": sum(os.times()[:2]),
            "gunicorn": loop.proc_cpu_seconds([self.pid, *loop.children_of(self.pid)]),
            "postgres": 0.0,
            "backends": 0,
            "busy": busy,
            "total": total,
        }


def child(database: str, agents: int, seconds: float, workers: int) -> dict:
    """One database: seed, serve, load. Returns the figures as a dict."""
    data_dir = Path(tempfile.mkdtemp(prefix=f"launchui-bench-{database}-"))
    (data_dir / "static").mkdir()
    env = {
        "LAUNCHUI_DATA_DIR": str(data_dir),
        "STATIC_ROOT": str(data_dir / "static"),
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
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
    refiller = None
    try:
        import django

        django.setup()
        from django.contrib.auth.models import User

        raw_key, roster, queues = loop.seed(agents)
        from django.core.management import call_command

        call_command("collectstatic", "--noinput", verbosity=0)  # the pages' manifest, with DEBUG off
        user = User.objects.get(username="bench")
        user.set_password(PASSWORD)
        user.save(update_fields=["password"])
        from django.db import connection

        connection.close()

        port = loop.free_port()
        log_path = data_dir / "gunicorn.log"
        cmd = [
            str(ROOT / ".venv" / "bin" / "gunicorn"),
            "launchui.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--threads",
            "4",
            "--log-level",
            "warning",
            "-c",
            str(ROOT / "bench" / "gunicorn_conf.py"),
        ]
        server_env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        server_env.update(env)
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                cmd,
                cwd=ROOT,
                env=server_env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        base = f"http://127.0.0.1:{port}"
        loop.wait_until_up(proc, base + "/graphql", log_path)

        refiller = loop.Refiller(queues, per_queue=max(2, agents // loop.QUEUES))
        refiller.start()
        recorder = loop.Recorder()
        times: dict = {}
        began: dict = {}
        meter = GunicornMeter(proc.pid)

        def go() -> None:
            began["cpu"], began["t"] = meter.sample(), time.perf_counter()
            times["deadline"] = began["t"] + seconds

        start = threading.Barrier(agents + 2, action=go)
        threads = [
            threading.Thread(
                target=loop.agent_worker,
                args=(base + "/graphql", raw_key, roster[i], start, times, recorder),
                daemon=True,
            )
            for i in range(agents)
        ]
        threads.append(threading.Thread(target=person_worker, args=(base, start, times, recorder), daemon=True))
        for thread in threads:
            thread.start()
        try:
            start.wait(timeout=120)
        except threading.BrokenBarrierError:
            for thread in threads:
                thread.join(timeout=30)
            raise RuntimeError(f"the threads did not all start: {recorder.errors}") from None
        for thread in threads:
            thread.join(timeout=seconds + 90)
        wall = time.perf_counter() - began["t"]
        ended = meter.sample()
        refiller.stopping.set()
        refiller.join(timeout=30)
        if refiller.error is not None:
            recorder.errors.append(f"refiller: {refiller.error!r}")
            recorder.error_count += 1
        agent_requests = sum(len(v) for k, v in recorder.latencies.items() if k != "pages")
        pages = len(recorder.latencies.get("pages", []))
        log_text = log_path.read_text()
        locked = log_text.count("database is locked")
        return {
            "database": database,
            "wall": wall,
            "agent_requests": agent_requests,
            "pages": pages,
            "errors": recorder.error_count + locked,
            "error_samples": recorder.errors[:8]
            + ([f"gunicorn log: {locked} x 'database is locked'"] if locked else []),
            "pushed": refiller.pushed,
            "hits": recorder.pops_with_item,
            "gunicorn_cpu_ms": (ended["gunicorn"] - began["cpu"]["gunicorn"]) * 1000 / max(agent_requests + pages, 1),
        }
    finally:
        if refiller is not None:
            refiller.stopping.set()
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--agents", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--smoke", action="store_true", help="3 s per database, 2 agents (CI)")
    parser.add_argument("--child", choices=["sqlite", "postgres"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.smoke:
        args.seconds, args.agents = 3.0, 2
    if not (1 <= args.agents <= 100 and 0 < args.seconds <= 3600 and 1 <= args.workers <= 16):
        parser.error("--agents 1..100, --seconds 0..3600, --workers 1..16")
    if args.child:
        print("RESULT " + json.dumps(child(args.child, args.agents, args.seconds, args.workers)))
        return 0

    results = {}
    for database in ("sqlite", "postgres"):
        cmd = [
            sys.executable,
            __file__,
            "--child",
            database,
            "--agents",
            str(args.agents),
            "--seconds",
            str(args.seconds),
            "--workers",
            str(args.workers),
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=args.seconds + 400)
        lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
        if done.returncode != 0 or not lines:
            print(
                f"{database}: the run failed (exit {done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}",
                file=sys.stderr,
            )
            return 1
        results[database] = json.loads(lines[-1][len("RESULT ") :])

    print(
        f"{args.agents} agents (LaunchAgent -> popFromRunQueue -> updateLaunchAgent, no sleep) + 1 person "
        f"loading 3 pages + a refiller writing items, {args.seconds:g} s per database, gunicorn "
        f"{args.workers} workers x 4 threads, {os.cpu_count()} cores, one run:"
    )
    print(f"{'database':<12}{'agent req/s':>12}{'pages/s':>9}{'hit':>6}{'gunicorn CPU ms/req':>21}{'errors':>8}")
    for name, r in results.items():
        pops = r["agent_requests"] / 3
        print(
            f"{name:<12}{r['agent_requests'] / r['wall']:>12.0f}{r['pages'] / r['wall']:>9.1f}"
            f"{r['hits'] / max(pops, 1):>6.0%}{r['gunicorn_cpu_ms']:>21.2f}{r['errors']:>8}"
        )
    sqlite, pg = results["sqlite"], results["postgres"]
    print(
        f"SQLite / PostgreSQL agent throughput: "
        f"{(sqlite['agent_requests'] / sqlite['wall']) / max(pg['agent_requests'] / pg['wall'], 1e-9):.2f}"
    )
    failed = False
    for name, r in results.items():
        for sample in r["error_samples"]:
            print(f"  {name}: {sample}")
        failed |= r["errors"] > 0
    if failed:
        print('FAILED: errors above ("database is locked" included).', file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
