"""The overview: projected stars explained in CMS terms (sentences true to the engine's figures and
its improvement-measure rule), the latest forecast, data freshness, and the measures cheapest star first."""

import html
import re
from decimal import Decimal

import pytest
from django.core.management import call_command

from console.star_ratings.explain import before_rounding, rating_sentence
from console.star_ratings.overview import band_figure
from hedis_portal import formats, roles
from members.models import Contract
from ratings.cms.methodology import Methodology
from ratings.live.rating import contract_live_rating
from ratings.models import ContractMeasureScore, StarYearMeasure
from ratings.planning.services import forecast_run_create
from tests.browser import chromium, log_in, watched  # noqa: F401 (fixture)
from tests.conftest import query_count
from tests.factories import ContractFactory, PredictionFactory, UserFactory, measure
from tests.ratings.conftest import cut_points_2026  # noqa: F401 (fixture)
from tests.ratings.test_live import FOUR_STAR_SCORES, add_gaps

# The methodology the hand-built ratings below were computed with (half-star bands, hold harmless).
METHODOLOGY = Methodology.for_star_year(2026)
OVERALL_THRESHOLDS = {
    "with_improvement": {
        "mean_relatively_high": 3.649351,
        "mean_high": 3.932432,
        "variance_low_below": 0.91485,
        "variance_high_from": 1.263462,
    },
    "without_improvement": {
        "mean_relatively_high": 3.686567,
        "mean_high": 3.953125,
        "variance_low_below": 0.908919,
        "variance_high_from": 1.26961,
    },
}


pytestmark = pytest.mark.django_db


def calculation(measures, *, mean, variance, reward, cai, value, rating, weight_sum):
    return {
        "measures": measures,
        "measure_count": len(measures),
        "weight_sum": weight_sum,
        "weighted_mean": mean,
        "weighted_variance": variance,
        "reward_factor": reward,
        "cai": cai,
        "value_before_rounding": value,
        "rating": rating,
        "with_new_measures": True,
    }


def rating(path, with_improvement, without_improvement):
    return {
        "rating": (with_improvement if path == "with_improvement" else without_improvement)["rating"],
        "status": None,
        "rated_measures": without_improvement["measure_count"],
        "minimum_required": 19,
        "path": path,
        "new_measures_excluded": False,
        "with_improvement": with_improvement,
        "without_improvement": without_improvement,
    }


BASE = [f"C{n:02d}" for n in range(1, 37) if n != 30]


def test_overall_on_the_edge_names_the_mean_the_other_path_the_cai_and_the_rounding():
    # H9002's demo overall: 37 measures (weights 71) average 3.591549, below Table 8's 65th
    # percentile, no reward; without C30 and D04 the mean 3.688525 earns 0.1 but 3.748103 still
    # rounds to 3.5, so CMS keeps the with-improvement rating.
    overall = rating(
        "with_improvement",
        calculation(
            [*BASE, "C30", "D04"],
            mean=3.591549,
            variance=0.885263,
            reward=0.0,
            cai=-0.040422,
            value=3.551127,
            rating=3.5,
            weight_sum=71.0,
        ),
        calculation(
            BASE,
            mean=3.688525,
            variance=0.963293,
            reward=0.1,
            cai=-0.040422,
            value=3.748103,
            rating=3.5,
            weight_sum=61.0,
        ),
    )
    assert rating_sentence("Overall", overall, METHODOLOGY, thresholds=OVERALL_THRESHOLDS) == (
        "Overall 3.5 ★: the weighted mean of 37 measures' stars (weights summing to 71) is 3.59, "
        "no reward factor (the mean is below the 65th percentile, 3.65), CAI −0.040: 3.55; "
        "without the improvement measures (C30, D04), 35 measures give 3.69, a 0.1 reward factor: "
        "3.748 → 3.5 ★, no higher, so CMS keeps the rating with them. 3.55 rounds to 3.5 ★."
    )


