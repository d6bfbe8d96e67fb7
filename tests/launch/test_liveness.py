"""The derived statuses: agents (Polling, Running, Killed, Offline), runs, and launched items."""

from datetime import timedelta

import pytest
from django.utils import timezone

from launchui.launch import liveness
from launchui.launch.models import LaunchAgent, RunQueueItem
from launchui.launch.services import agent_register
from launchui.projects.models import Project, Run


def agent_with(queue, owner, *, status, silent_for):
    agent = agent_register(entity=queue.entity, queues=[queue], hostname="h", config={}, version="", created_by=owner)
    LaunchAgent.objects.filter(pk=agent.pk).update(
        reported_status=status, last_seen_at=timezone.now() - timedelta(seconds=silent_for)
    )
    return LaunchAgent.objects.get(pk=agent.pk)


@pytest.mark.parametrize(
    "status, silent_for, shown",
    [
        ("POLLING", 5, "POLLING"),
        ("RUNNING", 59, "RUNNING"),
        ("POLLING", 61, "OFFLINE"),
        ("RUNNING", 3600, "OFFLINE"),
        ("KILLED", 5, "KILLED"),
        ("KILLED", 3600, "KILLED"),
    ],
)
def test_agent_status_and_the_sql_rule_agree(queue, owner, settings, status, silent_for, shown):
    settings.LAUNCHUI_AGENT_OFFLINE_AFTER = 60
    agent = agent_with(queue, owner, status=status, silent_for=silent_for)
    assert liveness.agent_status(agent) == shown
    live_in_sql = LaunchAgent.objects.filter(liveness.live_agent_q(), pk=agent.pk).exists()
    assert live_in_sql == liveness.is_live(agent) == (shown in ("POLLING", "RUNNING"))


def run_with(team, **facts) -> Run:
    project, _ = Project.objects.get_or_create(entity=team, name="p")
    run = Run.objects.create(project=project, name=f"r{Run.objects.count()}")
    Run.objects.filter(pk=run.pk).update(**facts)
    return Run.objects.get(pk=run.pk)


def test_run_state_from_stream_facts(team, settings):
    settings.LAUNCHUI_RUN_CRASHED_AFTER = 300
    now = timezone.now()
    assert liveness.run_state(run_with(team, heartbeat_at=now)) == "running"
    assert liveness.run_state(run_with(team, heartbeat_at=now - timedelta(seconds=301))) == "crashed"
    assert liveness.run_state(run_with(team, completed_at=now, exit_code=0)) == "finished"
    assert liveness.run_state(run_with(team, completed_at=now, exit_code=2)) == "failed"
    assert liveness.run_state(run_with(team, completed_at=now, exit_code=137, stop_requested=True)) == "killed"


def item(queue, **fields) -> RunQueueItem:
    return RunQueueItem(queue=queue, **fields)


def test_item_status_says_why_it_waits_and_why_it_failed(queue, team):
    now = timezone.now()
    pending = item(queue, state=RunQueueItem.PENDING)
    assert liveness.item_status(pending, live_agents=0, busy_agents=0) == (
        "idle",
        "No live agent polls this queue: start one with the command on the Agents tab.",
    )
    assert liveness.item_status(pending, live_agents=2, busy_agents=2)[1].startswith("Waiting: every live agent (2)")
    assert liveness.item_status(pending, live_agents=2, busy_agents=1) == (
        "queued",
        "Waiting for the next poll: agents poll every 10 seconds.",
    )
    expired = item(queue, state=RunQueueItem.LEASED, leased_at=now - timedelta(minutes=5))
    assert liveness.item_status(expired, live_agents=1, busy_agents=0)[0] == "queued"
    leased = item(queue, state=RunQueueItem.LEASED, leased_at=now)
    assert liveness.item_status(leased, live_agents=1, busy_agents=1)[0] == "pending"
    claimed = item(queue, state=RunQueueItem.CLAIMED, leased_at=now)
    assert liveness.item_status(claimed, live_agents=1, busy_agents=1)[0] == "pending"
    failed = item(queue, state=RunQueueItem.FAILED, error_stage="run", error_message="exit 1")
    assert liveness.item_status(failed, live_agents=1, busy_agents=0) == ("failed", "Failed at the run stage: exit 1")
    run = run_with(team, completed_at=now, exit_code=3)
    assert liveness.item_status(claimed, run=run, live_agents=0, busy_agents=0) == (
        "failed",
        "The run exited with code 3.",
    )
    assert liveness.item_status(claimed, run=run_with(team, heartbeat_at=now), live_agents=0, busy_agents=0) == (
        "running",
        "",
    )


@pytest.mark.parametrize(
    "status, config, full",
    [
        ("RUNNING", {}, True),
        ("RUNNING", {"max_jobs": 1}, True),
        ("RUNNING", {"max_jobs": 4}, False),
        ("RUNNING", {"max_jobs": -1}, False),
        ("POLLING", {"max_jobs": 1}, False),
        ("POLLING", None, False),
    ],
)
def test_an_agent_is_full_when_running_its_only_job_slot(status, config, full):
    assert liveness.agent_is_full(status, config) is full


def test_waiting_items_name_full_agents_from_their_reports(queue, owner):
    from launchui.launch.selectors import with_item_status
    from launchui.launch.services import item_push

    waiting = item_push(queue=queue, run_spec={"project": "p"}, created_by=owner)
    one_slot = agent_with(queue, owner, status="RUNNING", silent_for=1)
    (row,) = with_item_status([RunQueueItem.objects.select_related("queue").get(pk=waiting.pk)])
    assert row.status == "queued" and row.status_reason.startswith("Waiting: every live agent (1)")

    LaunchAgent.objects.filter(pk=one_slot.pk).update(config={"max_jobs": 3})
    (row,) = with_item_status([RunQueueItem.objects.select_related("queue").get(pk=waiting.pk)])
    assert row.status_reason == "Waiting for the next poll: agents poll every 10 seconds."
