"""The large tables carry no index that another index already covers: each one costs every write."""

import pytest
from django.db import connection

from gaps.models import CareGap
from predictions.models import Prediction

LARGE_TABLES = [CareGap, Prediction]


def _index_columns(table: str) -> list[tuple[str, list[str]]]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    return [
        (name, info["columns"])
        for name, info in constraints.items()
        if (info["index"] or info["unique"]) and not info["primary_key"] and info["columns"]
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("model", LARGE_TABLES, ids=lambda model: model._meta.db_table)
def test_no_single_column_index_is_the_prefix_of_another(model):
    indexes = _index_columns(model._meta.db_table)
    redundant = [
        (name, other)
        for name, columns in indexes
        if len(columns) == 1
        for other, other_columns in indexes
        if other != name and len(other_columns) > 1 and other_columns[0] == columns[0]
    ]
    assert redundant == []


@pytest.mark.django_db
def test_the_foreign_keys_that_lost_their_index_are_still_enforced():
    with connection.cursor() as cursor:
        relations = connection.introspection.get_relations(cursor, CareGap._meta.db_table)
    assert {"member_id", "contract_id", "assignee_id"} <= set(relations)
