"""The API request log: what it records, what it never records, and its batching."""

import pytest
from auditlog.models import LogEntry
from django.db import OperationalError

from hedis_portal import request_log
from hedis_portal.models import ApiRequestLog
from tests.conftest import query_count
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def test_api_request_is_logged_with_route_user_status_and_request_id(api, care_manager, contract):
    member = MemberFactory(contract=contract)
    response = api(care_manager).get(f"/api/members/{member.pk}/")
    entry = ApiRequestLog.objects.get()
    assert (entry.method, entry.route, entry.status) == ("GET", "api/members/<pk>/", 200)
    assert entry.user == care_manager
    assert entry.request_id == response["X-Request-ID"]
    assert entry.duration_ms > 0
    assert entry.error_class == ""


def test_error_class_is_recorded_not_its_message(api, care_manager, other_contract):
    member = MemberFactory(contract=other_contract)
    api(care_manager).get(f"/api/members/{member.pk}/")
    entry = ApiRequestLog.objects.get()
    assert (entry.status, entry.error_class) == (404, "Http404")


@pytest.mark.parametrize(
    "request_id", ["3f2b8c1e-9d4a-4e6b-8a7c-0123456789ab", "3F2B8C1E9D4A4E6B8A7C0123456789AB"]
)
def test_callers_uuid_request_id_is_kept_and_echoed(api, care_manager, request_id):
    response = api(care_manager).get("/api/members/", HTTP_X_REQUEST_ID=request_id)
    assert response["X-Request-ID"] == request_id
    assert ApiRequestLog.objects.get().request_id == request_id


@pytest.mark.parametrize(
    "request_id",
    [
        "<script>",
        "MBR-000123456",  # a raw member ID must not reach the request log or the audit cid
        "trace-0123456789",
        "3f2b8c1e-9d4a4e6b-8a7c-0123456789ab",  # dashes in some places only
        "3f2b8c1e-9d4a-4e6b-8a7c-0123456789ab\n",
        "g" * 32,
    ],
)
def test_request_id_that_is_not_a_uuid_is_replaced(api, care_manager, contract, request_id):
    member = MemberFactory(contract=contract)
    response = api(care_manager).get(f"/api/members/{member.pk}/", HTTP_X_REQUEST_ID=request_id)
    generated = response["X-Request-ID"]
    assert generated != request_id
    assert len(generated) == 32
    assert ApiRequestLog.objects.get().request_id == generated
    assert LogEntry.objects.get(action=LogEntry.Action.ACCESS).cid == generated


def test_body_and_raw_member_id_are_never_logged(api, care_manager, contract):
    MemberFactory(contract=contract, raw_member_id="RAW-SECRET-42")
    api(care_manager).post("/api/members/lookup/?q=RAW-SECRET-42", {"member_id": "RAW-SECRET-42"})
    entry = ApiRequestLog.objects.get()
    assert entry.route == "api/members/lookup/"
    assert "RAW-SECRET-42" not in " ".join(str(v) for v in vars(entry).values())


def test_anonymous_request_is_logged_without_user(api):
    api(None).get("/api/members/")
    entry = ApiRequestLog.objects.get()
    assert (entry.user_id, entry.status, entry.error_class) == (None, 401, "NotAuthenticated")


def test_non_api_paths_are_not_logged(client):
    client.get("/health/live")
    assert ApiRequestLog.objects.count() == 0


def test_entries_are_written_in_batches_one_insert_per_batch(api, care_manager, settings):
    settings.API_LOG_FLUSH_SIZE = 3
    settings.API_LOG_FLUSH_SECONDS = 3600
    client = api(care_manager)
    client.get("/api/members/")
    first_two = query_count(lambda: client.get("/api/members/"))
    assert ApiRequestLog.objects.count() == 0
    assert request_log.pending_count() == 2
    third = query_count(lambda: client.get("/api/members/"))
    assert ApiRequestLog.objects.count() == 3
    assert third == first_two + 1  # the whole batch is one INSERT


def test_server_errors_are_written_at_once(api, care_manager, settings, monkeypatch):
    settings.API_LOG_FLUSH_SIZE = 100
    settings.API_LOG_FLUSH_SECONDS = 3600
    client = api(care_manager)
    client.raise_request_exception = False
    monkeypatch.setattr("members.api.selectors.members_for", _raise)
    client.get("/api/members/")
    entry = ApiRequestLog.objects.get()
    assert (entry.status, entry.error_class) == (500, "RuntimeError")


def _raise(user):
    raise RuntimeError("boom")


def test_database_unavailable_answers_wait_for_the_next_flush(api, care_manager, settings, monkeypatch):
    """A 503 means the database did not answer: writing its entry at once would only hold up the
    answer by another wait for it."""
    settings.API_LOG_FLUSH_SIZE = 100
    settings.API_LOG_FLUSH_SECONDS = 3600
    client = api(care_manager)
    client.raise_request_exception = False
    monkeypatch.setattr("members.api.selectors.members_for", _database_down)
    assert client.get("/api/members/").status_code == 503
    assert request_log.pending_count() == 1
    assert ApiRequestLog.objects.count() == 0


def _database_down(user):
    raise OperationalError("connection refused")


def test_purge_api_log_deletes_only_older_entries(db):
    from datetime import timedelta

    from django.core.management import call_command
    from django.utils import timezone

    now = timezone.now()
    for age in (1, 40):
        ApiRequestLog.objects.create(
            started_at=now - timedelta(days=age),
            request_id="x" * 8,
            method="GET",
            route="api/members/",
            status=200,
            duration_ms=1,
        )
    call_command("purge_api_log", older_than_days=30)
    assert list(ApiRequestLog.objects.values_list("started_at", flat=True)) == [now - timedelta(days=1)]
