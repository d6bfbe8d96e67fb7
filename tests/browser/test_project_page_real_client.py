"""The project page in headless Chromium with runs made by the real wandb 0.31.0 client (issue 11): the
"View project" address the client prints opens it; it filters by state and sorts by a summary metric; two
selected runs overlay on one chart (values read from the chart's table alternative, not just a canvas);
every page fits 390 px. And a job launched through a queue and run by the real agent: its queue row links to
its run page.

One client script makes both runs (a real run costs CI time), and one test checks every page with them."""

import os
import re
import sys
from pathlib import Path

import pytest
from playwright.sync_api import expect

from launchui.launch.models import RunQueueItem
from launchui.launch.services import item_push, queue_create
from launchui.projects.models import Run
from tests.wire.conftest import require_wandb, run_python, wait_for
from tests.wire.test_job_create_cli import code_dir, job_create

pytestmark = [pytest.mark.browser, pytest.mark.wandb, pytest.mark.django_db(transaction=True)]

STEPS = 8
LOSSES = {"alpha": [1.0 / (s + 1) for s in range(STEPS)], "beta": [2.0 - 0.1 * s for s in range(STEPS)]}
SCRIPT = f"""
import wandb
for name, exit_code, losses in [("alpha", 0, {LOSSES["alpha"]!r}), ("beta", 1, {LOSSES["beta"]!r})]:
    run = wandb.init(entity="acme", project="vision", name=name, tags=[name + "-tag"], config={{"lr": 0.1}})
    for loss in losses:
        run.log({{"loss": loss}})
    run.finish(exit_code=exit_code)
"""


WIDER_THAN_VIEWPORT = """() => Array.from(document.querySelectorAll("body *"))
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1 && !e.closest(".table-wrap"))
  .map(e => e.tagName + "." + e.className + " " + Math.round(e.getBoundingClientRect().right)).slice(0, 8)"""


def fits_390(page) -> bool:
    """No sideways scroll of the page (tables scroll in their own box); says what sticks out otherwise."""
    fits = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert fits, page.evaluate(WIDER_THAN_VIEWPORT)
    return fits


def names_in_table(page) -> list[str]:
    return page.locator("#runs tbody tr td:nth-child(2)").all_inner_texts()


def test_real_runs_on_the_project_page_filtered_sorted_and_overlaid(page_as, wandb_env, team, owner, owner_key):
    require_wandb()
    made = run_python(SCRIPT, wandb_env(owner_key), timeout=180)
    assert made.returncode == 0, made.stdout + made.stderr
    output = re.sub(r"\x1b\[[0-9;]*m", "", made.stdout + made.stderr)
    printed = re.search(r"View project at:? (http\S+)", output)
    assert printed, output
    assert printed.group(1).endswith("/acme/vision")
    runs = {r.display_name: r for r in Run.objects.filter(project__name="vision")}
    assert sorted(runs) == ["alpha", "beta"]
    assert runs["beta"].exit_code == 1 and runs["alpha"].summary["loss"] == pytest.approx(LOSSES["alpha"][-1])

    page = page_as(owner)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    # The printed address opens the page, from the top bar's Projects list too.
    page.goto(printed.group(1))
    expect(page.get_by_role("heading", name="acme/vision")).to_be_visible()
    assert sorted(names_in_table(page)) == ["alpha", "beta"]
    expect(page.get_by_role("row", name=re.compile("beta")).get_by_text("Failed")).to_be_visible()
    expect(page.get_by_role("row", name=re.compile("alpha")).get_by_text("Finished")).to_be_visible()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Projects").click()
    page.get_by_role("link", name="vision").click()
    expect(page).to_have_url(re.compile(r"/acme/vision$"))

    # Filter by state: the table follows, and the address too.
    page.get_by_label("State").select_option("failed")
    expect(page).to_have_url(re.compile(r"/acme/vision\?state=failed$"))
    expect(page.locator("#runs tbody tr")).to_have_count(1)
    assert names_in_table(page) == ["beta"]
    page.get_by_label("State").select_option("")
    expect(page.locator("#runs tbody tr")).to_have_count(2)

    # Sort by a summary metric: add the loss column, then sort by it both ways.
    page.get_by_text("Columns", exact=True).click()
    page.locator(".columns-picker").get_by_label("loss").check()
    page.get_by_role("button", name="Show columns").click()
    header = page.get_by_role("columnheader", name="loss")
    expect(header).to_be_visible()
    header.get_by_role("link").click()
    expect(page.get_by_role("columnheader", name="loss ▲")).to_be_visible()
    assert names_in_table(page) == ["alpha", "beta"]  # final loss 0.125 < 1.3
    loss_cells = page.locator("#runs tbody tr td:last-child").all_inner_texts()
    assert [float(v) for v in loss_cells] == pytest.approx([LOSSES["alpha"][-1], LOSSES["beta"][-1]])
    page.get_by_role("columnheader", name="loss ▲").get_by_role("link").click()
    expect(page.get_by_role("columnheader", name="loss ▼")).to_be_visible()
    assert names_in_table(page) == ["beta", "alpha"]
    assert "sort=-summary_metrics.loss" in page.url

    # The page fits a phone: the table scrolls in its own box.
    page.set_viewport_size({"width": 390, "height": 800})
    page.reload()
    assert fits_390(page)
    page.set_viewport_size({"width": 1280, "height": 900})

    # Two runs overlaid on one chart: one line per run, the logged values in the table alternative.
    page.get_by_label("Select alpha").check()
    page.get_by_label("Select beta").check()
    page.get_by_role("button", name="Compare selected runs").click()
    expect(page.get_by_role("heading", name="Compare runs")).to_be_visible()
    chart = page.locator("figure.run-chart", has=page.get_by_role("heading", name="loss", exact=True))
    expect(chart).to_have_attribute("data-chart-state", "drawn", timeout=15_000)
    expect(chart.locator("canvas")).to_have_count(1)
    chart.get_by_text("loss as a table").click()
    table = chart.locator("details.chart-data table")  # (uPlot's legend is a table too)
    expect(table.locator("thead th")).to_have_text(["Step", "beta", "alpha"])  # in the table's order
    rows = table.locator("tbody tr")
    expect(rows).to_have_count(STEPS)
    for step in range(STEPS):
        cells = rows.nth(step).locator("th, td").all_inner_texts()
        assert int(cells[0]) == step
        assert float(cells[1]) == pytest.approx(LOSSES["beta"][step])
        assert float(cells[2]) == pytest.approx(LOSSES["alpha"][step])
    page.set_viewport_size({"width": 390, "height": 800})
    page.reload()  # a phone loads the page at its width
    expect(chart).to_have_attribute("data-chart-state", "drawn", timeout=15_000)
    assert fits_390(page)
    page.goto("/projects")
    assert fits_390(page)
    assert not [e for e in errors if "Content Security Policy" in e or "Refused" in e], errors