def test_the_without_improvement_path_says_why_cms_took_it():
    part_c = rating(
        "without_improvement",
        calculation(
            [*BASE[:14], "C30"],
            mean=3.55,
            variance=0.8,
            reward=0.0,
            cai=-0.036927,
            value=3.513073,
            rating=3.5,
            weight_sum=28.0,
        ),
        calculation(
            BASE[:14],
            mean=4.0,
            variance=0.0,
            reward=0.4,
            cai=-0.036927,
            value=4.363073,
            rating=4.5,
            weight_sum=23.0,
        ),
    )
    thresholds = {
        "with_improvement": OVERALL_THRESHOLDS["with_improvement"],
        "without_improvement": {
            "mean_relatively_high": 3.717391,
            "mean_high": 4.020408,
            "variance_low_below": 0.914326,
            "variance_high_from": 1.328432,
        },
    }
    sentence = rating_sentence("Part C", part_c, METHODOLOGY, thresholds=thresholds)
    # 4.0 is below the 85th percentile 4.020408: relatively high mean, low variance → 0.2 by
    # the table, but the engine's figure is what the sentence must repeat (0.4 here).
    assert sentence.startswith(
        "Part C 4.5 ★: the weighted mean of 14 measures' stars (weights summing to 23) is 4.00, "
        "a 0.4 reward factor (mean at or above the 65th percentile, 3.72; variance 0.00 below the "
        "30th percentile, 0.91), CAI −0.037: 4.36; "
    )
    assert (
        "CMS uses the rating without the improvement measures (C30): 4.5 ★ is at least 4.0 ★ and "
        "higher than the 3.5 ★ with them" in sentence
    )
    assert sentence.endswith("4.36 rounds to 4.5 ★.")


def test_a_higher_rating_without_improvement_below_four_stars_is_not_used():
    part_d = rating(
        "with_improvement",
        calculation(
            ["D01", "D02", "D04"],
            mean=3.0,
            variance=1.5,
            reward=0.0,
            cai=0.0,
            value=3.0,
            rating=3.0,
            weight_sum=9.0,
        ),
        calculation(
            ["D01", "D02"],
            mean=3.5,
            variance=0.25,
            reward=0.0,
            cai=0.0,
            value=3.5,
            rating=3.5,
            weight_sum=4.0,
        ),
    )
    sentence = rating_sentence("Part D", part_d, METHODOLOGY)
    assert "3.50 → 3.5 ★, higher, but below 4.0 ★, so CMS keeps the rating with them" in sentence
    assert sentence.startswith(
        "Part D 3.0 ★: the weighted mean of 3 measures' stars (weights summing to 9) is 3.00"
    )


def test_a_high_variance_denies_the_reward_factor_and_says_so():
    overall = rating(
        "with_improvement",
        calculation(
            ["C01", "C02"], mean=4.1, variance=1.4, reward=0.0, cai=0.0, value=4.1, rating=4.0, weight_sum=2.0
        ),
        calculation(
            ["C01", "C02"], mean=4.1, variance=1.4, reward=0.0, cai=0.0, value=4.1, rating=4.0, weight_sum=2.0
        ),
    )
    assert (
        "no reward factor: mean at or above the 85th percentile, 3.93, but the variance 1.40 is at or "
        "above the 70th percentile, 1.26"
    ) in rating_sentence("Overall", overall, METHODOLOGY, thresholds=OVERALL_THRESHOLDS)


def test_unrated_and_not_applicable_ratings_say_why():
    assert rating_sentence("Part D", None, METHODOLOGY) == "Part D: not rated for this kind of contract."
    unrated = {
        "rating": None,
        "status": "Not enough data available",
        "rated_measures": 4,
        "minimum_required": 15,
    }
    assert rating_sentence("Part C", unrated, METHODOLOGY) == (
        "Part C: Not enough data available — 4 measures have a star, 15 are needed."
    )


def test_the_value_before_rounding_never_reads_as_another_half_star():
    assert before_rounding(3.75, METHODOLOGY) == "3.75"
    assert before_rounding(3.748103, METHODOLOGY) == "3.748"
    assert before_rounding(3.249999, METHODOLOGY) == "3.249999"
    assert before_rounding(3.551127, METHODOLOGY) == "3.55"


# --- the page ------------------------------------------------------------------------------------


@pytest.fixture
def ma_only(cut_points_2026, analyst):  # noqa: F811 (fixture)
    """An MA-only contract (LIS/DE 10%, disability 10%), 15 Part C measures at 4 stars, the analyst's."""
    contract = ContractFactory(
        contract_id="H2001",
        organization_type=Contract.OrganizationType.MA_ONLY,
        lis_de_percent=Decimal(10),
        disability_percent=Decimal(10),
    )
    analyst.contracts.add(contract)
    add_gaps(contract, "BCS", closed=8, open=2)  # 80% → 4 stars; 5 stars (84) needs 1 more
    add_gaps(contract, "COL", closed=35, open=15, lis_de=True)  # 70% → 4 stars; 5 stars (78) needs 4 more
    for cms_id, score in FOUR_STAR_SCORES.items():
        ContractMeasureScore.objects.create(
            contract=contract,
            star_year=2028,
            measure=StarYearMeasure.objects.get(star_year=2026, cms_id=cms_id).measure,
            score=Decimal(score),
            entered_by=analyst,
        )
    return contract


