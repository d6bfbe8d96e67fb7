import json
import re

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from launchui.launch.models import RunQueue, RunQueueItem
from launchui.launch.services import item_fail, item_pop, item_priority_set, item_push
from tests.web.helpers import count_queries, text

pytestmark = pytest.mark.django_db

BASE = "/launch/acme/queues/gpu-queue/"


def push(queue, n=1, user=None):
    return [item_push(queue=queue, run_spec={"job": "acme/p/job:v1"}, created_by=user) for _ in range(n)]


# --- access ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("tab", ["", "agents", "config"])
def test_tabs_are_for_members_only(client, owner, member, outsider, queue, tab):
    for user, status in [(owner, 200), (member, 200), (outsider, 404)]:
        client.force_login(user)
        assert client.get(BASE + tab).status_code == status, user


def test_unknown_queue_is_404(client, owner, team):
    client.force_login(owner)
    assert client.get("/launch/acme/queues/nope/").status_code == 404
    assert client.get("/launch/nope/queues/nope/").status_code == 404


def test_header_shows_queue_facts_and_admin_only_delete(client, owner, member, queue):
    client.force_login(owner)
    body = text(client.get(BASE))
    assert "<dd>acme</dd>" in body and "Docker" in body and "by olivia" in body
    assert "Prioritization</dt><dd>Off" in body
    assert ">Delete queue</a>" in body
    client.force_login(member)
    assert ">Delete queue</a>" not in text(client.get(BASE))


def test_red_banner_with_agent_command_when_no_live_agent(client, owner, queue, make_agent, settings):
    client.force_login(owner)
    body = text(client.get(BASE))
    assert "banner-bad" in body and "No agent is polling this queue." in body
    assert "WANDB_BASE_URL=http://testserver wandb launch-agent -q gpu-queue -e acme" in body
    assert ">Copy</button>" in body
    settings.LAUNCHUI_BASE_URL = "https://launch.example.com"
    assert "WANDB_BASE_URL=https://launch.example.com wandb launch-agent" in text(client.get(BASE))
    make_agent(queue)
    assert "No agent is polling this queue." not in text(client.get(BASE))


# --- overview -------------------------------------------------------------------------------------


def test_overview_lists_items_with_state_priority_agent_and_errors(client, owner, queue, make_agent):
    agent = make_agent(queue)
    push(queue, 3, owner)
    leased = item_pop(queue=queue, agent_id=agent.pk)
    failed = item_pop(queue=queue, agent_id=agent.pk)
    item_fail(item=failed, message="image not found", stage="build", file_paths=[])
    client.force_login(owner)
    body = text(client.get(BASE))
    # statuses as W&B words (launch.liveness.item_status): pending -> Queued, leased -> Pending
    assert ">Queued</span>" in body and ">Pending</span>" in body and ">Failed</span>" in body
    assert "Failed at the build stage:</strong>\nimage not found" in body
    assert agent.name in text(client.get(f"{BASE}items/{leased.pk}"))
    assert f"/items/{leased.pk}/delete" not in body  # only pending items can be deleted
    assert f"/items/{failed.pk}/delete" not in body


def test_overview_query_count_does_not_grow_with_items(client, owner, queue, make_agent):
    agent = make_agent(queue)
    client.force_login(owner)
    push(queue, 2, owner)
    item_pop(queue=queue, agent_id=agent.pk)
    few, _ = count_queries(client, BASE)
    push(queue, 18, owner)
    for _ in range(5):
        item_fail(item=item_pop(queue=queue, agent_id=agent.pk), message="x", stage="run", file_paths=[])
    many, response = count_queries(client, BASE)
    assert len(response.context["page"].object_list) == 20
    assert few == many == 8, few  # exact, like the wire's query budgets (the 8th: waiting positions)


def test_overview_htmx_gets_items_partial(client, owner, queue):
    client.force_login(owner)
    body = text(client.get(BASE, headers={"HX-Request": "true"}))
    assert body.lstrip().startswith('<section id="items"')


