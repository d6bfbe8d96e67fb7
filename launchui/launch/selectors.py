"""Reads for pages and wire operations, each in a fixed number of queries whatever the row count."""

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple, TypedDict

from django.contrib.auth.models import User
from django.db.models import Count, Exists, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Value, Window
from django.db.models.fields.json import KT, KeyTextTransform
from django.db.models.functions import Coalesce, RowNumber
from django.utils import timezone

from launchui.accounts.models import Entity, Membership
from launchui.accounts.selectors import member_entity_ids
from launchui.core import compiled, limits
from launchui.launch import liveness
from launchui.launch.liveness import ItemStatus
from launchui.launch.models import LAUNCH_PROJECT, LaunchAgent, RunQueue, RunQueueItem
from launchui.launch.services import agent_controlled
from launchui.projects import run_files, run_filters
from launchui.projects import selectors as run_selectors
from launchui.projects.models import Project, Run, RunFile, RunStreamLine
from launchui.projects.states import RunState, run_state, run_status

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


class _CountOfRows(Subquery):
    template = "(SELECT COUNT(*) FROM (%(subquery)s) counted)"


def _count_up_to(queryset: QuerySet, cap: int) -> Subquery:
    """A correlated count that reads at most cap + 1 rows: what a list shows as "1,000+" rather than
    counting a queue's million waiting items on every refresh."""
    return _CountOfRows(queryset.order_by().values("pk")[: cap + 1], output_field=IntegerField())


class Cutoffs(NamedTuple):
    """The moments a read's liveness rules compare with, derived once from its `now`: agents seen since
    seen_since are live (liveness.offline_cutoff), leases taken before expired_before are over
    (liveness.lease_expired_before). Compiled statements bind them as parameters."""

    seen_since: datetime
    expired_before: datetime

    @classmethod
    def at(cls, now: datetime | None = None) -> "Cutoffs":
        now = now or timezone.now()
        return cls(liveness.offline_cutoff(now), liveness.lease_expired_before(now))


def _live_agents_of_outer_queue(seen_since: datetime) -> QuerySet[LaunchAgent]:
    return LaunchAgent.objects.filter(liveness.live_agent_q(seen_since=seen_since), queues=OuterRef("pk"))


def _waiting_items_of_outer_queue(expired_before: datetime) -> QuerySet[RunQueueItem]:
    return RunQueueItem.objects.filter(liveness.waiting_q(expired_before=expired_before), queue=OuterRef("pk"))


def with_queue_stats(queues: QuerySet[RunQueue], cutoffs: Cutoffs | None = None) -> "QuerySet[QueueWithStats]":
    cutoffs = cutoffs or Cutoffs.at()
    return queues.annotate(
        live_agent_count=_count(_live_agents_of_outer_queue(cutoffs.seen_since)),
        queued_count=_count(_waiting_items_of_outer_queue(cutoffs.expired_before)),
    )


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
    # A semi-join on the user's memberships (IN), not a join through the entity: counting 10,000 visible
    # queues reads no entity row (5 -> 2 ms). It costs ~0.3 ms more CPU to build, which the Launch page's
    # compiled statements no longer pay.
    return RunQueue.objects.filter(entity_id__in=member_entity_ids(user))


def queue_by_id_for_user(*, user: User, queue_id: int) -> RunQueue | None:
    """A queue by id, only when the user is a member of its entity: None alike for a foreign or missing one,
    so an outsider cannot learn which ids exist."""
    return visible_queues(user).filter(pk=queue_id).select_related("entity").first()


def _listed_queues(user: User, entity_name: str, search: str) -> QuerySet[RunQueue]:
    """The visible queues a list page shows: of one entity, and whose name holds `search`, when given."""
    queues = visible_queues(user)
    if entity_name:
        queues = queues.filter(entity__name=entity_name)
    if search:
        queues = queues.filter(name__icontains=search)
    return queues


def queue_list(
    *, user: User, entity_name: str = "", search: str = "", sort: str = "entity", cutoffs: Cutoffs | None = None
) -> "QuerySet[QueueWithStats]":
    queues = _listed_queues(user, entity_name, search).select_related("entity")
    return with_queue_stats(queues, cutoffs).order_by(*QUEUE_SORTS.get(sort, QUEUE_SORTS["entity"]))


# What the Launch page's rows read of a queue (web's queue_rows tag); its config and variables are not loaded.
LAUNCH_ROW_FIELDS = ("name", "resource", "entity__name")


def _limit_offset(index: slice, reader: str) -> tuple[int, int]:
    """A Paginator's page (a bounded slice) as the LIMIT and OFFSET of a list's compiled statement."""
    if not isinstance(index, slice) or index.stop is None or index.step is not None:
        raise TypeError(f"{reader} takes bounded slices only, as a Paginator's pages")
    start = index.start or 0
    return max(index.stop - start, 0), start


