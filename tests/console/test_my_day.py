"""My day: the admin's front page opens, for someone who works gaps, on her open gaps by workflow
state (each count opening the worklist filtered to it), those untouched longest, and each of her
contracts' projected rating with the measures where a star is cheapest. Nobody else's gaps, no
other contract, nothing for a quality analyst; a constant number of queries however many gaps."""

import html
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from auditlog.models import LogEntry
from django.utils import timezone

from gaps.models import CareGap
from hedis_portal import roles
from members.models import Contract
from ratings.models import ContractMeasureScore, CutPoint, StarYearMeasure
from tests.browser import log_in
from tests.conftest import query_count
from tests.factories import CareGapFactory, ContractFactory, MemberFactory, UserFactory, measure
from tests.ratings.conftest import cut_points_2026  # noqa: F401 (fixture)
from tests.ratings.test_live import FOUR_STAR_SCORES, add_gaps

pytestmark = pytest.mark.django_db


def gap(assignee, state, *, contract=None, code="BCS", days=0, compliance="open"):
    """An open gap of `assignee` in `state`, last changed `days` ago, on a new member."""
    contract = contract or assignee.contracts.first()
    created = CareGapFactory(
        member=MemberFactory(contract=contract),
        measure=measure(code),
        assignee=assignee,
        workflow_state=state,
        compliance_status=compliance,
        evidence_date=timezone.localdate() if compliance == "closed" else None,
        evidence_source="claims" if compliance == "closed" else "",
    )
    # `updated_at` is set on save; an update leaves it as written here.
    CareGap.objects.filter(pk=created.pk).update(updated_at=timezone.now() - timedelta(days=days, hours=1))
    return created


def front_page(client, user) -> tuple[dict, str]:
    """The front page as `user` sees it: the module's context and its text as a reader sees it."""
    client.force_login(user)
    response = client.get("/admin/")
    assert response.status_code == 200
    return response.context.get("day"), response.content.decode()


def module_text(page: str) -> str:
    """The My day module's text as a reader sees it: inline tags (links, spans) dropped, the others a
    space, repeated spaces one."""
    module = page[page.index('id="my-day"') : page.index('id="content-main-star-ratings"')]
    inline = re.sub(r"</?(a|span)\b[^>]*>", "", module)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", inline)))


# --- her gaps ------------------------------------------------------------------------------------


def test_counts_her_open_gaps_by_state_each_linked_to_the_worklist_filtered_to_it(
    client, care_manager, contract
):
    for state, count in [("assigned", 3), ("outreach_attempted", 2), ("scheduled", 1)]:
        for _ in range(count):
            gap(care_manager, state)
    gap(care_manager, "awaiting_data")
    gap(care_manager, "awaiting_data")
    gap(care_manager, "refused")
    gap(care_manager, "resolved", compliance="closed")  # closed by data: nothing to do
    CareGapFactory(member=MemberFactory(contract=contract))  # nobody's

    day, page = front_page(client, care_manager)

    worklist = "/admin/gaps/caregap/?assignee=me&compliance_status=open&workflow_state="
    assert [(row["state"], row["count"], row["url"]) for row in day["due"]] == [
        ("assigned", 3, worklist + "assigned"),
        ("outreach_attempted", 2, worklist + "outreach_attempted"),
        ("scheduled", 1, worklist + "scheduled"),
    ]
    assert [(row["state"], row["count"]) for row in day["waiting"]] == [("awaiting_data", 2), ("refused", 1)]
    text = module_text(page)
    assert "3 Assigned 2 Outreach attempted 1 Scheduled" in text
    assert "Waiting: 2 awaiting data, 1 refused." in text
    assert (
        "Due for action are your open gaps that are new, assigned, outreach attempted or scheduled"
    ) in text
    assert f'href="{html.escape(worklist)}assigned"' in page
    # Each link opens the worklist with exactly the gaps counted.
    for row in [*day["due"], *day["waiting"]]:
        assert client.get(row["url"]).context["cl"].result_count == row["count"]


