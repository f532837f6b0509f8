"""Which cut points a forecast, what-if or optimizer run rates its measurement year against.

A measurement year is rated in the star year two later (MY2026 in 2028), whose cut points are not
published while the year is worked. A run asks for one of `CUT_POINT_BASES`:

* "projected" (the default): the kept projection of that star year (`CutPointProjection`, made by
  `ratings.benchmark.projection`) — each member-level measure planned against the median and
  forecast over every draw. Without a projection, or with one made before the newest published
  year was imported, the run uses the latest published cut points and its record says why.
* "latest_published": the newest published cut points, as if they stood still.

When the star year's own cut points are published, they are used whatever was asked. Every run
records what it used (`CutPointBasis.record`, kept in the run's inputs as `cut_points`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django import forms

from hedis_portal.errors import ApplicationError
from ratings.cms.tables import CutPoints, Direction, Threshold
from ratings.models import CutPointProjection

__all__ = [
    "CUT_POINT_BASES",
    "CUT_POINT_CHOICES",
    "CutPointBasis",
    "add_cut_points_argument",
    "cut_point_basis",
    "cut_point_field",
    "projected_rows",
]

CUT_POINT_CHOICES = (
    ("projected", "Projected"),
    ("latest_published", "Latest published"),
)
CUT_POINT_BASES = tuple(value for value, _label in CUT_POINT_CHOICES)
CUT_POINT_HELP = "A measurement year is rated two star years later: that year's projection, or today's."


def add_cut_points_argument(parser) -> None:
    """The `--cut-points` option of the commands that start runs (`forecast`, `optimize`)."""
    parser.add_argument(
        "--cut-points",
        choices=CUT_POINT_BASES,
        default="projected",
        help="Rate against the kept projection of the star year the measurement year counts toward "
        "(default; the latest published cut points when there is none, as the run records) or the "
        "latest published cut points.",
    )


def cut_point_field() -> forms.ChoiceField:
    """The cut points a run rates against, as the admin's and the console's run forms ask it."""
    return forms.TypedChoiceField(
        label="Cut points",
        choices=CUT_POINT_CHOICES,
        initial="projected",
        required=False,
        empty_value="projected",
        help_text=CUT_POINT_HELP,
    )


@dataclass(frozen=True)
class CutPointBasis:
    """What a run records about its cut points, and per measure (pk) the projected median and draws."""

    record: dict
    projected: dict[int, tuple[CutPoints, tuple[CutPoints, ...]]] = field(default_factory=dict)


def cut_point_basis(
    *, star_year: int, cut_point_star_year: int | None, requested: str, org_type: str
) -> CutPointBasis:
    """The cut points a run for `star_year` uses, given the newest published year it would use
    otherwise (`cut_point_star_year`) and the contract's org type ("MA-PD" or "PDP")."""
    if requested not in CUT_POINT_BASES:
        raise ApplicationError(
            f"Unknown cut points {requested!r}.",
            {"fields": {"cut_points": [f"one of {', '.join(CUT_POINT_BASES)}"]}},
        )
    published = {"requested": requested, "basis": "latest_published", "star_year": cut_point_star_year}
    if cut_point_star_year == star_year:
        return CutPointBasis(
            {**published, "basis": "published", "note": f"Star year {star_year}'s cut points are published."}
        )
    if requested == "latest_published":
        return CutPointBasis(
            {
                **published,
                "note": (
                    f"The star year {cut_point_star_year} cut points, as if they stand still "
                    f"until {star_year}."
                ),
            }
        )
    stored = CutPointProjection.objects.filter(target_star_year=star_year).first()
    if stored is None:
        return CutPointBasis(
            {
                **published,
                "note": (
                    f"No projection of star year {star_year}'s cut points is kept, so the star year "
                    f"{cut_point_star_year} cut points are used. Project them on the console's Cut "
                    f"points page or with `manage.py project_cut_points --star-year {star_year} --save`."
                ),
            }
        )
    if stored.base_star_year != cut_point_star_year:
        return CutPointBasis(
            {
                **published,
                "note": (
                    f"The projection of star year {star_year} starts from {stored.base_star_year}, but "
                    f"{cut_point_star_year} is imported since: the {cut_point_star_year} cut points are "
                    "used until it is projected again."
                ),
            }
        )
    projected = {
        row["measure_id"]: _median_and_draws(row)
        for row in stored.data["measures"]
        if row["draws"] and row["org_type"] in (None, org_type)
    }
    return CutPointBasis(
        {
            "requested": requested,
            "basis": "projected",
            "star_year": star_year,
            "projection": stored.pk,
            "projected_from": stored.base_star_year,
            "trend_from": None
            if stored.trend_star_year is None
            else [stored.trend_star_year, stored.base_star_year],
            "draws": stored.draws,
            "computed_at": stored.computed_at.isoformat(),
            "measures_projected": len(projected),
            "note": (
                f"Member-level measures rated against star year {star_year}'s projected cut points "
                f"({stored.draws} draws from {stored.base_star_year}): planned against each threshold's "
                "median, forecast over every draw. Contract-level measures keep their stars."
            ),
        },
        projected,
    )


