"""End to end in the browser: create a code job (zip upload, built by the live Celery worker), launch it into a
local-process queue from the Launch drawer, and watch the real `wandb launch-agent` (0.31.0) run it: Idle
while no agent polls, Finished with its file written, and Failed with its reason when the script exits 3."""

import io
import os
import re
import sys
import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import expect

from launchui.launch.models import RunQueueItem
from launchui.launch.services import queue_create
from tests.wire.conftest import require_wandb, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.wandb]

# Finishes its run with the exit code LAUNCHUI_TEST_EXIT, then exits with it. Observed with 0.31.0: a bare
# sys.exit(3) without run.finish() never completes the run (the launched process uses the agent's wandb-core
# service, "Using an existing wandb-core service via WANDB_SERVICE"), so launchui shows it Running until the
# silence rule (settings.LAUNCHUI_RUN_CRASHED_AFTER, 5 minutes) makes it Crashed.
TRAIN = b"""import os, sys
import wandb
run = wandb.init()
run.log({"loss": 0.5})
with open(os.environ["LAUNCHUI_TEST_OUT"], "a") as out:
    out.write("ran " + run.id + "\\n")
code = int(os.environ.get("LAUNCHUI_TEST_EXIT", "0"))
run.finish(exit_code=code)
sys.exit(code)
"""
JOB = "job-code-trainer_train.py"
RUN_TIMEOUT = 180_000  # ms: the agent polls, downloads the code, starts python with wandb and reports


@pytest.fixture
def worker(celery_worker, transactional_db):
    return celery_worker


def zip_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def launch_from_drawer(page) -> RunQueueItem:
    before = set(RunQueueItem.objects.values_list("pk", flat=True))
    page.goto(f"/launch/olivia/proj/jobs/{JOB}/launch")
    page.get_by_label("Queue", exact=True).select_option("olivia/local")
    page.get_by_label("Destination project").select_option("proj")
    page.get_by_label("Arguments").fill("--epochs 1")
    page.get_by_role("button", name="Launch now").click()
    expect(page).to_have_url(re.compile(r"/launch/olivia/queues/local/$"))
    (item,) = RunQueueItem.objects.exclude(pk__in=before)
    return item


def test_code_job_from_upload_to_finished_and_failed(page_as, owner, owner_key, worker, start_agent, tmp_path):
    require_wandb()
    queue_create(entity=owner.personal_entity, name="local", resource="local-process", created_by=owner)
    archive = tmp_path / "trainer.zip"
    archive.write_bytes(zip_of({"train.py": TRAIN, "requirements.txt": b"wandb\n"}))
    page = page_as(owner)

    # 1. the job, built by the worker
    page.goto("/launch/jobs/new")
    page.get_by_label("Entity").select_option("olivia")
    page.get_by_label("Project").fill("proj")
    page.get_by_label("Or one archive").set_input_files(str(archive))
    page.get_by_label("Entry point").fill("python train.py")
    page.get_by_role("button", name="Create job").click()
    expect(page.locator("#build-status")).to_have_text("Succeeded", timeout=90_000)

    # 2. launched with no agent: Idle, and why
    first = launch_from_drawer(page)
    row = page.get_by_role("row").filter(has_text=f"Item #{first.pk}")
    expect(row).to_contain_text("Idle")
    expect(row).to_contain_text("No live agent polls this queue")

    # 3. an agent runs it to Finished, and the script wrote its file
    out = tmp_path / "job-output.txt"
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    agent = start_agent(owner_key, queue="local", entity="olivia", LAUNCHUI_TEST_OUT=str(out), PATH=path)
    # the header and the banner follow the live refresh (out of band): no reload needed
    expect(page.locator("#queue-state")).to_have_text("Active", timeout=30_000)
    expect(page.get_by_text("No agent is polling this queue.")).to_be_hidden()
    finished = page.locator(f"#item-{first.pk}")
    try:
        expect(finished).to_contain_text("Finished", timeout=RUN_TIMEOUT)
    except AssertionError:
        pytest.fail(f"The item did not finish:\n{agent.output()[-6000:]}")
    run_id = RunQueueItem.objects.get(pk=first.pk).associated_run_id
    assert out.read_text().split() == ["ran", run_id]
    expect(finished.get_by_role("link", name=run_id)).to_be_visible()
    agent.kill()

    # 4. the same job with an agent whose environment makes the script exit 3: Failed, with the reason inline
    failing = start_agent(
        owner_key, queue="local", entity="olivia", LAUNCHUI_TEST_OUT=str(out), PATH=path, LAUNCHUI_TEST_EXIT="3"
    )
    second = launch_from_drawer(page)
    try:
        expect(page.locator(f"#item-{second.pk}")).to_contain_text("Failed", timeout=RUN_TIMEOUT)
    except AssertionError:
        from launchui.projects.models import Run

        item = RunQueueItem.objects.get(pk=second.pk)
        runs = list(Run.objects.filter(name=item.associated_run_id).values("exit_code", "completed_at"))
        pytest.fail(
            f"The item did not fail: {item.state} {runs} row: {page.locator(f'#item-{second.pk}').inner_text()}"
            f"\n{failing.output()[-3000:]}"
        )
    expect(page.locator(f"#item-{second.pk}-error")).to_contain_text("exited with code 3")
    wait_for(lambda: len(out.read_text().splitlines()) == 2, timeout=10, what="the second run's file line")
