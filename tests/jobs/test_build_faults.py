"""Security review finding 4, "Broker and worker faults lose builds": with the broker down, a worker killed
mid-build, or the broker restarted under a worker, every build still ends Succeeded or Failed within
BOUND seconds, no git process or temporary folder of a killed build is left behind, and under honcho
(bin/run) a killed worker is restarted without taking the web server down.

Each test has its own redis-server on a free port (never the shared Redis, which other tests use) and its
own live Celery worker on it, with short sweeper and lease intervals.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from launchui.celery import app
from launchui.jobs import selectors, services
from launchui.jobs.models import JobBuild
from tests.conftest import _test_database_url, start_celery_worker
from tests.gitserver import free_port, wait_port
from tests.jobs.conftest import TERMINAL

pytestmark = pytest.mark.django_db(transaction=True)

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
# The worker in these tests: it sweeps every second, a build's lease lasts 3 s (renewed every second).
WORKER_ENV = {
    "LAUNCHUI_BUILD_SWEEP_SECONDS": "1",
    "LAUNCHUI_BUILD_LEASE_SECONDS": "3",
    "LAUNCHUI_BUILD_MAX_ATTEMPTS": "2",
    "LAUNCHUI_BUILD_RESEND_SECONDS": "300",
    "LAUNCHUI_GIT_TIMEOUT": "120",
}
# The stated bound: from the fault's end (broker back, new worker up) to every build terminal. It is the
# sweep interval + the lease + Celery's broker reconnect back-off (2 s, then 4 s, ...) + the build itself.
BOUND = 30


class PrivateRedis:
    """A redis-server of our own, with no persistence: a restart loses every message, like a crash."""

    def __init__(self, workdir: Path):
        self.workdir, self.port = workdir, free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = open(self.workdir / "redis.log", "ab")
        self.proc = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if not wait_port(self.port):
            pytest.fail(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()  # a crash, not a clean shutdown
            self.proc.wait(timeout=10)


@pytest.fixture
def redis(tmp_path):
    if not os.path.exists(REDIS_SERVER):
        pytest.fail(f"{REDIS_SERVER} is missing: bin/test-services installs Debian's redis-server.")
    server = PrivateRedis(tmp_path)
    server.start()
    # The app in this process (the web side) sends to the private broker too.
    old_url = app.conf.broker_url
    use_broker(server.url)
    yield server
    use_broker(old_url)
    server.stop()


def use_broker(url: str) -> None:
    app.conf.update(broker_url=url, broker_write_url=url, broker_read_url=url)
    app._pool, app.amqp._producer_pool = None, None  # pools made for the previous URL


@pytest.fixture
def workers(redis, tmp_path):
    """workers.start() -> a live worker on the private broker; all are stopped at the end."""
    started = []

    class Workers:
        def start(self):
            worker = start_celery_worker(
                broker_url=redis.url,
                database_url=_test_database_url(),
                log=tmp_path / "worker.log",
                nodename=f"faults-{len(started)}-{os.getpid()}@{socket.gethostname()}",
                ca_file=settings.LAUNCHUI_GIT_SSL_CA_FILE,
                extra_env=WORKER_ENV,
                supervised=True,
            )
            started.append(worker)
            return worker

    yield Workers()
    for worker in started:
        worker.stop()


def wait_terminal(builds, worker, bound=BOUND):
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        left = [b for b in builds if JobBuild.objects.get(pk=b.pk).status not in TERMINAL]
        if not left:
            return [JobBuild.objects.get(pk=b.pk) for b in builds]
        assert worker.proc.poll() is None, f"the worker died:\n{worker.log()[-4000:]}"
        time.sleep(0.2)
    states = {b.pk: (b.status, b.sent_at, b.attempt) for b in JobBuild.objects.filter(pk__in=[b.pk for b in left])}
    pytest.fail(f"not terminal after {bound} s: {states}\n--- worker log ---\n{worker.log()[-6000:]}")


def image_build(owner, image="python:3.12"):
    return services.build_create_image(entity=owner.personal_entity, project="proj", image=image, created_by=owner)


# --- (a) the broker is down when builds are created ----------------------------------------------------


def test_builds_created_while_the_broker_is_down_are_sent_when_it_is_back(workers, redis, owner, client):
    worker = workers.start()
    redis.stop()
    started = time.monotonic()
    builds = [image_build(owner, f"python:3.{minor}") for minor in (10, 11, 12)]
    # The form's view answers as usual (no 500) and the build page says what it waits for.
    client.force_login(owner)
    response = client.post(
        "/launch/jobs/new/image", {"entity": owner.username, "project": "proj", "image": "busybox:1.36"}
    )
    assert response.status_code == 302, response.content[:2000]
    builds.append(JobBuild.objects.get(pk=int(response["Location"].rstrip("/").rsplit("/", 1)[1])))
    elapsed = time.monotonic() - started
    print(f"broker down: 4 builds created in {elapsed:.1f} s")
    assert elapsed < 15  # each send gives up after about a second
    for build in builds:
        build.refresh_from_db()
        assert build.status == JobBuild.QUEUED and build.sent_at is None
    page = client.get(f"/launch/builds/{builds[-1].pk}").content.decode()
    assert selectors.WAITING_FOR_BROKER.split(":")[0] in page

    time.sleep(3)  # the sweeper runs meanwhile and cannot send either: nothing is lost or marked sent
    assert JobBuild.objects.filter(pk__in=[b.pk for b in builds], sent_at__isnull=True).count() == 4
    redis.start()
    back = time.monotonic()
    done = wait_terminal(builds, worker)
    print(f"broker down: 4 builds terminal {time.monotonic() - back:.1f} s after the broker came back")
    assert all(b.status == JobBuild.SUCCEEDED and b.attempt == 1 for b in done), [b.log for b in done]
    assert all(b.log.count("Created job") == 1 for b in done)


def test_a_message_lost_in_a_broker_restart_is_sent_again_when_a_worker_connects(workers, redis, owner):
    """The build was sent, then the broker restarted without it (no persistence) before any worker took
    it. The worker re-sends it on connecting, not LAUNCHUI_BUILD_RESEND_SECONDS (300 s here) later."""
    build = image_build(owner)
    build.refresh_from_db()
    assert build.sent_at is not None  # the broker had it
    redis.stop()
    redis.start()
    worker = workers.start()
    (build,) = wait_terminal([build], worker)
    assert build.status == JobBuild.SUCCEEDED and build.attempt == 1, build.log


# --- (b) the worker is killed mid-build -----------------------------------------------------------------


class StallFirstConnection:
    """A TCP proxy to the git server that holds its first connection open and silent (a git clone that
    hangs mid-build), and forwards every later one."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self.stalled = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            if not self.stalled.is_set():
                self.held.append(client)
                self.stalled.set()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.sock.close()
        for s in self.held:
            s.close()


def processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_worker_killed_mid_build_the_build_is_retried_and_its_git_process_and_folder_are_gone(
    workers, owner, git_repo, git_https_server
):
    proxy = StallFirstConnection(git_https_server.port)
    try:
        worker = workers.start()  # bin/worker, which restarts celery when it dies
        killed = worker.celery_pid()
        remote = f"https://127.0.0.1:{proxy.port}/public/trainer.git"
        build = services.build_create_git(
            entity=owner.personal_entity, project="proj", remote=remote, entry_point="train.py", created_by=owner
        )
        assert proxy.stalled.wait(30), "the build never reached the git server"
        folder_prefix = str(Path(tempfile.gettempdir()) / f"launchui-git-{killed}.")
        deadline = time.monotonic() + 10
        while not processes_mentioning(folder_prefix) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert processes_mentioning(folder_prefix), "no git clone running for the build"
        build.refresh_from_db()
        assert build.status == JobBuild.RUNNING and build.attempt == 1

        os.kill(killed, signal.SIGKILL)
        killed_at = time.monotonic()
        while worker.celery_pid() == killed:  # bin/worker reaps it
            time.sleep(0.05)
        # What the finding saw: the killed build's git clone and folder outlive its worker.
        assert processes_mentioning(folder_prefix)
        assert list(Path(tempfile.gettempdir()).glob(f"launchui-git-{killed}.*"))

        worker.wait_ready()  # bin/worker started celery again, under the same name
        assert worker.proc.poll() is None and worker.celery_pid() not in (None, killed)
        assert "bin/worker: the Celery worker exited (status 137)" in worker.log()
        (build,) = wait_terminal([build], worker)
        print(f"worker killed: build terminal {time.monotonic() - killed_at:.1f} s after the SIGKILL")
        assert build.status == JobBuild.SUCCEEDED and build.attempt == 2, build.log
        assert "The worker was lost during attempt 1: queued again" in build.log
        assert build.log.count("Created job") == 1
        assert not processes_mentioning(folder_prefix)
        assert not list(Path(tempfile.gettempdir()).glob(f"launchui-git-{killed}.*"))
    finally:
        proxy.close()


def test_a_build_that_keeps_losing_its_worker_fails_after_the_last_attempt(workers, owner):
    """The lease sweep without a worker in the way: a build whose worker died on its last attempt fails
    with the reason, instead of looping."""
    worker = workers.start()
    build = image_build(owner)
    (build,) = wait_terminal([build], worker)
    # Pretend the worker died during attempt 2 of 2, 10 s ago.
    JobBuild.objects.filter(pk=build.pk).update(
        status=JobBuild.RUNNING, attempt=2, lease_token="gone", heartbeat_at=build.finished_at.replace(year=2000)
    )
    (build,) = wait_terminal([build], worker)
    assert build.status == JobBuild.FAILED and build.error == selectors.WORKER_LOST


# --- (c) the broker restarts under a running worker -----------------------------------------------------


def test_worker_survives_broker_restarts_and_serves_new_builds(workers, redis, owner):
    worker = workers.start()
    celery_pid = worker.celery_pid()
    for restart in range(3):
        redis.stop()
        time.sleep(1)
        redis.start()
        back = time.monotonic()
        (build,) = wait_terminal([image_build(owner, f"python:3.1{restart}")], worker)
        assert build.status == JobBuild.SUCCEEDED, build.log
        print(f"broker restart {restart + 1}: a new build succeeded {time.monotonic() - back:.1f} s later")
    # The same celery process served all of them: it survived, rather than being restarted by bin/worker.
    assert worker.celery_pid() == celery_pid
    assert "Unrecoverable error" not in worker.log() and "bin/worker: the Celery worker exited" not in worker.log()


