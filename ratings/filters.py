"""Filters for the catalog, the national benchmark, rating inputs and snapshots (API)."""

import django_filters

from hedis_portal.filters import FilterSet, IntegerFilter
from ratings.models import (
    CmsContract,
    CmsDataImport,
    CmsMeasureValue,
    ContractMeasureScore,
    ContractRatingProfile,
    CutPoint,
    Measure,
    PortfolioRun,
    PortfolioSnapshot,
)


class MeasureFilter(FilterSet):
    """Measures by part, code, member level, and the star years they are rated in."""

    code = django_filters.CharFilter(lookup_expr="iexact")
    star_year = IntegerFilter(field_name="editions__star_year", distinct=True)

    class Meta:
        model = Measure
        fields = ["part", "code", "member_level", "data_source", "direction"]


class CutPointFilter(FilterSet):
    """Cut points by star year, measure ID (C01…) or stable code (BCS…), part and org type."""

    star_year = IntegerFilter(field_name="edition__star_year")
    measure = django_filters.CharFilter(field_name="edition__cms_id", lookup_expr="iexact")
    code = django_filters.CharFilter(field_name="edition__measure__code", lookup_expr="iexact")
    part = django_filters.CharFilter(field_name="edition__measure__part", lookup_expr="iexact")
    org_type = django_filters.CharFilter(help_text="MA-PD or PDP (Part D); empty for Part C rows.")

    class Meta:
        model = CutPoint
        fields = ["star_year", "measure", "code", "part", "org_type", "direction"]


class CmsContractFilter(FilterSet):
    """CMS contracts by star year, contract ID, organization type and SNP flag."""

    contract_id = django_filters.CharFilter(lookup_expr="iexact")
    organization_type = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = CmsContract
        fields = ["star_year", "contract_id", "organization_type", "snp"]


class CmsDataImportFilter(FilterSet):
    """Imports of the national benchmark by star year."""

    class Meta:
        model = CmsDataImport
        fields = ["star_year"]


class CmsMeasureValueFilter(FilterSet):
    """Published scores and stars by star year, contract, measure ID or code, part, and star."""

    star_year = IntegerFilter(field_name="contract__star_year")
    contract = django_filters.CharFilter(field_name="contract__contract_id", lookup_expr="iexact")
    measure = django_filters.CharFilter(field_name="edition__cms_id", lookup_expr="iexact")
    code = django_filters.CharFilter(field_name="edition__measure__code", lookup_expr="iexact")
    part = django_filters.CharFilter(field_name="edition__measure__part", lookup_expr="iexact")

    class Meta:
        model = CmsMeasureValue
        fields = ["star_year", "contract", "measure", "code", "part", "star"]


class ContractMeasureScoreFilter(FilterSet):
    """Contract-level scores by contract, star year and measure code."""

    contract = django_filters.CharFilter(field_name="contract__contract_id", lookup_expr="iexact")
    measure = django_filters.CharFilter(field_name="measure__code", lookup_expr="iexact")

    class Meta:
        model = ContractMeasureScore
        fields = ["contract", "star_year", "measure"]


class ContractRatingProfileFilter(FilterSet):
    """Rating profiles by contract and star year."""

    contract = django_filters.CharFilter(field_name="contract__contract_id", lookup_expr="iexact")

    class Meta:
        model = ContractRatingProfile
        fields = ["contract", "star_year"]


class PortfolioSnapshotFilter(FilterSet):
    """Snapshots by contract, measurement year and when they were taken."""

    contract = django_filters.CharFilter(field_name="contract__contract_id", lookup_expr="iexact")
    taken_after = django_filters.IsoDateTimeFilter(field_name="taken_at", lookup_expr="gte")
    taken_before = django_filters.IsoDateTimeFilter(field_name="taken_at", lookup_expr="lte")

    class Meta:
        model = PortfolioSnapshot
        fields = ["contract", "measurement_year", "star_year", "taken_after", "taken_before"]


class PortfolioRunFilter(FilterSet):
    """Runs by contract, measurement year, kind and when they ran."""

    contract = django_filters.CharFilter(field_name="contract__contract_id", lookup_expr="iexact")
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")

    class Meta:
        model = PortfolioRun
        fields = ["contract", "measurement_year", "kind", "created_after"]
