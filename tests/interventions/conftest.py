"""Fixtures for the interventions tests: members on both contracts, their gaps, a catalog entry."""

import pytest

from interventions.models import InterventionGap
from tests.factories import (
    CareGapFactory,
    InterventionFactory,
    InterventionTypeFactory,
    MemberFactory,
    measure,
)


@pytest.fixture
def member(contract):
    """A member of the care manager's contract."""
    return MemberFactory(contract=contract)


@pytest.fixture
def other_member(contract):
    """Another member of the same contract."""
    return MemberFactory(contract=contract)


@pytest.fixture
def foreign_member(other_contract):
    """A member of the contract the care manager is not assigned to."""
    return MemberFactory(contract=other_contract)


@pytest.fixture
def home_visit(db):
    """A $150 home visit with uplifts on the diabetes bundle's measures."""
    visit = InterventionTypeFactory(name="Home visit", channel="home_visit", unit_cost="150.00")
    for code, uplift in [("EED", 0.2), ("KED", 0.25), ("GSD", 0.1)]:
        visit.uplifts.create(measure=measure(code), uplift=uplift)
    return visit


def open_gap(member, code: str = "BCS", **fields):
    """An open gap of `member` on the measure with stable code `code`."""
    return CareGapFactory(member=member, measure=measure(code), **fields)


def closed_gap(member, code: str = "BCS"):
    """A gap the data has closed (with the evidence the model requires)."""
    return CareGapFactory(
        member=member,
        measure=measure(code),
        compliance_status="closed",
        evidence_date="2026-03-01",
        evidence_source="claims",
    )


def intervention_with_gaps(*, member, gaps=(), **fields):
    """An intervention (by default proposed) of `member` covering `gaps`, written directly."""
    intervention = InterventionFactory(member=member, **fields)
    InterventionGap.objects.bulk_create(InterventionGap(intervention=intervention, gap=gap) for gap in gaps)
    return intervention
