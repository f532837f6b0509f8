"""Filters for the intervention catalog and interventions, shared by the API."""

import django_filters

from hedis_portal.filters import FilterSet, IntegerFilter
from interventions.models import (
    Channel,
    Intervention,
    InterventionStatus,
    InterventionType,
    OutreachChannel,
    OutreachOutcome,
    OutreachRecord,
)


class InterventionTypeFilter(FilterSet):
    """Catalog entries by channel and whether they are still offered."""

    class Meta:
        model = InterventionType
        fields = ["channel", "active"]


class InterventionFilter(FilterSet):
    """Interventions by contract (CMS ID), member, status, type, channel and creation time."""

    contract = django_filters.CharFilter(field_name="contract__contract_id")
    member = IntegerFilter(field_name="member_id")
    status = django_filters.MultipleChoiceFilter(choices=InterventionStatus.choices)
    intervention_type = IntegerFilter(field_name="intervention_type_id")
    channel = django_filters.ChoiceFilter(field_name="intervention_type__channel", choices=Channel.choices)
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Intervention
        fields = ["contract", "member", "status", "intervention_type", "channel"]


class OutreachRecordFilter(FilterSet):
    """Outreach records by contract (CMS ID), member, channel, outcome and outreach date."""

    contract = django_filters.CharFilter(field_name="contract__contract_id")
    member = IntegerFilter(field_name="member_id")
    channel = django_filters.ChoiceFilter(choices=OutreachChannel.choices)
    outcome = django_filters.ChoiceFilter(choices=OutreachOutcome.choices)
    contacted_after = django_filters.DateFilter(field_name="contacted_on", lookup_expr="gte")
    contacted_before = django_filters.DateFilter(field_name="contacted_on", lookup_expr="lte")

    class Meta:
        model = OutreachRecord
        fields = ["contract", "member", "channel", "outcome"]
