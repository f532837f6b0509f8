"""Ratings admin pages: who sees what, read-only CMS data and snapshots, writes via services."""

import html
import re
from decimal import Decimal

import pytest

from hedis_portal import formats, roles
from ratings.models import (
    CmsContract,
    CmsDataImport,
    CmsMeasureValue,
    ContractMeasureScore,
    ContractRatingProfile,
    Measure,
    PortfolioRun,
    PortfolioSnapshot,
)
from ratings.models import StarYearMeasure as Edition
from ratings.planning.services import optimizer_run_create, what_if_run_create
from tests.browser import chromium, log_in, watched  # noqa: F401 (fixtures)
from tests.conftest import query_count
from tests.factories import ContractFactory, UserFactory
from tests.ratings.test_planning import planned  # noqa: F401

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


@pytest.mark.parametrize("page", ["cmsmeasurevalue", "cmscontract", "portfoliosnapshot", "portfoliorun"])
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
            PortfolioRun.objects.create(
                kind=PortfolioRun.Kind.OPTIMIZE, contract=contract, created_by=administrator, **PLAN
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


def test_a_cms_import_lists_its_contracts_and_measure_values_with_separators(client, administrator):
    CmsDataImport.objects.create(star_year=2019, contract_count=1_234, measure_value_count=45_678)
    page = logged_in(client, administrator).get(f"{ADMIN}/cmsdataimport/").content.decode()
    assert re.search(r"<td[^>]*>1,234</td>", page) and re.search(r"<td[^>]*>45,678</td>", page)


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


# An optimizer run as the optimizer stores it, cut to the figures its pages show.
PLAN = {
    "measurement_year": 2026,
    "parameters": {
        "budget": 25000.0,
        "objective": "p_at_least_4",
        "draws": 10000,
        "seed": 7,
        "time_limit": 60.0,
    },
    "inputs": {
        "star_year": "2028",
        "cut_point_star_year": "2026",
        "measures": {"C01": {"code": "BCS", "open": 1289, "eligible": 4012}},
        "contract_level_measures": {"C03": 4},
        "open_gaps": 1289,
        "gaps_without_prediction": 0,
        "notes": [],
    },
    "result": {
        "objective_used": "p_at_least_4",
        "budget": 25000.0,
        "total_cost": 24917.0,
        "expected_overall_before": 4.0519,
        "expected_overall_after": 4.49985,
        "p_overall_at_least_4_before": 0.5612,
        "p_overall_at_least_4_after": 0.9997,
        "overall_probabilities_before": {"3.5": 0.4388, "4.0": 0.5612},
        "overall_probabilities_after": {"4.0": 0.0003, "4.5": 0.9997},
        "target_rating": 4.5,
        "solver_status": "optimal",
        "optimality_gap": 0.0000024264799876050347,
        "measures": [
            {
                "cms_id": "C01",
                "current_star": 3,
                "expected_closures_before": 20.0,
                "expected_closures_after": 81.4,
                "expected_star_before": 3.2,
                "expected_star_after": 4.05,
                "target_star": 4,
            }
        ],
        "interventions": [
            {"member": 1, "intervention": "1", "cost": 12.5, "gaps": [{"cms_id": "C01", "uplift": 0.6}]},
            {"member": 2, "intervention": "1", "cost": 12.5, "gaps": [{"cms_id": "C01", "uplift": 0.6}]},
        ],
        "notes": [],
    },
    "solver_status": "optimal",
    "optimality_gap": 0.0000024264799876050347,
    "duration_ms": 4193.3,
}


def _text(response) -> str:
    """A page's words with its markup removed and its spaces collapsed."""
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode())))


def _raw_json(response) -> str:
    """What the page keeps behind its collapsed "stored JSON" toggle."""
    found = re.search(r'<details class="raw-documents">(.*?)</details>', response.content.decode(), re.S)
    assert found, "no collapsed raw JSON on the page"
    return found.group(1)


