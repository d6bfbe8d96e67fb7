"""Writes for queues, agents and items, and launch(), which needs queues, projects and jobs (launch sits
above them all). The browser and the wire protocol both call these."""

import functools
import secrets
import string
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from launchui.accounts.models import Entity, Membership
from launchui.artifacts.services import resolve
from launchui.core import compiled, user_data
from launchui.launch import liveness, queue_config
from launchui.launch.models import AgentStatusChange, LaunchAgent, ResourceConfig, RunQueue, RunQueueItem
from launchui.projects.models import Project
from launchui.projects.services import project_get_or_create, validate_project_name


def _queue_fields(
    *,
    resource: str,
    config: dict | str | None,
    template_variables: Any,
    external_links: Any,
    prioritization_mode: str,
    access: str,
) -> dict:
    """Validated queue fields, with errors keyed by field so forms can show them beside the input."""
    errors: dict[str, list[str]] = {}
    fields: dict[str, Any] = {}

    def check(field, fn, *args):
        try:
            return fn(*args)
        except ValidationError as exc:
            errors.setdefault(field, []).extend(exc.messages)

    fields["resource"] = check("resource", queue_config.validate_resource, resource)
    if isinstance(config, str):
        fields["config_text"] = config
        body = check("config", queue_config.parse_config_text, config)
    else:
        body = config or {}
        if not isinstance(body, dict):
            errors.setdefault("config", []).append("The configuration must be a mapping.")
            body = {}
        elif check("config", user_data.check_value, body, "The configuration") is None:
            body = {}  # too big or too deep: refused above, and not walked again below
        fields["config_text"] = queue_config.json.dumps(body, indent=2) if body else ""
    # Accept a config already wrapped as {"resource_args": {resource: ...}} (what wandb.Api() sends).
    if (
        isinstance(body, dict)
        and set(body) == {"resource_args"}
        and isinstance(body["resource_args"], dict)
        and resource in body["resource_args"]
    ):
        body = body["resource_args"][resource]
    fields["config"] = {"resource_args": {resource: body or {}}}
    fields["template_variables"] = (
        check("template_variables", queue_config.validate_template_variables, template_variables) or []
    )
    fields["external_links"] = check("external_links", queue_config.validate_external_links, external_links) or []
    if prioritization_mode not in dict(RunQueue.PRIORITIZATION_MODES):
        errors.setdefault("prioritization_mode", []).append("Prioritization is DISABLED or V0.")
    fields["prioritization_mode"] = prioritization_mode
    if access not in dict(RunQueue.ACCESS_TYPES):
        errors.setdefault("access", []).append("Access is PROJECT or USER.")
    fields["access"] = access
    if not errors and body is not None:
        declared = {v["name"] for v in fields["template_variables"]}
        if missing := [n for n in queue_config.template_names_in(body) if n not in declared]:
            errors.setdefault("template_variables", []).append(
                f"The config uses {{{{{missing[0]}}}}} but no template variable of that name is declared."
            )
    if errors:
        raise ValidationError(errors)
    return fields


def queue_create(
    *,
    entity: Entity,
    name: str,
    resource: str,
    config: dict | str | None = None,
    template_variables: Any = None,
    external_links: Any = None,
    prioritization_mode: str = RunQueue.PRIORITIZATION_DISABLED,
    access: str = RunQueue.ACCESS_PROJECT,
    created_by: User | None,
) -> RunQueue:
    try:
        name = queue_config.validate_queue_name(name)
    except ValidationError as exc:
        raise ValidationError({"name": exc.messages}) from None
    fields = _queue_fields(
        resource=resource,
        config=config,
        template_variables=template_variables,
        external_links=external_links,
        prioritization_mode=prioritization_mode,
        access=access,
    )
    if RunQueue.objects.filter(entity=entity, name=name).exists():
        raise ValidationError({"name": [f"{entity.name} already has a queue named {name}."]})
    try:
        with transaction.atomic():
            return RunQueue.objects.create(entity=entity, name=name, created_by=created_by, **fields)
    except IntegrityError:  # a concurrent create of the same name
        raise ValidationError({"name": [f"{entity.name} already has a queue named {name}."]}) from None