class LaunchQueues:
    """The Launch page's queues, for a Paginator: count() and slices, in one query each.

    count() counts the visible queues without the per-queue counts (the annotated query cost twice as much to
    build and compile). A page of the queued-count sorts ranks every visible queue by its waiting items: one
    grouped count of the waiting items (a pass over the waiting_items index), left-joined to the queues,
    rather than a correlated count per queue (10,000 index probes); queues without a waiting item join as 0.
    The other sorts slice queue_list.

    Without a search, each read is a statement compiled once per connection and shape (entity chosen or
    not, sort, core/compiled.py): building and compiling these querysets cost the page more CPU than
    PostgreSQL spends on them. A search's pattern is transformed by the ORM (escaped, wrapped in %), so a
    search runs the same builders as ordinary queries."""

    # Up to this many visible queues, the queued sorts count only their items (an index probe per queue);
    # past it, one pass over the waiting_items index in queue order counts every queue's at once, which is
    # cheaper than hashing the visible queues against every waiting item (bench/launch_page.py: 45 -> 21 ms of
    # SQL at 10,000 visible queues). Either way the order is the same; only the work differs.
    COUNT_VISIBLE_ONLY_UP_TO = 1000

    def __init__(self, *, user: User, entity_name: str = "", search: str = "", sort: str = "entity") -> None:
        self.user, self.entity_name, self.search = user, entity_name, search
        self.sort = sort if sort in QUEUE_SORTS else "entity"
        self.visible_count: int | None = None  # count()'s answer, which the Paginator asks for first
        cutoffs = Cutoffs.at()
        self.values: dict[str, Any] = {
            "user_id": user.pk,
            "entity_name": entity_name,
            "search": search,
            "seen_since": cutoffs.seen_since,
            "expired_before": cutoffs.expired_before,
        }

    def _visible(self) -> QuerySet[RunQueue]:
        return _listed_queues(self.user, self.entity_name, self.search)

    def count(self) -> int:
        if self.search:
            self.visible_count = self._visible().count()
        else:
            self.visible_count = _LAUNCH_COUNTS[bool(self.entity_name)].rows(**self.values)[0][0]
        return self.visible_count

    def __getitem__(self, index: slice) -> "list[QueueWithStats]":
        limit, offset = _limit_offset(index, "LaunchQueues")
        values = {**self.values, "limit": limit, "offset": offset}
        if self.search:
            # Every sort, the queued ones too, with a correlated count per matching queue: PostgreSQL cannot
            # estimate how many names match a pattern (it guesses one), and planned the grouped count of
            # _ranked_sql as a nested loop over the matches, once per match (0.4 s for 1,000 of 10,000).
            return compiled.rows_once(_launch_page_sql, sort=self.sort, **values)
        if self.sort in ("queued", "-queued"):
            one_pass = self.visible_count is not None and self.visible_count > self.COUNT_VISIBLE_ONLY_UP_TO
            return _LAUNCH_RANKED[bool(self.entity_name), self.sort, one_pass].rows(**values)
        return _LAUNCH_PAGES[bool(self.entity_name), self.sort].rows(**values)


def _launch_count_sql(conn, *, user_id, entity_name="", search=""):
    return compiled.count_sql(_listed_queues(User(pk=user_id), entity_name, search), conn)


def _launch_page_sql(conn, *, user_id, sort, seen_since, expired_before, limit, offset, entity_name="", search=""):
    queues = queue_list(
        user=User(pk=user_id),
        entity_name=entity_name,
        search=search,
        sort=sort,
        cutoffs=Cutoffs(seen_since, expired_before),
    ).only(*LAUNCH_ROW_FIELDS)
    return compiled.paged(compiled.select_instances(queues, conn), limit, offset)


def _ranked_sql(conn, *, user_id, sort, one_pass, seen_since, expired_before, limit, offset, entity_name=""):
    """LaunchQueues' page of a queued sort: the visible queues left-joined to a grouped count of the waiting
    items (of the visible queues only, unless one_pass)."""
    visible = _listed_queues(User(pk=user_id), entity_name, "")
    rows = (
        visible.annotate(
            live_agent_count=_count(_live_agents_of_outer_queue(seen_since)), entity_name=F("entity__name")
        )
        .values("id", "entity_id", "name", "resource", "entity_name", "live_agent_count")
        .order_by()  # an ORDER BY inside would keep PostgreSQL from merging it into the outer query
    )
    items = RunQueueItem.objects.filter(liveness.waiting_q(expired_before=expired_before))
    if not one_pass:
        items = items.filter(queue__in=visible.values("id"))
    # Grouped in the index's queue order, so PostgreSQL counts from the waiting_items index (GroupAggregate)
    # instead of hashing a scan of the whole table.
    waiting = items.order_by("queue_id").values("queue_id").annotate(waiting=Count("pk"))
    rows_sql, rows_params, _ = compiled.select_sql(rows, conn)
    waiting_sql, waiting_params, _ = compiled.select_sql(waiting, conn)
    direction = "DESC" if sort == "-queued" else "ASC"
    # Ties by entity then queue name, as QUEUE_SORTS; the live-agent count, not a sort key, is computed by
    # PostgreSQL for the page's rows only.
    text = (
        f"SELECT q.*, COALESCE(w.waiting, 0) AS queued_count FROM ({rows_sql}) q "
        f"LEFT JOIN ({waiting_sql}) w ON w.queue_id = q.id "
        f"ORDER BY queued_count {direction}, q.entity_name, q.name"
    )
    ranked = (text, (*rows_params, *waiting_params), functools.partial(_ranked_queue, conn.alias))
    return compiled.paged(ranked, limit, offset)


def _ranked_queue(alias: str, row: tuple) -> RunQueue:
    # As select_related(...).only(*LAUNCH_ROW_FIELDS) loads it: the entity's other fields load if read.
    queue_id, entity_id, name, resource, entity_name, live_agent_count, queued = row
    queue = RunQueue.from_db(alias, ["id", "entity_id", "name", "resource"], [queue_id, entity_id, name, resource])
    queue.entity = Entity.from_db(alias, ["id", "name"], [entity_id, entity_name])
    queue.live_agent_count, queue.queued_count = live_agent_count, queued  # type: ignore[attr-defined]
    return queue


