"""API token lifetimes: sliding expiry under an absolute cap; revoked on password change and deactivation."""

from datetime import timedelta
from io import StringIO

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.management import call_command
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from tests.conftest import token_client

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_throttle_counts():
    """The API throttle's per-address counts live in the cache, which tests do not roll back."""
    cache.clear()


def max_lifetime() -> timedelta:
    return timedelta(hours=django_settings.API_TOKEN_MAX_LIFETIME_HOURS)


def login(username: str = "cm") -> tuple[APIClient, str]:
    response = APIClient().post("/api/auth/login/", {"username": username, "password": "test-password"})
    assert response.status_code == 200
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    return client, response.json()["expiry"]


def age_tokens(user, by: timedelta) -> None:
    """Pretend `user`'s tokens were created `by` ago and have just been used (expiry slid forward)."""
    AuthToken.objects.filter(user=user).update(
        created=timezone.now() - by, expiry=timezone.now() + timedelta(hours=1)
    )


def test_the_absolute_lifetime_defaults_to_twelve_hours():
    assert django_settings.API_TOKEN_MAX_LIFETIME_HOURS == 12


def test_a_token_older_than_its_absolute_lifetime_is_refused_and_deleted_although_use_kept_it_alive(
    care_manager,
):
    client, _ = login()
    age_tokens(care_manager, max_lifetime() + timedelta(minutes=1))
    assert client.get("/api/members/").status_code == 401
    assert not AuthToken.objects.filter(user=care_manager).exists()


def test_a_token_within_its_absolute_lifetime_still_works(care_manager):
    client, _ = login()
    age_tokens(care_manager, max_lifetime() - timedelta(minutes=5))
    assert client.get("/api/members/").status_code == 200


def test_use_never_slides_the_expiry_past_the_absolute_lifetime(care_manager):
    client, _ = login()
    created = timezone.now() - max_lifetime() + timedelta(minutes=30)
    AuthToken.objects.filter(user=care_manager).update(
        created=created, expiry=timezone.now() + timedelta(minutes=1)
    )
    assert client.get("/api/members/").status_code == 200
    assert AuthToken.objects.get(user=care_manager).expiry <= created + max_lifetime()


def test_login_never_issues_a_token_beyond_the_absolute_lifetime(settings, care_manager):
    settings.REST_KNOX = {**settings.REST_KNOX, "TOKEN_TTL": timedelta(hours=48)}
    login()
    token = AuthToken.objects.get(user=care_manager)
    assert token.expiry - token.created <= max_lifetime() + timedelta(seconds=1)


# --- revocation --------------------------------------------------------------------------------


def test_set_password_and_save_revokes_the_users_tokens_only(care_manager, colleague):
    client, _ = login()
    other = token_client(colleague)
    care_manager.set_password("a-new-long-password-1")
    care_manager.save()
    assert client.get("/api/members/").status_code == 401
    assert not AuthToken.objects.filter(user=care_manager).exists()
    assert other.get("/api/members/").status_code == 200


def test_changepassword_command_revokes_the_users_tokens(monkeypatch, care_manager):
    client, _ = login()
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "a-new-long-password-2")
    call_command("changepassword", "cm", stdout=StringIO())
    assert client.get("/api/members/").status_code == 401
    assert not AuthToken.objects.filter(user=care_manager).exists()


def test_changing_a_password_in_the_admin_revokes_the_users_tokens(client, care_manager):
    api, _ = login()
    root = User.objects.create_superuser("root", password="root-password")
    client.force_login(root)
    response = client.post(
        f"/admin/auth/user/{care_manager.pk}/password/",
        {
            "password1": "a-new-long-password-3",
            "password2": "a-new-long-password-3",
            "usable_password": "true",
        },
    )
    assert response.status_code == 302
    assert api.get("/api/members/").status_code == 401
    assert not AuthToken.objects.filter(user=care_manager).exists()


def test_deactivating_a_user_revokes_their_tokens(care_manager):
    client, _ = login()
    care_manager.is_active = False
    care_manager.save()
    assert not AuthToken.objects.filter(user=care_manager).exists()
    care_manager.is_active = True
    care_manager.save()
    assert client.get("/api/members/").status_code == 401


def test_saving_a_user_without_a_password_or_activity_change_keeps_their_tokens(care_manager):
    client, _ = login()
    care_manager.first_name = "Casey"
    care_manager.save()
    User.objects.get(pk=care_manager.pk).save(update_fields=["last_login"])
    assert client.get("/api/members/").status_code == 200
    assert AuthToken.objects.filter(user=care_manager).count() == 1
