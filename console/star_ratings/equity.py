"""The console's equity page: each member-level measure's rate for members with and without a
social risk factor (LIS/DE, disability), the gap between them, and what the star year rewards."""

from console.star_ratings.base import Chart, ConsoleView, console_path
from hedis_portal.formats import percent, points
from hedis_portal.routers import analytics_reads
from ratings.live.rating import contract_equity

# A group with fewer eligible members than this has a rate that one member moves by more than
# 3 percentage points (100 / 30 ≈ 3.3), so its gap to the other group is mostly chance.
SMALL_GROUP = 30

# Each social risk factor: the group with it, the group without it, and their labels.
RISK_FACTORS = (
    ("lis_de", "LIS/DE", "non_lis_de", "Not LIS/DE"),
    ("disability", "Disability", "non_disability", "No disability"),
)
# How a sentence names each group.
GROUP_NAMES = {
    "lis_de": "LIS/DE members",
    "non_lis_de": "members without LIS/DE",
    "disability": "members with a disability",
    "non_disability": "members without",
}
# The chart's colour for each group: the group with the risk factor darker than the one without.
GROUP_COLOURS = {
    "lis_de": "#1f5f99",
    "non_lis_de": "#8fbce6",
    "disability": "#b35900",
    "non_disability": "#f0b27a",
}


def _group(stratum: dict, key: str, label: str) -> dict:
    """One group's rate and eligible count, flagged when too small to compare (an empty group has no rate)."""
    small = 0 < stratum["eligible"] < SMALL_GROUP
    return {"label": label, "name": GROUP_NAMES[key], **stratum, "small": small}


def equity_rows(measures: list[dict]) -> list[dict]:
    """Each measure with its four groups and two gaps, the widest gap first.

    A gap is reliable when both of its groups have at least `SMALL_GROUP` eligible members;
    measures are ordered by their widest gap whatever its reliability (a small group is flagged,
    not hidden).
    """
    rows = []
    for measure in measures:
        factors = []
        for risk, risk_label, other, other_label in RISK_FACTORS:
            with_factor = _group(measure[risk], risk, risk_label)
            without = _group(measure[other], other, other_label)
            factors.append(
                {
                    "groups": (with_factor, without),
                    "gap": measure[f"{risk}_gap"],
                    "reliable": not (with_factor["small"] or without["small"]),
                }
            )
        gaps = [abs(factor["gap"]) for factor in factors if factor["gap"] is not None]
        rows.append({**measure, "factors": factors, "widest_gap": max(gaps) if gaps else None})
    return sorted(
        rows, key=lambda row: (row["widest_gap"] is None, -(row["widest_gap"] or 0), row["measure"])
    )


def equity_chart(rows: list[dict]) -> Chart:
    """A grouped bar chart: per measure (widest gap first), the rate of each of the four groups."""
    datasets = [
        {
            "label": label,
            "data": [row[key]["rate"] for row in rows],
            "backgroundColor": GROUP_COLOURS[key],
        }
        for risk, risk_label, other, other_label in RISK_FACTORS
        for key, label in ((risk, risk_label), (other, other_label))
    ]
    widest = rows[0]
    factor = max(widest["factors"], key=lambda factor: abs(factor["gap"] or 0))
    with_factor, without = factor["groups"]
    summary = (
        f"{widest['measure']} has the widest gap: {percent(with_factor['rate'])} for {with_factor['name']} "
        f"against {percent(without['rate'])} for {without['name']} ({points(factor['gap'])})"
    )
    summary += "." if factor["reliable"] else ", with a group too small to be sure of it."
    return Chart(
        id="equity-rates",
        title="Rate by group, per measure (widest gap first)",
        config={
            "type": "bar",
            "data": {"labels": [row["measure"] for row in rows], "datasets": datasets},
            "options": {
                "scales": {"y": {"min": 0, "max": 100, "title": {"display": True, "text": "Rate (%)"}}},
                "plugins": {"legend": {"position": "bottom"}},
            },
        },
        summary=summary,
        height=360,
    )


def reward_sentence(reward_method: str | None, star_year: int) -> str:
    """Whether the Health Equity Index applies to the star year, in one sentence (or nothing)."""
    if reward_method == "reward_factor":
        return (
            f"The Health Equity Index does not apply: star year {star_year} is rated with the reward "
            "factor, which rewards consistently high measure stars, not results among members with "
            "social risk factors."
        )
    return ""


class EquityView(ConsoleView):
    """Rates by LIS/DE and by disability per member-level measure, with the gap between the groups."""

    template_name = "console/star_ratings/equity.html"
    permission = "ratings.view_contract_rating"
    title = "Equity"
    tab = "equity"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        with analytics_reads():
            equity = contract_equity(contract=self.contract, measurement_year=self.measurement_year)
        rows = equity_rows(equity["measures"])
        context.update(
            equity=equity,
            rows=rows,
            chart=equity_chart(rows) if rows else None,
            small_group=SMALL_GROUP,
            one_member=100 / SMALL_GROUP,
            reward_sentence=reward_sentence(equity["reward_method"], equity["star_year"]),
        )
        return context


urlpatterns = [
    console_path("<str:contract_id>/<int:year>/equity/", EquityView.as_view(), "equity"),
]