def test_overview_refresh_updates_the_state_and_banner_out_of_band(client, owner, queue, make_agent):
    # The header is not part of the refreshed items, so the refresh sends the queue's state and its "no agent"
    # banner out of band: starting an agent turns them to Active / no banner without a reload.
    client.force_login(owner)
    page = text(client.get(BASE))
    assert '<span id="queue-state"><span class="badge' in page and "hx-swap-oob" not in page
    body = text(client.get(BASE, headers={"HX-Request": "true"}))
    assert '<span id="queue-state" hx-swap-oob="true">' in body and "Not running" in body
    assert '<div id="queue-banner" hx-swap-oob="true">' in body and "No agent is polling this queue." in body
    make_agent(queue)
    body = text(client.get(BASE, headers={"HX-Request": "true"}))
    assert "Active</span></span>" in body and "Not running" not in body
    assert '<div id="queue-banner" hx-swap-oob="true">' in body and "No agent is polling this queue." not in body
    restore = text(client.get(BASE, headers={"HX-Request": "true", "HX-History-Restore-Request": "true"}))
    assert "hx-swap-oob" not in restore


# --- priorities and the pop order --------------------------------------------------------------


@pytest.fixture
def prioritized(queue):
    RunQueue.objects.filter(pk=queue.pk).update(prioritization_mode=RunQueue.PRIORITIZATION_V0)
    queue.refresh_from_db()
    return queue


def positions(client):
    response = client.get(BASE)
    return {row.item.pk: response.context["positions"].get(row.item.pk) for row in response.context["rows"]}


@pytest.mark.parametrize("compiled_ids", [50, 1], ids=["compiled", "more ids than a compiled statement takes"])
def test_overview_positions_follow_the_pop_order(client, owner, prioritized, make_agent, monkeypatch, compiled_ids):
    monkeypatch.setattr("launchui.core.compiled.IdsStatement.COMPILE_UP_TO", compiled_ids)
    low, medium, critical, medium2 = (
        item_push(queue=prioritized, run_spec={}, priority=p, created_by=owner) for p in (3, 2, 0, 2)
    )
    client.force_login(owner)
    assert positions(client) == {critical.pk: 1, medium.pk: 2, medium2.pk: 3, low.pk: 4}
    body = text(client.get(BASE))
    assert '<th scope="col">Priority</th><th scope="col">Position</th>' in body
    assert item_pop(queue=prioritized, agent_id=None).pk == critical.pk
    assert positions(client) == {critical.pk: None, medium.pk: 1, medium2.pk: 2, low.pk: 3}
    # Unprioritized: oldest first whatever the priority, as pop takes them.
    RunQueue.objects.filter(pk=prioritized.pk).update(prioritization_mode=RunQueue.PRIORITIZATION_DISABLED)
    assert positions(client) == {critical.pk: None, low.pk: 1, medium.pk: 2, medium2.pk: 3}


def test_positions_stop_at_the_cap_and_later_items_say_so(client, owner, prioritized, monkeypatch):
    monkeypatch.setattr("launchui.core.limits.OVERVIEW_POSITIONS_MAX", 2)
    first, second, third = push(prioritized, 3, owner)
    client.force_login(owner)
    assert positions(client) == {first.pk: 1, second.pk: 2, third.pk: None}
    body = text(client.get(BASE))
    assert re.search(r'<td class="num position-cell">after 2</td>', body)


def test_admin_changes_a_waiting_items_priority_from_its_row(client, owner, prioritized):
    first, second = push(prioritized, 2, owner)
    client.force_login(owner)
    assert f'id="priority-{second.pk}"' in text(client.get(BASE))
    response = client.post(f"{BASE}items/{second.pk}/priority", {"priority": "0"}, follow=True)
    assert f"Item #{second.pk} is now critical priority." in text(response)
    assert positions(client) == {second.pk: 1, first.pk: 2}
    assert item_pop(queue=prioritized, agent_id=None).pk == second.pk
    # Taken meanwhile: refused, the priority stays.
    response = client.post(f"{BASE}items/{second.pk}/priority", {"priority": "3"}, follow=True)
    assert "was taken by an agent meanwhile" in text(response)
    assert RunQueueItem.objects.get(pk=second.pk).priority == 0
    response = client.post(f"{BASE}items/{first.pk}/priority", {"priority": "9"}, follow=True)
    assert "Priority is 0 (critical), 1 (high), 2 (medium) or 3 (low)." in text(response)
    assert RunQueueItem.objects.get(pk=first.pk).priority == 2


