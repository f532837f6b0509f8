"""Figures in the admin read as people write them ("4 ★", "20%", "$25", "1,289"), never as stored
(`58.000000`, `0.20400000000000001`), and the admin leads into the Star Ratings console."""

import html
import re
from decimal import Decimal

import pytest

from gaps.models import CareGap
from ratings.models import CmsContract, ContractMeasureScore, CutPoint
from ratings.models import StarYearMeasure as Edition
from tests.conftest import query_count
from tests.factories import (
    CareGapFactory,
    ContractFactory,
    InterventionFactory,
    InterventionTypeFactory,
    MemberFactory,
    PredictionFactory,
    point_at,
)
from tests.ratings.conftest import small_2026  # noqa: F401

pytestmark = pytest.mark.django_db


def _text(response) -> str:
    """A page's words, markup removed, spaces collapsed, entities read."""
    assert response.status_code == 200, response.status_code
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode())))


def _row(response, pk) -> str:
    """The words of one changelist row (the row that links the object `pk`)."""
    rows = re.findall(r"<tr[^>]*>.*?</tr>", response.content.decode(), re.S)
    mine = [row for row in rows if re.search(rf'href="[^"]*/{pk}/change/[^"]*"', row)]
    assert len(mine) == 1, f"no row for {pk}"
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", mine[0]))).strip()


def test_the_front_page_opens_the_star_ratings_console_before_the_apps(client, care_manager):
    client.force_login(care_manager)
    page = client.get("/admin/").content.decode()
    console = page.index('<a href="/admin/star-ratings/" class="section"')
    assert page.count('class="app-star-ratings module"') == 1
    assert console < page.index('class="app-gaps module')


def test_a_contract_links_its_console_overview_for_each_year_it_has_gaps(client, administrator, contract):
    for year in (2025, 2026):
        CareGapFactory(member=MemberFactory(contract=contract), measurement_year=year)
    contract.lis_de_percent, contract.disability_percent = Decimal("38.50"), Decimal("12.00")
    contract.save()
    without_gaps = ContractFactory(contract_id="H1003")
    administrator.contracts.add(without_gaps)
    client.force_login(administrator)
    listing = client.get("/admin/members/contract/")
    assert _row(listing, contract.pk).endswith("10,000 38.5% 12.0% MY2026 overview")
    assert 'href="/admin/star-ratings/H1001/2026/">MY2026 overview' in listing.content.decode()
    assert _row(listing, without_gaps.pk).endswith("Console")
    page = client.get(f"/admin/members/contract/{contract.pk}/change/").content.decode()
    assert '<a href="/admin/star-ratings/H1001/2026/">Measurement year 2026 overview</a>' in page
    assert '<a href="/admin/star-ratings/H1001/2025/">Measurement year 2025 overview</a>' in page


def _gap(contract, priority: float, probability: float, rank: int | None) -> CareGap:
    gap = CareGapFactory(member=MemberFactory(contract=contract))
    prediction = PredictionFactory(member=gap.member, probability=probability)
    CareGap.objects.filter(pk=gap.pk).update(priority_score=priority, priority_rank=rank)
    point_at(gap, prediction)
    return gap


def test_the_worklist_reads_priority_as_a_rank_with_its_figure_in_stars_per_1000_and_p_close_in_percent(
    client, care_manager, contract
):
    top = _gap(contract, 0.0024264799876050347, 0.204, 1)
    tiny = _gap(contract, 0.000000062, 0.003, 51)
    unranked = _gap(contract, 0.0, 0.9996, None)
    client.force_login(care_manager)
    page = client.get("/admin/gaps/caregap/")
    text = _text(page)
    assert "Priority rank" in text
    cells = {gap: _row(page, gap.pk).split(" - ")[-1] for gap in (top, tiny, unranked)}
    assert cells[top].startswith("1 20% ")
    assert cells[tiny].startswith("51 <1% ")
    assert cells[unranked].startswith("- >99% ")
    markup = page.content.decode()
    assert '<span title="0.00243 ★ per $1,000">1</span>' in markup
    assert '<span title="0.000000062 ★ per $1,000">51</span>' in markup
    assert "e-0" not in text and "0.204" not in text
    gap_page = _text(client.get(f"/admin/gaps/caregap/{top.pk}/change/"))
    assert "Priority: Rank 1 of 100 · 0.00243 ★ per $1,000" in gap_page and "P(close): 20%" in gap_page
    # The tier in the words of the page, not of the code that keeps it.
    assert "Risk tier: Medium From the gap's latest prediction." in gap_page
    assert not {"upsert", "pointer"} & set(gap_page.lower().split())
    unranked_page = _text(client.get(f"/admin/gaps/caregap/{unranked.pk}/change/"))
    assert (
        "Priority: Not ranked yet: the next optimizer run of this contract and year ranks it."
        in unranked_page
    )


