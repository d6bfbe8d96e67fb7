"""The project page (/<entity>/<project>, the address the client prints as "View project"), the Projects list
of the top bar, and the overlay of selected runs' charts. Members of the project's entity only; an
outsider gets the 404 of a missing project."""

import math
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import push_url

from launchui.launch import selectors as launch_selectors
from launchui.projects import selectors as project_selectors
from launchui.projects.models import Project
from launchui.projects.states import RunState
from launchui.web.common import AuthedRequest, is_partial

MAX_PICKED_COLUMNS = 12  # config and summary columns a user adds to the runs table
MAX_COMPARED_RUNS = 10  # runs overlaid at once: one sampled history read each
MAX_COMPARED_KEYS = 24  # charts on the compare page
COMPARE_SAMPLES = 500  # points per run and chart, first and last kept


def _project_for(request: AuthedRequest, entity: str, project: str) -> Project:
    found = project_selectors.project_for_user(request.user, entity, project)
    if found is None:
        raise Http404("No such project, or it belongs to an entity you are not a member of.")
    return found


def _picked(request: AuthedRequest, name: str) -> list[str]:
    return [key[:200] for key in dict.fromkeys(request.GET.getlist(name)) if key][:MAX_PICKED_COLUMNS]


def _visible_keys(values: list[dict], picked: list[str]) -> list[str]:
    """Top-level keys of the page's configs or summaries the user may add as columns (W&B's own "_" keys and
    the client's _wandb left out), with the picked ones first."""
    seen = dict.fromkeys(picked)
    for value in values:
        for key in value or {}:
            if isinstance(key, str) and not key.startswith("_"):
                seen.setdefault(key, None)
    return list(seen)[:200]


def config_value(config: dict, key: str) -> Any:
    value = (config or {}).get(key)
    return value.get("value") if isinstance(value, dict) and set(value) <= {"value", "desc"} else value


@login_required
@require_GET
@vary_on_headers("HX-Request")
def project(request: AuthedRequest, entity: str, project: str) -> HttpResponse:
    found = _project_for(request, entity, project)
    get = request.GET
    filters = {
        "state": get.get("state", "") if get.get("state", "") in RunState.values else "",
        "tag": get.get("tag", "")[:200],
        "job": get.get("job", "")[:200],
        "queue": get.get("queue", "")[:200],
        "text": get.get("q", "")[:200],
    }
    sort = get.get("sort", "")[:300] or "-created_at"
    errors = []
    try:
        runs = launch_selectors.project_run_table(found, order=sort, **filters)
    except ValidationError as exc:
        errors.append(f"Cannot sort by {sort.lstrip('+-')!r}: {' '.join(exc.messages)}")
        sort = "-created_at"
        runs = launch_selectors.project_run_table(found, order=sort, **filters)
    page = Paginator(runs, settings.LAUNCHUI_PAGE_SIZE).get_page(get.get("page"))
    rows = launch_selectors.run_rows(found, list(page.object_list))
    picked_config, picked_summary = _picked(request, "config"), _picked(request, "summary")
    for row in rows:
        row.config_cells = [config_value(row.run.config, key) for key in picked_config]
        row.summary_cells = [(row.run.summary or {}).get(key) for key in picked_summary]
    context = {
        "section": "projects",
        "project": found,
        "page": page,
        "rows": rows,
        "sort": sort,
        "filters": filters,
        "states": RunState.choices,
        "queues": launch_selectors.project_queues(found),
        "picked_config": picked_config,
        "picked_summary": picked_summary,
        "config_keys": _visible_keys([r.run.config for r in rows], picked_config),
        "summary_keys": _visible_keys([r.run.summary for r in rows], picked_summary),
        "errors": errors,
        "filtered": any(filters.values()),
    }
    if is_partial(request):
        response = render(request, "web/project.html#run-table", context)
        params = request.GET.copy()
        for key in [k for k, v in params.items() if v == ""]:
            del params[key]
        path = reverse("project", args=[found.entity.name, found.name])
        url = f"{path}?{params.urlencode()}" if params else path
        return push_url(response, url)
    return render(request, "web/project.html", context)


@login_required
@require_GET
def projects(request: AuthedRequest) -> HttpResponse:
    """Every project of the user's entities, with its run count and latest run."""
    page = Paginator(project_selectors.projects_for_user(request.user), settings.LAUNCHUI_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(request, "web/projects.html", {"section": "projects", "page": page})


def _compared_runs(request: AuthedRequest, found: Project) -> list:
    names = [n[:128] for n in dict.fromkeys(request.GET.getlist("runs")) if n][:MAX_COMPARED_RUNS]
    return project_selectors.runs_by_name(found, names)


@login_required
@require_GET
def compare(request: AuthedRequest, entity: str, project: str) -> HttpResponse:
    """The selected runs' history charts overlaid: one chart per history key (from each run's stored
    historyKeys, no history read), each drawn by static/js/charts.js from compare_data."""
    found = _project_for(request, entity, project)
    runs = _compared_runs(request, found)
    keys: dict[str, None] = {}
    for run in runs:
        for key in sorted(project_selectors.history_keys(run)):
            if not key.startswith("_"):
                keys.setdefault(key, None)
    query = "&".join(f"runs={quote(run.name)}" for run in runs)
    data_url = reverse("project_compare_data", args=[found.entity.name, found.name])
    charts = [{"key": key, "src": f"{data_url}?{query}&key={quote(key)}"} for key in sorted(keys)[:MAX_COMPARED_KEYS]]
    context = {"section": "projects", "project": found, "runs": runs, "charts": charts}
    return render(request, "web/project_compare.html", context)


@login_required
@require_GET
def compare_data(request: AuthedRequest, entity: str, project: str) -> JsonResponse:
    """One overlay chart for charts.js: the runs' sampled values of one key against the step, merged on one
    x axis (null where a run has no value). Two queries plus one sampled read per run (at most
    MAX_COMPARED_RUNS), whatever the runs' lengths."""
    found = _project_for(request, entity, project)
    runs = _compared_runs(request, found)
    key = request.GET.get("key", "")[:512]
    per_run: list[dict[int, float | None]] = []
    for run in runs:
        rows = project_selectors.run_sampled_history(run, ["_step", key], COMPARE_SAMPLES) if key else []
        per_run.append({row["_step"]: _number(row.get(key)) for row in rows if isinstance(row.get("_step"), int)})
    steps = sorted({step for values in per_run for step in values})
    series = [
        {"label": run.display_name or run.name, "values": [values.get(step) for step in steps]}
        for run, values in zip(runs, per_run, strict=True)
    ]
    return JsonResponse({"x": steps, "x_kind": "step", "x_label": "Step", "series": series, "live": False})


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value if math.isfinite(value) else None
