"""How the worklist's statements are written, and what PostgreSQL knows of the gaps, so that it plans
them well at plan scale.

A choice filter's value is in the statement, not a parameter (`hedis_portal.filters.ChoiceLiteral`):
a prepared statement's generic plan, made for an average state, walked every gap of the contract
for a state no gap was in. Filters only worked gaps match read an index in priority order, in
either direction, rather than walking past the closed gaps at priority 0. Statistics on the filter
columns together tell PostgreSQL which combinations no gap has (docs/performance.md).
"""

import json

import pytest
from django.db import connection, transaction
from django.test import RequestFactory

from gaps.filters import CareGapFilter
from gaps.models import CareGap, ComplianceStatus, WorkflowState
from hedis_portal.filters import ChoiceLiteral
from tests.factories import CareGapFactory, MemberFactory, PredictionFactory, point_at

pytestmark = pytest.mark.django_db


def _filtered(user, **data) -> CareGapFilter:
    request = RequestFactory().get("/api/gaps/", data)
    request.user = user
    return CareGapFilter(request.GET, queryset=CareGap.objects.visible_to(user), request=request)


@pytest.fixture
def gaps(contract, care_manager):
    """Gaps in each workflow state, some assigned, some reached, one with a high-tier prediction."""
    created = {}
    for number, state in enumerate(WorkflowState.values):
        member = MemberFactory(contract=contract)
        created[state] = CareGapFactory(
            member=member,
            workflow_state=state,
            priority_score=number / 10,
            assignee=care_manager if number % 2 else None,
            last_outreach_at="2026-03-01T00:00Z" if number % 3 == 0 else None,
        )
    point_at(
        created[WorkflowState.NEW],
        PredictionFactory(member=created[WorkflowState.NEW].member, risk_tier="high"),
    )
    return created


@pytest.mark.parametrize(
    ("data", "literals"),
    [
        ({"workflow_state": "refused"}, ["'refused'"]),
        ({"workflow_state": ["new", "scheduled"]}, ["'new'", "'scheduled'"]),
        ({"compliance_status": "open"}, ["'open'"]),
        ({"risk_tier": "high"}, ["'high'"]),
    ],
)
def test_a_choice_filters_values_are_written_into_the_statement(care_manager, gaps, data, literals):
    filtered = _filtered(care_manager, **data)
    sql, params = filtered.qs.query.sql_with_params()
    for literal in literals:
        assert literal in sql
        assert literal.strip("'") not in params
    field, values = next(iter(data.items()))
    values = values if isinstance(values, list) else [values]
    expected = set(CareGap.objects.filter(**{f"{field}__in": values}).values_list("id", flat=True))
    assert expected
    assert set(filtered.qs.values_list("id", flat=True)) == expected


def test_a_value_outside_the_choices_is_still_a_400_naming_the_filter(api, care_manager, gaps):
    response = api(care_manager).get("/api/gaps/?workflow_state=refused' OR '1'='1")
    assert response.status_code == 400
    assert set(response.json()["extra"]["fields"]) == {"workflow_state"}


@pytest.mark.parametrize("value", ["x' OR '1'='1", "Refused", "", None, 3, "a" * 41])
def test_only_a_lower_case_word_is_written_as_a_literal(value):
    compiler = CareGap.objects.all().query.get_compiler(using="default")
    with pytest.raises(ValueError, match="Not a choice value"):
        ChoiceLiteral(value).as_sql(compiler, connection)


def test_every_choice_of_the_worklists_filters_can_be_written(care_manager, gaps):
    compiler = CareGap.objects.all().query.get_compiler(using="default")
    filters = CareGapFilter.base_filters
    for name in ("workflow_state", "compliance_status", "risk_tier"):
        for value, _ in filters[name].extra["choices"]:
            assert ChoiceLiteral(value).as_sql(compiler, connection) == (f"'{value}'", [])
    assert {WorkflowState.REFUSED.value, ComplianceStatus.EXCLUDED.value} <= {
        value
        for name in ("workflow_state", "compliance_status")
        for value, _ in filters[name].extra["choices"]
    }


def _plan(queryset) -> str:
    """The plan of `queryset` with sequential scans, bitmap scans and sorts made a last resort."""
    with transaction.atomic(), connection.cursor() as cursor:
        for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
            cursor.execute(f"SET LOCAL {setting} = off")
        return queryset.explain()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the indexes' use is PostgreSQL's plan")
@pytest.mark.parametrize(
    ("data", "index"),
    [
        ({"assignee": "me"}, "caregap_assignee_priority"),
        ({"no_outreach": "false"}, "caregap_reached_priority"),
    ],
)
@pytest.mark.parametrize("ordering", [("priority_score", "id"), ("-priority_score", "-id")])
def test_worked_gaps_are_read_in_priority_order_from_their_own_index(
    care_manager, contract, gaps, data, index, ordering
):
    page = _filtered(care_manager, **data).qs.filter(contract=contract).order_by(*ordering)[:51]
    plan = _plan(page)
    assert f"Index Scan{' Backward' if ordering[0] == 'priority_score' else ''} using {index}" in plan
    assert "Sort" not in plan


@pytest.mark.skipif(connection.vendor != "postgresql", reason="extended statistics are PostgreSQL's")
def test_the_filter_columns_have_statistics_on_their_combinations():
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT s.stxkind, s.stxstattarget, array_agg(a.attname ORDER BY a.attnum)
            FROM pg_statistic_ext s
            JOIN pg_attribute a ON a.attrelid = s.stxrelid AND a.attnum = ANY(s.stxkeys)
            WHERE s.stxname = 'caregap_filter_combinations' AND s.stxrelid = %s::regclass
            GROUP BY s.stxkind, s.stxstattarget
            """,
            [CareGap._meta.db_table],
        )
        kinds, target, columns = cursor.fetchone()
    assert (kinds, target) == (["m"], 500)
    assert set(columns) == {
        "contract_id",
        "workflow_state",
        "compliance_status",
        "risk_tier",
        "assignee_id",
        "last_outreach_at",
    }


def _estimated_rows(queryset) -> int:
    plan = queryset.explain(format="json")
    return json.loads(plan)[0]["Plan"]["Plan Rows"]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="extended statistics are PostgreSQL's")
def test_a_combination_no_gap_has_is_estimated_as_none(contract, care_manager):
    """Half the gaps new and unassigned, half assigned and being worked: none new and assigned.
    Column by column PostgreSQL would expect a quarter of them."""
    for number in range(400):
        worked = number % 2
        CareGapFactory(
            member=MemberFactory(contract=contract),
            workflow_state=WorkflowState.ASSIGNED if worked else WorkflowState.NEW,
            assignee=care_manager if worked else None,
        )
    contradiction = CareGap.objects.filter(workflow_state=WorkflowState.NEW, assignee__isnull=False)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {CareGap._meta.db_table}")
        assert _estimated_rows(contradiction) <= 2
        cursor.execute("DROP STATISTICS caregap_filter_combinations")
        cursor.execute(f"ANALYZE {CareGap._meta.db_table}")
        assert _estimated_rows(contradiction) >= 80
