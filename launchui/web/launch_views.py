"""Pages of the launch flow: the Launch drawer, an item's page, Stop, a queue's recent items (the Launch
page's expandable rows) and the Monitor tab. Thin views, as in views.py: parse, authorise, call one
service or selector, render one template (htmx gets the named partial)."""

import json
import shlex
from datetime import timedelta
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect

from launchui.jobs import selectors as job_selectors
from launchui.launch import selectors as launch_selectors
from launchui.launch import services as launch_services
from launchui.projects import services as project_services
from launchui.web import launch_charts
from launchui.web.launch_forms import LaunchForm, queue_key
from launchui.web.views import _partial, _queue_context, _queue_for, _safe_next

MONITOR_DAYS = 7


# --- Launch drawer --------------------------------------------------------------------------------

def _job_for(request: HttpRequest, entity: str, project: str, name: str):
    job = job_selectors.jobs_for_user(user=request.user, entity_name=entity, project_name=project) \
        .filter(name=name).first()
    if job is None:
        raise Http404("No such job, or it belongs to an entity you are not a member of.")
    return job


def _chosen_queue(queues: list, key: str, job):
    """The queue asked for; else the first queue of the job's entity; else the first one."""
    by_key = {queue_key(q): q for q in queues}
    if key:
        return by_key.get(key)
    return next((q for q in queues if q.entity_id == job.project.entity_id), queues[0] if queues else None)


@login_required
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def job_launch(request: HttpRequest, entity: str, project: str, name: str) -> HttpResponse:
    """GET: the drawer (htmx) or page; ?part=queue re-renders the queue's fields, ?part=overrides the
    overrides pasted from an earlier launch. POST: launch() and go to the queue's Overview."""
    job = _job_for(request, entity, project, name)
    job_path = f"{entity}/{project}/{name}"
    data = request.POST if request.method == "POST" else request.GET
    queues = list(launch_selectors.visible_queues(request.user).select_related("entity")
                  .order_by("entity__name", "name"))
    queue = _chosen_queue(queues, data.get("queue", ""), job)
    projects = list(launch_selectors.destination_projects(queue.entity)) if queue else []
    pastes = launch_selectors.previous_launches(user=request.user, job_path=job_path)
    url = reverse("job_launch", args=[entity, project, name])
    kwargs = {"versions": job_selectors.job_versions(job), "queues": queues, "queue": queue,
              "projects": projects, "pastes": pastes, "url": url}
    part = request.GET.get("part", "")

    if request.method == "POST":
        form = LaunchForm(request.POST, **kwargs)
        if form.is_valid():
            dest_entity, dest_project = form.destination
            run_spec = {"job": f"{job_path}:{form.cleaned_data['version']}",
                        "entity": dest_entity or queue.entity.name, "project": dest_project,
                        "overrides": form.overrides()}
            try:
                item = launch_services.launch(queue=queue, run_spec=run_spec, priority=form.cleaned_data["priority"],
                                              template_variable_values=form.template_values(),
                                              created_by=request.user)
            except ValidationError as exc:
                form.add_launch_errors(exc)
            else:
                messages.success(request, f"Launched {name}:{form.cleaned_data['version']} into "
                                          f"{queue_key(queue)} as item #{item.pk}.")
                target = reverse("queue_overview", args=[queue.entity.name, queue.name])
                return HttpResponseClientRedirect(target) if request.htmx else redirect(target)
    else:
        initial = {"version": "latest", "priority": 2}
        if queue:
            initial["queue"] = queue_key(queue)
            wanted = data.get("project") or (project if queue.entity.name == entity else "")
            if any(p.name == wanted for p in projects):
                initial["project"] = wanted
        if part == "queue":  # keep what was typed above the queue
            initial.update({k: data.get(k, "") for k in ("version", "args", "entry_point", "run_config")})
        if pasted := next((i for i in pastes if str(i.pk) == data.get("paste")), None):
            overrides = pasted.run_spec.get("overrides") or {}
            initial.update(paste=str(pasted.pk), args=_join(overrides.get("args")),
                           entry_point=_join(overrides.get("entry_point")),
                           run_config=_dumps(overrides.get("run_config")))
        form = LaunchForm(initial=initial, **kwargs)

    context = {"section": "launch", "form": form, "job": job, "job_path": job_path, "queue": queue,
               "in_drawer": data.get("in_drawer") == "1" or (bool(request.htmx) and request.method == "GET"
                                                               and not part),
               "url": url}
    if _partial(request):
        template = {"queue": "launch/launch.html#queue-fields",
                    "overrides": "launch/launch.html#overrides"}.get(part, "launch/launch.html#drawer")
        return render(request, template, context)
    return render(request, "launch/launch.html", context)


