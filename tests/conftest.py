"""Shared fixtures: an owner, a member and an outsider of a team; API keys; the browser.

Services are real: PostgreSQL through pytest-django, Redis checked here, Chromium from Debian. A missing
service fails the run; nothing is skipped.
"""

import ipaddress
import os
import socket
from urllib.parse import urlparse

import pytest
from django.conf import settings
from django.db import connection

from launchui.accounts.models import Membership
from launchui.accounts.services import api_key_create, team_create, user_create
from launchui.launch.services import agent_register, queue_create

PASSWORD = "correct-horse-battery-staple"
CHROMIUM = "/usr/bin/chromium"


def pytest_sessionstart(session):
    if connection.vendor != "postgresql":
        pytest.exit("The tests run on PostgreSQL: set DATABASE_URL (bin/test does).", returncode=1)
    broker = urlparse(settings.CELERY_BROKER_URL)
    if broker.scheme != "redis":
        pytest.exit("The tests need the Redis broker: set CELERY_BROKER_URL (bin/test does).", returncode=1)
    try:
        socket.create_connection((broker.hostname, broker.port or 6379), timeout=3).close()
    except OSError as exc:
        pytest.exit(f"Redis at {broker.hostname}:{broker.port} is not reachable: {exc}", returncode=1)


@pytest.fixture(scope="session", autouse=True)
def _plain_static_storage():
    """Tests serve static files from the source folders; production uses collectstatic's hashed manifest."""
    from django.test import override_settings

    storages = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    with override_settings(STORAGES=storages):
        yield


@pytest.fixture
def owner(db):
    return user_create(username="olivia", password=PASSWORD, email="olivia@example.com")


@pytest.fixture
def member(db):
    return user_create(username="mateo", password=PASSWORD)


@pytest.fixture
def outsider(db):
    return user_create(username="oscar", password=PASSWORD)


@pytest.fixture
def team(owner, member):
    """Team 'acme': olivia is its admin, mateo a member, oscar nothing."""
    entity = team_create(name="acme", creator=owner)
    Membership.objects.create(entity=entity, user=member, role=Membership.MEMBER)
    return entity


@pytest.fixture
def owner_key(owner):
    return api_key_create(user=owner, name="owner key")[1]


@pytest.fixture
def member_key(member):
    return api_key_create(user=member, name="member key")[1]


@pytest.fixture
def outsider_key(outsider):
    return api_key_create(user=outsider, name="outsider key")[1]


# --- queues and agents: defined once here; a test module overrides queue when it needs another kind ------


@pytest.fixture
def make_queue(owner):
    def make(entity, name, resource="local-container", **kwargs):
        return queue_create(entity=entity, name=name, resource=resource, created_by=owner, **kwargs)

    return make


@pytest.fixture
def queue(team, make_queue):
    """acme/gpu-queue, a Docker queue made by olivia."""
    return make_queue(team, "gpu-queue")


@pytest.fixture
def make_agent(owner):
    def make(queue, hostname="box-1"):
        return agent_register(
            entity=queue.entity,
            queues=[queue],
            hostname=hostname,
            config={"max_jobs": 1},
            version="wandb@0.31.0",
            created_by=owner,
        )

    return make


@pytest.fixture
def agent(make_agent, queue):
    """An agent polling the queue (max_jobs 1, as the client's default)."""
    return make_agent(queue)


