#!/usr/bin/env python
"""Job build throughput and latency: git builds through real Celery workers against a local git server.

    .venv/bin/python bench/builds.py [--builds 16] [--latency-runs 9] [--transport ssh|https|both]
                                     [--concurrency 1,2] [--timeout 900]

Drops and recreates the PostgreSQL database launchui_bench_builds (BENCH_DATABASE_URL overrides the address)
and flushes Redis db 11 (BENCH_BROKER_URL overrides), migrates, and creates one user with a stored git
credential. It makes the small test repository of tests/gitserver.py (train.py, requirements.txt,
runtime.txt; a few kB) and serves it from 127.0.0.1 over SSH (Debian's sshd as root, key auth) and/or smart
HTTPS (git http-backend behind TLS and basic auth; LAUNCHUI_GIT_SSL_CA_FILE trusts its certificate).

For each transport and each worker concurrency (one `celery -A launchui worker --pool=prefork
--concurrency N --prefetch-multiplier=1` process, N child processes), it measures:

  latency     --latency-runs builds one after another on the idle worker: the time from calling
              jobs.services.build_create_git (what the browser's form submit does) to the build being
              "succeeded" with a job version, polled every 10 ms; median, min and max, and the median split
              into queue wait (created -> started) and work (started -> finished) from the row's timestamps.
  throughput  --builds builds submitted at once; jobs per minute from the first submit to the last finish.

Every build has its own job name, so each one clones, reads the tree, stores blobs and commits a new job
version (v0 of its own collection); none is a "No changes detected". Before the worker phases it times
jobs.sources.git_checkout alone in this process (the git part of a build) as a baseline. A failed build
fails the run (exit status 1). Workers, git servers, the database, Redis db 11 and the temporary data
directory are cleaned up at the end, even on error; a watchdog (--timeout) ends a run that overruns.

The machine's other load changes absolute figures (the load average is printed); compare figures of one run.
"""

import argparse
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.gitserver import GitHTTPSServer, SSHServer, make_repo, make_self_signed_cert  # noqa: E402

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/launchui_bench_builds")
BROKER_URL = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/11")
HTTPS_USER, HTTPS_PASSWORD = "bench", secrets.token_urlsafe(16)
CELERY = str(Path(sys.executable).with_name("celery"))


# --- database, broker, Django -------------------------------------------------------------------------


def recreate_database(*, create: bool = True) -> None:
    import psycopg
    from psycopg import sql

    parsed = urlparse(DATABASE_URL)
    admin, name = parsed._replace(path="/postgres", query="").geturl(), parsed.path.lstrip("/")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        if create:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def flush_broker() -> None:
    import redis

    redis.Redis.from_url(BROKER_URL).flushdb()


def environment(data_dir: Path, ca_file: Path) -> dict:
    return {
        "DATABASE_URL": DATABASE_URL,
        "CELERY_BROKER_URL": BROKER_URL,
        "LAUNCHUI_DATA_DIR": str(data_dir),
        "STATIC_ROOT": str(data_dir / "static"),
        "LAUNCHUI_GIT_SSL_CA_FILE": str(ca_file),
        "LAUNCHUI_GIT_ALLOWED_HOSTS": "127.0.0.1",  # the bench's git servers are on loopback
        "SECRET_KEY": os.environ.get("SECRET_KEY") or secrets.token_urlsafe(50),
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "launchui.settings",
        "CELERY_TASK_ALWAYS_EAGER": "",
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
    }


def setup_django(env: dict) -> None:
    os.environ.update(env)  # before settings are read
    import django

    django.setup()


# --- workers ------------------------------------------------------------------------------------------


