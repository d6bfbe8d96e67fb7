"""Issue 12: the status on the page is the truth. One real `wandb launch-agent` (0.31.0) with seven slots runs
seven local-process jobs at once, one per ending, and the item pages and the queue Overview (the HTML a member
reads) must say what happened, with its reason, within the stated bound:

- finishes: Finished;
- raises after wandb.init() without run.finish(): Crashed, with its console tail inline, within 30 s of the exit;
- stopped from the item row (the browser's Stop) and through the API (`api.run(path).stop()`): Stopping, then
  Killed with who and when, within the agent's bound (poll interval 10 s + stopped_run_timeout 60 s);
- killed with SIGKILL: Crashed within 30 s while the agent lives;
- fails before wandb.init(): Failed at the run stage, the agent's error.log inline and downloadable;
- still running when the agent is killed with SIGKILL: the agent Offline after the threshold, the item Crashed,
  "Agent lost".
An eighth item waits Queued while the seven fill the agent's slots, and the Agents tab counts only the jobs
still running. Idle is reached before the agent starts, Pending while it starts a run. The figures measured are
printed (pytest -s) and quoted in the README.
"""

import html
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from launchui.launch.models import LaunchAgent, RunQueueItem
from launchui.launch.services import item_push, queue_create
from tests.wire.conftest import WANDB, require_wandb, run_python, wait_for

pytestmark = [pytest.mark.wandb, pytest.mark.django_db(transaction=True)]

TRAIN = """import os, sys, time
mode = sys.argv[sys.argv.index("--mode") + 1]
out = os.environ["LAUNCHUI_TEST_OUT"]
release = os.path.join(out, "release")  # ok, fail and preinit hold their slots until the test releases them
if mode in ("ok", "fail", "preinit"):
    for _ in range(600):
        if os.path.exists(release):
            break
        time.sleep(0.5)
if mode == "preinit":
    print("loading the dataset", flush=True)
    raise FileNotFoundError("no dataset at /data/missing.csv (raised before wandb.init)")
import wandb
run = wandb.init()
with open(os.path.join(out, mode + ".pid"), "w") as f:
    f.write(f"{os.getpid()} {run.id}")
print(f"started {mode}", flush=True)
if mode == "fail":
    run.log({"loss": 1.0})
    print("about to fail at step 1", flush=True)
    time.sleep(3)
    raise RuntimeError("loss went NaN at step 1 (from the test)")
for step in range(900):
    run.log({"loss": 1.0 / (step + 1)})
    print(f"step {step}", flush=True)
    if mode.startswith("ok") and step == 2:
        break
    time.sleep(1)
run.finish()
"""
# In the order they are pushed and popped; the last one waits for a free slot.
MODES = ["ok", "fail", "stop", "apistop", "sigkill", "preinit", "lost", "ok2"]
SLOTS = 7
# The agent checks its jobs every 10 s (AGENT_POLLING_INTERVAL) and kills a stopped one after 60 s.
STOP_BOUND = 10 + 60 + 10


def main_text(response) -> str:
    """The page's <main> as a person reads it: tags dropped, whitespace folded."""
    assert response.status_code == 200, response.status_code
    body = response.content.decode()
    body = body[body.index("<main") : body.index("</main>")]
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body))).strip()


class Pages:
    def __init__(self, client, items):
        self.client, self.items = client, items

    def item(self, mode: str) -> str:
        return main_text(self.client.get(f"/launch/olivia/queues/local/items/{self.items[mode].pk}"))

    def status(self, mode: str) -> str:
        response = self.client.get(f"/launch/olivia/queues/local/items/{self.items[mode].pk}")
        found = re.search(r"<h1>.*?item-status-(\w+)", response.content.decode(), re.S)
        return found.group(1) if found else "?"

    def overview_row(self, mode: str) -> str:
        """The item's row (and its error row) on the queue Overview."""
        body = self.client.get("/launch/olivia/queues/local/").content.decode()
        pk = self.items[mode].pk
        start = body.index(f'id="item-{pk}"')
        end = body.find('<tr class="item-row"', start + 10)
        chunk = body[start : end if end != -1 else body.index("</table>", start)]
        return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", chunk))).strip()

    def agents(self) -> str:
        return main_text(self.client.get("/launch/olivia/queues/local/agents"))


