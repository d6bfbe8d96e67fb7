"""The session store (settings.SESSION_ENGINE): Django's database sessions, whose one read that every page
and every 3-second refresh begins with is a statement compiled once per connection (core/compiled.py).
Building and compiling that query cost ~0.7 ms of CPU, more than the database spends on it. Writes, expiry,
clearsessions and the table are Django's, so sessions made before this store still load."""

from datetime import datetime

from django.contrib.sessions.backends import db
from django.contrib.sessions.models import Session
from django.db import router
from django.utils import timezone

from launchui.core import compiled


def _live_session_sql(conn, *, session_key, now):
    return compiled.select_instances(Session.objects.filter(session_key=session_key, expire_date__gt=now), conn)


_LIVE_SESSION = compiled.Statement(_live_session_sql, session_key=str, now=datetime)


class SessionStore(db.SessionStore):
    def _get_session_from_db(self) -> Session | None:
        found = _LIVE_SESSION.rows(session_key=self.session_key, now=timezone.now(), using=router.db_for_read(Session))
        if not found:
            self._session_key = None  # as Django's store does: a new key is made if the session is written
            return None
        return found[0]
