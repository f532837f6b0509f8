"""Writes for the ratings app: the one path the API, admin, commands and jobs share.

The national benchmark import lives in `ratings.importing`; here are the plan's own rating
inputs (contract-level scores, rating profiles) and portfolio snapshots, which are only ever
created.
"""

from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from members.models import Contract
from ratings.live import contract_live_rating, star_year_for
from ratings.models import ContractMeasureScore, ContractRatingProfile, Measure, PortfolioSnapshot


@transaction.atomic
def contract_measure_score_create(
    *,
    contract: Contract,
    star_year: int,
    measure: Measure,
    score: Decimal | None = None,
    status: str = "",
    note: str = "",
    entered_by,
) -> ContractMeasureScore:
    """Record a contract-level score (or CMS status) for a measure not computed from gaps."""
    entry = ContractMeasureScore(
        contract=contract,
        star_year=star_year,
        measure=measure,
        score=score,
        status=status,
        note=note,
        entered_by=entered_by,
    )
    entry.full_clean()
    entry.save()
    return entry


@transaction.atomic
def contract_measure_score_update(
    *, entry: ContractMeasureScore, entered_by, **fields
) -> ContractMeasureScore:
    """Change a contract-level score; the author and time become those of this change."""
    for name, value in fields.items():
        setattr(entry, name, value)
    entry.entered_by = entered_by
    entry.entered_at = timezone.now()
    entry.full_clean()
    entry.save()
    return entry


@transaction.atomic
def contract_rating_profile_create(
    *, contract: Contract, star_year: int, updated_by, **fields
) -> ContractRatingProfile:
    """Set how a contract is rated for a star year (contract type, CAI categories)."""
    profile = ContractRatingProfile(contract=contract, star_year=star_year, updated_by=updated_by, **fields)
    profile.full_clean()
    profile.save()
    return profile


@transaction.atomic
def contract_rating_profile_update(
    *, profile: ContractRatingProfile, updated_by, **fields
) -> ContractRatingProfile:
    """Change a rating profile after model validation."""
    for name, value in fields.items():
        setattr(profile, name, value)
    profile.updated_by = updated_by
    profile.full_clean()
    profile.save()
    return profile


@transaction.atomic
def portfolio_snapshot_create(
    *, contract: Contract, measurement_year: int, taken_by=None
) -> PortfolioSnapshot:
    """Record the contract's live rating now, with every figure it shows; never changed later.

    The rating is read and stored in one transaction, so a snapshot is one consistent moment.
    """
    rating = contract_live_rating(contract=contract, measurement_year=measurement_year)
    return PortfolioSnapshot.objects.create(
        contract=contract,
        measurement_year=measurement_year,
        star_year=star_year_for(measurement_year),
        taken_by=taken_by,
        data=rating.as_dict(),
    )
