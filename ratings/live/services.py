"""Writes for the ratings app: the one path the API, admin, commands and jobs share.

The national benchmark import lives in `ratings.benchmark.importing`; here are the plan's own rating
inputs (contract-level scores, rating profiles) and portfolio snapshots, which are only ever
created.
"""

from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from hedis_portal.services import model_update
from members.models import Contract
from ratings.live.rating import contract_live_rating, star_year_for
from ratings.models import (
    ContractMeasureScore,
    ContractRatingProfile,
    Measure,
    PortfolioRun,
    PortfolioSnapshot,
)

# A row's contract, star year (and measure) are its key, set on create: the API and the admin
# change only these.
CONTRACT_MEASURE_SCORE_UPDATE_FIELDS = ("score", "status", "note")
CONTRACT_RATING_PROFILE_UPDATE_FIELDS = (
    "contract_type",
    "part_c_fac",
    "part_d_fac",
    "overall_fac",
    "puerto_rico_only",
)


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
    """Change a contract-level score; the author and time become those of this change, if any."""
    entry, _ = model_update(
        instance=entry,
        fields=fields,
        allowed=CONTRACT_MEASURE_SCORE_UPDATE_FIELDS,
        stamps={"entered_by": entered_by, "entered_at": timezone.now()},
    )
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
    """Change a rating profile after model validation; the author becomes that of this change, if any."""
    profile, _ = model_update(
        instance=profile,
        fields=fields,
        allowed=CONTRACT_RATING_PROFILE_UPDATE_FIELDS,
        stamps={"updated_by": updated_by},
    )
    return profile


@transaction.atomic
def portfolio_snapshot_create(
    *, contract: Contract, measurement_year: int, taken_by=None
) -> PortfolioSnapshot:
    """Record the contract's live rating now, with every figure it shows; never changed later.

    The rating is read and stored in one transaction, so a snapshot is one consistent moment.
    """
    rating = contract_live_rating(contract=contract, measurement_year=measurement_year)
    data = rating.as_dict()
    data.update(_latest_projection(contract=contract, measurement_year=measurement_year))
    return PortfolioSnapshot.objects.create(
        contract=contract,
        measurement_year=measurement_year,
        star_year=star_year_for(measurement_year),
        taken_by=taken_by,
        data=data,
    )


def _latest_projection(*, contract: Contract, measurement_year: int) -> dict:
    """The year-end projection and plan as of the latest forecast and optimizer runs (not re-run).

    A snapshot records what the portfolio looked like, so it quotes the latest stored runs
    (schedule `forecast`/`optimize` before `snapshot_portfolio` to keep them fresh) rather than
    running a Monte Carlo of its own.
    """
    runs = PortfolioRun.objects.filter(contract=contract, measurement_year=measurement_year)
    forecast = runs.filter(kind=PortfolioRun.Kind.FORECAST).first()
    plan = runs.filter(kind=PortfolioRun.Kind.OPTIMIZE).first()
    projection = None
    if forecast is not None:
        projection = {
            "run": forecast.pk,
            "created_at": forecast.created_at.isoformat(),
            "expected_overall": forecast.result["expected_overall"],
            "p_overall_at_least_4": forecast.result["p_overall_at_least_4"],
            "overall_probabilities": forecast.result["overall_probabilities"],
            "measures": {
                m["cms_id"]: {
                    "expected_rate": m["expected_rate"],
                    "star_probabilities": m["star_probabilities"],
                }
                for m in forecast.result["measures"]
            },
        }
    optimizer = None
    if plan is not None:
        optimizer = {
            "run": plan.pk,
            "created_at": plan.created_at.isoformat(),
            "budget": plan.parameters["budget"],
            "objective": plan.parameters["objective"],
            "total_cost": plan.result["total_cost"],
            "interventions": len(plan.result["interventions"]),
            "expected_overall_after": plan.result["expected_overall_after"],
            "p_overall_at_least_4_after": plan.result["p_overall_at_least_4_after"],
            "proposed_at": plan.proposed_at.isoformat() if plan.proposed_at else None,
        }
    return {"projection": projection, "plan": optimizer}
