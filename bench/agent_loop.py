#!/usr/bin/env python
"""Load-tests the launch agent's poll loop against gunicorn on PostgreSQL, beside a trivial-view baseline.

    .venv/bin/python bench/agent_loop.py [--agents 50] [--seconds 20] [--workers 2]

Drops and recreates the PostgreSQL database launchui_bench_agents (BENCH_DATABASE_URL overrides the
address), migrates it and seeds it with the domain services: one user and API key, one team, 4 queues,
--agents agents (agent i polls queue i mod 4) and 2 x agents pending items. Then it starts
`gunicorn launchui.wsgi --workers W --threads 4` on a free port of 127.0.0.1 with DEBUG off, and runs:

  A. the agent loop: one thread per agent, each with its own keep-alive requests.Session, looping
     LaunchAgent -> popFromRunQueue -> updateLaunchAgent(POLLING) without sleeping, the GraphQL texts the
     wandb agent sends. While it runs, a refiller tops each queue back up to agents/4 pending items once a
     second, so some pops lease an item and the rest find the queue empty (the hit rate is printed).
  B. the baseline: as many threads POSTing /graphql with no Authorization header. That request crosses the
     whole middleware stack and the URL resolver into the view, fails its one header check and gets a
     401 JSON answer without touching the database: a trivial Django view served by the same gunicorn.
     Django logs a warning for every 4xx answer ("Unauthorized: /graphql"), which would be a third of that
     view's cost; this file is also given to gunicorn as its config (-c) for one hook, post_worker_init,
     that raises the django.request logger to ERROR in each worker, so B measures the view, not logging.

Each phase starts after one warm-up round per thread and lasts --seconds. It prints throughput (requests
per second), p50/p99 latency per operation, the ratios A/B, and the CPU milliseconds spent per request by
the load generator (this process), the gunicorn workers and the PostgreSQL backends serving them (from
/proc), which vary less with the machine's other load than throughput does. Any non-200
answer or GraphQL `errors` in phase A fails the run (exit status 1). gunicorn is stopped and the database
dropped at the end, even on error; a watchdog ends the run if it overruns. All traffic goes to 127.0.0.1.

The load generator shares the machine (and its GIL) with the server, so absolute figures depend on the
core count and whatever else runs; compare the ratios measured in one run.
"""

import argparse
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/launchui_bench_agents")
SERVER_APP_NAME = "launchui-bench-gunicorn"  # application_name of gunicorn's connections, to find its backends
QUEUES = 4
ENTITY, PROJECT = "bench-team", "model-registry"

# Exactly what the wandb agent sends (tests/wire/test_graphql_endpoint.py).
LAUNCH_AGENT = """query LaunchAgent($agentId: ID!) {
  launchAgent(id: $agentId) { id name runQueues hostname agentStatus stopPolling heartbeatAt } }"""
POP = """mutation popFromRunQueue($entity: String!, $project: String!, $queueName: String!, $launchAgentId: ID) {
  popFromRunQueue(input: {entityName: $entity, projectName: $project, queueName: $queueName,
    launchAgentId: $launchAgentId}) { runQueueItemId runSpec } }"""
UPDATE_AGENT = """mutation updateLaunchAgent($agentId: ID!, $agentStatus: String){
  updateLaunchAgent(input: { launchAgentId: $agentId agentStatus: $agentStatus }) { success } }"""


# --- database and Django ------------------------------------------------------------------------------


def _admin_url(url: str) -> tuple[str, str]:
    parsed = urlparse(url)
    return parsed._replace(path="/postgres", query="").geturl(), parsed.path.lstrip("/")


