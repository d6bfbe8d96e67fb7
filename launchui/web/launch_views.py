"""The Launch drawer: launch a job version into a queue, with overrides, from the job's page or again from
an item's page. Thin views, as in views.py: parse, authorise, call one service or selector, render one
template (htmx gets the named partial). The queue page and its tabs are in queue_views.py."""

import shlex

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect

from launchui.jobs import selectors as job_selectors
from launchui.launch import selectors as launch_selectors
from launchui.launch import services as launch_services
from launchui.web.common import AuthedRequest, dumps, is_partial
from launchui.web.launch_forms import LaunchForm, queue_key

# --- Launch drawer --------------------------------------------------------------------------------


def _job_for(request: AuthedRequest, entity: str, project: str, name: str):
    job = (
        job_selectors.jobs_for_user(user=request.user, entity_name=entity, project_name=project)
        .filter(name=name)
        .first()
    )
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
def job_launch(request: AuthedRequest, entity: str, project: str, name: str) -> HttpResponse:
    """GET: the drawer (htmx) or page; ?part=queue re-renders the queue's fields, ?part=overrides the
    overrides pasted from an earlier launch. POST: launch() and go to the queue's Overview."""
    job = _job_for(request, entity, project, name)
    job_path = f"{entity}/{project}/{name}"
    data = request.POST if request.method == "POST" else request.GET
    queues = list(
        launch_selectors.visible_queues(request.user).select_related("entity").order_by("entity__name", "name")
    )
    queue = _chosen_queue(queues, data.get("queue", ""), job)
    projects = list(launch_selectors.destination_projects(queue.entity)) if queue else []
    pastes = launch_selectors.previous_launches(user=request.user, job_path=job_path)
    url = reverse("job_launch", args=[entity, project, name])
    kwargs = {
        "versions": job_selectors.job_versions(job),
        "queues": queues,
        "queue": queue,
        "projects": projects,
        "pastes": pastes,
        "url": url,
    }
    part = request.GET.get("part", "")

    if request.method == "POST":
        form = LaunchForm(request.POST, **kwargs)
        valid = form.is_valid()
        dest_entity, dest_project = form.destination
        version = form.cleaned_data.get("version")
        run_spec = {
            "job": f"{job_path}:{version}" if version else None,
            "entity": dest_entity or (queue.entity.name if queue else None),
            "project": dest_project,
            "overrides": form.overrides(),
        }
        if valid:
            try:
                item = launch_services.launch(
                    queue=queue,
                    run_spec=run_spec,
                    priority=form.cleaned_data["priority"],
                    template_variable_values=form.template_values(),
                    created_by=request.user,
                )
            except ValidationError as exc:
                form.add_launch_errors(exc)
            else:
                messages.success(request, f"Launched {name}:{version} into {queue_key(queue)} as item #{item.pk}.")
                target = reverse("queue_overview", args=[queue.entity.name, queue.name])
                return HttpResponseClientRedirect(target) if request.htmx else redirect(target)
        elif queue is not None:
            # Every error at once: the launch rules' verdict on the fields that parsed, beside the form's own.
            problems = launch_services.launch_problems(
                queue=queue, run_spec=run_spec, template_variable_values=form.template_values(), created_by=request.user
            )
            form.add_launch_errors(ValidationError(problems), keep_existing=True)
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
            initial.update(
                paste=str(pasted.pk),
                args=_join(overrides.get("args")),
                entry_point=_join(overrides.get("entry_point")),
                run_config=dumps(overrides.get("run_config")),
            )
        elif part != "queue":
            # As W&B does: start from the job's own config (its run's, else its declared inputs' defaults).
            initial["run_config"] = dumps(job_selectors.job_config_defaults(job))
        form = LaunchForm(initial=initial, **kwargs)

    context = {
        "section": "launch",
        "form": form,
        "job": job,
        "job_path": job_path,
        "queue": queue,
        "in_drawer": data.get("in_drawer") == "1" or (bool(request.htmx) and request.method == "GET" and not part),
        "url": url,
    }
    if is_partial(request):
        template = {"queue": "launch/launch.html#queue-fields", "overrides": "launch/launch.html#overrides"}.get(
            part, "launch/launch.html#drawer"
        )
        return render(request, template, context)
    return render(request, "launch/launch.html", context)


def _join(parts) -> str:
    return shlex.join(str(p) for p in parts) if isinstance(parts, list) else ""
