"""The run page (/<entity>/<project>/runs/<run id>, the address the client prints) and its tabs: Overview,
Charts, System, Logs, Files, Artifacts; the chart data (JSON for static/js/charts.js), the console's live
tail and its download. Thin views: the run is scoped to the user's entities (outsiders get 404), every
read is a selector with a fixed number of queries whatever the run's length."""

import math
import re
from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from launchui.artifacts import selectors as artifact_selectors
from launchui.core.http import public_base_url
from launchui.launch import selectors as launch_selectors
from launchui.projects import run_files
from launchui.projects import selectors as project_selectors
from launchui.projects import services as project_services
from launchui.projects.models import Run, RunStreamLine
from launchui.projects.states import RunState, run_state, run_status
from launchui.web import ansi
from launchui.web.common import AuthedRequest, is_partial

TABS = [
    ("overview", "Overview"),
    ("charts", "Charts"),
    ("system", "System"),
    ("logs", "Logs"),
    ("files", "Files"),
    ("artifacts", "Artifacts"),
]
CHART_SAMPLES = 500  # points per chart: enough for a 1,000 px wide line, whatever the run's length
CHART_MAX_KEYS = 32  # series in one chart request
LOG_LINES = 1000  # console lines on the page; the whole log is a download
LIVE_SECONDS = 3  # how often a running run's tabs refresh (only while the page is visible)
X_AXES = {"step": ("_step", "Step", "step"), "wall": ("_timestamp", "Wall time", "time")}
X_AXES["relative"] = ("_runtime", "Relative time (s)", "relative")
FOLD_AT = 120  # characters after which a config or summary value is folded
PREVIEW_BYTES = 64 * 1024
TEXT_SUFFIXES = (".txt", ".log", ".json", ".jsonl", ".yaml", ".yml", ".md", ".py", ".csv", ".toml", ".cfg", ".ini")


def _run_for(request: AuthedRequest, entity: str, project: str, run_id: str) -> Run:
    run = project_selectors.run_for_user(request.user, entity_name=entity, project_name=project, run_name=run_id)
    if run is None:
        raise Http404("No such run, or it belongs to an entity you are not a member of.")
    return run


@dataclass(frozen=True)
class State:
    code: str
    label: str
    reason: str
    live: bool


def _state(run: Run, item_row) -> State:
    """The queue's derived status and reason when an agent launched the run (the same words as the queue
    pages), else the run's own derived state (projects/states.py)."""
    if item_row is not None:
        return State(str(item_row.status), item_row.status_label, item_row.status_reason, item_row.status == "running")
    state, reason = run_status(run)
    return State(str(state), state.label, reason, state == RunState.RUNNING)


def _since(moment) -> float:
    return max(0.0, (timezone.now() - moment).total_seconds())


def _flatten(value, prefix: str = "") -> list[tuple[str, object]]:
    """Nested keys as dotted names, sorted; W&B config entries ({"value": v, "desc": …}) unwrapped."""
    rows: list[tuple[str, object]] = []
    if isinstance(value, dict):
        for key in sorted(value, key=str):
            child = value[key]
            if isinstance(child, dict) and "value" in child and set(child) <= {"value", "desc"}:
                child = child["value"]
            if isinstance(child, dict) and child:
                rows.extend(_flatten(child, f"{prefix}{key}."))
            else:
                rows.append((f"{prefix}{key}", child))
    return rows


def _table(value) -> list[dict]:
    rows = []
    for key, item in _flatten(value):
        text = "null" if item is None else str(item).lower() if isinstance(item, bool) else str(item)
        rows.append({"key": key, "text": text, "folded": len(text) > FOLD_AT, "short": text[:FOLD_AT]})
    return rows


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _metadata(run: Run) -> dict:
    """What the client's system-info record put in config._wandb (wandb-metadata.json's fields in 0.31)."""
    wandb = (run.config or {}).get("_wandb") or {}
    value = wandb.get("value") if isinstance(wandb, dict) else None
    value = value if isinstance(value, dict) else {}
    writers = _dict(value.get("e"))
    meta = next((m for m in writers.values() if isinstance(m, dict)), {})
    git = _dict(meta.get("git"))
    args = meta["args"] if isinstance(meta.get("args"), list) else []
    program = meta.get("program") or run.program
    return {
        "python": meta.get("python") or value.get("python_version") or "",
        "command": " ".join(str(part) for part in [program, *args] if part),
        "os": meta.get("os") or "",
        "git_remote": git.get("remote") or "",
        "git_commit": git.get("commit") or run.commit,
        "cli_version": value.get("cli_version") or "",
    }


