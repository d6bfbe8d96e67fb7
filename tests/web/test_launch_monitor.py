"""The Monitor tab: the last 7 days as inline SVG charts with text alternatives, and the errors."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from launchui.launch.models import RunQueueItem
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
    assert body.count('<svg class="chart-svg"') == 2
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
    assert body.count('<th scope="row">') == 14  # 7 days in each table


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
    assert few == many == 7, few  # exact, like the wire's query budgets
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
