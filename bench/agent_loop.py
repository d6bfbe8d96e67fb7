#!/usr/bin/env python
"""Load-tests the launch agent's poll loop against gunicorn on PostgreSQL, beside a bare view, in one run.

    .venv/bin/python bench/agent_loop.py [--clients 1,4,8] [--seconds 15] [--workers 2]
        [--variant NAME[@CODE_DIR][:ENV=VALUE,...]] ...   [--smoke]

Drops and recreates the PostgreSQL database launchui_bench_agents (BENCH_DATABASE_URL overrides the
address), migrates it and seeds it with the domain services: one user and API key, one team, 4 queues,
max(--clients) agents (agent i polls queue i mod 4) and 2 x agents pending items. Then it starts one
`gunicorn launchui.wsgi --workers W --threads 4` per --variant on a free port of 127.0.0.1 with DEBUG off,
all on that database: a variant is this checkout (default "new"), another checkout of launchui given as
@CODE_DIR (e.g. main in a temporary `git worktree`, for before/after in the same run), and/or extra
environment for the server (e.g. `prepared:DATABASE_PREPARED_STATEMENTS=true`). For each client count C
it runs, one after the other:

  B. the bare view: C threads GETting /healthz of the first variant of this checkout, a view returning a
     constant JSON under the same gunicorn, settings and middleware, touching no database.
  A. for each variant, the agent loop: C threads, one per agent, each with its own keep-alive
     requests.Session, looping LaunchAgent -> popFromRunQueue -> updateLaunchAgent(POLLING) without
     sleeping, the GraphQL texts the wandb agent sends. A refiller tops each queue back up to a few pending
     items once a second, so some pops lease an item and the rest find the queue empty (the hit rate is
     printed).

Each phase starts after one warm-up round per thread and lasts --seconds. It prints throughput (requests
per second), p50/p99 latency, the ratio to the bare view measured in the same run, and the CPU milliseconds
spent per request by the load generator (this process), the gunicorn workers and the PostgreSQL backends
serving them (from /proc), which vary less with the machine's other load than throughput does. Before the
load it counts the SQL queries of each agent call of this checkout in-process (Django's test client, key
already authenticated) and prints them on a line starting QUERIES. Any non-200 answer or GraphQL `errors`
fails the run (exit status 1). gunicorn is stopped and the database dropped at the end, even on error; a
watchdog ends the run if it overruns. All traffic goes to 127.0.0.1.

--smoke runs a tiny version (clients 1,2, 1 s phases) for CI: it checks the script still works and prints
the query counts; its timings mean nothing.

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


def server_backend_pids(url: str, app_name: str) -> list[int]:
    import psycopg

    admin, name = _admin_url(url)
    with psycopg.connect(admin, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name = %s", (name, app_name)
        ).fetchall()
    return [row[0] for row in rows]


def server_env(data_dir: Path, app_name: str, extra: dict) -> dict:
    sep = "&" if "?" in DATABASE_URL else "?"
    return {
        **os.environ,
        "DATABASE_URL": f"{DATABASE_URL}{sep}application_name={app_name}",
        "LAUNCHUI_DATA_DIR": str(data_dir),
        "STATIC_ROOT": str(data_dir / "static"),
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "launchui.settings",
        "PYTHONUNBUFFERED": "1",
        **extra,
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(
    port: int,
    workers: int,
    data_dir: Path,
    log_path: Path,
    *,
    code_dir: Path = ROOT,
    app_name: str = SERVER_APP_NAME,
    extra_env: dict | None = None,
) -> subprocess.Popen:
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
    ]  # one logging hook; see that file
    # A session of its own, so that stopping its process group stops the workers and nothing else.
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            cmd,
            cwd=code_dir,
            env=server_env(data_dir, app_name, extra_env or {}),
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

    def __init__(self, gunicorn_pid: int, app_name: str):
        self.gunicorn_pid, self.app_name = gunicorn_pid, app_name

    def sample(self) -> dict:
        times = os.times()
        workers = [self.gunicorn_pid, *children_of(self.gunicorn_pid)]
        backends = server_backend_pids(DATABASE_URL, self.app_name)
        busy, total = machine_busy()
        return {
            "client": times.user + times.system,
            "gunicorn": proc_cpu_seconds(workers),
            "postgres": proc_cpu_seconds(backends),
            "backends": len(backends),
            "busy": busy,
            "total": total,
            "xacts": database_transactions(DATABASE_URL),
        }


def database_transactions(url: str) -> int:
    """Committed transactions of the benchmark database so far: each autocommit statement is one."""
    import psycopg

    admin, name = _admin_url(url)
    with psycopg.connect(admin, autocommit=True) as conn:
        row = conn.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s", (name,)
        ).fetchone()
        return row[0] if row else 0


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

    op = "GET /healthz"
    session = requests.Session()
    latencies: list[float] = []
    errors: list[str] = []
    error_count = 0

    def call() -> tuple[float, str | None]:
        began = time.perf_counter()
        try:
            response = session.get(url, timeout=30)
            status, answer = response.status_code, response.json()
        except (requests.RequestException, ValueError) as exc:
            return time.perf_counter() - began, f"{type(exc).__name__}: {exc}"
        elapsed = time.perf_counter() - began
        if status != 200 or answer != {"ok": True}:
            return elapsed, f"expected 200 {{'ok': true}}, got HTTP {status}: {answer}"
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


def count_queries(raw_key: str, agent: tuple[str, str, str]) -> dict[str, int]:
    """SQL queries per agent call of this checkout, in-process, once the key is authenticated."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    agent_id, _, queue_name = agent
    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=basic_auth(raw_key))
    calls = [
        ("LaunchAgent", LAUNCH_AGENT, {"agentId": agent_id}),
        (
            "popFromRunQueue",
            POP,
            {"entity": ENTITY, "project": PROJECT, "queueName": queue_name, "launchAgentId": agent_id},
        ),
        ("updateLaunchAgent", UPDATE_AGENT, {"agentId": agent_id, "agentStatus": "POLLING"}),
    ]
    counts = {}
    for op, query, variables in calls * 2:  # the first round authenticates and settles last_used_at
        body = json.dumps({"query": query, "variables": variables, "operationName": op})
        with CaptureQueriesContext(connection) as captured:
            response = client.post("/graphql", body, content_type="application/json")
        answer = response.json()
        if response.status_code != 200 or "errors" in answer:
            raise RuntimeError(f"counting queries: {op} answered {response.status_code}: {answer}")
        counts[op] = len(captured)
    return counts


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
    cpu = {k: ended[k] - began["cpu"][k] for k in ("client", "gunicorn", "postgres", "busy", "total", "xacts")}
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


