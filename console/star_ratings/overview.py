"""The console's overview of a contract and measurement year: the projected stars and why, the
latest forecast, how fresh the data is, and the measures where a star is cheapest."""

from dataclasses import asdict
from decimal import Decimal
from urllib.parse import urlencode

from django.db.models import Count, Max
from django.urls import reverse

from console.star_ratings.base import Chart, ConsoleView, console_path
from console.star_ratings.explain import rating_sentence
from console.star_ratings.runs import cut_points_text
from gaps.models import CareGap, ComplianceStatus
from hedis_portal import formats
from hedis_portal.models import Job
from predictions.models import Prediction
from ratings.cms.methodology import RatedAs, RatingColumn
from ratings.cms.tables import Direction
from ratings.live.rating import contract_live_rating
from ratings.models import PortfolioRun

RATINGS = (("part_c", "Part C"), ("part_d", "Part D"), ("overall", "Overall"))
# Star band colours, 1 to 5 stars: red to green, readable in light and dark mode.
BAND_COLOURS = ("#c0392b", "#e67e22", "#f1c40f", "#7dbb52", "#2e8b57")
HALF_STARS = [Decimal(n) / 2 for n in range(2, 11)]
# A contract-level score shows at most two decimals (CMS publishes improvement scores to six, 0.202884);
# the band chart's caption gives such a score and its cut points to three significant digits.
SCORE_PLACES_SHOWN = 2


def _columns(rated_as: RatedAs) -> dict[str, RatingColumn]:
    """The Tables 8-9 column of each rating: Part D's differs for PDPs."""
    part_d = RatingColumn.PART_D_PDP if rated_as is RatedAs.PDP else RatingColumn.PART_D_MAPD
    return {"part_c": RatingColumn.PART_C, "part_d": part_d, "overall": RatingColumn.OVERALL}


def headline(rating) -> list[dict]:
    """Part C, Part D and overall: each rating with the sentence that explains it."""
    document = rating.as_dict()
    methodology, profile = rating.methodology, rating.engine_profile
    columns = _columns(profile.rated_as) if profile is not None else {}
    figures = []
    for key, label in RATINGS:
        result = document[key]
        if result is None:
            continue
        thresholds = None
        if methodology is not None and result["rating"] is not None:
            thresholds = {
                path: asdict(
                    methodology.reward_thresholds[
                        (columns[key], path == "with_improvement", result[path]["with_new_measures"])
                    ]
                )
                for path in ("with_improvement", "without_improvement")
            }
        figures.append(
            {
                "key": key,
                "label": label,
                "rating": result["rating"],
                "sentence": rating_sentence(label, result, methodology, thresholds=thresholds),
            }
        )
    return figures


def opportunity(measure: dict, weight_sum) -> float | None:
    """Overall weighted-mean stars gained per member closed: weight × stars gained ÷ members ÷ Σ weights.

    None when no star is within reach from the open gaps (at 5 stars, or too few open).
    """
    members = measure["members_to_next_cut_point"]
    if not members or not measure["next_cut_point_reachable"] or not weight_sum:
        return None
    gained = measure["next_star"] - measure["star"]
    return measure["weight"] * gained / members / weight_sum


def band_figure(value, precision: int | None, percentage: bool) -> str:
    """A score or cut point as the band chart's caption reads it: at CMS's display precision up to
    two decimals ("87%", "0.32"), past that to three significant digits (0.202884 → "0.203",
    0.000000 → "0"), never six decimals."""
    places = precision or 0
    if places > SCORE_PLACES_SHOWN:
        return formats.significant(value).replace("-", "−")
    return formats.percent(value, places) if percentage else formats.decimal(value, places)


