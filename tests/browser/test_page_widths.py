"""No page scrolls sideways: at 390 px (a phone) and at 1280 px, with data in every table.

PAGES is the list of every page a person sees. Add a new page here: its address (placeholders are filled
from the `site` fixture's dict), who looks at it, and the status it answers with (so that a broken address
does not pass as a narrow 404 page).
"""

import json

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from launchui.jobs.services import credential_create
from launchui.launch.models import LaunchAgent
from launchui.launch.services import agent_register, agent_update_status, item_pop, item_push, queue_create
from launchui.projects.services import project_get_or_create, run_stream
from tests.web.jobs_helpers import image_job
from tests.web.test_launch_items import failed, start

pytestmark = [pytest.mark.browser]

Q = "/launch/acme/queues/gpu-queue-for-the-research-team"
JOB = "/launch/acme/vision/jobs/{job}"
RUN = "/acme/train/runs/{run}"

# (address, who: "owner" | "member" | "anonymous", expected HTTP status)
PAGES = [
    ("/login", "anonymous", 200),
    ("/signup", "anonymous", 200),
    ("/no/such/page", "anonymous", 404),
    ("/launch", "owner", 200),
    ("/launch?entity=acme&search=gpu", "owner", 200),
    ("/launch/queues/new", "owner", 200),
    (Q + "/", "owner", 200),
    (Q + "/agents", "owner", 200),
    (Q + "/config", "owner", 200),
    (Q + "/monitor", "owner", 200),
    (Q + "/delete", "owner", 200),
    (Q + "/items/{failed_item}", "owner", 200),
    (Q + "/items/{running_item}", "owner", 200),
    ("/launch/jobs", "owner", 200),
    ("/launch/acme/vision/jobs", "owner", 200),
    (JOB, "owner", 200),
    (JOB + "/launch", "owner", 200),
    ("/launch/jobs/new", "owner", 200),
    ("/launch/jobs/new/image", "owner", 200),
    ("/launch/jobs/new/git", "owner", 200),
    ("/launch/builds/{build}", "owner", 200),
    ("/launch/agents", "owner", 200),
    ("/launch/agents/{agent}", "owner", 200),
    ("/entities", "owner", 200),
    ("/entities/acme/members", "owner", 200),
    ("/entities/acme/git-credentials", "owner", 200),
    ("/entities/acme/git-credentials/{credential}/server", "owner", 200),
    ("/authorize", "owner", 200),
    # Projects and runs: the addresses the wandb client prints, and the run page's tabs.
    ("/projects", "owner", 200),
    ("/acme/train", "member", 200),
    ("/acme/train?sort=-summary_metrics.train/loss-of-a-long-metric-name", "member", 200),
    ("/acme/train/compare?runs={run}&runs=run-finished-0002", "member", 200),
    (RUN, "member", 200),
    (RUN + "/charts", "member", 200),
    (RUN + "/system", "member", 200),
    (RUN + "/logs", "member", 200),
    (RUN + "/files", "member", 200),
    (RUN + "/artifacts", "member", 200),
    ("/acme/train/runs/run-finished-0002", "member", 200),
    ("/no/such/page", "owner", 404),
    (Q + "/delete", "member", 403),
    # The Django admin, which staff users see.
    ("/admin/", "owner", 200),
    ("/admin/launch/runqueue/", "owner", 200),
    ("/admin/launch/launchagent/", "owner", 200),
]

LONG_IMAGE = "ghcr.io/acme-research/very-long-image-name-for-distributed-training:2026-11-30-release-candidate"
LONG_JOB = "acme/vision/job-ghcr.io_acme-research_very-long-image-name-for-distributed-training:latest"


