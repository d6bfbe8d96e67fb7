"""The minimal run record: the hidden run an agent opens, runs that launched jobs open, and the
run-file stream that tells launchui a run is alive and how it ended."""

import json
import secrets
import string

from django.core.exceptions import ValidationError

from launchui.projects import selectors, services
from launchui.projects.models import Project, Run, RunStreamLine
from launchui.projects.services import DEFAULT_PROJECT
from launchui.wire import ids, inputs
from launchui.wire.graphql import Context, WireError, mutation, query
from launchui.wire.ops import common
from launchui.wire.ops.serializers import run_data

RUN_ID_ALPHABET = string.ascii_lowercase + string.digits


def find_run(project: Project | None, name: str | None) -> Run | None:
    if project is None or not name:
        return None
    return Run.objects.select_related("project__entity", "created_by").filter(project=project, name=name).first()


def _filters(filters):
    value = common.json_input(filters, "filters") if filters not in (None, "") else None
    return value


def run_count(project: Project | None, filters) -> int:
    if project is None:
        return 0
    try:
        return selectors.project_runs(project, filters=_filters(filters)).count()
    except ValidationError as exc:
        raise common.wire_error(exc) from None


def runs_page(ctx: Context, project: Project | None, filters, after, first, order) -> dict:
    """A page of the project's runs (api.runs), filtered and ordered in SQL; a fixed number of queries."""
    if project is None:
        return {"edges": [], "pageInfo": {"endCursor": None, "hasNextPage": False}}
    start = common.offset_cursor(after)
    size = first if isinstance(first, int) and first > 0 else 50
    try:
        found = list(selectors.project_runs(project, filters=_filters(filters), order=order)[start : start + size + 1])
    except ValidationError as exc:
        raise common.wire_error(exc) from None
    page = found[:size]
    facts = selectors.run_stream_facts([run.pk for run in page])
    edges = [
        {"cursor": str(position), "node": run_data(run, ctx, facts[run.pk])}
        for position, run in enumerate(page, start=start + 1)
    ]
    return {
        "edges": edges,
        "pageInfo": {"endCursor": edges[-1]["cursor"] if edges else None, "hasNextPage": len(found) > size},
    }


@query("models")
def models(ctx: Context, entityName: str | None = None, after=None, first=None, **_):
    """The entity's projects (api.projects), by name, in pages."""
    entity = common.entity(ctx, entityName)
    start = common.offset_cursor(after)
    size = first if isinstance(first, int) and first > 0 else 50
    found = list(Project.objects.filter(entity=entity).order_by("name")[start : start + size + 1])
    edges = [
        {
            "cursor": str(position),
            "node": {
                "__typename": "Project",
                "id": ids.encode("Project", project.pk),
                "name": project.name,
                "entityName": entity.name,
                "createdAt": common.iso(project.created_at),
                "isBenchmark": False,
                "user": None,
            },
        }
        for position, project in enumerate(found[:size], start=start + 1)
    ]
    return {
        "edges": edges,
        "pageInfo": {
            "__typename": "PageInfo",
            "endCursor": edges[-1]["cursor"] if edges else None,
            "hasNextPage": len(found) > size,
        },
    }


@query("model")
def model(ctx: Context, name: str | None = None, entityName: str | None = None, **_):
    """A project as `wandb.init(resume=...)` reads it (RunResumeStatus): the run's bucket, if it exists."""
    entity = common.entity(ctx, entityName)
    project_name = name or DEFAULT_PROJECT
    project = Project.objects.filter(entity=entity, name=project_name).first()

    def bucket(name=None, **_):
        run = find_run(project, name)
        return resume_data(ctx, run) if run is not None else None

    return {
        "__typename": "Project",
        "id": ids.encode("Project", project.pk if project else 0),
        "name": project_name,
        "entity": {"id": ids.encode("Entity", entity.pk), "name": entity.name},
        "bucket": bucket,
    }


def resume_data(ctx: Context, run: Run) -> dict:
    """The run and where each of its files carries on, so a resumed run appends to what it sent before."""
    facts = selectors.run_resume_facts(run)
    wandb_config = (run.config.get("_wandb") or {}).get("value") or {}
    tail = facts["tails"]
    next_line = facts["next_line"]
    return {
        **run_data(run, ctx),
        "historyLineCount": next_line[RunStreamLine.HISTORY],
        "eventsLineCount": next_line[RunStreamLine.EVENTS],
        "logLineCount": next_line[RunStreamLine.OUTPUT],
        # JSON lists of JSON lines, as the client reads them; its last history row gives the step to resume at.
        "historyTail": json.dumps([json.dumps(tail[RunStreamLine.HISTORY])] if RunStreamLine.HISTORY in tail else []),
        "eventsTail": json.dumps([json.dumps(tail[RunStreamLine.EVENTS])] if RunStreamLine.EVENTS in tail else []),
        "wandbConfig": lambda keys=None, **_: json.dumps(
            {k: wandb_config.get(k) for k in keys if isinstance(k, str)} if isinstance(keys, list) else wandb_config
        ),
    }


