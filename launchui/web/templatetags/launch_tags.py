"""Presentation of launched items: their status as a word and a colour, and durations."""

import json

from django import template
from django.utils.html import format_html

from launchui.web.launch_charts import duration_text

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