def resource_config_create(
    *, entity: Entity, resource: str, config: dict, template_variables: list, created_by: User | None
) -> ResourceConfig:
    """A resource config made before its queue: wandb.Api().create_run_queue makes the config first, then the
    queue that names it. The caller has checked the resource and the template variables."""
    return ResourceConfig.objects.create(
        entity=entity, resource=resource, config=config, template_variables=template_variables, created_by=created_by
    )


def queue_update(
    *,
    queue: RunQueue,
    config: dict | str | None,
    template_variables: Any = None,
    external_links: Any = None,
    prioritization_mode: str | None = None,
    resource: str | None = None,
) -> RunQueue:
    fields = _queue_fields(
        resource=resource or queue.resource,
        config=config,
        template_variables=template_variables,
        external_links=external_links,
        prioritization_mode=prioritization_mode or queue.prioritization_mode,
        access=queue.access,
    )
    for key, value in fields.items():
        setattr(queue, key, value)
    queue.save(update_fields=[*fields, "updated_at"])
    return queue


def queue_delete(*, queue: RunQueue) -> None:
    queue.delete()


# --- agents ---------------------------------------------------------------------------------------

_NAME_ALPHABET = string.ascii_lowercase + string.digits


def _agent_name() -> str:
    # Becomes the id of the agent's hidden run, so it must avoid :;,#?/' (wandb's run id rule).
    return "agent-" + "".join(secrets.choice(_NAME_ALPHABET) for _ in range(10))


def agent_register(
    *, entity: Entity, queues: list[RunQueue], hostname: str, config: dict, version: str, created_by: User | None
) -> LaunchAgent:
    """A new agent, Polling at once: its first status update only comes ~20 s later."""
    if not queues:
        raise ValidationError("An agent must poll at least one queue.")
    if any(q.entity_id != entity.pk for q in queues):
        raise ValidationError("An agent polls queues of its own entity only.")
    config = {k: v for k, v in (config or {}).items() if k != "project"}
    with transaction.atomic():
        agent = LaunchAgent.objects.create(
            entity=entity,
            name=_agent_name(),
            hostname=(hostname or "")[:255],
            version=(version or "")[:64],
            config=config,
            reported_status=LaunchAgent.POLLING,
            created_by=created_by,
            last_seen_at=timezone.now(),
        )
        agent.queues.set(queues)
        AgentStatusChange.objects.create(agent=agent, status=agent.reported_status, at=agent.last_seen_at)
    return agent


def agents_controlled_by(user: User) -> QuerySet[LaunchAgent]:
    """The one rule, for the browser (Stop, Delete) and the wire (updateLaunchAgent, the agent's contact):
    a user controls the agents registered with their own key, and every agent of an entity they administer.
    A member may run an agent and report its status, but not mark a teammate's agent Killed."""
    # One correlated EXISTS on the user's membership of the agent's entity (member, and creator or admin):
    # with no join in the outer query an UPDATE through it stays a plain UPDATE ... WHERE (the agent's hot path).
    return LaunchAgent.objects.filter(agent_controlled(user))


def agent_controlled(user: User) -> Exists:
    """agents_controlled_by's rule as an expression on the outer agent: whether `user` controls it. Lists
    annotate their agents with it (an index probe per row shown), rather than asking which of every agent
    the user controls."""
    controls = Membership.objects.filter(entity_id=OuterRef("entity_id"), user=user).filter(
        Q(role=Membership.ADMIN) | Q(user_id=OuterRef("created_by_id"))
    )
    return Exists(controls)


def agent_require_control(*, user: User, agent: LaunchAgent) -> None:
    if not agents_controlled_by(user).filter(pk=agent.pk).exists():
        raise PermissionDenied(
            f"Only the user who started agent {agent.name} or an admin of "
            f"{agent.entity.name} can stop, delete or report for it."
        )


