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