def test_a_launched_jobs_run_is_reached_from_its_queue_row(page_as, wandb_env, start_agent, owner, owner_key, tmp_path):
    require_wandb()
    env = wandb_env(owner_key)
    created = job_create(
        env, "-p", "proj", "-e", "olivia", "-E", "python train.py", "code", str(code_dir(tmp_path)), cwd=tmp_path
    )
    assert created.returncode == 0, created.stdout + created.stderr
    name = re.search(r"Created job: olivia/proj/(\S+):v0", created.stderr).group(1)
    queue = queue_create(entity=owner.personal_entity, name="local", resource="local-process", created_by=owner)
    item = item_push(
        queue=queue,
        run_spec={"job": f"olivia/proj/{name}:latest", "entity": "olivia", "project": "proj"},
        created_by=owner,
    )
    out = tmp_path / "job-output.txt"
    agent = start_agent(
        owner_key,
        queue="local",
        entity="olivia",
        LAUNCHUI_TEST_OUT=str(out),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    )
    claimed = wait_for(
        lambda: RunQueueItem.objects.filter(pk=item.pk).exclude(associated_run_id="").first(),
        timeout=150,
        what="the agent to claim the item with its run",
        on_fail=agent.output,
    )
    run_id = claimed.associated_run_id
    wait_for(lambda: Run.objects.filter(name=run_id, project__name="proj").exists(), timeout=60, what="the run")

    page = page_as(owner)
    # The Launch page's expandable row, then the queue's Overview: each names the run and links to its page.
    page.goto("/launch")
    page.get_by_role("button", name="Recent items of olivia/local").click()
    recent = page.locator(f"#recent-{queue.pk}")
    expect(recent.get_by_role("link", name=run_id)).to_have_attribute("href", f"/olivia/proj/runs/{run_id}")
    page.goto("/launch/olivia/queues/local/")
    link = page.locator(f"#item-{item.pk}").get_by_role("link", name=run_id)
    expect(link).to_have_attribute("href", f"/olivia/proj/runs/{run_id}")
    page.locator(f"#item-{item.pk}").get_by_role("link", name=f"Item #{item.pk}").click()
    expect(page.get_by_role("link", name=f"View run {run_id}")).to_have_attribute("href", f"/olivia/proj/runs/{run_id}")
    page.get_by_role("link", name=f"View run {run_id}").click()
    expect(page).to_have_url(re.compile(rf"/olivia/proj/runs/{run_id}$"))
    # The job page's Runs section lists it too.
    page.goto(f"/launch/olivia/proj/jobs/{name}")
    runs = page.get_by_role("table", name=f"Runs made from {name}")
    expect(runs.get_by_role("link", name=run_id)).to_have_attribute("href", f"/olivia/proj/runs/{run_id}")
    agent.kill()