def test_members_see_priorities_but_cannot_change_them_and_outsiders_get_404(client, member, outsider, prioritized):
    (item,) = push(prioritized)
    client.force_login(member)
    body = text(client.get(BASE))
    assert f'id="priority-{item.pk}"' not in body
    assert re.search(r'<td class="priority-cell">\s*Medium\s*</td>', body)
    assert client.post(f"{BASE}items/{item.pk}/priority", {"priority": "0"}).status_code == 403
    client.force_login(outsider)
    assert client.post(f"{BASE}items/{item.pk}/priority", {"priority": "0"}).status_code == 404
    assert RunQueueItem.objects.get(pk=item.pk).priority == RunQueueItem.MEDIUM


def test_item_priority_set_service_scopes_to_admins(owner, member, outsider, prioritized, queue):
    (item,) = push(prioritized)
    for user in (member, outsider):
        with pytest.raises(PermissionDenied):
            item_priority_set(user=user, item=item, priority=0)
    assert RunQueueItem.objects.get(pk=item.pk).priority == RunQueueItem.MEDIUM
    item_priority_set(user=owner, item=item, priority=1)
    assert RunQueueItem.objects.get(pk=item.pk).priority == 1
    RunQueue.objects.filter(pk=queue.pk).update(prioritization_mode=RunQueue.PRIORITIZATION_DISABLED)
    with pytest.raises(ValidationError, match="not prioritized"):
        item_priority_set(user=owner, item=item, priority=0)


def test_member_deletes_a_pending_item(client, member, queue):
    (item,) = push(queue)
    client.force_login(member)
    response = client.post(f"{BASE}items/{item.pk}/delete")
    assert response.status_code == 302 and response["Location"] == BASE
    assert not RunQueueItem.objects.filter(pk=item.pk).exists()


def test_leased_item_is_not_deleted(client, member, queue):
    (item,) = push(queue)
    item_pop(queue=queue, agent_id=None)
    client.force_login(member)
    response = client.post(f"{BASE}items/{item.pk}/delete", follow=True)
    assert "was taken by an agent meanwhile" in text(response)
    assert RunQueueItem.objects.filter(pk=item.pk).exists()


def test_outsider_cannot_delete_items(client, outsider, queue, team, make_queue):
    (item,) = push(queue)
    client.force_login(outsider)
    assert client.post(f"{BASE}items/{item.pk}/delete").status_code == 404
    other = make_queue(team, "other")
    (elsewhere,) = push(other)
    assert RunQueueItem.objects.filter(pk=item.pk).exists()
    client.force_login(queue.created_by)  # an item of another queue is not reachable through this one
    assert client.post(f"{BASE}items/{elsewhere.pk}/delete").status_code == 404


# --- config ---------------------------------------------------------------------------------------

VARIABLES = [
    {"name": "gpus", "schema": {"type": "integer", "minimum": 1, "maximum": 8, "default": 2}},
    {"name": "tier", "schema": {"type": "string", "enum": ["small", "large"]}},
]


