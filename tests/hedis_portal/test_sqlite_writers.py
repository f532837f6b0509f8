"""SQLite as configured: a second writer waits for the first instead of failing half-way."""

import threading
import time

import pytest
from django.conf import settings
from django.db.backends.sqlite3.base import DatabaseWrapper

pytestmark = pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3", reason="SQLite's settings"
)


def _connection(path, options: dict) -> DatabaseWrapper:
    return DatabaseWrapper(
        {
            **settings.DATABASES["default"],
            "NAME": str(path),
            "OPTIONS": options,
            "CONN_MAX_AGE": 0,
            "CONN_HEALTH_CHECKS": False,
            "TIME_ZONE": None,
            "AUTOCOMMIT": True,
            "ATOMIC_REQUESTS": False,
        },
        alias="writers",
    )


def _race(path, options: dict) -> list:
    """Two read-then-write transactions, the second starting while the first holds its write."""
    setup = _connection(path, options)
    with setup.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS counter (n integer)")
        cursor.execute("DELETE FROM counter")
    setup.close()
    failures, first_wrote = [], threading.Event()

    def writer(delay: float) -> None:
        connection = _connection(path, options)
        try:
            time.sleep(delay)
            # As `transaction.atomic()` begins on SQLite: BEGIN with the configured transaction_mode.
            connection.set_autocommit(False, force_begin_transaction_with_broken_autocommit=True)
            with connection.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM counter")
                cursor.execute("INSERT INTO counter VALUES (1)")
                if delay == 0:
                    first_wrote.set()
                    time.sleep(0.5)
            connection.commit()
        except Exception as exc:
            failures.append(type(exc).__name__)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(0,)), threading.Thread(target=writer, args=(0.1,))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return failures


def test_the_configured_writers_wait_for_each_other(tmp_path, django_db_blocker):
    options = settings.DATABASES["default"]["OPTIONS"]
    assert options["transaction_mode"] == "IMMEDIATE"
    with django_db_blocker.unblock():
        assert _race(tmp_path / "immediate.sqlite3", options) == []


def test_without_it_the_second_writer_would_fail(tmp_path, django_db_blocker):
    with django_db_blocker.unblock():
        assert _race(tmp_path / "deferred.sqlite3", {"timeout": 5}) == ["OperationalError"]