def _agents(agent_id: int, reported_by: User | None):
    agents = agents_controlled_by(reported_by) if reported_by is not None else LaunchAgent.objects
    return agents.filter(pk=agent_id)


# The agent's poll loop runs these UPDATEs thousands of times a minute: each is the ORM code of the rule
# (agents_controlled_by), compiled once per connection (launchui/core/compiled.py), not once per call.
def _touch_sql(conn, *, agent_id, user_id, now, extra=None, returning=False):
    agents = _agents(agent_id, User(pk=user_id))
    if extra is not None:
        agents = agents.filter(extra)
    text, params, _ = compiled.update_sql(agents, {"last_seen_at": now}, conn)
    if not returning:
        return text, params, None
    columns, _, convert = compiled.model_columns(LaunchAgent, conn)
    return f"{text} RETURNING {columns}", params, convert


_TOUCH = compiled.Statement(_touch_sql, agent_id=int, user_id=int, now=datetime)
_TOUCH_RETURNING = compiled.Statement(
    functools.partial(_touch_sql, returning=True), agent_id=int, user_id=int, now=datetime
)
_POLL_CONTACT = compiled.Statement(
    lambda conn, entity_id, **values: _touch_sql(conn, **values, extra=Q(entity_id=entity_id, stop_requested=False)),
    agent_id=int,
    user_id=int,
    entity_id=int,
    now=datetime,
)
_REPORT_UNCHANGED = compiled.Statement(
    lambda conn, status, **values: _touch_sql(
        conn, **values, extra=Q(reported_status=status) | Q(reported_status=LaunchAgent.KILLED)
    ),
    agent_id=int,
    user_id=int,
    status=str,
    now=datetime,
)


def member_queues(*, entity_name: str, queue_name: str, user_id: int) -> QuerySet[RunQueue]:
    """The queue of that name in that entity, when the user is a member of the entity (the wire's pop)."""
    return RunQueue.objects.filter(
        entity__name=entity_name, name=queue_name, entity__memberships__user_id=user_id
    ).order_by("pk")


def _poll_contact_at_sql(conn, *, agent_id, user_id, entity_name, queue_name, now):
    queues = member_queues(entity_name=entity_name, queue_name=queue_name, user_id=user_id)
    in_queue_entity = Q(stop_requested=False, entity_id=Subquery(queues.values("entity_id")[:1]))
    text, params, _ = _touch_sql(conn, agent_id=agent_id, user_id=user_id, now=now, extra=in_queue_entity)
    id_sql, id_params, _ = compiled.select_sql(queues.values("pk")[:1], conn)
    mode_sql, mode_params, _ = compiled.select_sql(queues.values("prioritization_mode")[:1], conn)
    return f"{text} RETURNING ({id_sql}), ({mode_sql})", (*params, *id_params, *mode_params), None


_POLL_CONTACT_AT = compiled.Statement(
    _poll_contact_at_sql, agent_id=int, user_id=int, entity_name=str, queue_name=str, now=datetime
)


def agent_poll_contact_at(*, agent_id: int, entity_name: str, queue_name: str, reported_by: User) -> RunQueue | None:
    """agent_poll_contact for the queue of that name among the reporter's entities (member_queues), found in
    the same one UPDATE ... RETURNING: the queue (its id and prioritization) when the agent may be handed
    work from it. None when anything is off (no such queue for this user; an unknown, foreign or stopping
    agent): nothing was written, and the caller finds out which with member_queues and agent_poll_contact."""
    rows = _POLL_CONTACT_AT.rows(
        agent_id=agent_id, user_id=reported_by.pk, entity_name=entity_name, queue_name=queue_name, now=timezone.now()
    )
    if not rows or rows[0][0] is None:
        return None
    return RunQueue.from_db("default", ["id", "prioritization_mode"], rows[0])


