"""Headless Chromium: filter controls follow the address through Back and Forward (htmx history restore
included), job names wrap only after - _ / :, failure statuses look different from waiting ones, and the
skip link appears on focus."""

import re

import pytest
from playwright.sync_api import expect

from launchui.launch.services import agent_register, item_fail, item_pop, item_push, queue_create
from tests.web.jobs_helpers import image_job

pytestmark = [pytest.mark.browser]


@pytest.fixture
def queues(transactional_db, owner, team):
    acme = queue_create(entity=team, name="gpu-queue", resource="local-container", created_by=owner)
    personal = queue_create(entity=owner.personal_entity, name="laptop", resource="local-process", created_by=owner)
    return acme, personal


def test_back_and_forward_keep_launch_filters_in_step(page_as, owner, queues):
    page = page_as(owner)
    table = page.locator("#queue-table")
    entity, search = page.get_by_label("Entity"), page.get_by_label("Search queues")

    entity.select_option("acme")
    expect(page).to_have_url(re.compile(r"/launch\?entity=acme$"))
    search.fill("gpu")
    expect(page).to_have_url(re.compile(r"/launch\?entity=acme&search=gpu$"))
    search.fill("nothing-matches")
    expect(page).to_have_url(re.compile(r"search=nothing-matches$"))
    expect(table).to_contain_text("No queue matches these filters.")

    page.go_back()
    expect(page).to_have_url(re.compile(r"/launch\?entity=acme&search=gpu$"))
    expect(table.get_by_role("link", name="gpu-queue")).to_be_visible()
    expect(search).to_have_value("gpu")
    expect(entity).to_have_value("acme")

    page.go_back()
    expect(page).to_have_url(re.compile(r"/launch\?entity=acme$"))
    expect(search).to_have_value("")
    expect(entity).to_have_value("acme")

    page.go_back()
    expect(page).to_have_url(re.compile(r"/launch$"))
    expect(table.get_by_role("link", name="laptop")).to_be_visible()
    expect(entity).to_have_value("")
    expect(entity.locator("option:checked")).to_have_text("All entities")
    expect(search).to_have_value("")

    page.go_forward()
    expect(page).to_have_url(re.compile(r"/launch\?entity=acme$"))
    expect(table.get_by_role("link", name="laptop")).to_have_count(0)
    expect(entity).to_have_value("acme")
    page.go_forward()
    expect(page).to_have_url(re.compile(r"search=gpu$"))
    expect(search).to_have_value("gpu")
    expect(entity).to_have_value("acme")


def test_back_and_forward_keep_the_jobs_filter_in_step(page_as, owner, team, transactional_db):
    image_job(team, owner, image="ghcr.io/acme/train:1.0", project="vision")
    image_job(owner.personal_entity, owner, image="ghcr.io/olivia/solo:2.0", project="mine")
    page = page_as(owner)
    page.goto("/launch/jobs")
    table, entity = page.locator("#job-table"), page.get_by_label("Entity")
    expect(table).to_contain_text("olivia_solo")
    entity.select_option("acme")
    expect(page).to_have_url(re.compile(r"/launch/jobs\?entity=acme$"))
    expect(table).not_to_contain_text("olivia_solo")
    entity.select_option("olivia")
    expect(page).to_have_url(re.compile(r"/launch/jobs\?entity=olivia$"))
    expect(table).not_to_contain_text("acme_train")

    page.go_back()
    expect(page).to_have_url(re.compile(r"\?entity=acme$"))
    expect(table).not_to_contain_text("olivia_solo")
    expect(entity).to_have_value("acme")
    page.go_back()
    expect(page).to_have_url(re.compile(r"/launch/jobs$"))
    expect(table).to_contain_text("olivia_solo")
    expect(entity).to_have_value("")
    page.go_forward()
    expect(entity).to_have_value("acme")
    page.go_forward()
    expect(page).to_have_url(re.compile(r"\?entity=olivia$"))
    expect(entity).to_have_value("olivia")
    # A reload after history navigation agrees with the address too (the server renders the controls).
    page.reload()
    expect(entity).to_have_value("olivia")


