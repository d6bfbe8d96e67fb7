"""Launched items on the queue's Overview, on their own page and under the Launch page's rows: statuses in
words, why an item waits, why it failed (inline), Cancel and Stop, live refresh, constant queries."""

import pytest

from launchui.launch.models import RunQueueItem
from launchui.launch.services import item_ack, item_fail, item_pop, item_push
from launchui.projects.models import Run
from launchui.projects.services import project_get_or_create, run_stream, run_upsert
from tests.web.helpers import count_queries, text

pytestmark = pytest.mark.django_db

BASE = "/launch/acme/queues/gpu-queue/"
HX = {"HX-Request": "true"}


def push(queue, user, job="acme/train/job-trainer:latest"):
    return item_push(queue=queue, run_spec={"job": job, "project": "train", "author": user.username}, created_by=user)


def start(queue, agent, user, run_name, **stream):
    """An item an agent popped and acked, with its run reporting; stream=dict(complete=, exit_code=)."""
    item = push(queue, user)
    popped = item_pop(queue=queue, agent_id=agent.pk)
    assert popped.pk == item.pk
    item_ack(item=popped, run_name=run_name)
    run, _ = run_upsert(
        project=project_get_or_create(entity=queue.entity, name="train"), name=run_name, created_by=user
    )
    if stream:
        run_stream(run=run, **stream)
    return item, run


def failed(queue, agent, user, message="image not found", stage="build", files=("logs/build.log",)):
    item = push(queue, user)
    popped = item_pop(queue=queue, agent_id=agent.pk)
    item_fail(item=popped, message=message, stage=stage, file_paths=list(files))
    return item


# --- Overview -------------------------------------------------------------------------------------


def test_overview_columns_and_statuses_in_words(client, owner, member, queue, agent):
    running, run = start(queue, agent, member, "run-running")
    finished, _ = start(queue, agent, owner, "run-done", complete=True, exit_code=0)
    crashed_exit, _ = start(queue, agent, owner, "run-exit3", complete=True, exit_code=3)
    broken = failed(queue, agent, owner)
    waiting = push(queue, member)
    client.force_login(owner)
    body = text(client.get(BASE))
    for column in ["Run", "Job", "Project", "Status", "Author", "Created", "Started", "Duration"]:
        assert f'<th scope="col">{column}</th>' in body
    assert 'item-status-running">Running</span>' in body and "badge-info" in body
    assert 'item-status-finished">Finished</span>' in body
    assert 'item-status-failed">Failed</span>' in body
    assert 'item-status-queued">Queued</span>' in body
    assert ">run-running</a>" in body and f">Item #{waiting.pk}</a>" in body
    assert "acme/<wbr>train/<wbr>job-<wbr>trainer:<wbr>latest" in body and ">mateo</td>" in body
    # why it waits, and why it failed, on the row itself
    assert "Waiting for the next poll: agents poll every 10 seconds." in body
    assert "<strong>Failed at the build stage:</strong>\nimage not found" in body
    assert "<code>logs/build.log</code>" in body
    assert "<strong>Failed:</strong>\nThe run exited with code 3." in body
    # actions: Cancel for the waiting item, Stop for the running run
    assert f"/items/{waiting.pk}/delete" in body and f'aria-label="Cancel item #{waiting.pk}"' in body
    assert f"/items/{running.pk}/stop" in body and 'aria-label="Stop run run-running"' in body
    for item in (finished, crashed_exit, broken):
        assert f"/items/{item.pk}/stop" not in body and f"/items/{item.pk}/delete" not in body


def test_item_without_agent_is_idle_with_its_reason(client, member, queue):
    push(queue, member)
    client.force_login(member)
    body = text(client.get(BASE))
    assert 'item-status-idle">Idle</span>' in body and "badge-warn" in body and "badge-bad" not in body
    assert "No live agent polls this queue: start one with the command on the Agents tab." in body


def test_overview_refreshes_itself_while_visible(client, owner, queue):
    client.force_login(owner)
    body = text(client.get(BASE + "?page=1"))
    assert 'hx-get="/launch/acme/queues/gpu-queue/?page=1"' in body
    assert 'hx-trigger="every 3s" data-poll-while-visible' in body
    partial = text(client.get(BASE, headers=HX))
    assert partial.lstrip().startswith('<section id="items"') and 'hx-trigger="every 3s' in partial


def test_overview_queries_constant_with_runs(client, owner, queue, agent):
    client.force_login(owner)
    for i in range(2):
        start(queue, agent, owner, f"run-{i}", complete=True, exit_code=i)
    failed(queue, agent, owner)  # rows that ended badly read their console tails and attached files: 2 queries
    few, _ = count_queries(client, BASE)
    for i in range(3, 20):
        if i % 3:
            start(queue, agent, owner, f"run-{i}", **({"complete": True, "exit_code": 0} if i % 2 else {}))
        else:
            failed(queue, agent, owner)
    many, response = count_queries(client, BASE)
    assert len(response.context["page"].object_list) == 20
    assert few == many == 11, few  # exact, like the wire's query budgets (the 11th: waiting positions)


# --- item page ------------------------------------------------------------------------------------


def test_item_page_for_members_only(client, owner, member, outsider, queue, make_queue, team):
    item = push(queue, owner)
    other = push(make_queue(team, "other"), owner)
    for user, status in [(owner, 200), (member, 200), (outsider, 404)]:
        client.force_login(user)
        assert client.get(f"{BASE}items/{item.pk}").status_code == status, user
    client.force_login(owner)
    assert client.get(f"{BASE}items/{other.pk}").status_code == 404  # not through another queue
    assert client.get(f"{BASE}items/999999").status_code == 404


