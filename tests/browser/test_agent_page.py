"""The agent page in headless Chromium with a real `wandb launch-agent`: reached from the queue's Agents tab,
it shows the config the client sent, and its timeline records the Killed that Stop on this page causes."""

import re

import pytest
from playwright.sync_api import expect

from launchui.launch.models import LaunchAgent
from launchui.launch.services import queue_create
from tests.wire.conftest import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.wandb, pytest.mark.django_db(transaction=True)]


def test_real_agents_page_shows_what_it_sent_and_its_stop(page_as, start_agent, team, owner, owner_key):
    queue_create(entity=team, name="gpu", resource="local-container", created_by=owner)
    agent_proc = start_agent(owner_key, queue="gpu", entity="acme", extra_args=["-j", "3"])
    agent = wait_for(
        lambda: LaunchAgent.objects.first(), timeout=60, what="the agent to register", on_fail=agent_proc.output
    )
    page = page_as(owner)
    page.goto("/launch/acme/queues/gpu/agents")
    page.get_by_role("link", name=agent.name).click()

    expect(page).to_have_url(re.compile(rf"/launch/agents/{agent.pk}$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(agent.name)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Polling")
    config = page.get_by_role("region", name="Configuration the agent sent")
    expect(config.get_by_role("link", name="gpu")).to_be_visible()
    expect(config.locator("dd").nth(1)).to_have_text("3")  # max_jobs, as the client sent it (-j 3)
    expect(page.locator(".facts")).to_contain_text(agent.hostname)
    expect(page.locator(".facts")).to_contain_text("wandb@0.31.0")
    timeline = page.get_by_role("region", name="Status timeline")
    expect(timeline.get_by_role("listitem")).to_have_count(1)
    expect(timeline.get_by_role("listitem").first).to_contain_text("Polling")

    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Stop agent").click()
    expect(page).to_have_url(re.compile(rf"/launch/agents/{agent.pk}$"))
    assert agent_proc.wait(timeout=60) == 0, agent_proc.output()
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Killed")
    items = timeline.get_by_role("listitem")
    expect(items).to_have_count(2)
    expect(items.first).to_contain_text("Killed")  # newest first
    expect(items.nth(1)).to_contain_text("Polling")
    expect(page.get_by_role("button", name="Delete agent")).to_be_visible()
    expect(page.get_by_role("region", name="Items it took")).to_contain_text("None yet")
