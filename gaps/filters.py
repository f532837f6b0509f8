"""Worklist filters for the API (the admin offers the same ones as list filters)."""

import django_filters

from gaps.models import CareGap, ComplianceStatus, WorkflowState
from predictions.models import RiskTier


class CareGapFilter(django_filters.FilterSet):
    """Contract, measure, year, compliance, workflow, assignee, risk tier and "no outreach yet"."""

    contract = django_filters.CharFilter(field_name="contract__contract_id")
    measure = django_filters.CharFilter(field_name="measure__code", lookup_expr="iexact")
    compliance_status = django_filters.MultipleChoiceFilter(choices=ComplianceStatus.choices)
    workflow_state = django_filters.MultipleChoiceFilter(choices=WorkflowState.choices)
    assignee = django_filters.NumberFilter(field_name="assignee_id")
    unassigned = django_filters.BooleanFilter(field_name="assignee", lookup_expr="isnull")
    risk_tier = django_filters.ChoiceFilter(
        field_name="current_prediction__risk_tier", choices=RiskTier.choices
    )
    no_outreach = django_filters.BooleanFilter(
        field_name="last_outreach_at", lookup_expr="isnull", label="No outreach yet"
    )
    priority_min = django_filters.NumberFilter(field_name="priority_score", lookup_expr="gte")

    class Meta:
        model = CareGap
        fields = ["contract", "measure", "measurement_year", "member"]
