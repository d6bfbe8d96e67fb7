"""Agent liveness and queue state, derived when read from stored facts. The one place these rules live.

No background job marks agents offline: an agent is Offline as soon as its last contact is older than
LAUNCHUI_AGENT_OFFLINE_AFTER, whoever looks.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from launchui.launch.models import LaunchAgent

OFFLINE = "OFFLINE"
STATUS_LABELS = {
    LaunchAgent.POLLING: "Polling",
    LaunchAgent.RUNNING: "Running",
    LaunchAgent.KILLED: "Killed",
    OFFLINE: "Offline",
}


def offline_cutoff(now: datetime | None = None) -> datetime:
    return (now or timezone.now()) - timedelta(seconds=settings.LAUNCHUI_AGENT_OFFLINE_AFTER)


def agent_status(agent: LaunchAgent, now: datetime | None = None) -> str:
    """KILLED when the agent said so; OFFLINE when it went silent; else what it last reported."""
    if agent.reported_status == LaunchAgent.KILLED:
        return LaunchAgent.KILLED
    if agent.last_seen_at < offline_cutoff(now):
        return OFFLINE
    return agent.reported_status


def is_live(agent: LaunchAgent, now: datetime | None = None) -> bool:
    return agent_status(agent, now) in (LaunchAgent.POLLING, LaunchAgent.RUNNING)


def live_agent_q(prefix: str = "", now: datetime | None = None) -> Q:
    """The same rule as is_live, as a filter; prefix reaches agents through a relation ("agents__")."""
    return Q(**{f"{prefix}last_seen_at__gte": offline_cutoff(now)}) & ~Q(
        **{f"{prefix}reported_status": LaunchAgent.KILLED})


# --- runs -----------------------------------------------------------------------------------------
# A running run streams at least every ~30 s; silence this long means its process died.
RUN_CRASHED_AFTER_SECONDS = 300


def run_state(run, now: datetime | None = None) -> str:
    """W&B's run states from the facts the file stream stored."""
    if run.completed_at is not None:
        if run.exit_code == 0:
            return "finished"
        return "killed" if run.stop_requested else "failed"
    heartbeat = run.heartbeat_at or run.created_at
    if heartbeat < (now or timezone.now()) - timedelta(seconds=RUN_CRASHED_AFTER_SECONDS):
        return "crashed"
    return "running"
