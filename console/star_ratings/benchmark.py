"""The console's national benchmark page: where the contract's score on each measure sits among
the scores of every contract CMS rated in the star year, and one measure's national distribution."""

import math
from decimal import Decimal

from django.urls import reverse

from console.star_ratings.base import Chart, ConsoleView, console_path
from console.star_ratings.charts import cut_point_lines
from hedis_portal.formats import count, decimal, percent
from hedis_portal.routers import analytics_reads
from ratings.live.rating import LiveRating, MeasureResult, contract_live_rating, star_year_for
from ratings.models import CmsMeasureValue, Direction

# About this many bars in a measure's histogram (the width is rounded to 1, 2 or 5 × 10ⁿ).
HISTOGRAM_BINS = 25
CONTRACT_COLOUR = "#b35900"
NATIONAL_COLOUR = "#8fbce6"
CUT_POINT_COLOUR = "#555"


def score_text(score: Decimal | None, rating: LiveRating, result: MeasureResult) -> str:
    """A score as CMS displays the measure: "74%" for a percentage, "0.11" for a numeric measure.

    At most two decimals: improvement measures are computed to six, which no reader needs.
    """
    precision = min(result.precision if result.precision is not None else 0, 2)
    methodology = rating.methodology
    display = ""
    if methodology is not None:
        try:
            display = methodology.measure(result.edition.cms_id).data_display
        except KeyError:
            display = ""
    return percent(score, precision) if display.startswith("Percentage") else decimal(score, precision)


def _direction(result: MeasureResult) -> str:
    """ "higher" or "lower": which scores earn more stars (the cut points' direction when loaded)."""
    if result.cut_points is not None:
        return result.cut_points.direction.value
    return result.edition.measure.direction


def benchmark_rows(rating: LiveRating, base_url: str) -> list[dict]:
    """Every scored measure of the rating (catalog order) with its national standing, if any."""
    rows = []
    for result in rating.measures:
        if result.edition is None or result.rounded_score is None:
            continue
        standing = result.percentile
        rows.append(
            {
                "code": result.measure_code,
                "cms_id": result.edition.cms_id,
                "name": result.name,
                "direction": _direction(result),
                "score": result.rounded_score,
                "score_text": score_text(result.rounded_score, rating, result),
                "star": result.star,
                "standing": standing,
                "better_than": 100 * standing.worse / standing.contracts if standing else None,
                "result": result,
                "url": f"{base_url}?measure={result.measure_code}",
            }
        )
    return rows


def short_name(name: str, length: int = 30) -> str:
    """A measure's name cut at a word to fit an axis label, with "…" when cut."""
    if len(name) <= length:
        return name
    return name[: name.rfind(" ", 0, length)] + "…"


def percentile_chart(rows: list[dict]) -> Chart:
    """One horizontal bar per measure: its national percentile (0 worst, 100 best), the 50th marked."""
    ranked = [row for row in rows if row["standing"] is not None]
    below = [row["cms_id"] for row in ranked if row["standing"].percentile < 50]
    summary = f"{len(ranked) - len(below)} of {len(ranked)} measures at or above the national median" + (
        f"; below it: {', '.join(below)}." if below else "."
    )
    return Chart(
        id="benchmark-percentiles",
        title="National percentile per measure (0 = the worst contract, 100 = the best)",
        config={
            "type": "bar",
            "data": {
                "labels": [f"{row['cms_id']} {short_name(row['name'])}" for row in ranked],
                "datasets": [
                    {
                        "label": "National percentile",
                        "data": [row["standing"].percentile for row in ranked],
                        "backgroundColor": [
                            CONTRACT_COLOUR if row["standing"].percentile < 50 else "#1f5f99"
                            for row in ranked
                        ],
                    }
                ],
            },
            "options": {
                "indexAxis": "y",
                "scales": {
                    "x": {"min": 0, "max": 100, "title": {"display": True, "text": "National percentile"}},
                    "y": {"ticks": {"autoSkip": False, "font": {"size": 11}}},
                },
                "plugins": {
                    "legend": {"display": False},
                    "consoleLines": {
                        "lines": [
                            {"axis": "x", "value": 50, "label": "50th", "color": "#222", "dash": [4, 4]}
                        ]
                    },
                },
            },
        },
        summary=summary,
        height=640 if len(ranked) > 8 else 200,
    )


def bin_width(low: Decimal, high: Decimal, precision: int) -> Decimal:
    """A round bar width (1, 2 or 5 × 10ⁿ, at least the display unit) giving about `HISTOGRAM_BINS` bars."""
    unit = Decimal(1).scaleb(-precision)
    raw = max(high - low, unit) / HISTOGRAM_BINS
    scale = Decimal(10) ** math.floor(math.log10(raw))
    width = next(step * scale for step in (1, 2, 5, 10) if step * scale >= raw)
    return max(width, unit)


