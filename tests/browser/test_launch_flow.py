"""The launch flow in headless Chromium, by role and label: the Launch drawer (as a page and as a dialog),
the Overview's live statuses and inline failures, the Launch page's expandable rows and the Monitor tab."""

import os
import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect

from launchui.launch.models import RunQueueItem
from launchui.launch.services import agent_register, item_fail, item_pop, item_push, queue_create
from tests.web.test_launch_drawer import VARIABLES, make_job

pytestmark = [pytest.mark.browser]

DRAWER = "/launch/acme/train/jobs/job-trainer/launch"


def screenshot(page, tmp_path, name):
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    if target := os.environ.get("LAUNCHUI_SCREENSHOT_DIR"):
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / name)
    return path


@pytest.fixture
def setup(transactional_db, owner, team):
    make_job(team, image="python:3.11", aliases=["stable"], user=owner)
    make_job(team, image="python:3.12", user=owner)
    cpu = queue_create(entity=team, name="cpu", resource="local-process", created_by=owner)
    gpu = queue_create(
        entity=team,
        name="gpu",
        resource="local-container",
        created_by=owner,
        config={"gpus": "{{gpus}}", "tier": "{{tier}}"},
        template_variables=VARIABLES,
        prioritization_mode="V0",
    )
    return cpu, gpu


def test_launch_from_the_drawer_then_see_it_idle_with_its_reason(page_as, owner, setup, tmp_path):
    cpu, gpu = setup
    page = page_as(owner)
    page.goto(DRAWER)
    expect(page.get_by_role("heading", name="Launch job-trainer")).to_be_visible()
    expect(page.get_by_label("Job version")).to_have_value("latest")
    expect(page.get_by_label("Queue", exact=True)).to_have_value("acme/cpu")
    expect(page.get_by_label("Priority")).to_be_disabled()
    expect(page.get_by_label("Priority")).to_have_value("2")
    expect(page.get_by_text("cpu has no template variables.")).to_be_visible()

    # choosing the prioritized queue with template variables re-renders its fields
    page.get_by_label("Queue", exact=True).select_option("acme/gpu")
    expect(page.get_by_label("Priority")).to_be_enabled()
    gpus = page.get_by_label("gpus")
    expect(gpus).to_have_attribute("type", "number")
    expect(gpus).to_have_attribute("max", "8")
    expect(page.get_by_label("tier")).to_have_value("small")

    page.get_by_label("Job version").select_option("stable")
    page.get_by_label("Arguments").fill("--epochs 3 --note 'two words'")
    page.get_by_label("Run config (JSON)").fill('{"lr": ')
    page.get_by_label("Priority").select_option(label="High")
    gpus.fill("99")
    page.get_by_label("tier").select_option("large")
    page.get_by_label("Destination project").select_option("train")
    page.get_by_role("button", name="Launch now").click()

    # Every error at once: the form's own (the JSON) and the launch rules' (the variable's bound).
    expect(page.locator("#id_run_config_error")).to_contain_text("Not valid JSON")
    expect(page.locator("#id_var_gpus_error")).to_contain_text("gpus: 99 is above the maximum 8.")
    expect(page.get_by_label("Arguments")).to_have_value("--epochs 3 --note 'two words'")
    page.get_by_label("Run config (JSON)").fill('{"lr": 0.1}')
    page.get_by_role("button", name="Launch now").click()
    expect(page.locator("#id_var_gpus_error")).to_contain_text("gpus: 99 is above the maximum 8.")
    assert not RunQueueItem.objects.exists()
    screenshot(page, tmp_path, "launch-drawer-errors.png")

    page.get_by_label("gpus").fill("4")
    page.get_by_role("button", name="Launch now").click()
    expect(page).to_have_url(re.compile(r"/launch/acme/queues/gpu/$"))
    item = RunQueueItem.objects.get()
    expect(page.get_by_text(f"as item #{item.pk}")).to_be_visible()
    row = page.get_by_role("row").filter(has_text=f"Item #{item.pk}")
    expect(row).to_contain_text("Idle")
    expect(row).to_contain_text("No live agent polls this queue")
    expect(row).to_contain_text("acme/train/job-trainer:stable")
    assert item.priority == 1 and item.template_variable_values == {"gpus": 4, "tier": "large"}
    assert item.run_spec["overrides"]["args"] == ["--epochs", "3", "--note", "two words"]
    page.evaluate("window.__marker = 1")

    # an agent starts polling: the row turns Queued without a reload
    agent_register(entity=gpu.entity, queues=[gpu], hostname="box", config={}, version="wandb@0.31.0", created_by=owner)
    expect(row).to_contain_text("Queued", timeout=8_000)
    expect(row).to_contain_text("Waiting for the next poll")
    assert page.evaluate("window.__marker") == 1
    screenshot(page, tmp_path, "queue-overview.png")


