"""Reads of the intervention catalog and of interventions, always through the user's scope."""

from collections.abc import Iterable

from django.db.models import Prefetch

from gaps.models import CareGap
from interventions.models import (
    Intervention,
    InterventionGap,
    InterventionType,
    InterventionUplift,
    OutreachGap,
    OutreachRecord,
)


def intervention_types():
    """The catalog (not contract-scoped: every contract uses the same kinds of outreach)."""
    # Uplifts are shown nested with their measure's code: one query for all of them.
    uplifts = InterventionUplift.objects.select_related("measure").order_by("measure__code")
    return InterventionType.objects.prefetch_related(Prefetch("uplifts", queryset=uplifts))


def interventions_for(user):
    """Interventions of the contracts `user` may see, ready to show with their covered gaps."""
    # Each intervention lists its gaps with measure code and outcome: one query for the page.
    covered = InterventionGap.objects.select_related("gap__measure", "gap__member").order_by("gap_id")
    return (
        Intervention.objects.visible_to(user)
        .select_related("contract", "intervention_type", "approved_by", "created_by")
        .prefetch_related(Prefetch("covered", queryset=covered))
    )


def outreach_records_for(user):
    """Outreach records of the contracts `user` may see, with each covered gap's move."""
    # Each record lists its gaps with measure code and current version: one query for the page.
    moves = OutreachGap.objects.select_related("gap__measure", "gap__member").order_by("gap_id")
    return (
        OutreachRecord.objects.visible_to(user)
        .select_related("contract", "recorded_by")
        .prefetch_related(Prefetch("moves", queryset=moves))
    )


def gaps_visible_among(user, gap_ids: Iterable[int]) -> list[CareGap]:
    """Those of `gap_ids` that `user` may see (one query); others are simply absent."""
    return list(CareGap.objects.visible_to(user).filter(pk__in=set(gap_ids)).only("pk"))
