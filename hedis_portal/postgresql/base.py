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
seconds: those requests fail at once with `NoAnswer`. A thread already waiting on a connection it
holds stops waiting too, within psycopg's wake-up interval (0.1 s), when another thread of the
process has since found the server silent: each thread's wait would otherwise run its own full
`DB_WAIT_TIMEOUT` from whenever it began, and a request that a busy thread took late would wait
for more than that.

The bound uses psycopg's own `Connection.wait(timeout=…)` and the exception it raises,
`psycopg.errors._WaitTimeout`, a private name: psycopg is pinned in requirements.txt, and
tests/hedis_portal/test_db_timeouts.py fails if an upgrade changes either.
"""

import time

import psycopg
from django.conf import settings
from django.db.backends.postgresql import base
from psycopg.waiting import Ready

# Per database alias: the monotonic time before which this process opens no new connection to it,
# and when it last found the server silent.
_silent_until: dict[str, float] = {}
_silent_since: dict[str, float] = {}


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
        now = time.monotonic()
        _silent_since[self.alias] = now
        _silent_until[self.alias] = now + settings.DB_NO_ANSWER_BACKOFF

    def _bounded(self, connection: psycopg.Connection, seconds: float):
        """`connection.wait`, giving up after `seconds`, or once another thread found the server
        silent since it began, unless the caller set its own timeout."""
        unbounded = connection.wait

        def wait(gen, *args, timeout=None, **kwargs):
            if timeout is not None:
                return unbounded(gen, *args, timeout=timeout, **kwargs)
            try:
                return unbounded(self._watched(gen, time.monotonic()), *args, timeout=seconds, **kwargs)
            except psycopg.errors._WaitTimeout:
                # The server may still answer this query later; the connection cannot be used again.
                connection.close()
                self._silent()
                raise NoAnswer(f"no answer from the database within {seconds:g} s") from None
            except _SilentMeanwhile:
                connection.close()
                raise NoAnswer("the database gave another request no answer meanwhile") from None

        return wait

    def _watched(self, gen, began: float):
        """`gen`, ended with `_SilentMeanwhile` at a wake-up with nothing to read (psycopg sends
        `Ready.NONE` every interval) once the server has been found silent after `began`."""
        try:
            state = next(gen)
            while True:
                ready = yield state
                if ready == Ready.NONE and _silent_since.get(self.alias, 0.0) > began:
                    raise _SilentMeanwhile
                state = gen.send(ready)
        except StopIteration as done:
            return done.value


class _SilentMeanwhile(Exception):
    """Another thread found the server silent while this one waited for it."""
