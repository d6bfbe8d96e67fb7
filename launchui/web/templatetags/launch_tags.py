"""Presentation of launched items: their status as a word and a colour, and durations."""

import html
import json

from django import template
from django.urls import get_script_prefix
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from launchui.web.launch_charts import duration_text
from launchui.web.templatetags.launchui_tags import (
    button_form,
    clock,
    csrf_input,
    item_url,
    name_breaks,
    route,
    time_ago_html,
)

register = template.Library()

# Item statuses (launch.liveness.ItemStatus) to the badge tones of static/css/app.css. Red is for failures
# only: Queued and Idle are waiting states (amber), Idle's reason says what it waits for.
ITEM_TONES = {
    "queued": "warn",
    "idle": "warn",
    "pending": "info",
    "running": "info",
    "stopping": "warn",
    "finished": "ok",
    "failed": "bad",
    "crashed": "bad",
    "killed": "muted",
}


@register.simple_tag
def item_badge(row):
    """An item's status (a launch.selectors.ItemRow) as a badge."""
    return format_html(
        '<span class="badge badge-{} item-status item-status-{}">{}</span>',
        ITEM_TONES.get(row.status, "muted"),
        row.status,
        row.status_label,
    )


@register.filter
def duration(seconds):
    return duration_text(seconds)


@register.filter
def get_item(mapping, key):
    return mapping.get(key, "") if isinstance(mapping, dict) else ""


@register.filter
def pretty_json(value) -> str:
    return json.dumps(value, indent=2, sort_keys=True)


@register.simple_tag
def run_badge(row):
    """A run's derived state (a launch.selectors.RunRow) as a word and a colour."""
    return format_html(
        '<span class="badge badge-{} run-state run-state-{}">{}</span>',
        ITEM_TONES.get(row.state, "muted"),
        row.state,
        row.state_label,
    )


@register.filter
def cell(value) -> str:
    """A config or summary value in a table cell: numbers compact, others as short JSON."""
    if value is None or value == "":
        return "—"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (int, str)) and not isinstance(value, bool):
        text = str(value)
    else:
        text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 80 else text[:79] + "…"


@register.filter
def run_tone(code) -> str:
    """A run's or item's status code to its badge tone."""
    return ITEM_TONES.get(str(code), "muted")


_WAITING = ("queued", "idle")
_WITH_REASON = ("queued", "idle", "pending", "stopping")
_NEXT = ' <span class="muted">(next)</span>'
_STOPPING = '<button type="button" class="btn btn-small" disabled>Stopping…</button>'


@register.simple_tag(takes_context=True)
def item_rows(context, rows, back: str, on_overview: bool = False) -> SafeString:
    """The <tr>s of launched items (launch.selectors.ItemRows): W&B's columns, failures and waits said inline,
    Cancel and Stop. On a queue's Overview (on_overview) also its priority (a form for admins of a prioritized
    queue) and waiting position, from the context's queue, positions, priorities, positions_max, is_admin.
    Written in Python like agent_tags.agent_rows: as an included template per row, then as a template loop,
    the Overview's 50 rows cost ~13 then ~9 ms; here a row is a few f-strings. Every value from the database
    goes through html.escape, as autoescape would; the explanation of a failure is still the template
    launch/_item_error.html (the item page shows it too), rendered for the rows that ended badly only."""
    esc = html.escape
    now, zone = clock(context)
    csrf = csrf_input(context)
    back = esc(back)
    if on_overview:
        queue, positions = context["queue"], context["positions"]
        prioritized, is_admin = queue.is_prioritized, context.get("is_admin")
        positions_max = esc(str(context["positions_max"]))
        columns = 11 if prioritized else 10
    else:
        columns = 9
    error_template = None
    prefix = get_script_prefix()
    parts = []
    for row in rows:
        item, run, status = row.item, row.run, row.status
        pk = item.pk
        page = esc(item_url(item, "queue_item", prefix))
        if run is not None:
            run_url = esc(route("run", item.queue.entity.name, run.project.name, run.name, prefix=prefix))
            first = f'<a href="{run_url}">{esc(run.name)}</a><br>'
            first += f'<a class="muted item-link" href="{page}">Item #{pk}</a>'
        else:
            first = f'<a href="{page}">{esc(item.associated_run_id) if item.associated_run_id else f"Item #{pk}"}</a>'
        reason = f'<p class="item-reason">{esc(row.status_reason)}</p>' if status in _WITH_REASON else ""
        cells = [
            f'<tr class="item-row" id="item-{pk}"><td class="mono">{first}</td>',
            f'<td class="mono job-cell name-breaks">{name_breaks(row.job_name or "—")}</td>',
            f"<td>{esc(row.project_name or '—')}</td><td>{item_badge(row)}{reason}</td>",
        ]
        if on_overview:
            position = positions.get(pk)
            if prioritized:
                if position and is_admin:
                    options = "".join(
                        f'<option value="{value}"{" selected" if value == item.priority else ""}>{esc(label)}</option>'
                        for value, label in context["priorities"]
                    )
                    priority = (
                        f'<form method="post" action="{esc(item_url(item, "item_priority", prefix))}" '
                        'class="inline-form">'
                        f'{csrf}<label class="sr-only" for="priority-{pk}">Priority of item #{pk}</label>'
                        f'<select id="priority-{pk}" name="priority" hx-preserve>{options}</select>'
                        f'<button type="submit" class="btn btn-small" aria-label="Set priority of item #{pk}">'
                        "Set</button></form>"
                    )
                else:
                    priority = esc(item.get_priority_display())
                cells.append(f'<td class="priority-cell">{priority}</td>')
            if position:
                place = f"{position}{_NEXT if position == 1 else ''}"
            else:
                place = f"after {positions_max}" if status in _WAITING else "—"
            cells.append(f'<td class="num position-cell">{place}</td>')
        started = time_ago_html(row.started_at, now, zone) if row.started_at else "—"
        cells.append(
            f"<td>{esc(row.author or '—')}</td><td>{time_ago_html(item.created_at, now, zone)}</td>"
            f'<td>{started}</td><td class="num">{esc(duration_text(row.duration))}</td>'
        )
        if status in _WAITING:
            cancel = esc(item_url(item, "item_delete", prefix))
            confirm = f"Cancel item #{pk}? It leaves the queue."
            action = button_form(cancel, csrf, "Cancel", confirm=confirm, label=f"Cancel item #{pk}")
        elif status == "running":
            run_name = esc(run.name) if run is not None else ""
            stop = esc(item_url(item, "item_stop", prefix))
            action = button_form(
                stop, csrf, "Stop", confirm=f"Stop run {run_name}?", back=back, label=f"Stop run {run_name}"
            )
        else:
            action = _STOPPING if status == "stopping" else ""
        cells.append(f'<td class="row-actions">{action}</td></tr>\n')
        if row.ended_badly:
            if error_template is None:
                error_template = context.template.engine.get_template("launch/_item_error.html")
            with context.push(row=row, item=item):
                explained = error_template.render(context)
            cells.append(f'<tr class="error-row" id="item-{pk}-error"><td colspan="{columns}">{explained}</td></tr>\n')
        parts.append("".join(cells))
    return mark_safe("".join(parts))  # every value from the database is escaped above