def recreate_database(url: str, *, create: bool = True) -> None:
    import psycopg
    from psycopg import sql

    admin, name = _admin_url(url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        if create:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def server_backend_pids(url: str) -> list[int]:
    import psycopg

    admin, name = _admin_url(url)
    with psycopg.connect(admin, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name = %s", (name, SERVER_APP_NAME)
        ).fetchall()
    return [row[0] for row in rows]


def server_env(data_dir: Path) -> dict:
    sep = "&" if "?" in DATABASE_URL else "?"
    return {
        **os.environ,
        "DATABASE_URL": f"{DATABASE_URL}{sep}application_name={SERVER_APP_NAME}",
        "LAUNCHUI_DATA_DIR": str(data_dir),
        "STATIC_ROOT": str(data_dir / "static"),
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "launchui.settings",
        "PYTHONUNBUFFERED": "1",
    }


def setup_django(data_dir: Path) -> None:
    # All of this must be in the environment before settings are read.
    os.environ["DATABASE_URL"] = DATABASE_URL
    os.environ["LAUNCHUI_DATA_DIR"] = str(data_dir)
    os.environ["STATIC_ROOT"] = str(data_dir / "static")
    os.environ["DEBUG"] = "false"
    os.environ["ALLOWED_HOSTS"] = "127.0.0.1,localhost"
    os.environ["LOG_LEVEL"] = "WARNING"
    os.environ["DJANGO_SETTINGS_MODULE"] = "launchui.settings"
    (data_dir / "static").mkdir(parents=True, exist_ok=True)
    import django

    django.setup()


def seed(agents: int) -> tuple[str, list[tuple[str, str, str]], list]:
    """The raw API key, (agent id, agent name, queue name) per agent, and the queues."""
    from django.core.management import call_command

    from launchui.accounts.services import api_key_create, team_create, user_create
    from launchui.launch.services import agent_register, item_push, queue_create
    from launchui.wire import ids

    call_command("migrate", verbosity=0)
    user = user_create(username="bench", password=None)
    _, raw_key = api_key_create(user=user, name="bench agents")
    team = team_create(name=ENTITY, creator=user)
    queues = [
        queue_create(entity=team, name=f"queue-{i}", resource="local-container", created_by=user) for i in range(QUEUES)
    ]
    roster = []
    for i in range(agents):
        queue = queues[i % QUEUES]
        agent = agent_register(
            entity=team,
            queues=[queue],
            hostname=f"bench-host-{i}",
            config={"max_jobs": 1},
            version="wandb@0.31.0",
            created_by=user,
        )
        roster.append((ids.encode("LaunchAgent", agent.pk), agent.name, queue.name))
    for i in range(2 * agents):
        item_push(
            queue=queues[i % QUEUES],
            run_spec={"entity": ENTITY, "project": PROJECT, "job": f"job-{i}"},
            created_by=user,
        )
    return raw_key, roster, queues


class Refiller(threading.Thread):
    """Tops each queue back up to `per_queue` pending items once a second, with item_push."""

    def __init__(self, queues: list, per_queue: int):
        super().__init__(daemon=True, name="refiller")
        self.queues, self.per_queue = queues, per_queue
        self.stopping = threading.Event()
        self.pushed = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        from django.db import connection

        from launchui.launch.models import RunQueueItem
        from launchui.launch.services import item_push

        try:
            while not self.stopping.wait(1.0):
                for queue in self.queues:
                    pending = RunQueueItem.objects.filter(queue=queue, state=RunQueueItem.PENDING).count()
                    for _ in range(max(0, self.per_queue - pending)):
                        item_push(
                            queue=queue,
                            run_spec={"entity": ENTITY, "project": PROJECT, "job": "refill"},
                            created_by=None,
                        )
                        self.pushed += 1
        except BaseException as exc:
            self.error = exc
        finally:
            connection.close()


# --- gunicorn -------------------------------------------------------------------------------------------


def post_worker_init(worker) -> None:
    """gunicorn hook, read from this file given as `-c`: runs in each worker once Django has set up logging.

    Django's "Unauthorized: /graphql" warning per 401 would otherwise dominate the baseline's cost; errors
    (5xx) are still logged. gunicorn ignores this module's other names, which are not settings."""
    import logging

    logging.getLogger("django.request").setLevel(logging.ERROR)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(port: int, workers: int, data_dir: Path, log_path: Path) -> subprocess.Popen:
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
        str(Path(__file__).resolve()),
    ]  # only for the post_worker_init hook above
    # A session of its own, so that stopping its process group stops the workers and nothing else.
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=server_env(data_dir),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def wait_until_up(proc: subprocess.Popen, url: str, log_path: Path, timeout: float = 60) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            if requests.post(url, data=b"{}", timeout=2).status_code == 401:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer within {timeout:.0f} s:\n{log_path.read_text()[-3000:]}")


