"""A run's console page: an optimizer plan's figures, its CSV and proposing it; a forecast's and a
what-if's figures; only for the user's contracts."""

import csv
import io
import re
from decimal import Decimal

import pytest
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType

from hedis_portal import formats, roles
from hedis_portal.models import Job
from interventions.models import Intervention, InterventionStatus, InterventionType
from interventions.services import intervention_type_create
from members.models import Member
from ratings.models import PortfolioRun
from ratings.planning import services as planning
from tests.factories import ContractFactory, UserFactory, measure
from tests.ratings.conftest import cut_points_2026  # noqa: F401 (fixture)
from tests.ratings.test_live import add_gaps
from tests.ratings.test_planning import planned  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db


@pytest.fixture
def plan(planned, analyst):  # noqa: F811
    """A $1,500 optimizer run on H2001 with two intervention types, one of them on two measures."""
    intervention_type_create(
        name="Care manager call",
        channel="phone",
        unit_cost=Decimal(25),
        uplifts={measure("BCS"): 0.2, measure("COL"): 0.3},
    )
    return planning.optimizer_run_create(
        contract=planned, measurement_year=2026, user=analyst, budget=Decimal(1500), draws=2000
    )


def _page(client, user, run):
    client.force_login(user)
    return client.get(f"/admin/star-ratings/runs/{run.pk}/")


def test_an_optimizer_runs_page_shows_its_plan_by_type_with_the_results_sums(client, analyst, plan):
    result = plan.result
    expected = {}
    for chosen in result["interventions"]:
        line = expected.setdefault(chosen["intervention"], {"count": 0, "cost": 0.0, "closures": 0.0})
        line["count"] += 1
        line["cost"] += chosen["cost"]
        line["closures"] += sum(g["probability_after"] - g["probability_before"] for g in chosen["gaps"])
    names = {str(pk): name for pk, name in InterventionType.objects.values_list("pk", "name")}

    response = _page(client, analyst, plan)

    assert response.status_code == 200
    shown = {
        line["name"]: (line["count"], line["cost"], round(line["closures"], 6))
        for line in response.context["plan"]
    }
    assert shown == {
        names[type_id]: (line["count"], line["cost"], round(line["closures"], 6))
        for type_id, line in expected.items()
    }
    assert len(shown) == 2
    page = response.content.decode()
    count, cost = len(result["interventions"]), formats.money(result["total_cost"])
    assert f'<td class="number">{count}</td><td class="number">{cost}</td>' in page
    before, after = result["expected_overall_before"], result["expected_overall_after"]
    assert f"{formats.stars(before, 2)} → {formats.stars(after, 2)}" in page
    assert (
        f"{formats.probability(result['p_overall_at_least_4_before'])} → "
        f"{formats.probability(result['p_overall_at_least_4_after'])}" in page
    )
    assert f"Spends {formats.money(result['total_cost'])} of $1,500" in page
    chart = response.context["chart"].config["data"]
    assert [d["label"] for d in chart["datasets"]] == ["Without the plan", "With the plan"]
    assert sum(chart["datasets"][1]["data"]) == pytest.approx(100, abs=0.1)
    assert 'id="run-propose"' in page and 'href="/admin/star-ratings/H2001/2026/scenarios/"' in page


def _figure_near(figure: str, value: float) -> bool:
    """`figure` ("0.00003") is `value` to its last decimal place, and not zero."""
    places = len(figure.partition(".")[2])
    return float(figure) != 0 and abs(float(figure) - value) <= 0.5 * 10**-places + 1e-12


def test_the_solver_and_the_next_dollars_are_said_in_words_with_sensible_precision(client, analyst, plan):
    marginal = plan.result["marginal_value"]
    gain = marginal["objective_at_budget_plus_step"] - marginal["objective_at_budget"]

    page = _page(client, analyst, plan).content.decode()

    within = re.search(
        r"The solver proved the plan optimal: proven within ([0-9.]+) ★ of the best plan\.", page
    )
    assert within and _figure_near(within.group(1), plan.optimality_gap)
    next_dollars = re.search(r"The next \$([0-9,]+) would add ([0-9.]+) expected stars\.", page)
    assert next_dollars and next_dollars.group(1) == f"{marginal['budget_step']:,.0f}"
    assert _figure_near(next_dollars.group(2), gain)


def test_the_plan_csv_has_a_row_per_intervention_members_by_pseudonym_and_is_audited(client, analyst, plan):
    client.force_login(analyst)

    response = client.get(f"/admin/star-ratings/runs/{plan.pk}/plan.csv")

    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="plan-H2001-run-{plan.pk}.csv"'
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == [
        "member",
        "member_key",
        "intervention_type",
        "measures",
        "cost",
        "expected_extra_closures",
        "stars_per_1000_dollars",
    ]
    planned_rows = plan.result["interventions"]
    assert len(rows) - 1 == len(planned_rows)
    members = {
        pk: [pseudonym, key]
        for pk, pseudonym, key in Member.objects.values_list("pk", "pseudonym", "id_hash")
    }
    first = planned_rows[0]
    assert rows[1][:2] == members[first["member"]]
    assert float(rows[1][4]) == first["cost"]
    assert float(rows[1][6]) == pytest.approx(1000 * first["value_per_dollar"], rel=5e-3)
    assert "e" not in rows[1][6].lower()
    assert sum(float(row[4]) for row in rows[1:]) == pytest.approx(plan.result["total_cost"])
    assert {row[2] for row in rows[1:]} <= {"Mobile mammography", "Care manager call"}
    assert {row[3] for row in rows[1:]} <= {"BCS", "COL", "BCS; COL"}
    # No figure in scientific notation, no internal member ID.
    assert not any("e-" in cell or "e+" in cell for row in rows[1:] for cell in row[4:])
    assert str(first["member"]) not in {row[0] for row in rows[1:]}
    entry = LogEntry.objects.get(
        content_type=ContentType.objects.get_for_model(Intervention), object_pk="export", actor=analyst
    )
    assert entry.additional_data["access"]["rows"] == len(planned_rows)
    assert entry.additional_data["access"]["filters"] == {"portfolio_run": plan.pk}


