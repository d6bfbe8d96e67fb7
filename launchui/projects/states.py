"""A run's state and its reason, derived when read from the facts stored for it (nothing marks a run crashed).

Which signal decides each state (README, "Run and item statuses"):
- Finished / Failed: the file stream's `complete` with its `exitcode` (0: Finished; else Failed).
- Killed: a stop was requested (Stop in the browser, or the client's stopRun) and then the run completed with a
  non-zero exit code, or its process ended (the watchers below stopped asking).
- Stopping: a stop was requested and the run's process still runs.
- Crashed: a watched run whose watchers stopped asking whether it should stop (RunStoppedStatus) for
  LAUNCHUI_RUN_UNWATCHED_AFTER seconds without the run completing: its process ended without finishing. A
  launched run shares the agent's wandb-core, whose heartbeats go on for it, so the agent's per-job question
  (every 10 s while the process lives) is the sign of the process. Last resort, for runs nobody asks about:
  no file-stream heartbeat for LAUNCHUI_RUN_CRASHED_AFTER seconds.
- Running: none of the above.
The launch layer adds what only the agent knows (launch/liveness.py): a run whose agent went Offline or was
stopped is Crashed, "agent lost".
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from launchui.projects.models import Run


class RunState(models.TextChoices):
    """W&B's run states, and Stopping: what a person sees between Stop and Killed."""

    RUNNING = "running", "Running"
    STOPPING = "stopping", "Stopping"
    FINISHED = "finished", "Finished"
    FAILED = "failed", "Failed"
    KILLED = "killed", "Killed"
    CRASHED = "crashed", "Crashed"


# What the client reads as `state`: W&B's words only (a stopping run is still running to the client).
WIRE_STATES = {RunState.STOPPING: RunState.RUNNING}


def _who(run: Run) -> str:
    by = run.stopped_by.username if run.stopped_by_id and run.stopped_by else "a user"
    when = timezone.localtime(run.stop_requested_at).strftime("%Y-%m-%d %H:%M:%S") if run.stop_requested_at else ""
    return f"{by} at {when}" if when else by


def process_gone_at(run: Run, *, launched: bool = False) -> datetime | None:
    """When the run's process is known to have ended: its watchers' last question plus the allowance. A
    launched run's agent watches the job from before the run exists, so its first question comes within 10 s
    of the run's creation: a run that dies sooner is measured from its creation."""
    watched = run.stop_checked_at or (run.created_at if launched else None)
    if watched is None:
        return None
    return watched + timedelta(seconds=settings.LAUNCHUI_RUN_UNWATCHED_AFTER)


def run_status(
    run: Run, now: datetime | None = None, *, lost: str = "", launched: bool = False
) -> tuple[RunState, str]:
    """(state, reason in plain words). `launched`: an agent runs it (a claimed queue item names it), so the
    agent's questions are expected. `lost`: why that agent can no longer run it (launch/liveness.py), empty
    when it is live."""
    now = now or timezone.now()
    gone_at = process_gone_at(run, launched=launched)
    # A completion that arrives after the process was known gone is the shared service's teardown (it then
    # finishes every stream with exit code 0, when the agent exits), not the run's own report.
    completed = run.completed_at is not None and (gone_at is None or run.completed_at <= gone_at)
    if completed:
        if run.exit_code == 0:
            return RunState.FINISHED, "The run finished and exited with code 0."
        if run.stop_requested:
            return RunState.KILLED, f"Stopped by {_who(run)}; it exited with code {run.exit_code}."
        return RunState.FAILED, f"The run exited with code {run.exit_code}."
    if lost:
        return RunState.CRASHED, lost
    if gone_at is not None and gone_at < now:
        if run.stop_requested:
            return RunState.KILLED, f"Stopped by {_who(run)}; its process ended."
        return RunState.CRASHED, (
            "Its process ended without finishing the run (the agent stopped watching it); no exit code was reported."
        )
    heartbeat = run.heartbeat_at or run.created_at
    # Last resort, for runs nobody watches: silence this long means the process died.
    if heartbeat < now - timedelta(seconds=settings.LAUNCHUI_RUN_CRASHED_AFTER):
        return RunState.CRASHED, (
            f"No report from the run for over {settings.LAUNCHUI_RUN_CRASHED_AFTER} s, and it never finished."
        )
    if run.stop_requested:
        return RunState.STOPPING, (
            f"Stop requested by {_who(run)}: the run stops at its next stop check (every 15 s), or its agent "
            "ends the process after its stopped_run_timeout."
        )
    return RunState.RUNNING, ""


def run_state(run: Run, now: datetime | None = None) -> RunState:
    """The run's state alone (run_status without its reason)."""
    return run_status(run, now)[0]


def wire_state(run: Run, now: datetime | None = None) -> str:
    """The run's state as the client reads it (RunState query, api.run().state): one of W&B's words."""
    state = run_state(run, now)
    return WIRE_STATES.get(state, state).value