@mutation("upsertBucket")
def upsert_bucket(ctx: Context, input: dict):
    if input.get("id"):
        run = (
            Run.objects.select_related("project__entity")
            .filter(pk=ids.decode(input["id"], "Run"), project__entity__memberships__user=ctx.user)
            .first()
        )
        if run is None:
            raise WireError("Run not found.")
        project, name = run.project, run.name
    else:
        entity = common.entity(ctx, input.get("entityName"))
        try:
            project = services.project_get_or_create(entity=entity, name=input.get("modelName") or DEFAULT_PROJECT)
        except ValidationError as exc:
            raise common.wire_error(exc) from None
        name = input.get("name") or "".join(secrets.choice(RUN_ID_ALPHABET) for _ in range(8))
    config = common.json_input(input.get("config"), "config")
    summary = common.json_input(input.get("summaryMetrics"), "summaryMetrics")
    tags = input.get("tags")
    if tags is not None and not (isinstance(tags, list) and all(isinstance(t, str) for t in tags)):
        raise WireError("tags must be a list of strings.")
    inputs.refuse_nul(tags, "tags")
    # `state` is not kept, on purpose (README, Runs): a run's state is derived at read time from what the
    # run and its agent report (launch/liveness.py), never taken from the client.
    run, inserted = services.run_upsert(
        project=project,
        name=name[:128],
        created_by=ctx.user,
        display_name=input.get("displayName"),
        job_type=input.get("jobType"),
        host=input.get("host"),
        config=config if isinstance(config, dict) else None,
        notes=input.get("notes") if input.get("notes") is not None else input.get("description"),
        tags=tags,
        group=input.get("groupName"),
        commit=input.get("commit"),
        repo=input.get("jobRepo"),  # wandb-core sends the git remote URL here
        program=input.get("jobProgram"),
        sweep_name=input.get("sweep"),
        summary=summary if isinstance(summary, dict) else None,
    )
    run = Run.objects.select_related("project__entity", "created_by").get(pk=run.pk)
    return {"bucket": run_data(run, ctx), "inserted": inserted}


@mutation("createRunFiles")
def create_run_files(ctx: Context, input: dict):
    """Signed upload URLs for the run's files; any member of the run's entity may upload, as it may stream."""
    entity = common.entity(ctx, input.get("entityName"))
    run = Run.objects.filter(
        project__entity=entity, project__name=input.get("projectName") or DEFAULT_PROJECT, name=input.get("runName")
    ).first()
    if run is None:
        raise WireError("Run not found.")
    try:
        files = services.run_file_upload_urls(run=run, names=input.get("files"), base_url=ctx.base_url)
    except ValidationError as exc:
        raise common.wire_error(exc) from None
    return {"runID": ids.encode("Run", run.pk), "uploadHeaders": [], "files": files}


@mutation("deleteRun")
def delete_run(ctx: Context, input: dict):
    run = (
        Run.objects.filter(pk=ids.decode(input.get("id"), "Run"), project__entity__memberships__user=ctx.user)
        .select_related("project__entity")
        .first()
    )
    if run is None:
        raise WireError("Run not found.")
    try:
        services.run_delete(run=run, by=ctx.user)
    except ValidationError as exc:
        raise common.wire_error(exc) from None
    return {"clientMutationId": input.get("clientMutationId")}


@mutation("stopRun")
def stop_run(ctx: Context, input: dict):
    """`api.run(path).stop()` (through wandb-core): any member of the run's entity may ask, as in the browser."""
    run = (
        Run.objects.filter(pk=ids.decode(input.get("id"), "Run"), project__entity__memberships__user=ctx.user)
        .select_related("project__entity")
        .first()
    )
    if run is None:
        raise WireError("Run not found.")
    services.run_request_stop(run=run, by=ctx.user)
    return {"success": True, "clientMutationId": input.get("clientMutationId")}


def file_stream(*, user, entity_name: str, project_name: str, run_name: str, body: dict) -> dict | None:
    run = (
        Run.objects.filter(
            project__entity__name=entity_name,
            project__name=project_name,
            name=run_name,
            project__entity__memberships__user=user,
        )
        .only("id", "stop_requested")
        .first()
    )
    if run is None:
        return None
    exit_code = common.whole_number(body.get("exitcode"), "exitcode")  # a WireError answers 400
    try:
        services.run_stream(run=run, complete=bool(body.get("complete")), exit_code=exit_code, files=body.get("files"))
    except ValidationError as exc:
        raise common.wire_error(exc) from None
    return {"exitcode": None, "limits": {}, "stopped": run.stop_requested}
