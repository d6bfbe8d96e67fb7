"""The Jobs pages in headless Chromium, with builds run by a real Celery worker on the Redis broker:
create image and code jobs (zip and folder uploads), follow the build live, read the job and download its
files; a bad image reference shows its error beside the field."""

import os
import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect

from launchui.jobs import services
from launchui.jobs.models import JobBuild
from launchui.projects.services import project_get_or_create
from tests.web.jobs_helpers import CODE, make_zip

pytestmark = [pytest.mark.browser]

BUILD_TIMEOUT = 60_000  # ms: the worker picks the build from Redis, then the page's 2 s poll shows it


@pytest.fixture
def worker(celery_worker, transactional_db):
    """The session's live Celery worker; its builds must be visible to it, hence transactional_db."""
    return celery_worker


def shot(page, tmp_path, name: str) -> None:
    """A full-page screenshot; copied to LAUNCHUI_SCREENSHOT_DIR when set."""
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    if target := os.environ.get("LAUNCHUI_SCREENSHOT_DIR"):
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / name)


def fill_common(page, entity="acme", project="vision"):
    page.get_by_label("Entity").select_option(entity)
    page.get_by_label("Project").fill(project)


def expect_succeeded(page):
    expect(page.locator("#build-status")).to_have_text("Succeeded", timeout=BUILD_TIMEOUT)


def test_create_image_job_and_watch_the_build_succeed(page_as, member, team, worker, tmp_path):
    page = page_as(member)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Jobs").click()
    expect(page.get_by_role("heading", name="Jobs")).to_be_visible()
    page.get_by_role("link", name="Create job").click()
    page.get_by_role("link", name="Docker image").click()
    fill_common(page)
    page.get_by_label("Image", exact=True).fill("ghcr.io/acme/train:1.4")
    page.get_by_label("Aliases").fill("stable")
    page.get_by_role("button", name="Create job").click()

    expect(page).to_have_url(re.compile(r"/launch/builds/\d+$"))
    expect_succeeded(page)
    log = page.get_by_label("Build log")
    expect(log).to_contain_text("Image job from ghcr.io/acme/train:1.4")
    expect(log).to_contain_text("Created job: acme/vision/job-ghcr.io_acme_train:v0, with aliases:")
    shot(page, tmp_path, "job-build.png")

    page.get_by_role("link", name="job-ghcr.io_acme_train:v0").click()
    expect(page.get_by_role("heading", name="job-ghcr.io_acme_train", exact=True)).to_be_visible()
    expect(page.get_by_text("ghcr.io/acme/train:1.4", exact=True)).to_be_visible()
    for alias in ["1.4", "latest", "stable"]:
        expect(page.locator(".versions .tag", has_text=re.compile(f"^{re.escape(alias)}$"))).to_have_count(1)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Jobs").click()
    row = page.get_by_role("row").filter(has_text="job-ghcr.io_acme_train")
    expect(row).to_contain_text("Docker image")
    expect(row).to_contain_text("v0")
    expect(row).to_contain_text("Succeeded")
    shot(page, tmp_path, "jobs-list.png")


def test_bad_image_reference_shows_the_error_beside_the_field(page_as, owner, team, worker):
    page = page_as(owner)
    page.goto("/launch/jobs/new/image")
    fill_common(page)
    page.get_by_label("Image", exact=True).fill("-rm")
    page.get_by_label("Name", exact=True).fill("my job!")
    page.get_by_role("button", name="Create job").click()

    expect(page.locator("#id_image_error")).to_contain_text("is not a Docker image reference")
    expect(page.locator("#id_name_error")).to_contain_text("Did you mean: my_job_")
    expect(page.get_by_label("Image", exact=True)).to_have_value("-rm")  # what was typed stays
    expect(page.get_by_label("Project")).to_have_value("vision")
    assert not JobBuild.objects.exists()


def test_create_code_job_from_a_zip_then_download_a_file(page_as, owner, team, worker, tmp_path):
    archive = tmp_path / "trainer.zip"
    archive.write_bytes(make_zip(CODE))
    page = page_as(owner)
    page.goto("/launch/jobs/new")
    fill_common(page)
    page.get_by_label("Or one archive").set_input_files(str(archive))
    page.get_by_label("Python version").fill("3.12")
    shot(page, tmp_path, "job-create-code.png")
    page.get_by_role("button", name="Create job").click()

    expect_succeeded(page)
    expect(page.get_by_label("Build log")).to_contain_text("Unpacking trainer.zip")
    page.get_by_role("link", name="job-code-trainer_main.py:v0").click()

    expect(page.get_by_text("code-trainer_main.py:v0").first).to_be_visible()
    expect(page.get_by_label("Requirements", exact=True)).to_have_text("wandb\n")
    code_files = page.locator("section", has=page.get_by_role("heading", name=re.compile("^Code files")))
    for name in CODE:
        expect(code_files.get_by_role("link", name=f"Download {name}")).to_be_visible()
    expect(page.get_by_role("link", name="Download wandb-job.json")).to_be_visible()
    shot(page, tmp_path, "job-page.png")

    with page.expect_download() as download:
        page.get_by_role("link", name="Download pkg/util.py").click()
    assert download.value.suggested_filename == "util.py"
    assert Path(download.value.path()).read_bytes() == CODE["pkg/util.py"]