def agent_touch(*, agent_id: int, reported_by: User | None = None) -> int:
    """Record contact: one UPDATE. Returns the number of agents touched (0 when unknown or not controlled)."""
    if reported_by is None:
        return _agents(agent_id, None).update(last_seen_at=timezone.now())
    return _TOUCH.execute(agent_id=agent_id, user_id=reported_by.pk, now=timezone.now())


def agent_touch_returning(*, agent_id: int, reported_by: User) -> LaunchAgent | None:
    """Record contact as agent_touch does, in the same one UPDATE, and return the agent as stored after it;
    None when it is unknown or not the reporter's to run (nothing was written then)."""
    rows = _TOUCH_RETURNING.rows(agent_id=agent_id, user_id=reported_by.pk, now=timezone.now())
    return compiled.instance(LaunchAgent, rows[0]) if rows else None


def agent_poll_contact(*, agent_id: int, entity_id: int, reported_by: User) -> bool:
    """A polling agent's contact, in one UPDATE scoped like agent_touch and to the queue's entity. True: it
    may be handed work; False: it is being stopped. LaunchAgent.DoesNotExist: unknown, or not the reporter's
    to run (a teammate's agent)."""
    if _POLL_CONTACT.execute(agent_id=agent_id, user_id=reported_by.pk, entity_id=entity_id, now=timezone.now()):
        return True
    agents = _agents(agent_id, reported_by).filter(entity_id=entity_id)
    if agents.exists():
        return False
    raise LaunchAgent.DoesNotExist(f"No launch agent {agent_id} that this user runs in this entity.")


def agent_update_status(*, agent_id: int, status: str, reported_by: User | None = None) -> int:
    """Scoped by agents_controlled_by; 0 when the agent is unknown or not the reporter's. One UPDATE when the
    status is the stored one; a change costs a second UPDATE and the INSERT of its AgentStatusChange."""
    if status not in dict(LaunchAgent.REPORTED_STATUSES):
        raise ValidationError(f"Unknown agent status {status!r}: use POLLING, RUNNING or KILLED.")
    # KILLED is final. wandb 0.31's agent can report POLLING after it: when a job ends while the agent shuts down,
    # the job's thread says "back to polling" at the same time as the main loop's KILLED, and may land last.
    # A status that differs from the stored one is also recorded (AgentStatusChange, the agent page's timeline).
    # The agent reports every few seconds, almost always what is stored: that case stays one UPDATE.
    now = timezone.now()
    unchanged = Q(reported_status=status) | Q(reported_status=LaunchAgent.KILLED)
    if reported_by is not None:  # the agent's report: this UPDATE, compiled once (_REPORT_UNCHANGED)
        touched = _REPORT_UNCHANGED.execute(agent_id=agent_id, user_id=reported_by.pk, status=status, now=now)
    else:
        touched = _agents(agent_id, None).filter(unchanged).update(last_seen_at=now)
    if touched:
        return touched
    agents = _agents(agent_id, reported_by)
    with transaction.atomic():
        # Each UPDATE re-checks its condition on the row it locks, so under concurrent reports every change
        # is recorded once, in the order the rows were written.
        if changed := agents.exclude(unchanged).update(reported_status=status, last_seen_at=now):
            AgentStatusChange.objects.create(agent_id=agent_id, status=status, at=now)
            return changed
    # Unknown or not the reporter's (0), or changed to this status or KILLED by a concurrent report since the
    # first statement: contact only.
    return agents.update(last_seen_at=now)


def agent_request_stop(*, agent: LaunchAgent) -> None:
    """The agent reads the flag on its next poll, reports KILLED and exits."""
    LaunchAgent.objects.filter(pk=agent.pk).update(stop_requested=True)
    agent.stop_requested = True


def agent_delete(*, agent: LaunchAgent) -> None:
    if liveness.is_live(agent):
        raise ValidationError("Only Killed or Offline agents can be deleted: stop it first.")
    agent.delete()


# --- queue items ----------------------------------------------------------------------------------


