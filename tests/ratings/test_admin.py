"""Ratings admin pages: who sees what, read-only CMS data and snapshots, writes via services."""

from decimal import Decimal

import pytest

from ratings.models import (
    CmsContract,
    CmsMeasureValue,
    ContractMeasureScore,
    ContractRatingProfile,
    Measure,
    PortfolioSnapshot,
)
from ratings.models import StarYearMeasure as Edition
from tests.conftest import query_count

pytestmark = pytest.mark.django_db
ADMIN = "/admin/ratings"
LEVELS = ("two", "three", "four", "five")


@pytest.fixture
def snapshot(contract):
    return PortfolioSnapshot.objects.create(
        contract=contract,
        measurement_year=2026,
        star_year=2028,
        data={"overall": {"rating": 4.5, "status": None}},
    )


def logged_in(client, user):
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    ("persona", "expected"),
    [("care_manager", 200), ("colleague", 200), ("analyst", 200), ("administrator", 200)],
)
def test_catalog_cut_points_and_snapshot_lists_open_for_every_role(
    request, client, small_2026, persona, expected
):
    browser = logged_in(client, request.getfixturevalue(persona))
    bcs = Measure.objects.get(code="BCS")
    for url in [
        f"{ADMIN}/measure/",
        f"{ADMIN}/measure/{bcs.pk}/change/",
        f"{ADMIN}/staryearmeasure/",
        f"{ADMIN}/cutpoint/",
        f"{ADMIN}/portfoliosnapshot/",
    ]:
        assert browser.get(url).status_code == expected, url


@pytest.mark.parametrize(
    ("persona", "expected"),
    [("care_manager", 403), ("colleague", 403), ("analyst", 200), ("administrator", 200)],
)
def test_national_benchmark_and_rating_inputs_are_for_analysts(
    request, client, small_2026, persona, expected
):
    browser = logged_in(client, request.getfixturevalue(persona))
    h0001 = CmsContract.objects.get(star_year=2026, contract_id="H0001")
    for url in [
        f"{ADMIN}/cmsdataimport/",
        f"{ADMIN}/cmscontract/",
        f"{ADMIN}/cmscontract/{h0001.pk}/change/",
        f"{ADMIN}/cmsmeasurevalue/",
        f"{ADMIN}/contractmeasurescore/",
        f"{ADMIN}/contractratingprofile/",
    ]:
        assert browser.get(url).status_code == expected, url


def test_cms_data_and_the_catalog_are_read_only(client, administrator, small_2026):
    browser = logged_in(client, administrator)
    h0001 = CmsContract.objects.get(star_year=2026, contract_id="H0001")
    assert browser.get(f"{ADMIN}/cmscontract/add/").status_code == 403
    assert (
        browser.post(f"{ADMIN}/cmscontract/{h0001.pk}/change/", {"contract_id": "H0009"}).status_code == 403
    )
    assert browser.get(f"{ADMIN}/cmscontract/{h0001.pk}/delete/").status_code == 403
    assert browser.get(f"{ADMIN}/measure/add/").status_code == 403
    assert browser.get(f"{ADMIN}/cutpoint/add/").status_code == 403
    page = browser.get(f"{ADMIN}/cmscontract/{h0001.pk}/change/").content.decode()
    assert "Plan All-Cause Readmissions" in page  # the contract's measure values, inline
    assert CmsContract.objects.get(pk=h0001.pk).contract_id == "H0001"


def test_snapshots_are_read_only_and_scoped(client, care_manager, colleague, snapshot):
    browser = logged_in(client, care_manager)
    page = browser.get(f"{ADMIN}/portfoliosnapshot/{snapshot.pk}/change/")
    assert page.status_code == 200 and "&quot;rating&quot;: 4.5" in page.content.decode()
    assert browser.post(f"{ADMIN}/portfoliosnapshot/{snapshot.pk}/change/", {}).status_code == 403
    assert browser.get(f"{ADMIN}/portfoliosnapshot/{snapshot.pk}/delete/").status_code == 403
    assert browser.get(f"{ADMIN}/portfoliosnapshot/add/").status_code == 403
    assert list(browser.get(f"{ADMIN}/portfoliosnapshot/").context["cl"].result_list) == [snapshot]
    client.force_login(colleague)
    assert list(client.get(f"{ADMIN}/portfoliosnapshot/").context["cl"].result_list) == []
    response = client.get(f"{ADMIN}/portfoliosnapshot/{snapshot.pk}/change/")
    assert (response.status_code, response.url) == (302, "/admin/")


