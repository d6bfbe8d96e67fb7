"""Domain rows in the shapes the wandb client reads. Nested values that cost a query are callables,
run only when the client selects them."""

import json
from typing import overload

from launchui.accounts.models import Entity
from launchui.launch import liveness
from launchui.launch.models import LAUNCH_PROJECT, LaunchAgent, ResourceConfig, RunQueue, RunQueueItem
from launchui.projects.models import Project, Run
from launchui.wire import ids
from launchui.wire.ops.common import iso


def project_data(entity: Entity, name: str, project: Project | None, *, ctx) -> dict:
    from launchui.wire.ops import runs

    data = {
        "__typename": "Project",
        "id": ids.encode("Project", project.pk) if project else ids.encode("Project", 0),
        "name": name,
        "entityName": entity.name,
        "entity": {"id": ids.encode("Entity", entity.pk), "name": entity.name},
        "description": "",
        "access": "PRIVATE",
        "createdAt": iso(project.created_at) if project else None,
        "isBenchmark": False,
        "readOnly": False,
        "runQueues": lambda **_: [
            queue_data(q) for q in RunQueue.objects.filter(entity=entity).select_related("created_by")
        ],
        "runQueue": lambda name=None, **_: _maybe(
            queue_data, RunQueue.objects.filter(entity=entity, name=name).select_related("created_by").first()
        ),
        "run": lambda name=None, **_: runs.run_data(runs.find_run(project, name)) if project else None,
    }
    from launchui.wire.ops.artifacts import project_artifact_fields

    data.update(project_artifact_fields(ctx, project))
    return data


def _maybe(fn, value):
    return fn(value) if value is not None else None


def queue_data(queue: RunQueue) -> dict:
    return {
        "__typename": "RunQueue",
        "id": ids.encode("RunQueue", queue.pk),
        "name": queue.name,
        "createdBy": queue.created_by_id,
        "access": queue.access,
        "prioritizationMode": queue.prioritization_mode,
        "defaultResourceConfigID": ids.encode("RunQueue", queue.pk),
        "externalLinks": json.dumps({"links": queue.external_links}),
        "createdAt": iso(queue.created_at),
        "updatedAt": iso(queue.updated_at),
        "defaultResourceConfig": lambda **_: queue_resource_config(queue),
        "runQueueItems": lambda first=None, **_: {
            "edges": [
                {"node": item_data(item)}
                for item in queue.items.order_by("-created_at", "-id")[: min(int(first or 100), 1000)]
            ]
        },
        "runQueueItem": lambda id=None, **_: _maybe(
            item_data, queue.items.filter(pk=ids.decode(id, "RunQueueItem")).first()
        ),
    }


def resource_config_data(config_id: str, resource: str, config: dict, template_variables: list[dict]) -> dict:
    """A default resource config as the client reads it: config wrapped as {"resource_args": {resource: ...}},
    each variable's schema a JSON string."""
    return {
        "id": config_id,
        "resource": resource,
        "config": config,
        "templateVariables": [{"name": v["name"], "schema": json.dumps(v["schema"])} for v in template_variables],
    }


def queue_resource_config(queue: RunQueue) -> dict:
    return resource_config_data(
        ids.encode("RunQueue", queue.pk), queue.resource, queue.config, queue.template_variables
    )


def pending_resource_config(config: ResourceConfig) -> dict:
    """A config made by createDefaultResourceConfig before its queue; stored unwrapped, answered wrapped."""
    return resource_config_data(
        ids.encode("DefaultResourceConfig", config.pk),
        config.resource,
        {"resource_args": {config.resource: config.config}},
        config.template_variables,
    )


def item_data(item: RunQueueItem) -> dict:
    return {
        "__typename": "RunQueueItem",
        "id": ids.encode("RunQueueItem", item.pk),
        "state": item.state,
        "associatedRunId": item.associated_run_id or None,
        "runSpec": item.run_spec,
        "priority": item.priority,
        "createdAt": iso(item.created_at),
        "updatedAt": iso(item.updated_at),
        "launchAgentId": ids.encode("LaunchAgent", item.agent_id) if item.agent_id else None,
        "error": {"message": item.error_message, "stage": item.error_stage, "filePaths": item.error_file_paths}
        if item.state == RunQueueItem.FAILED
        else None,
        "warnings": [
            {"message": w.get("message"), "stage": w.get("stage"), "filePaths": w.get("file_paths")}
            for w in item.warnings
        ],
    }


def agent_data(agent: LaunchAgent, queue_ids: list[int]) -> dict:
    return {
        "__typename": "LaunchAgent",
        "id": ids.encode("LaunchAgent", agent.pk),
        "name": agent.name,
        "runQueues": [ids.encode("RunQueue", pk) for pk in queue_ids],
        "hostname": agent.hostname,
        "agentStatus": liveness.agent_status(agent),
        "stopPolling": agent.stop_requested,
        "heartbeatAt": iso(agent.last_seen_at),
        "createdAt": iso(agent.started_at),
        "version": agent.version,
        "agentConfig": json.dumps(agent.config),
    }


@overload
def run_data(run: Run) -> dict: ...
@overload
def run_data(run: None) -> None: ...
def run_data(run: Run | None) -> dict | None:
    if run is None:
        return None
    project = run.project
    user = run.created_by
    return {
        "__typename": "Run",
        "id": ids.encode("Run", run.pk),
        "projectId": str(project.pk),
        "name": run.name,
        "displayName": run.display_name or run.name,
        "state": liveness.run_state(run),
        "stopped": run.stop_requested,
        "config": json.dumps(run.config),
        "jobType": run.job_type or None,
        "tags": [],
        "group": None,
        "sweepName": None,
        "commit": None,
        "readOnly": False,
        "description": None,
        "notes": None,
        "host": run.host,
        "createdAt": iso(run.created_at),
        "heartbeatAt": iso(run.heartbeat_at),
        "systemMetrics": "{}",
        "summaryMetrics": "{}",
        "historyLineCount": 0,
        "historyKeys": None,
        "user": {"name": user.username, "username": user.username} if user else None,
        "project": {
            "id": ids.encode("Project", project.pk),
            "name": project.name,
            "entity": {"id": ids.encode("Entity", project.entity_id), "name": project.entity.name},
        },
    }


__all__ = [
    "LAUNCH_PROJECT",
    "agent_data",
    "item_data",
    "project_data",
    "queue_data",
    "pending_resource_config",
    "queue_resource_config",
    "resource_config_data",
    "run_data",
]
