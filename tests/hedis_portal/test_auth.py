"""API authentication: hashed tokens, session auth, throttling and role permissions."""

from datetime import timedelta

import pytest
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission, User
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.settings import api_settings
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from hedis_portal import roles
from hedis_portal.backends import visible_contract_ids
from tests.conftest import query_count, token_client
from tests.factories import ContractFactory

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


# The whole table of what each role may do: a permission added to or taken from a role fails here.
# What every role has:
EVERY_ROLE = {
    "gaps.view_caregap",
    "gaps.view_gapremark",
    "interventions.add_intervention",
    "interventions.add_interventiongap",
    "interventions.view_intervention",
    "interventions.view_interventiongap",
    "interventions.view_interventiontype",
    "interventions.view_interventionuplift",
    "interventions.view_outreachgap",
    "interventions.view_outreachrecord",
    "members.view_contract",
    "members.view_member",
    "predictions.view_prediction",
    "ratings.view_contract_rating",
    "ratings.view_cutpoint",
    "ratings.view_cutpointprojection",
    "ratings.view_measure",
    "ratings.view_portfoliorun",
    "ratings.view_portfoliosnapshot",
    "ratings.view_staryearmeasure",
}
# What analysts and administrators have besides: the ratings analysis, predictions, approving outreach.
ANALYSIS = {
    "interventions.approve_intervention",
    "predictions.add_prediction",
    "predictions.change_prediction",
    "ratings.add_contractmeasurescore",
    "ratings.add_contractratingprofile",
    "ratings.add_cutpointprojection",
    "ratings.add_portfoliorun",
    "ratings.add_portfoliosnapshot",
    "ratings.change_contractmeasurescore",
    "ratings.change_contractratingprofile",
    "ratings.view_cmscontract",
    "ratings.view_cmsdataimport",
    "ratings.view_cmsmeasurevalue",
    "ratings.view_contractmeasurescore",
    "ratings.view_contractratingprofile",
}
# What care managers and their leads have besides: working gaps.
WORKING_GAPS = {
    "gaps.add_gapremark",
    "gaps.change_caregap",
    "interventions.add_outreachrecord",
    "interventions.change_intervention",
    "interventions.change_interventiongap",
}
GRANTED = {
    roles.CARE_MANAGER: EVERY_ROLE | WORKING_GAPS,
    roles.CARE_MANAGER_LEAD: EVERY_ROLE | WORKING_GAPS | {"members.reidentify_member"},
    roles.QUALITY_ANALYST: EVERY_ROLE | ANALYSIS,
    roles.ADMINISTRATOR: EVERY_ROLE
    | ANALYSIS
    | {
        "auditlog.view_logentry",
        "auth.add_user",
        "auth.change_user",
        "auth.view_user",
        "gaps.add_caregap",
        "gaps.add_gapremark",
        "gaps.change_caregap",
        "hedis_portal.view_apirequestlog",
        "interventions.add_interventiontype",
        "interventions.add_outreachrecord",
        "interventions.add_interventionuplift",
        "interventions.change_intervention",
        "interventions.change_interventiongap",
        "interventions.change_interventiontype",
        "interventions.change_interventionuplift",
        "interventions.delete_interventionuplift",
        "members.add_contract",
        "members.add_member",
        "members.change_contract",
        "members.change_member",
        "members.reidentify_member",
        "ratings.add_cmsdataimport",
    },
}


def test_each_role_grants_exactly_these_permissions():
    assert {name: set(codes) for name, codes in roles.ROLE_PERMISSIONS.items()} == GRANTED


def test_roles_carry_exactly_their_declared_permissions():
    for name, codes in roles.ROLE_PERMISSIONS.items():
        group = Group.objects.get(name=name)
        granted = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}
        assert granted == set(codes)


def test_care_manager_cannot_read_the_api_request_log_or_users_in_admin(client, care_manager):
    client.force_login(care_manager)
    assert client.get("/admin/hedis_portal/apirequestlog/").status_code == 403
    assert client.get("/admin/auth/user/").status_code == 403


def _expired_token(user):
    token, raw = AuthToken.objects.create(user=user)
    AuthToken.objects.filter(pk=token.pk).update(expiry=timezone.now() - timedelta(minutes=1))
    return raw


def test_an_expired_token_is_refused_and_deleted(care_manager):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {_expired_token(care_manager)}")
    assert client.get("/api/members/").status_code == 401
    assert not AuthToken.objects.filter(user=care_manager).exists()


def test_a_request_costs_the_same_queries_however_many_tokens_the_user_holds(care_manager):
    client = token_client(care_manager)
    one = query_count(lambda: client.get("/api/members/"))
    for _ in range(5):
        AuthToken.objects.create(user=care_manager)
        _expired_token(care_manager)
    assert query_count(lambda: client.get("/api/members/")) == one
    assert AuthToken.objects.filter(user=care_manager).count() == 11


def test_login_deletes_only_the_users_expired_tokens(care_manager, colleague):
    _expired_token(care_manager)
    live, _ = AuthToken.objects.create(user=care_manager)
    _expired_token(colleague)
    response = APIClient().post("/api/auth/login/", {"username": "cm", "password": "test-password"})
    assert response.status_code == 200
    remaining = AuthToken.objects.filter(user=care_manager)
    assert remaining.count() == 2
    assert live in remaining
    assert AuthToken.objects.filter(user=colleague).count() == 1


@pytest.mark.parametrize("persona", ["care_manager", "analyst", "administrator"])
def test_permissions_are_those_of_django_model_backend_in_one_query(request, persona):
    user = request.getfixturevalue(persona)
    user.user_permissions.add(
        Permission.objects.get(content_type__app_label="auditlog", codename="view_logentry")
    )
    expected = ModelBackend().get_all_permissions(User.objects.get(pk=user.pk))
    fresh = User.objects.get(pk=user.pk)
    assert query_count(lambda: fresh.get_all_permissions()) == 1
    assert fresh.get_all_permissions() == expected
    assert "auditlog.view_logentry" in expected
    assert fresh.has_perm("gaps.view_caregap")


def test_the_same_query_reads_the_users_contracts(care_manager, colleague, contract, other_contract):
    third = ContractFactory(contract_id="H3003")
    third.users.add(care_manager)
    for user, expected in ((care_manager, [contract.pk, third.pk]), (colleague, [other_contract.pk])):
        fresh = User.objects.get(pk=user.pk)
        assert (
            query_count(lambda fresh=fresh: (fresh.get_all_permissions(), visible_contract_ids(fresh))) == 1
        )
        assert sorted(visible_contract_ids(fresh)) == expected
        assert fresh.has_perm("gaps.view_caregap")


def test_superusers_hold_every_permission_and_inactive_users_none(care_manager):
    root = User.objects.create_superuser("root", password="x")
    assert len(root.get_all_permissions()) == Permission.objects.count()
    care_manager.is_active = False
    care_manager.save()
    assert User.objects.get(pk=care_manager.pk).get_all_permissions() == set()
