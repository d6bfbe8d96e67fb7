"""The agent page: the config it sent, host, version, times, its status timeline (reported changes and the
derived Offline) and the items it took with their outcomes; members only, in a fixed number of queries."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from launchui.launch.models import LaunchAgent
from launchui.launch.services import agent_register, agent_update_status
from tests.web.helpers import count_queries, text
from tests.web.test_launch_items import failed, start

pytestmark = pytest.mark.django_db

CONFIG = {
    "entity": "acme",
    "queues": ["gpu-queue"],
    "max_jobs": 4,
    "builder": {"type": "docker"},
    "registry": {"url": "registry.example.com/acme"},
    "project": "dropped-by-register",
}


@pytest.fixture
def big_agent(owner, queue):
    return agent_register(
        entity=queue.entity,
        queues=[queue],
        hostname="gpu-box-7",
        config=CONFIG,
        version="wandb@0.31.0",
        created_by=owner,
    )


def url(agent):
    return f"/launch/agents/{agent.pk}"


def test_members_see_it_outsiders_get_404(client, owner, member, outsider, big_agent):
    for user, status in [(owner, 200), (member, 200), (outsider, 404)]:
        client.force_login(user)
        assert client.get(url(big_agent)).status_code == status, user
    client.force_login(owner)
    assert client.get("/launch/agents/999999").status_code == 404


def test_shows_what_the_agent_sent_and_its_times(client, member, big_agent):
    client.force_login(member)
    body = text(client.get(url(big_agent)))
    assert f"{big_agent.name.replace('-', '-<wbr>')} " in body  # the heading
    assert '<span class="badge badge-ok">Polling</span>' in body
    assert '<dt>Host</dt><dd class="name-breaks">gpu-<wbr>box-<wbr>7</dd>' in body
    assert '<dt>Version</dt><dd class="mono">wandb@0.31.0</dd>' in body
    assert '<dt>Queues</dt><dd><a href="/launch/acme/queues/gpu-queue/agents">gpu-queue</a></dd>' in body
    assert "<dt>Max jobs</dt><dd>4</dd>" in body
    assert "&quot;type&quot;: &quot;docker&quot;" in body
    assert "&quot;url&quot;: &quot;registry.example.com/acme&quot;" in body
    assert "dropped-by-register" not in body
    assert re.search(
        r"<dt>Started</dt><dd><time datetime=\"[^\"]+\">\d{4}-\d\d-\d\d \d\d:\d\d</time> by olivia</dd>", body
    )
    assert re.search(r"<dt>Last seen</dt><dd><time [^>]+>\d+ s ago</time></dd>", body)
    # a member did not start it and is no admin: no Stop button
    assert "Stop agent" not in body


def test_timeline_lists_reported_changes_newest_first_then_derived_offline(client, owner, big_agent):
    for status in ["RUNNING", "RUNNING", "POLLING"]:
        agent_update_status(agent_id=big_agent.pk, status=status)
    client.force_login(owner)
    body = text(client.get(url(big_agent)))
    timeline = re.search(r'<ol class="timeline">(.*?)</ol>', body, re.S).group(1)
    assert re.findall(r'badge-\w+">(\w+)</span>', timeline) == ["Polling", "Running", "Polling"]
    assert "Stop agent" in body  # olivia started it

    LaunchAgent.objects.filter(pk=big_agent.pk).update(last_seen_at=timezone.now() - timedelta(minutes=10))
    body = text(client.get(url(big_agent)))
    timeline = re.search(r'<ol class="timeline">(.*?)</ol>', body, re.S).group(1)
    assert re.findall(r'badge-\w+">(\w+)</span>', timeline) == ["Offline", "Polling", "Running", "Polling"]
    assert "no contact for 60 s after it was last seen" in timeline
    assert "Delete agent" in body and "Stop agent" not in body


def test_items_it_took_with_their_outcomes(client, owner, member, queue, big_agent, make_agent):
    start(queue, big_agent, member, "run-done", complete=True, exit_code=0)
    start(queue, big_agent, member, "run-live")
    failed(queue, big_agent, owner, message="image not found", stage="build")
    other = make_agent(queue, "box-other")
    start(queue, other, owner, "run-elsewhere")  # another agent's item is not listed
    client.force_login(owner)
    body = text(client.get(url(big_agent)))
    items = re.search(r'<table class="table stack-on-phone agent-items".*?</table>', body, re.S).group(0)
    assert re.findall(r'item-status-\w+">(\w+)</span>', items) == ["Failed", "Running", "Finished"]
    assert ">run-done</a>" in items and ">run-live</a>" in items and "run-elsewhere" not in items
    assert "Failed at the build stage: image not found" in items
    assert "acme/<wbr>train/<wbr>job-<wbr>trainer:<wbr>latest" in items


def test_query_count_does_not_grow_with_items_or_changes(client, owner, member, queue, big_agent):
    start(queue, big_agent, member, "run-1", complete=True, exit_code=0)
    start(queue, big_agent, member, "run-live")
    # Running with several slots in both counts: such an agent's running jobs and their runs cost two queries (its free
    # slots), whatever their number.
    agent_update_status(agent_id=big_agent.pk, status="RUNNING")
    client.force_login(owner)
    few, _ = count_queries(client, url(big_agent))
    for n in range(8):
        start(queue, big_agent, member, f"run-more-{n}", complete=n % 2 == 0, exit_code=n % 3)
        failed(queue, big_agent, owner)
        agent_update_status(agent_id=big_agent.pk, status="RUNNING" if n % 2 else "POLLING")
    many, response = count_queries(client, url(big_agent))
    assert response.content.decode().count('class="badge badge-') > 20
    # session, user; agent, membership; queues, timeline, items, live agents, running jobs (2), runs; control
    assert few == many == 12


def test_agents_tables_link_to_the_page(client, owner, big_agent):
    client.force_login(owner)
    link = f'<a href="/launch/agents/{big_agent.pk}">{big_agent.name}</a>'
    assert link in text(client.get("/launch/agents"))
    assert link in text(client.get("/launch/acme/queues/gpu-queue/agents"))
