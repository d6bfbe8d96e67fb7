"""Derived statuses are vocabularies (TextChoices), not bare strings: each value has one label, and the
values stay the strings W&B and the templates use."""

from django.utils import timezone

from launchui.launch import liveness
from launchui.launch.models import RunQueueItem
from launchui.projects.models import Run
from launchui.projects.services import project_get_or_create
from launchui.projects.states import RunState, run_state


def test_run_state_is_a_run_state_with_wandbs_value(team):
    run = Run.objects.create(
        project=project_get_or_create(entity=team, name="p"), name="r", heartbeat_at=timezone.now()
    )
    state = run_state(run)
    assert state is RunState.RUNNING and state == "running" and state.label == "Running"
    Run.objects.filter(pk=run.pk).update(completed_at=timezone.now(), exit_code=0)
    assert run_state(Run.objects.get(pk=run.pk)) is RunState.FINISHED


def test_item_status_comes_from_its_vocabulary_with_one_label_each():
    status, _ = liveness.item_status(RunQueueItem(state=RunQueueItem.PENDING), live_agents=0, busy_agents=0)
    assert status is liveness.ItemStatus.IDLE and status.label == "Idle"
    assert list(liveness.ITEM_STATUS_LABELS) == [
        "queued",
        "idle",
        "pending",
        "running",
        "stopping",
        "finished",
        "failed",
        "crashed",
        "killed",
    ]


def test_the_sql_state_filter_and_run_state_agree(team, settings):
    """api.runs(filters={"state": ...}) reads the same rule as the pages (run_filters.state_q)."""
    from datetime import timedelta

    from launchui.projects.run_filters import state_q
    from launchui.projects.states import wire_state

    settings.LAUNCHUI_RUN_UNWATCHED_AFTER = 25
    settings.LAUNCHUI_RUN_CRASHED_AFTER = 300
    now = timezone.now()
    ago = lambda seconds: now - timedelta(seconds=seconds)  # noqa: E731
    project = project_get_or_create(entity=team, name="p")
    facts = [
        {"heartbeat_at": now},
        {"heartbeat_at": now, "stop_checked_at": ago(5)},
        {"heartbeat_at": now, "stop_checked_at": ago(30)},
        {"heartbeat_at": now, "stop_checked_at": ago(5), "stop_requested": True},
        {"heartbeat_at": now, "stop_checked_at": ago(30), "stop_requested": True},
        {"heartbeat_at": ago(400)},
        {"heartbeat_at": ago(400), "stop_requested": True},
        {"completed_at": now, "exit_code": 0},
        {"completed_at": now, "exit_code": 1},
        {"completed_at": now, "exit_code": 255, "stop_requested": True},
        {"completed_at": ago(1), "exit_code": 0, "stop_checked_at": ago(100)},
        {"completed_at": ago(99), "exit_code": 0, "stop_checked_at": ago(100)},
    ]
    runs = [Run.objects.create(project=project, name=f"r{i}", **fact) for i, fact in enumerate(facts)]
    for run in runs:
        expected = wire_state(Run.objects.get(pk=run.pk), now)
        for state in RunState:
            if state == RunState.STOPPING:
                continue
            matches = Run.objects.filter(state_q(state, now), pk=run.pk).exists()
            assert matches == (state == expected), (facts[runs.index(run)], state, expected)
