"""API authentication: hashed tokens, session auth, throttling and role permissions."""

import pytest
from django.contrib.auth.models import Group
from knox.models import AuthToken
from rest_framework.settings import api_settings
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from hedis_portal import roles

pytestmark = pytest.mark.django_db


def test_login_returns_a_token_that_is_stored_only_as_a_digest(care_manager):
    response = APIClient().post("/api/auth/login/", {"username": "cm", "password": "test-password"})
    assert response.status_code == 200
    token = response.json()["token"]
    stored = AuthToken.objects.get(user=care_manager)
    assert token not in (stored.digest, stored.token_key)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/members/").status_code == 200


def test_wrong_password_is_400_in_the_error_shape(care_manager):
    response = APIClient().post("/api/auth/login/", {"username": "cm", "password": "nope"})
    assert response.status_code == 400
    assert response.json()["message"] == "Validation error"


def test_logout_revokes_the_token(care_manager):
    token = (
        APIClient().post("/api/auth/login/", {"username": "cm", "password": "test-password"}).json()["token"]
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.post("/api/auth/logout/").status_code == 204
    assert client.get("/api/members/").status_code == 401


def test_session_auth_serves_the_browsable_api(client, care_manager):
    client.force_login(care_manager)
    response = client.get("/api/members/", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert b"<html" in response.content


@pytest.fixture
def tight_rates(monkeypatch):
    rates = {**api_settings.DEFAULT_THROTTLE_RATES, "auth": "3/min", "anon": "5/min"}
    # DRF reads the rates into a class attribute at import time.
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", rates)
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


def test_login_attempts_are_throttled(tight_rates, care_manager):
    client = APIClient()
    statuses = [
        client.post("/api/auth/login/", {"username": "cm", "password": "guess"}).status_code for _ in range(4)
    ]
    assert statuses == [400, 400, 400, 429]
    assert set(client.post("/api/auth/login/", {}).json()) == {"message", "extra"}


def test_anonymous_requests_are_throttled(tight_rates):
    client = APIClient()
    statuses = [client.get("/api/schema/").status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]


def test_roles_carry_exactly_their_declared_permissions():
    for name, codes in roles.ROLE_PERMISSIONS.items():
        group = Group.objects.get(name=name)
        granted = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}
        assert granted == set(codes)


def test_care_manager_cannot_read_the_api_request_log_or_users_in_admin(client, care_manager):
    client.force_login(care_manager)
    assert client.get("/admin/hedis_portal/apirequestlog/").status_code == 403
    assert client.get("/admin/auth/user/").status_code == 403