# --- under honcho (bin/run) -----------------------------------------------------------------------------


def celery_pids_under(pid: int) -> list[int]:
    """celery processes among pid's descendants."""
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        try:
            children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            todo.append(child)
            try:
                if b"celery" in Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")[1]:
                    found.append(child)
            except (OSError, IndexError):
                continue
    return found


def web_answers(port: int) -> int:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/graphql", timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_under_honcho_a_killed_worker_is_restarted_and_the_web_server_stays_up(redis, owner, tmp_path):
    """The repository's Procfile, run by honcho as bin/run does: SIGKILL the celery worker and honcho
    keeps running, the web server still answers, and a new worker serves a new build."""
    import sys

    root = Path(__file__).resolve().parents[2]
    venv_bin = Path(sys.executable).parent
    port = free_port()
    env = {
        **os.environ,
        "PATH": f"{venv_bin}:{os.environ.get('PATH', '')}",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "CELERY_CONCURRENCY": "1",
        "DATABASE_URL": _test_database_url(),
        "CELERY_BROKER_URL": redis.url,
        "LAUNCHUI_DATA_DIR": str(settings.DATA_DIR),
        "SECRET_KEY": settings.SECRET_KEY,
        "DJANGO_SETTINGS_MODULE": "launchui.settings",
        "PYTHONUNBUFFERED": "1",
        **WORKER_ENV,
    }
    log = open(tmp_path / "honcho.log", "wb")
    honcho = subprocess.Popen(
        [str(venv_bin / "honcho"), "start", "-f", str(root / "Procfile"), "-d", str(root)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:

        def wait_worker(other_than=()):
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                pids = [p for p in celery_pids_under(honcho.pid) if p not in other_than]
                if pids and app.control.ping(timeout=1.0):
                    return pids
                assert honcho.poll() is None, (tmp_path / "honcho.log").read_text()[-4000:]
                time.sleep(0.2)
            pytest.fail("no worker under honcho:\n" + (tmp_path / "honcho.log").read_text()[-4000:])

        first = wait_worker()
        assert wait_port(port) and web_answers(port) < 500
        for pid in first:
            os.kill(pid, signal.SIGKILL)
        wait_worker(other_than=first)
        assert honcho.poll() is None and web_answers(port) < 500
        build = image_build(owner)
        deadline = time.monotonic() + BOUND
        while JobBuild.objects.get(pk=build.pk).status not in TERMINAL and time.monotonic() < deadline:
            time.sleep(0.2)
        assert JobBuild.objects.get(pk=build.pk).status == JobBuild.SUCCEEDED
        assert "the Celery worker exited" in (tmp_path / "honcho.log").read_text()
    finally:
        honcho.terminate()  # honcho stops both, the worker with a warm shutdown
        try:
            honcho.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(honcho.pid, signal.SIGKILL)
            honcho.wait(timeout=10)
        log.close()
    assert not app.control.ping(timeout=1.0), "a worker outlived honcho"


# --- the sweep itself, in this process ------------------------------------------------------------------


@pytest.mark.django_db(transaction=False)
def test_a_lost_run_is_requeued_once_and_its_old_claim_can_write_nothing(owner, redis):
    """Never twice: the sweep re-queues a run whose lease ran out, the next claim gets a new token, and
    writes fenced by the old token (what a stalled first run would do on waking) change nothing."""
    project = owner.personal_entity.projects.create(name="proj")
    build = JobBuild.objects.create(
        project=project,
        kind=JobBuild.IMAGE,
        params={"image": "python:3.12"},
        created_by=owner,
        status=JobBuild.RUNNING,
        attempt=1,
        lease_token="first",
        heartbeat_at=timezone.now() - timedelta(minutes=5),
    )
    counts = services.builds_resend_stale()
    assert counts["requeued"] == 1 and counts["sent"] == 1
    build.refresh_from_db()
    assert build.status == JobBuild.QUEUED and build.lease_token == "" and build.sent_at is not None
    assert services.builds_resend_stale()["sent"] == 0  # just sent: not again

    services.build_run(build_id=build.pk, task_id="second")
    build.refresh_from_db()
    assert build.status == JobBuild.SUCCEEDED and build.attempt == 2 and build.lease_token not in ("", "first")
    stale_run = JobBuild.objects.filter(pk=build.pk, lease_token="first")
    services._log(stale_run, "late line from the first run")
    assert stale_run.update(status=JobBuild.FAILED) == 0
    build.refresh_from_db()
    assert build.status == JobBuild.SUCCEEDED and "late line" not in build.log
    services.build_run(build_id=build.pk, task_id="duplicate")  # a duplicate message claims nothing
    build.refresh_from_db()
    assert build.attempt == 2 and build.log.count("Created job") == 1
