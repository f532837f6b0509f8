"""Logins, failed logins, lockouts and logouts (admin and API) are audit entries on the user.

Never the attempted password; a username that matches no account is kept only as a keyed hash.
"""

import pytest
from auditlog.models import LogEntry
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_throttle_counts():
    """The API throttle's per-address counts live in the cache, which tests do not roll back."""
    cache.clear()


def auth_events():
    """(event, channel, object_pk, actor username, remote address) of every authentication entry."""
    return [
        (
            e.additional_data["auth_event"],
            e.additional_data["channel"],
            e.object_pk,
            e.actor.username if e.actor else None,
            e.remote_addr,
        )
        for e in LogEntry.objects.get_for_model(User).order_by("pk")
        if e.additional_data and "auth_event" in e.additional_data
    ]


def everything_stored() -> str:
    return repr(list(LogEntry.objects.values()))


def test_api_login_failed_login_and_logout_are_audited(care_manager):
    client = APIClient(REMOTE_ADDR="10.3.0.1")
    assert client.post("/api/auth/login/", {"username": "cm", "password": "wrong-pw-1"}).status_code == 400
    token = client.post("/api/auth/login/", {"username": "cm", "password": "test-password"}).json()["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.post("/api/auth/logout/").status_code == 204
    pk = str(care_manager.pk)
    assert auth_events() == [
        ("login_failed", "api", pk, None, "10.3.0.1"),
        ("login", "api", pk, "cm", "10.3.0.1"),
        ("logout", "api", pk, "cm", "10.3.0.1"),
    ]
    assert "wrong-pw-1" not in everything_stored()
    assert "test-password" not in everything_stored()


def test_api_logout_of_every_token_is_audited(care_manager):
    client = APIClient(REMOTE_ADDR="10.3.0.2")
    token = client.post("/api/auth/login/", {"username": "cm", "password": "test-password"}).json()["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.post("/api/auth/logoutall/").status_code == 204
    assert [event[:2] for event in auth_events()] == [("login", "api"), ("logout", "api")]


def test_admin_login_failed_login_and_logout_are_audited(care_manager):
    client = Client(REMOTE_ADDR="10.3.1.1")
    client.post("/admin/login/", {"username": "cm", "password": "wrong-pw-2", "next": "/admin/"})
    assert (
        client.post(
            "/admin/login/", {"username": "cm", "password": "test-password", "next": "/admin/"}
        ).status_code
        == 302
    )
    assert client.post("/admin/logout/").status_code == 200
    pk = str(care_manager.pk)
    assert auth_events() == [
        ("login_failed", "admin", pk, None, "10.3.1.1"),
        ("login", "admin", pk, "cm", "10.3.1.1"),
        ("logout", "admin", pk, "cm", "10.3.1.1"),
    ]
    assert "wrong-pw-2" not in everything_stored()


def test_a_failed_login_for_an_unknown_username_keeps_only_a_keyed_hash():
    typed = "MBR-99887766"
    for channel, client in (
        ("api", APIClient(REMOTE_ADDR="10.3.2.1")),
        ("admin", Client(REMOTE_ADDR="10.3.2.1")),
    ):
        path = "/api/auth/login/" if channel == "api" else "/admin/login/"
        client.post(path, {"username": typed, "password": "whatever-pw"})
    entries = [
        e for e in LogEntry.objects.get_for_model(User).order_by("pk") if e.additional_data.get("auth_event")
    ]
    assert [e.additional_data["channel"] for e in entries] == ["api", "admin"]
    hashes = {e.additional_data["username_hash"] for e in entries}
    assert len(hashes) == 1
    assert len(hashes.pop()) == 32
    for entry in entries:
        assert entry.object_pk == "unknown"
        assert entry.object_id is None
    stored = everything_stored()
    assert typed not in stored
    assert typed.lower() not in stored.lower()
    assert "whatever-pw" not in stored


def test_a_lockout_is_audited_once_with_the_address(care_manager):
    client = APIClient(REMOTE_ADDR="10.3.3.1")
    for _ in range(django_settings.AXES_FAILURE_LIMIT):
        client.post("/api/auth/login/", {"username": "cm", "password": "wrong"})
    lockouts = [event for event in auth_events() if event[0] == "locked_out"]
    assert lockouts == [("locked_out", "api", str(care_manager.pk), None, "10.3.3.1")]


def test_login_audit_records_the_client_address_not_a_forged_forwarded_for(care_manager):
    client = APIClient(REMOTE_ADDR="10.3.4.1", HTTP_X_FORWARDED_FOR="198.51.100.66")
    client.post("/api/auth/login/", {"username": "cm", "password": "test-password"})
    assert auth_events() == [("login", "api", str(care_manager.pk), "cm", "10.3.4.1")]