def _median_and_draws(row: dict) -> tuple[CutPoints, tuple[CutPoints, ...]]:
    """A stored measure's projected cut points: the medians, and one `CutPoints` per draw."""
    medians = [threshold["median"] for threshold in row["thresholds"]]
    return _cut(row, medians), tuple(_cut(row, draw) for draw in row["draws"])


def _cut(row: dict, values: list[float]) -> CutPoints:
    return CutPoints(
        measure_id=row["measure"],
        measure_name=row["name"],
        org_type=row["org_type"],
        direction=Direction(row["direction"]),
        thresholds={
            level: Threshold(Decimal(repr(value)), row["inclusive"][str(level)])
            for level, value in zip(range(2, 6), values, strict=True)
        },
    )


def projected_rows(stored: CutPointProjection, org_type: str) -> list[dict]:
    """A kept projection's measures for a contract's org type ("MA-PD" or "PDP"), each threshold
    as people read it: the base year's cut point, the projected median, its 80% interval and the
    change ("+3 (harder)")."""
    rows = []
    for row in stored.data["measures"]:
        if row["org_type"] not in (None, org_type):
            continue
        precision, lower = row["precision"], row["direction"] == Direction.LOWER.value
        rows.append(
            {
                "measure": row["measure"],
                "name": row["name"],
                "org_type": row["org_type"],
                "note": row["note"],
                "lower_is_better": lower,
                "cells": [
                    {
                        "star": threshold["star"],
                        "published": _figure(threshold["latest_published"], precision),
                        "median": _figure(threshold["median"], precision),
                        "interval": (
                            ""
                            if threshold["median"] is None
                            else "–".join(_figure(threshold[end], precision) for end in ("low", "high"))
                        ),
                        "change": (
                            ""
                            if threshold["median"] is None
                            else _change(
                                threshold["median"] - threshold["latest_published"], lower, precision
                            )
                        ),
                    }
                    for threshold in row["thresholds"]
                ],
            }
        )
    return rows


def _figure(value: float | None, precision: int) -> str:
    """A threshold to one decimal more than CMS displays (a median of draws can fall between two)."""
    if value is None:
        return "—"
    return f"{value:.{precision + 1}f}".rstrip("0").rstrip(".")


def _change(change: float, lower_is_better: bool, precision: int) -> str:
    """ "+3 (harder)", "−2 (easier)" or "no change": a higher threshold is harder unless lower is better."""
    if abs(change) < 10 ** -(precision + 1):
        return "no change"
    harder = (change > 0) != lower_is_better
    return (
        f"{'+' if change > 0 else '−'}{_figure(abs(change), precision)} ({'harder' if harder else 'easier'})"
    )