_LIST_CUTOFFS = {"seen_since": datetime, "expired_before": datetime}
_LAUNCH_COUNTS = {
    by_entity: compiled.Statement(_launch_count_sql, user_id=int, **({"entity_name": str} if by_entity else {}))
    for by_entity in (False, True)
}
_LAUNCH_PAGES = {
    (by_entity, sort): compiled.Statement(
        functools.partial(_launch_page_sql, sort=sort),
        user_id=int,
        limit=int,
        offset=int,
        **_LIST_CUTOFFS,
        **({"entity_name": str} if by_entity else {}),
    )
    for by_entity in (False, True)
    for sort in QUEUE_SORTS
    if sort not in ("queued", "-queued")
}
_LAUNCH_RANKED = {
    (by_entity, sort, one_pass): compiled.Statement(
        functools.partial(_ranked_sql, sort=sort, one_pass=one_pass),
        user_id=int,
        limit=int,
        offset=int,
        **_LIST_CUTOFFS,
        **({"entity_name": str} if by_entity else {}),
    )
    for by_entity in (False, True)
    for sort in ("queued", "-queued")
    for one_pass in (False, True)
}


def _membership_sql(conn, *, user_id, entity_name):
    memberships = Membership.objects.select_related("entity").filter(user_id=user_id, entity__name=entity_name)
    return compiled.select_instances(memberships, conn)


def _queue_of_entity_sql(conn, *, entity_id, queue_name, seen_since):
    # Its state needs the live agents only; the count of its waiting items is the Delete tab's (queued_count).
    queues = (
        RunQueue.objects.filter(entity_id=entity_id, name=queue_name)
        .annotate(live_agent_count=_count(_live_agents_of_outer_queue(seen_since)))
        .select_related("created_by")
    )
    return compiled.select_instances(queues, conn)


# Every tab of a queue page, and their refreshes, begins here: compiled once per connection (core/compiled.py).
_MEMBERSHIP = compiled.Statement(_membership_sql, user_id=int, entity_name=str)
_QUEUE_OF_ENTITY = compiled.Statement(_queue_of_entity_sql, entity_id=int, queue_name=str, seen_since=datetime)


def queue_for_user(*, user: User, entity_name: str, queue_name: str) -> tuple[RunQueue, Membership] | None:
    """The queue and the user's membership in its entity; None for outsiders and unknown queues."""
    memberships = _MEMBERSHIP.rows(user_id=user.pk, entity_name=entity_name)
    if not memberships:
        return None
    membership = memberships[0]
    queues = _QUEUE_OF_ENTITY.rows(
        entity_id=membership.entity_id, queue_name=queue_name, seen_since=liveness.offline_cutoff()
    )
    if not queues:
        return None
    queue = queues[0]
    queue.entity = membership.entity
    return queue, membership


def queued_count(queue: RunQueue) -> int:
    """How many of the queue's items wait (liveness.waiting_q)."""
    return RunQueueItem.objects.filter(liveness.waiting_q(), queue=queue).count()


def active_items() -> QuerySet[RunQueueItem]:
    """Items that may still hold a slot of their agent: leased, or claimed and their run not completed (or not
    started yet). A prefilter in SQL (claimed is also the last state of every finished item); liveness.item_status
    decides."""
    completed = Run.objects.filter(
        project__entity_id=OuterRef("queue__entity_id"),
        project__name=OuterRef("_project"),
        name=OuterRef("associated_run_id"),
        completed_at__isnull=False,
    )
    return (
        RunQueueItem.objects.alias(_project=KT("run_spec__project"))
        .filter(Q(state=RunQueueItem.LEASED) | Q(~Exists(completed), state=RunQueueItem.CLAIMED))
        .select_related("queue__entity")
    )


def _agents_with_context(user: User) -> QuerySet[LaunchAgent]:
    """Agents with their entity and whether `user` controls each one; agent_rows_in_context reads their queues
    and current items (two plain queries: as two Prefetches they cost ~5 ms of the Agents page's CPU even with
    no item, in building the prefetch querysets and a model instance per queue)."""
    return LaunchAgent.objects.select_related("entity").annotate(controlled=agent_controlled(user))


def _runs_of(items: Iterable[RunQueueItem]) -> dict[tuple[int, str, str], Run]:
    """The runs of these items by (entity id, project, name): one query whatever their number."""
    items = list(items)
    names = {item.associated_run_id for item in items if item.associated_run_id}
    if not names:
        return {}
    entity_ids = {item.queue.entity_id for item in items}
    found = Run.objects.filter(project__entity_id__in=entity_ids, name__in=names).select_related(
        "project", "stopped_by"
    )
    return {(run.project.entity_id, run.project.name, run.name): run for run in found}


def _run_of(item: RunQueueItem, runs: dict[tuple[int, str, str], Run]) -> Run | None:
    return runs.get((item.queue.entity_id, (item.run_spec or {}).get("project") or "", item.associated_run_id))


def _holds_slot(item: RunQueueItem, runs: dict[tuple[int, str, str], Run], now: datetime) -> bool:
    """Whether the item still holds one of its agent's slots: Pending, Running or Stopping when read."""
    status, _ = liveness.item_status(item, run=_run_of(item, runs), live_agents=1, busy_agents=0, now=now)
    return status in liveness.ACTIVE_STATUSES


@dataclass(frozen=True)
class AgentRow:
    """An agent as the pages show it: the agent and its status, derived when read (liveness.agent_status),
    and the jobs it runs now, against its slots (agentConfig's max_jobs; the client's default is 1)."""

    agent: LaunchAgent
    status: str
    running_items: tuple[RunQueueItem, ...] = ()
    queues: "tuple[QueueName, ...]" = ()
    # Whether the user the rows were read for may stop or delete it (launch.services.agents_controlled_by).
    controlled: bool = False

    @property
    def status_label(self) -> str:
        return liveness.STATUS_LABELS[self.status]

    @property
    def slots(self) -> int | None:
        """None: no limit (max_jobs -1)."""
        return liveness.agent_slots(self.agent.config)

    @property
    def used_slots(self) -> int:
        return len(self.running_items)

    @property
    def free_slots(self) -> int | None:
        if not liveness.is_live_status(self.status):
            return 0
        return None if self.slots is None else max(self.slots - self.used_slots, 0)


