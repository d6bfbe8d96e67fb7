"""Small presentation helpers: relative times, status badges and query-string links."""

import html
import re
from datetime import datetime, tzinfo
from functools import lru_cache
from urllib.parse import quote

from django import template
from django.urls import get_script_prefix, reverse
from django.utils import timezone
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString, mark_safe

from launchui.launch.models import RunQueue

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


_CLOCK = object()  # the render_context key of (now, current time zone), read once per template rendered


def clock(context) -> tuple[datetime, tzinfo]:
    """Now and the current time zone, once per template rendered rather than per time shown: a page of 50 rows
    shows 100 times, and timezone.localtime() reads the active zone from a context-local each time (most of
    its cost)."""
    found = context.render_context.get(_CLOCK)
    if found is None:
        found = context.render_context[_CLOCK] = (timezone.now(), timezone.get_current_timezone())
    return found


# The <time> elements below hold digits, signs and a zone's abbreviation (html.escape for form's sake):
# format_html, with its lazy-string wrappers, cost more than the rest.
def time_ago_html(value: datetime, now: datetime, zone: tzinfo) -> str:
    local = value.astimezone(zone)
    return (
        f'<time datetime="{local.isoformat()}" title="{html.escape(local.strftime("%Y-%m-%d %H:%M:%S %Z"))}">'
        f"{ago_text(value, now)}</time>"
    )


def time_exact_html(value: datetime, zone: tzinfo) -> str:
    local = value.astimezone(zone)
    return f'<time datetime="{local.isoformat()}">{local.strftime("%Y-%m-%d %H:%M")}</time>'


@register.simple_tag(takes_context=True)
def time_ago(context, value: datetime | None, empty: str = "Never"):
    """<time> with a relative text ("12 s ago") and the exact time as its title and datetime."""
    if value is None:
        return empty
    return mark_safe(time_ago_html(value, *clock(context)))


@register.simple_tag(takes_context=True)
def time_exact(context, value: datetime | None, empty: str = "—"):
    if value is None:
        return empty
    return mark_safe(time_exact_html(value, clock(context)[1]))


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
    of the Launch page's ~60 (Django's select widget, one template per option, about 5x more). The values
    and labels are escaped in one html.escape call each (_escape_all), not one per option."""
    current = str(field.value() or "")
    choices = field.field.choices
    values = [str(value) for value, _ in choices]
    escaped_values = _escape_all(values)
    escaped_labels = _escape_all([str(label) for _, label in choices])
    parts = []
    for value, escaped_value, escaped_label in zip(values, escaped_values, escaped_labels, strict=True):
        selected = " selected" if value == current else ""
        parts.append(f'<option value="{escaped_value}"{selected}>{escaped_label}</option>')
    return mark_safe("".join(parts))  # every value and label is escaped above


def _escape_all(texts: list[str]) -> list[str]:
    """[html.escape(text) for text in texts] in one pass over one joined string: html.escape is five
    str.replace calls, and a thousand short calls cost more than the rest of select_options. NUL joins
    them (html.escape leaves it); a text holding NUL itself would split wrong, so it falls back."""
    escaped = html.escape("\x00".join(texts)).split("\x00")
    if len(escaped) != len(texts):
        return [html.escape(text) for text in texts]
    return escaped


_SLOT = "\x00"  # reverse() quotes it to %00, which no route's own text contains
_INT_SLOT = 918_273_645_546_372_819  # for <int:…> arguments; its digits appear in no route's own text
_URL_SAFE = "!$&'()*+,;=/~:@"  # what reverse() leaves unquoted (django.utils.http.RFC3986_SUBDELIMS + "/~:@")


@lru_cache(maxsize=128)
def _route_parts(name: str, int_args: tuple[bool, ...], script_prefix: str) -> tuple[str, ...]:
    """The route's text around its arguments: reversed once with placeholders, then split at them."""
    rest = reverse(name, args=[_INT_SLOT if is_int else _SLOT for is_int in int_args])
    parts = []
    for is_int in int_args:
        before, _, rest = rest.partition(str(_INT_SLOT) if is_int else quote(_SLOT))
        parts.append(before)
    return (*parts, rest)


