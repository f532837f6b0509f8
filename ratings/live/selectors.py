"""Reads of the plan's own ratings data: gap aggregates per measure, rating inputs and snapshots (scoped)."""

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Q

from gaps.models import CareGap, ComplianceStatus
from ratings.models import (
    ContractMeasureScore,
    ContractRatingProfile,
    PortfolioSnapshot,
)

# --- the plan's gaps ------------------------------------------------------------------------

STRATA = {
    "lis_de": Q(member__lis_de=True),
    "non_lis_de": Q(member__lis_de=False),
    "disability": Q(member__disability=True),
    "non_disability": Q(member__disability=False),
}


@dataclass(frozen=True)
class Stratum:
    """A group of members in a measure's denominator: how many count (not excluded), how many closed."""

    eligible: int
    closed: int

    @property
    def rate(self) -> Decimal | None:
        """Closed ÷ eligible as a percentage; None for an empty group."""
        return Decimal(100 * self.closed) / Decimal(self.eligible) if self.eligible else None


@dataclass(frozen=True)
class GapCounts:
    """One measure's gap counts for a contract and measurement year, with social-risk strata.

    `denominator` counts every row but `not_applicable`; rate = closed ÷ (denominator −
    excluded).
    """

    measure_id: int
    denominator: int
    closed: int
    open: int
    excluded: int
    strata: dict[str, Stratum]

    @property
    def eligible(self) -> int:
        """Denominator less exclusions: what the rate divides by."""
        return self.denominator - self.excluded

    @property
    def rate(self) -> Decimal | None:
        """Closed ÷ (denominator − excluded) as a percentage; None if nobody is eligible."""
        return Stratum(self.eligible, self.closed).rate


def gap_counts(*, contract, measurement_year: int) -> dict[int, GapCounts]:
    """Per-measure gap counts of a contract's measurement year: ONE aggregate query.

    GROUP BY measure with conditional counts for each compliance status and, joined to the
    member, for each social-risk stratum (LIS/DE, disability) — the database does the counting.
    """
    counted = Q(compliance_status__in=[ComplianceStatus.OPEN, ComplianceStatus.CLOSED])
    closed = Q(compliance_status=ComplianceStatus.CLOSED)
    aggregates = {
        "denominator": Count("id"),
        "closed": Count("id", filter=closed),
        "open": Count("id", filter=Q(compliance_status=ComplianceStatus.OPEN)),
        "excluded": Count("id", filter=Q(compliance_status=ComplianceStatus.EXCLUDED)),
    }
    for name, members in STRATA.items():
        aggregates[f"{name}_eligible"] = Count("id", filter=members & counted)
        aggregates[f"{name}_closed"] = Count("id", filter=members & closed)
    rows = (
        CareGap.objects.filter(contract=contract, measurement_year=measurement_year)
        .exclude(compliance_status=ComplianceStatus.NOT_APPLICABLE)
        .values("measure_id")
        .annotate(**aggregates)
        .order_by()
    )
    return {
        row["measure_id"]: GapCounts(
            measure_id=row["measure_id"],
            denominator=row["denominator"],
            closed=row["closed"],
            open=row["open"],
            excluded=row["excluded"],
            strata={name: Stratum(row[f"{name}_eligible"], row[f"{name}_closed"]) for name in STRATA},
        )
        for row in rows
    }


# --- the plan's rating inputs and snapshots (scoped) -----------------------------------------


def contract_measure_scores_for(user):
    """Contract-level scores of the user's contracts, with contract, measure and author joined."""
    return ContractMeasureScore.objects.visible_to(user).select_related("contract", "measure", "entered_by")


def rating_profiles_for(user):
    """Rating profiles of the user's contracts, with contract and author joined."""
    return ContractRatingProfile.objects.visible_to(user).select_related("contract", "updated_by")


def snapshots_for(user):
    """Snapshots of the user's contracts, with contract and author joined (no JSON loaded).

    Lists and trends read the ratings out of the JSON in SQL, so a page never loads the
    snapshots' full documents.
    """
    return PortfolioSnapshot.objects.visible_to(user).select_related("contract", "taken_by").defer("data")
