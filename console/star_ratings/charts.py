"""Chart configurations more than one console page draws: a distribution of the year-end overall
rating (one run, a plan's before and after, or scenarios side by side) and cut points as lines."""

from console.star_ratings.base import Chart
from hedis_portal import formats


def distribution_chart(chart_id: str, title: str, series: list[tuple[str, dict, str]]) -> tuple[Chart, list]:
    """A bar chart of overall-rating probabilities (each series: label, {"4.0": p}, colour) and its
    table rows: each rating with each series' probability in words."""
    levels = sorted({float(level) for _, probabilities, _ in series for level in probabilities})
    data = [
        [round(100 * probabilities.get(f"{level:.1f}", 0.0), 2) for level in levels]
        for _, probabilities, _ in series
    ]
    config = {
        "type": "bar",
        "data": {
            "labels": [formats.stars(level) for level in levels],
            "datasets": [
                {"label": label, "data": values, "backgroundColor": colour}
                for (label, _, colour), values in zip(series, data, strict=True)
            ],
        },
        "options": {
            "scales": {
                "x": {"title": {"display": True, "text": "Overall rating"}},
                "y": {"min": 0, "max": 100, "title": {"display": True, "text": "Probability (%)"}},
            },
            "plugins": {"legend": {"position": "bottom"}},
        },
    }
    rows = [
        {
            "level": formats.stars(level),
            "values": [
                formats.probability(probabilities.get(f"{level:.1f}", 0.0)) for _, probabilities, _ in series
            ],
        }
        for level in levels
    ]
    likeliest = "; ".join(
        f"{label}: most likely {formats.stars(max(probabilities, key=probabilities.get))}"
        for label, probabilities, _ in series
        if probabilities
    )
    return Chart(id=chart_id, title=title, config=config, summary=likeliest + "."), rows


def cut_point_lines(cut_points, colours: dict[int, str], axis: str) -> list[dict]:
    """A dashed `consoleLines` line at each cut point (2 to 5 stars), labelled with its star."""
    return [
        {
            "axis": axis,
            "value": float(threshold.value),
            "label": formats.stars(star),
            "color": colours[star],
            "dash": [4, 4],
        }
        for star, threshold in sorted(cut_points.thresholds.items())
    ]