def item_push(
    *,
    queue: RunQueue,
    run_spec: dict,
    priority: int | None = None,
    template_variable_values: dict | None = None,
    created_by: User | None,
) -> RunQueueItem:
    if not isinstance(run_spec, dict):
        raise ValidationError("The run spec must be a JSON object.")
    user_data.check_value(run_spec, "The run spec")
    if priority is None or not queue.is_prioritized:
        priority = RunQueueItem.MEDIUM
    if priority not in dict(RunQueueItem.PRIORITIES):
        raise ValidationError("Priority is 0 (critical), 1 (high), 2 (medium) or 3 (low).")
    values = queue_config.resolve_variable_values(queue.template_variables, template_variable_values)
    spec = dict(run_spec)
    if not spec.get("resource"):
        spec["resource"] = queue.resource
    # The agent receives the queue's config with template variables filled, merged under the item's own.
    queue_args = queue_config.fill_template(queue.config.get("resource_args", {}), values)
    item_args = spec.get("resource_args") or {}
    spec["resource_args"] = _deep_merge(queue_args, item_args) if isinstance(item_args, dict) else queue_args
    return RunQueueItem.objects.create(
        queue=queue, run_spec=spec, priority=priority, template_variable_values=values, created_by=created_by
    )


def _deep_merge(base: dict, override: dict) -> dict:
    """The queue's config with an item's own resource args laid over it, key by key."""
    merged = dict(base)
    for key, value in override.items():
        merged[key] = (
            _deep_merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
        )
    return merged


def item_pop(*, queue: RunQueue, agent_id: int | None) -> RunQueueItem | None:
    """Lease the next item, or None. Safe under concurrent pollers: no item is handed out twice."""
    if connection.vendor == "postgresql":
        return _item_pop_one_statement(queue=queue, agent_id=agent_id)
    order = liveness.pop_order(queue.is_prioritized)
    # SQLite has no row locks: a compare-and-set update, retried when another poller won the race.
    for _ in range(5):
        now = timezone.now()
        with transaction.atomic():
            item = (
                RunQueueItem.objects.select_for_update(skip_locked=True)
                .filter(liveness.waiting_q(now), queue=queue)
                .order_by(*order)
                .first()
            )
            if item is None:
                return None
            won = RunQueueItem.objects.filter(pk=item.pk, state=item.state, leased_at=item.leased_at).update(
                state=RunQueueItem.LEASED, leased_at=now, agent_id=agent_id, updated_at=now
            )
            if won:
                item.state, item.leased_at, item.agent_id, item.updated_at = RunQueueItem.LEASED, now, agent_id, now
                return item
    return None


def _pop_sql(conn, *, queue_id, expired_before, now, agent_id, prioritized):
    order = liveness.pop_order(prioritized)
    pick = RunQueueItem.objects.filter(liveness.waiting_q(expired_before=expired_before), queue_id=queue_id)
    pick_sql, pick_params, _ = compiled.select_sql(pick.order_by(*order).values("pk")[:1], conn)
    columns, _, convert = compiled.model_columns(RunQueueItem, conn)
    table = conn.ops.quote_name(RunQueueItem._meta.db_table)
    return (
        f"UPDATE {table} SET state = %s, leased_at = %s, agent_id = %s, updated_at = %s "
        f"WHERE id = ({pick_sql} FOR UPDATE SKIP LOCKED) RETURNING {columns}",
        (RunQueueItem.LEASED, now, agent_id, now, *pick_params),
        convert,
    )


_POP = {
    prioritized: compiled.Statement(
        functools.partial(_pop_sql, prioritized=prioritized),
        queue_id=int,
        expired_before=datetime,
        now=datetime,
        agent_id=int,
    )
    for prioritized in (False, True)
}