class QueueName(NamedTuple):
    """A queue as an agents table links to it: its entity's name and its own."""

    entity_name: str
    name: str


# A page of agents or items has its queues, current items, waiting positions and live agents read by
# statements compiled once per connection over its ids (compiled.IdsStatement): building and compiling those
# querysets cost more CPU than PostgreSQL spends on them. A longer list (a queue's Agents tab is not paged)
# runs the same builder as one ordinary query, so the count of queries stays constant in the rows.


def _queue_pairs_sql(conn, *, ids):
    """(agent id, entity name, queue name) of the queues these agents poll, ordered by entity and name."""
    through = LaunchAgent.queues.through
    pairs = (
        through.objects.filter(launchagent_id__in=ids)
        .order_by("runqueue__entity__name", "runqueue__name")
        .values_list("launchagent_id", "runqueue__entity__name", "runqueue__name")
    )
    return compiled.select_sql(pairs, conn)


_QUEUE_PAIRS = compiled.IdsStatement(_queue_pairs_sql)


def _queues_of(agent_ids: list[int]) -> dict[int, list[QueueName]]:
    """The queues each agent polls, by entity and name: one query of names, no model instance."""
    found: dict[int, list[QueueName]] = {}
    if not agent_ids:
        return found
    for agent_id, entity_name, name in _QUEUE_PAIRS.rows(agent_ids):
        found.setdefault(agent_id, []).append(QueueName(entity_name, name))
    return found


_CURRENT_ITEMS = compiled.IdsStatement(
    lambda conn, ids: compiled.select_instances(active_items().filter(agent_id__in=ids).order_by("-updated_at"), conn)
)


def _current_items_of(agents: list[LaunchAgent], now: datetime) -> dict[int, list[RunQueueItem]]:
    """The items that may hold a slot (active_items) of those agents that are live, newest first: one query,
    none when no agent is live (the others run nothing, agent_rows)."""
    live = {agent.pk: agent for agent in agents if liveness.is_live(agent, now)}
    current: dict[int, list[RunQueueItem]] = {}
    if not live:
        return current
    for item in _CURRENT_ITEMS.rows(list(live)):
        agent = live[item.agent_id]
        item.agent = agent  # the item's agent is this one: no query to read it back
        current.setdefault(agent.pk, []).append(item)
    return current


def agent_rows_in_context(agents: Iterable[LaunchAgent]) -> list[AgentRow]:
    """agent_rows for agents read with _agents_with_context: with their queues and running jobs, in two or
    three more queries whatever their number (queues, current items of the live ones, their runs)."""
    agents = list(agents)
    now = timezone.now()
    return agent_rows(
        agents, queues=_queues_of([agent.pk for agent in agents]), current=_current_items_of(agents, now), now=now
    )


def agent_rows(
    agents: Iterable[LaunchAgent],
    *,
    queues: dict[int, list[QueueName]] | None = None,
    current: dict[int, list[RunQueueItem]] | None = None,
    now: datetime | None = None,
) -> list[AgentRow]:
    """Agents with their status and, when given, their queues and current items (agent_rows_in_context reads
    them); one more query for the items' runs."""
    now = now or timezone.now()
    queues = queues or {}
    current = current or {}
    runs = _runs_of(item for items in current.values() for item in items)
    rows = []
    for agent in agents:
        status = liveness.agent_status(agent, now)
        live = liveness.is_live_status(status)
        running = tuple(item for item in current.get(agent.pk, ()) if live and _holds_slot(item, runs, now))
        rows.append(
            AgentRow(
                agent,
                status,
                running,
                queues=tuple(queues.get(agent.pk, ())),
                controlled=bool(getattr(agent, "controlled", False)),
            )
        )
    return rows


def agent_running_counts(agent_ids: Iterable[int]) -> dict[int, int]:
    """How many jobs each agent runs now (items Pending, Running or Stopping): two queries whatever the number."""
    ids = set(agent_ids)
    if not ids:
        return {}
    items = list(active_items().filter(agent_id__in=ids).select_related("agent"))
    runs = _runs_of(items)
    now = timezone.now()
    counts = dict.fromkeys(ids, 0)
    for item in items:
        if item.agent_id in counts and _holds_slot(item, runs, now):
            counts[item.agent_id] += 1
    return counts


def agents_for_queue(queue: RunQueue, *, user: User) -> list[AgentRow]:
    return agent_rows_in_context(_agents_with_context(user).filter(queues=queue))


AGENT_STATUS_FILTERS = ("", liveness.OFFLINE, LaunchAgent.KILLED, LaunchAgent.POLLING, LaunchAgent.RUNNING)


def _agents_listed(user: User, entity_name: str, status: str, seen_since: datetime | None) -> QuerySet[LaunchAgent]:
    """The agents of the user's entities (of one of them when entity_name is given) in a derived status
    (AGENT_STATUS_FILTERS; "" for any). seen_since: liveness.offline_cutoff, the moment of the read."""
    # A semi-join on the user's memberships: no entity row is read to count them (the page's order joins it).
    agents = LaunchAgent.objects.filter(entity_id__in=member_entity_ids(user))
    if entity_name:
        agents = agents.filter(entity__name=entity_name)
    if status == liveness.OFFLINE:
        agents = agents.filter(last_seen_at__lt=seen_since).exclude(reported_status=LaunchAgent.KILLED)
    elif status == LaunchAgent.KILLED:
        agents = agents.filter(reported_status=LaunchAgent.KILLED)
    elif status in (LaunchAgent.POLLING, LaunchAgent.RUNNING):
        agents = agents.filter(liveness.live_agent_q(seen_since=seen_since), reported_status=status)
    return agents


def _agent_count_sql(conn, *, user_id, status, entity_name="", seen_since=None):
    return compiled.count_sql(_agents_listed(User(pk=user_id), entity_name, status, seen_since), conn)


