"""The queue page and its tabs (Overview, Agents, Config, Monitor, Delete), an item's page with Stop and
cancel, and a queue's recent items (the Launch page's expandable rows). Thin views: parse, authorise
through web/common.py, call one service or selector, render one template (htmx gets the named partial)."""

from datetime import timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from launchui.accounts.models import Membership
from launchui.core import limits
from launchui.launch import liveness
from launchui.launch import selectors as launch_selectors
from launchui.launch import services as launch_services
from launchui.launch.models import RunQueue, RunQueueItem
from launchui.launch.selectors import ItemRow
from launchui.projects import run_files
from launchui.projects import selectors as project_selectors
from launchui.projects import services as project_services
from launchui.web import forms, launch_charts
from launchui.web.common import (
    AuthedRequest,
    dumps,
    is_partial,
    queue_context,
    queue_for,
    safe_next,
)
from launchui.web.launch_forms import queue_key

MONITOR_DAYS = 7
# The console lines the item page shows of a run that ended badly (the run page has the whole log).
ITEM_PAGE_TAIL_LINES = 100


# --- queue page -----------------------------------------------------------------------------------


@login_required
@require_GET
@vary_on_headers("HX-Request")
def queue_overview(request: AuthedRequest, entity: str, queue: str) -> HttpResponse:
    run_queue, membership = queue_for(request, entity, queue)
    # QueueItems has count() and slices, all a Paginator reads, not the whole Sequence protocol.
    items = launch_selectors.QueueItems(run_queue)
    page = Paginator(items, settings.LAUNCHUI_PAGE_SIZE).get_page(request.GET.get("page"))  # type: ignore[arg-type,var-annotated]
    rows = launch_selectors.with_details(launch_selectors.with_item_status(list(page.object_list)))
    context = {
        **queue_context(request, run_queue, membership, "overview"),
        "page": page,
        "rows": rows,
        # Each waiting item's place in the order agents take them (the pop rule), and what admins may set.
        "positions": launch_selectors.waiting_positions(run_queue, [row.item.pk for row in rows]),
        "priorities": RunQueueItem.PRIORITIES,
        "positions_max": f"{limits.OVERVIEW_POSITIONS_MAX:,}",
    }
    return render(request, "web/queue.html#items" if is_partial(request) else "web/queue.html", context)


