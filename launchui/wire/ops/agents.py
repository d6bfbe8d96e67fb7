"""The launch agent's registration, its per-tick read and its status reports.

LaunchAgent and updateLaunchAgent must always answer (the agent crashes otherwise): an agent that was
deleted in the browser is told to stop instead of being sent an error.
"""

from django.core.exceptions import PermissionDenied, ValidationError

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


@query("launchAgent")
def launch_agent(ctx: Context, id=None, **_):
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
    services.agent_touch(agent_id=agent.pk, reported_by=ctx.user)  # a teammate's read is no sign of life
    queue_ids = list(agent.queues.through.objects.filter(launchagent_id=agent.pk).values_list("runqueue_id", flat=True))
    return agent_data(agent, queue_ids)


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
