"""Garbage in every filter of every admin changelist and API list: never a 5xx.

The API answers a malformed filter with a 400 naming it; the admin ignores a malformed filter
built on the list's FilterSet, says so in a warning, and still shows the page.
"""

import pytest
from django.contrib import admin
from django.contrib.messages import get_messages
from drf_spectacular.generators import SchemaGenerator

from gaps.filters import CareGapFilter
from hedis_portal.admin import FilterSetListFilter
from hedis_portal.filters import NON_FILTER_PARAMETERS
from tests.factories import CareGapFactory, InterventionFactory, MemberFactory, PredictionFactory

pytestmark = pytest.mark.django_db

GARBAGE = [
    "unassigned",
    "-1",
    "99999999999999999999",
    "x' OR 1=1",
    "\x00",
    "",
    "x" * 5000,
    "2026-13-45",
]
ADMINS = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)


def _api_lists():
    """Each GET list route (no path parameter) and the filters its schema documents.

    Routes with a required query parameter (e.g. a trend's contract and year) are no filtered lists.
    """
    schema = SchemaGenerator().get_schema(request=None, public=True)
    for path, operations in schema["paths"].items():
        parameters = operations.get("get", {}).get("parameters", [])
        if "{" in path or not parameters or any(p.get("required") for p in parameters):
            continue
        names = [
            p["name"] for p in parameters if p["in"] == "query" and p["name"] not in NON_FILTER_PARAMETERS
        ]
        if names:
            yield path, names


API_LISTS = sorted(_api_lists())


@pytest.fixture
def rows(contract):
    member = MemberFactory(contract=contract)
    CareGapFactory(member=member)
    PredictionFactory(member=member)
    InterventionFactory(member=member)


@pytest.mark.parametrize(("model", "model_admin"), ADMINS, ids=[m._meta.label for m, _ in ADMINS])
def test_admin_changelist_filters_survive_garbage(client, administrator, rows, model, model_admin):
    administrator.is_superuser = True
    administrator.save()
    client.force_login(administrator)
    client.raise_request_exception = False
    url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
    page = client.get(url)
    assert page.status_code == 200
    specs = page.context["cl"].filter_specs
    failures = []
    for spec in specs:
        for parameter in spec.expected_parameters():
            for value in GARBAGE:
                response = client.get(url, {parameter: value})
                if response.status_code >= 500:
                    failures.append((parameter, value[:20], response.status_code))
                    continue
                if not isinstance(spec, FilterSetListFilter):
                    continue
                warnings = [str(m) for m in get_messages(response.wsgi_request)]
                if response.status_code != 200 or any(
                    not w.startswith(f"Ignored filter {parameter}: ") for w in warnings
                ):
                    failures.append((parameter, value[:20], response.status_code, warnings))
    assert not failures, "\n".join(map(repr, failures))


def test_an_admin_filter_set_filter_ignores_a_malformed_value_and_says_so(client, administrator, rows):
    client.force_login(administrator)
    response = client.get("/admin/gaps/caregap/", {"assignee": "someone"})
    assert response.status_code == 200
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "Ignored filter assignee: Enter a whole number, me or unassigned."
    ]
    assert len(response.context["cl"].result_list) == 1


def test_every_api_list_is_covered():
    assert len(API_LISTS) >= 10
    assert ("/api/gaps/", sorted(CareGapFilter.base_filters)) in [(p, sorted(n)) for p, n in API_LISTS]


@pytest.mark.parametrize(("path", "parameters"), API_LISTS, ids=[path for path, _ in API_LISTS])
def test_api_list_filters_survive_garbage(api, administrator, rows, path, parameters):
    client = api(administrator)
    client.raise_request_exception = False
    failures = []
    for parameter in parameters:
        for value in GARBAGE:
            response = client.get(path, {parameter: value})
            if response.status_code == 400:
                named = list(response.json()["extra"].get("fields", {}))
                if named != [parameter]:
                    failures.append((parameter, value[:20], 400, named))
            elif response.status_code != 200:
                failures.append((parameter, value[:20], response.status_code))
    assert not failures, "\n".join(map(repr, failures))