# What the Agents page's rows read of an agent (web's agent_rows tag, liveness.agent_status, AgentRow.slots);
# the rest, and the entity's other fields, load only if read.
AGENT_ROW_FIELDS = (
    "name",
    "hostname",
    "version",
    "config",
    "reported_status",
    "stop_requested",
    "started_at",
    "last_seen_at",
    "entity__name",
)


def _agent_page_sql(conn, *, user_id, status, limit, offset, entity_name="", seen_since=None):
    user = User(pk=user_id)
    agents = (
        _agents_listed(user, entity_name, status, seen_since)
        .select_related("entity")
        .only(*AGENT_ROW_FIELDS)
        .annotate(controlled=agent_controlled(user))
        .order_by("entity__name", "-started_at", "id")
    )
    return compiled.paged(compiled.select_instances(agents, conn), limit, offset)


def _agent_statements(build, **extra: type) -> dict[tuple[bool, str], compiled.Statement]:
    """One statement per filter shape (whether an entity is chosen, which status), each with the parameters
    that shape binds."""
    statements = {}
    for by_entity in (False, True):
        for status in AGENT_STATUS_FILTERS:
            parameters: dict[str, type] = {"user_id": int, **extra}
            if by_entity:
                parameters["entity_name"] = str
            if status in (liveness.OFFLINE, LaunchAgent.POLLING, LaunchAgent.RUNNING):
                parameters["seen_since"] = datetime
            statements[by_entity, status] = compiled.Statement(functools.partial(build, status=status), **parameters)
    return statements


_AGENT_COUNTS = _agent_statements(_agent_count_sql)
_AGENT_PAGES = _agent_statements(_agent_page_sql, limit=int, offset=int)


class AgentList:
    """The on-call Agents page's agents, for a Paginator: count() and slices, in one query each, ordered by
    entity, newest first. Each agent has its entity and `controlled` (whether the user may stop or delete it,
    services.agents_controlled_by); agent_rows_in_context adds the rest. The page refreshes every 3 s for
    whoever has it open, so both reads are statements compiled once per connection and filter shape
    (core/compiled.py): building and compiling them with the ORM cost several times their SQL."""

    def __init__(self, *, user: User, entity_name: str = "", status: str = "") -> None:
        status = status if status in AGENT_STATUS_FILTERS else ""
        self.shape = (bool(entity_name), status)
        self.values: dict[str, Any] = {
            "user_id": user.pk,
            "entity_name": entity_name,
            "seen_since": liveness.offline_cutoff(),
        }

    def count(self) -> int:
        return _AGENT_COUNTS[self.shape].rows(**self.values)[0][0]

    def __getitem__(self, index: slice) -> list[LaunchAgent]:
        limit, offset = _limit_offset(index, "AgentList")
        return _AGENT_PAGES[self.shape].rows(**self.values, limit=limit, offset=offset)


# The unserved list counts a queue's waiting items up to this many and shows more as "1,000+": the Agents
# page refreshes every 3 s, and the exact depth of a queue nobody serves changes nothing on call.
UNSERVED_COUNT_UP_TO = 1000


def _unserved_sql(conn, *, user_id, entity_name="", seen_since, expired_before, limit):
    waiting = _waiting_items_of_outer_queue(expired_before)
    live = _live_agents_of_outer_queue(seen_since)
    # Only what the list shows (names, resource, waiting count): no live count (none by definition), and no
    # configuration decoded per queue.
    queues = (
        _listed_queues(User(pk=user_id), entity_name, "")
        .filter(Exists(waiting), ~Exists(live))
        .annotate(queued_count=_count_up_to(waiting, UNSERVED_COUNT_UP_TO))
        .select_related("entity")
        .only("name", "resource", "entity__name")
        .order_by(*QUEUE_SORTS["entity"])
    )
    text, params, to_instance = compiled.select_instances(queues, conn)
    return f"{text} LIMIT %s", (*params, limit), to_instance


_UNSERVED = {
    by_entity: compiled.Statement(
        _unserved_sql,
        user_id=int,
        seen_since=datetime,
        expired_before=datetime,
        limit=int,
        **({"entity_name": str} if by_entity else {}),
    )
    for by_entity in (False, True)
}


def unserved_queues(*, user: User, entity_name: str = "", limit: int) -> list[RunQueue]:
    """The first `limit` queues, by entity and name, with waiting items and no live agent: what the on-call
    engineer must fix first; each with its queued_count, counted up to UNSERVED_COUNT_UP_TO + 1. Filtered
    with EXISTS rather than on the two counts, so that PostgreSQL stops at the first waiting item and the
    first live agent, and the list stops at the rows it needs (filtering on the counts counted every queue
    of every entity: 2 s at 10,000 queues). A statement compiled once per connection, as the Agents page
    refreshes every 3 s (AgentList)."""
    now = timezone.now()
    return _UNSERVED[bool(entity_name)].rows(
        user_id=user.pk,
        entity_name=entity_name,
        seen_since=liveness.offline_cutoff(now),
        expired_before=liveness.lease_expired_before(now),
        limit=limit,
    )


def items_for_queue(queue: RunQueue) -> QuerySet[RunQueueItem]:
    """A queue's items, newest first, with the agent that took each one: one query per page."""
    return queue.items.select_related("agent").order_by("-created_at", "-id")


def _queue_items_page_sql(conn, *, queue_id, limit, offset):
    items = items_for_queue(RunQueue(pk=queue_id)).select_related("created_by")
    return compiled.paged(compiled.select_instances(items, conn), limit, offset)


_QUEUE_ITEMS_COUNT = compiled.Statement(
    lambda conn, queue_id: compiled.count_sql(RunQueueItem.objects.filter(queue_id=queue_id), conn), queue_id=int
)
_QUEUE_ITEMS_PAGE = compiled.Statement(_queue_items_page_sql, queue_id=int, limit=int, offset=int)


