"""Agent liveness and queue state, derived when read from stored facts. The one place these rules live.

No background job marks agents offline: an agent is Offline as soon as its last contact is older than
LAUNCHUI_AGENT_OFFLINE_AFTER, whoever looks.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from launchui.core import plans
from launchui.launch.models import LaunchAgent, RunQueueItem
from launchui.projects.states import run_state as run_state  # re-exported: the pages and tests read it here
from launchui.projects.states import run_status

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


def offline_since(agent: LaunchAgent, now: datetime | None = None) -> datetime | None:
    """When an Offline agent became Offline (its last contact plus the silence allowed); None otherwise.
    The moment is derived, never stored: the agent page's timeline shows it after the stored reports."""
    if agent_status(agent, now) != OFFLINE:
        return None
    return agent.last_seen_at + timedelta(seconds=settings.LAUNCHUI_AGENT_OFFLINE_AFTER)


def is_live_status(status: str) -> bool:
    """Whether a derived agent status (agent_status) is a live one: Polling or Running."""
    return status in (LaunchAgent.POLLING, LaunchAgent.RUNNING)


def is_live(agent: LaunchAgent, now: datetime | None = None) -> bool:
    return is_live_status(agent_status(agent, now))


def agent_slots(config: dict | None) -> int | None:
    """How many jobs an agent may run at once, read as the client reads its agentConfig's max_jobs: 1 when
    absent, None (no limit) for -1."""
    value = (config or {}).get("max_jobs")
    if value is None or isinstance(value, bool):
        return 1
    try:
        slots = int(value)
    except (TypeError, ValueError):
        return 1
    if slots == -1:
        return None
    return slots if slots > 0 else 1


def agent_is_full(reported_status: str, config: dict | None, running: int | None = None) -> bool:
    """Whether a live agent takes no more jobs. It reports POLLING only when its last job has ended, so a
    POLLING agent has every slot free. A RUNNING one is full when its running jobs (`running`: its items
    still Pending, Running or Stopping, launch.selectors.agent_running_counts) fill its slots (agent_slots).
    Without the count, a RUNNING agent of one slot is full."""
    if reported_status != LaunchAgent.RUNNING:
        return False
    slots = agent_slots(config)
    if slots is None:
        return False
    if running is None:
        return slots == 1
    return running >= slots


def live_agent_q(prefix: str = "", now: datetime | None = None, *, seen_since: datetime | None = None) -> Q:
    """The same rule as is_live, as a filter; prefix reaches agents through a relation ("agents__").
    `seen_since` (offline_cutoff(now)) may be given instead of now: compiled statements bind it per call."""
    return Q(**{f"{prefix}last_seen_at__gte": seen_since or offline_cutoff(now)}) & ~Q(
        **{f"{prefix}reported_status": LaunchAgent.KILLED}
    )


# --- queue items: waiting ------------------------------------------------------------------------


def lease_expired_before(now: datetime | None = None) -> datetime:
    """Leases taken before this moment are over (LAUNCHUI_LEASE_SECONDS)."""
    return (now or timezone.now()) - timedelta(seconds=settings.LAUNCHUI_LEASE_SECONDS)


# The states a waiting item can be in (the partial waiting indexes' condition, launch/models.py).
WAITING_STATES = (RunQueueItem.PENDING, RunQueueItem.LEASED)


def waiting_q(now: datetime | None = None, *, expired_before: datetime | None = None) -> Q:
    """Items an agent could pop now: pending, or leased and never acked within the lease (they go back to
    their place). The one rule for popping, counting queued items, and cancelling. `expired_before`
    (lease_expired_before(now)) may be given instead of now: compiled statements bind it per call."""
    expired = expired_before or lease_expired_before(now)
    rule = Q(state=RunQueueItem.PENDING) | Q(state=RunQueueItem.LEASED, leased_at__lt=expired)
    # The same states again as literals (redundant, so the rule is unchanged): the partial waiting indexes'
    # condition, state IN ('PENDING', 'LEASED'), which a prepared statement's generic plan can match only when
    # the statement says it without parameters (plans.LiteralIn). Every waiting read then keeps its index.
    return Q(plans.LiteralIn("state", WAITING_STATES)) & rule


def pop_order(prioritized: bool) -> list[str]:
    """The order in which agents take a queue's waiting items: by priority (0, critical, first) when the
    queue is prioritized, then oldest first. The one rule for pop and for the positions the Overview shows."""
    return ["priority", "created_at", "id"] if prioritized else ["created_at", "id"]


# --- queue items ----------------------------------------------------------------------------------
# What a person sees for a launched item, derived from the item's state, its run's facts and its agent's.
class ItemStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    IDLE = "idle", "Idle"
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    STOPPING = "stopping", "Stopping"
    FINISHED = "finished", "Finished"
    FAILED = "failed", "Failed"
    CRASHED = "crashed", "Crashed"
    KILLED = "killed", "Killed"


ITEM_STATUS_LABELS = {status.value: status.label for status in ItemStatus}
# Statuses in which an item holds one of its agent's slots.
ACTIVE_STATUSES = (ItemStatus.PENDING, ItemStatus.RUNNING, ItemStatus.STOPPING)


def agent_lost_reason(agent: LaunchAgent | None, now: datetime | None = None) -> str:
    """Why an item's agent can no longer run it, in words; empty when it is live (or there is none)."""
    if agent is None:
        return ""
    status = agent_status(agent, now)
    if status == OFFLINE:
        since = timezone.localtime(agent.last_seen_at)
        return f"Agent lost: {agent.name} has not been heard from since {since:%H:%M:%S}."
    if status == LaunchAgent.KILLED:
        return f"Agent lost: {agent.name} was stopped while the run ran, and its jobs ended with it."
    return ""


def item_status(
    item, *, run=None, live_agents: int, busy_agents: int, now: datetime | None = None
) -> tuple[ItemStatus, str]:
    """(status, reason in plain words). `run` is the item's run record, if it has reported yet; the item's
    agent (item.agent, selected with it) tells whether anyone still runs it."""
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
    lost = agent_lost_reason(item.agent if item.agent_id else None, now)
    if item.state == RunQueueItem.LEASED:
        return ItemStatus.PENDING, "An agent took it and is preparing to start the run."
    if run is None:
        if lost:
            return ItemStatus.CRASHED, lost + " The run never reported."
        return ItemStatus.PENDING, "The agent accepted it and is starting the run (downloading, building)."
    state, reason = run_status(run, now, lost=lost, launched=True)
    return ItemStatus(state.value), reason