def _job_link(item_row) -> dict | None:
    """The job and version the item ran, as the job page's address."""
    if item_row is None or not item_row.job_name or "/" not in item_row.job_name:
        return None
    parts = item_row.job_name.split("/")
    if len(parts) != 3:
        return None
    name, _, version = parts[2].partition(":")
    url = reverse("job", args=[parts[0], parts[1], name])
    return {"text": item_row.job_name, "url": f"{url}?version={version}" if version else url}


def _context(request: AuthedRequest, run: Run, tab: str, *, with_item: bool = True) -> dict:
    item_row = launch_selectors.item_for_run(run) if with_item else None
    end = run.completed_at or timezone.now()
    return {
        "section": "runs",
        "run": run,
        "entity": run.project.entity.name,
        "project": run.project.name,
        "tab": tab,
        "tabs": TABS,
        "item_row": item_row,
        "state": _state(run, item_row),
        "duration": (end - run.created_at).total_seconds(),
        "live_seconds": LIVE_SECONDS,
    }


def _render(request: AuthedRequest, template_partial: str, context: dict) -> HttpResponse:
    return render(request, f"web/run.html#{template_partial}" if is_partial(request) else "web/run.html", context)


@login_required
@require_GET
@vary_on_headers("HX-Request")
def run(request: AuthedRequest, entity: str, project: str, run_id: str) -> HttpResponse:
    """The run's address opens the Overview, or the Logs when the run failed (where its traceback is)."""
    found = _run_for(request, entity, project, run_id)
    context = _context(request, found, "overview")
    if context["state"].code in ("failed", "crashed") and not is_partial(request):
        return _logs(request, found, context)
    return _overview(request, found, context)


@login_required
@require_POST
def run_stop(request: AuthedRequest, entity: str, project: str, run_id: str) -> HttpResponse:
    """Ask a running run to stop, as the item's Stop and `api.run().stop()` do: any member may, as in W&B. The
    run stops at its own next stop check; for a launched run, its agent ends the process at the latest."""
    found = _run_for(request, entity, project, run_id)
    state = _state(found, launch_selectors.item_for_run(found))  # what the run page shows as its state
    if state.code != "running":
        messages.error(request, f"Run {found.name} is {state.label.lower()}: only running runs can be stopped.")
    else:
        project_services.run_request_stop(run=found, by=request.user)
        messages.success(
            request,
            f"Asked run {found.name} to stop: it stops at its next stop check (every 15 s), "
            "or its agent ends the process about a minute later.",
        )
    return redirect("run", entity, project, found.name)


@login_required
@require_GET
@vary_on_headers("HX-Request")
def run_overview(request: AuthedRequest, entity: str, project: str, run_id: str) -> HttpResponse:
    found = _run_for(request, entity, project, run_id)
    return _overview(request, found, _context(request, found, "overview"))


def _overview(request: AuthedRequest, run: Run, context: dict) -> HttpResponse:
    context.update(
        tab="overview",
        meta=_metadata(run),
        job=_job_link(context["item_row"]),
        config_rows=_table({k: v for k, v in (run.config or {}).items() if k != "_wandb"}),
        summary_rows=_table(run.summary or {}),
    )
    return _render(request, "overview-live", context)


def _numeric(types: list) -> bool:
    return any(t.get("type") == "number" for t in types if isinstance(t, dict))


def chart_groups(run: Run) -> list[tuple[str, list[str]]]:
    """The run's numeric history keys, grouped by prefix (train/, val/; the rest under Charts), from the
    history keys stored on the run (no query)."""
    keys = sorted(
        key
        for key, entry in ((run.history_keys or {}).get("keys") or {}).items()
        if not key.startswith("_") and _numeric(entry.get("typeCounts") or [])
    )
    groups: dict[str, list[str]] = {}
    for key in keys:
        prefix = key.split("/", 1)[0] if "/" in key else "Charts"
        groups.setdefault(prefix, []).append(key)
    return sorted(groups.items(), key=lambda group: (group[0] == "Charts", group[0]))


@login_required
@require_GET
def run_charts(request: AuthedRequest, entity: str, project: str, run_id: str) -> HttpResponse:
    found = _run_for(request, entity, project, run_id)
    context = _context(request, found, "charts")
    context.update(groups=chart_groups(found), x_axes=[(k, v[1]) for k, v in X_AXES.items()])
    return render(request, "web/run.html", context)