def test_every_ending_of_a_launched_run_shows_its_status_and_reason(
    client, wandb_env, start_agent, owner, owner_key, tmp_path, settings
):
    require_wandb()
    settings.LAUNCHUI_AGENT_OFFLINE_AFTER = 25  # the agent reads LaunchAgent every 10 s
    env = wandb_env(owner_key)
    code = tmp_path / "trainer"
    code.mkdir()
    (code / "train.py").write_text(TRAIN)
    (code / "requirements.txt").write_text("wandb\n")
    job = ["-p", "proj", "-e", "olivia", "-n", "lifecycle", "-E", "python train.py", "code", str(code)]
    created = subprocess.run(
        [WANDB, "job", "create", *job], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180
    )
    assert created.returncode == 0, created.stdout + created.stderr
    queue = queue_create(entity=owner.personal_entity, name="local", resource="local-process", created_by=owner)
    spec = {"job": "olivia/proj/lifecycle:latest", "entity": "olivia", "project": "proj"}
    items = {
        mode: item_push(queue=queue, run_spec={**spec, "overrides": {"args": ["--mode", mode]}}, created_by=owner)
        for mode in MODES
    }
    client.force_login(owner)
    pages = Pages(client, items)

    # Idle: no agent polls the queue.
    assert pages.status("ok") == "idle"
    assert "No live agent polls this queue" in pages.item("ok")

    out = tmp_path / "out"
    out.mkdir()
    agent_proc = start_agent(
        owner_key,
        queue="local",
        entity="olivia",
        extra_args=["-j", str(SLOTS)],
        LAUNCHUI_TEST_OUT=str(out),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    )

    def log():
        return agent_proc.output()[-8000:]

    def started(mode: str) -> tuple[int, str]:
        path = out / f"{mode}.pid"
        wait_for(lambda: path.exists() and path.read_text(), timeout=180, what=f"the {mode} job to start", on_fail=log)
        pid, run_id = path.read_text().split()
        return int(pid), run_id

    def wait_status(mode: str, wanted: str, timeout: float) -> float:
        start = time.monotonic()
        wait_for(
            lambda: pages.status(mode) == wanted,
            timeout=timeout,
            interval=0.5,
            what=f"the {mode} item to show {wanted} (it shows {pages.status(mode)})",
            on_fail=log,
        )
        return time.monotonic() - start

    # Pending: the agent took it and starts the run; Queued: the eighth item waits for a slot, and says why.
    wait_status("lost", "pending", 90)
    assert re.search(r"An agent took it|The agent accepted it and is starting the run", pages.item("lost"))
    wait_for(
        lambda: "every live agent (1) is running as many jobs as it may" in pages.item("ok2"),
        timeout=60,
        what="the eighth item to wait for a free slot",
        on_fail=lambda: f"{pages.item('ok2')}\n{pages.agents()}\n{log()}",
    )
    assert pages.status("ok2") == "queued"
    agent = LaunchAgent.objects.get()
    assert agent.max_jobs == SLOTS
    assert f"{SLOTS} / {SLOTS} running, 0 free" in pages.agents()
    (out / "release").touch()
    released = time.monotonic()

    for mode in ("stop", "apistop", "sigkill", "lost"):
        started(mode)
        wait_status(mode, "running", 60)

    figures: dict[str, float] = {}

    # Stop from the item row (the browser's form), and through the API, as members would.
    stop_asked = time.monotonic()
    response = client.post(
        f"/launch/olivia/queues/local/items/{items['stop'].pk}/stop", {"next": "/launch/olivia/queues/local/"}
    )
    assert response.status_code == 302
    assert pages.status("stop") == "stopping"
    assert re.search(r"Stop requested by olivia at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d", pages.overview_row("stop"))
    _, api_run_id = started("apistop")
    stopped = run_python(f"import wandb; wandb.Api().run('olivia/proj/{api_run_id}').stop()", env)
    assert stopped.returncode == 0, stopped.stderr
    api_stop_asked = time.monotonic()
    assert pages.status("apistop") == "stopping"

    # SIGKILL of a run's process while its agent lives.
    sigkill_pid, _ = started("sigkill")
    os.kill(sigkill_pid, signal.SIGKILL)
    sigkilled = time.monotonic()

    # A non-zero exit after wandb.init(), without run.finish().
    fail_pid, _ = started("fail")
    wait_for(lambda: not Path(f"/proc/{fail_pid}").exists(), timeout=60, what="the failing job to exit", on_fail=log)
    failed = time.monotonic()

    wait_status("sigkill", "crashed", 40)
    figures["SIGKILL of the run -> Crashed"] = time.monotonic() - sigkilled
    wait_status("fail", "crashed", 40)
    figures["non-zero exit without finish() -> Crashed"] = time.monotonic() - failed
    wait_status("stop", "killed", STOP_BOUND)
    figures["Stop on the item row -> Killed"] = time.monotonic() - stop_asked
    wait_status("apistop", "killed", STOP_BOUND)
    figures["api run.stop() -> Killed"] = time.monotonic() - api_stop_asked
    wait_status("ok", "finished", 120)
    wait_status("ok2", "finished", 180)

    assert figures["SIGKILL of the run -> Crashed"] <= 30
    assert figures["non-zero exit without finish() -> Crashed"] <= 30
    for page in (pages.item("sigkill"), pages.overview_row("sigkill")):
        assert "Its process ended without finishing the run" in page
        assert re.search(r"End of the run's console output: .*step \d+ step \d+", page)  # its last lines, inline
    for page in (pages.item("fail"), pages.overview_row("fail")):
        assert "Its process ended without finishing the run" in page
        assert "about to fail at step 1" in page
    for mode in ("stop", "apistop"):
        assert re.search(r"Stopped by olivia at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d", pages.overview_row(mode))
        assert "Stop requested by olivia at" in pages.item(mode)  # who and when, on the item page
    assert "The run finished and exited with code 0." not in pages.overview_row("ok")  # no reason row when all is well

    # Failure before wandb.init(): the agent fails the item after its 60 s grace and attaches the output.
    wait_status("preinit", "failed", 150)
    figures["exception before wandb.init() -> Failed"] = time.monotonic() - released
    wait_for(
        lambda: "FileNotFoundError: no dataset at /data/missing.csv" in pages.overview_row("preinit"),
        timeout=30,
        what="the agent's error.log on the row",
        on_fail=lambda: pages.overview_row("preinit"),
    )
    preinit = pages.item("preinit")
    assert "Failed at the run stage: The submitted run was not successfully started" in preinit
    assert "FileNotFoundError: no dataset at /data/missing.csv (raised before wandb.init)" in preinit
    (path,) = RunQueueItem.objects.get(pk=items["preinit"].pk).error_file_paths
    download = client.get(f"/launch/olivia/queues/local/items/{items['preinit'].pk}/files/{path}")
    assert download.status_code == 200
    assert b"raised before wandb.init" in b"".join(download.streaming_content)

    # Slots: only the job still running holds one.
    assert f"1 / {SLOTS} running, {SLOTS - 1} free" in pages.agents()

    # SIGKILL of the agent while it runs a job: Offline after the threshold, its job Crashed, "agent lost".
    agent_proc.kill(signal.SIGKILL)
    killed = time.monotonic()
    # Its job's process died with it, so the job may read Crashed (process ended) a moment before the agent
    # reads Offline; then the reason names the lost agent.
    wait_for(
        lambda: f"Agent lost: {agent.name} has not been heard from since" in pages.overview_row("lost"),
        timeout=settings.LAUNCHUI_AGENT_OFFLINE_AFTER + 5,
        what="the item to say its agent was lost",
        on_fail=lambda: pages.overview_row("lost"),
    )
    figures["SIGKILL of the agent -> item Crashed, agent lost"] = time.monotonic() - killed
    assert pages.status("lost") == "crashed"
    assert "Offline" in pages.agents()
    print("\nMEASURED", {what: round(seconds, 1) for what, seconds in figures.items()})