@login_required
@require_GET
@vary_on_headers("HX-Request")
def queue_agents(request: AuthedRequest, entity: str, queue: str) -> HttpResponse:
    run_queue, membership = queue_for(request, entity, queue)
    agents = launch_selectors.agents_for_queue(run_queue, user=request.user)
    context = {
        **queue_context(request, run_queue, membership, "agents"),
        "agents": agents,
        "has_live_agent": any(liveness.is_live_status(row.status) for row in agents),
    }
    return render(request, "web/queue.html#agents" if is_partial(request) else "web/queue.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def queue_config(request: AuthedRequest, entity: str, queue: str) -> HttpResponse:
    run_queue, membership = queue_for(request, entity, queue)
    if request.method == "POST":
        if not membership.is_admin:
            raise PermissionDenied("Only admins of this entity edit its queues.")
        form = forms.QueueEditForm(request.POST)
        tiles, variables = forms.tiles_on_submit(request.POST)
        if form.is_valid() and variables is not None:
            data = form.cleaned_data
            try:
                launch_services.queue_update(
                    queue=run_queue,
                    config=data["config"],
                    template_variables=variables,
                    external_links=data["external_links"],
                    prioritization_mode=form.prioritization_mode,
                )
            except ValidationError as exc:
                forms.add_service_errors(form, exc)
            else:
                messages.success(request, "Configuration saved.")
                return redirect("queue_config", entity=run_queue.entity.name, queue=run_queue.name)
    else:
        config_text = run_queue.config_text or dumps(run_queue.resource_args)
        form = forms.QueueEditForm(
            initial={
                "prioritization": run_queue.is_prioritized,
                "config": config_text,
                "external_links": dumps(run_queue.external_links),
            }
        )
        # The saved variables as tiles (the JSON fallback starts empty), then any {{name}} still without one.
        tiles = forms.tiles_from_variables(run_queue.template_variables)
        saved = {tile.name for tile in tiles}
        tiles += [tile for tile in forms.tiles_for_config(config_text, [])[0] if tile.name not in saved]
    context = {
        **queue_context(request, run_queue, membership, "config"),
        "form": form,
        "config_text": run_queue.config_text or dumps(run_queue.resource_args) or "{}",
        "variables": [_variable_tile(v) for v in run_queue.template_variables],
        "tiles": tiles,
    }
    return render(request, "web/queue.html", context)


@login_required
@require_POST
def queue_variable_tiles(request: AuthedRequest) -> HttpResponse:
    """Parse configuration (htmx, from the create and edit forms): the tiles for the {{names}} of the posted
    config, keeping what was entered in the posted tiles. Reads nothing stored, so any signed-in user may."""
    tiles, error = forms.tiles_for_config(request.POST.get("config", ""), forms.tiles_from_post(request.POST))
    return render(request, "web/_variable_tiles.html", {"tiles": tiles, "tiles_error": error})


def _variable_tile(variable: dict) -> dict:
    schema = variable.get("schema") or {}
    kind = schema.get("type", "string")
    return {
        "name": variable.get("name"),
        "type": {"number": "float"}.get(kind, kind),
        "enum": schema.get("enum"),
        "default": schema.get("default"),
        "minimum": schema.get("minimum"),
        "maximum": schema.get("maximum"),
        "description": schema.get("description", ""),
    }


@login_required
@require_http_methods(["GET", "POST"])
def queue_delete(request: AuthedRequest, entity: str, queue: str) -> HttpResponse:
    run_queue, membership = queue_for(request, entity, queue)
    if not membership.is_admin:
        raise PermissionDenied("Only admins of this entity delete its queues.")
    if request.method == "POST":
        launch_services.queue_delete(queue=run_queue)
        messages.success(request, f"Queue {run_queue.entity.name}/{run_queue.name} deleted.")
        return redirect("launch")
    context = {
        **queue_context(request, run_queue, membership, "delete"),
        "queued_count": launch_selectors.queued_count(run_queue),
    }
    return render(request, "web/queue_delete.html", context)


@login_required
@require_POST
def item_delete(request: AuthedRequest, entity: str, queue: str, item_id: int) -> HttpResponse:
    run_queue, _ = queue_for(request, entity, queue)
    item = launch_selectors.items_for_queue(run_queue).filter(pk=item_id).first()
    if item is None:
        raise Http404("No such item in this queue.")
    try:
        launch_services.item_cancel(user=request.user, item=item)
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    else:
        messages.success(request, f"Item {item_id} cancelled.")
    return redirect("queue_overview", entity=run_queue.entity.name, queue=run_queue.name)


@login_required
@require_POST
def item_priority(request: AuthedRequest, entity: str, queue: str, item_id: int) -> HttpResponse:
    """An admin moves a waiting item in a prioritized queue's order (members get 403, outsiders 404)."""
    run_queue, _ = queue_for(request, entity, queue)
    item = launch_selectors.items_for_queue(run_queue).filter(pk=item_id).first()
    if item is None:
        raise Http404("No such item in this queue.")
    raw = request.POST.get("priority", "")
    try:
        launch_services.item_priority_set(
            user=request.user, item=item, priority=int(raw) if raw.lstrip("-").isdigit() else -1
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Item #{item_id} is now {item.get_priority_display().lower()} priority.")
    return redirect("queue_overview", entity=run_queue.entity.name, queue=run_queue.name)


# --- items ----------------------------------------------------------------------------------------


def _item_for(request: AuthedRequest, entity: str, queue: str, item_id: int) -> tuple[ItemRow, RunQueue, Membership]:
    run_queue, membership = queue_for(request, entity, queue)
    item = launch_selectors.items_for_queue(run_queue).select_related("created_by").filter(pk=item_id).first()
    if item is None:
        raise Http404("No such item in this queue (it may have been cancelled).")
    return launch_selectors.with_item_status([item])[0], run_queue, membership


@login_required
@require_GET
@vary_on_headers("HX-Request")
def queue_item(request: AuthedRequest, entity: str, queue: str, item_id: int) -> HttpResponse:
    row, run_queue, membership = _item_for(request, entity, queue, item_id)
    row = launch_selectors.with_details([row], lines=ITEM_PAGE_TAIL_LINES)[0]
    item = row.item
    context = {
        **queue_context(request, run_queue, membership, "item"),
        "row": row,
        "item": item,
        "overrides": (item.run_spec or {}).get("overrides") or {},
        "relaunch": _relaunch(item, run_queue),
        "error_files": [
            (file, launch_selectors.error_file_tail(file)) for file in launch_selectors.item_error_files(item)
        ]
        if item.error_file_paths
        else [],
    }
    return render(request, "launch/item.html#item-live" if is_partial(request) else "launch/item.html", context)


@login_required
@require_GET
def item_error_file(request: AuthedRequest, entity: str, queue: str, item_id: int, name: str) -> FileResponse:
    """A file the agent attached to a failed item, for members of the queue's entity."""
    row, _, _ = _item_for(request, entity, queue, item_id)
    file = launch_selectors.item_error_files(row.item).filter(name=name).first()
    if file is None:
        raise Http404("The agent attached no such file to this item, or it never arrived.")
    return FileResponse(
        run_files.open_file(file.storage_key), as_attachment=True, filename=file.name.rsplit("/", 1)[-1] or "file"
    )


def _relaunch(item, queue) -> dict | None:
    """The Launch drawer's arguments for launching this item's job again with its overrides."""
    job_entity, job_project, rest = (str((item.run_spec or {}).get("job") or "").split("/") + ["", "", ""])[:3]
    name = rest.partition(":")[0]
    if not (job_entity and job_project and name):
        return None
    return {
        "entity": job_entity,
        "project": job_project,
        "name": name,
        "query": "?" + urlencode({"paste": item.pk, "queue": queue_key(queue)}),
    }


@login_required
@require_POST
def item_stop(request: AuthedRequest, entity: str, queue: str, item_id: int) -> HttpResponse:
    """Ask a running item's run to stop: any member may, as in W&B."""
    row, run_queue, _ = _item_for(request, entity, queue, item_id)
    if row.run is None or row.status != "running":
        messages.error(request, f"Item {row.item.pk} is {row.status_label.lower()}: only running runs can be stopped.")
    else:
        project_services.run_request_stop(run=row.run, by=request.user)
        messages.success(
            request,
            f"Asked run {row.run.name} to stop: it stops at its next stop check (every 15 s), "
            "or its agent ends the process about a minute later.",
        )
    return redirect(
        safe_next(request, reverse("queue_item", args=[run_queue.entity.name, run_queue.name, row.item.pk]))
    )


@login_required
@require_GET
def queue_recent(request: AuthedRequest, entity: str, queue: str) -> HttpResponse:
    """A queue's newest items: the Launch page's expanded row (htmx) and its 3 s refresh."""
    run_queue, _ = queue_for(request, entity, queue)
    return render(
        request, "launch/recent.html", {"queue": run_queue, "items": launch_selectors.recent_items(run_queue)}
    )


# --- Monitor tab ----------------------------------------------------------------------------------


@login_required
@require_GET
@vary_on_headers("HX-Request")
def queue_monitor(request: AuthedRequest, entity: str, queue: str) -> HttpResponse:
    run_queue, membership = queue_for(request, entity, queue)
    now = timezone.now()
    since = launch_charts.day_buckets(now, MONITOR_DAYS)[0][0]
    items = launch_selectors.items_since(run_queue, since - timedelta(seconds=1))
    runs = launch_charts.run_bars(items, now)
    metrics = project_selectors.runs_system_metrics(
        [run["pk"] for run in runs[: launch_charts.TIMELINE_MAX_RUNS]],
        since=since.timestamp(),
        until=now.timestamp(),
        buckets=launch_charts.METRIC_BUCKETS,
    )
    context = {
        **queue_context(request, run_queue, membership, "monitor"),
        **launch_charts.monitor(items, now),
        "timeline": launch_charts.timeline(runs, now),
        "metrics_chart": launch_charts.metrics_chart(metrics, now),
    }
    return render(request, "launch/monitor.html#monitor" if is_partial(request) else "web/queue.html", context)
