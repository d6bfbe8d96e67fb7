"""The run page in headless Chromium, with a run made by the real wandb 0.31.0 client (issue 11): the
"View run" address the client prints opens it; its charts show the logged values (read from each chart's
table alternative); System shows CPU; Logs show the printed lines and follow new ones while the run runs;
the failed run's Logs show its traceback and open scrolled to the end; a saved file downloads.

One client run serves every check (a real run costs CI time): the script logs, prints and saves a file,
waits for the test's signal, then prints once more and raises."""

import re
import subprocess

import pytest
from playwright.sync_api import expect

from launchui.projects.models import Run, RunFile, RunStreamLine
from tests.wire.conftest import PYTHON, require_wandb, wait_for

pytestmark = [pytest.mark.wandb, pytest.mark.django_db(transaction=True)]

STEPS = 30

SCRIPT = f"""
import os, pathlib, time, wandb
run = wandb.init(entity="acme", project="vision", config={{"lr": 0.01, "model": {{"depth": 4}}}})
for step in range({STEPS}):
    run.log({{"train/loss": 1.0 / (step + 1), "val/acc": step / {STEPS}}})
print("hello from the script", flush=True)
print("\\x1b[32mgreen line\\x1b[0m", flush=True)
pathlib.Path("notes.txt").write_text("notes body\\n")
wandb.save("notes.txt", policy="now")
signal = pathlib.Path(os.environ["GO_FILE"])
while not signal.exists():
    time.sleep(0.2)
print("after the signal", flush=True)
raise RuntimeError("boom in the script")
"""


def test_a_real_run_on_its_page(page_as, wandb_env, team, owner, owner_key, tmp_path):
    require_wandb()
    go = tmp_path / "go"
    workdir = tmp_path / "work"
    workdir.mkdir()
    env = wandb_env(
        owner_key,
        GO_FILE=str(go),
        WANDB_X_STATS_SAMPLING_INTERVAL="1",
        WANDB_X_FILE_STREAM_TRANSMIT_INTERVAL="0.5",
    )
    log = tmp_path / "client.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([PYTHON, "-c", SCRIPT], env=env, cwd=workdir, stdout=out, stderr=subprocess.STDOUT)
    try:
        _check_run_page(page_as, owner, log, go, proc)
    finally:
        if proc.poll() is None:
            go.touch()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()


def _check_run_page(page_as, owner, log, go, proc):
    def output():
        return log.read_text(errors="replace")

    # The address the client prints.
    printed = wait_for(
        lambda: re.search(r"View run .*?at:? (http\S+)", re.sub(r"\x1b\[[0-9;]*m", "", output())),
        timeout=60,
        what="the client's 'View run' line",
        on_fail=output,
    )
    run_url = printed.group(1)
    run = wait_for(lambda: Run.objects.filter(project__name="vision").first(), timeout=30, what="the run")
    assert run_url.endswith(f"/acme/vision/runs/{run.name}")
    wait_for(
        lambda: (
            RunStreamLine.objects.filter(run=run, file=RunStreamLine.HISTORY).count() == STEPS
            and RunStreamLine.objects.filter(run=run, file=RunStreamLine.OUTPUT, text__contains="green line").exists()
            and RunStreamLine.objects.filter(run=run, file=RunStreamLine.EVENTS).exists()
            and RunFile.objects.filter(run=run, name="notes.txt").exists()
        ),
        timeout=90,
        what="the run's history, console lines, system metrics and saved file",
        on_fail=output,
    )

    page = page_as(owner)
    problems: list[str] = []  # CSP violations and script errors, on any tab
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(run_url)
    expect(page.get_by_role("heading", level=1)).to_have_text(run.display_name or run.name)
    expect(page.locator("#run-state")).to_contain_text("Running")
    expect(page.get_by_role("link", name="Overview")).to_have_attribute("aria-current", "page")
    expect(page.get_by_role("table", name="Config")).to_contain_text("model.depth")

    # Charts: every chart drew, and train/loss's table holds what the script logged.
    page.get_by_role("link", name="Charts").click()
    page.wait_for_url("**/charts")
    page.wait_for_function("window.launchuiCharts !== undefined")
    drawn = page.evaluate("window.launchuiCharts.drawn")
    assert drawn["charts"] == 2
    chart = page.get_by_role("figure", name="train/loss")
    expect(chart).to_have_attribute("data-chart-state", "drawn")
    chart.get_by_text("train/loss as a table").click()
    rows = chart.locator("details.chart-data tbody tr")
    expect(rows).to_have_count(STEPS)
    shown = [[float(cell) for cell in row] for row in _cells(rows)]
    assert shown == [[step, 1.0 / (step + 1)] for step in range(STEPS)]

    # System: a CPU chart with data.
    page.get_by_role("link", name="System").click()
    expect(page.get_by_role("heading", name="CPU", level=2)).to_be_visible()
    cpu = page.get_by_role("figure", name="cpu", exact=True)
    expect(cpu).to_have_attribute("data-chart-state", "drawn")
    cpu.get_by_text("cpu as a table").click()
    values = [float(row[1]) for row in _cells(cpu.locator("details.chart-data tbody tr"))]
    assert values and all(0 <= value <= 100 * 64 for value in values)

    # Files: the saved file downloads.
    page.get_by_role("link", name="Files").click()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download notes.txt").click()
    assert open(download.value.path(), encoding="utf-8").read() == "notes body\n"

    # Logs: the printed lines, coloured, then new ones followed without a reload.
    page.get_by_role("link", name="Logs").click()
    lines = page.get_by_role("log")
    expect(lines).to_contain_text("hello from the script")
    expect(lines.locator(".ansi-fg-32")).to_have_text("green line")
    expect(lines).not_to_contain_text("after the signal")
    go.touch()
    expect(lines).to_contain_text("after the signal", timeout=60_000)
    expect(lines).to_contain_text("RuntimeError: boom in the script", timeout=60_000)
    assert proc.wait(timeout=60) != 0

    # The failed run's address opens its Logs, with the traceback, scrolled to the end.
    wait_for(lambda: Run.objects.get(pk=run.pk).completed_at is not None, timeout=30, what="the run to end")
    page.goto(run_url)
    expect(page.get_by_role("link", name="Logs")).to_have_attribute("aria-current", "page")
    expect(page.locator("#run-state")).to_contain_text("Failed")
    expect(page.get_by_role("log")).to_contain_text("Traceback (most recent call last)")
    at_end = page.evaluate(
        "() => { const b = document.querySelector('[data-log-box]');"
        " return b.scrollHeight - b.scrollTop - b.clientHeight < 40; }"
    )
    assert at_end

    # 390 px: no sideways scroll on any tab.
    page.set_viewport_size({"width": 390, "height": 800})
    for tab in ("Overview", "Charts", "System", "Logs", "Files", "Artifacts"):
        page.get_by_role("link", name=tab, exact=True).click()
        expect(page.get_by_role("link", name=tab, exact=True)).to_have_attribute("aria-current", "page")
        wide = page.evaluate("document.documentElement.scrollWidth")
        wider = page.evaluate(
            "Array.from(document.querySelectorAll('body *')).filter(e => e.getBoundingClientRect().right > 391"
            " && e.parentElement.getBoundingClientRect().right <= 391)"
            ".slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' + e.parentElement.className)"
        )
        assert wide <= 390, (tab, wide, wider)
    assert problems == []


def _cells(rows) -> list[list[str]]:
    return rows.evaluate_all("rows => rows.map(r => Array.from(r.cells).map(c => c.textContent.trim()))")