def text(response) -> str:
    """What a reader sees: the page's text without tags, scripts or repeated spaces."""
    body = re.sub(r"<script.*?</script>", " ", response.content.decode(), flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body)))


def test_projected_part_c_is_explained_in_cms_terms(client, analyst, ma_only):
    client.force_login(analyst)
    page = text(client.get("/admin/star-ratings/H2001/2026/"))
    # 15 measures at 4 stars (weights 23): mean 4, variance 0; Table 8 with improvement: 4.000000
    # reaches the 85th percentile, Table 9: low variance → 0.4; CAI −0.036927 (FAC 2);
    # 4.363073 → 4.5. No improvement measure is rated, so both paths are the same calculation.
    assert (
        "Part C 4.5 ★: the weighted mean of 15 measures' stars (weights summing to 23) is 4.00, a 0.4 "
        "reward factor (mean at or above the 85th percentile, 4.00; variance 0.00 below the 30th "
        "percentile, 0.92), CAI −0.037: 4.36. 4.36 rounds to 4.5 ★."
    ) in page
    assert "Part D, projected" not in page and "Overall, projected" not in page


def test_measures_are_sorted_by_stars_gained_per_member_and_link_to_their_open_gaps(client, analyst, ma_only):
    client.force_login(analyst)
    response = client.get("/admin/star-ratings/H2001/2026/")
    rows = [row["measure"]["measure"] for row in response.context["rows"]]
    # BCS: 1 × 1 star ÷ 1 member ÷ 23 = 0.0435; COL: 1 ÷ 4 ÷ 23 = 0.0109; contract-level after.
    assert rows[:2] == ["BCS", "COL"]
    page = text(response)
    assert "BCS C01 · Breast Cancer Screening 80.0% 4 ★" in page
    assert "1 for 5 ★ +0.0435 ★" in page and "4 for 5 ★ +0.0109 ★" in page
    # COL's gaps are all LIS/DE members: no one without the factor to compare with.
    assert "C18 Plan All-Cause Readmissions 9 4 ★" in page
    assert "contract-level" in page
    content = response.content.decode()
    assert (
        'href="/admin/gaps/caregap/?contract=H2001&amp;measure=BCS&amp;measurement_year=2026'
        '&amp;compliance_status=open"'
    ) in content
    # BCS's 2026 cut points 58/71/76/84, with a third of their 26-point span either side.
    band = next(row["band"] for row in response.context["rows"] if row["measure"]["measure"] == "BCS")
    assert [d["data"] for d in band.config["data"]["datasets"]] == [
        [[49.3333, 58.0]],
        [[58.0, 71.0]],
        [[71.0, 76.0]],
        [[76.0, 84.0]],
        [[84.0, 92.6667]],
    ]
    assert band.config["options"]["plugins"]["consoleLines"]["lines"][0]["value"] == 80.0
    assert band.title == "BCS: 80% is 4 ★; 2 ★ from 58%, 3 ★ from 71%, 4 ★ from 76%, 5 ★ from 84%"


def test_a_band_captions_figures_never_run_to_six_decimals():
    # CMS displays improvement scores and their cut points to six decimals (0.202884, 0.000000).
    assert [band_figure(value, 6, False) for value in (0.202884, -0.121368, 0.0, 0.391253)] == [
        "0.203",
        "−0.121",
        "0",
        "0.391",
    ]
    assert band_figure(0.32, 2, False) == "0.32"
    assert band_figure(87.0, 0, True) == "87%"
    assert band_figure(9.0, 0, False) == "9"


def test_lower_is_better_bands_run_the_other_way(client, analyst, ma_only):
    client.force_login(analyst)
    rows = client.get("/admin/star-ratings/H2001/2026/").context["rows"]
    pcr = next(row for row in rows if row["measure"]["cms_id"] == "C18")
    labels = [d["label"] for d in pcr["band"].config["data"]["datasets"]]
    assert labels == ["5 ★", "4 ★", "3 ★", "2 ★", "1 ★"]


