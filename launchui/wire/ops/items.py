"""What an agent does with queue items: pop, ack, fail, warn."""

from launchui.launch import services
from launchui.launch.models import LaunchAgent, RunQueueItem
from launchui.wire import ids
from launchui.wire.graphql import Context, WireError, mutation
from launchui.wire.ops import common


@mutation("popFromRunQueue")
def pop_from_run_queue(ctx: Context, input: dict):
    queue_name = input.get("queueName")
    entity_name = input.get("entityName") or common.default_entity_name(ctx)
    if input.get("launchAgentId") and isinstance(queue_name, str):
        # The agent's poll (the common case): its contact and its queue in one statement, then the pop.
        polling = ids.decode(input["launchAgentId"], "LaunchAgent")
        queue = services.agent_poll_contact_at(
            agent_id=polling, entity_name=entity_name, queue_name=queue_name, reported_by=ctx.user
        )
        if queue is not None:
            return _popped(services.item_pop(queue=queue, agent_id=polling))
    # Otherwise find out what is off (or pop for no agent): the queue, then the agent's contact.
    queue = None
    if isinstance(queue_name, str):
        queue = services.member_queues(entity_name=entity_name, queue_name=queue_name, user_id=ctx.user.pk).first()
    if queue is None:
        entity = common.entity(ctx, input.get("entityName"))  # says "not a member" when that is why
        raise WireError(f"Queue {input.get('queueName')!r} not found in {entity.name}.")
    agent_pk = None
    if input.get("launchAgentId"):
        agent_pk = ids.decode(input["launchAgentId"], "LaunchAgent")
        try:
            if not services.agent_poll_contact(agent_id=agent_pk, entity_id=queue.entity_id, reported_by=ctx.user):
                return None  # it is being stopped: hand it nothing new
        except LaunchAgent.DoesNotExist:
            raise WireError("Unknown launch agent.") from None
    return _popped(services.item_pop(queue=queue, agent_id=agent_pk))


def _popped(item: RunQueueItem | None) -> dict | None:
    if item is None:
        return None
    # runSpec must be a JSON object here, not a string: the agent calls .get() on it.
    return {"runQueueItemId": ids.encode("RunQueueItem", item.pk), "runSpec": item.run_spec}


def _visible_item(ctx: Context, item_id) -> RunQueueItem:
    item = (
        RunQueueItem.objects.filter(pk=ids.decode(item_id, "RunQueueItem"), queue__entity__memberships__user=ctx.user)
        .only("id", "state", "agent_id")
        .first()
    )
    if item is None:
        raise WireError("Run queue item not found.")
    return item


@mutation("ackRunQueueItem")
def ack_run_queue_item(ctx: Context, input: dict):
    item = _visible_item(ctx, input.get("runQueueItemId"))
    return {"success": services.item_ack(item=item, run_name=input.get("runName") or "")}


@mutation("failRunQueueItem")
def fail_run_queue_item(ctx: Context, input: dict):
    item = _visible_item(ctx, input.get("runQueueItemId"))
    services.item_fail(
        item=item,
        message=input.get("message") or "",
        stage=input.get("stage") or "agent",
        file_paths=input.get("filePaths"),
    )
    return {"success": True}


@mutation("updateRunQueueItemWarning")
def update_run_queue_item_warning(ctx: Context, input: dict):
    item = _visible_item(ctx, input.get("runQueueItemId"))
    services.item_warn(
        item=item, message=input.get("message") or "", stage=input.get("stage") or "", file_paths=input.get("filePaths")
    )
    return {"success": True}
