"""The console's trend of a contract: its ratings and a chosen measure's rate over its snapshots, and
how the measures' cut points (the 4-star threshold above all) moved across the imported star years."""

import math

from django.urls import reverse

from console.star_ratings.base import Chart, ConsoleView, console_path
from console.star_ratings.charts import cut_point_lines
from hedis_portal import formats
from members.models import Contract
from ratings.benchmark.history import (
    CutPointYear,
    MeasureCutPointHistory,
    cut_point_history,
    four_star_change_text,
    measure_label,
    threshold_text,
)
from ratings.live.rating import contract_live_rating
from ratings.live.selectors import snapshots_for

RATINGS = (
    ("overall", "Overall", "#417690"),
    ("part_c", "Part C", "#2e8b57"),
    ("part_d", "Part D", "#e67e22"),
)
CUT_COLOURS = {2: "#c0392b", 3: "#e67e22", 4: "#7dbb52", 5: "#2e8b57"}
# The parts a contract is rated on, by organization type (an MA-only contract has no Part D rating).
RATED_PARTS = {
    Contract.OrganizationType.MA_PD: ("C", "D"),
    Contract.OrganizationType.MA_ONLY: ("C",),
    Contract.OrganizationType.PDP: ("D",),
}


def snapshot_points(snapshots) -> list[dict]:
    """Each snapshot as a point: when, which measurement year, its ratings and its measures' scores.

    Only the ratings and the measures are read out of the JSON (in SQL), not the whole document.
    """
    rows = snapshots.order_by("taken_at", "id").values(
        "taken_at",
        "measurement_year",
        "data__overall__rating",
        "data__part_c__rating",
        "data__part_d__rating",
        "data__measures",
    )
    return [
        {
            "label": f"{row['taken_at']:%Y-%m-%d} (MY{row['measurement_year']})",
            "measurement_year": row["measurement_year"],
            "overall": row["data__overall__rating"],
            "part_c": row["data__part_c__rating"],
            "part_d": row["data__part_d__rating"],
            "measures": {m["measure"]: m for m in row["data__measures"] or [] if m.get("cms_id")},
        }
        for row in rows
    ]


def ratings_chart(points: list[dict]) -> Chart:
    """Overall, Part C and Part D stars at each snapshot."""
    return Chart(
        id="trend-ratings",
        title="Projected stars at each snapshot",
        config={
            "type": "line",
            "data": {
                "labels": [point["label"] for point in points],
                "datasets": [
                    {
                        "label": label,
                        "data": [point[key] for point in points],
                        "borderColor": colour,
                        "backgroundColor": colour,
                        "spanGaps": True,
                    }
                    for key, label, colour in RATINGS
                ],
            },
            "options": {"scales": {"y": {"min": 1, "max": 5, "title": {"display": True, "text": "Stars"}}}},
        },
        summary=", ".join(f"{point['label']}: {formats.stars(point['overall'])}" for point in points),
    )


def measure_score(measure: dict | None) -> float | None:
    """A measure's rate from the gaps (unrounded), or its contract-level score."""
    if measure is None:
        return None
    return measure["rate"] if measure.get("rate") is not None else measure.get("score")


def measure_score_text(measure: dict | None) -> str:
    """The rate as a percentage ("67.6%"), a contract-level score as a number ("0.2"), or "—"."""
    if measure is None:
        return "—"
    if measure.get("rate") is not None:
        return formats.percent(measure["rate"])
    return formats.decimal(measure.get("score"), 1)


def measure_chart(points: list[dict], code: str, name: str, cut_points) -> Chart:
    """One measure's score at each snapshot, with the rating year's cut points as reference lines."""
    scores = [measure_score(point["measures"].get(code)) for point in points]
    percentage = any(point["measures"].get(code, {}).get("rate") is not None for point in points)
    lines = cut_point_lines(cut_points, CUT_COLOURS, "y") if cut_points is not None else []
    values = [score for score in scores if score is not None] + [line["value"] for line in lines]
    span = (max(values) - min(values)) if values else 0
    scale = {"title": {"display": True, "text": "Rate (%)" if percentage else "Score"}}
    if values:
        # Round figures at the ends (a rate's to 5 points, within 0-100), so the axis reads cleanly.
        step = 5 if percentage else 1
        low = math.floor((min(values) - span * 0.1 - 1) / step) * step
        high = math.ceil((max(values) + span * 0.1 + 1) / step) * step
        scale.update(min=max(low, 0) if percentage else low, max=min(high, 100) if percentage else high)
    return Chart(
        id="trend-measure",
        title=f"{code} · {name}: score at each snapshot",
        config={
            "type": "line",
            "data": {
                "labels": [point["label"] for point in points],
                "datasets": [
                    {"label": code, "data": scores, "borderColor": "#417690", "backgroundColor": "#417690"}
                ],
            },
            "options": {
                "scales": {"y": scale},
                "plugins": {"legend": {"display": False}, "consoleLines": {"lines": lines}},
            },
        },
        summary=", ".join(
            f"{point['label']}: {measure_score_text(point['measures'].get(code))}" for point in points
        ),
    )


def part_d_org_type(contract: Contract) -> str | None:
    """Which Part D cut points rate the contract ("PDP" or "MA-PD"); None when it has no Part D rating."""
    if "D" not in RATED_PARTS[contract.organization_type]:
        return None
    return "PDP" if contract.organization_type == Contract.OrganizationType.PDP else "MA-PD"


