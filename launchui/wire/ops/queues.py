"""Queues, their configs and their items, as wandb.Api() and `wandb launch` drive them."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from launchui.core import user_data
from launchui.launch import queue_config, selectors, services
from launchui.launch.models import LAUNCH_PROJECT, ResourceConfig, RunQueue, RunQueueItem
from launchui.projects.models import Project
from launchui.wire import ids
from launchui.wire.graphql import Context, WireError, mutation, query
from launchui.wire.ops import common
from launchui.wire.ops.serializers import project_data


@query("project")
def project(ctx: Context, name: str | None = None, entityName: str | None = None, **_):
    entity = common.entity(ctx, entityName)
    if name is None:  # every project has a name: no name, no project
        return None
    found = Project.objects.filter(entity=entity, name=name).first()
    if found is None and name != LAUNCH_PROJECT:
        return None
    return project_data(entity, name, found, ctx=ctx)


def _unwrap(resource: str, config) -> dict:
    config = config or {}
    if isinstance(config, dict) and isinstance(config.get("resource_args"), dict):
        return config["resource_args"].get(resource, {})
    return config


@mutation("createDefaultResourceConfig")
def create_default_resource_config(ctx: Context, input: dict):
    entity = common.admin_entity(ctx, input.get("entityName"), "create queues")
    resource = input.get("resource") or ""
    config = common.json_input(input.get("config"), "config")
    variables = common.json_input(input.get("templateVariables"), "templateVariables")
    try:
        queue_config.validate_resource(resource)
        body = _unwrap(resource, config)
        user_data.require_object(body, "The resource config")
        checked = queue_config.validate_template_variables(variables)
    except ValidationError as exc:
        raise common.wire_error(exc) from None
    row = services.resource_config_create(
        entity=entity, resource=resource, config=body, template_variables=checked, created_by=ctx.user
    )
    return {"defaultResourceConfigID": ids.encode("DefaultResourceConfig", row.pk), "success": True}


@mutation("createRunQueue")
def create_run_queue(ctx: Context, input: dict):
    entity = common.admin_entity(ctx, input.get("entityName"), "create queues")
    resource, config, variables = "local-container", {}, []
    if config_id := input.get("defaultResourceConfigID"):
        row = ResourceConfig.objects.filter(entity=entity, pk=ids.decode(config_id, "DefaultResourceConfig")).first()
        if row is None:
            raise WireError(f"Resource config {config_id} not found in {entity.name}.")
        resource, config, variables = row.resource, row.config, row.template_variables
    try:
        queue = services.queue_create(
            entity=entity,
            name=input.get("queueName") or "",
            resource=resource,
            config=config,
            template_variables=variables,
            prioritization_mode=input.get("prioritizationMode") or RunQueue.PRIORITIZATION_DISABLED,
            access=(input.get("access") or RunQueue.ACCESS_PROJECT).upper(),
            created_by=ctx.user,
        )
    except ValidationError as exc:
        raise common.wire_error(exc) from None
    return {"success": True, "queueID": ids.encode("RunQueue", queue.pk)}


@mutation("upsertRunQueue")
def upsert_run_queue(ctx: Context, input: dict):
    entity = common.admin_entity(ctx, input.get("entityName"), "create or change queues")
    resource = input.get("resourceType") or ""
    config = _unwrap(resource, common.json_input(input.get("resourceConfig"), "resourceConfig"))
    variables = common.json_input(input.get("templateVariables"), "templateVariables")
    links = common.json_input(input.get("externalLinks"), "externalLinks")
    mode = (input.get("prioritizationMode") or RunQueue.PRIORITIZATION_DISABLED).upper()
    try:
        with transaction.atomic():
            queue = RunQueue.objects.select_for_update().filter(entity=entity, name=input.get("queueName")).first()
            if queue is None:
                services.queue_create(
                    entity=entity,
                    name=input.get("queueName") or "",
                    resource=resource,
                    config=config,
                    template_variables=variables,
                    external_links=links,
                    prioritization_mode=mode,
                    created_by=ctx.user,
                )
            else:
                services.queue_update(
                    queue=queue,
                    resource=resource,
                    config=config,
                    template_variables=variables,
                    external_links=links,
                    prioritization_mode=mode,
                )
    except ValidationError as exc:
        raise common.wire_error(exc) from None
    return {"success": True, "configSchemaValidationErrors": [], "clientMutationId": input.get("clientMutationId")}


NO_SUCH_QUEUE = "Queue not found, or this API key's user is not a member of its entity."


def _visible_queue(ctx: Context, queue_id) -> RunQueue:
    """A queue by id, scoped to the key's user's entities: a foreign queue and a missing one answer alike."""
    queue = selectors.queue_by_id_for_user(user=ctx.user, queue_id=ids.decode(queue_id, "RunQueue"))
    if queue is None:
        raise WireError(NO_SUCH_QUEUE)
    return queue


@mutation("deleteRunQueues")
def delete_run_queues(ctx: Context, input: dict):
    pks = [ids.decode(queue_id, "RunQueue") for queue_id in input.get("queueIDs") or []]
    queues = list(selectors.visible_queues(ctx.user).filter(pk__in=pks).select_related("entity"))
    if len(queues) != len(set(pks)):
        raise WireError(NO_SUCH_QUEUE)
    for queue in queues:
        common.admin_entity(ctx, queue.entity.name, "delete queues")
    with transaction.atomic():
        for queue in queues:
            services.queue_delete(queue=queue)
    return {"success": True, "clientMutationId": input.get("clientMutationId")}


@mutation("deleteFromRunQueue")
def delete_from_run_queue(ctx: Context, input: dict):
    queue = _visible_queue(ctx, input.get("queueID"))
    item = queue.items.filter(pk=ids.decode(input.get("runQueueItemId"), "RunQueueItem")).first()
    if item is None:
        raise WireError("That item is not in this queue.")
    try:
        services.item_cancel(user=ctx.user, item=item)  # the browser's Cancel rule
    except (ValidationError, PermissionDenied) as exc:
        raise common.wire_error(exc) from None
    return {"success": True, "clientMutationId": input.get("clientMutationId")}


def _push(ctx: Context, queue: RunQueue, run_spec, priority, template_values) -> RunQueueItem:
    spec = common.object_input(run_spec, "runSpec")
    values = common.object_input(template_values, "templateVariableValues", optional=True)
    try:
        priority = int(priority) if priority is not None else None
    except (TypeError, ValueError):
        raise WireError(f"Priority {priority!r} is not a whole number.") from None
    try:
        return services.launch(
            queue=queue, run_spec=spec, priority=priority, template_variable_values=values, created_by=ctx.user
        )
    except ValidationError as exc:
        raise common.wire_error(exc) from None


@mutation("pushToRunQueueByName")
def push_to_run_queue_by_name(ctx: Context, input: dict):
    entity = common.entity(ctx, input.get("entityName"))
    queue = RunQueue.objects.filter(entity=entity, name=input.get("queueName")).select_related("entity").first()
    if queue is None:
        raise WireError(f"Queue {input.get('queueName')!r} not found in {entity.name}.")
    item = _push(ctx, queue, input.get("runSpec"), input.get("priority"), input.get("templateVariableValues"))
    # Here runSpec goes back as a JSON string: the client json.loads it.
    return {"runQueueItemId": ids.encode("RunQueueItem", item.pk), "runSpec": common.json.dumps(item.run_spec)}


@mutation("pushToRunQueue")
def push_to_run_queue(ctx: Context, input: dict):
    queue = _visible_queue(ctx, input.get("queueID"))
    item = _push(ctx, queue, input.get("runSpec"), input.get("priority"), input.get("templateVariableValues"))
    return {"runQueueItemId": ids.encode("RunQueueItem", item.pk)}
