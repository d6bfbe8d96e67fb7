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
        ("RUNNING", {"max_jobs": "1"}, True),
        ("POLLING", {"max_jobs": 1}, False),
        ("POLLING", None, False),
    ],
)
def test_an_agent_is_full_when_running_its_only_job_slot(status, config, full):
    assert liveness.agent_is_full(status, config) is full


@pytest.mark.parametrize("compiled_ids", [50, 0], ids=["compiled", "more queues than a compiled statement takes"])
def test_waiting_items_name_full_agents_from_their_reports(queue, owner, monkeypatch, compiled_ids):
    from launchui.launch.selectors import with_item_status

    monkeypatch.setattr("launchui.core.compiled.IdsStatement.COMPILE_UP_TO", compiled_ids)
    from launchui.launch.services import item_push

    waiting = item_push(queue=queue, run_spec={"project": "p"}, created_by=owner)
    one_slot = agent_with(queue, owner, status="RUNNING", silent_for=1)
    (row,) = with_item_status([RunQueueItem.objects.select_related("queue").get(pk=waiting.pk)])
    assert row.status == "queued" and row.status_reason.startswith("Waiting: every live agent (1)")

    LaunchAgent.objects.filter(pk=one_slot.pk).update(config={"max_jobs": 3})
    (row,) = with_item_status([RunQueueItem.objects.select_related("queue").get(pk=waiting.pk)])
    assert row.status_reason == "Waiting for the next poll: agents poll every 10 seconds."


def test_run_status_from_who_watches_the_process(team, owner, settings):
    """Issue 12: the agent's RunStoppedStatus questions are the sign of a launched run's process; a stop request
    makes it Stopping, then Killed; the completion the shared service sends after the process was gone is not
    the run's (it said exit code 0 when the agent exited)."""
    from launchui.projects.states import run_status

    settings.LAUNCHUI_RUN_UNWATCHED_AFTER = 25
    settings.LAUNCHUI_RUN_CRASHED_AFTER = 300
    now = timezone.now()
    watched = run_with(team, heartbeat_at=now, stop_checked_at=now - timedelta(seconds=10))
    assert run_status(watched, now) == ("running", "")
    unwatched = run_with(team, heartbeat_at=now, stop_checked_at=now - timedelta(seconds=26))
    state, reason = run_status(unwatched, now)
    assert state == "crashed" and reason.startswith("Its process ended without finishing the run")
    asked = now - timedelta(seconds=5)
    stopping = run_with(team, heartbeat_at=now, stop_checked_at=now, stop_requested=True, stop_requested_at=asked)
    Run.objects.filter(pk=stopping.pk).update(stopped_by=owner)
    stopping = Run.objects.select_related("stopped_by").get(pk=stopping.pk)
    state, reason = run_status(stopping, now)
    assert state == "stopping" and reason.startswith("Stop requested by olivia at ")
    state, reason = run_status(stopping, now + timedelta(seconds=30))
    assert state == "killed" and reason.startswith("Stopped by olivia at ") and reason.endswith("its process ended.")
    late = run_with(
        team, stop_checked_at=now - timedelta(seconds=100), completed_at=now - timedelta(seconds=10), exit_code=0
    )
    assert run_status(late, now)[0] == "crashed"
    in_time = run_with(
        team, stop_checked_at=now - timedelta(seconds=100), completed_at=now - timedelta(seconds=95), exit_code=0
    )
    assert run_status(in_time, now)[0] == "finished"
    assert run_status(watched, now, lost="Agent lost: a-1 has not been heard from since 10:00:00.") == (
        "crashed",
        "Agent lost: a-1 has not been heard from since 10:00:00.",
    )
    # Nobody watches: the heartbeat silence rule is the last resort.
    silent = run_with(team, heartbeat_at=now - timedelta(seconds=301))
    assert run_status(silent, now)[0] == "crashed"


def test_a_claimed_items_run_is_crashed_agent_lost_when_its_agent_goes_offline(queue, team, owner, settings):
    settings.LAUNCHUI_AGENT_OFFLINE_AFTER = 60
    now = timezone.now()
    gone = agent_with(queue, owner, status="RUNNING", silent_for=61)
    claimed = item(queue, state=RunQueueItem.CLAIMED, leased_at=now, agent=gone)
    run = run_with(team, heartbeat_at=now, stop_checked_at=now)
    status, reason = liveness.item_status(claimed, run=run, live_agents=0, busy_agents=0)
    assert status == "crashed" and reason.startswith(f"Agent lost: {gone.name} has not been heard from since")
    assert liveness.item_status(claimed, run=None, live_agents=0, busy_agents=0)[0] == "crashed"
    live = agent_with(queue, owner, status="RUNNING", silent_for=1)
    claimed.agent = live
    assert liveness.item_status(claimed, run=run, live_agents=1, busy_agents=1) == ("running", "")


