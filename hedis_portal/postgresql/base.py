"""Django's PostgreSQL backend, except that no wait for the server outlasts `DB_WAIT_TIMEOUT`.

A database that is up but never answers (a frozen server, a paused virtual machine, a network
that drops packets without a reset) makes psycopg wait forever for a query's result: libpq's
`connect_timeout` ends only the connecting, the server's `statement_timeout` needs a server that
runs, TCP keepalives and `tcp_user_timeout` do not fire while the connection is merely idle on
our side, and a cancel request goes to the same frozen server. So every connection this backend
opens waits at most `DB_WAIT_TIMEOUT` seconds for any answer (a query, a commit, a fetch, a COPY);
then the connection is closed and the query raises `NoAnswer`, an `OperationalError` that the API
answers as 503 with Retry-After.

Every thread would then spend that long on the same silent server, and the requests queued behind
them longer still; so once the database has given no answer (or no connection within
`DB_CONNECT_TIMEOUT`), the process opens no new connection to it for `DB_NO_ANSWER_BACKOFF`
seconds: those requests fail at once with `NoAnswer`.

The bound uses psycopg's own `Connection.wait(timeout=…)` and the exception it raises,
`psycopg.errors._WaitTimeout`, a private name: psycopg is pinned in requirements.txt, and
tests/hedis_portal/test_db_timeouts.py fails if an upgrade changes either.
"""

import time

import psycopg
from django.conf import settings
from django.db.backends.postgresql import base

# Per database alias: the monotonic time before which this process opens no new connection to it.
_silent_until: dict[str, float] = {}


class NoAnswer(psycopg.OperationalError):
    """The server did not answer within `DB_WAIT_TIMEOUT`, or did so moments ago."""


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params):
        if time.monotonic() < _silent_until.get(self.alias, 0.0):
            raise NoAnswer("the database gave no answer moments ago; not waiting for it again yet")
        try:
            connection = super().get_new_connection(conn_params)
        except psycopg.errors.ConnectionTimeout:
            self._silent()
            raise
        if settings.DB_WAIT_TIMEOUT:
            connection.wait = self._bounded(connection, settings.DB_WAIT_TIMEOUT)
        return connection

    def _silent(self) -> None:
        _silent_until[self.alias] = time.monotonic() + settings.DB_NO_ANSWER_BACKOFF

    def _bounded(self, connection: psycopg.Connection, seconds: float):
        """`connection.wait`, giving up after `seconds` unless the caller set its own timeout."""
        unbounded = connection.wait

        def wait(gen, *args, timeout=None, **kwargs):
            try:
                return unbounded(gen, *args, timeout=seconds if timeout is None else timeout, **kwargs)
            except psycopg.errors._WaitTimeout:
                if timeout is not None:
                    raise
                # The server may still answer this query later; the connection cannot be used again.
                connection.close()
                self._silent()
                raise NoAnswer(f"no answer from the database within {seconds:g} s") from None

        return wait