def test_an_analyst_enters_a_contract_score_through_the_service(client, analyst, contract):
    browser = logged_in(client, analyst)
    flu = Edition.objects.get(star_year=2026, cms_id="C03").measure
    response = browser.post(
        f"{ADMIN}/contractmeasurescore/add/",
        {
            "contract": contract.pk,
            "star_year": 2028,
            "measure": flu.pk,
            "score": "68",
            "status": "",
            "note": "CAHPS",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    entry = ContractMeasureScore.objects.get()
    assert (entry.score, entry.entered_by, entry.note) == (Decimal(68), analyst, "CAHPS")
    bcs = Measure.objects.get(code="BCS")
    refused = browser.post(
        f"{ADMIN}/contractmeasurescore/add/",
        {"contract": contract.pk, "star_year": 2028, "measure": bcs.pk, "score": "68", "status": ""},
    )
    assert refused.status_code == 200 and ContractMeasureScore.objects.count() == 1  # not a choice


def test_an_analyst_changes_a_score_but_not_its_key(client, analyst, contract, other_contract):
    flu = Measure.objects.get(code="ANNUAL-FLU-VACCINE")
    entry = ContractMeasureScore.objects.create(
        contract=contract, star_year=2028, measure=flu, score=Decimal(68)
    )
    browser = logged_in(client, analyst)
    page = browser.get(f"{ADMIN}/contractmeasurescore/{entry.pk}/change/").content.decode()
    assert not any(f'name="{name}"' in page for name in ("contract", "star_year", "measure"))
    response = browser.post(
        f"{ADMIN}/contractmeasurescore/{entry.pk}/change/",
        {"contract": other_contract.pk, "star_year": 2027, "score": "71", "status": "", "note": "CAHPS"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    entry.refresh_from_db()
    assert (entry.contract, entry.star_year, entry.score, entry.note, entry.entered_by) == (
        contract,
        2028,
        Decimal(71),
        "CAHPS",
        analyst,
    )


def test_an_analyst_sets_a_rating_profile(client, analyst, contract):
    browser = logged_in(client, analyst)
    response = browser.post(
        f"{ADMIN}/contractratingprofile/add/",
        {"contract": contract.pk, "star_year": 2028, "contract_type": "ccp_only_isnp", "part_c_fac": 3},
    )
    assert response.status_code == 302
    profile = ContractRatingProfile.objects.get()
    assert (profile.contract_type, profile.part_c_fac, profile.updated_by) == ("ccp_only_isnp", 3, analyst)
    wrong = browser.post(
        f"{ADMIN}/contractratingprofile/{profile.pk}/change/",
        {"contract": contract.pk, "star_year": 2028, "contract_type": "", "part_c_fac": 11},
    )
    assert wrong.status_code == 200 and "final adjustment categories" in wrong.content.decode()


@pytest.mark.parametrize("page", ["cmsmeasurevalue", "cmscontract", "portfoliosnapshot"])
def test_changelist_query_count_is_constant_as_rows_grow(client, administrator, contract, small_2026, page):
    browser = logged_in(client, administrator)
    c01 = Edition.objects.get(star_year=2026, cms_id="C01")

    def grow(n):
        start = CmsContract.objects.count()
        for i in range(n):
            national = CmsContract.objects.create(
                star_year=2026, contract_id=f"H7{start + i:03d}", organization_type="Local CCP"
            )
            CmsMeasureValue.objects.create(contract=national, edition=c01, score=Decimal(70))
            PortfolioSnapshot.objects.create(
                contract=contract, measurement_year=2026, star_year=2028, data={"overall": None}
            )

    grow(2)
    few = query_count(lambda: browser.get(f"{ADMIN}/{page}/"))
    grow(15)
    assert query_count(lambda: browser.get(f"{ADMIN}/{page}/")) == few


@pytest.mark.parametrize(
    ("changelist", "api_list", "query"),
    [
        ("measure", "measures", {"part": "C", "member_level": "true"}),
        ("cutpoint", "cut-points", {"star_year": "2026", "part": "C", "direction": "lower"}),
        ("cmscontract", "cms-contracts", {"star_year": "2026", "snp": "true"}),
        ("cmsmeasurevalue", "benchmark", {"star_year": "2026", "part": "C", "star": "4"}),
    ],
)
def test_reference_changelists_filter_by_the_apis_names_with_the_apis_rows(
    client, api, analyst, small_2026, changelist, api_list, query
):
    """The admin reads its sidebar filters through the API's FilterSet: same parameters, same rows."""
    page = logged_in(client, analyst).get(f"{ADMIN}/{changelist}/", query)
    assert page.status_code == 200
    assert not [m for m in page.context["messages"] if "Ignored filter" in str(m)]
    listed = api(analyst).get(f"/api/{api_list}/", {**query, "page_size": 500})
    assert listed.status_code == 200, listed.json()
    assert sorted(row.pk for row in page.context["cl"].result_list) == sorted(
        row["id"] for row in listed.json()["results"]
    )
    assert 0 < len(page.context["cl"].result_list) < page.context["cl"].root_queryset.count()


def test_cut_points_read_as_thresholds_a_person_can_use(client, analyst, small_2026):
    page = logged_in(client, analyst).get(f"{ADMIN}/cutpoint/", {"star_year": "2026"})
    rows = {
        cut.edition.cms_id: [page.context["cl"].model_admin._threshold(cut, f"{n}_star") for n in LEVELS]
        for cut in page.context["cl"].result_list
    }
    # C01 (higher is better): ">= 58 % to < 71 %" reads as ≥ 58; C18 (lower): "> 10 % to <= 12 %" as ≤ 12.
    assert rows["C01"] == ["≥ 58", "≥ 71", "≥ 76", "≥ 84"]
    assert rows["C18"] == ["≤ 12", "≤ 10", "≤ 9", "≤ 7"]
    assert "58.000000" not in page.content.decode()
