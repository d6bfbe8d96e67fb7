"""The Agents tab in headless Chromium with a real `wandb launch-agent` polling the queue."""

import re

import pytest
from playwright.sync_api import expect

from launchui.launch.models import LaunchAgent
from launchui.launch.services import agent_register, queue_create
from tests.wire.conftest import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.wandb, pytest.mark.django_db(transaction=True)]


def test_real_agent_shows_polling_then_stop_in_the_browser_kills_it(
    page_as,
    start_agent,
    team,
    owner,
    member_key,
):
    queue_create(entity=team, name="gpu", resource="local-container", created_by=owner)
    page = page_as(owner)
    page.goto("/launch/acme/queues/gpu/agents")
    expect(page.get_by_text("wandb launch-agent -q gpu -e acme")).to_be_visible()  # the empty state's command

    agent_proc = start_agent(member_key, queue="gpu", entity="acme")
    agent = wait_for(
        lambda: LaunchAgent.objects.first(), timeout=60, what="the agent to register", on_fail=agent_proc.output
    )
    row = page.get_by_role("row").filter(has_text=agent.name)
    # The tab refreshes itself: no reload.
    expect(row).to_be_visible(timeout=15_000)
    expect(row.get_by_text("Polling")).to_be_visible()
    expect(row).to_contain_text(agent.hostname)
    expect(row).to_contain_text("wandb@0.31.0")

    page.on("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Stop").click()

    assert agent_proc.wait(timeout=60) == 0, agent_proc.output()
    expect(row.get_by_text("Killed")).to_be_visible(timeout=15_000)
    # A killed agent can be deleted.
    row.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("row").filter(has_text=agent.name)).to_have_count(0, timeout=15_000)
    assert not LaunchAgent.objects.exists()


def test_sigkilled_agent_turns_offline_and_the_red_banner_returns(
    page_as,
    start_agent,
    team,
    owner,
    owner_key,
    settings,
):
    settings.LAUNCHUI_AGENT_OFFLINE_AFTER = 5
    queue_create(entity=team, name="gpu", resource="local-container", created_by=owner)
    agent_proc = start_agent(owner_key, queue="gpu", entity="acme")
    agent = wait_for(
        lambda: LaunchAgent.objects.first(), timeout=60, what="the agent to register", on_fail=agent_proc.output
    )
    page = page_as(owner)
    page.goto("/launch")
    queue_row = page.get_by_role("row").filter(has_text="gpu")
    expect(queue_row).to_contain_text("Active")

    page.goto("/launch/acme/queues/gpu/agents")
    row = page.get_by_role("row").filter(has_text=agent.name)
    expect(row.get_by_text("Polling")).to_be_visible()
    agent_proc.kill(9)
    expect(row.get_by_text("Offline")).to_be_visible(timeout=20_000)
    expect(page.get_by_text(re.compile("no live agent", re.I)).first).to_be_visible()

    page.goto("/launch")
    expect(page.get_by_role("row").filter(has_text="gpu")).to_contain_text("Not running")


def test_finding10_a_member_stops_their_own_real_agent_in_the_browser_but_not_a_teammates(
    page_as, start_agent, team, owner, member, member_key
):
    queue = queue_create(entity=team, name="gpu", resource="local-container", created_by=owner)
    theirs = agent_register(
        entity=team, queues=[queue], hostname="olivias-box", config={}, version="", created_by=owner
    )
    agent_proc = start_agent(member_key, queue="gpu", entity="acme")
    mine = wait_for(
        lambda: LaunchAgent.objects.filter(created_by=member).first(),
        timeout=60,
        what="the agent to register",
        on_fail=agent_proc.output,
    )

    page = page_as(member)
    page.goto("/launch/acme/queues/gpu/agents")
    row = page.get_by_role("row").filter(has_text=mine.name)
    expect(row.get_by_text("Polling")).to_be_visible(timeout=15_000)
    expect(page.get_by_role("row").filter(has_text=theirs.name).get_by_role("button", name="Stop")).to_have_count(0)

    page.on("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Stop").click()

    assert agent_proc.wait(timeout=60) == 0, agent_proc.output()
    expect(row.get_by_text("Killed")).to_be_visible(timeout=15_000)
    assert LaunchAgent.objects.get(pk=mine.pk).reported_status == LaunchAgent.KILLED
    assert LaunchAgent.objects.get(pk=theirs.pk).reported_status == LaunchAgent.POLLING
