"""Login throttling and lockout: per username and per client address, on the API and the admin.

Failures are counted by django-axes in the database (every worker sees them); the API's rate
throttle counts in the cache behind CACHE_URL (Redis in production). A forwarded-for header is
believed only as far as NUM_PROXIES says proxies append to it.
"""

import os
import uuid
from datetime import timedelta

import environ
import pytest
from axes.models import AccessAttempt
from django.conf import settings as django_settings
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from django.test import Client
from django.utils import timezone
from rest_framework.settings import api_settings
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

pytestmark = pytest.mark.django_db

API_LOGIN = "/api/auth/login/"
ADMIN_LOGIN = "/admin/login/"
# Tests share one Redis with other runs: each test uses keys under its own prefix.
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture(autouse=True)
def _fresh_throttle_counts():
    """The API throttle's per-address counts live in the cache, which tests do not roll back.

    Cleared before the test only: a test that points the cache at Redis must not flush it.
    """
    cache.clear()


@pytest.fixture
def tight_login_rate(monkeypatch):
    # DRF reads the rates into a class attribute at import time.
    monkeypatch.setattr(
        SimpleRateThrottle, "THROTTLE_RATES", {**api_settings.DEFAULT_THROTTLE_RATES, "auth": "3/min"}
    )


def failure_limit() -> int:
    return django_settings.AXES_FAILURE_LIMIT


def api_login(username: str, password: str, *, address: str = "10.0.0.1", forwarded: str | None = None):
    extra = {"REMOTE_ADDR": address}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return APIClient().post(API_LOGIN, {"username": username, "password": password}, **extra)


def admin_login(username: str, password: str, *, address: str = "10.0.0.1", client: Client | None = None):
    client = client or Client()
    return client.post(
        ADMIN_LOGIN, {"username": username, "password": password, "next": "/admin/"}, REMOTE_ADDR=address
    )


def assert_api_locked_out(response) -> None:
    assert response.status_code == 429
    body = response.json()
    assert set(body) == {"message", "extra"}
    assert body["extra"] == {}
    assert "too many failed logins" in body["message"].lower()
    assert int(response["Retry-After"]) > 0
    assert "token" not in body


# --- forwarded headers ---------------------------------------------------------------------


def test_rotating_x_forwarded_for_does_not_reset_the_api_login_throttle(tight_login_rate, care_manager):
    statuses = [api_login("cm", "guess", forwarded=f"198.51.100.{n}").status_code for n in range(1, 5)]
    assert statuses == [400, 400, 400, 429]


def test_with_one_trusted_proxy_the_address_it_appended_is_the_client(
    settings, tight_login_rate, care_manager
):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    # The client rotates what it sends; the proxy (10.0.0.9) appends the address it saw.
    statuses = [
        api_login("cm", "guess", address="10.0.0.9", forwarded=f"198.51.100.{n}, 203.0.113.7").status_code
        for n in range(1, 5)
    ]
    assert statuses == [400, 400, 400, 429]
    # Another client behind the same proxy is not throttled.
    assert api_login("cm", "guess", address="10.0.0.9", forwarded="203.0.113.8").status_code == 400


@pytest.mark.parametrize(
    ("num_proxies", "remote_addr", "forwarded", "expected"),
    [
        (0, "10.0.0.1", None, "10.0.0.1"),
        (0, "10.0.0.1", "198.51.100.1", "10.0.0.1"),
        (1, "10.0.0.9", "198.51.100.1, 203.0.113.7", "203.0.113.7"),
        (2, "10.0.0.9", "198.51.100.1, 203.0.113.7, 10.0.0.8", "203.0.113.7"),
        (1, "10.0.0.9", None, "10.0.0.9"),
    ],
)
def test_client_address_believes_forwarded_for_only_as_far_as_num_proxies(
    settings, rf, num_proxies, remote_addr, forwarded, expected
):
    from hedis_portal.client_address import client_address

    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": num_proxies}
    extra = {"REMOTE_ADDR": remote_addr}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    assert client_address(rf.post(API_LOGIN, **extra)) == expected


def test_no_proxy_is_trusted_by_default():
    assert api_settings.NUM_PROXIES == 0
    assert django_settings.AXES_CLIENT_IP_CALLABLE == "hedis_portal.client_address.client_address"


# --- lockout on the API ----------------------------------------------------------------------


def test_api_locks_out_a_username_after_n_failures_from_any_addresses(care_manager):
    statuses = [api_login("cm", "wrong", address=f"10.0.1.{n}").status_code for n in range(failure_limit())]
    # The N-th failure locks the username out, and is answered so.
    assert statuses == [400] * (failure_limit() - 1) + [429]
    # The right password, from an address that never failed: still refused.
    assert_api_locked_out(api_login("cm", "test-password", address="10.0.2.1"))
    assert not care_manager.auth_token_set.exists()


def test_api_locks_out_an_address_after_n_failures_across_usernames(care_manager):
    statuses = [
        api_login(f"nobody{n}", "wrong", address="10.0.3.1").status_code for n in range(failure_limit())
    ]
    assert statuses == [400] * (failure_limit() - 1) + [429]
    assert_api_locked_out(api_login("cm", "test-password", address="10.0.3.1"))
    # The same account from another address is not locked.
    assert api_login("cm", "test-password", address="10.0.3.2").status_code == 200


def test_api_failures_below_the_limit_still_let_the_right_password_in(care_manager):
    for _ in range(failure_limit() - 1):
        api_login("cm", "wrong")
    assert api_login("cm", "test-password").status_code == 200