# --- browser ------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: bin/test-services installs Debian's chromium.")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page_as(browser, live_server):
    """page_as(user) -> a Playwright page signed in as that user (through the real sign-in form)."""
    contexts = []

    def sign_in(user, password=PASSWORD):
        context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        page.goto("/login")
        page.get_by_label("Username").fill(user.username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(lambda url: "/login" not in url)
        return page

    yield sign_in
    for context in contexts:
        context.close()


# --- git servers and a live Celery worker (job builds) -------------------------------------------------

GIT_HTTPS_USER = "builder"
GIT_HTTPS_PASSWORD = "hunter2-Zq8v-not-in-any-log"
# The test git servers listen on 127.0.0.1, an internal address builds may reach only when allowed; a short
# connect timeout keeps the tests of silent servers quick (the default is 10 s).
GIT_ALLOWED_HOSTS = [("network", ipaddress.ip_network("127.0.0.1/32"), None)]
GIT_CONNECT_TIMEOUT = 3


@pytest.fixture(scope="session")
def git_repo(tmp_path_factory):
    """A bare test repository (tests/gitserver.py make_repo): train.py, requirements.txt with wandb,
    runtime.txt python-3.10.4, tag v1, branches main, dev, plain, no-requirements, no-wandb.
    Served by both git servers: git_https_server at private/trainer.git and public/trainer.git."""
    from tests.gitserver import make_repo

    root = tmp_path_factory.mktemp("git-repos")
    repo = make_repo(root / "private")
    (root / "public").mkdir()
    (root / "public" / repo.name).symlink_to(repo.path)
    return repo


@pytest.fixture(scope="session")
def git_tls_cert(tmp_path_factory):
    """(certificate, key) of a self-signed certificate for 127.0.0.1. settings.LAUNCHUI_GIT_SSL_CA_FILE
    points at it for the whole session, 127.0.0.1 is an allowed git host and the connect timeout is short
    (celery_worker passes the same to the worker)."""
    from django.test import override_settings

    from tests.gitserver import make_self_signed_cert

    cert, key = make_self_signed_cert(tmp_path_factory.mktemp("git-tls"))
    with override_settings(
        LAUNCHUI_GIT_SSL_CA_FILE=str(cert),
        LAUNCHUI_GIT_ALLOWED_HOSTS=GIT_ALLOWED_HOSTS,
        LAUNCHUI_GIT_CONNECT_TIMEOUT=GIT_CONNECT_TIMEOUT,
    ):
        yield cert, key


@pytest.fixture(scope="session")
def git_https_server(git_repo, git_tls_cert):
    """Smart HTTPS (git http-backend) with basic auth GIT_HTTPS_USER / GIT_HTTPS_PASSWORD on 127.0.0.1.
    server.url("private/trainer.git") needs the credential; server.url("public/trainer.git") does not."""
    from tests.gitserver import GitHTTPSServer

    cert, key = git_tls_cert
    server = GitHTTPSServer(
        git_repo.path.parent.parent, cert, key, username=GIT_HTTPS_USER, password=GIT_HTTPS_PASSWORD
    ).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def git_ssh_server(tmp_path_factory):
    """Debian's sshd as root on a free port, key auth only: server.url(git_repo.path) is an ssh:// remote,
    server.client_key is authorized, server.wrong_key is not."""
    from tests.gitserver import SSHServer

    try:
        server = SSHServer(tmp_path_factory.mktemp("sshd")).start()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    yield server
    server.stop()


def _test_database_url() -> str:
    from urllib.parse import quote

    from django.db import connection

    db = connection.settings_dict
    auth = quote(db["USER"] or "", safe="")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"], safe="")
    host = db.get("HOST") or "127.0.0.1"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{auth}@{host}{port}/{quote(db['NAME'], safe='')}"


class CeleryWorker:
    def __init__(self, proc, log, nodename, broker_url):
        self.proc, self.log_file, self.nodename, self.broker_url = proc, log, nodename, broker_url

    def log(self) -> str:
        return self.log_file.read_text(errors="replace")

    def stop(self) -> None:
        import signal
        import subprocess

        if self.proc.poll() is None:
            self.proc.terminate()  # warm shutdown: the current task finishes
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)  # its session: bin/worker and its celery too
                self.proc.wait(timeout=10)

    def celery_pid(self) -> int | None:
        """The celery process: proc itself, or the child of bin/worker running celery now."""
        from pathlib import Path

        if "bin/worker" not in " ".join(self.proc.args):
            return self.proc.pid
        try:
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        except OSError:
            return None
        for pid in children:
            try:
                if b"celery" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    return int(pid)
            except OSError:
                continue
        return None

    def wait_ready(self, timeout: float = 90) -> None:
        """Until the worker answers a ping on its broker."""
        import time

        from launchui.celery import app

        deadline = time.monotonic() + timeout
        with app.connection_for_write(self.broker_url) as connection:
            while not app.control.ping(destination=[self.nodename], timeout=1.0, connection=connection):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    pytest.fail(f"The Celery worker did not come up (exit {self.proc.poll()}):\n{self.log()[-4000:]}")