class Worker:
    def __init__(self, concurrency: int, env: dict, log_path: Path):
        self.nodename = f"bench-builds-{os.getpid()}-{concurrency}@{socket.gethostname()}"
        self.log_path = log_path
        with open(log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [
                    CELERY,
                    "-A",
                    "launchui",
                    "worker",
                    "--pool=prefork",
                    f"--concurrency={concurrency}",
                    "--prefetch-multiplier=1",
                    "--loglevel=WARNING",
                    "-n",
                    self.nodename,
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                ],
                cwd=ROOT,
                env={**os.environ, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, timeout: float = 90) -> None:
        from launchui.celery import app

        deadline = time.monotonic() + timeout
        while not app.control.ping(destination=[self.nodename], timeout=1.0):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Celery worker did not come up:\n{self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


# --- builds -------------------------------------------------------------------------------------------


class Bench:
    def __init__(self, user, credentials: dict, remotes: dict):
        self.user, self.credentials, self.remotes = user, credentials, remotes
        self.counter = 0

    def submit(self, transport: str):
        from launchui.jobs import services

        self.counter += 1
        return services.build_create_git(
            entity=self.user.personal_entity,
            project="bench",
            remote=self.remotes[transport],
            entry_point="train.py",
            ref="main",
            credential=self.credentials[transport],
            name=f"bench-{self.counter}",
            created_by=self.user,
        )

    @staticmethod
    def wait(build_ids: list[int], deadline: float) -> dict[int, float]:
        """{build id: monotonic time it was seen finished}; raises on a failed build or the deadline."""
        from launchui.jobs.models import JobBuild

        done: dict[int, float] = {}
        while len(done) < len(build_ids):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(build_ids) - len(done)} builds did not finish in time")
            rows = JobBuild.objects.filter(
                pk__in=[b for b in build_ids if b not in done], status__in=[JobBuild.SUCCEEDED, JobBuild.FAILED]
            )
            now = time.monotonic()
            for pk, status, error, log in rows.values_list("pk", "status", "error", "log"):
                if status == JobBuild.FAILED:
                    raise RuntimeError(f"build {pk} failed: {error}\n{log}")
                done[pk] = now
            time.sleep(0.01)
        return done

    def latency(self, transport: str, runs: int, deadline: float) -> dict:
        from launchui.jobs.models import JobBuild

        totals, waits, works = [], [], []
        for _ in range(runs):
            start = time.monotonic()
            build = self.submit(transport)
            finished = self.wait([build.pk], deadline)[build.pk]
            totals.append(finished - start)
            build = JobBuild.objects.get(pk=build.pk)
            assert build.result_created, "every bench build makes a new version"
            assert build.started_at and build.finished_at, "a finished build has started and finished"
            waits.append((build.started_at - build.created_at).total_seconds())
            works.append((build.finished_at - build.started_at).total_seconds())
        return {
            "median": statistics.median(totals),
            "min": min(totals),
            "max": max(totals),
            "wait": statistics.median(waits),
            "work": statistics.median(works),
        }

    def throughput(self, transport: str, count: int, deadline: float) -> dict:
        start = time.monotonic()
        ids = [self.submit(transport).pk for _ in range(count)]
        done = self.wait(ids, deadline)
        elapsed = max(done.values()) - start
        return {"builds": count, "seconds": elapsed, "per_minute": count / elapsed * 60}


def checkout_baseline(remote: str, credential, runs: int) -> float:
    """Median seconds of jobs.sources.git_checkout alone (clone + checkout + read tree), in this process."""
    from launchui.jobs import services, sources

    kwargs = services.git_access(credential)  # what a build passes: the credential, bound to its server
    times = []
    for _ in range(runs):
        start = time.monotonic()
        with sources.git_checkout(remote, "main", **kwargs) as (checkout, _commit):
            sources.read_tree(checkout)
        times.append(time.monotonic() - start)
    return statistics.median(times)


# --- main ---------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--builds", type=int, default=16, help="builds submitted at once per throughput run")
    parser.add_argument("--latency-runs", type=int, default=9, help="sequential builds timed per latency run")
    parser.add_argument("--transport", choices=["ssh", "https", "both"], default="both")
    parser.add_argument("--concurrency", default="1,2", help="worker concurrencies to compare, e.g. 1,2")
    parser.add_argument("--timeout", type=int, default=900, help="the whole run's limit in seconds")
    args = parser.parse_args()
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    transports = ["ssh", "https"] if args.transport == "both" else [args.transport]

    def overran(signum, frame):
        raise TimeoutError(f"bench/builds.py overran --timeout {args.timeout}s")

    signal.signal(signal.SIGALRM, overran)
    signal.alarm(args.timeout)
    deadline = time.monotonic() + args.timeout
    work = Path(tempfile.mkdtemp(prefix="launchui-bench-builds-"))
    servers: list[SSHServer | GitHTTPSServer] = []
    worker, failed = None, True
    try:
        data_dir = work / "data"
        (data_dir / "static").mkdir(parents=True)
        recreate_database()
        flush_broker()
        repo = make_repo(work / "repos" / "private")
        cert, key = make_self_signed_cert(work / "tls")
        env = environment(data_dir, cert)
        setup_django(env)
        from django.core.management import call_command

        from launchui.accounts.services import user_create
        from launchui.jobs import services

        call_command("migrate", verbosity=0)
        user = user_create(username="bench", password=None)
        remotes, credentials = {}, {}
        if "ssh" in transports:
            ssh = SSHServer(work / "sshd").start()
            servers.append(ssh)
            remotes["ssh"] = ssh.url(repo.path)
            credentials["ssh"] = services.credential_create(
                entity=user.personal_entity,
                name="ssh",
                kind="ssh",
                secret=ssh.client_key.read_text(),
                host="127.0.0.1",
                port=ssh.port,
                created_by=user,
            )
        if "https" in transports:
            https = GitHTTPSServer(work / "repos", cert, key, username=HTTPS_USER, password=HTTPS_PASSWORD).start()
            servers.append(https)
            remotes["https"] = https.url("private/trainer.git")
            credentials["https"] = services.credential_create(
                entity=user.personal_entity,
                name="https",
                kind="https",
                username=HTTPS_USER,
                secret=HTTPS_PASSWORD,
                host="127.0.0.1",
                port=https.port,
                created_by=user,
            )

        bench = Bench(user, credentials, remotes)
        load = os.getloadavg()
        print(
            f"bench/builds.py: {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f}; "
            f"repository of {sum(f.stat().st_size for f in repo.path.rglob('*') if f.is_file()) // 1024} kB "
            f"on disk, {len(repo.commits)} branches/tags"
        )
        results = []
        for transport in transports:
            baseline = checkout_baseline(remotes[transport], credentials[transport], 5)
            print(f"\n{transport.upper()}  {remotes[transport]}")
            print(f"  git_checkout alone (clone, checkout, read tree), median of 5: {baseline * 1000:.0f} ms")
            for concurrency in concurrencies:
                worker = Worker(concurrency, env, work / f"worker-{transport}-{concurrency}.log")
                worker.wait_ready()
                bench.latency(transport, 2, deadline)  # warm up every child process and connection
                latency = bench.latency(transport, args.latency_runs, deadline)
                throughput = bench.throughput(transport, args.builds, deadline)
                worker.stop()
                worker = None
                results.append((transport, concurrency, latency, throughput))
                print(
                    f"  worker concurrency {concurrency}: "
                    f"submit -> ready job version median {latency['median'] * 1000:.0f} ms "
                    f"(min {latency['min'] * 1000:.0f}, max {latency['max'] * 1000:.0f}; "
                    f"queue wait {latency['wait'] * 1000:.0f} + build {latency['work'] * 1000:.0f}) over "
                    f"{args.latency_runs} builds; throughput {throughput['per_minute']:.0f} jobs/min "
                    f"({throughput['builds']} builds in {throughput['seconds']:.1f} s)"
                )
        if len(concurrencies) > 1:
            print()
            for transport in transports:
                rates = {c: t["per_minute"] for tr, c, _, t in results if tr == transport}
                first = concurrencies[0]
                for c in concurrencies[1:]:
                    print(f"{transport}: concurrency {c} vs {first}: x{rates[c] / rates[first]:.2f} throughput")
        failed = False
        return 0
    except Exception as exc:
        print(f"\nFAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
        if worker is not None and worker.log_path.exists():
            print(f"worker log (tail):\n{worker.log_path.read_text()[-2000:]}", file=sys.stderr)
        return 1
    finally:
        signal.alarm(0)
        if worker is not None:
            worker.stop()
        for server in servers:
            server.stop()
        try:
            from django.db import connections

            connections.close_all()
        except Exception:
            pass
        for cleanup in (lambda: recreate_database(create=False), flush_broker):
            try:
                cleanup()
            except Exception as exc:
                print(f"cleanup failed: {exc}", file=sys.stderr)
        shutil.rmtree(work, ignore_errors=True)
        if failed:
            print("(the run failed; nothing is left behind)", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