class QueueItems:
    """A queue's items for the Overview's Paginator (items_for_queue with who launched each): count() and
    slices, each a statement compiled once per connection, as the Overview refreshes while it is open."""

    def __init__(self, queue: RunQueue) -> None:
        self.queue = queue

    def count(self) -> int:
        return _QUEUE_ITEMS_COUNT.rows(queue_id=self.queue.pk)[0][0]

    def __getitem__(self, index: slice) -> list[RunQueueItem]:
        limit, offset = _limit_offset(index, "QueueItems")
        items = _QUEUE_ITEMS_PAGE.rows(queue_id=self.queue.pk, limit=limit, offset=offset)
        for item in items:
            item.queue = self.queue  # the page's queue: no query to read it back
        return items


def _waiting_positions_sql(conn, *, prioritized, queue_id, expired_before, cap, ids):
    names = liveness.pop_order(prioritized)
    ranked = (
        RunQueueItem.objects.filter(liveness.waiting_q(expired_before=expired_before), queue_id=queue_id)
        .order_by(*names)
        .annotate(position=Window(RowNumber(), order_by=[F(name).asc() for name in names]))
        .values("id", "position")
    )
    # Ranked first, then narrowed to the page's items: a filter on the same query would rank the page's
    # items among themselves only. The cap is a parameter (the ORM writes a slice's LIMIT into the SQL).
    text, params, _ = compiled.select_sql(ranked, conn)
    marks = ", ".join(["%s"] * len(ids))
    sql = f"SELECT ranked.id, ranked.position FROM ({text} LIMIT %s) ranked WHERE ranked.id IN ({marks})"
    return sql, (*params, cap, *ids), None


_WAITING_POSITIONS = {
    prioritized: compiled.IdsStatement(
        functools.partial(_waiting_positions_sql, prioritized=prioritized),
        queue_id=int,
        expired_before=datetime,
        cap=int,
    )
    for prioritized in (False, True)
}


def waiting_positions(queue: RunQueue, item_ids: Iterable[int]) -> dict[int, int]:
    """{item id: its place in the order agents take them (1 = next)} for those of item_ids still waiting
    among the first OVERVIEW_POSITIONS_MAX in that order, in one query whatever the queue's depth. The order
    is liveness.pop_order, the rule item_pop uses; the pop index serves it in order, so the query stops
    after that many rows instead of ranking every waiting item."""
    ids = list(item_ids)
    if not ids:
        return {}
    rows = _WAITING_POSITIONS[queue.is_prioritized].rows(
        ids, queue_id=queue.pk, expired_before=liveness.lease_expired_before(), cap=limits.OVERVIEW_POSITIONS_MAX
    )
    return dict(rows)


def agent_for_user(*, user: User, agent_id: int) -> tuple[AgentRow, Membership] | None:
    """An agent with its derived status and the user's membership in its entity; None for outsiders."""
    agent = LaunchAgent.objects.select_related("entity", "created_by").filter(pk=agent_id).first()
    if agent is None:
        return None
    membership = Membership.objects.filter(user=user, entity_id=agent.entity_id).first()
    if membership is None:
        return None
    return agent_rows([agent])[0], membership


@dataclass(frozen=True)
class StatusEntry:
    """One entry of an agent's status timeline: a reported change, or the derived Offline (derived=True)."""

    status: str
    at: datetime
    derived: bool = False

    @property
    def label(self) -> str:
        return liveness.STATUS_LABELS[self.status]


@dataclass(frozen=True)
class AgentDetail:
    """The agent page: the agent with its derived status, the user's membership in its entity, its queues,
    its status timeline (newest first) and the newest items it took with their derived status."""

    row: AgentRow
    membership: Membership
    queues: list[RunQueue]
    timeline: list[StatusEntry]
    items: "list[ItemRow]"


AGENT_PAGE_LIMIT = 50  # timeline entries and items shown on the agent page


def agent_detail(*, user: User, agent_id: int, limit: int = AGENT_PAGE_LIMIT) -> AgentDetail | None:
    """An agent's page for a member of its entity; None for outsiders and unknown ids. Seven queries at most,
    whatever the number of status changes and items (agent, membership, queues, timeline, items, and the
    items' status: live agents and runs)."""
    found = agent_for_user(user=user, agent_id=agent_id)
    if found is None:
        return None
    row, membership = found
    agent = row.agent
    now = timezone.now()
    timeline = [StatusEntry(c.status, c.at) for c in agent.status_changes.order_by("-at", "-id")[:limit]]
    if (offline_at := liveness.offline_since(agent, now)) is not None:
        timeline.insert(0, StatusEntry(liveness.OFFLINE, offline_at, derived=True))
    items = agent.items.select_related("queue__entity", "created_by").order_by("-created_at", "-id")[:limit]
    return AgentDetail(
        row=row,
        membership=membership,
        queues=list(agent.queues.select_related("entity").order_by("name")),
        timeline=timeline,
        items=with_item_status(list(items)),
    )


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
    # For an item that ended badly, read only by with_details: the end of its run's console output, and the
    # end of the first file the agent attached (its error.log: stage, message, traceback).
    console_tail: str = ""
    error_file: RunFile | None = None
    error_tail: str = ""

    @property
    def status_label(self) -> str:
        return self.status.label

    @property
    def ended_badly(self) -> bool:
        return self.status in (ItemStatus.FAILED, ItemStatus.CRASHED, ItemStatus.KILLED)


def _live_agents_of_queues_sql(conn, *, seen_since, ids):
    """(queue id, agent id, reported status, config) of the live agents polling these queues."""
    agents = LaunchAgent.objects.filter(liveness.live_agent_q(seen_since=seen_since), queues__in=ids)
    return compiled.select_sql(agents.values_list("queues", "pk", "reported_status", "config"), conn)


