"""A run's state, derived when read from the facts the file stream stored (nothing marks a run crashed)."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from launchui.projects.models import Run


class RunState(models.TextChoices):
    """W&B's run states."""

    RUNNING = "running", "Running"
    FINISHED = "finished", "Finished"
    FAILED = "failed", "Failed"
    KILLED = "killed", "Killed"
    CRASHED = "crashed", "Crashed"


def run_state(run: Run, now: datetime | None = None) -> RunState:
    """W&B's run states from the facts the file stream stored."""
    if run.completed_at is not None:
        if run.exit_code == 0:
            return RunState.FINISHED
        return RunState.KILLED if run.stop_requested else RunState.FAILED
    heartbeat = run.heartbeat_at or run.created_at
    # A running run streams at least every ~30 s; silence this long means its process died.
    if heartbeat < (now or timezone.now()) - timedelta(seconds=settings.LAUNCHUI_RUN_CRASHED_AFTER):
        return RunState.CRASHED
    return RunState.RUNNING
