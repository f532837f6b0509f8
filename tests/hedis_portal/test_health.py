"""Health probes, and 503 (not a 500 page) while the database is unreachable."""

import threading
from unittest import mock

import pytest
from django.db import OperationalError
from django.db.backends.base.base import BaseDatabaseWrapper

from tests.conftest import query_count


def _database_down():
    """Every new cursor fails the way a dropped PostgreSQL connection does."""
    return mock.patch.object(
        BaseDatabaseWrapper, "cursor", side_effect=OperationalError("connection refused")
    )


def test_live_answers_without_touching_the_database(client, db):
    assert query_count(lambda: client.get("/health/live")) == 0
    with _database_down():
        response = client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_answers_200_when_the_database_answers(client, db):
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_answers_503_with_a_reason_when_the_database_does_not(client, db):
    with _database_down():
        response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "reason": "database 'default': OperationalError"}


def test_ready_answers_503_on_time_when_the_database_does_not_answer(client, db, settings):
    """A database that takes the connection but never answers (a frozen server): 503 on time."""
    settings.HEALTH_READY_SECONDS = 0.2
    released = threading.Event()

    def hangs(*args, **kwargs):
        released.wait(10)
        raise OperationalError("no answer")

    try:
        with mock.patch.object(BaseDatabaseWrapper, "cursor", side_effect=hangs):
            response = client.get("/health/ready")
    finally:
        released.set()
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "reason": "no answer from the database within 0.2 s"}


# transaction=True: as in production, no test transaction wraps the request, so the
# failed queries during the outage do not poison what runs after it.
@pytest.mark.django_db(transaction=True)
def test_api_answers_503_in_the_error_shape_while_the_database_is_down_and_recovers(api, care_manager):
    client = api(care_manager)
    client.raise_request_exception = False
    with _database_down():
        response = client.get("/api/members/")
    assert response.status_code == 503
    assert response.json() == {"message": "The database is unavailable; try again shortly.", "extra": {}}
    assert response["Retry-After"] == "5"
    assert client.get("/api/members/").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_admin_answers_503_page_while_the_database_is_down(client, administrator):
    client.force_login(administrator)
    client.raise_request_exception = False
    with _database_down():
        response = client.get("/admin/members/member/")
    assert response.status_code == 503


@pytest.mark.django_db
def test_unexpected_api_error_is_a_500_in_the_error_shape(api, care_manager):
    client = api(care_manager)
    client.raise_request_exception = False
    with mock.patch("members.api.selectors.members_for", side_effect=RuntimeError("boom")):
        response = client.get("/api/members/")
    assert response.status_code == 500
    assert response.json() == {"message": "Internal server error", "extra": {}}


def test_connections_are_persistent_and_health_checked(settings):
    database = settings.DATABASES["default"]
    assert database["CONN_MAX_AGE"] > 0
    assert database["CONN_HEALTH_CHECKS"] is True