def test_forecast_figures_and_freshness(client, analyst, ma_only):
    PredictionFactory(member=ma_only.members.first(), measure=measure("BCS"), model_version="gbm-2026.1")
    forecast_run_create(contract=ma_only, measurement_year=2026, user=analyst, draws=500, seed=1)
    client.force_login(analyst)
    response = client.get("/admin/star-ratings/H2001/2026/")
    forecast = response.context["forecast"]
    page = text(response)
    assert f"P(≥ 4 ★) at year end {formats.probability(forecast['p_at_least_4'])} Expected overall" in page
    assert "by analyst, 500 simulated years, on 17 open gaps (17 without a prediction" in page
    # An MA-only contract's highest rating is its Part C summary: that is what the forecast rates.
    assert "Year-end Part C rating, 500 simulated years" in page
    assert sum(row["probability"] for row in forecast["distribution"]) == pytest.approx(1.0)
    assert forecast["chart"].config["data"]["datasets"][0]["data"] == [
        row["probability"] for row in forecast["distribution"]
    ]
    assert "model gbm-2026.1: 1 prediction." in page
    assert "No import job recorded for 2026; the gaps last changed" in page


def test_without_a_forecast_the_page_says_so_and_links_the_scenarios(client, analyst, ma_only):
    client.force_login(analyst)
    response = client.get("/admin/star-ratings/H2001/2026/")
    assert "No forecast has been run for H2001 2026 yet" in text(response)
    assert 'href="/admin/star-ratings/H2001/2026/scenarios/"' in response.content.decode()


def test_another_contract_is_404_and_a_user_without_the_permission_403(
    client, analyst, ma_only, other_contract
):
    client.force_login(analyst)
    assert client.get(f"/admin/star-ratings/{other_contract.contract_id}/2026/").status_code == 404
    client.force_login(UserFactory(username="no-role", contracts=[ma_only]))
    assert client.get("/admin/star-ratings/H2001/2026/").status_code == 403


def test_the_overview_query_count_does_not_grow_with_gaps_or_measures(client, analyst, ma_only):
    client.force_login(analyst)
    forecast_run_create(contract=ma_only, measurement_year=2026, user=analyst, draws=200, seed=1)
    before = query_count(lambda: client.get("/admin/star-ratings/H2001/2026/"))
    add_gaps(ma_only, "CBP", closed=30, open=20)
    add_gaps(ma_only, "KED", closed=10, open=5, disability=True)
    add_gaps(ma_only, "BCS", closed=40, open=40)
    assert query_count(lambda: client.get("/admin/star-ratings/H2001/2026/")) == before


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_overview_answers_the_projected_overall_and_the_cheapest_stars_in_a_browser(watched, live_server):  # noqa: F811
    call_command("load_demo_data")
    contract = Contract.objects.get(contract_id="H9002")
    UserFactory(username="overview-analyst", role=roles.QUALITY_ANALYST, contracts=[contract])
    run = forecast_run_create(contract=contract, measurement_year=2026, user=None, draws=500, seed=1)
    overall = contract_live_rating(contract=contract, measurement_year=2026).as_dict()["overall"]
    log_in(watched.page, live_server, "overview-analyst", "test-password")
    watched.page.goto(f"{live_server.url}/admin/star-ratings/H9002/2026/")
    watched.page.wait_for_function(
        "() => window.Chart && Chart.getChart(document.querySelector('#forecast-distribution canvas'))"
    )
    assert watched.page.inner_text("#rating-overall .value") == formats.stars(overall["rating"])
    assert watched.page.inner_text("#rating-overall p").startswith(
        f"Overall {formats.stars(overall['rating'])}: the weighted mean of "
    )
    distribution = watched.chart_series("forecast-distribution")[0]["data"]
    probabilities = run.result["overall_probabilities"]
    assert distribution == [probabilities.get(f"{n / 2:.1f}", 0.0) for n in range(2, 11)]
    first = watched.page.locator(".overview-measures tbody tr").first
    band_id = first.locator("figure").get_attribute("id")
    bands = watched.chart_series(band_id)
    assert [series["label"] for series in bands] in (
        ["1 ★", "2 ★", "3 ★", "4 ★", "5 ★"],
        ["5 ★", "4 ★", "3 ★", "2 ★", "1 ★"],
    )
    # The cheapest three stars are on the first screen, under the headline figures.
    assert watched.page.locator(".overview-measures tbody tr").nth(2).bounding_box()["y"] < 768
    assert watched.problems() == []
