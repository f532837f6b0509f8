"""The worklist's sidebar offers only values with data, labels read as people write them, and no
query string, however odd, gets a server error from the worklist or its API."""

import re

import pytest
from django.contrib.messages import get_messages

from gaps.admin import measure_label
from gaps.models import CareGap
from tests.conftest import query_count
from tests.factories import CareGapFactory, MemberFactory, PredictionFactory, measure, point_at

pytestmark = pytest.mark.django_db
URL = "/admin/gaps/caregap/"


def _offered(response) -> dict[str, list[str]]:
    """Each sidebar filter's parameter → the values it offers (without "All")."""
    return {
        spec.parameter_name: [str(value) for value, _ in spec.lookup_choices]
        for spec in response.context["cl"].filter_specs
    }


def _labels(response, name: str) -> list[str]:
    spec = next(s for s in response.context["cl"].filter_specs if s.parameter_name == name)
    return [label for _, label in spec.lookup_choices]


@pytest.fixture
def worklist(care_manager, analyst, contract, other_contract):
    """Two of the contract's gaps (EED 2025, assigned to the analyst, high tier; COL 2026, unassigned,
    outreach done) and one of another contract's (KED 2024, the care manager's, low tier)."""
    member = MemberFactory(contract=contract)
    eed = CareGapFactory(member=member, measure=measure("EED"), measurement_year=2025, assignee=analyst)
    point_at(eed, PredictionFactory(member=member, risk_tier="high"))
    CareGapFactory(
        member=member, measure=measure("COL"), measurement_year=2026, last_outreach_at="2026-03-01T00:00Z"
    )
    elsewhere = MemberFactory(contract=other_contract)
    ked = CareGapFactory(
        member=elsewhere, measure=measure("KED"), measurement_year=2024, assignee=care_manager
    )
    point_at(ked, PredictionFactory(member=elsewhere, risk_tier="low"))
    return eed


def test_the_sidebar_offers_only_values_the_users_gaps_have(client, care_manager, analyst, worklist):
    client.force_login(care_manager)
    offered = _offered(client.get(URL))
    assert offered == {
        "contract": ["H1001"],
        "measure": ["COL", "EED"],
        "measurement_year": ["2026", "2025"],
        "compliance_status": ["open"],
        "workflow_state": ["new"],
        "assignee": ["unassigned", str(analyst.pk)],
        "risk_tier": ["high"],
        "no_outreach": ["true", "false"],
    }


def test_me_is_offered_once_the_user_has_gaps(client, care_manager, worklist):
    CareGap.objects.filter(pk=worklist.pk).update(assignee=care_manager)
    client.force_login(care_manager)
    assert _offered(client.get(URL))["assignee"] == ["me", "unassigned"]


def test_a_value_with_no_gaps_still_filters_to_nothing(client, care_manager, worklist):
    client.force_login(care_manager)
    response = client.get(URL, {"measure": "KED"})
    assert list(response.context["cl"].result_list) == []
    assert [str(m) for m in get_messages(response.wsgi_request)] == []


def test_the_sidebar_costs_the_same_queries_however_many_values(client, care_manager, analyst, contract):
    client.force_login(care_manager)
    CareGapFactory(member=MemberFactory(contract=contract), measure=measure("BCS"), assignee=analyst)
    few = query_count(lambda: client.get(URL))
    for code, year in [("COL", 2023), ("EED", 2024), ("KED", 2025), ("CBP", 2026)]:
        gap = CareGapFactory(
            member=MemberFactory(contract=contract),
            measure=measure(code),
            measurement_year=year,
            assignee=analyst,
        )
        point_at(gap, PredictionFactory(member=gap.member, risk_tier="medium"))
    assert query_count(lambda: client.get(URL)) == few


def test_a_measure_reads_as_its_code_and_short_name_in_the_list_and_the_filter(
    client, care_manager, worklist
):
    client.force_login(care_manager)
    response = client.get(URL)
    assert _labels(response, "measure") == ["COL – Colorectal Cancer Screening", "EED – Eye Exam"]
    assert "EED – Eye Exam</span>" in response.content.decode()


@pytest.mark.parametrize(
    ("code", "label"),
    [
        ("EED", "EED – Eye Exam"),
        ("SUPD", "SUPD – Statin Use in Persons with Diabetes"),
        ("FMC", "FMC – Follow-up after Emergency Department…"),
        ("ADH-RAS", "ADH-RAS – Medication Adherence for Hypertension…"),
        ("COA-MR", "COA-MR – Medication Review"),
    ],
)
def test_measure_labels_are_short(code, label):
    assert measure_label(code, measure(code).name) == label


def test_a_risk_tier_is_spelt_the_same_in_the_list_and_the_filter(client, care_manager, worklist):
    client.force_login(care_manager)
    response = client.get(URL)
    cells = re.findall(r'<td class="field-risk_tier[^"]*">([^<]*)</td>', response.content.decode())
    assert sorted(cells) == ["-", "High"]
    assert set(_labels(response, "risk_tier")) == {"High"}


def test_a_page_past_the_end_keeps_the_filters_and_says_so(client, care_manager, worklist):
    client.force_login(care_manager)
    response = client.get(URL, {"measure": "EED", "p": "99999999999999999999"})
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [worklist]
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "Ignored the page number: showing page 1."
    ]


ODD_QUERY_STRINGS = [
    "assignee=unassigned",
    "assignee=nobody",
    "assignee=99999999999999999999",
    "member=99999999999999999999",
    "member=-99999999999999999999",
    "member=abc",
    "measurement_year=1e400",
    "measurement_year=%00",
    "measure=%00",
    "contract=h9001%00",
    "risk_tier=LOW",
    "no_outreach=maybe",
    "priority_min=nan",
    "priority_min=1e999",
    "unassigned=yes",
    "compliance_status=open&compliance_status=zzz",
    "workflow_state=",
    "measure=BCS&measure=COL",
    "contract=",
    "o=",
    "o=99",
    "o=-1.x.%00",
    "p=",
    "p=0",
    "p=-3",
    "p=abc",
    "p=" + "9" * 5000,
    "q=" + "x" * 10000,
    "q=%00",
    "ordering=-nonsense",
    "cursor=%00",
    "page_size=99999999999999999999",
    "bogus=1",
    "id=99999999999999999999",
    "version=abc",
    "member__id_hash=x",
    "_changelist_filters=x",
    "e=1",
    "all=",
]


@pytest.mark.parametrize("role", ["care_manager", "analyst", "administrator"])
def test_no_query_string_gets_a_server_error(client, api, request, worklist, role):
    user = request.getfixturevalue(role)
    client.force_login(user)
    client.raise_request_exception = False
    token = api(user)
    token.raise_request_exception = False
    answers = {}
    for query in ODD_QUERY_STRINGS:
        answers[("admin", query[:40])] = client.get(f"{URL}?{query}").status_code
        answers[("api", query[:40])] = token.get(f"/api/gaps/?{query}").status_code
    assert {where: status for where, status in answers.items() if status not in (200, 400)} == {}


def test_an_unknown_parameter_is_refused_not_a_database_error_page(client, care_manager, worklist):
    client.force_login(care_manager)
    client.raise_request_exception = False
    assert client.get(URL, {"id": "99999999999999999999"}).status_code == 400
    assert client.get(URL, {"bogus": "1"}).status_code == 400
