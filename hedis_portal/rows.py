"""API rows read as plain values: for hot read paths where model instances cost more than the query.

A row is described by a mapping from the API's field name to the column it comes from (a
`values()` path, joins included), derived from the serializer that documents the row
(`serializer_columns`), so the schema and the fast rows have one definition; tests compare the
rows with that serializer's output.
"""

from collections.abc import Callable

from django.db import connections, router
from django.db.models import QuerySet
from rest_framework import serializers

Columns = dict[str, str]


def serializer_columns(serializer_class: type[serializers.Serializer]) -> Columns:
    """`serializer_class`'s flat fields as `{field name: values() path}`, read from each field's source.

    A dotted source follows its relations (`current_prediction.probability`); a related field
    shows the related row's slug (`contract` → `contract__contract_id`) or its key, read from
    the foreign key column without a join (`member` → `member_id`). Nested serializers are not
    columns: the caller reads them separately.
    """
    columns = {}
    for name, field in serializer_class().fields.items():
        if isinstance(field, serializers.BaseSerializer):
            continue
        path = field.source.replace(".", "__")
        if isinstance(field, serializers.SlugRelatedField):
            path = f"{path}__{field.slug_field}"
        elif isinstance(field, serializers.PrimaryKeyRelatedField):
            path = f"{path}_id"
        columns[name] = path
    return columns


def select_columns(queryset: QuerySet, columns: Columns) -> QuerySet:
    """`queryset` as `values()` of exactly `columns` (still lazy: it can be paginated)."""
    return queryset.values(*columns.values())


def as_row(values: dict, columns: Columns) -> dict:
    """One `select_columns` result under the API's field names."""
    return {name: values[column] for name, column in columns.items()}


class RowQuery:
    """A row query whose SQL is compiled once per database, then run with new primary keys.

    Building a queryset with joins and compiling it costs about a millisecond of Python, more
    than PostgreSQL takes to run a member's gaps. A page that runs the same query on every
    request with only its keys changing compiles `build(**keys)` once, with a marker number
    standing in for each key, and later calls bind their keys where the markers were. Rows pass
    through the same converters as `values()` (JSON, and SQLite's dates and decimals), so
    `fetch(**keys)` equals `as_row` of each row of `select_columns(build(**keys), columns)`.

    `build` must compare each key to a primary or foreign key with a plain equality: a marker
    (a negative number no key has) that does not reach the SQL's parameters unchanged is an
    error at first use.
    """

    # Far apart, so that a key shifted by arithmetic in `build` cannot land on another's marker.
    _MARKER_BASE, _MARKER_STEP = -1_900_000_000, 10_000_000

    def __init__(self, build: Callable[..., QuerySet], columns: Columns):
        self.build = build
        self.columns = columns
        self._names = tuple(columns)
        self._compiled: dict[str, tuple] = {}  # by database alias
        self._model = None

    def fetch(self, **keys: int) -> list[dict]:
        """The rows for `keys`, under the API's field names (one query)."""
        compiled = self._compiled.get(router.db_for_read(self._model)) if self._model else None
        alias, sql, params, converters = compiled or self._compile(keys)
        connection = connections[alias]
        with connection.cursor() as cursor:
            cursor.execute(sql, [keys[p] if isinstance(p, _Key) else p for p in params])
            rows = cursor.fetchall()
        names = self._names
        if not converters:
            return [dict(zip(names, row, strict=True)) for row in rows]
        converted = []
        for row in rows:
            values = list(row)
            for position, (functions, expression) in converters:
                value = values[position]
                for function in functions:
                    value = function(value, expression, connection)
                values[position] = value
            converted.append(dict(zip(names, values, strict=True)))
        return converted

    def _compile(self, keys: dict[str, int]) -> tuple:
        """Compile `build` for the database the router reads its model from, with markers for keys."""
        markers = {
            name: self._MARKER_BASE - index * self._MARKER_STEP for index, name in enumerate(sorted(keys))
        }
        by_marker = {marker: _Key(name) for name, marker in markers.items()}
        queryset = select_columns(self.build(**markers), self.columns)
        self._model, alias = queryset.model, queryset.db
        compiler = queryset.query.get_compiler(using=alias)
        sql, raw_params = compiler.as_sql()
        params = [by_marker.get(p, p) if isinstance(p, int) else p for p in raw_params]
        missing = sorted(set(markers) - {p for p in params if isinstance(p, _Key)})
        if missing:
            raise ValueError(f"RowQuery: keys {missing} do not reach the query's parameters unchanged")
        selected = [column for column, _, _ in compiler.select[: compiler.col_count]]
        converters = list(compiler.get_converters(selected).items())
        self._compiled[alias] = (alias, sql, params, converters)
        return self._compiled[alias]


class _Key(str):
    """A key's name where its marker stood in the compiled parameters."""
