"""The run page (issue 11) with data stored through the file-stream service: scoping, each tab's content,
the chart data's values, the console's live tail and download, and queries constant in the run's length.
The real client drives the same pages in tests/browser/test_run_page_real_client.py."""

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from launchui.artifacts.models import Artifact, ArtifactUse
from launchui.launch.models import RunQueueItem
from launchui.projects.models import Run
from launchui.projects.services import project_get_or_create, run_stream, run_upsert
from launchui.web import ansi
from tests.web.helpers import count_queries, text
from tests.web.jobs_helpers import image_job

pytestmark = pytest.mark.django_db


def make_run(team, owner, *, name="r1", steps=10, lines=5, events=3, complete=False, exit_code=None) -> Run:
    project = project_get_or_create(entity=team, name="vision")
    config = {
        "lr": {"value": 0.01},
        "model": {"value": {"depth": 4, "act": "relu"}},
        "long": {"value": "x" * 300},
        "_wandb": {
            "value": {
                "python_version": "3.11.7",
                "cli_version": "0.31.0",
                "e": {
                    "w1": {
                        "program": "train.py",
                        "args": ["--epochs", "3"],
                        "python": "CPython 3.11.7",
                        "git": {"remote": "https://example.com/acme/vision.git", "commit": "abc123"},
                    }
                },
            }
        },
    }
    run, _ = run_upsert(
        project=project,
        name=name,
        created_by=owner,
        config=config,
        host="box-7",
        tags=["baseline"],
        notes="first try",
        summary={"train": {"loss": 0.1}},
    )
    history = [
        json.dumps(
            {
                "_step": s,
                "_runtime": s * 0.5,
                "_timestamp": 1_700_000_000 + s,
                "train/loss": 1 / (s + 1),
                "val/acc": s / 10,
            }
        )
        for s in range(steps)
    ]
    events_lines = [
        json.dumps(
            {
                "system.cpu": 10.0 + i,
                "system.gpu.0.temp": 40 + i,
                "system.gpu.1.temp": 50 + i,
                "_runtime": 15 * i,
                "_timestamp": 1_700_000_000 + 15 * i,
            }
        )
        for i in range(events)
    ]
    output = [f"2026-11-30T06:00:{i % 60:02d}.000000 line {i} \x1b[31mred\x1b[0m <b>" for i in range(lines)]
    run_stream(
        run=run,
        complete=complete,
        exit_code=exit_code,
        files={
            "wandb-history.jsonl": {"offset": 0, "content": history},
            "wandb-events.jsonl": {"offset": 0, "content": events_lines},
            "output.log": {"offset": 0, "content": output},
        },
    )
    run.refresh_from_db()
    return run


def url(name, run, *extra):
    return reverse(name, args=[run.project.entity.name, run.project.name, run.name, *extra])


@pytest.mark.parametrize("who", ["owner", "member"])
def test_members_see_the_run_and_outsiders_get_404(client, team, owner, member, outsider, who):
    run = make_run(team, owner)
    client.force_login({"owner": owner, "member": member}[who])
    for name in ("run", "run_overview", "run_charts", "run_system", "run_logs", "run_files", "run_artifacts"):
        assert client.get(url(name, run)).status_code == 200, name
    client.force_login(outsider)
    for name in (
        "run",
        "run_overview",
        "run_charts",
        "run_system",
        "run_logs",
        "run_logs_tail",
        "run_logs_download",
        "run_files",
        "run_artifacts",
        "run_chart_data",
    ):
        assert client.get(url(name, run)).status_code == 404, name
    assert client.get(reverse("run", args=["acme", "vision", "missing"])).status_code == 404


def test_overview_shows_facts_config_and_summary_flattened(client, team, owner):
    run = make_run(team, owner)
    client.force_login(owner)
    body = text(client.get(url("run", run)))
    assert "Running" in body and "box-7" in body and "train.py --epochs 3" in body
    assert "CPython 3.11.7" in body and "https://example.com/acme/vision.git" in body and "abc123" in body
    assert "model.depth" in body and "model.act" in body and "relu" in body
    assert "train.loss" in body and "0.1" in body
    assert '<details class="fold"><summary>' + "x" * 120 + "…</summary>" in body
    assert "_wandb" not in body
    assert "Not launched from a queue" in body


def test_overview_links_the_queue_item_and_the_job(client, team, owner, queue):
    run = make_run(team, owner)
    item = RunQueueItem.objects.create(
        queue=queue,
        run_spec={"job": "acme/vision/job-trainer:v2", "project": "vision"},
        state=RunQueueItem.CLAIMED,
        associated_run_id=run.name,
        created_by=owner,
    )
    client.force_login(owner)
    body = text(client.get(url("run_overview", run)))
    assert reverse("queue_item", args=["acme", queue.name, item.pk]) in body
    assert reverse("job", args=["acme", "vision", "job-trainer"]) + "?version=v2" in body


