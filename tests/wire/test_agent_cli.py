"""The real `wandb launch-agent` (0.31.0) against launchui: register, poll, pop, ack, fail, stop, go silent."""

import pytest
from django.utils import timezone

from launchui.launch import liveness
from launchui.launch.models import LaunchAgent, RunQueueItem
from launchui.launch.services import agent_request_stop, item_push, queue_create
from launchui.projects.models import Run
from tests.wire.conftest import wait_for

pytestmark = [pytest.mark.wandb, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def docker_queue(team, owner):
    return queue_create(entity=team, name="gpu", resource="local-container", created_by=owner)


def test_agent_registers_polls_and_pops_an_item(start_agent, docker_queue, member, member_key):
    # A member (not only an admin) may serve the team's queue.
    agent_proc = start_agent(member_key, queue="gpu", entity="acme")

    agent = wait_for(
        lambda: LaunchAgent.objects.filter(entity=docker_queue.entity).first(),
        timeout=60,
        what="the agent to register",
        on_fail=agent_proc.output,
    )
    assert agent.hostname
    assert agent.version == "wandb@0.31.0"
    assert agent.config["queues"] == ["gpu"]
    assert "project" not in agent.config
    assert list(agent.queues.all()) == [docker_queue]
    assert liveness.agent_status(agent) == LaunchAgent.POLLING
    # The agent opened its hidden run through UpsertBucket.
    wait_for(
        lambda: Run.objects.filter(name=agent.name, project__name="model-registry").exists(),
        timeout=30,
        what="the agent's hidden run",
        on_fail=agent_proc.output,
    )

    item = item_push(
        queue=docker_queue,
        run_spec={"entity": "acme", "project": "demo", "docker": {"docker_image": "python:3.12-slim"}},
        created_by=member,
    )
    # No Docker engine here: the agent pops, acks with its run id, then fails the item at the agent stage.
    item = wait_for(
        lambda: RunQueueItem.objects.filter(pk=item.pk, state=RunQueueItem.FAILED).first(),
        timeout=60,
        what="the item to be popped, acked and failed",
        on_fail=agent_proc.output,
    )
    assert item.agent_id == agent.pk
    assert item.associated_run_id, "the agent acked the item with its run id"
    assert item.claimed_at is not None
    assert item.error_stage == "agent"
    assert "docker" in item.error_message.lower()
    assert agent_proc.proc.poll() is None, "the agent keeps polling after a failed item"


def test_stop_makes_the_agent_report_killed_and_exit(start_agent, docker_queue, owner_key):
    agent_proc = start_agent(owner_key, queue="gpu", entity="acme")
    agent = wait_for(
        lambda: LaunchAgent.objects.first(), timeout=60, what="the agent to register", on_fail=agent_proc.output
    )

    agent_request_stop(agent=agent)

    assert agent_proc.wait(timeout=60) == 0, agent_proc.output()
    agent.refresh_from_db()
    assert agent.reported_status == LaunchAgent.KILLED
    assert liveness.agent_status(agent) == LaunchAgent.KILLED


def test_finding10_a_members_own_agent_still_reports_killed_when_it_stops(
    start_agent, docker_queue, member, member_key
):
    # updateLaunchAgent is refused for a teammate's agent: the agent a member runs reports for itself.
    agent_proc = start_agent(member_key, queue="gpu", entity="acme")
    agent = wait_for(
        lambda: LaunchAgent.objects.first(), timeout=60, what="the agent to register", on_fail=agent_proc.output
    )
    assert agent.created_by == member

    agent_request_stop(agent=agent)  # an admin's Stop; the agent reads stopPolling, reports KILLED, exits

    assert agent_proc.wait(timeout=60) == 0, agent_proc.output()
    agent.refresh_from_db()
    assert agent.reported_status == LaunchAgent.KILLED, agent_proc.output()
    assert "Failed to update agent status" not in agent_proc.output()


def test_an_agent_killed_by_sigkill_shows_offline(start_agent, docker_queue, owner_key, settings):
    settings.LAUNCHUI_AGENT_OFFLINE_AFTER = 4
    agent_proc = start_agent(owner_key, queue="gpu", entity="acme")
    agent = wait_for(
        lambda: LaunchAgent.objects.first(), timeout=60, what="the agent to register", on_fail=agent_proc.output
    )
    assert liveness.agent_status(agent) == LaunchAgent.POLLING

    agent_proc.kill(9)  # no KILLED report: it just goes silent

    agent.refresh_from_db()
    assert agent.reported_status == LaunchAgent.POLLING
    wait_for(
        lambda: liveness.agent_status(LaunchAgent.objects.get(pk=agent.pk)) == liveness.OFFLINE,
        timeout=15,
        what="the agent to be shown Offline",
    )
    assert (timezone.now() - LaunchAgent.objects.get(pk=agent.pk).last_seen_at).total_seconds() >= 4


def test_agent_creates_a_default_queue_for_an_entity_with_none(start_agent, owner, owner_key):
    agent_proc = start_agent(owner_key, queue="default", entity="olivia")
    agent = wait_for(
        lambda: LaunchAgent.objects.first(), timeout=60, what="the agent to register", on_fail=agent_proc.output
    )
    assert [q.name for q in agent.queues.all()] == ["default"]
    assert agent.entity.name == "olivia"


def test_agent_for_a_missing_queue_exits_with_the_clients_message(start_agent, docker_queue, owner_key):
    agent_proc = start_agent(owner_key, queue="nope", entity="acme")
    assert agent_proc.wait(timeout=60) != 0
    assert "Not all of requested queues" in agent_proc.output()
    assert not LaunchAgent.objects.exists()


def test_outsider_key_cannot_serve_the_teams_queue(start_agent, docker_queue, outsider_key):
    agent_proc = start_agent(outsider_key, queue="gpu", entity="acme")
    assert agent_proc.wait(timeout=60) != 0
    assert not LaunchAgent.objects.exists()
    assert "acme" in agent_proc.output()
