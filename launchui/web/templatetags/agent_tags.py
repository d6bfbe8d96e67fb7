"""The agents tables' rows (the on-call Agents page, a queue's Agents tab), written in Python."""

import html

from django import template
from django.urls import get_script_prefix
from django.utils.safestring import SafeString, mark_safe

from launchui.launch import liveness
from launchui.launch import selectors as launch_selectors
from launchui.web.templatetags.launchui_tags import (
    badge,
    button_form,
    clock,
    csrf_input,
    item_url,
    queue_url,
    route,
    time_ago_html,
    time_exact_html,
)

register = template.Library()

STOPPING = ' <span class="muted">stopping…</span>'


@register.simple_tag(takes_context=True)
def agent_rows(context, rows, show_queues: bool) -> SafeString:
    """The <tr>s of launch.selectors.AgentRows. As a template loop the 50 rows of a page cost ~7 ms (a
    lookup, an escape and a render call per cell, a {% url %} per link); here a row is a few f-strings. Every
    value from the database goes through html.escape, as autoescape would; tests/web/test_agents.py reads
    the rows (names, links, status words, Stop and Delete)."""
    esc = html.escape
    now, zone = clock(context)
    csrf = csrf_input(context)
    back = esc(context["request"].get_full_path())
    prefix = get_script_prefix()
    badges: dict[str, str] = {}
    parts = []
    for row in rows:
        agent = row.agent
        name = esc(agent.name)
        live = liveness.is_live_status(row.status)
        if row.status not in badges:
            badges[row.status] = badge(row.status, row.status_label)
        cells = [
            f'<tr data-agent="{name}">',
            f'<td class="mono"><a href="{esc(route("agent", agent.pk, prefix=prefix))}">{name}</a></td>',
            f"<td>{badges[row.status]}{STOPPING if live and agent.stop_requested else ''}</td>",
        ]
        if show_queues:
            links = ", ".join(
                f'<a href="{esc(route("queue_agents", q.entity_name, q.name, prefix=prefix))}">{esc(q.name)}</a>'
                for q in row.queues
            )
            cells.append(f"<td>{esc(agent.entity.name)}</td><td>{links}</td>")
        cells.append(
            f'<td>{esc(agent.hostname or "—")}</td><td class="mono">{esc(agent.version or "—")}</td>'
            f"<td>{time_exact_html(agent.started_at, zone)}</td><td>{time_ago_html(agent.last_seen_at, now, zone)}</td>"
        )
        if not live:
            slots = '<span class="slots muted">none</span>'
        elif row.slots is None:
            slots = f'<span class="slots">{row.used_slots} running, no limit</span>'
        else:
            slots = f'<span class="slots">{row.used_slots} / {row.slots} running, {row.free_slots} free</span>'
        running = "".join(
            f'<br><a class="muted" href="{esc(item_url(item, "queue_item", prefix))}">'
            f"#{item.pk} in {esc(item.queue.name)}"
            f"{' → ' + esc(item.associated_run_id) if item.associated_run_id else ''}</a>"
            for item in row.running_items
        )
        cells.append(f'<td class="agent-slots">{slots}{running}</td>')
        action = ""
        if row.controlled and live and not agent.stop_requested:
            stop = esc(route("agent_stop", agent.pk, prefix=prefix))
            action = button_form(stop, csrf, "Stop", confirm=f"Stop {name}? It finishes its poll and exits.", back=back)
        elif row.controlled and not live:
            action = button_form(esc(route("agent_delete", agent.pk, prefix=prefix)), csrf, "Delete", back=back)
        cells.append(f'<td class="row-actions">{action}</td></tr>\n')
        parts.append("".join(cells))
    return mark_safe("".join(parts))  # every value from the database is escaped above


def _waiting(count: int) -> str:
    cap = launch_selectors.UNSERVED_COUNT_UP_TO
    return f"{cap:,}+" if count > cap else f"{count:,}"


@register.simple_tag
def unserved_items(queues) -> SafeString:
    """The <li>s of the Agents page's unserved queues (launch.selectors.unserved_queues), written in Python
    like the rows above: as a template loop its 20 items cost ~4 ms, a fifth of the page's rendering."""
    unserved = badge("OFFLINE", "Unserved")
    prefix = get_script_prefix()
    return mark_safe(  # every value from the database is escaped
        "".join(
            f'<li>{unserved} <a class="strong" href="{html.escape(queue_url(queue, "queue_agents", prefix))}">'
            f"{html.escape(queue.entity.name)}/{html.escape(queue.name)}</a>"
            f" · {_waiting(queue.queued_count)} waiting · {html.escape(queue.get_resource_display())}</li>\n"
            for queue in queues
        )
    )