def test_chart_groups_and_chart_data_values(client, team, owner):
    run = make_run(team, owner, steps=10)
    client.force_login(owner)
    body = text(client.get(url("run_charts", run)))
    assert "<h2>train</h2>" in body and "<h2>val</h2>" in body
    assert "?key=train%2Floss" in body
    data = client.get(url("run_chart_data", run), {"key": "train/loss"}).json()
    assert data["x"] == list(range(10)) and data["x_kind"] == "step"
    assert data["series"] == [{"label": "train/loss", "values": [1 / (s + 1) for s in range(10)]}]
    assert data["live"] is True
    wall = client.get(url("run_chart_data", run), {"key": "val/acc", "x": "wall"}).json()
    assert wall["x"][0] == 1_700_000_000 and wall["x_kind"] == "time"
    relative = client.get(url("run_chart_data", run), {"key": "val/acc", "x": "relative"}).json()
    assert relative["x"][:3] == [0, 0.5, 1.0]


def test_chart_data_is_sampled_and_its_queries_are_constant(client, team, owner):
    client.force_login(owner)
    short = make_run(team, owner, name="short", steps=5)
    long = make_run(team, owner, name="long", steps=2000)
    n_short, _ = count_queries(client, url("run_chart_data", short) + "?key=train/loss")
    n_long, response = count_queries(client, url("run_chart_data", long) + "?key=train/loss")
    assert n_short == n_long
    data = response.json()
    # 500 step ranges, each keeping its first, lowest and highest point (a falling loss: first and last of
    # each range of 4 steps), and the key's last point: never the 2,000 rows, never more than 3 x 500 + 1.
    assert len(data["x"]) == 1000 and data["x"][0] == 0 and data["x"][-1] == 1999
    assert data["x"] == sorted(set(data["x"]))


def test_system_tab_groups_devices_and_serves_their_data(client, team, owner):
    run = make_run(team, owner, events=3)
    client.force_login(owner)
    body = text(client.get(url("run_system", run)))
    assert "<h2>CPU</h2>" in body and "<h2>GPU</h2>" in body and "gpu.*.temp" in body
    data = client.get(
        url("run_chart_data", run), {"stream": "system", "key": ["system.gpu.0.temp", "system.gpu.1.temp"]}
    ).json()
    assert data["x"] == [0, 15, 30] and data["x_kind"] == "relative"
    assert [s["values"] for s in data["series"]] == [[40, 41, 42], [50, 51, 52]]
    assert [s["label"] for s in data["series"]] == ["gpu.0.temp", "gpu.1.temp"]


def test_logs_show_numbered_escaped_coloured_lines_and_follow_new_ones(client, team, owner):
    run = make_run(team, owner, lines=3)
    client.force_login(owner)
    body = text(client.get(url("run_logs", run)))
    assert 'line 0 <span class="ansi-fg-31">red</span> &lt;b&gt;' in body
    assert '<span class="log-no" aria-hidden="true">3</span>' in body
    assert "?after=2" in body and 'hx-trigger="every 3s"' in body
    run_stream(
        run=run,
        complete=False,
        exit_code=None,
        files={"output.log": {"offset": 3, "content": ["2026-11-30T06:01:00.000000 the new line"]}},
    )
    tail = text(client.get(url("run_logs_tail", run), {"after": 2}, HTTP_HX_REQUEST="true"))
    assert 'hx-swap-oob="beforeend:#log-lines"' in tail and "the new line" in tail and "line 0" not in tail
    assert "?after=3" in tail


def test_log_tail_queries_are_constant_in_the_log_length(client, team, owner):
    client.force_login(owner)
    short = make_run(team, owner, name="short", lines=3)
    long = make_run(team, owner, name="long", lines=3000)
    n_short, _ = count_queries(client, url("run_logs_tail", short) + "?after=1", HTTP_HX_REQUEST="true")
    n_long, _ = count_queries(client, url("run_logs_tail", long) + "?after=2998", HTTP_HX_REQUEST="true")
    assert n_short == n_long
    n_short, _ = count_queries(client, url("run_logs", short))
    n_long, response = count_queries(client, url("run_logs", long))
    assert n_short == n_long
    assert "Showing the last 1000 lines" in text(response)