def parse_variant(spec: str) -> dict:
    """NAME[@CODE_DIR][:ENV=VALUE,...]"""
    head, _, env_part = spec.partition(":")
    name, _, code = head.partition("@")
    extra = {}
    for pair in filter(None, env_part.split(",")):
        key, sep, value = pair.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"{pair!r} is not ENV=VALUE")
        extra[key] = value
    code_dir = Path(code).resolve() if code else ROOT
    if not (code_dir / "launchui" / "wsgi.py").exists():
        raise argparse.ArgumentTypeError(f"{code_dir} is not a launchui checkout")
    if not name.replace("-", "").replace("_", "").replace("+", "").isalnum():
        raise argparse.ArgumentTypeError(f"variant name {name!r}: letters, digits, - _ + only")
    return {"name": name, "code_dir": code_dir, "env": extra}


def server_cpu_ms(phase: dict, requests_done: int) -> float:
    return (phase["cpu"]["gunicorn"] + phase["cpu"]["postgres"]) * 1000 / max(requests_done, 1)


def split(phase: dict, requests_done: int) -> str:
    n = max(requests_done, 1)
    return (
        f"{phase['cpu']['gunicorn'] * 1000 / n:>6.2f}{phase['cpu']['postgres'] * 1000 / n:>6.2f}"
        f"{phase['cpu']['xacts'] / n:>6.2f}"
    )