def _item_pop_one_statement(*, queue: RunQueue, agent_id: int | None) -> RunQueueItem | None:
    """PostgreSQL: one UPDATE that picks, locks (skipping rows other pollers hold), leases and returns the next
    item. The choice is compiled from liveness.waiting_q by the ORM (once per connection), so the waiting rule
    lives in one place."""
    now = timezone.now()
    rows = _POP[queue.is_prioritized].rows(
        queue_id=queue.pk, expired_before=liveness.lease_expired_before(now), now=now, agent_id=agent_id
    )
    return compiled.instance(RunQueueItem, rows[0]) if rows else None


def item_ack(*, item: RunQueueItem, run_name: str) -> bool:
    """LEASED -> CLAIMED with the run's name; False when another agent or an expired lease got there."""
    now = timezone.now()
    return bool(
        RunQueueItem.objects.filter(pk=item.pk, state=RunQueueItem.LEASED, agent_id=item.agent_id).update(
            state=RunQueueItem.CLAIMED, associated_run_id=(run_name or "")[:128], claimed_at=now, updated_at=now
        )
    )


def item_fail(*, item: RunQueueItem, message: str, stage: str, file_paths: list[str] | None) -> None:
    RunQueueItem.objects.filter(pk=item.pk).update(
        state=RunQueueItem.FAILED,
        error_message=message or "",
        error_stage=(stage or "agent")[:32],
        error_file_paths=list(file_paths or []),
        updated_at=timezone.now(),
    )


def item_warn(*, item: RunQueueItem, message: str, stage: str, file_paths: list[str] | None) -> None:
    with transaction.atomic():
        locked = RunQueueItem.objects.select_for_update().get(pk=item.pk)
        locked.warnings = [
            *locked.warnings,
            {
                "message": message,
                "stage": stage,
                "file_paths": list(file_paths or []),
                "at": timezone.now().isoformat(),
            },
        ]
        locked.save(update_fields=["warnings", "updated_at"])


def item_priority_set(*, user: User, item: RunQueueItem, priority: int) -> None:
    """Change a waiting item's priority in a prioritized queue, which moves it in the pop order. Admins of
    the queue's entity only (as for the queue's config); atomic: an item an agent leases meanwhile keeps its
    priority and the change is refused."""
    if priority not in dict(RunQueueItem.PRIORITIES):
        raise ValidationError({"priority": ["Priority is 0 (critical), 1 (high), 2 (medium) or 3 (low)."]})
    admin = Membership.objects.filter(entity_id=OuterRef("queue__entity_id"), user=user, role=Membership.ADMIN)
    changed = RunQueueItem.objects.filter(
        liveness.waiting_q(), Exists(admin), pk=item.pk, queue__prioritization_mode=RunQueue.PRIORITIZATION_V0
    ).update(priority=priority, updated_at=timezone.now())
    if changed:
        item.priority = priority
        return
    if not Membership.objects.filter(entity__run_queues__items=item.pk, user=user).exists():
        raise PermissionDenied(f"Item {item.pk} not found, or you are not a member of its entity.")
    if not Membership.objects.filter(entity__run_queues__items=item.pk, user=user, role=Membership.ADMIN).exists():
        raise PermissionDenied("Only admins of this entity change the priority of its queues' items.")
    if not RunQueue.objects.filter(items=item.pk, prioritization_mode=RunQueue.PRIORITIZATION_V0).exists():
        raise ValidationError({"priority": ["This queue is not prioritized: turn Prioritization on in its Config."]})
    raise ValidationError({"priority": [f"Item {item.pk} was taken by an agent meanwhile: its priority stays."]})


def item_cancel(*, user: User, item: RunQueueItem) -> None:
    """Take a waiting item out of its queue. The one rule for the browser's Cancel and the wire's
    deleteFromRunQueue: any member of the queue's entity may cancel a waiting item; nobody cancels an item
    an agent took (its run is stopped instead). Atomic: an item an agent leases meanwhile is not cancelled."""
    deleted, _ = RunQueueItem.objects.filter(
        liveness.waiting_q(), pk=item.pk, queue__entity__memberships__user=user
    ).delete()
    if deleted:
        return
    if not RunQueueItem.objects.filter(pk=item.pk, queue__entity__memberships__user=user).exists():
        raise PermissionDenied(f"Item {item.pk} not found, or you are not a member of its entity.")
    raise ValidationError(f"Item {item.pk} was taken by an agent meanwhile: stop its run instead.")