def band_chart(result, score: float) -> Chart:
    """A measure's 1-5 star bands with its score as a marker (lower-is-better bands run right to left)."""
    cut = result.cut_points
    thresholds = [float(cut.thresholds[level].value) for level in range(2, 6)]
    span = abs(thresholds[-1] - thresholds[0]) or 1.0
    low, high = min(thresholds), max(thresholds)
    start = min(low - span / 3, score)
    if low >= 0 and score >= 0:
        start = max(start, 0.0)
    end = max(high + span / 3, score)
    if cut.direction is Direction.HIGHER:
        edges = [start, *thresholds, end]
        bands = [(star, edges[star - 1], edges[star]) for star in range(1, 6)]
    else:
        edges = [start, *reversed(thresholds), end]
        bands = [(6 - index, edges[index - 1], edges[index]) for index in range(1, 6)]
    bands.sort(key=lambda band: band[1])
    star_text = formats.stars(result.star)
    percentage = result.source == "gaps"
    figures = [band_figure(value, result.precision, percentage) for value in (score, *thresholds)]
    # A contract-level measure by its CMS ID, as its row names it ("C30", not its catalog code).
    name = result.measure_code if result.member_level else result.edition.cms_id
    return Chart(
        id=f"band-{result.measure_code.lower()}-{result.measure_pk}",
        title=f"{name}: {figures[0]} is {star_text}; "
        + ", ".join(f"{formats.stars(star)} from {figures[star - 1]}" for star in range(2, 6)),
        config={
            "type": "bar",
            "data": {
                "labels": [result.measure_code],
                "datasets": [
                    {
                        "label": formats.stars(star),
                        "data": [[round(left, 4), round(right, 4)]],
                        "backgroundColor": BAND_COLOURS[star - 1],
                        "grouped": False,
                        "barPercentage": 1.0,
                        "categoryPercentage": 1.0,
                    }
                    for star, left, right in bands
                ],
            },
            "options": {
                "indexAxis": "y",
                "scales": {
                    "x": {"min": round(start, 4), "max": round(end, 4), "display": False},
                    "y": {"display": False},
                },
                "plugins": {
                    "legend": {"display": False},
                    "consoleLines": {"lines": [{"axis": "x", "value": score, "color": "#111", "width": 3}]},
                },
            },
        },
        height=40,
    )


def ordinal(percentile) -> str:
    """A national percentile as people say it: 47.1 → "47th", 1.7 → "2nd", 21 → "21st"."""
    whole = int(Decimal(str(percentile)).quantize(Decimal(1)))
    suffix = "th" if whole % 100 in (11, 12, 13) else {1: "st", 2: "nd", 3: "rd"}.get(whole % 10, "th")
    return f"{whole}{suffix}"


def worklist_url(contract_id: str, measure_code: str, measurement_year: int) -> str:
    """The gap worklist filtered to the measure's open gaps of this contract and year."""
    query = urlencode(
        {
            "contract": contract_id,
            "measure": measure_code,
            "measurement_year": measurement_year,
            "compliance_status": ComplianceStatus.OPEN,
        }
    )
    return f"{reverse('admin:gaps_caregap_changelist')}?{query}"


def measure_rows(rating, contract_id: str) -> list[dict]:
    """Every rated measure, cheapest star first (weight-adjusted stars per member closed)."""
    document = rating.as_dict()
    overall = document["overall"] or document["part_c"] or document["part_d"]
    weight_sum = None
    if overall is not None and overall["rating"] is not None:
        weight_sum = overall[overall["path"]]["weight_sum"]
    rows = []
    for result, measure in zip(rating.measures, document["measures"], strict=True):
        if result.edition is None:
            continue
        score = measure["score"]
        rows.append(
            {
                "measure": measure,
                "opportunity": opportunity(measure, weight_sum) if measure["star"] else None,
                "band": band_chart(result, score)
                if result.cut_points is not None and score is not None
                else None,
                "score_text": (
                    formats.percent(measure["rate"])
                    if measure["source"] == "gaps"
                    else formats.decimal(score, min(result.precision or 0, SCORE_PLACES_SHOWN))
                ),
                "percentile": (
                    ordinal(measure["national_percentile"])
                    if measure["national_percentile"] is not None
                    else None
                ),
                "worklist_url": (
                    worklist_url(contract_id, measure["measure"], rating.measurement_year)
                    if measure["member_level"] and measure["source"] == "gaps"
                    else None
                ),
            }
        )
    rows.sort(
        key=lambda row: (
            row["opportunity"] is None,
            row["measure"]["star"] is None,
            -(row["opportunity"] or 0),
            row["measure"]["cms_id"],
        )
    )
    return rows


