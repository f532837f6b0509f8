"""Filters for contracts and members, shared by the API."""

import django_filters

from hedis_portal.filters import FilterSet, IntegerFilter
from members.models import Contract, Member


class ContractFilter(FilterSet):
    """Contracts by organization type and SNP flag."""

    class Meta:
        model = Contract
        fields = ["organization_type", "snp"]


class MemberFilter(FilterSet):
    """Members by contract (CMS ID), flags and birth year range."""

    contract = django_filters.CharFilter(field_name="contract__contract_id")
    birth_year_min = IntegerFilter(field_name="birth_year", lookup_expr="gte")
    birth_year_max = IntegerFilter(field_name="birth_year", lookup_expr="lte")

    class Meta:
        model = Member
        fields = ["contract", "sex", "lis_de", "disability", "active"]
