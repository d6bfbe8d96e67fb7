"""accounts.sessions, the session store every page reads first: Django's database sessions, read with a
compiled statement. It must load what Django's own store saved, refuse expired and unknown keys as Django's
store does, and read in one query."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.sessions.backends import db as django_db_sessions
from django.contrib.sessions.models import Session
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from launchui.accounts import sessions

pytestmark = pytest.mark.django_db


def test_the_setting_names_this_store():
    assert settings.SESSION_ENGINE == "launchui.accounts.sessions"


def test_a_session_saved_by_djangos_store_loads_with_its_data_in_one_query():
    saved = django_db_sessions.SessionStore()
    saved["greeting"] = "hello"
    saved.save()
    loaded = sessions.SessionStore(session_key=saved.session_key)
    with CaptureQueriesContext(connection) as queries:
        assert loaded["greeting"] == "hello"
    assert len(queries) == 1
    assert loaded.session_key == saved.session_key


def test_an_expired_or_unknown_session_loads_empty_and_gets_a_new_key_when_written():
    saved = sessions.SessionStore()
    saved["user"] = "olivia"
    saved.save()
    Session.objects.filter(session_key=saved.session_key).update(expire_date=timezone.now() - timedelta(seconds=1))
    for key in (saved.session_key, "x" * 32):
        loaded = sessions.SessionStore(session_key=key)
        assert loaded.load() == {}
        assert loaded.session_key is None
        loaded["user"] = "mallory"
        loaded.save()
        assert loaded.session_key not in (None, key)  # never the stale key, so no session is revived
    assert Session.objects.get(session_key=saved.session_key).get_decoded() == {"user": "olivia"}


def test_signing_in_and_out_through_the_pages(client, owner):
    client.force_login(owner)
    assert client.get("/launch").status_code == 200
    assert client.post("/logout").status_code == 302
    assert client.get("/launch").status_code == 302