_DEVICE = re.compile(r"\.(\d+)\.")
SYSTEM_SECTIONS = [("cpu", "CPU"), ("memory", "Memory"), ("disk", "Disk"), ("network", "Network"), ("gpu", "GPU")]


def system_charts(latest: dict) -> list[tuple[str, list[dict]]]:
    """The system-metric charts of a run from its latest sample's keys: one chart per metric, one line per
    device (CPU core, GPU), in sections CPU, Memory, Disk, Network, GPU, Other."""
    charts: dict[str, dict] = {}
    for key in sorted(latest):
        value = latest[key]
        if not key.startswith("system.") or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        title = _DEVICE.sub(".*.", key[len("system.") :], count=1)
        chart = charts.setdefault(title, {"title": title, "keys": []})
        chart["keys"].append(key)
    sections: dict[str, list[dict]] = {}
    for title, chart in charts.items():
        section = next((label for word, label in SYSTEM_SECTIONS if word in title.lower()), "Other")
        sections.setdefault(section, []).append(chart)
    order = [label for _, label in SYSTEM_SECTIONS] + ["Other"]
    return [(label, sections[label]) for label in order if label in sections]


@login_required
@require_GET
def run_system(request: AuthedRequest, entity: str, project: str, run_id: str) -> HttpResponse:
    found = _run_for(request, entity, project, run_id)
    context = _context(request, found, "system")
    context["sections"] = system_charts(project_selectors.run_latest_events(found))
    return render(request, "web/run.html", context)


