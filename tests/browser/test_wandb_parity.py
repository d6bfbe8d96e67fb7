"""Where W&B Launch has the better thing (issue 14), in headless Chromium: template-variable tiles, the
prioritized Overview, the Launch drawer's pre-filled config, aliases on the Job page, and the Create job copy."""

import re

import pytest
from playwright.sync_api import expect

from launchui.launch.models import RunQueue
from launchui.launch.services import item_pop, item_push

pytestmark = [pytest.mark.browser]


# --- Copy: Create job -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tab,rule",
    [
        ("Code", "job-<code-artifact-name>"),
        ("Git", "job-<git-remote-url>_<path-to-script>"),
        ("Docker image", "job-<image-name>"),
    ],
)
def test_each_create_job_tab_states_its_own_name_rule(page_as, owner, team, tab, rule):
    page = page_as(owner)
    page.goto("/launch/jobs/new")
    page.get_by_role("navigation", name="Job source").get_by_role("link", name=tab).click()
    expect(page.get_by_role("textbox", name="Name", exact=True)).to_be_visible()
    expect(page.locator("#id_name_helptext")).to_have_text(f"Optional: by default W&B's name for the source, {rule}.")


def test_python3_as_the_runtime_says_what_is_expected(page_as, owner, team):
    page = page_as(owner)
    page.goto("/launch/jobs/new/git")
    page.get_by_label("Entity").select_option("acme")
    page.get_by_label("Project").fill("vision")
    page.get_by_label("Repository URL").fill("https://github.com/acme/train.git")
    page.get_by_label("Python version").fill("python3")
    page.get_by_role("button", name="Create job").click()
    expect(page.locator("#id_runtime_error")).to_have_text(
        "'python3' is not a Python version: give major and minor, like 3.11 or python3.11."
    )


# --- Template variables: Parse configuration → tiles ----------------------------------------------

K8S_CONFIG = '{\n  "metadata": {"namespace": "{{ns}}"},\n  "spec": {"gpus": "{{gpus}}"}\n}\n'


def tile(page, name):
    return page.get_by_role("group", name=name, exact=True)


