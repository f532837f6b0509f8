"""Response headers that keep member-level data out of caches, and logs that keep it out of lines."""

import logging

import pytest
from django.http import HttpResponse
from rest_framework.test import APIClient

from console.api import MemberHistoryViewSet
from hedis_portal.middleware import NoStoreMiddleware
from tests.factories import CareGapFactory, MemberFactory

pytestmark = pytest.mark.django_db

RAW_ID = "ZQX-778812345"


def _no_store(response) -> bool:
    return "no-store" in response["Cache-Control"]


def test_api_json_and_csv_export_are_never_stored(api, care_manager, contract):
    member = MemberFactory(contract=contract)
    CareGapFactory(member=member)
    client = api(care_manager)
    for url in ("/api/gaps/", f"/api/members/{member.pk}/", "/api/gaps/export/", "/api/schema/"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert _no_store(response), url


def test_api_errors_are_never_stored(api, care_manager):
    assert _no_store(api(None).get("/api/gaps/"))
    assert _no_store(api(care_manager).get("/api/members/0/"))


def test_admin_pages_with_member_data_are_never_stored(client, care_manager, contract):
    member = MemberFactory(contract=contract)
    client.force_login(care_manager)
    for url in ("/admin/gaps/caregap/", f"/admin/members/member/{member.pk}/change/", "/admin/login/"):
        response = client.get(url)
        assert response.status_code in (200, 302), url
        assert _no_store(response), url


def test_a_response_that_sets_its_own_caching_keeps_it(rf):
    static_file = HttpResponse("body { }")
    static_file["Cache-Control"] = "max-age=315360000, public, immutable"
    response = NoStoreMiddleware(lambda request: static_file)(rf.get("/static/admin/css/base.css"))
    assert response["Cache-Control"] == "max-age=315360000, public, immutable"


def test_server_error_is_logged_with_the_route_not_the_path(care_manager, monkeypatch, caplog):
    def fail(self, request, *args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(MemberHistoryViewSet, "retrieve", fail)
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(care_manager)
    with caplog.at_level(logging.DEBUG):
        response = client.get(f"/api/members/{RAW_ID}/?q={RAW_ID}")
    assert response.status_code == 500
    errors = [record for record in caplog.records if record.name == "django.request"]
    assert [record.getMessage() for record in errors] == ["Internal Server Error: api/members/<pk>/"]
    assert RAW_ID not in caplog.text
