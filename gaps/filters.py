"""Worklist filters for the API (the admin offers the same ones as list filters)."""

import django_filters
from django import forms
from django.db.models.expressions import RawSQL
from drf_spectacular.utils import extend_schema_field

from gaps.models import CareGap, ComplianceStatus, WorkflowState
from hedis_portal.filters import (
    MAX_ID,
    ChoiceFilter,
    FilterSet,
    IntegerFilter,
    MultipleChoiceFilter,
    NumberFilter,
)
from members.selectors import contract_pk_of
from predictions.models import RiskTier
from ratings.models import Measure


class AssigneeField(forms.CharField):
    """A user's primary key, `me` or `unassigned`."""

    def to_python(self, value):
        value = super().to_python(value).strip().lower()
        if value in ("", "me", "unassigned"):
            return value
        if value.lstrip("-").isdigit() and abs(int(value)) <= MAX_ID:
            return int(value)
        raise forms.ValidationError("Enter a whole number, me or unassigned.")


@extend_schema_field(
    {"oneOf": [{"type": "integer", "minimum": -MAX_ID, "maximum": MAX_ID}, {"enum": ["me", "unassigned"]}]}
)
class AssigneeFilter(django_filters.CharFilter):
    field_class = AssigneeField


class CareGapFilter(FilterSet):
    """Contract, measure, year, compliance, workflow, assignee, risk tier and "no outreach yet"."""

    contract = django_filters.CharFilter(method="filter_contract", label="CMS contract ID (e.g. H1234)")
    measure = django_filters.CharFilter(method="filter_measure", label="Measure code (e.g. BCS)")
    # distinct=False: no join can duplicate a gap, and SELECT DISTINCT would stop PostgreSQL
    # from reading the worklist index in priority order.
    compliance_status = MultipleChoiceFilter(choices=ComplianceStatus.choices, distinct=False)
    workflow_state = MultipleChoiceFilter(choices=WorkflowState.choices, distinct=False)
    # Numbers, not model choices: a choice is validated with a query against every member,
    # which also told apart another contract's member (200, nothing) from none (400).
    member = IntegerFilter(field_name="member_id", label="Member (portal ID)")
    assignee = AssigneeFilter(method="filter_assignee", label="Assignee: a user ID, me or unassigned")
    unassigned = django_filters.BooleanFilter(field_name="assignee", lookup_expr="isnull")
    risk_tier = ChoiceFilter(choices=RiskTier.choices)
    no_outreach = django_filters.BooleanFilter(
        field_name="last_outreach_at", lookup_expr="isnull", label="No outreach yet"
    )
    priority_min = NumberFilter(field_name="priority_score", lookup_expr="gte")

    class Meta:
        model = CareGap
        fields = ["contract", "measure", "measurement_year", "member"]

    # Codes become ids in a scalar subquery (`contract_id = (SELECT id … WHERE contract_id = 'H1234')`):
    # PostgreSQL computes it once before the scan, so the worklist index (contract, measure,
    # state, priority) still applies, with no extra round trip. Filtering on the joined code
    # would make PostgreSQL sort every match. Both codes are unique and upper-case (member-level
    # measures; catalog codes are upper-cased when loaded). The subqueries are written as SQL:
    # every worklist request runs them, and building each as a queryset costs more than the query.
    def filter_contract(self, queryset, name, value):
        return queryset.filter(contract_id=contract_pk_of(value))

    def filter_assignee(self, queryset, name, value):
        if value == "me":
            return queryset.filter(assignee_id=self.request.user.pk)
        if value == "unassigned":
            return queryset.filter(assignee__isnull=True)
        return queryset.filter(assignee_id=value)

    def filter_measure(self, queryset, name, value):
        return queryset.filter(measure_id=RawSQL(_MEASURE_ID_SQL, [value.strip().upper(), True]))


_MEASURE_ID_SQL = f"SELECT id FROM {Measure._meta.db_table} WHERE code = %s AND member_level = %s"
