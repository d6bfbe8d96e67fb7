from datetime import timedelta

import pytest
from django.utils import timezone

from launchui.launch import selectors as launch_selectors
from launchui.launch.models import LaunchAgent, RunQueueItem
from launchui.launch.services import agent_update_status, item_pop, item_push
from tests.web.helpers import count_queries, text

pytestmark = pytest.mark.django_db

TAB = "/launch/acme/queues/gpu-queue/agents"


def go_offline(agent):
    LaunchAgent.objects.filter(pk=agent.pk).update(last_seen_at=timezone.now() - timedelta(minutes=10))


# --- the queue's Agents tab -----------------------------------------------------------------------


def test_empty_state_shows_the_command(client, member, queue):
    client.force_login(member)
    body = text(client.get(TAB))
    assert "No agent has polled this queue yet." in body
    assert 'id="agent-command-empty">WANDB_BASE_URL=http://testserver wandb launch-agent -q gpu-queue -e acme<' in body
    assert 'data-copy="#agent-command-empty">Copy</button>' in body


def test_tab_shows_agents_with_status_words_and_refreshes_itself(client, owner, queue, make_agent):
    polling = make_agent(queue, "box-polling")
    running = make_agent(queue, "box-running")
    agent_update_status(agent_id=running.pk, status="RUNNING")
    killed = make_agent(queue, "box-killed")
    agent_update_status(agent_id=killed.pk, status="KILLED")
    go_offline(make_agent(queue, "box-offline"))
    item_push(queue=queue, run_spec={}, created_by=owner)
    item_pop(queue=queue, agent_id=polling.pk)
    client.force_login(owner)
    body = text(client.get(TAB))
    for word, tone in [("Polling", "ok"), ("Running", "info"), ("Killed", "muted"), ("Offline", "bad")]:
        assert f'<span class="badge badge-{tone}">{word}</span>' in body
    assert "box-polling" in body and "wandb@0.31.0" in body
    assert "1 / 1 running, 0 free" in body and "in gpu-queue" in body  # its leased item holds its one slot
    assert 'title="' in body and " s ago</time>" in body
    assert 'hx-trigger="every 3s" data-poll-while-visible' in body
    assert f'hx-get="{TAB}"' in body
    assert "No live agent is polling" not in body


def test_htmx_refresh_gets_only_the_table(client, owner, queue, make_agent):
    make_agent(queue)
    client.force_login(owner)
    body = text(client.get(TAB, headers={"HX-Request": "true"}))
    assert body.lstrip().startswith('<section id="agents"')
    assert "<html" not in body
    # the header's queue state comes along out of band, so it turns Active when the agent appears
    assert '<span id="queue-state" hx-swap-oob="true">' in body and "Active</span></span>" in body


def test_red_banner_inside_tab_when_every_agent_is_down(client, owner, queue, make_agent):
    go_offline(make_agent(queue))
    client.force_login(owner)
    body = text(client.get(TAB, headers={"HX-Request": "true"}))
    assert "No live agent is polling this queue." in body
    assert "wandb launch-agent -q gpu-queue -e acme" in body


def test_admin_sees_stop_and_delete_member_does_not(client, owner, member, queue, make_agent):
    make_agent(queue)
    go_offline(make_agent(queue, "box-2"))
    client.force_login(owner)
    body = text(client.get(TAB))
    assert ">Stop</button>" in body and ">Delete</button>" in body
    client.force_login(member)
    body = text(client.get(TAB))
    assert ">Stop</button>" not in body and ">Delete</button>" not in body


def test_tab_query_count_does_not_grow_with_agents(client, owner, queue, make_agent):
    client.force_login(owner)
    for i in range(2):
        make_agent(queue, f"box-{i}")
    few, _ = count_queries(client, TAB)
    for i in range(2, 20):
        agent = make_agent(queue, f"box-{i}")
        if i % 3 == 0:
            item_push(queue=queue, run_spec={}, created_by=owner)
            item_pop(queue=queue, agent_id=agent.pk)
    many, response = count_queries(client, TAB)
    assert len(response.context["agents"]) == 20
    # exact, like the wire's query budgets; whether the user controls each agent is an EXISTS in the agents' query
    assert few == many == 7, few


def _rows(response) -> list[tuple]:
    return [
        (row.agent.pk, row.agent.entity.name, row.status, row.queues, [i.pk for i in row.running_items], row.controlled)
        for row in response.context["agents"]
    ]