def start_celery_worker(
    *,
    broker_url: str,
    database_url: str,
    log,
    nodename: str,
    ca_file: str = "",
    extra_env: dict | None = None,
    supervised: bool = False,
) -> CeleryWorker:
    """A real `celery -A launchui worker --pool=solo` subprocess (in its own session) on broker_url and the
    test database, sharing LAUNCHUI_DATA_DIR and SECRET_KEY with the tests; returns once it answers a ping.
    supervised: run it through bin/worker, the Procfile's restart loop, as production does."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    venv_bin = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if not k.startswith("CELERY_TASK_ALWAYS_EAGER")}
    env.update(
        DATABASE_URL=database_url,
        CELERY_BROKER_URL=broker_url,
        LAUNCHUI_DATA_DIR=str(settings.DATA_DIR),
        SECRET_KEY=settings.SECRET_KEY,
        LAUNCHUI_GIT_SSL_CA_FILE=ca_file,
        DJANGO_SETTINGS_MODULE="launchui.settings",
        LAUNCHUI_GIT_ALLOWED_HOSTS="127.0.0.1",
        LAUNCHUI_GIT_CONNECT_TIMEOUT=str(GIT_CONNECT_TIMEOUT),
        PYTHONPATH=str(root),
        PYTHONUNBUFFERED="1",
        PATH=f"{venv_bin}:{os.environ.get('PATH', '')}",
        **(extra_env or {}),
    )
    if supervised:
        command = [str(root / "bin" / "worker"), "--pool=solo", "-n", nodename]
    else:  # the same switches as bin/worker
        command = [
            str(venv_bin / "celery"),
            "-A",
            "launchui",
            "worker",
            "--pool=solo",
            "--loglevel=INFO",
            "-n",
            nodename,
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            command, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    worker = CeleryWorker(proc, log, nodename, broker_url)
    worker.wait_ready()
    return worker


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker, git_tls_cert, tmp_path_factory):
    """A real Celery worker (start_celery_worker) on the Redis broker of the settings, with the git CA file.
    The queue is purged first. Tests that use it must be django_db(transaction=True), so the worker sees
    their rows."""
    from launchui.celery import app

    log = tmp_path_factory.mktemp("celery") / "worker.log"
    nodename = f"jobs-test-{os.getpid()}@{socket.gethostname()}"
    with django_db_blocker.unblock():
        database_url = _test_database_url()
    app.control.purge()
    worker = start_celery_worker(
        broker_url=settings.CELERY_BROKER_URL,
        database_url=database_url,
        log=log,
        nodename=nodename,
        ca_file=str(git_tls_cert[0]),
    )
    try:
        yield worker
    finally:
        worker.stop()


# --- a production web process -----------------------------------------------------------------------------


class Gunicorn:
    """`gunicorn launchui.wsgi` as a subprocess in its own session, on a free port of 127.0.0.1 (start_gunicorn)."""

    def __init__(self, proc, url: str, log):
        self.proc, self.url, self.log = proc, url, log

    def worker_pids(self) -> list[int]:
        return [int(pid) for pid in open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read().split()]

    def stop(self) -> None:
        import subprocess

        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def start_gunicorn(env: dict, log, *args: str, timeout: float = 60) -> Gunicorn:
    """gunicorn with these environment variables and extra arguments, once it answers /login."""
    import subprocess
    import sys
    import time
    from pathlib import Path

    import requests

    from tests.gitserver import free_port

    url = f"http://127.0.0.1:{free_port()}"
    command = [str(Path(sys.executable).with_name("gunicorn")), "launchui.wsgi", "--bind", url[len("http://") :]]
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [*command, *args],
            cwd=Path(__file__).resolve().parent.parent,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Gunicorn(proc, url, log)
    deadline = time.monotonic() + timeout
    while True:
        try:
            requests.get(url + "/login", timeout=5)
            return server
        except requests.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                server.stop()
                pytest.fail(f"gunicorn did not start:\n{Path(log).read_text(errors='replace')}")
            time.sleep(0.2)