def test_a_lockout_ends_after_the_cool_off(care_manager):
    for n in range(failure_limit()):
        api_login("cm", "wrong", address=f"10.0.4.{n}")
    assert api_login("cm", "test-password").status_code == 429
    AccessAttempt.objects.update(
        attempt_time=timezone.now() - django_settings.AXES_COOLOFF_TIME - timedelta(1)
    )
    assert api_login("cm", "test-password").status_code == 200


def test_the_lockout_answer_is_the_same_for_unknown_and_existing_usernames(care_manager):
    for n in range(failure_limit()):
        api_login("cm", "wrong", address=f"10.0.5.{n}")
        api_login("ghost", "wrong", address=f"10.0.6.{n}")
    existing, unknown = api_login("cm", "x", address="10.0.7.1"), api_login("ghost", "x", address="10.0.7.2")
    assert (existing.status_code, existing.json()) == (unknown.status_code, unknown.json())
    assert_api_locked_out(unknown)


def test_unknown_usernames_are_counted_under_a_keyed_hash_never_stored_as_typed():
    attempted = "MBR-00123456"  # people type member IDs (or passwords) into the username box
    for n in range(2):
        api_login(attempted, "wrong", address=f"10.0.8.{n}")
        admin_login(attempted, "wrong", address=f"10.0.9.{n}")
    attempts = list(AccessAttempt.objects.all())
    assert len(attempts) == 4
    assert len({a.username for a in attempts}) == 1
    for attempt in attempts:
        stored = " ".join(str(v) for v in attempt.__dict__.values())
        assert attempted not in stored
        assert attempted.lower() not in stored.lower()


def test_a_failed_admin_login_stores_no_search_term_from_the_page_it_returns_to():
    # A session that ran out on a search for a raw member ID returns there after the login.
    next_url = "/admin/members/member/?q=MBR-55501234"
    Client().post(
        f"{ADMIN_LOGIN}?next={next_url}",
        {"username": "cm", "password": "wrong", "next": next_url},
        REMOTE_ADDR="10.0.8.9",
    )
    attempt = AccessAttempt.objects.get()
    assert "MBR-55501234" not in " ".join(str(v) for v in attempt.__dict__.values())


def test_a_known_username_is_counted_under_its_name(care_manager):
    api_login("cm", "wrong")
    assert AccessAttempt.objects.get().username == "cm"


# --- lockout on the admin --------------------------------------------------------------------


def test_admin_login_locks_out_and_refuses_the_right_password(care_manager):
    statuses = [admin_login("cm", "wrong", address=f"10.1.0.{n}").status_code for n in range(failure_limit())]
    # The login form again, with its error; the N-th failure locks the username out.
    assert statuses == [200] * (failure_limit() - 1) + [429]
    client = Client()
    response = admin_login("cm", "test-password", address="10.1.1.1", client=client)
    assert response.status_code == 429
    assert b"Too many failed logins" in response.content
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302  # still sent to the login page


def test_admin_login_locks_out_an_address_across_usernames(care_manager):
    for n in range(failure_limit()):
        admin_login(f"nobody{n}", "wrong", address="10.1.2.1")
    assert admin_login("cm", "test-password", address="10.1.2.1").status_code == 429
    assert admin_login("cm", "test-password", address="10.1.2.2").status_code == 302


def test_admin_and_api_failures_count_together(care_manager):
    for n in range(failure_limit()):
        login = api_login if n % 2 else admin_login
        login("cm", "wrong", address=f"10.1.3.{n}")
    assert admin_login("cm", "test-password", address="10.1.4.1").status_code == 429
    assert api_login("cm", "test-password", address="10.1.4.2").status_code == 429


def test_admin_login_ignores_a_forged_forwarded_for(care_manager):
    client = Client()
    for n in range(failure_limit()):
        client.post(
            ADMIN_LOGIN,
            {"username": f"nobody{n}", "password": "wrong"},
            REMOTE_ADDR="10.1.5.1",
            HTTP_X_FORWARDED_FOR=f"198.51.100.{n}",
        )
    assert admin_login("cm", "test-password", address="10.1.5.1").status_code == 429


# --- shared state ----------------------------------------------------------------------------


def test_lockouts_are_kept_in_the_database_not_in_a_worker(care_manager):
    for n in range(failure_limit()):
        api_login("cm", "wrong", address=f"10.2.0.{n}")
    # Another worker: nothing in this process's memory or cache survives.
    cache.clear()
    from axes.handlers.proxy import AxesProxyHandler

    AxesProxyHandler.get_implementation(force=True)
    assert AccessAttempt.objects.filter(username="cm").exists()
    assert api_login("cm", "test-password", address="10.2.1.1").status_code == 429


def test_redis_cache_urls_use_djangos_redis_backend():
    config = environ.Env.cache_url_config("redis://cache.internal:6379/1")
    assert config["BACKEND"] == "django.core.cache.backends.redis.RedisCache"


def test_two_workers_share_the_api_login_throttle_through_redis(settings, tight_login_rate, care_manager):
    settings.CACHES = {
        "default": {**environ.Env.cache_url_config(TEST_REDIS_URL), "KEY_PREFIX": f"t-{uuid.uuid4().hex}"}
    }
    first_worker = caches["default"]
    assert isinstance(first_worker, RedisCache)
    first_worker.set("ping", 1)  # fails here, loudly, if Redis is not running
    statuses = [api_login("cm", "guess").status_code for _ in range(3)]
    # A second worker process has its own cache client and connection pool.
    del caches["default"]
    second_worker = caches["default"]
    assert second_worker is not first_worker
    statuses.append(api_login("cm", "guess").status_code)
    assert statuses == [400, 400, 400, 429]