def test_tab_reads_the_same_with_more_agents_than_its_compiled_statements_take(
    client, owner, queue, make_agent, monkeypatch
):
    """A page of agents has its queues and current items read by statements compiled for a page of ids;
    a longer list (this tab is not paged) by the same ORM code as an ordinary query: the same rows, and
    still one query each."""
    for i in range(6):
        agent = make_agent(queue, f"box-{i}")
        if i % 2 == 0:
            item_push(queue=queue, run_spec={}, created_by=owner)
            item_pop(queue=queue, agent_id=agent.pk)
    client.force_login(owner)
    compiled_count, compiled_page = count_queries(client, TAB)
    monkeypatch.setattr("launchui.core.compiled.IdsStatement.COMPILE_UP_TO", 2)
    orm_count, orm_page = count_queries(client, TAB)
    assert _rows(compiled_page) == _rows(orm_page)
    assert sum(len(row[4]) for row in _rows(orm_page)) == 3 and all(row[3] for row in _rows(orm_page))
    assert compiled_count == orm_count


# --- stop and delete ------------------------------------------------------------------------------


def test_admin_stops_a_live_agent(client, owner, queue, make_agent):
    agent = make_agent(queue)
    client.force_login(owner)
    response = client.post(f"/launch/agents/{agent.pk}/stop", {"next": TAB})
    assert response.status_code == 302 and response["Location"] == TAB
    agent.refresh_from_db()
    assert agent.stop_requested


def test_stop_ignores_an_offsite_next(client, owner, queue, make_agent):
    agent = make_agent(queue)
    client.force_login(owner)
    response = client.post(f"/launch/agents/{agent.pk}/stop", {"next": "https://evil.example.com/"})
    assert response["Location"] == "/launch/agents"


def test_member_and_outsider_cannot_stop_or_delete(client, member, outsider, queue, make_agent):
    agent = make_agent(queue)
    go_offline(agent)
    client.force_login(member)
    assert client.post(f"/launch/agents/{agent.pk}/stop").status_code == 403
    assert client.post(f"/launch/agents/{agent.pk}/delete").status_code == 403
    client.force_login(outsider)
    assert client.post(f"/launch/agents/{agent.pk}/stop").status_code == 404
    assert client.post(f"/launch/agents/{agent.pk}/delete").status_code == 404
    assert client.post("/launch/agents/999999/stop").status_code == 404
    agent.refresh_from_db()
    assert not agent.stop_requested


def test_delete_refuses_a_live_agent_and_removes_an_offline_one(client, owner, queue, make_agent):
    agent = make_agent(queue)
    client.force_login(owner)
    response = client.post(f"/launch/agents/{agent.pk}/delete", {"next": TAB}, follow=True)
    assert "Only Killed or Offline agents can be deleted" in text(response)
    assert LaunchAgent.objects.filter(pk=agent.pk).exists()
    go_offline(agent)
    client.post(f"/launch/agents/{agent.pk}/delete", {"next": TAB})
    assert not LaunchAgent.objects.filter(pk=agent.pk).exists()


# --- the Agents page ------------------------------------------------------------------------------


@pytest.fixture
def fleet(owner, team, queue, make_queue, make_agent):
    """acme: one polling, one offline agent; olivia's own queue with one killed agent and waiting work."""
    mine = make_queue(owner.personal_entity, "laptop")
    polling = make_agent(queue, "acme-live")
    offline = make_agent(queue, "acme-dead")
    go_offline(offline)
    killed = make_agent(mine, "laptop-agent")
    agent_update_status(agent_id=killed.pk, status="KILLED")
    item_push(queue=mine, run_spec={}, created_by=owner)
    return polling, offline, killed


def test_the_unserved_list_counts_a_deep_queue_up_to_its_cap(client, owner, make_queue):
    """The Agents page refreshes every 3 s: a queue nobody serves shows "1,000+ waiting" rather than being
    counted to its depth on every refresh; below the cap the count is exact."""
    deep, shallow = make_queue(owner.personal_entity, "deep"), make_queue(owner.personal_entity, "shallow")
    cap = launch_selectors.UNSERVED_COUNT_UP_TO
    RunQueueItem.objects.bulk_create(
        [RunQueueItem(queue=deep, run_spec={}, created_by=owner) for _ in range(cap + 5)]
        + [RunQueueItem(queue=shallow, run_spec={}, created_by=owner) for _ in range(cap)]
    )
    client.force_login(owner)
    body = text(client.get("/launch/agents"))
    assert "olivia/deep</a> · 1,000+ waiting · " in body
    assert "olivia/shallow</a> · 1,000 waiting · " in body
    assert launch_selectors.queue_list(user=owner).get(name="deep").queued_count == cap + 5  # the Launch page's: exact


def hosts(response) -> list[str]:
    return sorted(row.agent.hostname for row in response.context["agents"])


