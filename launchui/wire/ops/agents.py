"""The launch agent's registration, its per-tick read and its status reports.

LaunchAgent and updateLaunchAgent must always answer (the agent crashes otherwise): an agent that was
deleted in the browser is told to stop instead of being sent an error.
"""

from django.core.exceptions import PermissionDenied, ValidationError

from launchui.core import compiled
from launchui.launch import services
from launchui.launch.models import LaunchAgent, RunQueue
from launchui.wire import ids
from launchui.wire.graphql import Context, WireError, mutation, query
from launchui.wire.ops import common
from launchui.wire.ops.serializers import agent_data


def visible_agent(ctx: Context, agent_id) -> LaunchAgent | None:
    """The agent when the key's user is a member of its entity; None alike for a foreign or missing one."""
    pk = ids.decode(agent_id, "LaunchAgent")
    return LaunchAgent.objects.filter(pk=pk, entity__memberships__user=ctx.user).select_related("entity").first()


@mutation("createLaunchAgent")
def create_launch_agent(ctx: Context, input: dict):
    entity = common.entity(ctx, input.get("entityName"))
    wanted = [ids.decode(queue_id, "RunQueue") for queue_id in input.get("runQueues") or []]
    queues = list(RunQueue.objects.filter(pk__in=wanted, entity=entity))
    if len(queues) != len(set(wanted)) or not queues:
        raise WireError(f"Some of the requested queues do not exist in {entity.name}.")
    config = common.object_input(input.get("agentConfig"), "agentConfig", optional=True)
    try:
        agent = services.agent_register(
            entity=entity,
            queues=queues,
            hostname=input.get("hostname") or "",
            config=config,
            version=input.get("version") or "",
            created_by=ctx.user,
        )
    except ValidationError as exc:
        raise common.wire_error(exc) from None
    return {"launchAgentId": ids.encode("LaunchAgent", agent.pk), "success": True}


def _queue_ids_sql(conn, agent_id):
    through = LaunchAgent.queues.through
    return compiled.select_sql(through.objects.filter(launchagent_id=agent_id).values_list("runqueue_id"), conn)


_QUEUE_IDS = compiled.Statement(_queue_ids_sql, agent_id=int)  # compiled once per connection: the agent's hot path


@query("launchAgent")
def launch_agent(ctx: Context, id=None, **_):
    # The agent's own read (the common case): its contact, written and read back in one UPDATE ... RETURNING
    # scoped by control (which implies membership). Else a member's read of a teammate's agent (no contact
    # recorded: it is no sign of life), or a deleted or foreign one.
    agent = services.agent_touch_returning(agent_id=ids.decode(id, "LaunchAgent"), reported_by=ctx.user)
    if agent is not None:
        return agent_data(agent, [row[0] for row in _QUEUE_IDS.rows(agent_id=agent.pk)])
    agent = visible_agent(ctx, id)
    if agent is None:
        # Deleted (or never ours): tell it to stop rather than crash it.
        return {
            "__typename": "LaunchAgent",
            "id": id,
            "name": "deleted-agent",
            "runQueues": [],
            "hostname": "",
            "agentStatus": LaunchAgent.KILLED,
            "stopPolling": True,
            "heartbeatAt": None,
        }
    return agent_data(agent, [row[0] for row in _QUEUE_IDS.rows(agent_id=agent.pk)])


@mutation("updateLaunchAgent")
def update_launch_agent(ctx: Context, input: dict):
    agent_pk = ids.decode(input.get("launchAgentId"), "LaunchAgent")
    status = input.get("agentStatus")
    try:
        if status is None:
            updated = services.agent_touch(agent_id=agent_pk, reported_by=ctx.user)
        else:
            updated = services.agent_update_status(agent_id=agent_pk, status=status, reported_by=ctx.user)
        if not updated and (agent := visible_agent(ctx, input.get("launchAgentId"))) is not None:
            services.agent_require_control(user=ctx.user, agent=agent)  # a teammate's agent: refused, as Stop is
    except (ValidationError, PermissionDenied) as exc:
        raise common.wire_error(exc) from None
    # False for a deleted agent: it prints a warning and carries on until it reads stopPolling.
    return {"success": bool(updated)}
