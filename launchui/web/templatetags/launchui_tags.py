"""Small presentation helpers: relative times, status badges and query-string links."""

import html
import re
from datetime import datetime
from functools import lru_cache
from urllib.parse import quote

from django import template
from django.urls import get_script_prefix, reverse
from django.utils import timezone
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

# Every status is shown as a word and a colour; the colour comes from these classes (static/css/app.css).
BADGE_TONES = {
    "POLLING": "ok",
    "RUNNING": "info",
    "KILLED": "muted",
    "OFFLINE": "bad",
    "ACTIVE": "ok",
    "NOT_RUNNING": "muted",
    "UNSERVED": "bad",
    "PENDING": "warn",
    "LEASED": "info",
    "CLAIMED": "ok",
    "FAILED": "bad",
    "REVOKED": "muted",
    # job builds
    "queued": "warn",
    "running": "info",
    "succeeded": "ok",
    "failed": "bad",
}


def ago_text(value: datetime, now: datetime | None = None) -> str:
    seconds = int(((now or timezone.now()) - value).total_seconds())
    if seconds < 0:
        return "just now"
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} d ago"


@register.simple_tag
def time_ago(value: datetime | None, empty: str = "Never"):
    """<time> with a relative text ("12 s ago") and the exact time as its title and datetime."""
    if value is None:
        return empty
    local = timezone.localtime(value)
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        local.isoformat(),
        local.strftime("%Y-%m-%d %H:%M:%S %Z"),
        ago_text(value),
    )


@register.simple_tag
def time_exact(value: datetime | None, empty: str = "—"):
    if value is None:
        return empty
    local = timezone.localtime(value)
    return format_html('<time datetime="{}">{}</time>', local.isoformat(), local.strftime("%Y-%m-%d %H:%M"))


_NAME_BREAKS = re.compile(r"([-_/:])")


@register.filter
def name_breaks(value) -> SafeString:
    """A job or image name that may wrap only after - _ / : ("trainer:latest" never as "tr / ainer"): the
    text, escaped, with <wbr> after each of those. Its cell's CSS (.name-breaks) forbids breaks elsewhere."""
    escaped = str(conditional_escape(value if value is not None else ""))
    return mark_safe(_NAME_BREAKS.sub(r"\1<wbr>", escaped))  # escaped above; only <wbr> is added


@register.simple_tag
def badge(code: str, label: str):
    return format_html('<span class="badge badge-{}">{}</span>', BADGE_TONES.get(code, "muted"), label)


@register.simple_tag(takes_context=True)
def query(context, **changes) -> str:
    """The current query string with some parameters replaced; empty values are dropped."""
    params = context["request"].GET.copy()
    for key, value in changes.items():
        params[key] = value
    for key in [k for k, v in params.items() if v in ("", None)]:
        del params[key]
    encoded = params.urlencode()
    return f"?{encoded}" if encoded else "?"


@register.simple_tag(takes_context=True)
def sort_header(context, label: str, key: str):
    """A column header that sorts by key, or by -key when already sorted by key."""
    current = context.get("sort", "")
    target = f"-{key}" if current == key else key
    url = query(context, sort=target, page="")
    if current == key:
        aria, arrow = "ascending", " ▲"
    elif current == f"-{key}":
        aria, arrow = "descending", " ▼"
    else:
        aria, arrow = "none", ""
    return format_html(
        '<th scope="col" aria-sort="{}"><a href="{}" hx-get="{}">{}{}</a></th>', aria, url, url, label, arrow
    )


@register.simple_tag
def select_options(field):
    """The <option>s of a bound ChoiceField, the current value selected. Written in Python: a user in a
    thousand entities gets a thousand options, and a template loop with an {% if %} per option cost ~14 ms
    of the Launch page's ~60 (Django's select widget, one template per option, about 5x more). html.escape is
    django.utils.html.escape without its lazy-string wrapper, which cost as much as the rest."""
    current = str(field.value() or "")
    parts = []
    for value, label in field.field.choices:
        value = str(value)
        selected = " selected" if value == current else ""
        parts.append(f'<option value="{html.escape(value)}"{selected}>{html.escape(str(label))}</option>')
    return mark_safe("".join(parts))  # every value and label is escaped above


_SLOT = "\x00"  # reverse() quotes it to %00, which no route's own text contains
_URL_SAFE = "!$&'()*+,;=/~:@"  # what reverse() leaves unquoted (django.utils.http.RFC3986_SUBDELIMS + "/~:@")


@lru_cache(maxsize=64)
def _route_parts(name: str, script_prefix: str) -> list[str]:
    return reverse(name, args=[_SLOT, _SLOT]).split(quote(_SLOT))


@register.filter
def queue_url(queue, name: str) -> str:
    """reverse(name, args=[queue.entity.name, queue.name]) for a page of queue rows: the route is reversed
    once per process and the names are quoted into it. {% url %} cost ~40% of the Launch page's table
    (2 per row, 25 µs each, most of it matching the route again); tests/web/test_launch_page.py checks both
    give the same path."""
    before, middle, after = _route_parts(name, get_script_prefix())
    return f"{before}{quote(queue.entity.name, safe=_URL_SAFE)}{middle}{quote(queue.name, safe=_URL_SAFE)}{after}"
