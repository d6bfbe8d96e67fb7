"""Django's PostgreSQL backend, with a health check that costs no round trip on a healthy connection.

With CONN_HEALTH_CHECKS, Django asks `is_usable()` before the first query of every request that reuses a
kept connection, and the stock answer is a `SELECT 1`: a third of the launch agent's round trips (its calls
make one or two statements). A connection the server has closed (a restart, pg_terminate_backend) has
something to read: the server's FATAL message, or the end of the stream. An idle healthy one has nothing
(launchui never LISTENs). So a connection with nothing to read is usable; one with something to read, or in
doubt, gets the stock `SELECT 1`.
"""

import select

from django.db.backends.postgresql import base


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self) -> bool:
        connection = self.connection
        if connection is None or connection.closed or connection.broken:
            return False
        try:
            readable, _, _ = select.select([connection.fileno()], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable or super().is_usable()
