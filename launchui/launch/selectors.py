"""Reads for pages and wire operations, each in a fixed number of queries whatever the row count."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, TypedDict

from django.contrib.auth.models import User
from django.db import connection
from django.db.models import Count, F, IntegerField, OuterRef, Prefetch, QuerySet, Subquery, Value, Window
from django.db.models.functions import Coalesce, RowNumber
from django.utils import timezone

from launchui.accounts.models import Membership
from launchui.core import limits
from launchui.launch import liveness
from launchui.launch.liveness import ItemStatus
from launchui.launch.models import LAUNCH_PROJECT, LaunchAgent, RunQueue, RunQueueItem
from launchui.projects import run_files
from launchui.projects.models import Project, Run, RunFile

if TYPE_CHECKING:
    # django-stubs-ext is a test/lint requirement only, so it is imported for the type checker alone.
    from django_stubs_ext import WithAnnotations

    class QueueStats(TypedDict):
        live_agent_count: int
        queued_count: int

    # A queue with the counts with_queue_stats annotates, which pages sort and filter on.
    QueueWithStats = WithAnnotations[RunQueue, QueueStats]


def _count(queryset: QuerySet) -> Coalesce:
    """A correlated COUNT(*) subquery; cheaper than joined Counts, which multiply rows."""
    counted = queryset.order_by().annotate(_g=Value(1)).values("_g").annotate(_n=Count("pk")).values("_n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def with_queue_stats(queues: QuerySet[RunQueue]) -> "QuerySet[QueueWithStats]":
    now = timezone.now()
    live = LaunchAgent.objects.filter(liveness.live_agent_q(now=now), queues=OuterRef("pk"))
    waiting = RunQueueItem.objects.filter(liveness.waiting_q(now), queue=OuterRef("pk"))
    return queues.annotate(live_agent_count=_count(live), queued_count=_count(waiting))


QUEUE_SORTS = {
    "name": ("name", "entity__name"),
    "-name": ("-name", "-entity__name"),
    "entity": ("entity__name", "name"),
    "-entity": ("-entity__name", "name"),
    "resource": ("resource", "entity__name", "name"),
    "-resource": ("-resource", "entity__name", "name"),
    "queued": ("queued_count", "entity__name", "name"),
    "-queued": ("-queued_count", "entity__name", "name"),
    "agents": ("live_agent_count", "entity__name", "name"),
    "-agents": ("-live_agent_count", "entity__name", "name"),
}


def visible_queues(user: User) -> QuerySet[RunQueue]:
    return RunQueue.objects.filter(entity__memberships__user=user)


def queue_by_id_for_user(*, user: User, queue_id: int) -> RunQueue | None:
    """A queue by id, only when the user is a member of its entity: None alike for a foreign or missing one,
    so an outsider cannot learn which ids exist."""
    return visible_queues(user).filter(pk=queue_id).select_related("entity").first()


def queue_list(
    *, user: User, entity_name: str = "", search: str = "", sort: str = "entity"
) -> "QuerySet[QueueWithStats]":
    queues = visible_queues(user).select_related("entity")
    if entity_name:
        queues = queues.filter(entity__name=entity_name)
    if search:
        queues = queues.filter(name__icontains=search)
    return with_queue_stats(queues).order_by(*QUEUE_SORTS.get(sort, QUEUE_SORTS["entity"]))


def queue_for_user(*, user: User, entity_name: str, queue_name: str) -> tuple[RunQueue, Membership] | None:
    """The queue and the user's membership in its entity; None for outsiders and unknown queues."""
    membership = Membership.objects.select_related("entity").filter(user=user, entity__name=entity_name).first()
    if membership is None:
        return None
    queue = (
        with_queue_stats(RunQueue.objects.filter(entity=membership.entity, name=queue_name))
        .select_related("entity", "created_by")
        .first()
    )
    if queue is None:
        return None
    return queue, membership


def _agents_with_context() -> QuerySet[LaunchAgent]:
    current = (
        RunQueueItem.objects.filter(state__in=[RunQueueItem.LEASED, RunQueueItem.CLAIMED])
        .select_related("queue")
        .order_by("-updated_at")
    )
    return LaunchAgent.objects.select_related("entity").prefetch_related(
        Prefetch("queues", queryset=RunQueue.objects.select_related("entity")),
        Prefetch("items", queryset=current, to_attr="current_items"),
    )


