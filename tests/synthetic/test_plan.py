"""The shared synthetic-plan generator: seeded, denominators as the recipe says, rates around cut points.

The draws need no database (the measures' cut points are given); the steps that write reference
data (contract-level scores, the intervention catalog) do.
"""

from decimal import Decimal

import numpy as np
import pytest

from interventions.models import InterventionType
from members.models import Contract
from ratings.models import ContractMeasureScore
from synthetic.bench.plan import BENCH, PREVALENCE
from synthetic.demo import DEMO
from synthetic.plan import (
    EXCLUDED_SHARE,
    INTERVENTION_TYPES,
    RatedMeasure,
    cms_star_data_ensure,
    contract_scores_create,
    gaps_draw,
    intervention_types_ensure,
    latest_cut_points,
    members_draw,
    outreach_draw,
)
from tests.factories import UserFactory

YEAR = 2026
# 4-star cut points as in CMS's 2026 tables (percentages), for draws without a database.
FOUR_STAR = {
    "ADH-DIAB": 89,
    "ADH-RAS": 91,
    "ADH-STATIN": 90,
    "BCS": 76,
    "CBP": 80,
    "COA-MR": 93,
    "COA-PS": 95,
    "COL": 70,
    "EED": 80,
    "FMC": 67,
    "GSD": 87,
    "KED": 62,
    "MRP": 74,
    "OMW": 53,
    "SPC": 88,
    "SUPD": 89,
    "TRC": 69,
}


def _measures(recipe):
    return {code: RatedMeasure(pk=i, four_star=FOUR_STAR[code]) for i, code in enumerate(recipe.denominators)}


def _contract(*, snp=True):
    return Contract(
        contract_id="H0001", snp=snp, lis_de_percent=Decimal("25.00"), disability_percent=Decimal("20.00")
    )


def _draw(recipe, *, members=2000, seed=7, snp=True):
    rng = np.random.default_rng(seed)
    contract = _contract(snp=snp)
    drawn = members_draw(rng, recipe=recipe, contract=contract, count=members)
    gaps = gaps_draw(
        rng, recipe=recipe, members=drawn, measures=_measures(recipe), measurement_year=YEAR, snp=snp
    )
    return drawn, gaps, rng


def test_the_same_seed_draws_the_same_plan_and_another_seed_another():
    first, again, other = _draw(BENCH)[1], _draw(BENCH)[1], _draw(BENCH, seed=8)[1]
    for name in ("member", "code_index", "status", "evidence_date", "workflow_state"):
        assert getattr(first, name).tolist() == getattr(again, name).tolist()
    assert first.status.tolist() != other.status.tolist()


def test_members_are_keyed_by_the_hash_of_their_made_up_id():
    drawn, _, _ = _draw(BENCH, members=3)
    assert BENCH.raw_member_id("H0000", 2) == "BENCH-000000002"
    assert DEMO.raw_member_id("H9001", 2) == "DEMO-H9001-000002"
    assert len(set(drawn.id_hash)) == 3 and all(len(h) == 64 for h in drawn.id_hash)


def test_bench_gives_every_member_six_distinct_measures_and_no_man_breast_cancer_screening():
    drawn, gaps, _ = _draw(BENCH)
    per_member = gaps.code_index.reshape(len(drawn), -1)
    assert per_member.shape[1] == 6
    assert all(len(set(row)) == 6 for row in per_member.tolist())
    bcs = gaps.measure_code == "BCS"
    assert drawn.female[gaps.member[bcs]].all()
    # Common measures come up more often than rare ones.
    counts = {code: int((gaps.measure_code == code).sum()) for code in PREVALENCE}
    assert counts["COL"] > counts["SPC"] > counts["OMW"]


def test_demo_members_are_only_in_the_denominators_their_age_sex_and_contract_allow():
    for snp in (True, False):
        drawn, gaps, _ = _draw(DEMO, snp=snp)
        age = YEAR - drawn.birth_year[gaps.member]
        for code, rule in DEMO.denominators.items():
            mine = gaps.measure_code == code
            if rule.ages:
                assert ((rule.ages[0] <= age[mine]) & (age[mine] <= rule.ages[1])).all(), code
            if rule.sex:
                assert drawn.female[gaps.member[mine]].all(), code
            if rule.snp_only and not snp:
                assert not mine.any(), code
        # Member by member, each member's measures in a row.
        assert (np.diff(gaps.member) >= 0).all()


