"""Security findings in headless Chromium: the sign-in lockout (finding 7) and the Content-Security-Policy
(finding 14) under which every page, htmx and the Django admin must still work."""

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client
from playwright.sync_api import expect

from launchui.launch.services import agent_register, item_push, queue_create
from tests.conftest import PASSWORD
from tests.web.test_launch_drawer import make_job

pytestmark = [pytest.mark.browser]

# Records every CSP violation the page reports, before any page script runs.
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__csp.push(e.effectiveDirective + " blocked " + (e.blockedURI || "inline") + " at " + e.sourceFile);
});
"""


def sign_in_form(page, username, password):
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_login_rate_limit_locks_the_username_after_repeated_failures_and_admin_unlocks(
    browser, live_server, owner, settings
):
    settings.AXES_FAILURE_LIMIT = 3
    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    page.goto("/login")
    for _ in range(2):
        sign_in_form(page, owner.username, "wrong password")
        expect(page.get_by_role("alert")).to_contain_text("Please enter a correct username and password")
    sign_in_form(page, owner.username, "wrong password")
    expect(page.get_by_role("heading", name="Sign-in locked")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("Too many failed sign-ins for olivia")
    expect(page.get_by_role("alert")).to_contain_text("15 min")
    # The right password is refused too while the lock lasts.
    page.get_by_role("link", name="Back to sign in").click()
    sign_in_form(page, owner.username, PASSWORD)
    expect(page.get_by_role("heading", name="Sign-in locked")).to_be_visible()

    # A superuser unlocks it in the admin: Axes › Access attempts, delete the attempt. (They sign in from
    # elsewhere: this browser's address is locked too, so their session is made directly.)
    root = User.objects.create_superuser(username="root", password=PASSWORD)
    session = Client()
    session.force_login(root)
    admin_context = browser.new_context(base_url=live_server.url)
    admin_context.add_cookies(
        [{"name": "sessionid", "value": session.cookies["sessionid"].value, "url": live_server.url}]
    )
    admin = admin_context.new_page()
    admin.goto("/admin/")
    admin.get_by_role("link", name="Access attempts").click()
    admin.get_by_role("row").filter(has_text="olivia").get_by_role("checkbox").check()
    admin.get_by_role("combobox", name=re.compile("Action")).select_option(label="Delete selected access attempts")
    admin.get_by_role("button", name="Go").click()
    admin.get_by_role("button", name=re.compile("Yes, I.m sure")).click()
    expect(admin.get_by_text("Successfully deleted 1 access attempt")).to_be_visible()

    page.goto("/login")
    sign_in_form(page, owner.username, PASSWORD)
    expect(page).to_have_url(re.compile(r"/launch$"))
    context.close()
    admin_context.close()


@pytest.fixture
def site(transactional_db, owner, team):
    """A job, two queues (one with an item and an agent) and owner as superuser: every main page has content."""
    make_job(team, user=owner)
    cpu = queue_create(entity=team, name="cpu", resource="local-process", created_by=owner)
    agent_register(entity=team, queues=[cpu], hostname="box", config={}, version="wandb@0.31.0", created_by=owner)
    item = item_push(queue=cpu, run_spec={"job": "acme/train/job-trainer:latest", "project": "train"}, created_by=owner)
    User.objects.filter(pk=owner.pk).update(is_staff=True, is_superuser=True)
    return item


PAGES = [
    "/launch",
    "/launch/queues/new",
    "/launch/jobs",
    "/launch/jobs/new",
    "/launch/jobs/new/image",
    "/launch/jobs/new/git",
    "/launch/agents",
    "/entities",
    "/entities/acme/members",
    "/entities/acme/git-credentials",
    "/authorize",
    "/launch/acme/queues/cpu/",
    "/launch/acme/queues/cpu/agents",
    "/launch/acme/queues/cpu/config",
    "/launch/acme/queues/cpu/monitor",
    "/launch/acme/queues/cpu/items/{item}",
    "/launch/acme/train/jobs",
    "/launch/acme/train/jobs/job-trainer",
    "/launch/acme/train/jobs/job-trainer/launch",
    # The Django admin, including a change form, an add form and django-axes' pages.
    "/admin/",
    "/admin/accounts/entity/",
    "/admin/accounts/entity/{team}/change/",
    "/admin/auth/user/add/",
    "/admin/axes/accessattempt/",
    "/admin/launch/runqueue/",
]


def test_content_security_policy_every_page_works_without_violations(page_as, owner, team, site):
    page = page_as(owner)
    page.add_init_script(RECORD_VIOLATIONS)
    console_errors = []
    page.on("console", lambda msg: msg.type == "error" and console_errors.append(msg.text))
    page.on("pageerror", lambda exc: console_errors.append(str(exc)))
    htmx_errors = []
    page.on("console", lambda msg: "htmx:evalDisallowedError" in msg.text and htmx_errors.append(msg.text))

    for url in PAGES:
        response = page.goto(url.format(item=site.pk, team=team.pk))
        assert response.status == 200, url
        policy = response.headers.get("content-security-policy", "")
        for directive in (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ):
            assert directive in policy, (url, policy)
        assert "unsafe" not in policy
        page.wait_for_load_state("load")
        assert page.evaluate("window.__csp") == [], url
    assert console_errors == [] and htmx_errors == []

    # htmx under the policy: the Launch page's row expander opens and closes, and a closed row stops polling.
    page.goto("/launch")
    toggle = page.get_by_role("button", name="Recent items of acme/cpu")
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    recent = page.get_by_role("table", name="Recent items of acme/cpu")
    expect(recent).to_contain_text(f"Item #{site.pk}")
    with page.expect_request(re.compile(r"/recent$"), timeout=6000):
        pass  # polls every 3 s while shown
    toggle.click()
    expect(recent).to_be_hidden()
    polled = []
    page.on("request", lambda request: request.url.endswith("/recent") and polled.append(request.url))
    page.wait_for_timeout(4000)
    assert polled == []

    # The Launch drawer opens as a dialog from a job's page and its Close button closes it.
    page.goto("/launch/acme/train/jobs/job-trainer")
    page.get_by_role("link", name="Launch job-trainer").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name="Launch job-trainer")).to_be_visible()
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()
    assert page.evaluate("window.__csp") == []
    assert console_errors == [] and htmx_errors == []

    # The recorder does catch a violation: an injected inline script is refused and reported.
    page.evaluate("""() => { const s = document.createElement("script"); s.textContent = "window.__ran = 1";
                            document.body.appendChild(s); }""")
    page.wait_for_function("window.__csp.length > 0")
    assert page.evaluate("window.__ran") is None