def _join(parts) -> str:
    return shlex.join(str(p) for p in parts) if isinstance(parts, list) else ""


def _dumps(value) -> str:
    return json.dumps(value, indent=2) if value else ""


# --- items ----------------------------------------------------------------------------------------

def _item_for(request: HttpRequest, entity: str, queue: str, item_id: int):
    queue, membership = _queue_for(request, entity, queue)
    item = launch_selectors.items_for_queue(queue).select_related("created_by").filter(pk=item_id).first()
    if item is None:
        raise Http404("No such item in this queue (it may have been cancelled).")
    return launch_selectors.with_item_status([item])[0], queue, membership


@login_required
@require_GET
@vary_on_headers("HX-Request")
def queue_item(request: HttpRequest, entity: str, queue: str, item_id: int) -> HttpResponse:
    item, queue, membership = _item_for(request, entity, queue, item_id)
    context = {**_queue_context(request, queue, membership, "item"), "item": item,
               "overrides": (item.run_spec or {}).get("overrides") or {}, "relaunch": _relaunch(item, queue)}
    return render(request, "launch/item.html#item-live" if _partial(request) else "launch/item.html", context)


def _relaunch(item, queue) -> dict | None:
    """The Launch drawer's arguments for launching this item's job again with its overrides."""
    job_entity, job_project, rest = (str((item.run_spec or {}).get("job") or "").split("/") + ["", "", ""])[:3]
    name = rest.partition(":")[0]
    if not (job_entity and job_project and name):
        return None
    return {"entity": job_entity, "project": job_project, "name": name,
            "query": "?" + urlencode({"paste": item.pk, "queue": queue_key(queue)})}


@login_required
@require_POST
def item_stop(request: HttpRequest, entity: str, queue: str, item_id: int) -> HttpResponse:
    """Ask a running item's run to stop: any member may, as in W&B."""
    item, queue, _ = _item_for(request, entity, queue, item_id)
    if item.run is None or item.status != "running":
        messages.error(request, f"Item {item.pk} is {item.status_label.lower()}: only running runs can be stopped.")
    else:
        project_services.run_request_stop(run=item.run)
        messages.success(request, f"Asked run {item.run.name} to stop; the agent stops it within a minute.")
    return redirect(_safe_next(request, reverse("queue_item", args=[queue.entity.name, queue.name, item.pk])))


@login_required
@require_GET
def queue_recent(request: HttpRequest, entity: str, queue: str) -> HttpResponse:
    """A queue's newest items: the Launch page's expanded row (htmx) and its 3 s refresh."""
    queue, _ = _queue_for(request, entity, queue)
    return render(request, "launch/recent.html", {"queue": queue, "items": launch_selectors.recent_items(queue)})


# --- Monitor tab ----------------------------------------------------------------------------------

@login_required
@require_GET
@vary_on_headers("HX-Request")
def queue_monitor(request: HttpRequest, entity: str, queue: str) -> HttpResponse:
    queue, membership = _queue_for(request, entity, queue)
    now = timezone.now()
    since = launch_charts.day_buckets(now, MONITOR_DAYS)[0][0]
    items = launch_selectors.items_since(queue, since - timedelta(seconds=1))
    context = {**_queue_context(request, queue, membership, "monitor"), **launch_charts.monitor(items, now)}
    return render(request, "launch/monitor.html#monitor" if _partial(request) else "web/queue.html", context)
