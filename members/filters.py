"""Filters for contracts and members, shared by the API."""

import django_filters
from django import forms
from drf_spectacular.utils import extend_schema_field

from hedis_portal.filters import FilterSet, IntegerFilter
from members.identifiers import PSEUDONYM_PREFIX_PATTERN, pseudonym_prefix
from members.models import Contract, Member


class PseudonymPrefixField(forms.CharField):
    """The start of a pseudonym in any case, with or without dashes; cleaned to the stored form."""

    def to_python(self, value):
        text = super().to_python(value)
        if text in self.empty_values:
            return text
        prefix = pseudonym_prefix(text)
        if prefix is None:
            raise forms.ValidationError(
                "Enter at least the first four characters of a pseudonym (letters and digits, e.g. K7QD-2M).",
                code="invalid",
            )
        return prefix


@extend_schema_field({"type": "string", "pattern": PSEUDONYM_PREFIX_PATTERN})
class PseudonymFilter(django_filters.CharFilter):
    """Members whose pseudonym starts with the value (`K7QD`, `k7qd-2m`, `K7QD2M9X`)."""

    field_class = PseudonymPrefixField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("lookup_expr", "startswith")
        super().__init__(*args, **kwargs)


class ContractFilter(FilterSet):
    """Contracts by organization type and SNP flag."""

    class Meta:
        model = Contract
        fields = ["organization_type", "snp"]


class MemberFilter(FilterSet):
    """Members by contract (CMS ID), pseudonym prefix, flags and birth year range."""

    contract = django_filters.CharFilter(field_name="contract__contract_id")
    pseudonym = PseudonymFilter(field_name="pseudonym", label="Pseudonym (its first characters or all of it)")
    birth_year_min = IntegerFilter(field_name="birth_year", lookup_expr="gte")
    birth_year_max = IntegerFilter(field_name="birth_year", lookup_expr="lte")

    class Meta:
        model = Member
        fields = ["contract", "pseudonym", "sex", "lis_de", "disability", "active"]
