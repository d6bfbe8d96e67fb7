"""Agent liveness and queue state, derived when read from stored facts. The one place these rules live.

No background job marks agents offline: an agent is Offline as soon as its last contact is older than
LAUNCHUI_AGENT_OFFLINE_AFTER, whoever looks.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from launchui.launch.models import LaunchAgent, RunQueueItem
from launchui.projects.states import RunState, run_state

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


def is_live_status(status: str) -> bool:
    """Whether a derived agent status (agent_status) is a live one: Polling or Running."""
    return status in (LaunchAgent.POLLING, LaunchAgent.RUNNING)


def is_live(agent: LaunchAgent, now: datetime | None = None) -> bool:
    return is_live_status(agent_status(agent, now))


def agent_is_full(reported_status: str, config: dict | None) -> bool:
    """Whether a live agent takes no more jobs. It reports RUNNING while it runs any job; with max_jobs 1
    (the client's default) that means it is full. With more slots it may have room, so it counts as not full."""
    max_jobs = (config or {}).get("max_jobs", 1)
    return reported_status == LaunchAgent.RUNNING and max_jobs in (1, None)


def live_agent_q(prefix: str = "", now: datetime | None = None) -> Q:
    """The same rule as is_live, as a filter; prefix reaches agents through a relation ("agents__")."""
    return Q(**{f"{prefix}last_seen_at__gte": offline_cutoff(now)}) & ~Q(
        **{f"{prefix}reported_status": LaunchAgent.KILLED}
    )


# --- queue items: waiting ------------------------------------------------------------------------


def waiting_q(now: datetime | None = None) -> Q:
    """Items an agent could pop now: pending, or leased and never acked within the lease (they go back to
    their place). The one rule for popping, counting queued items, and cancelling."""
    expired = (now or timezone.now()) - timedelta(seconds=settings.LAUNCHUI_LEASE_SECONDS)
    return Q(state=RunQueueItem.PENDING) | Q(state=RunQueueItem.LEASED, leased_at__lt=expired)


def pop_order(prioritized: bool) -> list[str]:
    """The order in which agents take a queue's waiting items: by priority (0, critical, first) when the
    queue is prioritized, then oldest first. The one rule for pop and for the positions the Overview shows."""
    return ["priority", "created_at", "id"] if prioritized else ["created_at", "id"]


# --- queue items ----------------------------------------------------------------------------------
# What a person sees for a launched item, derived from the item's state and its run's facts.
class ItemStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    IDLE = "idle", "Idle"
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    FINISHED = "finished", "Finished"
    FAILED = "failed", "Failed"
    CRASHED = "crashed", "Crashed"
    KILLED = "killed", "Killed"


ITEM_STATUS_LABELS = {status.value: status.label for status in ItemStatus}


def item_status(
    item, *, run=None, live_agents: int, busy_agents: int, now: datetime | None = None
) -> tuple[ItemStatus, str]:
    """(status, reason in plain words). `run` is the item's run record, if it has reported yet."""
    now = now or timezone.now()
    lease_over = item.leased_at is None or item.leased_at < now - timedelta(seconds=settings.LAUNCHUI_LEASE_SECONDS)
    if item.state == RunQueueItem.FAILED:
        where = f"Failed at the {item.error_stage} stage" if item.error_stage else "Failed"
        return ItemStatus.FAILED, f"{where}: {item.error_message}" if item.error_message else where + "."
    if item.state == RunQueueItem.PENDING or (item.state == RunQueueItem.LEASED and lease_over):
        if live_agents == 0:
            return ItemStatus.IDLE, ("No live agent polls this queue: start one with the command on the Agents tab.")
        if busy_agents >= live_agents:
            return ItemStatus.QUEUED, (f"Waiting: every live agent ({live_agents}) is running as many jobs as it may.")
        return ItemStatus.QUEUED, "Waiting for the next poll: agents poll every 10 seconds."
    if item.state == RunQueueItem.LEASED:
        return ItemStatus.PENDING, "An agent took it and is preparing to start the run."
    if run is None:
        return ItemStatus.PENDING, "The agent accepted it and is starting the run (downloading, building)."
    state = run_state(run, now)
    if state == RunState.FINISHED:
        return ItemStatus.FINISHED, ""
    if state == RunState.FAILED:
        return ItemStatus.FAILED, f"The run exited with code {run.exit_code}."
    if state == RunState.KILLED:
        return ItemStatus.KILLED, "Stopped by a user."
    if state == RunState.CRASHED:
        return ItemStatus.CRASHED, "The run stopped reporting without finishing."
    return ItemStatus.RUNNING, ""