def print_report(args, results: list[tuple[int, dict, list[tuple[dict, dict]]]], refilled: int) -> None:
    print(
        f"\nParameters: --clients {args.clients} --seconds {args.seconds:g} --workers {args.workers} "
        f"(gunicorn gthread, 4 threads per worker), {QUEUES} queues, {os.cpu_count()} cores on this machine, "
        f"client and server on the same machine; variants run one after the other in this one run."
    )
    print(
        f"{'clients  phase':<40}{'requests':>9}{'req/s':>8}{'ratio':>7}{'p50 ms':>8}{'p99 ms':>8}"
        f"{'srv CPU ms':>11}{'(py':>6}{'+ pg)':>6}{'xact':>6}{'loops/s':>8}{'hit':>5}{'errors':>7}"
    )
    for clients, base, agents in results:
        b = summarize(base)
        n, rate_b, p50, p99 = b["total"]
        print(
            f"{clients:>7}  {'bare view GET /healthz':<31}{n:>9}{rate_b:>8.0f}{1:>7.2f}{p50:>8.1f}{p99:>8.1f}"
            f"{server_cpu_ms(base, n):>11.2f}{split(base, n)}{'':>8}{'':>5}{base['error_count']:>7}"
        )
        for variant, phase in agents:
            a = summarize(phase)
            n, rate, p50, p99 = a["total"]
            pops = len(phase["latencies"].get("popFromRunQueue", []))
            loops = min(len(v) for v in phase["latencies"].values()) / phase["wall"] if phase["latencies"] else 0
            print(
                f"{'':>7}  {'agent loop ' + variant['name']:<31}{n:>9}{rate:>8.0f}{rate / rate_b:>7.2f}"
                f"{p50:>8.1f}{p99:>8.1f}{server_cpu_ms(phase, n):>11.2f}{split(phase, n)}{loops:>8.0f}"
                f"{phase['hits'] / max(pops, 1):>5.0%}{phase['error_count']:>7}"
            )
    print(
        f"\nratio: req/s over the bare view's at the same client count. srv CPU ms: gunicorn (py) + PostgreSQL "
        f"backend (pg) CPU per request. xact: database transactions per request (each autocommit statement is "
        f"one; the refiller's few are included). hit: pops that leased an item (the refiller pushed {refilled})."
    )
    for clients, base, agents in results:
        for name, phase in [("bare view", base)] + [(v["name"], p) for v, p in agents]:
            for error in phase["errors"][:5]:
                print(f"  {clients} clients, {name}: {error}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="1,4,8", help="comma-separated client (thread) counts")
    parser.add_argument("--seconds", type=float, default=15, help="duration of each load phase")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument(
        "--variant",
        action="append",
        type=parse_variant,
        default=None,
        help="NAME[@CODE_DIR][:ENV=VALUE,...]; repeatable; default: this checkout as 'new'",
    )
    parser.add_argument("--smoke", action="store_true", help="tiny run for CI: clients 1,2, 1 s phases")
    args = parser.parse_args()
    if args.smoke:
        args.clients, args.seconds = "1,2", 1.0
    try:
        client_counts = [int(c) for c in args.clients.split(",")]
    except ValueError:
        parser.error("--clients takes whole numbers separated by commas")
    if min(client_counts) < 1 or args.seconds <= 0 or args.workers < 1 or max(client_counts) > 200:
        parser.error("--clients 1..200, --seconds and --workers must be positive")
    variants = args.variant or [parse_variant("new")]
    if len({v["name"] for v in variants}) != len(variants):
        parser.error("variant names must differ")
    agents_needed = max(client_counts)

    # Watchdog: whatever hangs, the run ends (the finally below still stops gunicorn and drops the database).
    budget = int(len(client_counts) * (len(variants) + 1) * (args.seconds + 30) + 300)

    def overran(signum, frame):
        raise TimeoutError(f"the benchmark overran its {budget} s budget")

    signal.signal(signal.SIGALRM, overran)
    signal.alarm(budget)

    data_dir = Path(tempfile.mkdtemp(prefix="launchui-bench-agents-"))
    servers: list[tuple[dict, subprocess.Popen, Path, str]] = []
    refiller = None
    failed = True
    try:
        recreate_database(DATABASE_URL)
        setup_django(data_dir)
        started = time.perf_counter()
        raw_key, roster, queues = seed(agents_needed)
        print(
            f"Seeded 1 team, {QUEUES} queues, {agents_needed} agents, {2 * agents_needed} items "
            f"in {time.perf_counter() - started:.1f} s ({DATABASE_URL.rsplit('/', 1)[-1]})."
        )
        counts = count_queries(raw_key, roster[0])
        print(
            "QUERIES "
            + " ".join(f"{op}={n}" for op, n in counts.items())
            + "   (SQL queries per call of this checkout, key already authenticated)"
        )

        for variant in variants:
            port = free_port()
            app_name = f"{SERVER_APP_NAME}-{variant['name']}"
            log_path = data_dir / f"gunicorn-{variant['name']}.log"
            proc = start_gunicorn(
                port,
                args.workers,
                data_dir,
                log_path,
                code_dir=variant["code_dir"],
                app_name=app_name,
                extra_env=variant["env"],
            )
            servers.append((variant, proc, log_path, app_name))
            wait_until_up(proc, f"http://127.0.0.1:{port}/graphql", log_path)
            variant["url"] = f"http://127.0.0.1:{port}"
            print(
                f"gunicorn '{variant['name']}' up on 127.0.0.1:{port} ({variant['code_dir']}"
                f"{', ' + ' '.join(f'{k}={v}' for k, v in variant['env'].items()) if variant['env'] else ''}), "
                f"{args.workers} workers x 4 threads."
            )

        refiller = Refiller(queues, per_queue=max(2, agents_needed // QUEUES))
        refiller.start()
        results = []
        # The bare view is this checkout's /healthz (an older checkout may not have it).
        first = next((server for server in servers if server[0]["code_dir"] == ROOT), None)
        if first is None:
            raise RuntimeError("one --variant must be this checkout (no @CODE_DIR): it serves the bare view")
        for clients in client_counts:
            base = run_phase(
                f"bare-{clients}",
                clients,
                args.seconds,
                baseline_worker,
                lambda i: (first[0]["url"] + "/healthz",),
                CpuMeter(first[1].pid, first[3]),
            )
            agents = []
            for variant, proc, _, app_name in servers:
                url = variant["url"] + "/graphql"
                phase = run_phase(
                    f"agents-{variant['name']}-{clients}",
                    clients,
                    args.seconds,
                    agent_worker,
                    lambda i, url=url: (url, raw_key, roster[i]),
                    CpuMeter(proc.pid, app_name),
                )
                agents.append((variant, phase))
            results.append((clients, base, agents))
            if refiller.error is not None:
                raise RuntimeError(f"the refiller failed: {refiller.error!r}")
        refiller.stopping.set()
        refiller.join(timeout=30)

        for variant, proc, log_path, _ in servers:
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn '{variant['name']}' died during the run:\n{log_path.read_text()[-3000:]}")
        print_report(args, results, refiller.pushed)
        errors = sum(phase["error_count"] for _, base, agents in results for phase in [base] + [p for _, p in agents])
        if errors:
            print(f"\nFAILED: {errors} requests failed (see above).", file=sys.stderr)
            return 1
        failed = False
        return 0
    finally:
        signal.alarm(0)
        if refiller is not None:
            refiller.stopping.set()
        for variant, proc, log_path, _ in servers:
            stop_gunicorn(proc)
            if failed and log_path.exists() and (tail := log_path.read_text()[-2000:].strip()):
                print(f"\ngunicorn '{variant['name']}' log (tail):\n{tail}", file=sys.stderr)
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
