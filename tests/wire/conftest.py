"""Drive the real wandb 0.31.0 client, as a subprocess, against launchui's live test server."""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

WANDB = str(Path(sys.executable).with_name("wandb"))
PYTHON = sys.executable


@pytest.fixture
def wandb_env(live_server, tmp_path):
    """wandb_env(key) -> an environment in which the wandb client talks to launchui with that key."""
    home = tmp_path / "home"
    home.mkdir()

    def make(api_key: str, **extra: str) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
        env.update(
            HOME=str(home),
            WANDB_BASE_URL=live_server.url,
            WANDB_API_KEY=api_key,
            WANDB_DIR=str(tmp_path),
            WANDB_CONFIG_DIR=str(home / ".config" / "wandb"),
            WANDB_CACHE_DIR=str(tmp_path / "cache"),
            WANDB_ERROR_REPORTING="false",
            WANDB_DISABLE_GIT="true",
            PYTHONUNBUFFERED="1",
        )
        env.update(extra)
        return env

    return make


class AgentProcess:
    def __init__(self, args: list[str], env: dict, log: Path, cwd: Path):
        self.log = log
        self._file = open(log, "wb")
        self.proc = subprocess.Popen(
            [WANDB, "launch-agent", *args],
            env=env,
            cwd=cwd,
            stdout=self._file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout=timeout)

    def kill(self, sig=9) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=30)
        self._file.close()


@pytest.fixture
def start_agent(wandb_env, tmp_path):
    """start_agent(key, queue, entity) -> a running `wandb launch-agent`; killed at the end of the test."""
    agents: list[AgentProcess] = []

    def start(api_key: str, *, queue: str, entity: str, extra_args=(), **env_extra) -> AgentProcess:
        workdir = tmp_path / f"agent{len(agents)}"
        workdir.mkdir()
        agent = AgentProcess(
            ["-q", queue, "-e", entity, *extra_args], wandb_env(api_key, **env_extra), workdir / "agent.log", workdir
        )
        agents.append(agent)
        return agent

    yield start
    for agent in agents:
        agent.kill()


def wait_for(predicate, *, timeout: float, interval: float = 0.5, what: str = "condition", on_fail=None):
    """Poll until predicate() is truthy; fail with what was waited for (and on_fail() output) if it never is."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    detail = f"\n--- output ---\n{on_fail()}" if on_fail else ""
    pytest.fail(f"Timed out after {timeout}s waiting for {what}{detail}")


def run_python(code: str, env: dict, timeout: float = 120, cwd: str | None = None) -> subprocess.CompletedProcess:
    """Runs client code in a directory of its own (WANDB_DIR's when set): scripts write relative paths
    (downloads, files to log), which must never land in the checkout."""
    cwd = cwd or env.get("WANDB_DIR") or tempfile.mkdtemp(prefix="launchui-client-")
    return subprocess.run([PYTHON, "-c", code], env=env, capture_output=True, text=True, timeout=timeout, cwd=cwd)


def require_wandb() -> None:
    if not shutil.which(WANDB):
        pytest.fail(f"{WANDB} is missing: bin/test installs requirements-test.txt (wandb==0.31.0).")
