"""`GET /api/` lists what the API offers; `GET /api/me/` says who is asking, in which roles, where."""

import pytest

from hedis_portal import roles

pytestmark = pytest.mark.django_db

# Every route that takes no ID, by its path under /api/.
INDEX = [
    "auth/login",
    "auth/logout",
    "auth/logoutall",
    "benchmark",
    "cms-contracts",
    "cms-imports",
    "contract-measure-scores",
    "contracts",
    "cut-point-projections",
    "cut-points",
    "docs",
    "forecasts",
    "gaps",
    "gaps/bulk-assign",
    "gaps/bulk-remark",
    "gaps/bulk-transition",
    "gaps/export",
    "gaps/import",
    "intervention-types",
    "interventions",
    "interventions/bulk",
    "jobs",
    "me",
    "measures",
    "members",
    "members/lookup",
    "optimizer/runs",
    "outreach-records",
    "predictions",
    "predictions/bulk",
    "predictions/import",
    "rating-profiles",
    "schema",
    "snapshots",
    "snapshots/take",
    "snapshots/take-all",
    "snapshots/trend",
]


def test_the_api_root_lists_every_route_without_an_id_by_path_to_anyone(api):
    response = api(None).get("/api/")
    assert response.status_code == 200
    assert response.json() == {path: f"http://testserver/api/{path}/" for path in INDEX}


def test_the_browsable_api_names_its_root_in_words(client, care_manager):
    client.force_login(care_manager)
    assert "<title>API index" in client.get("/api/", HTTP_ACCEPT="text/html").content.decode()


def test_me_gives_the_callers_roles_contracts_and_permissions(api, care_manager, other_contract):
    response = api(care_manager).get("/api/me/")
    assert response.status_code == 200
    assert response.json() == {
        "username": "cm",
        "roles": [roles.CARE_MANAGER],
        "contracts": ["H1001"],
        "permissions": sorted(roles.ROLE_PERMISSIONS[roles.CARE_MANAGER]),
    }


def test_me_of_an_administrator_names_each_of_their_contracts(api, administrator):
    body = api(administrator).get("/api/me/").json()
    assert (body["roles"], body["contracts"]) == ([roles.ADMINISTRATOR], ["H1001", "H1002"])


def test_me_needs_a_caller(api):
    response = api(None).get("/api/me/")
    assert response.status_code == 401
    assert set(response.json()) == {"message", "extra"}