def stop_gunicorn(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
    except ProcessLookupError:
        pass


# --- CPU accounting from /proc ----------------------------------------------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu_seconds(pids) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLK_TCK


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


def machine_busy() -> tuple[int, int]:
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


class CpuMeter:
    """CPU seconds of this process, the gunicorn master and workers and their PostgreSQL backends."""

    def __init__(self, gunicorn_pid: int):
        self.gunicorn_pid = gunicorn_pid

    def sample(self) -> dict:
        times = os.times()
        workers = [self.gunicorn_pid, *children_of(self.gunicorn_pid)]
        backends = server_backend_pids(DATABASE_URL)
        busy, total = machine_busy()
        return {
            "client": times.user + times.system,
            "gunicorn": proc_cpu_seconds(workers),
            "postgres": proc_cpu_seconds(backends),
            "backends": len(backends),
            "busy": busy,
            "total": total,
        }


# --- load -----------------------------------------------------------------------------------------------


class Recorder:
    def __init__(self):
        self.latencies: dict[str, list[float]] = {}
        self.errors: list[str] = []
        self.error_count = 0
        self.pops_with_item = 0
        self.lock = threading.Lock()

    def merge(self, latencies: dict, errors: list[str], error_count: int, hits: int) -> None:
        with self.lock:
            for op, values in latencies.items():
                self.latencies.setdefault(op, []).extend(values)
            self.errors.extend(errors[:5])
            self.error_count += error_count
            self.pops_with_item += hits


def basic_auth(raw_key: str) -> str:
    return "Basic " + base64.b64encode(f"api:{raw_key}".encode()).decode()


def agent_worker(
    url: str, raw_key: str, agent: tuple[str, str, str], start: threading.Barrier, times: dict, recorder: Recorder
) -> None:
    import requests

    agent_id, agent_name, queue_name = agent
    session = requests.Session()
    session.headers.update({"Authorization": basic_auth(raw_key), "Content-Type": "application/json"})
    calls = [
        ("LaunchAgent", LAUNCH_AGENT, {"agentId": agent_id}),
        (
            "popFromRunQueue",
            POP,
            {"entity": ENTITY, "project": PROJECT, "queueName": queue_name, "launchAgentId": agent_id},
        ),
        ("updateLaunchAgent", UPDATE_AGENT, {"agentId": agent_id, "agentStatus": "POLLING"}),
    ]
    bodies = [(op, json.dumps({"query": q, "variables": v, "operationName": op}).encode()) for op, q, v in calls]
    latencies: dict[str, list[float]] = {op: [] for op, _ in bodies}
    errors: list[str] = []
    error_count = hits = 0

    def call(op: str, body: bytes) -> tuple[float, str | None, bool]:
        began = time.perf_counter()
        try:
            response = session.post(url, data=body, timeout=30)
            status, text = response.status_code, response.content
            answer = response.json() if status == 200 else {}  # read only when 200
        except (requests.RequestException, ValueError) as exc:
            return time.perf_counter() - began, f"{op}: {type(exc).__name__}: {exc}", False
        elapsed = time.perf_counter() - began
        if status != 200:
            return elapsed, f"{op}: HTTP {status}: {text[:200]!r}", False
        if "errors" in answer:
            return elapsed, f"{op}: GraphQL errors: {answer['errors']}", False
        data = answer.get("data") or {}
        if op == "LaunchAgent":
            got = data.get("launchAgent") or {}
            if got.get("name") != agent_name or got.get("stopPolling") is not False:
                return elapsed, f"{op}: unexpected answer {got}", False
        elif op == "updateLaunchAgent":
            if data.get("updateLaunchAgent") != {"success": True}:
                return elapsed, f"{op}: unexpected answer {data}", False
        elif op == "popFromRunQueue":
            popped = data.get("popFromRunQueue", "missing")
            if popped is not None and not (
                isinstance(popped, dict) and popped.get("runQueueItemId") and isinstance(popped.get("runSpec"), dict)
            ):
                return elapsed, f"{op}: unexpected answer {data}", False
            return elapsed, None, popped is not None
        return elapsed, None, False

    try:
        for op, body in bodies:  # warm-up round: connection, worker thread, DB connection
            _, error, _ = call(op, body)
            if error:
                errors.append("warm-up " + error)
                error_count += 1
        start.wait()
        deadline = times["deadline"]
        while time.perf_counter() < deadline:
            for op, body in bodies:
                elapsed, error, hit = call(op, body)
                latencies[op].append(elapsed)
                hits += hit
                if error:
                    error_count += 1
                    if len(errors) < 5:
                        errors.append(error)
    except threading.BrokenBarrierError:
        errors.append("the start barrier was broken")
        error_count += 1
    finally:
        session.close()
        recorder.merge(latencies, errors, error_count, hits)


def baseline_worker(url: str, start: threading.Barrier, times: dict, recorder: Recorder) -> None:
    import requests

    op = "POST /graphql (401)"
    session = requests.Session()
    session.headers.update({"Content-Type": "application/json"})  # and no Authorization
    body = json.dumps({"query": LAUNCH_AGENT, "variables": {"agentId": "x"}, "operationName": "LaunchAgent"}).encode()
    latencies: list[float] = []
    errors: list[str] = []
    error_count = 0

    def call() -> tuple[float, str | None]:
        began = time.perf_counter()
        try:
            response = session.post(url, data=body, timeout=30)
            status, answer = response.status_code, response.json()
        except (requests.RequestException, ValueError) as exc:
            return time.perf_counter() - began, f"{type(exc).__name__}: {exc}"
        elapsed = time.perf_counter() - began
        if status != 401 or not answer.get("errors"):
            return elapsed, f"expected a 401 with errors, got HTTP {status}: {answer}"
        return elapsed, None

    try:
        if (error := call()[1]) is not None:
            errors.append("warm-up " + error)
            error_count += 1
        start.wait()
        deadline = times["deadline"]
        while time.perf_counter() < deadline:
            elapsed, error = call()
            latencies.append(elapsed)
            if error:
                error_count += 1
                if len(errors) < 5:
                    errors.append(error)
    except threading.BrokenBarrierError:
        errors.append("the start barrier was broken")
        error_count += 1
    finally:
        session.close()
        recorder.merge({op: latencies}, errors, error_count, 0)


def run_phase(name: str, threads: int, seconds: float, target, args_for, meter: CpuMeter) -> dict:
    recorder = Recorder()
    times: dict = {}
    began: dict = {}

    def go() -> None:  # runs once, when every thread has warmed up
        began["cpu"] = meter.sample()
        began["t"] = time.perf_counter()
        times["deadline"] = began["t"] + seconds

    start = threading.Barrier(threads + 1, action=go)
    workers = [
        threading.Thread(target=target, args=(*args_for(i), start, times, recorder), daemon=True, name=f"{name}-{i}")
        for i in range(threads)
    ]
    for worker in workers:
        worker.start()
    try:
        start.wait(timeout=120)
    except threading.BrokenBarrierError:
        raise RuntimeError(
            f"{name}: the threads did not all warm up within 120 s; errors so far: {recorder.errors}"
        ) from None
    for worker in workers:
        worker.join(timeout=seconds + 90)
        if worker.is_alive():
            raise RuntimeError(f"{name}: a thread did not finish (stuck request?)")
    wall = time.perf_counter() - began["t"]
    ended = meter.sample()
    cpu = {k: ended[k] - began["cpu"][k] for k in ("client", "gunicorn", "postgres", "busy", "total")}
    cpu["backends"] = ended["backends"]
    return {
        "name": name,
        "wall": wall,
        "latencies": recorder.latencies,
        "errors": recorder.errors,
        "error_count": recorder.error_count,
        "hits": recorder.pops_with_item,
        "cpu": cpu,
    }


# --- report ---------------------------------------------------------------------------------------------


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, int(round(fraction * len(sorted_values) + 0.5)) - 1))
    return sorted_values[index]  # nearest rank