def test_the_gaps_untouched_longest_come_first_ten_of_them_each_opening_its_page(client, care_manager):
    gaps = [gap(care_manager, "assigned", days=days) for days in (3, 40, 0, 12, 7, 1, 25, 2, 9, 30, 5, 18)]
    gap(care_manager, "awaiting_data", days=90)  # waits on data: not due for action

    day, page = front_page(client, care_manager)

    oldest = sorted(gaps, key=lambda g: CareGap.objects.get(pk=g.pk).updated_at)[:10]
    assert [row["pseudonym"] for row in day["oldest"]] == [g.member.pseudonym for g in oldest]
    assert [row["untouched"] for row in day["oldest"]] == [
        f"{days} days" for days in (40, 30, 25, 18, 12, 9, 7, 5, 3, 2)
    ]
    first = day["oldest"][0]
    assert (first["measure"], first["contract"], first["state"]) == (
        "BCS – Breast Cancer Screening",
        "H1001",
        "Assigned",
    )
    assert f'<a href="/admin/gaps/caregap/{oldest[0].pk}/change/">{oldest[0].member.pseudonym}</a>' in page
    assert "BCS – Breast Cancer Screening H1001 · 2026 Assigned 40 days" in module_text(page)


def test_the_list_shown_is_recorded_as_a_read_of_member_level_data(client, care_manager):
    shown = [gap(care_manager, "assigned", days=days) for days in (4, 2)]

    front_page(client, care_manager)

    entry = LogEntry.objects.filter(action=LogEntry.Action.ACCESS).get()
    assert (entry.actor, entry.object_repr) == (care_manager, "2 care gaps listed")
    assert entry.additional_data["access"]["ids"] == [g.pk for g in shown]
    assert entry.additional_data["access"]["filters"]["assignee"] == "me"


def test_a_day_under_one_and_one_day_read_as_people_say_them(client, care_manager):
    gap(care_manager, "scheduled", days=1)
    gap(care_manager, "scheduled", days=0)
    day, _ = front_page(client, care_manager)
    assert [row["untouched"] for row in day["oldest"]] == ["1 day", "under a day"]


def test_only_her_gaps_in_her_contracts_are_shown(client, care_manager, contract, other_contract):
    mine = gap(care_manager, "assigned")
    teammate = UserFactory(username="teammate", role=roles.CARE_MANAGER, contracts=[contract])
    theirs = gap(teammate, "assigned", days=50)
    # Assigned to her before she left H1002: no longer hers to see.
    elsewhere = gap(care_manager, "assigned", contract=other_contract, days=60)

    day, page = front_page(client, care_manager)

    assert [row["count"] for row in day["due"]] == [1]
    assert [row["pseudonym"] for row in day["oldest"]] == [mine.member.pseudonym]
    assert theirs.member.pseudonym not in page and elsewhere.member.pseudonym not in page
    assert [outlook["contract"].contract_id for outlook in day["contracts"]] == ["H1001"]
    assert "H1002" not in module_text(page)


def test_with_nothing_assigned_she_is_sent_to_the_gaps_nobody_is_working(client, care_manager, contract):
    CareGapFactory(member=MemberFactory(contract=contract))

    day, page = front_page(client, care_manager)

    assert (day["due"], day["waiting"], day["oldest"]) == ([], [], [])
    assert "Nothing open is assigned to you. Take gaps from the worklist of gaps nobody is working." in (
        module_text(page)
    )
    assert not LogEntry.objects.filter(action=LogEntry.Action.ACCESS).exists()  # no member listed
    assert 'href="/admin/gaps/caregap/?assignee=unassigned&amp;compliance_status=open"' in page
    assert client.get(day["unassigned_url"]).context["cl"].result_count == 1