@pytest.mark.parametrize(
    "config, running, full",
    [({"max_jobs": 3}, 2, False), ({"max_jobs": 3}, 3, True), ({"max_jobs": -1}, 50, False), ({}, 0, False)],
)
def test_a_multi_slot_agent_is_full_when_its_running_jobs_fill_its_slots(config, running, full):
    assert liveness.agent_is_full("RUNNING", config, running) is full


def test_slots_count_only_jobs_still_running(queue, team, owner, django_assert_num_queries):
    """The Agents tab's "2 / 1": finished items counted as claimed. Only items whose run still runs hold a slot,
    and a waiting item says every agent is busy only when each one's slots are full."""
    from launchui.launch.selectors import agents_for_queue, with_item_status
    from launchui.launch.services import item_push

    two_slots = agent_with(queue, owner, status="RUNNING", silent_for=1)
    LaunchAgent.objects.filter(pk=two_slots.pk).update(config={"max_jobs": 2})
    now = timezone.now()
    for name, facts in [
        ("done", {"completed_at": now, "exit_code": 0}),
        ("busy", {"heartbeat_at": now, "stop_checked_at": now}),
        ("gone", {"heartbeat_at": now, "stop_checked_at": now - timedelta(seconds=60)}),
    ]:
        project, _ = Project.objects.get_or_create(entity=team, name="p")
        Run.objects.create(project=project, name=name, **facts)
        RunQueueItem.objects.create(
            queue=queue, state=RunQueueItem.CLAIMED, agent=two_slots, associated_run_id=name, run_spec={"project": "p"}
        )
    with django_assert_num_queries(4):
        (row,) = agents_for_queue(queue, user=owner)
    assert (row.used_slots, row.slots, row.free_slots) == (1, 2, 1)
    assert [i.associated_run_id for i in row.running_items] == ["busy"]

    waiting = item_push(queue=queue, run_spec={"project": "p"}, created_by=owner)
    (waiting_row,) = with_item_status([RunQueueItem.objects.select_related("queue", "agent").get(pk=waiting.pk)])
    assert waiting_row.status_reason == "Waiting for the next poll: agents poll every 10 seconds."
    RunQueueItem.objects.create(
        queue=queue, state=RunQueueItem.LEASED, leased_at=now, agent=two_slots, run_spec={"project": "p"}
    )
    (waiting_row,) = with_item_status([RunQueueItem.objects.select_related("queue", "agent").get(pk=waiting.pk)])
    assert waiting_row.status_reason.startswith("Waiting: every live agent (1) is running as many jobs as it may")


def test_a_launched_run_that_dies_before_its_agent_first_asks_is_crashed(queue, team, owner, settings):
    """The agent asks about its job every 10 s from before the run exists; a run that exits within seconds
    of wandb.init() may never be asked about, and is measured from its creation."""
    settings.LAUNCHUI_RUN_UNWATCHED_AFTER = 25
    now = timezone.now()
    live = agent_with(queue, owner, status="RUNNING", silent_for=1)
    claimed = item(queue, state=RunQueueItem.CLAIMED, leased_at=now, agent=live)
    run = run_with(team, heartbeat_at=now)
    Run.objects.filter(pk=run.pk).update(created_at=now - timedelta(seconds=30))
    run = Run.objects.get(pk=run.pk)
    assert liveness.item_status(claimed, run=run, live_agents=1, busy_agents=1)[0] == "crashed"
    assert liveness.run_state(run) == "running"  # not launched: nobody is expected to ask


def test_run_status_for_a_run_page_reads_its_agent(queue, team, owner, settings, django_assert_num_queries):
    from launchui.launch.selectors import run_status_for

    settings.LAUNCHUI_AGENT_OFFLINE_AFTER = 60
    now = timezone.now()
    gone = agent_with(queue, owner, status="RUNNING", silent_for=61)
    run = run_with(team, heartbeat_at=now, stop_checked_at=now)
    RunQueueItem.objects.create(
        queue=queue, state=RunQueueItem.CLAIMED, agent=gone, associated_run_id=run.name, run_spec={"project": "p"}
    )
    run = Run.objects.select_related("project").get(pk=run.pk)
    with django_assert_num_queries(1):
        state, reason = run_status_for(run)
    assert state == "crashed" and reason.startswith(f"Agent lost: {gone.name}")
    other = Run.objects.select_related("project").get(pk=run_with(team, heartbeat_at=now).pk)
    assert run_status_for(other) == ("running", "")