def summarize(phase: dict) -> dict:
    rows = {}
    everything: list[float] = []
    for op, values in phase["latencies"].items():
        ordered = sorted(values)
        everything.extend(values)
        rows[op] = (
            len(values),
            len(values) / phase["wall"],
            percentile(ordered, 0.5) * 1000,
            percentile(ordered, 0.99) * 1000,
        )
    everything.sort()
    total = (
        len(everything),
        len(everything) / phase["wall"],
        percentile(everything, 0.5) * 1000,
        percentile(everything, 0.99) * 1000,
    )
    return {"rows": rows, "total": total}


def print_report(args, agent: dict, base: dict, refilled: int) -> None:
    a, b = summarize(agent), summarize(base)
    print(
        f"\nParameters: --agents {args.agents} --seconds {args.seconds:g} --workers {args.workers} "
        f"(gunicorn gthread, 4 threads per worker), {QUEUES} queues, {os.cpu_count()} cores on this machine, "
        f"client and server on the same machine."
    )
    print(f"{'phase / operation':<34}{'requests':>9}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}")
    for title, phase, summary in (("A agent loop", agent, a), ("B baseline (trivial view)", base, b)):
        print(f"{title} ({phase['wall']:.1f} s)")
        if len(summary["rows"]) > 1:
            for op, (n, rate, p50, p99) in summary["rows"].items():
                print(f"  {op:<32}{n:>9}{rate:>9.0f}{p50:>9.1f}{p99:>9.1f}")
        n, rate, p50, p99 = summary["total"]
        print(f"  {'all requests':<32}{n:>9}{rate:>9.0f}{p50:>9.1f}{p99:>9.1f}")
    pops = len(agent["latencies"].get("popFromRunQueue", []))
    loops = min(len(v) for v in agent["latencies"].values()) if agent["latencies"] else 0
    print(
        f"\nAgent loop: {loops / agent['wall']:.0f} loops/s; {agent['hits']} of {pops} pops leased an item "
        f"({agent['hits'] / max(pops, 1):.0%}); the refiller pushed {refilled} items."
    )
    (_, ra, p50a, p99a), (_, rb, p50b, p99b) = a["total"], b["total"]
    server = [
        (phase["cpu"]["gunicorn"] + phase["cpu"]["postgres"]) / max(summary["total"][0], 1)
        for phase, summary in ((agent, a), (base, b))
    ]
    print(
        f"Ratios A/B: throughput {ra / rb:.2f}   p50 {p50a / p50b:.2f}   p99 {p99a / p99b:.2f}   "
        f"server CPU per request (gunicorn + postgres) {server[0] / server[1]:.1f}"
    )
    print(f"\nCPU ms per request{'':<16}{'load gen':>9}{'gunicorn':>9}{'postgres':>9}   machine busy")
    for title, phase, summary in (("A agent loop", agent, a), ("B baseline", base, b)):
        n, cpu = max(summary["total"][0], 1), phase["cpu"]
        busy = cpu["busy"] / cpu["total"] if cpu["total"] else float("nan")
        print(
            f"  {title:<32}{cpu['client'] * 1000 / n:>9.2f}{cpu['gunicorn'] * 1000 / n:>9.2f}"
            f"{cpu['postgres'] * 1000 / n:>9.2f}   {busy:.0%} (all processes, others included)"
        )
    print(
        f"Errors: agent loop {agent['error_count']} (non-200 or GraphQL errors), "
        f"baseline {base['error_count']} (anything but a 401 JSON error)"
    )
    for phase in (agent, base):
        for error in phase["errors"][:10]:
            print(f"  {phase['name']}: {error}")
        if len(phase["errors"]) > 10:
            print(f"  {phase['name']}: ... (first 10 of {phase['error_count']} shown)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=50, help="simulated agents, one thread each")
    parser.add_argument("--seconds", type=float, default=20, help="duration of each load phase")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    args = parser.parse_args()
    if args.agents < 1 or args.seconds <= 0 or args.workers < 1:
        parser.error("--agents, --seconds and --workers must be positive")

    # Watchdog: whatever hangs, the run ends (the finally below still stops gunicorn and drops the database).
    budget = int(2 * args.seconds + 300 + args.agents)

    def overran(signum, frame):
        raise TimeoutError(f"the benchmark overran its {budget} s budget")

    signal.signal(signal.SIGALRM, overran)
    signal.alarm(budget)

    data_dir = Path(tempfile.mkdtemp(prefix="launchui-bench-agents-"))
    log_path = data_dir / "gunicorn.log"
    proc = None
    refiller = None
    failed = True
    try:
        recreate_database(DATABASE_URL)
        setup_django(data_dir)
        started = time.perf_counter()
        raw_key, roster, queues = seed(args.agents)
        print(
            f"Seeded 1 team, {QUEUES} queues, {args.agents} agents, {2 * args.agents} items "
            f"in {time.perf_counter() - started:.1f} s ({DATABASE_URL.rsplit('/', 1)[-1]})."
        )

        port = free_port()
        url = f"http://127.0.0.1:{port}/graphql"
        proc = start_gunicorn(port, args.workers, data_dir, log_path)
        wait_until_up(proc, url, log_path)
        meter = CpuMeter(proc.pid)
        print(
            f"gunicorn up on 127.0.0.1:{port}, {args.workers} workers x 4 threads; "
            f"{args.seconds:g} s per phase after one warm-up round per thread."
        )

        refiller = Refiller(queues, per_queue=max(1, args.agents // QUEUES))
        refiller.start()
        agent = run_phase(
            "agent-loop", args.agents, args.seconds, agent_worker, lambda i: (url, raw_key, roster[i]), meter
        )
        refiller.stopping.set()
        refiller.join(timeout=30)
        if refiller.error is not None:
            raise RuntimeError(f"the refiller failed: {refiller.error!r}")
        base = run_phase("baseline", args.agents, args.seconds, baseline_worker, lambda i: (url,), meter)

        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn died during the run:\n{log_path.read_text()[-3000:]}")
        print_report(args, agent, base, refiller.pushed)
        if agent["error_count"]:
            print(f"\nFAILED: {agent['error_count']} agent-loop requests failed (see above).", file=sys.stderr)
            return 1
        if base["error_count"]:
            print(f"\nFAILED: {base['error_count']} baseline requests were not the expected 401.", file=sys.stderr)
            return 1
        failed = False
        return 0
    finally:
        signal.alarm(0)
        if refiller is not None:
            refiller.stopping.set()
        if proc is not None:
            stop_gunicorn(proc)
            if failed and log_path.exists() and (tail := log_path.read_text()[-2000:].strip()):
                print(f"\ngunicorn log (tail):\n{tail}", file=sys.stderr)
        try:
            from django.db import connections

            connections.close_all()
        except Exception:
            pass
        try:
            recreate_database(DATABASE_URL, create=False)
        except Exception as exc:
            print(f"could not drop the benchmark database: {exc}", file=sys.stderr)
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
