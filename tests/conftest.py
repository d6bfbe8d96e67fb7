"""Shared fixtures: an owner, a member and an outsider of a team; API keys; the browser.

Services are real: PostgreSQL through pytest-django, Redis checked here, Chromium from Debian. A missing
service fails the run; nothing is skipped.
"""

import os
import socket
from urllib.parse import urlparse

import pytest
from django.conf import settings

from launchui.accounts.models import Membership
from launchui.accounts.services import api_key_create, team_create, user_create

PASSWORD = "correct-horse-battery-staple"
CHROMIUM = "/usr/bin/chromium"


def pytest_sessionstart(session):
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        pytest.exit("The tests run on PostgreSQL: set DATABASE_URL (bin/test does).", returncode=1)
    broker = urlparse(settings.CELERY_BROKER_URL)
    if broker.scheme != "redis":
        pytest.exit("The tests need the Redis broker: set CELERY_BROKER_URL (bin/test does).", returncode=1)
    try:
        socket.create_connection((broker.hostname, broker.port or 6379), timeout=3).close()
    except OSError as exc:
        pytest.exit(f"Redis at {broker.hostname}:{broker.port} is not reachable: {exc}", returncode=1)


@pytest.fixture(scope="session", autouse=True)
def _plain_static_storage():
    """Tests serve static files from the source folders; production uses collectstatic's hashed manifest."""
    from django.test import override_settings

    storages = {**settings.STORAGES,
                "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    with override_settings(STORAGES=storages):
        yield


@pytest.fixture
def owner(db):
    return user_create(username="olivia", password=PASSWORD, email="olivia@example.com")


@pytest.fixture
def member(db):
    return user_create(username="mateo", password=PASSWORD)


@pytest.fixture
def outsider(db):
    return user_create(username="oscar", password=PASSWORD)


@pytest.fixture
def team(owner, member):
    """Team 'acme': olivia is its admin, mateo a member, oscar nothing."""
    entity = team_create(name="acme", creator=owner)
    Membership.objects.create(entity=entity, user=member, role=Membership.MEMBER)
    return entity


@pytest.fixture
def owner_key(owner):
    return api_key_create(user=owner, name="owner key")[1]


@pytest.fixture
def member_key(member):
    return api_key_create(user=member, name="member key")[1]


@pytest.fixture
def outsider_key(outsider):
    return api_key_create(user=outsider, name="outsider key")[1]


# --- browser ------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: bin/test-services installs Debian's chromium.")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield browser
        browser.close()


@pytest.fixture
def page_as(browser, live_server):
    """page_as(user) -> a Playwright page signed in as that user (through the real sign-in form)."""
    contexts = []

    def sign_in(user, password=PASSWORD):
        context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        page.goto("/login")
        page.get_by_label("Username").fill(user.username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(lambda url: "/login" not in url)
        return page

    yield sign_in
    for context in contexts:
        context.close()