def test_the_worklist_reads_priorities_in_the_same_queries_whatever_its_length(
    client, care_manager, contract
):
    _gap(contract, 0.5, 0.5, 1)
    client.force_login(care_manager)
    few = query_count(lambda: client.get("/admin/gaps/caregap/"))
    for n in range(20):
        _gap(contract, n / 10, 0.4, n + 2)
    assert query_count(lambda: client.get("/admin/gaps/caregap/")) == few


def test_predictions_read_in_percent_and_interventions_in_dollars(client, administrator, contract):
    prediction = PredictionFactory(member=MemberFactory(contract=contract), probability=0.20400000000000001)
    kind = InterventionTypeFactory(name="Mobile mammography", unit_cost=Decimal("120.00"), capacity=1500)
    intervention = InterventionFactory(member=MemberFactory(contract=contract), intervention_type=kind)
    client.force_login(administrator)
    predictions = client.get("/admin/predictions/prediction/")
    assert " 20% " in f" {_row(predictions, prediction.pk)} " and "0.204" not in _text(predictions)
    assert "P(close by year end): 20%" in _text(
        client.get(f"/admin/predictions/prediction/{prediction.pk}/change/")
    )
    types = _row(client.get("/admin/interventions/interventiontype/"), kind.pk)
    assert types.startswith("Mobile mammography Phone call $120 1,500")
    interventions = client.get("/admin/interventions/intervention/")
    assert " $120 " in _row(interventions, intervention.pk) and "120.00" not in _text(interventions)
    assert "Cost: $120" in _text(client.get(f"/admin/interventions/intervention/{intervention.pk}/change/"))
    member = _text(client.get(f"/admin/members/member/{prediction.member.pk}/change/"))
    assert " 20% " in member and "0.204" not in member


def test_cms_ratings_scores_and_cut_points_read_without_padding(client, analyst, contract, small_2026):  # noqa: F811
    client.force_login(analyst)
    h0001 = CmsContract.objects.get(star_year=2026, contract_id="H0001")
    contracts = client.get("/admin/ratings/cmscontract/")
    assert re.search(r"\d\.\d ★", _row(contracts, h0001.pk))
    values = _text(client.get("/admin/ratings/cmsmeasurevalue/", {"star_year": "2026"}))
    assert "80 - 4 ★" in values and "11 - 2 ★" in values and "80.000000" not in values
    page = _text(client.get(f"/admin/ratings/cmscontract/{h0001.pk}/change/"))
    assert "80.000000" not in page and "4 ★" in page
    c01 = CutPoint.objects.get(edition__star_year=2026, edition__cms_id="C01")
    cut = _text(client.get(f"/admin/ratings/cutpoint/{c01.pk}/change/"))
    assert "≥ 58" in cut and "≥ 84" in cut and "58.000000" not in cut
    editions = _text(client.get("/admin/ratings/staryearmeasure/", {"star_year": "2026"}))
    assert "1.00" not in editions
    flu = Edition.objects.get(star_year=2026, cms_id="C03").measure
    score = ContractMeasureScore.objects.create(
        contract=contract, star_year=2028, measure=flu, score=Decimal(68), entered_by=analyst
    )
    scores = client.get("/admin/ratings/contractmeasurescore/")
    assert " 68 " in f" {_row(scores, score.pk)} " and "68.000000" not in _text(scores)
