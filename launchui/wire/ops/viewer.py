"""Who the key belongs to, what the server offers, and entities."""

from django.core.exceptions import ValidationError

from launchui.accounts.models import Entity
from launchui.launch.models import ResourceConfig, RunQueue
from launchui.projects.models import Project
from launchui.projects.services import project_get_or_create
from launchui.wire import ids
from launchui.wire.graphql import Context, WireError, mutation, query
from launchui.wire.ops import common
from launchui.wire.ops.serializers import pending_resource_config, project_data, queue_resource_config


@query("viewer")
def viewer(ctx: Context):
    user = ctx.user
    return {
        "__typename": "User",
        "id": ids.encode("User", user.pk),
        "entity": common.default_entity_name(ctx),
        "username": user.username,
        "name": user.get_full_name() or user.username,
        "email": user.email,
        "admin": user.is_superuser,
        "flags": "{}",
        "teams": lambda **_: {
            "edges": [
                {"node": {"name": name}}
                for name in Entity.objects.filter(is_team=True, memberships__user=user).values_list("name", flat=True)
            ]
        },
    }


# The client versions launchui speaks to; `wandb verify` compares its own version with them.
CLI_VERSION_INFO = {"min_cli_version": "0.31.0", "max_cli_version": "0.31.0"}


@query("serverInfo")
def server_info(ctx: Context):
    # No optional features: the client then uses its plain, legacy paths, which launchui serves.
    return {"features": [], "cliVersionInfo": CLI_VERSION_INFO, "latestLocalVersionInfo": None}


@query("entity")
def entity(ctx: Context, name: str | None = None, **_):
    try:
        found = common.entity(ctx, name)
    except WireError:
        return None
    return {
        "__typename": "Entity",
        "id": ids.encode("Entity", found.pk),
        "name": found.name,
        "isTeam": found.is_team,
        "organization": None,
        "defaultResourceConfig": lambda id=None, **_: default_resource_config(ctx, found, id),
    }


def default_resource_config(ctx: Context, entity: Entity, config_id):
    pk = _config_pk(config_id)
    if pk[0] == "RunQueue":
        queue = RunQueue.objects.filter(pk=pk[1], entity=entity).first()
        return queue_resource_config(queue) if queue else None
    pending = ResourceConfig.objects.filter(entity=entity, pk=pk[1]).first()
    return pending_resource_config(pending) if pending else None


def _config_pk(config_id) -> tuple[str, int]:
    for kind in ("RunQueue", "DefaultResourceConfig"):
        try:
            return kind, ids.decode(config_id, kind)
        except WireError:
            continue
    raise WireError(f"{config_id!r} is not a resource config id.")


@mutation("upsertModel")
def upsert_model(ctx: Context, input: dict):
    """Creates a project on demand (the public API's create_project)."""
    entity = common.entity(ctx, input.get("entityName"))
    name = input.get("name") or ""
    existed = Project.objects.filter(entity=entity, name=name).exists()
    try:
        project = project_get_or_create(entity=entity, name=name)
    except ValidationError as exc:
        raise common.wire_error(exc) from None
    data = project_data(project.entity, project.name, project, ctx=ctx)
    return {"project": data, "model": data, "inserted": not existed}