def edit(**changes) -> dict:
    data = {
        "config": "image: '{{tier}}'\ngpus: '{{gpus}}'\n",
        "template_variables": json.dumps(VARIABLES),
        "external_links": json.dumps([{"label": "Grafana", "url": "https://grafana.example.com"}]),
        "prioritization": "on",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_admin_edits_config(client, owner, queue):
    client.force_login(owner)
    response = client.post(BASE + "config", edit())
    assert response.status_code == 302 and response["Location"] == BASE + "config"
    queue.refresh_from_db()
    assert queue.config == {"resource_args": {"local-container": {"image": "{{tier}}", "gpus": "{{gpus}}"}}}
    assert queue.config_text == "image: '{{tier}}'\ngpus: '{{gpus}}'\n"
    assert queue.prioritization_mode == "V0"
    assert queue.external_links == [{"label": "Grafana", "url": "https://grafana.example.com"}]
    body = text(client.get(BASE + "config"))
    assert "Configuration saved." in body
    assert '<h3 class="mono">gpus</h3>' in body and "<dt>Min</dt><dd>1</dd>" in body
    assert "<dt>Max</dt><dd>8</dd>" in body and "<dt>Default</dt><dd>2</dd>" in body
    assert "<dt>Allowed values</dt><dd>small, large</dd>" in body
    assert 'href="https://grafana.example.com"' in body
    assert "image: &#x27;{{tier}}&#x27;" in body  # the text as typed, in the editor


@pytest.mark.parametrize(
    "changes,field,message",
    [
        ({"config": "a: ["}, "config", "nor YAML"),
        ({"config": "a: '{{nope}}'"}, "template_variables", "{{nope}}"),
        (
            {"template_variables": '[{"name": "gpus", "schema": {"type": "integer", "default": "two"}}]', "config": ""},
            "template_variables",
            "is not an integer",
        ),
        ({"external_links": '[{"url": "ftp://x"}]'}, "external_links", "must start with http:// or https://"),
    ],
)
def test_bad_config_is_refused_beside_field(client, owner, queue, changes, field, message):
    before = RunQueue.objects.values().get(pk=queue.pk)
    client.force_login(owner)
    response = client.post(BASE + "config", edit(**changes))
    assert response.status_code == 200
    assert any(message in e for e in response.context["form"].errors[field])
    assert f'id="id_{field}_error"' in text(response)
    assert RunQueue.objects.values().get(pk=queue.pk) == before


def test_member_reads_config_but_cannot_edit(client, member, outsider, queue):
    client.force_login(member)
    body = text(client.get(BASE + "config"))
    assert 'class="code-block"' in body and "Save config" not in body
    assert client.post(BASE + "config", edit()).status_code == 403
    client.force_login(outsider)
    assert client.post(BASE + "config", edit()).status_code == 404
    queue.refresh_from_db()
    assert queue.template_variables == []


# --- delete ---------------------------------------------------------------------------------------


def test_admin_deletes_queue_after_confirming(client, owner, queue):
    push(queue, 2)
    client.force_login(owner)
    body = text(client.get(BASE + "delete"))
    assert "Delete queue acme/gpu-queue?" in body and "2 waiting items" in body
    assert RunQueue.objects.filter(pk=queue.pk).exists()
    response = client.post(BASE + "delete")
    assert response.status_code == 302 and response["Location"] == "/launch"
    assert not RunQueue.objects.filter(pk=queue.pk).exists()
    assert not RunQueueItem.objects.exists()


def test_member_and_outsider_cannot_delete_queue(client, member, outsider, queue):
    client.force_login(member)
    assert client.get(BASE + "delete").status_code == 403
    assert client.post(BASE + "delete").status_code == 403
    client.force_login(outsider)
    assert client.post(BASE + "delete").status_code == 404
    assert RunQueue.objects.filter(pk=queue.pk).exists()


def test_error_pages_explain_themselves(client, member, outsider, queue):
    client.force_login(outsider)
    response = client.get(BASE)
    assert "No such queue, or it belongs to an entity you are not a member of." in text(response)
    client.force_login(member)
    response = client.post(BASE + "delete")
    assert "Only admins of this entity delete its queues." in text(response)


def test_an_item_whose_lease_ran_out_is_waiting_again_and_can_be_cancelled(client, member, queue, settings):
    (item,) = push(queue)
    item_pop(queue=queue, agent_id=None)
    settings.LAUNCHUI_LEASE_SECONDS = 0  # the agent never acked: the item is back in its place
    client.force_login(member)
    response = client.post(f"{BASE}items/{item.pk}/delete", follow=True)
    assert f"Item {item.pk} cancelled." in text(response)
    assert not RunQueueItem.objects.filter(pk=item.pk).exists()