def route(name: str, *args: str | int, prefix: str | None = None) -> str:
    """reverse(name, args=args) for rows of links: each route is reversed once per process and the arguments
    (names, quoted as reverse() quotes them, or ids) are put into it. {% url %} cost ~40% of the Launch
    page's table and ~30% of a queue's Overview (25 µs each, most of it matching the route again);
    tests/web/test_links.py checks both give the same path. Arguments must be what the route accepts (a
    name that is not empty, an int for <int:…>): unlike reverse(), nothing is checked here. A table's rows
    pass the script prefix they read once (get_script_prefix() reads a context-local: a quarter of the Agents
    table's time when read per link)."""
    if prefix is None:
        prefix = get_script_prefix()
    parts = _route_parts(name, tuple(isinstance(arg, int) for arg in args), prefix)
    out = [parts[0]]
    for arg, part in zip(args, parts[1:], strict=True):
        out.append(str(arg) if isinstance(arg, int) else quote(arg, safe=_URL_SAFE))
        out.append(part)
    return "".join(out)


@register.filter
def queue_url(queue, name: str, prefix: str | None = None) -> str:
    """route(name, queue's entity name, queue name): a queue's links in a table of queues."""
    return route(name, queue.entity.name, queue.name, prefix=prefix)


@register.filter
def item_url(item, name: str, prefix: str | None = None) -> str:
    """route(name, entity, queue, item id): a queue item's links in a table of items."""
    return route(name, item.queue.entity.name, item.queue.name, item.pk, prefix=prefix)


def csrf_input(context) -> str:
    """What {% csrf_token %} writes, for rows written in Python: computed once per table, not once per row."""
    token = context.get("csrf_token")
    if not token or token == "NOTPROVIDED":
        return ""
    return f'<input type="hidden" name="csrfmiddlewaretoken" value="{html.escape(str(token))}">'


def button_form(action: str, csrf: str, button: str, *, confirm: str = "", back: str = "", label: str = "") -> str:
    """A row's one-button POST form (Stop, Delete, Cancel), as the row writers in Python write them. Every
    argument is HTML already (escaped by the caller): `confirm` asks first (app.js), `back` is the page to
    return to, `label` the button's accessible name when its text alone is too short."""
    asks = f' data-confirm="{confirm}"' if confirm else ""
    returns = f'<input type="hidden" name="next" value="{back}">' if back else ""
    named = f' aria-label="{label}"' if label else ""
    return (
        f'<form method="post" action="{action}"{asks}>{csrf}{returns}'
        f'<button type="submit" class="btn btn-small"{named}>{button}</button></form>'
    )


_QUEUE_STATE_BADGES = {
    "ACTIVE": badge("ACTIVE", "Active"),
    "UNSERVED": badge("UNSERVED", "Not running"),
    "NOT_RUNNING": badge("NOT_RUNNING", "Not running"),
}
_RESOURCE_LABELS = dict(RunQueue.RESOURCES)


@register.simple_tag
def queue_rows(queues) -> SafeString:
    """The Launch page's queue rows, each with its hidden row for the expander's recent items. Written in
    Python like select_options: as a template loop the 50 rows cost about half of the page's Django time
    (a variable lookup, escape and render call per cell); here a row is one f-string. Every value from the
    database goes through html.escape, as autoescape would; tests/web/test_launch_page.py checks the rows."""
    esc = html.escape
    prefix = get_script_prefix()
    parts = []
    for queue in queues:
        pk, entity, name = queue.pk, esc(queue.entity.name), esc(queue.name)
        if queue.live_agent_count > 0:
            state = _QUEUE_STATE_BADGES["ACTIVE"]
        else:
            state = _QUEUE_STATE_BADGES["UNSERVED" if queue.queued_count else "NOT_RUNNING"]
        parts.append(
            f'<tr><td><button type="button" class="expander" aria-expanded="false" aria-controls="recent-{pk}" '
            f'aria-label="Recent items of {entity}/{name}" hx-get="{esc(queue_url(queue, "queue_recent", prefix))}" '
            f'hx-target="#recent-{pk}" hx-swap="outerHTML" data-expander></button>'
            f'<a class="strong" href="{esc(queue_url(queue, "queue_overview", prefix))}">{name}</a></td>'
            f"<td>{entity}</td><td>{esc(str(_RESOURCE_LABELS.get(queue.resource, queue.resource)))}</td>"
            f'<td>{state}</td><td class="num">{int(queue.queued_count)}</td>'
            f'<td class="num">{int(queue.live_agent_count)}</td></tr>\n'
            f'<tr id="recent-{pk}" class="recent-row" hidden></tr>\n'
        )
    return mark_safe("".join(parts))  # every value from the database is escaped above
