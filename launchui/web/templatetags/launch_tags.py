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