def test_create_code_job_by_uploading_a_folder(page_as, owner, team, worker, tmp_path):
    folder = tmp_path / "my-trainer"
    for path, data in {**CODE, ".git/HEAD": b"ref: refs/heads/main\n"}.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_bytes(data)
    page = page_as(owner)
    page.goto("/launch/jobs/new")
    fill_common(page, entity="olivia", project="scratch")
    page.get_by_label("Folder").set_input_files(str(folder))
    expect(page.locator("#folder-summary")).to_have_text("5 files from my-trainer selected.")
    page.get_by_label("Entry point").fill("python main.py --epochs 2")
    page.get_by_role("button", name="Create job").click()

    expect_succeeded(page)
    build = JobBuild.objects.get()
    assert sorted(build.params["files"]) == sorted(CODE)  # relative paths kept, .git left out
    assert build.params["source_name"] == "my-trainer"
    page.get_by_role("link", name="job-code-my-trainer_main.py:v0").click()
    expect(page.get_by_text("python main.py --epochs 2")).to_be_visible()
    for name in CODE:
        expect(page.get_by_role("link", name=f"Download {name}")).to_be_visible()


def test_build_page_log_updates_live_and_polling_stops(page_as, owner, team, transactional_db):
    """The page's 2 s poll shows status and log written by the build, without a reload."""
    project = project_get_or_create(entity=team, name="vision")
    build = JobBuild.objects.create(
        project=project, kind=JobBuild.IMAGE, params={"image": "python:3.12"}, created_by=owner
    )  # recorded but not enqueued: this test runs it
    page = page_as(owner)
    page.goto(f"/launch/builds/{build.pk}")
    expect(page.locator("#build-status")).to_have_text("Queued")
    expect(page.get_by_text("Waiting for the broker")).to_be_visible()  # recorded, never sent
    page.evaluate("window.__marker = 1")

    services.build_run(build_id=build.pk)

    expect(page.locator("#build-status")).to_have_text("Succeeded", timeout=8_000)
    expect(page.get_by_label("Build log")).to_contain_text("Created job: acme/vision/job-python:v0")
    expect(page.locator("#build-live")).not_to_have_attribute("hx-trigger", re.compile(".*"))
    assert page.evaluate("window.__marker") == 1


def test_git_credentials_page(page_as, owner, team):
    page = page_as(owner)
    page.get_by_role("link", name="Entities").click()
    page.get_by_role("row").filter(has_text="acme").get_by_role("link", name="Git credentials").click()
    expect(page.get_by_role("heading", name="Git credentials of acme")).to_be_visible()
    expect(page.get_by_label("Private key")).to_be_hidden()  # HTTPS is chosen
    expect(page.get_by_label("Known hosts")).to_be_hidden()
    page.get_by_label("Name", exact=True).fill("github")
    page.get_by_label("Username").fill("bot")
    page.get_by_label("Password or token").fill("ghp_token")
    page.get_by_role("button", name="Add credential").click()
    expect(page.locator("#id_host_error")).to_contain_text("This field is required.")  # the server it is for
    page.get_by_label("Host", exact=True).fill("github.com")
    page.get_by_label("Repositories under").fill("acme")
    page.get_by_label("Password or token").fill("ghp_token")
    page.get_by_role("button", name="Add credential").click()
    expect(page.get_by_text("Credential github saved.")).to_be_visible()
    expect(page.get_by_role("row").filter(has_text="github")).to_contain_text("HTTPS")
    expect(page.get_by_role("row").filter(has_text="github")).to_contain_text("github.com/acme/")

    page.get_by_label("Kind").select_option("ssh")
    expect(page.get_by_label("Password or token")).to_be_hidden()
    expect(page.get_by_label("Known hosts")).to_be_visible()
    page.get_by_label("Name", exact=True).fill("deploy")
    page.get_by_label("Host", exact=True).fill("github.com")
    page.get_by_label("Private key").fill("not a key")
    page.get_by_role("button", name="Add credential").click()
    expect(page.locator("#id_private_key_error")).to_contain_text("Paste an SSH private key")
    expect(page.get_by_label("Private key")).to_have_value("")  # never echoed back

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete github").click()
    expect(page.get_by_text("Credential github deleted.")).to_be_visible()
    expect(page.get_by_text("No git credentials.")).to_be_visible()