def histogram_chart(row: dict, scores: list[Decimal], contract_id: str) -> Chart:
    """The national scores of one measure as a histogram, the contract's score and the cut points as lines."""
    result = row["result"]
    thresholds = result.cut_points.thresholds if result.cut_points is not None else {}
    marks = [row["score"], *(threshold.value for threshold in thresholds.values())]
    low, high = min(scores + marks), max(scores + marks)
    precision = min(result.precision or 0, 2)
    width = bin_width(low, high, precision)
    # Bars start half a display unit early, so a score CMS rounds to 9 falls in the bar around 9.
    half_unit = Decimal(1).scaleb(-precision) / 2
    start = ((low + half_unit) / width).to_integral_value(rounding="ROUND_FLOOR") * width - half_unit
    bars = int((high - start) // width) + 1
    counts = [0] * bars
    for score in scores:
        counts[int((score - start) // width)] += 1
    own_bar = int((row["score"] - start) // width)
    lines = (
        cut_point_lines(result.cut_points, dict.fromkeys(thresholds, CUT_POINT_COLOUR), "x")
        if result.cut_points is not None
        else []
    )
    # Unlabelled: its label would print over a nearby cut point's; the subtitle names it.
    lines.append({"axis": "x", "value": float(row["score"]), "color": CONTRACT_COLOUR, "width": 3})
    unit = "%" if row["score_text"].endswith("%") else ""
    return Chart(
        id="benchmark-histogram",
        title=f"{row['cms_id']} {row['name']}: national scores, {contract_id} and the cut points",
        config={
            "type": "bar",
            "data": {
                "datasets": [
                    {
                        "label": "Contracts",
                        "data": [
                            {"x": float(start + (index + Decimal("0.5")) * width), "y": n}
                            for index, n in enumerate(counts)
                        ],
                        "backgroundColor": [
                            CONTRACT_COLOUR if index == own_bar else NATIONAL_COLOUR for index in range(bars)
                        ],
                        "barPercentage": 1,
                        "categoryPercentage": 1,
                    }
                ]
            },
            "options": {
                "scales": {
                    "x": {
                        "type": "linear",
                        "min": float(start),
                        "max": float(start + bars * width),
                        "offset": False,
                        "title": {"display": True, "text": f"Score{f' ({unit})' if unit else ''}"},
                    },
                    "y": {
                        "beginAtZero": True,
                        "ticks": {"precision": 0},
                        "title": {"display": True, "text": "Contracts"},
                    },
                },
                "plugins": {
                    "legend": {"display": False},
                    "subtitle": {
                        "display": True,
                        "text": f"Solid line and dark bar: {contract_id}'s {row['score_text']}. "
                        "Dashed: the cut points.",
                    },
                    "consoleLines": {"lines": lines},
                },
            },
        },
        summary=standing_sentence(row, contract_id),
        height=260,
    )


def standing_sentence(row: dict, contract_id: str) -> str:
    """Where the contract stands on one measure, direction-aware: "better than 49% of 499 contracts"."""
    standing = row["standing"]
    better = "lower" if row["direction"] == Direction.LOWER else "higher"
    return (
        f"{better.capitalize()} is better for this measure. {contract_id}'s {row['score_text']} is better "
        f"than {count(standing.worse)} of the {count(standing.contracts)} contracts CMS scored on it "
        f"({percent(row['better_than'], 0)}) and level with {count(standing.same)}: national percentile "
        f"{decimal(standing.percentile, 1)}, rank {count(standing.rank)} of {count(standing.contracts)}."
    )


class BenchmarkView(ConsoleView):
    """Each measure's national percentile and rank, and one measure's national distribution."""

    template_name = "console/star_ratings/benchmark.html"
    permission = "ratings.view_cmsmeasurevalue"
    title = "National benchmark"
    tab = "benchmark"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        base_url = reverse("star_ratings:benchmark", args=[self.contract.contract_id, self.measurement_year])
        with analytics_reads():
            rating = contract_live_rating(contract=self.contract, measurement_year=self.measurement_year)
            star_year = rating.cut_point_star_year
            imported = (
                star_year is not None
                and CmsMeasureValue.objects.filter(contract__star_year=star_year).exists()
            )
            rows = benchmark_rows(rating, base_url) if imported else []
            ranked = [row for row in rows if row["standing"] is not None]
            wanted = self.request.GET.get("measure", "").strip().upper()
            chosen = next((row for row in ranked if wanted in (row["code"].upper(), row["cms_id"])), None)
            missing = wanted if wanted and chosen is None else ""
            chosen = chosen or (ranked[0] if ranked else None)
            scores = (
                list(
                    CmsMeasureValue.objects.filter(
                        edition=chosen["result"].edition, score__isnull=False
                    ).values_list("score", flat=True)
                )
                if chosen
                else []
            )
        context.update(
            rating=rating,
            star_year=star_year or star_year_for(self.measurement_year),
            imported=imported,
            rows=rows,
            ranked=ranked,
            chosen=chosen,
            missing=missing,
            strip=percentile_chart(rows) if ranked else None,
            histogram=histogram_chart(chosen, scores, self.contract.contract_id) if chosen else None,
            can_import=self.request.user.has_perm("ratings.add_cmsdataimport"),
        )
        return context


urlpatterns = [
    console_path("<str:contract_id>/<int:year>/benchmark/", BenchmarkView.as_view(), "benchmark"),
]
