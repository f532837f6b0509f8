"""`RowQuery`: compiled once, the same rows as the ORM's `values()` for every key."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework import serializers

from hedis_portal.rows import RowQuery, as_row, select_columns, serializer_columns
from interventions.models import Intervention
from predictions.models import Prediction
from tests.factories import InterventionFactory, MemberFactory, PredictionFactory, measure

pytestmark = pytest.mark.django_db


def _orm_rows(queryset, columns):
    """What the ORM's `values()` gives for the same query, under the API's names."""
    return [as_row(values, columns) for values in select_columns(queryset, columns)]


COLUMNS = {
    "id": "id",
    "contract": "contract__contract_id",
    "measure": "measure__code",
    "features": "top_features",
    "probability": "probability",
    "predicted_at": "predicted_at",
}


def _predictions(member, contract):
    return Prediction.objects.filter(member_id=member, contract_id=contract).order_by("measure__code")


def test_rows_equal_the_orm_rows_for_each_key(contract):
    query = RowQuery(_predictions, COLUMNS)
    first, second = MemberFactory(contract=contract), MemberFactory(contract=contract)
    for code in ("BCS", "COL"):
        PredictionFactory(member=first, measure=measure(code))
    PredictionFactory(member=second, measure=measure("CBP"))
    Prediction.objects.filter(member=first).update(top_features=[{"feature": "visits", "weight": 0.25}])
    for member in (first, second, first):
        rows = query.fetch(member=member.pk, contract=contract.pk)
        assert rows == _orm_rows(_predictions(member.pk, contract.pk), COLUMNS)
    assert [row["measure"] for row in query.fetch(member=first.pk, contract=contract.pk)] == ["BCS", "COL"]
    assert query.fetch(member=first.pk, contract=contract.pk)[0]["features"][0]["weight"] == 0.25


def test_decimals_and_nulls_come_back_as_values_gives_them(contract, care_manager):
    columns = {
        "id": "id",
        "cost": "cost",
        "approved_by": "approved_by__username",
        "type": "intervention_type_id",
    }
    member = MemberFactory(contract=contract)
    priced = InterventionFactory(member=member)
    Intervention.objects.filter(pk=priced.pk).update(cost=Decimal("12.5"), approved_by=care_manager)
    InterventionFactory(member=member)

    def build(member, contract):
        return Intervention.objects.filter(member_id=member, contract_id=contract).order_by("id")

    rows = RowQuery(build, columns).fetch(member=member.pk, contract=contract.pk)
    assert rows == _orm_rows(build(member.pk, contract.pk), columns)
    assert (rows[0]["cost"], rows[0]["approved_by"], rows[1]["approved_by"]) == (Decimal("12.5"), "cm", None)


def test_the_queryset_is_built_once_and_each_fetch_is_one_query(contract):
    built = []

    def build(member, contract):
        built.append(member)
        return _predictions(member, contract)

    query = RowQuery(build, COLUMNS)
    members = [MemberFactory(contract=contract) for _ in range(3)]
    for member in members:
        PredictionFactory(member=member)
    with CaptureQueriesContext(connection) as captured:
        found = [query.fetch(member=m.pk, contract=contract.pk)[0]["id"] for m in members]
    assert len(captured.captured_queries) == 3
    assert len(built) == 1
    assert found == [Prediction.objects.get(member=m).pk for m in members]


def test_a_key_the_query_does_not_use_as_given_is_refused(contract):
    query = RowQuery(lambda member, contract: Prediction.objects.filter(contract_id=contract), COLUMNS)
    with pytest.raises(ValueError, match=r"\['member'\]"):
        query.fetch(member=1, contract=contract.pk)
    shifted = RowQuery(lambda member, contract: Prediction.objects.filter(member_id=member + 1), COLUMNS)
    with pytest.raises(ValueError, match=r"\['contract', 'member'\]"):
        shifted.fetch(member=1, contract=contract.pk)


def test_serializer_columns_follow_each_fields_source():
    """Slugs join to the related row, keys read the foreign key column, dotted sources follow the
    relation, plain fields are their own column, and nested serializers are left to the caller."""

    class Row(serializers.ModelSerializer):
        contract = serializers.SlugRelatedField(slug_field="contract_id", read_only=True)
        measure_code = serializers.CharField(source="gap.measure.code", read_only=True)
        covered = serializers.ListSerializer(child=serializers.DictField(), read_only=True)

        class Meta:
            model = Intervention
            fields = ["id", "member", "contract", "measure_code", "cost", "covered"]

    assert serializer_columns(Row) == {
        "id": "id",
        "member": "member_id",
        "contract": "contract__contract_id",
        "measure_code": "gap__measure__code",
        "cost": "cost",
    }
