"""API rows read as plain values: for hot read paths where model instances cost more than the query.

A row is described by a mapping from the API's field name to the column it comes from (a
`values()` path, joins included), declared next to the serializer it mirrors; tests compare the
rows with that serializer's output, so the two cannot drift apart.
"""

from django.db.models import QuerySet

Columns = dict[str, str]


def select_columns(queryset: QuerySet, columns: Columns) -> QuerySet:
    """`queryset` as `values()` of exactly `columns` (still lazy: it can be paginated)."""
    return queryset.values(*columns.values())


def as_row(values: dict, columns: Columns) -> dict:
    """One `select_columns` result under the API's field names."""
    return {name: values[column] for name, column in columns.items()}


def fetch_rows(queryset: QuerySet, columns: Columns) -> list[dict]:
    """Every row of `queryset` under the API's field names (one query)."""
    return [as_row(values, columns) for values in select_columns(queryset, columns)]