def latest_forecast(contract, measurement_year: int) -> dict | None:
    """The latest forecast run: P(≥ 4 ★), the distribution as a chart and table, when, by whom, on what."""
    run = (
        PortfolioRun.objects.filter(
            contract=contract, measurement_year=measurement_year, kind=PortfolioRun.Kind.FORECAST
        )
        .select_related("created_by")
        .first()
    )
    if run is None:
        return None
    probabilities = {Decimal(key): value for key, value in run.result["overall_probabilities"].items()}
    distribution = [
        {"rating": float(level), "probability": probabilities.get(level, 0.0)} for level in HALF_STARS
    ]
    # The forecast rates the contract's highest-level rating: Part C for an MA-only contract.
    rating_label = {"part_c": "Part C", "part_d": "Part D"}.get(run.result.get("rating_type"), "overall")
    chart = Chart(
        id="forecast-distribution",
        title=f"Year-end {rating_label} rating, {formats.count(run.result['draws'])} simulated years",
        config={
            "type": "bar",
            "data": {
                "labels": [formats.stars(row["rating"]) for row in distribution],
                "datasets": [
                    {
                        "label": "Probability",
                        "data": [row["probability"] for row in distribution],
                        "backgroundColor": "#417690",
                    }
                ],
            },
            "options": {
                "scales": {"y": {"min": 0, "max": 1, "title": {"display": True, "text": "Probability"}}},
                "plugins": {"legend": {"display": False}},
            },
        },
        summary=", ".join(
            f"{formats.stars(row['rating'])} {formats.probability(row['probability'])}"
            for row in distribution
            if row["probability"]
        ),
        height=200,
    )
    return {
        "run": run,
        "rating_label": rating_label,
        "p_at_least_4": run.result["p_overall_at_least_4"],
        "expected_overall": run.result["expected_overall"],
        "current_rating": run.result.get("current_rating"),
        "draws": run.result["draws"],
        "open_gaps": run.inputs.get("open_gaps"),
        "gaps_without_prediction": run.inputs.get("gaps_without_prediction"),
        "cut_points": cut_points_text(run.inputs),
        "projected": run.inputs.get("cut_points", {}).get("basis") == "projected",
        "distribution": distribution,
        "chart": chart,
    }


def freshness(contract, measurement_year: int) -> dict:
    """When the gaps were last imported (or changed) and the predictions last made, for this year."""
    job = (
        Job.objects.filter(kind="gap_import", contract=contract, status=Job.Status.SUCCEEDED)
        .filter(parameters__measurement_year=measurement_year)
        .select_related("created_by")
        .order_by("-finished_at")
        .first()
    )
    gaps_changed = CareGap.objects.filter(contract=contract, measurement_year=measurement_year).aggregate(
        changed=Max("updated_at")
    )["changed"]
    predictions = Prediction.objects.filter(contract=contract, measurement_year=measurement_year)
    latest = predictions.aggregate(predicted=Max("predicted_at"), made=Count("id"))
    version = (
        predictions.order_by("-predicted_at").values_list("model_version", flat=True).first()
        if latest["made"]
        else None
    )
    return {
        "import_job": job,
        "gaps_changed": gaps_changed,
        "predicted_at": latest["predicted"],
        "predictions": latest["made"],
        "model_version": version,
    }


class OverviewView(ConsoleView):
    """A contract's projected Part C, Part D and overall stars with why, its forecast, and its
    measures sorted by where a star costs the fewest members."""

    template_name = "console/star_ratings/overview.html"
    permission = "ratings.view_contract_rating"
    title = "Overview"
    tab = "overview"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        rating = contract_live_rating(contract=self.contract, measurement_year=self.measurement_year)
        context.update(
            rating=rating,
            figures=headline(rating),
            rows=measure_rows(rating, self.contract.contract_id),
            forecast=latest_forecast(self.contract, self.measurement_year),
            freshness=freshness(self.contract, self.measurement_year),
            scenarios_url=reverse(
                "star_ratings:scenarios", args=[self.contract.contract_id, self.measurement_year]
            ),
            cut_points_url=reverse(
                "star_ratings:cut_points", args=[self.contract.contract_id, self.measurement_year]
            ),
        )
        return context


urlpatterns = [
    console_path("<str:contract_id>/<int:year>/", OverviewView.as_view(), "overview"),
]