def test_the_run_list_reads_each_plan_before_and_after_in_stars_percent_and_dollars(
    client, analyst, contract
):
    plan = PortfolioRun.objects.create(kind=PortfolioRun.Kind.OPTIMIZE, contract=contract, **PLAN)
    forecast = PortfolioRun.objects.create(
        kind=PortfolioRun.Kind.FORECAST,
        contract=contract,
        measurement_year=2026,
        parameters={"draws": 2000, "seed": 0},
        inputs={},
        result={"expected_overall": 3.874, "p_overall_at_least_4": 0.0003},
        duration_ms=12.0,
    )
    page = logged_in(client, analyst).get(f"{ADMIN}/portfoliorun/")
    rows = {
        row.pk: [getattr(page.context["cl"].model_admin, name)(row) for name in COLUMNS]
        for row in page.context["cl"].result_list
    }
    assert rows[plan.pk] == [
        f"{contract.contract_id} · 2026",
        "4.05 ★ → 4.50 ★",
        "56% → >99%",
        "$25,000 · $24,917",
    ]
    assert rows[forecast.pk] == [f"{contract.contract_id} · 2026", "3.87 ★", "<1%", "—"]
    text = _text(page)
    assert "4.05 ★ → 4.50 ★" in text and "0.0000024" not in text
    assert f'href="/admin/star-ratings/runs/{plan.pk}/"' in page.content.decode()


COLUMNS = ("contract_year", "expected_overall", "p_at_least_4", "budget_and_cost")


def test_a_run_page_reads_as_sections_with_the_raw_json_collapsed(client, analyst, contract):
    plan = PortfolioRun.objects.create(kind=PortfolioRun.Kind.OPTIMIZE, contract=contract, **PLAN)
    page = logged_in(client, analyst).get(f"{ADMIN}/portfoliorun/{plan.pk}/change/")
    text = _text(page)
    for figure in [
        "Budget $25,000",
        "Objective Maximize the probability of 4 stars or more",
        "Monte Carlo draws 10,000",
        "Seed 7",
        "Solver time limit 60 s per target",
        "Expected overall rating 4.05 ★ → 4.50 ★",
        "P(4 stars or more) 56% → >99%",
        "Planned cost $24,917",
        "Left unspent $83",
        "Optimality gap under 0.1 percentage points",
        "Took: 4.2 s",
        "3.5 ★ 44% 0%",  # the distribution before and after
        "C01 BCS 3 ★ 61.4 3.20 ★ 4.05 ★ 4 ★",  # the measure without and with the plan
        "Type 1 2 2 $25 1.2",  # the plan per intervention type: members, gaps, cost, closures
        "C01 BCS 1,289 4,012",  # what the run saw
    ]:
        assert figure in text, figure
    assert "2.4264799876050347e-06" in _raw_json(page)
    assert "2.4264799876050347e-06" not in _shown(page) and "0.0000024" not in _shown(page)
    assert f'href="/admin/star-ratings/runs/{plan.pk}/"' in page.content.decode()


def _shown(response) -> str:
    """The page's words before the collapsed raw JSON: what a person reads without opening it."""
    return response.content.decode().split('<details class="raw-documents">')[0]


def test_a_real_what_if_and_plan_read_with_their_stored_figures(client, analyst, planned):  # noqa: F811
    scenario = what_if_run_create(
        contract=planned,
        measurement_year=2026,
        user=analyst,
        name="BCS to 90%",
        assumptions={"C01": {"target_rate": "90"}},
        draws=2000,
    )
    plan = optimizer_run_create(
        contract=planned, measurement_year=2026, user=analyst, budget=1000, draws=2000
    )
    browser = logged_in(client, analyst)
    text = _text(browser.get(f"{ADMIN}/portfoliorun/{scenario.pk}/change/"))
    assert "Assumed for C01 BCS a rate of 90.0%" in text
    assert f"Expected overall rating {formats.stars(scenario.result['expected_overall'], 2)}" in text
    bcs = next(m for m in scenario.result["measures"] if m["cms_id"] == "C01")
    assert f"C01 BCS {formats.percent(bcs['current_rate'])} {formats.stars(bcs['current_star'])}" in text
    text = _text(browser.get(f"{ADMIN}/portfoliorun/{plan.pk}/change/"))
    assert "Budget $1,000" in text and "Mobile mammography" in text
    assert f"Planned cost {formats.money(plan.result['total_cost'])}" in text