@dataclass(frozen=True)
class AgentRow:
    """An agent as the pages show it: the agent and its status, derived when read (liveness.agent_status)."""

    agent: LaunchAgent
    status: str

    @property
    def status_label(self) -> str:
        return liveness.STATUS_LABELS[self.status]


def agent_rows(agents: Iterable[LaunchAgent]) -> list[AgentRow]:
    now = timezone.now()
    return [AgentRow(agent, liveness.agent_status(agent, now)) for agent in agents]


def agents_for_queue(queue: RunQueue) -> list[AgentRow]:
    return agent_rows(_agents_with_context().filter(queues=queue))


def agents_for_user(*, user: User, entity_name: str = "", status: str = "") -> list[AgentRow]:
    agents = _agents_with_context().filter(entity__memberships__user=user)
    if entity_name:
        agents = agents.filter(entity__name=entity_name)
    now = timezone.now()
    if status == liveness.OFFLINE:
        agents = agents.filter(last_seen_at__lt=liveness.offline_cutoff(now)).exclude(
            reported_status=LaunchAgent.KILLED
        )
    elif status == LaunchAgent.KILLED:
        agents = agents.filter(reported_status=LaunchAgent.KILLED)
    elif status in (LaunchAgent.POLLING, LaunchAgent.RUNNING):
        agents = agents.filter(liveness.live_agent_q(now=now), reported_status=status)
    return agent_rows(agents.order_by("entity__name", "-started_at"))


def unserved_queues(*, user: User, entity_name: str = "") -> "QuerySet[QueueWithStats]":
    """Queues with waiting items and no live agent: what the on-call engineer must fix first."""
    return queue_list(user=user, entity_name=entity_name).filter(queued_count__gt=0, live_agent_count=0)


def items_for_queue(queue: RunQueue) -> QuerySet[RunQueueItem]:
    """A queue's items, newest first, with the agent that took each one: one query per page."""
    return queue.items.select_related("agent").order_by("-created_at", "-id")


def waiting_positions(queue: RunQueue, item_ids: Iterable[int]) -> dict[int, int]:
    """{item id: its place in the order agents take them (1 = next)} for those of item_ids still waiting
    among the first OVERVIEW_POSITIONS_MAX in that order, in one query whatever the queue's depth. The order
    is liveness.pop_order, the rule item_pop uses; the pop index serves it in order, so the query stops
    after that many rows instead of ranking every waiting item."""
    ids = list(item_ids)
    if not ids:
        return {}
    names = liveness.pop_order(queue.is_prioritized)
    ranked = (
        RunQueueItem.objects.filter(liveness.waiting_q(), queue=queue)
        .order_by(*names)
        .annotate(position=Window(RowNumber(), order_by=[F(name).asc() for name in names]))
        .values("id", "position")[: limits.OVERVIEW_POSITIONS_MAX]
    )
    # Ranked first, then narrowed to the page's items: a filter on the same query would rank the page's
    # items among themselves only.
    sql, params = ranked.query.sql_with_params()
    marks = ", ".join(["%s"] * len(ids))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT ranked.id, ranked.position FROM ({sql}) ranked WHERE ranked.id IN ({marks})", (*params, *ids)
        )
        return dict(cursor.fetchall())


def agent_for_user(*, user: User, agent_id: int) -> tuple[AgentRow, Membership] | None:
    """An agent with its derived status and the user's membership in its entity; None for outsiders."""
    agent = LaunchAgent.objects.select_related("entity").filter(pk=agent_id).first()
    if agent is None:
        return None
    membership = Membership.objects.filter(user=user, entity_id=agent.entity_id).first()
    if membership is None:
        return None
    return agent_rows([agent])[0], membership


@dataclass(frozen=True)
class ItemRow:
    """A launched item as the pages show it: the item, its run, and what is derived from both when read
    (status and reason from liveness.item_status; job, project and author from the item)."""

    item: RunQueueItem
    run: Run | None
    status: ItemStatus
    status_reason: str
    job_name: str
    project_name: str
    author: str
    started_at: datetime | None
    duration: float | None

    @property
    def status_label(self) -> str:
        return self.status.label