def launch_problems(
    *, queue: RunQueue, run_spec: dict, template_variable_values: dict | None = None, created_by: User
) -> dict[str, list[str]]:
    """Everything wrong with a launch, keyed by what it concerns (project, job, overrides, template_variables,
    run_config), all at once; nothing is written. launch() refuses when there is any; the Launch drawer also
    asks for them while its own fields have errors, so that a person sees every error in one go.

    W&B users' most common mistake is pushing one entity's job into another entity's queue, so the run's
    destination must be the queue's entity, and the job must exist and be visible to the launcher."""
    errors: dict[str, list[str]] = {}
    try:
        user_data.check_value(run_spec, "The run spec")
    except ValidationError as exc:
        return {"run_config": exc.messages}
    entity_name = queue.entity.name
    if run_spec.get("entity") and run_spec["entity"] != entity_name:
        errors["project"] = [
            f"Queue {entity_name}/{queue.name} runs jobs in projects of {entity_name}, "
            f"not {run_spec['entity']}: pick a project of {entity_name} or a queue of {run_spec['entity']}."
        ]
    try:
        validate_project_name(run_spec.get("project") or "")
    except ValidationError:
        errors.setdefault("project", []).append("Choose the destination project.")
    if job := run_spec.get("job"):
        parts = str(job).split("/")
        job_entity, job_project, job_name = parts if len(parts) == 3 else ("", "", "")
        visible = job_entity and Membership.objects.filter(user=created_by, entity__name=job_entity).exists()
        project = Project.objects.filter(entity__name=job_entity, name=job_project).first() if visible else None
        if project is None or resolve(project=project, name=job_name) is None:
            errors["job"] = [f"Job {job} not found, or you cannot see it (use entity/project/name:alias)."]
    if problem := _overrides_problem(run_spec.get("overrides")):
        errors["overrides"] = [problem]
    try:
        queue_config.resolve_variable_values(queue.template_variables, template_variable_values)
    except ValidationError as exc:
        errors["template_variables"] = exc.messages
    return errors


@transaction.atomic
def launch(
    *,
    queue: RunQueue,
    run_spec: dict,
    priority: int | None = None,
    template_variable_values: dict | None = None,
    created_by: User,
) -> RunQueueItem:
    """Put a job into a queue, as the browser's Launch drawer and `wandb launch --queue` both do; refused
    with every problem launch_problems finds."""
    spec = dict(run_spec)
    errors = launch_problems(
        queue=queue, run_spec=spec, template_variable_values=template_variable_values, created_by=created_by
    )
    if errors:
        raise ValidationError(errors)
    spec["entity"] = queue.entity.name
    # The author is whoever pushed: a runSpec's own "author" would let anyone sign as a teammate (and the
    # agent hands it to the run as WANDB_USERNAME).
    spec["author"] = created_by.username
    try:
        item = item_push(
            queue=queue,
            run_spec=spec,
            priority=priority,
            template_variable_values=template_variable_values,
            created_by=created_by,
        )
    except ValidationError as exc:
        raise ValidationError({"template_variables": exc.messages}) from None
    project_get_or_create(entity=queue.entity, name=spec.get("project") or "")
    return item


def _overrides_problem(overrides: Any) -> str | None:
    """The shape the agent and the item page read: {"args": [str], "entry_point": [str], "run_config": {}}."""
    if overrides is None:
        return None
    if not isinstance(overrides, dict):
        return "Overrides must be a JSON object."
    for key in ("args", "entry_point"):
        value = overrides.get(key)
        if value is not None and not (isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value)):
            return f"Overrides: {key} must be a list of words."
    if not isinstance(overrides.get("run_config") or {}, dict):
        return "Overrides: run_config must be a JSON object."
    return None
