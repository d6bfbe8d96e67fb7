"""The pages in headless Chromium: the flows a person clicks through, found by role and label."""

import os
import re
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from launchui.launch.models import LaunchAgent
from launchui.launch.services import agent_register, item_push, queue_create

pytestmark = [pytest.mark.browser]


@pytest.fixture
def queues(transactional_db, owner, team):
    acme = queue_create(
        entity=team,
        name="gpu-queue",
        resource="kubernetes",
        created_by=owner,
        config='{"metadata": {"namespace": "ml"}, "spec": {}}',
    )
    personal = queue_create(entity=owner.personal_entity, name="laptop", resource="local-process", created_by=owner)
    return acme, personal


def test_sign_in_lands_on_launch(page_as, owner):
    page = page_as(owner)
    expect(page).to_have_url(re.compile(r"/launch$"))
    expect(page.get_by_role("heading", name="Launch queues")).to_be_visible()
    expect(page.get_by_role("link", name="API keys")).to_be_visible()


def test_filter_launch_page_by_entity(page_as, owner, queues):
    page = page_as(owner)
    table = page.locator("#queue-table")
    expect(table.get_by_role("link", name="gpu-queue")).to_be_visible()
    expect(table.get_by_role("link", name="laptop")).to_be_visible()

    page.get_by_label("Entity").select_option("acme")

    expect(page).to_have_url(re.compile(r"/launch\?entity=acme$"))
    expect(table.get_by_role("link", name="laptop")).to_have_count(0)
    expect(table.get_by_role("link", name="gpu-queue")).to_be_visible()
    page.reload()  # the pushed URL is bookmarkable
    expect(page.get_by_label("Entity")).to_have_value("acme")
    expect(page.locator("#queue-table").get_by_role("link", name="laptop")).to_have_count(0)


def test_create_queue_then_edit_its_config(page_as, owner, team):
    page = page_as(owner)
    page.get_by_role("link", name="Create queue").first.click()
    page.get_by_label("Entity").select_option("acme")
    page.get_by_label("Resource").select_option("kubernetes")
    expect(page.get_by_label("Configuration")).to_have_value(re.compile(r'"namespace": "default"'))
    page.get_by_label("Name", exact=True).fill("bad/name")
    page.get_by_role("button", name="Create queue").click()

    expect(page.locator("#id_name_error")).to_contain_text("letters, digits, dots, dashes and underscores")
    expect(page.get_by_label("Name", exact=True)).to_have_value("bad/name")

    page.get_by_label("Name", exact=True).fill("k8s-queue")
    page.get_by_role("button", name="Create queue").click()
    expect(page).to_have_url(re.compile(r"/launch/acme/queues/k8s-queue/agents$"))
    expect(page.get_by_text("No agent has polled this queue yet.")).to_be_visible()
    expect(page.locator("#agent-command-empty")).to_contain_text("wandb launch-agent -q k8s-queue -e acme")

    page.get_by_role("link", name="Config").click()
    page.get_by_label("Configuration").fill("metadata:\n  namespace: '{{ns}}'\nspec: {}\n")
    page.get_by_role("button", name="Save config").click()
    expect(page.locator("#id_template_variables_error")).to_contain_text("{{ns}}")

    page.get_by_label("Template variables").fill(
        '[{"name": "ns", "schema": {"type": "string", "enum": ["ml", "research"], "default": "ml"}}]'
    )
    page.get_by_role("button", name="Save config").click()
    expect(page.get_by_text("Configuration saved.")).to_be_visible()
    tile = page.locator(".tiles:not(.tiles-edit) .tile")  # the saved variable, as the Config tab shows it
    expect(tile).to_contain_text("ns")
    expect(tile).to_contain_text("ml, research")
    expect(page.get_by_label("Configuration")).to_have_value(re.compile(r"namespace: '\{\{ns\}\}'"))


def test_create_and_revoke_api_key(page_as, owner):
    page = page_as(owner)
    page.get_by_role("link", name="API keys").click()
    page.get_by_label("Key name").fill("gpu-box agent")
    page.get_by_role("button", name="Create key").click()
    raw = page.locator("#new-key")
    expect(raw).to_have_text(re.compile(r"^local-[A-Za-z0-9]{40}$"))
    expect(page.get_by_text("it won't be shown again")).to_be_visible()
    expect(page.get_by_role("button", name="Copy")).to_be_visible()
    row = page.get_by_role("row").filter(has_text="gpu-box agent")
    expect(row).to_contain_text("Active")

    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Revoke gpu-box agent").click()
    expect(page.get_by_text("Key gpu-box agent revoked")).to_be_visible()
    expect(page.get_by_role("row").filter(has_text="gpu-box agent")).to_contain_text("Revoked")
    expect(page.locator("#new-key")).to_have_count(0)  # shown once only


def test_agents_tab_turns_offline_without_reload(page_as, owner, queues):
    queue = queues[0]
    agent = agent_register(
        entity=queue.entity,
        queues=[queue],
        hostname="gpu-box-7",
        config={"max_jobs": 1},
        version="wandb@0.31.0",
        created_by=owner,
    )
    page = page_as(owner)
    page.goto(f"/launch/acme/queues/{queue.name}/agents")
    row = page.get_by_role("row").filter(has_text="gpu-box-7")
    expect(row).to_contain_text("Polling")
    expect(row.get_by_role("button", name="Stop")).to_be_visible()
    page.evaluate("window.__marker = 1")  # gone if the page reloads

    LaunchAgent.objects.filter(pk=agent.pk).update(last_seen_at=timezone.now() - timedelta(minutes=10))

    expect(row).to_contain_text("Offline", timeout=8_000)
    expect(row.get_by_role("button", name="Delete")).to_be_visible()
    expect(page.get_by_text("No live agent is polling this queue.")).to_be_visible()
    assert page.evaluate("window.__marker") == 1


def test_launch_page_screenshot(page_as, owner, member, queues, tmp_path):
    """A picture of the Launch page with a few queues; copied to LAUNCHUI_SCREENSHOT_DIR when set."""
    acme, personal = queues
    more = [
        queue_create(entity=acme.entity, name=name, resource=resource, created_by=owner)
        for name, resource in [
            ("cpu-batch", "local-container"),
            ("sagemaker-train", "sagemaker"),
            ("vertex-eval", "gcp-vertex"),
        ]
    ]
    agent_register(
        entity=acme.entity,
        queues=[acme, more[0]],
        hostname="gpu-box-1",
        config={"max_jobs": 2},
        version="wandb@0.31.0",
        created_by=owner,
    )
    for _ in range(3):
        item_push(queue=more[1], run_spec={"job": "acme/train/job-train:v3"}, created_by=member)
    item_push(queue=acme, run_spec={"job": "acme/train/job-train:v3"}, created_by=member)
    page = page_as(owner)
    expect(page.locator("#queue-table").get_by_role("row")).to_have_count(6)
    path = tmp_path / "launch-page.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    if target := os.environ.get("LAUNCHUI_SCREENSHOT_DIR"):
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / "launch-page.png")
