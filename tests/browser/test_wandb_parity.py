"""Where W&B Launch has the better thing (issue 14), in headless Chromium: template-variable tiles, the
prioritized Overview, the Launch drawer's pre-filled config, aliases on the Job page, and the Create job copy."""

import pytest
from playwright.sync_api import expect

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
