"""A database restart costs no request a 500 (kept connections are health-checked before reuse), and a
database that is down answers 503 with Retry-After: a page that says so, and a status the wandb client
retries (it retries 5xx other than 501)."""

import base64
import os

import pytest
import requests
from django.db import connection

from tests.conftest import PASSWORD, start_gunicorn
from tests.gitserver import free_port

VIEWER = {"query": "query Viewer { viewer { id username } }"}


def _basic(key: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"api:{key}".encode()).decode()}


def _drop_other_connections() -> int:
    """What a PostgreSQL restart does to the web process: its connections die under it."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_after_postgres_drops_the_connections_the_next_request_is_not_a_500(live_server, owner, owner_key, team):
    browser = requests.Session()
    browser.get(live_server.url + "/login")
    signed_in = browser.post(
        live_server.url + "/login",
        data={"username": owner.username, "password": PASSWORD, "csrfmiddlewaretoken": browser.cookies["csrftoken"]},
    )
    assert signed_in.status_code == 200 and "/login" not in signed_in.url
    assert requests.post(live_server.url + "/graphql", json=VIEWER, headers=_basic(owner_key)).status_code == 200

    assert _drop_other_connections() >= 1  # the live server's kept connection
    wire = requests.post(live_server.url + "/graphql", json=VIEWER, headers=_basic(owner_key))
    assert wire.status_code == 200, wire.text
    assert wire.json()["data"]["viewer"]["username"] == owner.username

    assert _drop_other_connections() >= 1
    page = browser.get(live_server.url + "/launch")
    assert page.status_code == 200 and "acme" in page.text


@pytest.fixture
def server_without_database(tmp_path):
    """gunicorn whose DATABASE_URL points at a closed port: every query fails to connect."""
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:{free_port()}/launchui_down",
        "LAUNCHUI_DATA_DIR": str(tmp_path),
        "DEBUG": "false",
    }
    server = start_gunicorn(env, tmp_path / "gunicorn.log", "--workers", "1")
    yield server.url
    server.stop()


def test_while_the_database_is_down_pages_and_the_wire_answer_503_with_retry_after(server_without_database):
    url = server_without_database
    page = requests.get(url + "/launch", cookies={"sessionid": "a-session"}, allow_redirects=False)
    assert page.status_code == 503
    assert page.headers["Retry-After"] == "10"
    assert "launchui is unavailable" in page.text and "database cannot be reached" in page.text

    for path, body in (("/graphql", VIEWER), ("/files/acme/vision/r1/file_stream", {"complete": False})):
        wire = requests.post(url + path, json=body, headers=_basic("local-" + "k" * 40))
        assert wire.status_code == 503, (path, wire.text)  # retried by the wandb client, unlike 400/401/404
        assert wire.headers["Retry-After"] == "10"
        assert "database is unavailable" in wire.json()["errors"][0]["message"]