def test_log_search_and_download(client, team, owner):
    run = make_run(team, owner, lines=12)
    client.force_login(owner)
    body = text(client.get(url("run_logs", run), {"q": "LINE 1"}))
    assert "3 lines contain" in body  # line 1, line 10, line 11
    download = client.get(url("run_logs_download", run))
    content = b"".join(download.streaming_content).decode()
    assert content.splitlines()[0] == "line 0 \x1b[31mred\x1b[0m <b>" and len(content.splitlines()) == 12


def test_a_failed_run_opens_on_its_logs(client, team, owner):
    run = make_run(team, owner, complete=True, exit_code=1)
    client.force_login(owner)
    body = text(client.get(url("run", run)))
    assert 'href="' + url("run_logs", run) + '" aria-current="page"' in body
    assert "The run exited with code 1." in body and "data-scroll-end" in body


def test_a_stale_run_shows_crashed_with_its_reason(client, team, owner):
    run = make_run(team, owner)
    Run.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(hours=2))
    client.force_login(owner)
    body = text(client.get(url("run_overview", run)))
    assert "Crashed" in body and "No report from the run for over" in body


def test_run_page_queries_are_constant_in_the_run_length(client, team, owner):
    client.force_login(owner)
    short = make_run(team, owner, name="short", steps=5, lines=3)
    long = make_run(team, owner, name="long", steps=3000, lines=3000)
    for name in ("run_overview", "run_charts", "run_system", "run_files", "run_artifacts"):
        n_short, _ = count_queries(client, url(name, short))
        n_long, _ = count_queries(client, url(name, long))
        assert n_short == n_long, name


def test_ansi_converter_escapes_everything_and_drops_other_sequences():
    assert ansi.to_html("<script>") == "&lt;script&gt;"
    assert ansi.to_html("\x1b[1;32mok\x1b[0m done") == '<span class="ansi-bold ansi-fg-32">ok</span> done'
    assert ansi.to_html("\x1b[38;5;196mx\x1b[39m") == "x"
    assert ansi.to_html("\x1b[2K\x1b]0;title\x07a\x00b") == "ab"
    assert ansi.to_html("10%\r50%\r100%") == "100%"
    assert ansi.to_html('\x1b[41m"&') == '<span class="ansi-bg-41">&quot;&amp;</span>'


def test_a_launched_runs_page_costs_the_same_queries_whatever_its_length(client, team, owner, queue):
    client.force_login(owner)
    counts = []
    for name, steps in (("short", 5), ("long", 3000)):
        run = make_run(team, owner, name=name, steps=steps, lines=steps)
        RunQueueItem.objects.create(
            queue=queue,
            run_spec={"job": "acme/vision/job-trainer:v0", "project": "vision"},
            state=RunQueueItem.CLAIMED,
            associated_run_id=run.name,
            created_by=owner,
        )
        n, response = count_queries(client, url("run_overview", run))
        assert "job-trainer:v0" in text(response)
        counts.append(n)
    assert counts[0] == counts[1]


def test_stop_from_the_run_page_records_who_asked_and_outsiders_get_404(client, team, owner, member, outsider):
    run = make_run(team, owner)
    client.force_login(outsider)
    assert client.post(url("run_stop", run)).status_code == 404
    run.refresh_from_db()
    assert run.stop_requested_at is None
    client.force_login(member)
    assert 'action="' + url("run_stop", run) + '"' in text(client.get(url("run_overview", run)))
    response = client.post(url("run_stop", run), follow=True)
    assert "Asked run r1 to stop" in text(response)
    run.refresh_from_db()
    assert run.stop_requested_at is not None and run.stopped_by == member
    assert "Stopping" in text(client.get(url("run_overview", run)))


def test_a_finished_run_cannot_be_stopped_from_its_page(client, team, owner):
    run = make_run(team, owner, complete=True, exit_code=0)
    client.force_login(owner)
    assert "Stop run" not in text(client.get(url("run_overview", run)))
    response = client.post(url("run_stop", run), follow=True)
    assert "only running runs can be stopped" in text(response)
    run.refresh_from_db()
    assert run.stop_requested_at is None


def test_artifacts_tab_lists_what_the_run_used_and_logged(client, team, owner):
    run = make_run(team, owner)
    other = make_run(team, owner, name="r2")
    made = image_job(team, owner, image="ghcr.io/acme/trainer:v1", project="vision").result
    Artifact.objects.filter(pk=made.pk).update(run=other)
    ArtifactUse.objects.create(run=run, artifact=made)
    client.force_login(owner)
    used_page = text(client.get(url("run_artifacts", run)))
    logged_page = text(client.get(url("run_artifacts", other)))
    name = f"{made.collection.name}:{made.version}"
    assert name in used_page.split('id="used-title"')[1].split('id="logged-title"')[0]
    assert "This run logged no artifacts." in used_page
    assert name in logged_page.split('id="logged-title"')[1]