# Each character's line: the text's line breaks fall after these characters only.
LINE_BREAKS_JS = """
cell => {
  const text = cell.textContent;
  const node = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
  const tops = [];
  let chars = "";
  while (node.nextNode()) {
    const t = node.currentNode;
    for (let i = 0; i < t.length; i++) {
      const range = document.createRange();
      range.setStart(t, i); range.setEnd(t, i + 1);
      const rect = range.getClientRects()[0];
      if (rect) { tops.push(Math.round(rect.top)); chars += t.data[i]; }
    }
  }
  const breaksAfter = [];
  for (let i = 1; i < tops.length; i++) if (tops[i] > tops[i - 1] + 2) breaksAfter.push(chars[i - 1]);
  return {text: chars, breaksAfter: breaksAfter, width: cell.getBoundingClientRect().width};
}
"""


def test_job_names_wrap_only_after_separators(page_as, owner, queues):
    acme, _ = queues
    job = "acme/training-project/job-very_long_trainer-image:latest-candidate"
    item_push(queue=acme, run_spec={"job": job, "project": "training-project"}, created_by=owner)
    page = page_as(owner)
    page.set_viewport_size({"width": 390, "height": 800})
    page.goto("/launch/acme/queues/gpu-queue/")
    cell = page.locator("td.job-cell").first
    expect(cell).to_have_text(job)
    lines = cell.evaluate(LINE_BREAKS_JS)
    assert lines["text"] == job
    assert lines["breaksAfter"], "the name fits on one line: the test proves nothing"
    assert set(lines["breaksAfter"]) <= set("-_/:"), lines


def _colour(page, selector):
    return page.locator(selector).first.evaluate("e => getComputedStyle(e).color")


def test_failure_statuses_are_red_and_waiting_ones_are_not(page_as, owner, queues):
    acme, personal = queues
    agent = agent_register(entity=acme.entity, queues=[acme], hostname="h", config={}, version="", created_by=owner)
    failed = item_push(queue=acme, run_spec={"job": "acme/p/job-a:v0"}, created_by=owner)
    item_fail(item=item_pop(queue=acme, agent_id=agent.pk), message="boom", stage="run", file_paths=[])
    item_push(queue=acme, run_spec={"job": "acme/p/job-a:v0"}, created_by=owner)  # a live agent: Queued
    item_push(queue=personal, run_spec={"job": "olivia/p/job-b:v0"}, created_by=owner)  # no agent: Idle
    assert failed.pk

    page = page_as(owner)
    page.goto("/launch/acme/queues/gpu-queue/")
    expect(page.locator(".item-status-failed")).to_have_text("Failed")
    expect(page.locator(".item-status-queued")).to_have_text("Queued")
    failed_colour = _colour(page, ".item-status-failed")
    queued_colour = _colour(page, ".item-status-queued")
    page.goto("/launch/olivia/queues/laptop/")
    expect(page.locator(".item-status-idle")).to_have_text("Idle")
    idle_colour = _colour(page, ".item-status-idle")

    def rgb(css):
        return tuple(int(n) for n in re.findall(r"\d+", css)[:3])

    red = rgb(failed_colour)
    assert red[0] > 150 and red[1] < 80 and red[2] < 80, failed_colour  # red
    for waiting in (queued_colour, idle_colour):
        r, g, b = rgb(waiting)
        assert rgb(waiting) != red and g > 60, (waiting, failed_colour)  # amber or neutral, not red


def test_skip_link_shows_on_focus_and_moves_to_the_content(page_as, owner, queues):
    page = page_as(owner)
    skip = page.get_by_role("link", name="Skip to content")
    assert skip.bounding_box()["y"] < 0  # off screen until focused
    page.keyboard.press("Tab")
    expect(skip).to_be_focused()
    box = skip.bounding_box()
    assert box["y"] >= 0 and box["height"] > 10
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/launch#main$"))
    assert page.evaluate("document.activeElement.id") == "main"


LABEL_BOXES_JS = """() => Array.from(document.querySelectorAll("#status-chart-title ~ svg .chart-label"))
  .filter(e => getComputedStyle(e).display !== "none")
  .map(e => { const r = e.getBoundingClientRect(); return [r.left, r.right, e.textContent]; })"""


@pytest.mark.parametrize("width, shown", [(390, 4), (1280, 7)])
def test_monitor_day_labels_do_not_overlap(page_as, owner, queues, width, shown):
    page = page_as(owner)
    page.set_viewport_size({"width": width, "height": 900})
    page.goto("/launch/acme/queues/gpu-queue/monitor")
    expect(page.get_by_role("heading", name="Job status")).to_be_visible()
    labels = page.evaluate(LABEL_BOXES_JS)
    assert len(labels) == shown, labels  # a phone shows every other day
    for (_, right, text), (left, _, following) in zip(labels, labels[1:], strict=False):
        assert right <= left, (text, following, labels)
