"""Domain rows in the shapes the wandb client reads. Nested values that cost a query are callables,
run only when the client selects them."""

import json
import mimetypes
from typing import Any, overload

from launchui.accounts.models import Entity
from launchui.core import limits
from launchui.launch import liveness
from launchui.launch.models import LAUNCH_PROJECT, LaunchAgent, ResourceConfig, RunQueue, RunQueueItem
from launchui.projects import run_files as run_file_urls
from launchui.projects import selectors as run_selectors
from launchui.projects import services as run_services
from launchui.projects import states
from launchui.projects.models import Project, Run, RunStreamLine
from launchui.wire import ids
from launchui.wire.graphql import WireError
from launchui.wire.ops.common import iso, offset_cursor


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
        "run": lambda name=None, **_: runs.run_data(runs.find_run(project, name), ctx) if project else None,
        "internalId": str(project.pk) if project else None,
        "runCount": lambda filters=None, **_: runs.run_count(project, filters),
        "runs": lambda filters=None, after=None, first=None, order=None, **_: runs.runs_page(
            ctx, project, filters, after, first, order
        ),
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
def run_data(run: Run, ctx: Any = None, facts: dict | None = None) -> dict: ...
@overload
def run_data(run: None, ctx: Any = None, facts: dict | None = None) -> None: ...
def run_data(run: Run | None, ctx: Any = None, facts: dict | None = None) -> dict | None:
    """A run as the client reads it; its files (signed URLs for the key's user) only when ctx is given.
    In a list, `facts` (projects.selectors.run_stream_facts, one batch per page) replaces the per-run reads."""
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
        "state": states.wire_state(run),
        # Only RunStoppedStatus reads it: the agent every 10 s per job, and the run's own stop check.
        "stopped": lambda **_: run_services.run_stop_checked(run=run),
        "config": json.dumps(run.config),
        "jobType": run.job_type or None,
        "tags": run.tags,
        "group": run.group or None,
        "sweepName": run.sweep_name or None,
        "commit": run.commit or None,
        "readOnly": False,
        "description": run.notes or None,
        "notes": run.notes or None,
        "host": run.host,
        "program": run.program or None,
        "createdAt": iso(run.created_at),
        "heartbeatAt": iso(run.heartbeat_at),
        "exitcode": run.exit_code,
        # Read one by one when the client selects them; each costs one query, never one per row.
        "systemMetrics": lambda **_: json.dumps(run_selectors.run_latest_events(run)),
        "summaryMetrics": json.dumps(run.summary),
        "historyLineCount": lambda **_: run_selectors.run_history_line_count(run),
        "historyKeys": lambda **_: run_selectors.run_history_keys(run),
        **(
            {
                "systemMetrics": json.dumps(facts["events"]),
                "historyLineCount": facts["count"],
                "historyKeys": {"keys": run_selectors.history_keys(run), "lastStep": facts["last_step"]},
            }
            if facts
            else {}
        ),
        "history": lambda samples=None, minStep=None, maxStep=None, **_: history_lines(run, samples, minStep, maxStep),
        "events": lambda samples=None, **_: run_selectors.json_lines(
            run_selectors.run_history_sample(run, samples, file=RunStreamLine.EVENTS)
        ),
        "sampledHistory": lambda specs=None, **_: sampled_history(run, specs),
        "logLineCount": lambda **_: run_selectors.run_console_line_count(run),
        "fileCount": lambda **_: run_selectors.run_files(run).count(),
        "files": lambda names=None, after=None, first=None, pattern=None, **_: run_files_page(
            ctx, run, names, after, first, pattern
        ),
        "logLines": lambda first=None, after=None, **_: log_lines_page(run, first, after),
        "outputArtifacts": lambda after=None, first=None, **_: _run_artifacts(ctx, run, False, after, first),
        "inputArtifacts": lambda after=None, first=None, **_: _run_artifacts(ctx, run, True, after, first),
        "user": {"name": user.username, "username": user.username} if user else None,
        "project": {
            "id": ids.encode("Project", project.pk),
            "name": project.name,
            "entity": {"id": ids.encode("Entity", project.entity_id), "name": project.entity.name},
        },
    }