def test_with_only_gaps_waiting_nothing_is_due(client, care_manager):
    gap(care_manager, "awaiting_data")
    _, page = front_page(client, care_manager)
    text = module_text(page)
    assert "None of your open gaps is due for action." in text and "Waiting: 1 awaiting data." in text
    assert "Untouched longest" not in text


def test_a_quality_analyst_sees_no_module(client, analyst, care_manager):
    gap(care_manager, "assigned")
    day, page = front_page(client, analyst)
    assert day is None
    assert 'id="my-day"' not in page and "console/my_day.css" not in page
    assert 'id="content-main-star-ratings"' in page


def test_an_administrator_works_gaps_and_sees_hers(client, administrator, contract, other_contract):
    gap(administrator, "outreach_attempted", contract=other_contract)
    day, _ = front_page(client, administrator)
    assert [(row["state"], row["count"]) for row in day["due"]] == [("outreach_attempted", 1)]
    assert [outlook["contract"].contract_id for outlook in day["contracts"]] == ["H1001", "H1002"]


# --- her contracts -------------------------------------------------------------------------------


@pytest.fixture
def rated(cut_points_2026, contract, care_manager):  # noqa: F811 (fixture)
    """Her contract made MA-only (LIS/DE 10%, disability 10%) with 15 Part C measures at 4 stars, as
    the overview's tests build it, and three gap measures a star away (BCS, COL, CBP)."""
    contract.organization_type = Contract.OrganizationType.MA_ONLY
    contract.lis_de_percent = contract.disability_percent = Decimal(10)
    contract.save()
    add_gaps(contract, "BCS", closed=8, open=2)  # 80% → 4 stars; 5 stars (84) needs 1 more
    add_gaps(contract, "COL", closed=35, open=15)  # 70% → 4 stars; 5 stars (78) needs 4 more
    for cms_id, score in FOUR_STAR_SCORES.items():
        ContractMeasureScore.objects.create(
            contract=contract,
            star_year=2028,
            measure=StarYearMeasure.objects.get(star_year=2026, cms_id=cms_id).measure,
            score=Decimal(score),
        )
    first_three = CareGap.objects.filter(measure__code="COL", compliance_status="open").order_by("id")[:3]
    CareGap.objects.filter(pk__in=list(first_three.values_list("pk", flat=True))).update(
        assignee=care_manager, workflow_state="assigned"
    )
    return contract


def test_each_contract_shows_its_projected_rating_and_where_a_star_is_cheapest(client, care_manager, rated):
    day, page = front_page(client, care_manager)

    [outlook] = day["contracts"]
    assert (outlook["year"], outlook["overview_url"]) == (2026, "/admin/star-ratings/H1001/2026/")
    # An MA-only contract's highest rating is its Part C summary (the overview's figure: 4.5).
    assert (outlook["figure"]["label"], outlook["figure"]["rating"]) == ("Part C", 4.5)
    assert [(m["label"], m["members"], m["next_star"], m["yours"]) for m in outlook["measures"]] == [
        ("BCS – Breast Cancer Screening", 1, 5, 0),
        ("COL – Colorectal Cancer Screening", 4, 5, 3),
    ]
    text = module_text(page)
    assert "H1001 · measurement year 2026 Part C, projected: 4.5 ★ Cheapest stars:" in text
    assert "BCS – Breast Cancer Screening: 1 member closed for 5 ★ COL" in text
    assert "COL – Colorectal Cancer Screening: 4 members closed for 5 ★ (3 of its open gaps are yours)" in (
        text
    )
    worklist = (
        "/admin/gaps/caregap/?contract=H1001&amp;measure=COL&amp;measurement_year=2026"
        "&amp;compliance_status=open"
    )
    assert f'<a href="{worklist}"' in page and f'<a href="{worklist}&amp;assignee=me">' in page
    assert '<a href="/admin/star-ratings/H1001/2026/">H1001 · measurement year 2026</a>' in page


