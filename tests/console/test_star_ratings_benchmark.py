"""The console's national benchmark page: each measure's national percentile and rank, one measure's
national distribution with the contract's score and cut points, and what to do when nothing is imported."""

import pytest
from django.core.management import call_command

from hedis_portal import roles
from members.models import Contract
from ratings.benchmark.importing import cms_star_data_import
from ratings.models import CmsContract, CmsMeasureValue, ContractMeasureScore, Measure, StarYearMeasure
from tests.browser import chromium, log_in, watched  # noqa: F401 (fixtures)
from tests.conftest import query_count
from tests.console.test_star_ratings_equity import add_gaps
from tests.factories import UserFactory
from tests.ratings.conftest import SMALL_2026, write_set

URL = "/admin/star-ratings/H1001/2026/benchmark/"


def add_national_scores(cms_id: str, scores: list[int], first: int = 0) -> None:
    """More 2026 CMS contracts scored on one measure (H7000, H7001, …)."""
    edition = StarYearMeasure.objects.get(star_year=2026, cms_id=cms_id)
    for n, score in enumerate(scores, start=first):
        cms_contract = CmsContract.objects.create(
            star_year=2026, contract_id=f"H{7000 + n}", organization_type="Local CCP"
        )
        CmsMeasureValue.objects.create(contract=cms_contract, edition=edition, score=score, star=3)


@pytest.fixture
def benchmarked(db, tmp_path, contract, analyst):
    """The small 2026 benchmark (BCS 80% for H0001; PCR 11%) plus five BCS scores; H1001 at 70% BCS
    from its gaps and 10% PCR entered (lower is better)."""
    cms_star_data_import(star_year=2026, paths=write_set(tmp_path, SMALL_2026), source="tests")
    add_national_scores("C01", [60, 65, 70, 75, 85])
    add_gaps(contract, "BCS", closed=7, open_=3)
    ContractMeasureScore.objects.create(
        contract=contract,
        star_year=2028,
        measure=Measure.objects.get(code="PCR"),
        score=10,
        entered_by=analyst,
    )
    return contract


@pytest.mark.django_db
def test_each_measure_shows_its_percentile_rank_and_share_beaten(client, analyst, benchmarked):
    client.force_login(analyst)

    response = client.get(URL)

    assert response.status_code == 200
    ranked = response.context["ranked"]
    assert [
        (row["cms_id"], row["score_text"], row["star"], row["standing"].percentile, row["standing"].rank)
        for row in ranked
    ] == [("C01", "70%", 2, 41.7, 4), ("C18", "10%", 3, 100.0, 1)]
    html = response.content.decode()
    assert '<td class="number">4 of 6</td>' in html and '<td class="number">33%</td>' in html
    assert "lower is better" in html
    strip = response.context["strip"].config
    assert strip["data"]["labels"] == ["C01 Breast Cancer Screening", "C18 Plan All-Cause Readmissions"]
    assert strip["data"]["datasets"][0]["data"] == [41.7, 100.0]
    assert strip["options"]["plugins"]["consoleLines"]["lines"][0]["value"] == 50


@pytest.mark.django_db
def test_the_first_rated_measure_is_drawn_as_a_histogram_with_its_cut_points(client, analyst, benchmarked):
    client.force_login(analyst)

    response = client.get(URL)

    histogram = response.context["histogram"]
    bars = histogram.config["data"]["datasets"][0]["data"]
    assert [bar["y"] for bar in bars] == [0, 1, 0, 1, 0, 0, 1, 0, 1, 0, 0, 1, 0, 1]
    assert (bars[0]["x"], bars[-1]["x"]) == (58.5, 84.5)
    lines = histogram.config["options"]["plugins"]["consoleLines"]["lines"]
    assert [(line["value"], line.get("label")) for line in lines] == [
        (58.0, "2 ★"),
        (71.0, "3 ★"),
        (76.0, "4 ★"),
        (84.0, "5 ★"),
        (70.0, None),
    ]
    assert histogram.summary == (
        "Higher is better for this measure. H1001's 70% is better than 2 of the 6 contracts CMS scored on it "
        "(33%) and level with 1: national percentile 41.7, rank 4 of 6."
    )


@pytest.mark.django_db
def test_a_lower_is_better_measure_counts_higher_scores_as_worse(client, analyst, benchmarked):
    client.force_login(analyst)

    response = client.get(URL, {"measure": "pcr"})

    assert response.context["chosen"]["cms_id"] == "C18"
    assert response.context["histogram"].summary.startswith(
        "Lower is better for this measure. H1001's 10% is better than 1 of the 1 contracts"
    )


@pytest.mark.django_db
def test_a_measure_without_national_scores_falls_back_to_the_first_rated(client, analyst, benchmarked):
    client.force_login(analyst)

    response = client.get(URL, {"measure": "COL"})

    assert response.context["chosen"]["cms_id"] == "C01"
    assert b"COL has no national scores to compare with; showing BCS." in response.content


@pytest.mark.django_db
def test_without_national_scores_it_says_what_imports_them(client, analyst, administrator, benchmarked):
    CmsMeasureValue.objects.all().delete()
    client.force_login(analyst)

    response = client.get(URL)

    html = response.content.decode()
    assert "No national CMS scores are imported for star year 2026" in html
    assert "manage.py import_cms_star_data --star-year 2026 DIR" in html
    assert "an administrator's Import CMS data tables page" in html
    assert response.context["strip"] is None and response.context["histogram"] is None
    client.force_login(administrator)
    assert b'href="/admin/ratings/cmsdataimport/upload/"' in client.get(URL).content


@pytest.mark.django_db
def test_another_contract_is_404_and_a_care_manager_is_refused(
    client, analyst, care_manager, other_contract, benchmarked
):
    client.force_login(analyst)
    assert client.get("/admin/star-ratings/H1002/2026/benchmark/").status_code == 404
    client.force_login(care_manager)
    assert client.get(URL).status_code == 403


@pytest.mark.django_db
def test_queries_stay_constant_as_cms_contracts_grow(client, analyst, benchmarked):
    client.force_login(analyst)
    few = query_count(lambda: client.get(URL))
    add_national_scores("C01", list(range(40, 100)), first=100)
    add_national_scores("C18", list(range(5, 25)), first=200)
    assert query_count(lambda: client.get(URL)) == few


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_demo_plans_benchmark_draws_its_strip_and_histogram_in_a_browser(watched, live_server):  # noqa: F811
    call_command("load_demo_data")
    UserFactory(username="bench-analyst", role=roles.QUALITY_ANALYST, contracts=list(Contract.objects.all()))
    log_in(watched.page, live_server, "bench-analyst", "test-password")

    watched.page.goto(f"{live_server.url}/admin/star-ratings/H9002/2026/benchmark/?measure=BCS")
    watched.page.wait_for_function(
        "() => !!(window.Chart && Chart.getChart(document.querySelector('#benchmark-histogram canvas')))"
    )

    strip = watched.chart_series("benchmark-percentiles")
    linked_rows = watched.page.locator(".benchmark-table tbody th a")
    assert [s["label"] for s in strip] == ["National percentile"]
    assert len(strip[0]["data"]) == linked_rows.count() > 20
    assert all(0 <= p <= 100 for p in strip[0]["data"])
    histogram = watched.chart_series("benchmark-histogram")
    rank = watched.page.locator(".benchmark-table tr.selected td").nth(3).inner_text()
    assert sum(bar["y"] for bar in histogram[0]["data"]) == int(rank.split(" of ")[1].replace(",", ""))
    assert watched.problems() == []
