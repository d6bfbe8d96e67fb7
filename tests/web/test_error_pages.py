"""Error pages say what happened and where to go, in the site's layout, with the skip link; the 404 never
shows Django's internals (the resolver's "Resolver404")."""

import sys

import pytest
from django.db import OperationalError
from django.test import RequestFactory

from launchui.web import errors
from tests.web.helpers import text

pytestmark = pytest.mark.django_db

SKIP_LINK = '<a class="skip-link" href="#main">Skip to content</a>'


def _in_layout(body: str) -> None:
    assert SKIP_LINK in body
    assert '<main class="page" id="main" tabindex="-1">' in body
    assert '<a class="brand" href="/launch">' in body
    assert '<a href="/launch">Launch queues</a>' in body and '<a href="/launch/jobs">Jobs</a>' in body


def test_unknown_address_is_a_plain_404_in_the_layout(client, owner):
    client.force_login(owner)
    response = client.get("/no/such/page/here")
    body = text(response)
    assert response.status_code == 404
    assert "Resolver404" not in body and "tried" not in body
    assert '<h1 id="error-title">Page not found</h1>' in body
    assert "There is nothing at <code>/no/such/page/here</code>." in body
    _in_layout(body)
    assert "Sign out" in body  # the signed-in layout: the user menu is there
    assert ">Sign in</a>, if you were signed out." not in body


def test_a_views_404_reason_is_shown(client, outsider, queue):
    client.force_login(outsider)
    response = client.get("/launch/acme/queues/gpu-queue/")
    assert response.status_code == 404
    assert "No such queue, or it belongs to an entity you are not a member of." in text(response)
    _in_layout(text(response))


def test_signed_out_404_offers_sign_in(client, db):
    body = text(client.get("/no/such/page"))
    assert '<a href="/login">Sign in</a>, if you were signed out.' in body


def test_403_says_why_and_where_to_go(client, member, team):
    client.force_login(member)
    response = client.post("/entities/acme/members/1/role", {"role": "ADMIN"})
    body = text(response)
    assert response.status_code == 403
    assert '<h1 id="error-title">Not allowed</h1>' in body
    assert "Only admins change the members of an entity." in body
    _in_layout(body)


def _raised(exc: Exception):
    request = RequestFactory().get("/launch")
    try:
        raise exc
    except type(exc):
        assert sys.exc_info()[1] is exc
        return errors.server_error(request)


def test_500_page_is_in_the_layout_without_the_database():
    response = _raised(RuntimeError("boom"))
    body = text(response)
    assert response.status_code == 500
    assert "Something went wrong on the server" in body and "boom" not in body
    _in_layout(body)
    assert '<link rel="stylesheet" href="/static/css/app.css">' in body
    assert "Sign out" not in body  # drawn without the request: no user menu


def test_503_page_is_in_the_layout_and_retries():
    response = _raised(OperationalError("connection refused"))
    body = text(response)
    assert response.status_code == 503 and response["Retry-After"] == "10"
    assert '<meta http-equiv="refresh" content="10">' in body
    assert "launchui is unavailable" in body and "tries again in 10 seconds" in body
    _in_layout(body)


def test_every_page_has_the_skip_link(client, owner):
    client.force_login(owner)
    for url in ("/launch", "/launch/jobs", "/launch/agents", "/entities", "/authorize"):
        assert SKIP_LINK in text(client.get(url)), url
    client.logout()
    assert SKIP_LINK in text(client.get("/login"))