def test_at_most_three_measures_cheapest_first(client, care_manager, rated):
    add_gaps(rated, "CBP", closed=70, open=30)
    add_gaps(rated, "KED", closed=5, open=5)
    day, _ = front_page(client, care_manager)
    [outlook] = day["contracts"]
    # Stars per member closed, weight × 1 star ÷ members: BCS 1 ÷ 1 and KED 1 ÷ 1 (in CMS ID order),
    # CBP 3 ÷ 5; COL's 1 ÷ 4 comes fourth and is left out.
    assert [(m["label"], m["members"], m["next_star"]) for m in outlook["measures"]] == [
        ("BCS – Breast Cancer Screening", 1, 5),
        ("KED – Kidney Health Evaluation for Patients…", 1, 3),
        ("CBP – Controlling Blood Pressure", 5, 3),
    ]


def test_a_contract_rated_on_too_few_measures_says_why(client, care_manager, cut_points_2026):  # noqa: F811
    gap(care_manager, "assigned")
    day, page = front_page(client, care_manager)
    [outlook] = day["contracts"]
    # An MA-PD contract with one measure's gaps and no contract-level scores: BCS alone has a star.
    assert outlook["figure"] is None and outlook["measures"] == []
    text = module_text(page)
    assert (
        "H1001 · measurement year 2026 No projected rating. Overall: Not enough data available — "
        "1 measures have a star, 19 are needed."
    ) in text
    assert "No measure has a star within reach of its open gaps." in text


def test_without_cut_points_the_page_says_there_is_no_rating_and_why(client, care_manager):
    CutPoint.objects.all().delete()  # the module's loaded tables, until this test's rollback
    gap(care_manager, "assigned")
    _, page = front_page(client, care_manager)
    assert (
        "No projected rating. Overall: Not enough data available — 0 measures have a star, 19 are "
        "needed. No CMS cut points are loaded (run import_cms_star_data), so no measure stars or "
        "ratings can be computed."
    ) in module_text(page)


def test_a_contract_without_gaps_says_there_is_nothing_to_rate(client, care_manager):
    _, page = front_page(client, care_manager)
    assert "No gaps are loaded for H1001 yet, so there is no rating to project." in module_text(page)


# --- cost ----------------------------------------------------------------------------------------


def test_the_query_count_does_not_grow_with_her_gaps(client, care_manager, rated):
    gap(care_manager, "assigned")
    client.force_login(care_manager)
    before = query_count(lambda: client.get("/admin/"))
    states = ("assigned", "outreach_attempted", "scheduled", "awaiting_data")
    for days in range(30):
        gap(care_manager, states[days % 4], days=days)
    for code in ("CBP", "COL", "KED"):
        gap(care_manager, "scheduled", code=code)
    CareGap.objects.filter(compliance_status="open").update(assignee=care_manager, workflow_state="assigned")
    assert query_count(lambda: client.get("/admin/")) == before


# --- in a browser --------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_care_manager_opens_her_day_and_a_count_opens_her_worklist(watched, live_server):
    contract = ContractFactory(contract_id="H1001")
    manager = UserFactory(username="cm-browser", role=roles.CARE_MANAGER, contracts=[contract])
    for state in ("assigned", "assigned", "scheduled"):
        gap(manager, state, days=3)
    page = watched.page

    log_in(page, live_server, "cm-browser", "test-password")

    assert page.inner_text("#my-day-state-assigned") == "2\nAssigned"
    assert page.locator(".my-day-oldest tbody tr").count() == 3
    assert page.locator("#my-day").bounding_box()["y"] < 200  # the first thing on the page
    page.click("#my-day-state-scheduled")
    page.wait_for_url("**/admin/gaps/caregap/?*")
    assert page.locator("#result_list tbody tr").count() == 1
    assert page.inner_text("#result_list tbody tr td.field-workflow_state") == "Scheduled"
    assert watched.problems() == []