def test_launch_again_opens_the_drawer_dialog_with_pasted_overrides(page_as, member, owner, setup, tmp_path):
    cpu, _ = setup
    first = item_push(
        queue=cpu,
        run_spec={
            "job": "acme/train/job-trainer:v0",
            "project": "train",
            "overrides": {"args": ["--lr", "0.5"], "entry_point": [], "run_config": {"epochs": 7}},
        },
        created_by=owner,
    )
    page = page_as(member)
    page.goto(f"/launch/acme/queues/cpu/items/{first.pk}")
    page.get_by_role("link", name="Launch again").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("heading", name="Launch job-trainer")).to_be_visible()
    expect(dialog.get_by_label("Arguments")).to_have_value("--lr 0.5")
    expect(dialog.get_by_label("Run config (JSON)")).to_have_value(re.compile(r'"epochs": 7'))
    expect(dialog.get_by_label("Paste from")).to_have_value(str(first.pk))
    screenshot(page, tmp_path, "launch-drawer-dialog.png")

    dialog.get_by_label("Paste from").select_option("")  # start empty
    expect(dialog.get_by_label("Arguments")).to_have_value("")
    dialog.get_by_label("Destination project").select_option("")
    dialog.get_by_role("button", name="Launch now").click()
    expect(dialog.locator("#id_project_error")).to_contain_text("Choose the destination project.")
    dialog.get_by_label("New project").fill("fresh")
    dialog.get_by_role("button", name="Launch now").click()
    expect(page).to_have_url(re.compile(r"/launch/acme/queues/cpu/$"))
    assert RunQueueItem.objects.order_by("-pk").first().run_spec["project"] == "fresh"


def test_failed_item_says_why_inline_and_on_its_page(page_as, member, owner, setup):
    cpu, _ = setup
    agent = agent_register(
        entity=cpu.entity, queues=[cpu], hostname="box", config={}, version="wandb@0.31.0", created_by=owner
    )
    item = item_push(queue=cpu, run_spec={"job": "acme/train/job-trainer:latest", "project": "train"}, created_by=owner)
    item_fail(
        item=item_pop(queue=cpu, agent_id=agent.pk),
        message="pull access denied for trainer",
        stage="build",
        file_paths=["logs/build.log"],
    )
    page = page_as(member)
    page.goto("/launch/acme/queues/cpu/")
    row = page.get_by_role("row").filter(has_text=f"Item #{item.pk}")
    expect(row).to_contain_text("Failed")
    error = page.locator(f"#item-{item.pk}-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("Failed at the build stage: pull access denied for trainer")
    expect(error).to_contain_text("logs/build.log")
    page.get_by_role("link", name=f"Item #{item.pk}").click()
    expect(page.get_by_role("alert")).to_contain_text("pull access denied for trainer")


def test_launch_page_row_expands_to_recent_items(page_as, owner, setup):
    cpu, gpu = setup
    item = item_push(queue=gpu, run_spec={"job": "acme/train/job-trainer:latest", "project": "train"}, created_by=owner)
    page = page_as(owner)
    toggle = page.get_by_role("button", name="Recent items of acme/gpu")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    recent = page.get_by_role("table", name="Recent items of acme/gpu")
    expect(recent).to_contain_text(f"Item #{item.pk}")
    expect(recent).to_contain_text("Idle")
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(recent).to_be_hidden()


def test_monitor_tab_draws_charts(page_as, owner, setup, tmp_path):
    cpu, _ = setup
    agent = agent_register(
        entity=cpu.entity, queues=[cpu], hostname="box", config={}, version="wandb@0.31.0", created_by=owner
    )
    for _ in range(3):
        item_push(queue=cpu, run_spec={"job": "acme/train/job-trainer:latest", "project": "train"}, created_by=owner)
    item_fail(
        item=item_pop(queue=cpu, agent_id=agent.pk), message="no space left on device", stage="run", file_paths=[]
    )
    page = page_as(owner)
    page.goto("/launch/acme/queues/cpu/")
    page.get_by_role("link", name="Monitor").click()
    expect(page).to_have_url(re.compile(r"/monitor$"))
    status = page.get_by_role("img", name=re.compile(r"^Job status"))
    expect(status).to_be_visible()
    expect(status).to_have_attribute("aria-labelledby", "status-chart-title status-chart-desc")
    expect(page.get_by_role("img", name=re.compile(r"^Queued time"))).to_be_visible()
    expect(page.locator("#status-chart-desc")).to_contain_text("2 queued, 1 failed")
    page.get_by_text("Job status as a table").click()
    expect(page.get_by_role("table", name="Items launched per day by status")).to_be_visible()
    errors = page.get_by_role("table", name="Errors")
    expect(errors).to_contain_text("no space left on device")
    screenshot(page, tmp_path, "queue-monitor.png")


def test_launch_from_the_job_page_and_the_jobs_list(page_as, member, setup):
    page = page_as(member)
    page.goto("/launch/acme/train/jobs/job-trainer")
    page.get_by_role("link", name="Launch job-trainer").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name="Launch job-trainer")).to_be_visible()
    dialog.get_by_role("button", name="Launch now").click()
    page.wait_for_url(re.compile(r"/launch/acme/queues/cpu/$"))
    expect(page.get_by_role("row").filter(has_text="job-trainer")).to_contain_text("Idle")

    page.goto("/launch/jobs")
    page.get_by_role("row").filter(has_text="job-trainer").get_by_role("link", name="Launch job-trainer").click()
    expect(page.get_by_role("dialog").get_by_label("Queue", exact=True)).to_have_value("acme/cpu")