def test_opening_a_run_is_recorded_as_an_access(client, analyst, plan):
    _page(client, analyst, plan)
    assert LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(PortfolioRun),
        object_pk=str(plan.pk),
        action=LogEntry.Action.ACCESS,
        actor=analyst,
    ).exists()


def test_proposing_starts_one_job_then_the_page_says_when_it_was_proposed(client, analyst, plan, run_jobs):
    client.force_login(analyst)

    first = client.post(f"/admin/star-ratings/runs/{plan.pk}/propose/")
    again = client.post(f"/admin/star-ratings/runs/{plan.pk}/propose/")

    job = Job.objects.get(kind="propose")
    assert (first.status_code, first["Location"]) == (302, f"/admin/star-ratings/jobs/{job.pk}/?follow")
    assert again["Location"] == first["Location"]
    assert job.parameters == {"portfolio_run": plan.pk}
    assert "follow the job" in _page(client, analyst, plan).content.decode()

    job.delete()
    with run_jobs():
        client.post(f"/admin/star-ratings/runs/{plan.pk}/propose/")
    plan.refresh_from_db()
    assert plan.proposed_at is not None
    assert Intervention.objects.filter(status=InterventionStatus.PROPOSED).count() == len(
        plan.result["interventions"]
    )
    page = _page(client, analyst, plan).content.decode()
    assert f"Its interventions were proposed on {plan.proposed_at:%Y-%m-%d %H:%M}" in page
    assert 'id="run-propose"' not in page
    assert client.post(f"/admin/star-ratings/runs/{plan.pk}/propose/")["Location"] == (
        f"/admin/star-ratings/runs/{plan.pk}/"
    )
    assert Job.objects.filter(kind="propose").count() == 1


def test_a_care_manager_sees_the_plan_but_may_not_propose_it(client, plan, planned):  # noqa: F811
    care_manager = UserFactory(username="cm2", role=roles.CARE_MANAGER, contracts=[planned])

    page = _page(client, care_manager, plan)

    assert page.status_code == 200 and 'id="run-propose"' not in page.content.decode()
    assert client.post(f"/admin/star-ratings/runs/{plan.pk}/propose/").status_code == 403
    assert not Job.objects.filter(kind="propose").exists()


def test_another_contracts_run_its_csv_and_proposing_are_404(client, plan):
    outsider = UserFactory(username="outsider", role=roles.QUALITY_ANALYST, contracts=[ContractFactory()])
    client.force_login(outsider)
    assert client.get(f"/admin/star-ratings/runs/{plan.pk}/").status_code == 404
    assert client.get(f"/admin/star-ratings/runs/{plan.pk}/plan.csv").status_code == 404
    assert client.post(f"/admin/star-ratings/runs/{plan.pk}/propose/").status_code == 404


def test_a_what_ifs_page_says_its_assumptions_and_its_forecast(client, analyst, planned):  # noqa: F811
    add_gaps(planned, "CBP", closed=60, open=40)
    run = planning.what_if_run_create(
        contract=planned,
        measurement_year=2026,
        user=analyst,
        name="Five more mammograms",
        assumptions={"C01": {"extra_closures": 5}, "C14": {"target_rate": Decimal("75")}},
        draws=2000,
    )
    result = run.result

    response = _page(client, analyst, run)

    page = response.content.decode()
    assert "What-if “Five more mammograms”" in page
    assert "BCS – Breast Cancer Screening: 5 more of its open gaps close." in page
    assert "CBP – Controlling Blood Pressure: its rate reaches 75.0% by the year end." in page
    assert formats.stars(result["expected_overall"], 2) in page
    assert formats.probability(result["p_overall_at_least_4"]) in page
    bcs = next(m for m in response.context["measures"] if m["cms_id"] == "C01")
    assert (bcs["label"], bcs["method"]) == ("BCS – Breast Cancer Screening", "assumed")
    assert (
        '<td>BCS – Breast Cancer Screening</td><td class="number">30</td><td class="number">70.0%</td>'
        in page
    )
    table = {row["level"]: row["values"] for row in response.context["distribution"]}
    assert table == {
        formats.stars(float(level)): [formats.probability(p)]
        for level, p in result["overall_probabilities"].items()
    }
    assert 'details class="console-raw"' in page and "Propose" not in page


def test_a_plan_that_leaves_budget_says_why_and_shows_the_types_figures_it_used(client, analyst, planned):  # noqa: F811
    run = planning.optimizer_run_create(
        contract=planned, measurement_year=2026, user=analyst, budget=Decimal(20_000), draws=2000
    )
    left = run.result["budget_left"]

    page = _page(client, analyst, run).content.decode()

    assert left["unspent"] >= 0.5
    spent, unspent = formats.money(run.result["total_cost"]), formats.money(left["unspent"])
    assert f"Spends {spent} of $20,000, leaving {unspent}. {left['reason']}" in page
    assert '<td>Mobile mammography</td><td class="number">$100</td><td class="number">no limit</td>' in page
    # Uplifts in percentage points, as the optimizer form takes them.
    assert "<td>BCS +60 pts</td>" in page