def _run_artifacts(ctx, run: Run, used: bool, after, first) -> dict | None:
    from launchui.wire.ops.artifacts import run_artifacts  # the artifact shapes live with their ops

    return run_artifacts(ctx, run, used=used, after=after, first=first)


def history_lines(run: Run, samples, min_step, max_step) -> list[str]:
    """`history(samples:)` sampled; with minStep/maxStep, the rows in that step range (a page of a scan)."""
    if min_step is None and max_step is None:
        return run_selectors.json_lines(run_selectors.run_history_sample(run, samples))
    low = min_step if isinstance(min_step, int) and not isinstance(min_step, bool) else 0
    high = max_step if isinstance(max_step, int) and not isinstance(max_step, bool) else None
    return run_selectors.run_history_page_lines(
        run, min_step=low, max_step=high, limit=run_selectors.clamp_samples(samples, limits.GRAPHQL_MAX_LIST_PAGE)
    )


def run_files_page(ctx, run: Run, names, after, first, pattern) -> dict | None:
    if ctx is None:
        return None
    start = offset_cursor(after)
    size = first if isinstance(first, int) and not isinstance(first, bool) and first > 0 else 50
    files = list(run_selectors.run_files(run, names=names, pattern=pattern)[start : start + size + 1])
    edges = []
    for position, file in enumerate(files[:size], start=start + 1):
        url = run_file_urls.download_url(
            ctx.base_url, run_id=run.pk, name=file.name, user_id=ctx.user.pk, entity_id=run.project.entity_id
        )
        edges.append(
            {
                "cursor": str(position),
                "node": {
                    "__typename": "File",
                    "id": ids.encode("File", file.pk),
                    "name": file.name,
                    "url": url,
                    "directUrl": url,
                    "sizeBytes": file.size,
                    "mimetype": mimetypes.guess_type(file.name)[0],
                    "updatedAt": iso(file.updated_at),
                    "md5": file.md5,
                },
            }
        )
    return {
        "edges": edges,
        "pageInfo": {"endCursor": edges[-1]["cursor"] if edges else None, "hasNextPage": len(files) > size},
    }


def log_lines_page(run: Run, first, after) -> dict:
    """The console (output.log) in pages of `first` lines; the cursor is the last line number sent."""
    size = first if isinstance(first, int) and not isinstance(first, bool) and first > 0 else 1000
    size = min(size, limits.GRAPHQL_MAX_LIST_PAGE)
    start = int(after) if isinstance(after, str) and after.isascii() and after.isdigit() and len(after) < 10 else -1
    lines = run_selectors.run_console_lines(run, after=start, limit=size + 1)
    page = lines[:size]
    edges = []
    for number, text in page:
        level, timestamp, content = run_selectors.console_line_parts(text)
        edges.append(
            {
                "cursor": str(number),
                "node": {"number": number, "timestamp": timestamp, "level": level, "label": "", "line": content},
            }
        )
    return {
        "edges": edges,
        "pageInfo": {"endCursor": edges[-1]["cursor"] if edges else after, "hasNextPage": len(lines) > size},
    }


def sampled_history(run: Run, specs) -> list[list[dict]]:
    """One sampled list per spec ({"keys": [x_axis, *keys], "samples": N}), as the client reads them."""
    if not isinstance(specs, list) or len(specs) > limits.RUN_HISTORY_MAX_SPECS:
        raise WireError(f"specs must be a list of at most {limits.RUN_HISTORY_MAX_SPECS} JSON objects.")
    answers = []
    for spec in specs:
        try:
            spec = json.loads(spec) if isinstance(spec, str) else spec
        except ValueError:
            raise WireError("Each spec must be a JSON object.") from None
        keys = spec.get("keys") if isinstance(spec, dict) else None
        if not (isinstance(keys, list) and 0 < len(keys) <= 100 and all(isinstance(k, str) for k in keys)):
            raise WireError("Each spec needs keys: a list of 1 to 100 history keys.")
        answers.append(run_selectors.run_sampled_history(run, keys, spec.get("samples")))
    return answers


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