def _finite(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value if math.isfinite(value) else None


@login_required
@require_GET
def run_chart_data(request: AuthedRequest, entity: str, project: str, run_id: str) -> JsonResponse:
    """One chart's sampled data for charts.js: {x, x_kind, x_label, series: [{label, values}], live}.
    ?key= (repeatable) names the lines, ?x= step | wall | relative, ?stream=system for system metrics."""
    found = _run_for(request, entity, project, run_id)
    keys = [key for key in request.GET.getlist("key") if key][:CHART_MAX_KEYS]
    system = request.GET.get("stream") == "system"
    axis = request.GET.get("x") or ("relative" if system else "step")
    if axis not in X_AXES or (system and axis == "step"):
        axis = "relative" if system else "step"
    x_key, x_label, x_kind = X_AXES[axis]
    if not keys:
        rows: list[dict] = []
    elif system:
        rows = project_selectors.run_history_sample(found, CHART_SAMPLES, file=RunStreamLine.EVENTS)
    else:
        rows = project_selectors.run_sampled_history(found, [x_key, *keys], CHART_SAMPLES, extremes=True)
    xs: list[float] = []
    values: list[list[float | None]] = [[] for _ in keys]
    for row in rows:
        x = _finite(row.get(x_key))
        # A system-metrics row holds what one sampler reported: skip those with none of these keys.
        if x is None or (system and not any(key in row for key in keys)):
            continue
        xs.append(x)
        for index, key in enumerate(keys):
            values[index].append(_finite(row.get(key)))
    state = run_state(found)
    return JsonResponse(
        {
            "x": xs,
            "x_kind": x_kind,
            "x_label": x_label,
            "series": [
                {"label": key[len("system.") :] if system else key, "values": series}
                for key, series in zip(keys, values, strict=True)
            ],
            "live": state == RunState.RUNNING,
        }
    )


def _log_lines(rows: list[tuple[int, str]]) -> list[dict]:
    lines = []
    for number, text in rows:
        level, stamp, content = project_selectors.console_line_parts(text)
        lines.append({"number": number + 1, "level": level, "stamp": stamp, "html": ansi.to_html(content)})
    return lines


@login_required
@require_GET
def run_logs(request: AuthedRequest, entity: str, project: str, run_id: str) -> HttpResponse:
    found = _run_for(request, entity, project, run_id)
    return _logs(request, found, _context(request, found, "logs"))


def _logs(request: AuthedRequest, run: Run, context: dict) -> HttpResponse:
    search = (request.GET.get("q") or "").strip()
    if search:
        rows = project_selectors.run_console_search(run, search, limit=LOG_LINES)
    else:
        rows = project_selectors.run_console_tail(run, limit=LOG_LINES)
    context.update(
        tab="logs",
        search=search,
        lines=_log_lines(rows),
        last_line=rows[-1][0] if rows else -1,
        earlier=bool(rows) and rows[0][0] > 0 and not search,
        follow=context["state"].live and not search,
    )
    return render(request, "web/run.html", context)


@login_required
@require_GET
def run_logs_tail(request: AuthedRequest, entity: str, project: str, run_id: str) -> HttpResponse:
    """The console lines after ?after= (htmx, every few seconds while the run runs): only what is new."""
    found = _run_for(request, entity, project, run_id)
    try:
        after = max(-1, int(request.GET.get("after", "-1")))
    except ValueError:
        after = -1
    rows = project_selectors.run_console_lines(found, after=after, limit=LOG_LINES)
    state = _state(found, None)
    context = {
        "run": found,
        "entity": found.project.entity.name,
        "project": found.project.name,
        "lines": _log_lines(rows),
        "last_line": rows[-1][0] if rows else after,
        # A run that just ended may still be sending its last lines: follow while there is more.
        "follow": state.live or bool(rows),
        "live_seconds": LIVE_SECONDS,
        "append": True,
    }
    return render(request, "web/run.html#log-tail", context)


@login_required
@require_GET
def run_logs_download(request: AuthedRequest, entity: str, project: str, run_id: str) -> StreamingHttpResponse:
    """The whole console log as text (streamed page by page, so any length fits in bounded memory)."""
    found = _run_for(request, entity, project, run_id)

    def lines():
        for _, text in project_selectors.run_console_all(found):
            level, _stamp, content = project_selectors.console_line_parts(text)
            yield content + "\n"

    response = StreamingHttpResponse(lines(), content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{found.name}-output.log"'
    return response


def _is_text(name: str, size: int) -> bool:
    return name.lower().endswith(TEXT_SUFFIXES) or ("." not in name.rsplit("/", 1)[-1] and size < PREVIEW_BYTES)


@login_required
@require_GET
def run_files_tab(request: AuthedRequest, entity: str, project: str, run_id: str) -> HttpResponse:
    found = _run_for(request, entity, project, run_id)
    context = _context(request, found, "files")
    base = public_base_url(request)
    files = list(project_selectors.run_files(found)[:1000])
    context["files"] = [
        {
            "file": file,
            "text": _is_text(file.name, file.size),
            "download": run_files.download_url(
                base, run_id=found.pk, name=file.name, user_id=request.user.pk, entity_id=found.project.entity_id
            ),
        }
        for file in files
    ]
    return render(request, "web/run.html", context)


@login_required
@require_GET
def run_file_preview(request: AuthedRequest, entity: str, project: str, run_id: str, name: str) -> HttpResponse:
    """The start of a text file the run uploaded (the whole file is the download)."""
    found = _run_for(request, entity, project, run_id)
    file = project_selectors.run_files(found).filter(name=name).first()
    if file is None:
        raise Http404("The run has no such file.")
    with run_files.open_file(file.storage_key) as handle:
        head = handle.read(PREVIEW_BYTES)
    context = _context(request, found, "files", with_item=False)
    context.update(
        preview=file,
        preview_text=head.decode("utf-8", errors="replace"),
        preview_cut=file.size > PREVIEW_BYTES,
        download=run_files.download_url(
            public_base_url(request),
            run_id=found.pk,
            name=file.name,
            user_id=request.user.pk,
            entity_id=found.project.entity_id,
        ),
    )
    return render(request, "web/run.html", context)


def _artifact_row(artifact) -> dict:
    """An artifact version for the Artifacts tab, linked to its job page when it is a job."""
    collection = artifact.collection
    url = None
    if collection.type_name == "job":
        url = reverse("job", args=[collection.project.entity.name, collection.project.name, collection.name])
        url += f"?version={artifact.version}" if artifact.version else ""
    return {"artifact": artifact, "aliases": [a.alias for a in artifact.aliases.all()], "url": url}


@login_required
@require_GET
def run_artifacts(request: AuthedRequest, entity: str, project: str, run_id: str) -> HttpResponse:
    found = _run_for(request, entity, project, run_id)
    context = _context(request, found, "artifacts")
    # The same reads as the client's run.logged_artifacts() / run.used_artifacts() (first page of each).
    logged, _, _ = artifact_selectors.run_artifacts_page(found, used=False, user=request.user)
    used, _, _ = artifact_selectors.run_artifacts_page(found, used=True, user=request.user)
    context.update(
        logged=[_artifact_row(a) for a in logged],
        used=[_artifact_row(a) for a in used],
        used_job=_job_link(context["item_row"]),
    )
    return render(request, "web/run.html", context)