def cut_point_trends(contract: Contract) -> list[dict]:
    """Each measure the contract is rated on, with its cut points in every imported star year (its
    organization type's, for Part D), in ID order of the newest year. One query."""
    org_type = {"C": "", "D": part_d_org_type(contract)}
    parts = RATED_PARTS[contract.organization_type]
    trends = []
    for measure_history in cut_point_history():
        measure = measure_history.measure
        series = measure_history.by_org_type.get(org_type[measure.part]) if measure.part in parts else None
        if series:
            trends.append(_trend(measure_history, series))
    return sorted(trends, key=lambda trend: (trend["part"], trend["cms_id"]))


def _trend(measure_history: MeasureCutPointHistory, series: list[CutPointYear]) -> dict:
    """One measure's cut point years as figures and as the words the tables show."""
    percentage = measure_history.percentage
    return {
        "measure_pk": measure_history.measure.pk,
        "part": measure_history.measure.part,
        "cms_id": series[-1].cms_id,
        "label": measure_label(measure_history.measure, series[-1].cms_id),
        "series": series,
        "years": [
            {
                "star_year": year.star_year,
                "cms_id": year.cms_id,
                "thresholds": [threshold_text(year, stars, percentage) for stars in range(2, 6)],
                "four_star": threshold_text(year, 4, percentage),
                "change": four_star_change_text(year, percentage),
            }
            for year in series
        ],
    }


def four_star_rows(trends: list[dict], star_years: list[int]) -> list[dict]:
    """Each measure's 4-star threshold in each star year ("—" where it had none) and its latest move."""
    rows = []
    for trend in trends:
        by_year = {year["star_year"]: year["four_star"] for year in trend["years"]}
        rows.append(
            {
                "trend": trend,
                "cells": [by_year.get(star_year, formats.MISSING) for star_year in star_years],
                "change": trend["years"][-1]["change"],
            }
        )
    return rows


def cut_point_chart(trend: dict) -> Chart:
    """One measure's 2- to 5-star thresholds by star year, the 4-star line drawn thickest."""
    series = trend["series"]
    return Chart(
        id="trend-cut-points",
        title=f"{trend['label']}: cut points by star year",
        config={
            "type": "line",
            "data": {
                "labels": [str(year.star_year) for year in series],
                "datasets": [
                    {
                        "label": formats.stars(stars),
                        "data": [float(year.thresholds[stars].value) for year in series],
                        "borderColor": CUT_COLOURS[stars],
                        "backgroundColor": CUT_COLOURS[stars],
                        "borderWidth": 4 if stars == 4 else 1.5,
                    }
                    for stars in range(2, 6)
                ],
            },
            "options": {
                "scales": {
                    # Years as categories with room either side; thresholds with a tenth of their
                    # range above and below, on Chart.js's own round ticks.
                    "x": {"offset": True},
                    "y": {"grace": "10%", "title": {"display": True, "text": "Threshold"}},
                },
                "plugins": {"legend": {"position": "bottom"}},
            },
        },
        summary="4 ★ threshold: "
        + ", ".join(f"{year['star_year']} {year['four_star']}" for year in trend["years"])
        + ".",
        height=220,
    )


class TrendView(ConsoleView):
    """The contract's projected stars over its snapshots, and one measure's score against its cut points."""

    template_name = "console/star_ratings/trend.html"
    permission = "ratings.view_portfoliosnapshot"
    title = "Trend"
    tab = "trend"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        points = snapshot_points(snapshots_for(self.request.user).filter(contract=self.contract))
        trends = cut_point_trends(self.contract)
        cut_point_years = sorted({year.star_year for trend in trends for year in trend["series"]})
        context.update(
            points=points,
            overview_url=reverse(
                "star_ratings:overview", args=[self.contract.contract_id, self.measurement_year]
            ),
            cut_point_years=cut_point_years,
            part_d_org_type=part_d_org_type(self.contract),
            four_star_rows=four_star_rows(trends, cut_point_years),
        )
        if len(points) < 2:
            return context
        rating = contract_live_rating(contract=self.contract, measurement_year=self.measurement_year)
        results = {result.measure_code: result for result in rating.measures if result.edition is not None}
        recorded = {code for point in points for code in point["measures"] if code in results}
        choices = sorted((results[code] for code in recorded), key=lambda result: result.edition.cms_id)
        chosen = self.request.GET.get("measure", "").upper()
        if chosen not in recorded:
            chosen = choices[0].measure_code if choices else ""
        context.update(
            ratings_chart=ratings_chart(points),
            choices=[(r.measure_code, measure_label(r.edition.measure, r.edition.cms_id)) for r in choices],
            chosen=chosen,
        )
        if chosen:
            result = results[chosen]
            context.update(
                measure_chart=measure_chart(points, chosen, result.name, result.cut_points),
                measure_rows=[
                    {
                        "label": point["label"],
                        "score": measure_score_text(point["measures"].get(chosen)),
                        "star": point["measures"].get(chosen, {}).get("star"),
                    }
                    for point in points
                ],
                measure_percentage=any(
                    point["measures"].get(chosen, {}).get("rate") is not None for point in points
                ),
                cut_point_year=result.edition.star_year,
                cut_points=(
                    [(star, result.cut_points.thresholds[star]) for star in range(2, 6)]
                    if result.cut_points is not None
                    else []
                ),
            )
            trend = next((t for t in trends if t["measure_pk"] == result.edition.measure_id), None)
            if trend is not None:
                context.update(cut_point_trend=trend, cut_point_chart=cut_point_chart(trend))
        return context


urlpatterns = [
    console_path("<str:contract_id>/<int:year>/trend/", TrendView.as_view(), "trend"),
]