SNAPSHOT = {
    "notes": [],
    "overall": {
        "rating": 4.0,
        "status": None,
        "rated_measures": 40,
        "path": "without_improvement",
        "without_improvement": {
            "weighted_mean": 3.8731,
            "reward_factor": 0.2,
            "cai": 0.0179,
            "value_before_rounding": 4.091,
        },
    },
    "part_c": {
        "rating": 3.5,
        "status": None,
        "rated_measures": 28,
        "path": "with_improvement",
        "with_improvement": {},
    },
    "part_d": None,
    "measures": [
        {
            "measure": "BCS",
            "name": "Breast Cancer Screening",
            "cms_id": "C01",
            "weight": 1,
            "member_level": True,
            "rate": 73.9766,
            "score": 74,
            "star": 3,
            "next_star": 4,
            "next_cut_point": 76,
            "members_to_next_cut_point": 7,
            "open": 1289,
            "denominator": 4012,
        },
        {
            "measure": "CTM",
            "cms_id": "C28",
            "weight": 4,
            "member_level": False,
            "rate": None,
            "score": 0.71,
            "star": 2,
        },
        {
            "measure": "HEALTH-PLAN-QUALITY-IMPROVEMENT",
            "name": "Health Plan Quality Improvement",
            "cms_id": "C30",
            "weight": 5,
            "member_level": False,
            "rate": None,
            "score": 0.202884,
            "star": 4,
        },
    ],
    "projection": {
        "run": 12,
        "created_at": "2026-11-30T14:05:00+00:00",
        "expected_overall": 4.0519,
        "p_overall_at_least_4": 0.5612,
        "overall_probabilities": {"3.5": 0.4388, "4.0": 0.5612},
    },
    "plan": None,
}


def test_a_snapshot_page_reads_as_ratings_and_measures_with_the_raw_json_collapsed(
    client, care_manager, contract
):
    snapshot = PortfolioSnapshot.objects.create(
        contract=contract, measurement_year=2026, star_year=2028, data=SNAPSHOT
    )
    browser = logged_in(client, care_manager)
    assert "4.0 ★" in _text(browser.get(f"{ADMIN}/portfoliosnapshot/"))
    page = browser.get(f"{ADMIN}/portfoliosnapshot/{snapshot.pk}/change/")
    text = _text(page)
    for figure in [
        "Overall 4.0 ★",
        "Part C 3.5 ★",
        "Part D —",
        "Overall 4.0 ★ 40 without the improvement measures (the higher of the two) 3.87 0.2 0.02 4.09",
        "C01 · BCS · Breast Cancer Screening 1 74.0% 3 ★ 4 ★ at 76 7 1,289 4,012",
        "C28 · CTM 4 0.71 2 ★",
        # An improvement score to three significant digits, the measure by its name, not its slug.
        "C30 · Health Plan Quality Improvement 5 0.203 4 ★",
        "Expected overall rating 4.05 ★",
        "P(4 stars or more) 56%",
        "run #12 of 2026-11-30 14:05",
    ]:
        assert figure in text, figure
    assert "73.9766" in _raw_json(page) and "73.9766" not in _shown(page)
    assert 'href="/admin/star-ratings/H1001/2026/"' in page.content.decode()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_run_and_a_snapshot_page_fit_a_laptop_screen_in_a_browser(watched, live_server):  # noqa: F811
    """At 1366 × 768, each page is a few screens (the run's was 74,739 px of JSON), and loads clean."""
    contract = ContractFactory(contract_id="H9002")
    UserFactory(username="page-analyst", role=roles.QUALITY_ANALYST, contracts=[contract])
    ids = [f"C{n:02d}" for n in range(1, 29)] + [f"D{n:02d}" for n in range(1, 13)]  # 2026's 40 measures
    measures = [{**PLAN["result"]["measures"][0], "cms_id": cms_id} for cms_id in ids]
    run = PortfolioRun.objects.create(
        kind=PortfolioRun.Kind.OPTIMIZE,
        contract=contract,
        **{
            **PLAN,
            "inputs": {
                **PLAN["inputs"],
                "measures": {i: {"code": i, "open": 90, "eligible": 400} for i in ids},
            },
            "result": {
                **PLAN["result"],
                "measures": measures,
                "interventions": PLAN["result"]["interventions"] * 300,
            },
        },
    )
    snapshot = PortfolioSnapshot.objects.create(
        contract=contract,
        measurement_year=2026,
        star_year=2028,
        data={**SNAPSHOT, "measures": [{**SNAPSHOT["measures"][0], "cms_id": cms_id} for cms_id in ids]},
    )
    page = watched.page
    log_in(page, live_server, "page-analyst", "test-password")
    for url, figure in [
        (f"/admin/ratings/portfoliorun/{run.pk}/change/", "4.05 ★ → 4.50 ★"),
        (f"/admin/ratings/portfoliosnapshot/{snapshot.pk}/change/", "74.0%"),
    ]:
        page.goto(f"{live_server.url}{url}")
        assert figure in page.inner_text("#content")
        assert not page.is_visible("details.raw-documents pre")  # the raw JSON stays folded away
        height = page.evaluate("document.documentElement.scrollHeight")
        assert height < 6000, (url, height)
        assert watched.problems() == []