def test_agents_page_lists_agents_and_unserved_queues_first(client, owner, fleet):
    client.force_login(owner)
    response = client.get("/launch/agents")
    assert hosts(response) == ["acme-dead", "acme-live", "laptop-agent"]
    body = text(response)
    assert "Queues with waiting items and no live agent" in body
    assert body.index("olivia/laptop") < body.index("acme-live")
    assert (
        '<li><span class="badge badge-bad">Unserved</span> <a class="strong" '
        'href="/launch/olivia/queues/laptop/agents">olivia/laptop</a> · 1 waiting · Docker</li>'
    ) in body
    assert [q.name for q in response.context["unserved"]] == ["laptop"]
    assert '<option value="" selected>All entities</option>' in body
    assert '<label for="id_status">Status</label>' in body


@pytest.mark.parametrize(
    "query,expected",
    [
        ("?entity=acme", ["acme-dead", "acme-live"]),
        ("?status=POLLING", ["acme-live"]),
        ("?status=OFFLINE", ["acme-dead"]),
        ("?status=KILLED", ["laptop-agent"]),
        ("?entity=olivia&status=POLLING", []),
        ("?entity=acme&status=OFFLINE", ["acme-dead"]),
        ("?entity=olivia&status=KILLED", ["laptop-agent"]),
        ("?entity=acme&status=RUNNING", []),
        ("?status=RUNNING", []),
        ("?status=nonsense", ["acme-dead", "acme-live", "laptop-agent"]),
    ],
)
def test_agents_page_filters(client, owner, fleet, query, expected):
    client.force_login(owner)
    assert hosts(client.get("/launch/agents" + query)) == expected


def test_agents_page_shows_only_own_entities(client, member, outsider, fleet):
    client.force_login(member)
    response = client.get("/launch/agents")
    assert hosts(response) == ["acme-dead", "acme-live"]
    assert ">Stop</button>" not in text(response)
    client.force_login(outsider)
    assert hosts(client.get("/launch/agents?entity=acme")) == []


def test_agents_page_live_refresh_and_filter_push_url(client, owner, fleet):
    client.force_login(owner)
    body = text(client.get("/launch/agents?entity=acme&status="))
    assert 'id="agents-live" hx-get="/launch/agents?entity=acme"' in body
    assert "every 3s" in body
    poll = client.get("/launch/agents?entity=acme", headers={"HX-Request": "true", "HX-Trigger": "agents-live"})
    assert text(poll).lstrip().startswith('<div id="agents-live"')
    assert "HX-Push-Url" not in poll
    filtered = client.get(
        "/launch/agents?entity=acme&status=", headers={"HX-Request": "true", "HX-Trigger": "agents-filter"}
    )
    assert filtered["HX-Push-Url"] == "/launch/agents?entity=acme"


def test_agents_page_query_count_does_not_grow(client, owner, team, queue, make_queue, make_agent):
    client.force_login(owner)
    others = [make_queue(team, f"q{i}") for i in range(3)]
    for i in range(2):
        make_agent(queue, f"a{i}")
    few, _ = count_queries(client, "/launch/agents")
    for i in range(2, 20):
        agent = make_agent(others[i % 3], f"a{i}")
        if i % 4 == 0:
            go_offline(agent)
        item_push(queue=others[i % 3], run_spec={}, created_by=owner)
    many, response = count_queries(client, "/launch/agents")
    assert len(response.context["agents"]) == 20
    # exact, like the wire's query budgets (the page count is one; control is an EXISTS in the agents' query)
    assert few == many == 8, few


def test_agents_page_is_paginated_and_its_refresh_stays_on_the_page(client, owner, team, queue, settings, make_agent):
    settings.LAUNCHUI_PAGE_SIZE = 2
    for i in range(5):
        make_agent(queue, f"a{i}")
    client.force_login(owner)
    first = client.get("/launch/agents")
    assert len(first.context["agents"]) == 2
    assert "Page 1 of 3 · 5 in all" in text(first)
    assert 'id="agents-live" hx-get="/launch/agents"' in text(first)
    third = client.get("/launch/agents?page=3")
    assert len(third.context["agents"]) == 1
    assert 'id="agents-live" hx-get="/launch/agents?page=3"' in text(third)
    seen = {row.agent.pk for p in (1, 2, 3) for row in client.get(f"/launch/agents?page={p}").context["agents"]}
    assert len(seen) == 5


def test_agents_page_shows_the_first_unserved_queues_and_says_there_are_more(client, owner, team, make_queue):
    from launchui.web.views import UNSERVED_SHOWN

    for i in range(UNSERVED_SHOWN + 1):
        item_push(queue=make_queue(team, f"u{i:02d}"), run_spec={}, created_by=owner)
    make_queue(team, "empty")
    client.force_login(owner)
    response = client.get("/launch/agents")
    assert [q.name for q in response.context["unserved"]] == [f"u{i:02d}" for i in range(UNSERVED_SHOWN)]
    assert response.context["unserved"][0].queued_count == 1
    assert f"Showing the first {UNSERVED_SHOWN} by entity and name" in text(response)
    assert "Showing the first" not in text(client.get("/launch/agents?entity=olivia"))