@pytest.fixture
def site(transactional_db, owner, member, team, settings):
    """Every table with rows, and long names where names go."""
    settings.LAUNCHUI_SIGNUP_ENABLED = True
    User.objects.filter(pk=owner.pk).update(is_staff=True, is_superuser=True)
    queue = queue_create(entity=team, name="gpu-queue-for-the-research-team", resource="kubernetes", created_by=owner)
    queue_create(entity=owner.personal_entity, name="laptop", resource="local-process", created_by=owner)
    config = {"max_jobs": 4, "builder": {"type": "docker"}, "registry": {"url": "registry.example.com/acme/long"}}
    agents = [
        agent_register(
            entity=team,
            queues=[queue],
            hostname=f"gpu-worker-node-{n}.research.example.internal",
            config=config,
            version="wandb@0.31.0",
            created_by=owner,
        )
        for n in range(3)
    ]
    agent_update_status(agent_id=agents[1].pk, status=LaunchAgent.RUNNING)
    build = image_job(team, owner, image=LONG_IMAGE, project="vision")
    project_get_or_create(entity=team, name="train")

    def push():
        return item_push(queue=queue, run_spec={"job": LONG_JOB, "project": "train"}, created_by=member)

    running, run = start(queue, agents[0], member, "run-running-a-long-name-0001")
    # History, system metrics and console lines with long names and values, for the run page's tabs.
    history = [
        json.dumps({"_step": step, "train/loss-of-a-long-metric-name": 1 / (step + 1), "val/accuracy": step / 10})
        for step in range(10)
    ]
    events = [
        json.dumps({"_timestamp": 1764480000 + 15 * n, "system.cpu": 40 + n, "system.gpu.0.gpu": 90}) for n in range(5)
    ]
    console = [
        "2026-11-30T06:00:00.000000 INFO " + "a-very-long-console-line-without-spaces-" * 8,
        "2026-11-30T06:00:01.000000 \x1b[31mERROR\x1b[0m traceback line",
    ]
    run_stream(
        run=run,
        complete=False,
        exit_code=None,
        files={
            "wandb-history.jsonl": {"offset": 0, "content": history},
            "wandb-summary.json": {"offset": 0, "content": [history[-1]]},
            "wandb-events.jsonl": {"offset": 0, "content": events},
            "output.log": {"offset": 0, "content": console},
        },
    )
    start(queue, agents[0], owner, "run-finished-0002", complete=True, exit_code=0)
    broken = failed(
        queue,
        agents[1],
        owner,
        message="pull access denied for " + LONG_IMAGE + ", repository does not exist or may require login",
        stage="build",
        files=("logs/agent-output-with-a-long-file-name.log",),
    )
    push()
    item_pop(queue=queue, agent_id=agents[2].pk)
    for _ in range(3):
        push()
    credential = credential_create(
        entity=team,
        name="github-deploy-token-for-research",
        kind="https",
        username="research-bot",
        secret="ghp_s3cret",
        host="github.example-enterprise.com",
        created_by=owner,
    )
    return {
        "failed_item": broken.pk,
        "running_item": running.pk,
        "run": run.name,
        "job": build.result.collection.name,
        "build": build.pk,
        "agent": agents[0].pk,
        "credential": credential.pk,
    }


# The page's width, and the outermost elements that stick out (to say in the failure what to fix).
SCROLL_JS = """() => {
  const inner = window.innerWidth;
  const classes = e => (e.className && e.className.baseVal === undefined
    ? "." + String(e.className).trim().split(/\\s+/).join(".") : "");
  const name = e => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + classes(e);
  const clipped = e => {
    for (let a = e.parentElement; a && a !== document.body; a = a.parentElement) {
      if (getComputedStyle(a).overflowX !== "visible") return true;
    }
    return false;
  };
  const sticksOut = e => e.getBoundingClientRect().right > inner + 1 && !clipped(e);
  const out = Array.from(document.body.querySelectorAll("*")).filter(e => {
    return sticksOut(e) && !(e.parentElement && sticksOut(e.parentElement));
  }).slice(0, 3).map(e => name(e.parentElement) + " > " + name(e) + " " + Math.round(e.getBoundingClientRect().right));
  return {scroll: document.documentElement.scrollWidth, inner: inner, culprits: out};
}"""


@pytest.mark.parametrize("width", [390, 1280])
def test_no_page_scrolls_sideways(browser, live_server, page_as, owner, member, site, width):
    anonymous = browser.new_context(base_url=live_server.url)
    pages = {"owner": page_as(owner), "member": page_as(member), "anonymous": anonymous.new_page()}
    for page in pages.values():
        page.set_viewport_size({"width": width, "height": 900})
    wide = []
    try:
        for address, who, status in PAGES:
            page = pages[who]
            url = address.format(**site)
            response = page.goto(url)
            assert response is not None and response.status == status, (url, who, response and response.status)
            if not url.startswith("/admin/"):
                expect(page.locator("main#main")).to_be_visible()  # our layout, not a bare error text
            page.wait_for_load_state("load")
            size = page.evaluate(SCROLL_JS)
            if size["scroll"] > size["inner"]:
                wide.append((url, who, size["scroll"], size["culprits"]))
    finally:
        anonymous.close()
    assert wide == [], f"pages wider than {width} px: {wide}"
