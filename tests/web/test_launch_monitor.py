"""The Monitor tab: the last 7 days as inline SVG charts with text alternatives, and the errors."""

import json
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from launchui.launch.models import RunQueueItem
from launchui.projects.models import Run
from launchui.projects.services import run_stream
from launchui.web.launch_charts import bar_chart, day_buckets, duration_text
from tests.web.helpers import count_queries, text
from tests.web.test_launch_items import failed, push, start

pytestmark = pytest.mark.django_db

URL = "/launch/acme/queues/gpu-queue/monitor"


def test_monitor_is_for_members_only(client, owner, member, outsider, queue):
    for user, status in [(owner, 200), (member, 200), (outsider, 404)]:
        client.force_login(user)
        assert client.get(URL).status_code == status, user


def test_monitor_tab_is_linked_and_current(client, owner, queue):
    client.force_login(owner)
    body = text(client.get(URL))
    assert f'<a href="{URL}" aria-current="page">Monitor</a>' in body
    assert 'href="/launch/acme/queues/gpu-queue/" >Overview' not in body


def test_charts_are_inline_svg_with_text_alternatives(client, owner, queue, agent):
    start(queue, agent, owner, "run-a", complete=True, exit_code=0)
    start(queue, agent, owner, "run-b")
    failed(queue, agent, owner)
    push(queue, owner)
    client.force_login(owner)
    body = " ".join(text(client.get(URL)).split())
    assert body.count('<svg class="chart-svg"') == 4  # status, queued time, run timeline, CPU/memory/GPU
    assert 'aria-labelledby="timeline-title timeline-desc"' in body
    assert 'aria-labelledby="system-title system-desc"' in body
    assert 'role="img" aria-labelledby="status-chart-title status-chart-desc"' in body
    assert 'aria-labelledby="wait-chart-title wait-chart-desc"' in body
    assert "<script" not in body.split('id="monitor"')[1]  # no chart library
    assert "by their status now: 1 queued, 1 running, 1 finished, 1 failed." in body
    assert "2 items claimed, on average" in body
    # the table holds the same numbers as the bars
    today = timezone.localtime().strftime("%a %d %b")
    row = re.search(rf'<tr><th scope="row">{today}</th>(.*?)</tr>', body).group(1)
    assert re.findall(r'<td class="num">(\d+)</td>', row) == ["1", "1", "1", "1", "4"]
    assert f"<title>{today}: 1 finished</title>" in body
    assert body.count('<th scope="row">') == 16  # 7 days in each table, and the timeline's 2 runs


def test_errors_newest_first_with_stage_and_message(client, owner, queue, agent):
    first = failed(queue, agent, owner, message="first failure", stage="build")
    second = failed(queue, agent, owner, message="second failure", stage="run", files=["logs/x.log"])
    RunQueueItem.objects.filter(pk=first.pk).update(updated_at=timezone.now() - timedelta(hours=2))
    start(queue, agent, owner, "run-exit", complete=True, exit_code=2)
    client.force_login(owner)
    body = text(client.get(URL))
    errors = body.split('id="errors-title"')[1]
    assert errors.index("The run exited with code 2.") < errors.index("second failure") < errors.index("first failure")
    assert "<td>build</td>" in errors and "<code>logs/x.log</code>" in errors
    assert f'/items/{second.pk}">#{second.pk}</a>' in errors


def test_items_older_than_a_week_are_left_out(client, owner, queue):
    old = push(queue, owner)
    RunQueueItem.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=8))
    client.force_login(owner)
    body = text(client.get(URL))
    assert "0 items launched" in body and "No failed or crashed items in the last 7 days." in body


def test_monitor_queries_constant(client, owner, queue, agent):
    client.force_login(owner)
    start(queue, agent, owner, "run-0", complete=True, exit_code=0)
    failed(queue, agent, owner)
    few, _ = count_queries(client, URL)
    for i in range(1, 20):
        start(queue, agent, owner, f"run-{i}", **({"complete": True, "exit_code": i % 3} if i % 2 else {}))
        failed(queue, agent, owner)
    many, response = count_queries(client, URL)
    assert response.context["total"] == 40
    assert few == many == 8, few  # exact, like the wire's query budgets (8th: the runs' system metrics)
    partial = text(client.get(URL, headers={"HX-Request": "true"}))
    assert partial.lstrip().startswith('<section id="monitor"')