# Read for every page of items (a queue's Overview and its refresh, the Launch page's expanded rows).
_LIVE_AGENTS_OF_QUEUES = compiled.IdsStatement(_live_agents_of_queues_sql, seen_since=datetime)


def with_item_status(items: list[RunQueueItem]) -> list[ItemRow]:
    """Each item's run, status and reason, for items of any queues, in three queries whatever their number."""
    if not items:
        return []
    queue_ids = sorted({item.queue_id for item in items})
    now = timezone.now()
    live = _LIVE_AGENTS_OF_QUEUES.rows(queue_ids, seen_since=liveness.offline_cutoff(now))
    # Only running agents with more than one slot need their running jobs counted (two more queries).
    multi_slot = {
        pk for _, pk, status, config in live if status == LaunchAgent.RUNNING and liveness.agent_slots(config) != 1
    }
    running = agent_running_counts(multi_slot)
    runs = _runs_of(items)
    rows = []
    for item in items:
        spec = item.run_spec or {}
        run = _run_of(item, runs)
        on_queue = [(pk, status, config) for queue_id, pk, status, config in live if queue_id == item.queue_id]
        status, reason = liveness.item_status(
            item,
            run=run,
            live_agents=len(on_queue),
            busy_agents=sum(liveness.agent_is_full(st, config, running.get(pk)) for pk, st, config in on_queue),
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


# How much of a failed run's console and of an agent's error file a row shows inline (the item page more).
ROW_TAIL_LINES = 8


def console_tails(run_ids: Iterable[int], lines: int) -> dict[int, str]:
    """The last `lines` console lines of each run (their text, without the client's timestamps), in one query
    whatever the number of runs."""
    ids = set(run_ids)
    if not ids:
        return {}
    ranked = (
        RunStreamLine.objects.filter(run_id__in=ids, file=RunStreamLine.OUTPUT)
        .annotate(back=Window(RowNumber(), partition_by=[F("run_id")], order_by=F("line").desc()))
        .filter(back__lte=lines)
        .order_by("run_id", "line")
        .values_list("run_id", "text")
    )
    tails: dict[int, list[str]] = {}
    for run_id, text in ranked:
        tails.setdefault(run_id, []).append(run_selectors.console_line_parts(text)[2])
    return {run_id: "\n".join(found) for run_id, found in tails.items()}


def with_details(rows: list[ItemRow], lines: int = ROW_TAIL_LINES) -> list[ItemRow]:
    """Rows of items that ended badly with what explains it inline: the run's console tail (one query) and
    the agent's error file with its tail (one query, and one read of each file from storage)."""
    bad = [row for row in rows if row.ended_badly]
    if not bad:
        return rows
    tails = console_tails((row.run.pk for row in bad if row.run is not None), lines)
    wanted = {row.item.pk: list(row.item.error_file_paths or []) for row in bad if row.item.error_file_paths}
    files: dict[tuple[int, str], RunFile] = {}
    if wanted:
        entity_ids = {row.item.queue.entity_id for row in bad}
        names = {name for found in wanted.values() for name in found}
        for found in RunFile.objects.filter(run__project__entity_id__in=entity_ids, name__in=names).select_related(
            "run__project"
        ):
            files[(found.run.project.entity_id, found.name)] = found
    detailed = []
    for row in rows:
        if row.ended_badly:
            attached = next(
                (
                    files[(row.item.queue.entity_id, name)]
                    for name in wanted.get(row.item.pk, [])
                    if (row.item.queue.entity_id, name) in files
                ),
                None,
            )
            error_tail = "\n".join(error_file_tail(attached).splitlines()[-lines:]) if attached is not None else ""
            row = replace(
                row,
                console_tail=tails.get(row.run.pk, "") if row.run is not None else "",
                error_file=attached,
                error_tail=error_tail,
            )
        detailed.append(row)
    return detailed


def run_status_for(run: Run, now: datetime | None = None) -> tuple[RunState, str]:
    """A run's state and reason as the queue pages show it, for pages about the run itself (the run page):
    with what its agent says when an agent launched it (the claimed item naming it). One query."""
    item = (
        RunQueueItem.objects.filter(
            queue__entity_id=run.project.entity_id,
            state=RunQueueItem.CLAIMED,
            associated_run_id=run.name,
            run_spec__project=run.project.name,
        )
        .select_related("agent")
        .first()
    )
    if item is None:
        return run_status(run, now)
    lost = liveness.agent_lost_reason(item.agent if item.agent_id else None, now)
    return run_status(run, now, lost=lost, launched=True)


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
    """A queue's newest items with their status and, for those that ended badly, why (with_details), in a
    fixed number of queries whatever the number."""
    return with_details(with_item_status(list(items_for_queue(queue).select_related("created_by")[:limit])))


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
    """The end of an attached log, as text: where a traceback's cause is. A carriage return that ends no line
    is dropped: wandb's local runners append one to every read of the process's output that holds none, so
    a line that arrived in two reads ("FileNotFoundError", ": no dataset") would show as two."""
    with run_files.open_file(file.storage_key) as handle:
        if file.size > ERROR_FILE_TAIL_BYTES:
            handle.seek(file.size - ERROR_FILE_TAIL_BYTES)
        text = handle.read(ERROR_FILE_TAIL_BYTES).decode("utf-8", errors="replace")
    return text.replace("\r\n", "\n").replace("\r", "")


# --- a project's runs, with the queue item that launched each (the project page) ---------------------------

RUN_TABLE_STATES = ["running", "finished", "failed", "killed", "crashed"]


def _launching_items(project: Project) -> QuerySet[RunQueueItem]:
    """Items whose run went to this project, for a run named OuterRef("name"): how a run knows its job and
    queue (the item's runSpec names both; the run itself does not)."""
    return RunQueueItem.objects.filter(
        queue__entity_id=project.entity_id, run_spec__project=project.name, associated_run_id=OuterRef("name")
    ).exclude(associated_run_id="")  # said outright, so that PostgreSQL may use the partial index item_by_run


def project_run_table(
    project: Project,
    *,
    state: str = "",
    tag: str = "",
    job: str = "",
    queue: str = "",
    text: str = "",
    order: str = "-created_at",
) -> QuerySet[Run]:
    """The project page's runs: its filters become W&B filters (the rule api.runs() uses, run_filters.py) plus
    the job and queue of the item that launched each run; any column sorts, a summary metric included.
    Raises ValidationError for an order or filter that cannot be read."""
    conditions: list[dict] = []
    if state:
        conditions.append({"state": state})
    if tag:
        conditions.append({"tags": {"$in": [tag]}})
    if text:
        pattern = "(?i)" + re.escape(text[:200])
        conditions.append({"$or": [{"display_name": {"$regex": pattern}}, {"name": {"$regex": pattern}}]})
    # history_keys holds per-key stats (large for runs with many metrics) and the table shows none of it
    runs = Run.objects.filter(project=project).select_related("created_by").defer("history_keys", "notes")
    runs = run_filters.filter_runs(runs, {"$and": conditions} if conditions else None)
    if job:
        runs = runs.filter(Exists(_launching_items(project).filter(run_spec__job__icontains=job[:200])))
    if queue:
        runs = runs.filter(Exists(_launching_items(project).filter(queue__name=queue)))
    latest = _launching_items(project).order_by("-created_at", "-id")
    extra = {
        "job": Subquery(latest.values(job_text=KeyTextTransform("job", "run_spec"))[:1]),
        "queue": Subquery(latest.values("queue__name")[:1]),
        "user": F("created_by__username"),
        "tags": F("tags"),
    }
    return run_filters.order_runs(runs, order, extra=extra)


@dataclass
class RunRow:
    """A run as the project and job pages list it: its derived state and the item that launched it; a page
    adds the config and summary cells it shows."""

    run: Run
    state: str
    state_label: str
    item: RunQueueItem | None
    job: str
    runtime: float
    config_cells: list = field(default_factory=list)
    summary_cells: list = field(default_factory=list)

    @property
    def queue(self) -> RunQueue | None:
        return self.item.queue if self.item else None


def run_rows(project: Project, runs: list[Run]) -> list[RunRow]:
    """Each run with its state (projects/states.py) and launching item: one query whatever their number."""
    names = [run.name for run in runs]
    items: dict[str, RunQueueItem] = {}
    if names:
        found = (
            RunQueueItem.objects.filter(
                queue__entity_id=project.entity_id, run_spec__project=project.name, associated_run_id__in=names
            )
            .exclude(associated_run_id="")  # the partial index item_by_run
            .select_related("queue__entity")
            .order_by("created_at", "id")
        )
        items = {item.associated_run_id: item for item in found}  # the latest item wins
    now = timezone.now()
    rows = []
    for run in runs:
        state = run_state(run, now)
        item = items.get(run.name)
        end = run.completed_at or run.heartbeat_at or run.created_at
        rows.append(
            RunRow(
                run=run,
                state=str(state.value),
                state_label=str(state.label),
                item=item,
                job=((item.run_spec or {}).get("job") or "") if item else "",
                runtime=max(0.0, (end - run.created_at).total_seconds()),
            )
        )
    return rows


def project_queues(project: Project) -> list[str]:
    """Names of the entity's queues, for the project page's queue filter (one query)."""
    return list(RunQueue.objects.filter(entity_id=project.entity_id).order_by("name").values_list("name", flat=True))


JOB_RUNS_SHOWN = 50


@dataclass(frozen=True)
class JobRunRow:
    """A run made from a job: the launch (an ItemRow), the version or alias it was launched with, and the
    run's own state (projects/states.py) and summary."""

    launch: ItemRow
    version: str
    state: str
    state_label: str

    @property
    def run(self) -> Run:
        assert self.launch.run is not None
        return self.launch.run

    @property
    def summary(self) -> dict:
        return self.run.summary if isinstance(self.run.summary, dict) else {}


def job_runs(*, user: User, job_path: str, limit: int = JOB_RUNS_SHOWN) -> list[JobRunRow]:
    """The newest launches of one job ("entity/project/name", any version or alias) whose run reported, in
    queues the user can see: the job page's Runs tab. Four queries whatever their number."""
    items = (
        RunQueueItem.objects.filter(queue__entity__memberships__user=user, run_spec__job__startswith=f"{job_path}:")
        .exclude(associated_run_id="")
        .select_related("queue__entity", "created_by")
        .order_by("-created_at", "-id")[:limit]
    )
    now = timezone.now()
    rows = []
    for launch in with_item_status(list(items)):
        if launch.run is None:
            continue
        state = run_state(launch.run, now)
        version = str((launch.item.run_spec or {}).get("job", "")).rpartition(":")[2]
        rows.append(JobRunRow(launch=launch, version=version, state=str(state.value), state_label=str(state.label)))
    return rows


def item_for_run(run: Run) -> ItemRow | None:
    """The queue item that launched a run, with its derived status and reason (what the queue pages show),
    or None for a run started by hand: at most four queries."""
    items = (
        RunQueueItem.objects.filter(queue__entity_id=run.project.entity_id, associated_run_id=run.name)
        .select_related("queue__entity", "agent", "created_by")
        .order_by("-created_at", "-id")[:10]
    )
    found = [item for item in items if ((item.run_spec or {}).get("project") or "") == run.project.name]
    return with_item_status(found[:1])[0] if found else None