def test_template_variable_tiles_round_trip_a_config(page_as, owner, team):
    page = page_as(owner)
    page.goto("/launch/queues/new")
    page.get_by_label("Entity").select_option("acme")
    page.get_by_label("Name", exact=True).fill("k8s")
    page.get_by_label("Resource").select_option("kubernetes")
    page.get_by_label("Configuration").fill(K8S_CONFIG)
    page.get_by_role("button", name="Parse configuration").click()
    expect(page.locator("#variable-tiles .tile legend")).to_have_text(["ns", "gpus"])

    gpus = tile(page, "gpus")
    gpus.get_by_label("Type").select_option("integer")
    gpus.get_by_label("Default").fill("2")
    gpus.get_by_label("Min").fill("one")
    gpus.get_by_label("Max").fill("8")
    ns = tile(page, "ns")
    ns.get_by_label("Allowed values").fill("ml, research")
    ns.get_by_label("Default").fill("ml")

    # A new placeholder, parsed again: its tile appears, and what was entered in the others stays.
    page.get_by_label("Configuration").fill(K8S_CONFIG.replace('"{{gpus}}"', '"{{gpus}}", "tier": "{{tier}}"'))
    page.get_by_role("button", name="Parse configuration").click()
    expect(page.locator("#variable-tiles .tile legend")).to_have_text(["ns", "gpus", "tier"])
    expect(tile(page, "gpus").get_by_label("Default")).to_have_value("2")
    expect(tile(page, "gpus").get_by_label("Min")).to_have_value("one")
    expect(tile(page, "ns").get_by_label("Allowed values")).to_have_value("ml, research")
    tile(page, "tier").get_by_label("Description").fill("GPU tier")

    # Errors by the tile's field, all at once, and nothing saved.
    tile(page, "ns").get_by_label("Default").fill("prod")
    page.get_by_role("button", name="Create queue").click()
    expect(page.locator("#var-gpus-minimum-error")).to_have_text("'one' is not an integer.")
    expect(page.locator("#var-ns-default-error")).to_have_text("ns: 'prod' is not one of ml, research.")
    assert not RunQueue.objects.exists()
    tile(page, "gpus").get_by_label("Min").fill("1")
    tile(page, "ns").get_by_label("Default").fill("ml")
    page.get_by_role("button", name="Create queue").click()
    expect(page).to_have_url(re.compile(r"/launch/acme/queues/k8s/agents$"))

    saved = [
        {"name": "ns", "schema": {"type": "string", "enum": ["ml", "research"], "default": "ml"}},
        {"name": "gpus", "schema": {"type": "integer", "minimum": 1, "maximum": 8, "default": 2}},
        {"name": "tier", "schema": {"type": "string", "description": "GPU tier"}},
    ]
    assert RunQueue.objects.get(name="k8s").template_variables == saved

    # The Config tab shows them as tiles...
    page.get_by_role("link", name="Config").click()
    shown = page.locator(".tiles:not(.tiles-edit) .tile")
    expect(shown).to_have_count(3)
    expect(shown.nth(0)).to_contain_text("Allowed values")
    expect(shown.nth(0)).to_contain_text("ml, research")
    expect(shown.nth(1)).to_contain_text("integer")
    expect(shown.nth(1).locator("dd")).to_have_text(["integer", "2", "1", "8"])

    # ... and the edit form has the same values, which save back unchanged.
    expect(tile(page, "gpus").get_by_label("Type")).to_have_value("integer")
    expect(tile(page, "gpus").get_by_label("Default")).to_have_value("2")
    expect(tile(page, "gpus").get_by_label("Min")).to_have_value("1")
    expect(tile(page, "gpus").get_by_label("Max")).to_have_value("8")
    expect(tile(page, "ns").get_by_label("Allowed values")).to_have_value("ml, research")
    expect(tile(page, "ns").get_by_label("Default")).to_have_value("ml")
    expect(tile(page, "tier").get_by_label("Description")).to_have_value("GPU tier")
    expect(page.get_by_label("Template variables as JSON")).to_have_value("")
    page.get_by_role("button", name="Save config").click()
    expect(page.get_by_text("Configuration saved.")).to_be_visible()
    assert RunQueue.objects.get(name="k8s").template_variables == saved


# --- Prioritized queues: the Overview shows the pop order ----------------------------------------


def test_priority_order_shown_equals_the_pop_order(page_as, owner, member, queue):
    RunQueue.objects.filter(pk=queue.pk).update(prioritization_mode=RunQueue.PRIORITIZATION_V0)
    queue.refresh_from_db()
    items = [item_push(queue=queue, run_spec={}, priority=p, created_by=owner) for p in (2, 3, 1, 2, 3)]
    page = page_as(owner)
    page.goto(f"/launch/acme/queues/{queue.name}/")
    table = page.get_by_role("table")
    expect(table.get_by_role("columnheader", name="Priority")).to_be_visible()

    # The admin moves the last, low item to the front from its row.
    last = items[-1]
    page.get_by_label(f"Priority of item #{last.pk}", exact=True).select_option("Critical")
    page.get_by_role("button", name=f"Set priority of item #{last.pk}").click()
    expect(page.get_by_text(f"Item #{last.pk} is now critical priority.")).to_be_visible()

    shown = {}
    for item in items:
        row = page.get_by_role("row").filter(has=page.get_by_role("link", name=f"Item #{item.pk}", exact=True))
        text = row.locator(".position-cell").inner_text()
        shown[int(text.split()[0])] = item.pk
    shown_order = [shown[position] for position in sorted(shown)]
    assert sorted(shown) == [1, 2, 3, 4, 5]
    expect(page.get_by_role("row").filter(has_text="(next)")).to_contain_text(f"Item #{last.pk}")

    popped = [item_pop(queue=queue, agent_id=None).pk for _ in items]
    assert popped == shown_order == [last.pk, items[2].pk, items[0].pk, items[3].pk, items[1].pk]

    # A member sees the priorities and positions, without the control.
    page = page_as(member)
    page.goto(f"/launch/acme/queues/{queue.name}/")
    expect(page.get_by_role("columnheader", name="Priority")).to_be_visible()
    expect(page.get_by_role("combobox", name=re.compile("Priority of item"))).to_have_count(0)