def test_chart_helpers():
    assert [duration_text(s) for s in (None, 5, 65, 120, 3700)] == ["—", "5 s", "1 min 5 s", "2 min", "1 h 1 min"]
    buckets = day_buckets(days=7)
    assert len(buckets) == 7 and buckets[-1][1] <= timezone.now() + timedelta(seconds=1)
    chart = bar_chart(
        [{"label": "a", "values": {"x": 3, "y": 1}}, {"label": "b", "values": {}}],
        ["x", "y"],
        {"x": "#000", "y": "#fff"},
    )
    heights = [bar["h"] for bar in chart["bars"]]
    assert len(heights) == 2 and heights[0] == pytest.approx(3 * heights[1], rel=0.01)
    assert [t["text"] for t in chart["ticks"]] == ["0", "2", "4"]


def events(run, samples: list[tuple[float, float, float, float | None]]):
    """System-metric rows as the client streams them: (seconds ago, cpu %, memory %, gpu % or None)."""
    now = timezone.now().timestamp()
    lines = []
    for ago, cpu, memory, gpu in samples:
        row = {"_timestamp": now - ago, "_wandb": True, "system.cpu": cpu, "system.memory_percent": memory}
        if gpu is not None:
            row["system.gpu.0.gpu"] = gpu
        lines.append(json.dumps(row))
    run_stream(run=run, complete=False, exit_code=None, files={"wandb-events.jsonl": {"offset": 0, "content": lines}})


def test_timeline_draws_each_run_linked_and_coloured_by_state(client, owner, queue, agent):
    _, done = start(queue, agent, owner, "run-done", complete=True, exit_code=0)
    _, broke = start(queue, agent, owner, "run-broke", complete=True, exit_code=2)
    _, live = start(queue, agent, owner, "run-live")
    Run.objects.filter(pk=done.pk).update(created_at=timezone.now() - timedelta(days=2, hours=1))
    Run.objects.filter(pk=done.pk).update(completed_at=timezone.now() - timedelta(days=2))
    waiting = push(queue, owner)  # no run: no bar
    client.force_login(owner)
    response = client.get(URL)
    bars = {bar["name"]: bar for bar in response.context["timeline"]["bars"]}
    assert sorted(bars) == ["run-broke", "run-done", "run-live"]
    assert {name: bar["state"] for name, bar in bars.items()} == {
        "run-done": "finished",
        "run-broke": "failed",
        "run-live": "running",
    }
    assert bars["run-done"]["duration"] == "1 h"
    assert bars["run-done"]["x"] < bars["run-broke"]["x"]  # two days earlier, further left
    assert bars["run-done"]["w"] > bars["run-broke"]["w"]
    body = text(response)
    assert '<a href="/acme/train/runs/run-done"><rect class="timeline-bar"' in body
    assert "<title>run-done: Finished, 1 h</title>" in body
    table = body.split('id="timeline-table"')[1].split("</table>")[0]
    assert '<a href="/acme/train/runs/run-broke">run-broke</a></th><td>Failed</td>' in table
    assert str(waiting.pk) not in table


def test_system_chart_averages_the_runs_cpu_memory_and_gpu_per_hour(client, owner, queue, agent):
    _, first = start(queue, agent, owner, "run-a")
    _, second = start(queue, agent, owner, "run-b")
    events(first, [(3 * 3600 + 60, 10, 40, 90), (3 * 3600 + 30, 30, 40, 70), (60, 50, 20, None)])
    events(second, [(3 * 3600 + 45, 20, 60, None)])
    client.force_login(owner)
    rows = client.get(URL).context["metrics_chart"]["rows"]
    assert [(r["runs"], r["cpu"], r["memory"], r["gpu"]) for r in rows] == [
        (2, pytest.approx(20), pytest.approx(140 / 3), pytest.approx(80)),
        (1, pytest.approx(50), pytest.approx(20), None),
    ]
    chart = client.get(URL).context["metrics_chart"]
    assert [line["key"] for line in chart["lines"]] == ["cpu", "memory", "gpu"]
    body = text(client.get(URL))
    assert '<td class="num">20.0</td><td class="num">46.7</td><td class="num">80.0</td>' in body


def test_monitor_queries_stay_constant_with_runs_and_metrics(client, owner, queue, agent):
    client.force_login(owner)
    _, run = start(queue, agent, owner, "run-0", complete=True, exit_code=0)
    events(run, [(60, 1, 1, 1)])
    few, _ = count_queries(client, URL)
    for i in range(1, 15):
        _, run = start(queue, agent, owner, f"run-{i}")
        events(run, [(s * 600, i, i, i) for s in range(20)])
    many, response = count_queries(client, URL)
    assert len(response.context["timeline"]["bars"]) == 15
    assert few == many == 8, few  # the Monitor's 7, and one for the runs' system metrics