def test_compliance_sits_up_to_twelve_points_under_each_four_star_cut_point():
    _, gaps, _ = _draw(BENCH, members=20_000)
    statuses = {status: (gaps.status == status).mean() for status in ("excluded", "not_applicable")}
    assert statuses["excluded"] == pytest.approx(EXCLUDED_SHARE, abs=0.003)
    assert statuses["not_applicable"] == pytest.approx(BENCH.not_applicable_share, abs=0.002)
    for code, four_star in FOUR_STAR.items():
        mine = gaps.measure_code == code
        closed, still_open = (gaps.status[mine] == "closed").sum(), (gaps.status[mine] == "open").sum()
        rate = 100 * closed / (closed + still_open)
        assert four_star - 12 - 2 < rate < four_star + 2, code


def test_gaps_being_worked_are_assigned_and_the_rest_are_consistent():
    _, gaps, _ = _draw(BENCH)
    assert (gaps.assigned == (gaps.is_open & (gaps.workflow_state != "new"))).all()
    assert (gaps.workflow_state[~gaps.is_open] == "resolved").all()
    assert not gaps.outreach_attempted[~gaps.assigned].any()
    closed = gaps.status == "closed"
    assert all(d is not None for d in gaps.evidence_date[closed])
    assert all(d is None for d in gaps.evidence_date[~closed])
    assert (gaps.evidence_source[closed] != "").all() and (gaps.evidence_source[~closed] == "").all()
    assert (gaps.exclusion_reason[gaps.status == "excluded"] != "").all()
    assert (gaps.status_reason[gaps.status == "not_applicable"] != "").all()


def test_outreach_covers_up_to_three_open_gaps_of_its_member_that_its_kind_covers():
    drawn, gaps, rng = _draw(DEMO, members=3000)
    kinds = list(INTERVENTION_TYPES)
    outreach = outreach_draw(rng, recipe=DEMO, gaps=gaps, member_count=len(drawn), kinds=kinds)
    assert len(outreach) == int(len(drawn) * DEMO.outreach_share)
    assert len(set(outreach.member.tolist())) == len(outreach)
    for member, kind, covered in zip(outreach.member, outreach.kind, outreach.gaps, strict=True):
        uplifts = INTERVENTION_TYPES[kinds[kind]][3]
        assert 1 <= len(covered) <= 3
        assert (gaps.member[covered] == member).all() and gaps.is_open[covered].all()
        assert all(code in uplifts for code in gaps.measure_code[covered])
    assert set(outreach.status) <= {"proposed", "approved", "scheduled", "completed"}


@pytest.mark.django_db
def test_contract_scores_rate_only_what_the_contract_type_is_rated_on():
    cms_star_data_ensure(source="test")
    analyst = UserFactory(username="analyst")
    without_snp = Contract.objects.create(contract_id="H0001", name="No SNP", snp=False)
    with_snp = Contract.objects.create(contract_id="H0002", name="SNP", snp=True)
    rng = np.random.default_rng(1)
    for contract in (without_snp, with_snp):
        contract_scores_create(
            contract=contract, measurement_year=YEAR, analyst=analyst, recipe=DEMO, rng=rng
        )
    contract_level = latest_cut_points().filter(edition__measure__member_level=False).count()
    assert ContractMeasureScore.objects.filter(contract=with_snp).count() == contract_level
    assert ContractMeasureScore.objects.filter(contract=without_snp).count() == contract_level - 1
    assert not ContractMeasureScore.objects.filter(
        contract=without_snp, measure__name__icontains="SNP"
    ).exists()
    assert set(ContractMeasureScore.objects.values_list("star_year", flat=True)) == {YEAR + 2}


@pytest.mark.django_db
def test_intervention_types_are_created_once_through_the_service():
    first = intervention_types_ensure(
        ["Mailed FIT kit", "Mobile mammography event"], prefix="[t] ", capacity=False
    )
    again = intervention_types_ensure(
        ["Mailed FIT kit", "Mobile mammography event"], prefix="[t] ", capacity=False
    )
    assert [kind.pk for kind in first] == [kind.pk for kind in again]
    assert InterventionType.objects.filter(name__startswith="[t] ").count() == 2
    assert [kind.capacity for kind in again] == [None, None]
    assert list(first[0].uplifts.values_list("measure__code", "uplift")) == [("COL", 0.15)]