def test_item_page_shows_failure_inline(client, member, queue, agent):
    item = failed(
        queue,
        agent,
        member,
        message="pull access denied for nope",
        stage="run",
        files=["logs/agent.log", "logs/run.log"],
    )
    client.force_login(member)
    body = text(client.get(f"{BASE}items/{item.pk}"))
    assert 'role="alert"' in body and "<strong>Failed at the run stage:</strong>" in body
    assert "pull access denied for nope" in body
    for path in ("logs/agent.log", "logs/run.log"):  # each attached file links to its download
        assert f'<a href="{BASE}items/{item.pk}/files/{path}" download><code>{path}</code></a>' in body
    assert "acme/<wbr>train/<wbr>job-<wbr>trainer:<wbr>latest" in body


def test_item_page_says_why_it_waits_and_refreshes(client, member, queue):
    item = push(queue, member)
    client.force_login(member)
    body = text(client.get(f"{BASE}items/{item.pk}"))
    assert 'item-status-idle">Idle</span>' in body and "No live agent polls this queue" in body
    assert ">Cancel item</button>" in body
    partial = text(client.get(f"{BASE}items/{item.pk}", headers=HX))
    assert partial.lstrip().startswith('<section id="item-live"') and "every 3s" in partial


def test_item_page_shows_overrides_and_template_values(client, owner, queue):
    item = item_push(
        queue=queue,
        run_spec={
            "job": "acme/train/j:v0",
            "project": "train",
            "overrides": {"args": ["--lr", "0.1"], "entry_point": ["python", "t.py"], "run_config": {"epochs": 3}},
        },
        created_by=owner,
    )
    client.force_login(owner)
    body = text(client.get(f"{BASE}items/{item.pk}"))
    assert "--lr 0.1" in body and "python t.py" in body and "&quot;epochs&quot;: 3" in body


# --- Stop and Cancel ------------------------------------------------------------------------------


def test_member_stops_a_running_run(client, member, queue, agent, owner):
    item, run = start(queue, agent, owner, "run-live")
    client.force_login(member)
    response = client.post(f"{BASE}items/{item.pk}/stop", {"next": BASE})
    assert response.status_code == 302 and response["Location"] == BASE
    assert Run.objects.get(pk=run.pk).stop_requested
    body = text(client.get(BASE))
    assert "Asked run run-live to stop" in body and ">Stopping…</button>" in body


def test_stop_refuses_runs_that_are_not_running(client, owner, queue, agent):
    item, run = start(queue, agent, owner, "run-done", complete=True, exit_code=0)
    client.force_login(owner)
    response = client.post(f"{BASE}items/{item.pk}/stop", follow=True)
    assert "only running runs can be stopped" in text(response)
    assert not Run.objects.get(pk=run.pk).stop_requested


def test_outsider_cannot_stop(client, outsider, owner, queue, agent):
    item, run = start(queue, agent, owner, "run-live")
    client.force_login(outsider)
    assert client.post(f"{BASE}items/{item.pk}/stop").status_code == 404
    assert client.get(f"{BASE}items/{item.pk}/stop").status_code == 405
    assert not Run.objects.get(pk=run.pk).stop_requested


def test_stop_next_must_be_local(client, owner, queue, agent):
    item, _ = start(queue, agent, owner, "run-live")
    client.force_login(owner)
    response = client.post(f"{BASE}items/{item.pk}/stop", {"next": "https://evil.example.com/"})
    assert response["Location"] == f"{BASE}items/{item.pk}"


def test_member_cancels_a_waiting_item_from_its_page(client, member, queue):
    item = push(queue, member)
    client.force_login(member)
    response = client.post(f"{BASE}items/{item.pk}/delete", follow=True)
    assert f"Item {item.pk} cancelled." in text(response)
    assert not RunQueueItem.objects.filter(pk=item.pk).exists()


# --- Launch page rows -----------------------------------------------------------------------------


def test_launch_page_rows_expand_to_recent_items(client, owner, member, outsider, queue, agent):
    start(queue, agent, owner, "run-live")
    waiting = push(queue, member)
    client.force_login(owner)
    body = text(client.get("/launch"))
    assert f'aria-controls="recent-{queue.pk}"' in body
    assert 'hx-get="/launch/acme/queues/gpu-queue/recent"' in body
    assert f'<tr id="recent-{queue.pk}" class="recent-row" hidden></tr>' in body
    for user, status in [(owner, 200), (member, 200), (outsider, 404)]:
        client.force_login(user)
        assert client.get(BASE + "recent", headers=HX).status_code == status
    client.force_login(member)
    recent = text(client.get(BASE + "recent", headers=HX))
    assert recent.lstrip().startswith(f'<tr id="recent-{queue.pk}" class="recent-row"')
    assert "run-live" in recent and 'item-status-running">Running</span>' in recent
    assert f">Item #{waiting.pk}</a>" in recent and "Waiting" in recent
    assert "every 3s" in recent


def test_recent_items_queries_constant(client, owner, queue, agent):
    client.force_login(owner)
    start(queue, agent, owner, "run-0", complete=True, exit_code=1)
    failed(queue, agent, owner)
    few, _ = count_queries(client, BASE + "recent", headers=HX)
    for i in range(1, 12):
        start(queue, agent, owner, f"run-{i}")
    failed(queue, agent, owner)
    start(queue, agent, owner, "run-12", complete=True, exit_code=2)
    many, response = count_queries(client, BASE + "recent", headers=HX)
    assert len(response.context["items"]) == 10
    assert few == many == 9, few  # exact, like the wire's query budgets