def with_item_status(items: list[RunQueueItem]) -> list[ItemRow]:
    """Each item's run, status and reason, for items of any queues, in three queries whatever their number."""
    if not items:
        return []
    queue_ids = {item.queue_id for item in items}
    now = timezone.now()
    live = list(
        LaunchAgent.objects.filter(liveness.live_agent_q(now=now), queues__in=queue_ids).values_list(
            "queues", "reported_status", "config"
        )
    )
    runs: dict[tuple[int, str, str], Run] = {}
    names = {item.associated_run_id for item in items if item.associated_run_id}
    if names:
        entity_ids = {item.queue.entity_id for item in items}
        for found in Run.objects.filter(project__entity_id__in=entity_ids, name__in=names).select_related("project"):
            runs[(found.project.entity_id, found.project.name, found.name)] = found
    rows = []
    for item in items:
        spec = item.run_spec or {}
        run = runs.get((item.queue.entity_id, spec.get("project") or "", item.associated_run_id))
        on_queue = [(status, config) for queue_id, status, config in live if queue_id == item.queue_id]
        status, reason = liveness.item_status(
            item,
            run=run,
            live_agents=len(on_queue),
            busy_agents=sum(liveness.agent_is_full(status, config) for status, config in on_queue),
            now=now,
        )
        started_at = run.created_at if run else None
        end = run.completed_at if run and run.completed_at else now
        rows.append(
            ItemRow(
                item=item,
                run=run,
                status=status,
                status_reason=reason,
                job_name=spec.get("job") or (spec.get("docker") or {}).get("docker_image") or spec.get("uri") or "",
                project_name=spec.get("project") or "",
                # Who pushed it, as authenticated: never the runSpec's own "author", which the client writes.
                author=item.created_by.username if item.created_by_id and item.created_by else "",
                started_at=started_at,
                duration=(end - started_at).total_seconds() if started_at else None,
            )
        )
    return rows


def destination_projects(entity) -> QuerySet:
    """Projects of an entity that a launched run may go to, by name (the hidden launch project left out)."""
    return Project.objects.filter(entity=entity).exclude(name=LAUNCH_PROJECT).order_by("name")


def previous_launches(*, user: User, job_path: str, limit: int = 20) -> list[RunQueueItem]:
    """Earlier launches of one job, any version ("entity/project/name"), that carried overrides and sit in
    queues the user can see, newest first: the Launch drawer's "Paste from" choices. One query."""
    return list(
        RunQueueItem.objects.filter(
            queue__entity__memberships__user=user,
            run_spec__job__startswith=f"{job_path}:",
            run_spec__has_key="overrides",
        )
        .select_related("queue__entity")
        .order_by("-created_at", "-id")[:limit]
    )


def recent_items(queue: RunQueue, limit: int = 10) -> list[ItemRow]:
    """A queue's newest items with their status (with_item_status), in four queries whatever the number."""
    return with_item_status(list(items_for_queue(queue).select_related("created_by")[:limit]))


def items_since(queue: RunQueue, since) -> list[ItemRow]:
    """A queue's items created since a time, newest first, with their status: the Monitor tab's data,
    in four queries whatever the number."""
    items = (
        queue.items.filter(created_at__gte=since).select_related("created_by", "agent").order_by("-created_at", "-id")
    )
    return with_item_status(list(items))


def item_error_files(item: RunQueueItem) -> QuerySet[RunFile]:
    """The files the agent attached to a failed item (failRunQueueItem's filePaths). The agent uploads them to
    its own hidden run in the item's entity under "<item id>/error/...", so the name finds them (one query)."""
    return RunFile.objects.filter(run__project__entity_id=item.queue.entity_id, name__in=item.error_file_paths or [])


# What the item page shows of an attached file inline; the whole file is a download.
ERROR_FILE_TAIL_BYTES = 16 * 1024


def error_file_tail(file: RunFile) -> str:
    """The end of an attached log, as text: where a traceback's cause is."""
    with run_files.open_file(file.storage_key) as handle:
        if file.size > ERROR_FILE_TAIL_BYTES:
            handle.seek(file.size - ERROR_FILE_TAIL_BYTES)
        return handle.read(ERROR_FILE_TAIL_BYTES).decode("utf-8", errors="replace")
