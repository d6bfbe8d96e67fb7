"""Stop from the item row in headless Chromium: the row turns Stopping with who asked and when, and, once the
agent stops asking about the run's process, Killed with the same words. The real agent's timings are measured in
tests/wire/test_run_lifecycle.py; here the run's facts are written as the wire writes them."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from launchui.launch.services import item_ack, item_pop, item_push, queue_create
from launchui.projects.models import Run
from launchui.projects.services import project_get_or_create, run_stop_checked, run_upsert

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_stop_on_the_row_shows_stopping_then_killed_with_who_and_when(page_as, owner, member, team, make_agent):
    queue = queue_create(entity=team, name="cpu", resource="local-process", created_by=owner)
    agent = make_agent(queue)
    item = item_push(queue=queue, run_spec={"project": "train"}, created_by=owner)
    item_ack(item=item_pop(queue=queue, agent_id=agent.pk), run_name="r-stop")
    run, _ = run_upsert(project=project_get_or_create(entity=team, name="train"), name="r-stop", created_by=owner)
    run_stop_checked(run=run)  # the agent watches it

    page = page_as(member)
    page.goto("/launch/acme/queues/cpu/")
    row = page.locator(f"#item-{item.pk}")
    expect(row.get_by_text("Running")).to_be_visible()
    page.on("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Stop run r-stop").click()
    row = page.locator(f"#item-{item.pk}")
    expect(row.get_by_text("Stopping", exact=True)).to_be_visible()
    expect(row).to_contain_text(re.compile(r"Stop requested by mateo at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d"))
    expect(row.get_by_role("button", name="Stopping…")).to_be_disabled()

    # The agent stopped asking about the process a while ago: it ended, stopped by the member.
    Run.objects.filter(pk=run.pk).update(stop_checked_at=timezone.now() - timedelta(minutes=5))
    expect(page.locator(f"#item-{item.pk}").get_by_text("Killed", exact=True)).to_be_visible(timeout=15_000)
    expect(page.locator(f"#item-{item.pk}-error")).to_contain_text(
        re.compile(r"Stopped by mateo at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d; its process ended\.")
    )
