"""launchui.core.postgresql: the health check sends nothing on a healthy connection, and still finds one the
server has closed (what a database restart does), so the request reconnects instead of failing."""

import time

import pytest
from django.db import connection, connections
from django.db.backends.postgresql import base as stock

pytestmark = pytest.mark.django_db


@pytest.fixture
def other():
    """A second connection to the test database, of our backend, closed afterwards."""
    wrapper = connections.create_connection("default")
    wrapper.ensure_connection()
    yield wrapper
    wrapper.close()


def test_the_backend_is_in_use():
    assert type(connections["default"]).__module__ == "launchui.core.postgresql.base"


def test_a_healthy_idle_connection_is_usable_without_a_select_1(other, monkeypatch):
    asked = []
    monkeypatch.setattr(stock.DatabaseWrapper, "is_usable", lambda self: asked.append(self) or True)
    other.cursor().execute("SELECT 1")  # used, then idle, as between two requests
    assert other.is_usable()
    assert asked == []  # no round trip


def test_a_connection_the_server_closed_is_not_usable(other):
    pid = other.connection.info.backend_pid
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        assert cursor.fetchone()[0]
    deadline = time.monotonic() + 5
    while other.is_usable() and time.monotonic() < deadline:
        time.sleep(0.01)  # the FATAL message and the close reach the client socket a moment later
    assert not other.is_usable()
    other.health_check_enabled, other.health_check_done = True, False  # as at the start of a request
    other.close_if_health_check_failed()
    assert other.connection is None
    other.ensure_connection()  # the request's first query connects again
    assert other.is_usable()
