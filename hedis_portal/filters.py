"""The base of every API filter set, and the ordering backend: both strict about their query parameters."""

import re
from decimal import Decimal

import django_filters
from django import forms
from django.db import models
from django.db.models import Value
from django_filters.constants import EMPTY_VALUES
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema_field
from rest_framework import filters
from rest_framework.exceptions import ValidationError
from rest_framework.settings import api_settings

from hedis_portal.pagination import IdCursorPagination

# Query parameters a list reads besides its filters: ordering, the page, the renderer.
NON_FILTER_PARAMETERS = frozenset(
    {
        api_settings.ORDERING_PARAM,
        IdCursorPagination.cursor_query_param,
        IdCursorPagination.page_size_query_param,
        api_settings.URL_FORMAT_OVERRIDE,
    }
)
BOOLEANS = frozenset({"true", "false"})


# The largest value of a bigint column (every id): a larger number names nothing, and would
# overflow the database driver (SQLite raises OverflowError; Django guards only plain integer fields).
MAX_ID = 2**63 - 1


@extend_schema_field({"type": "integer", "minimum": -MAX_ID, "maximum": MAX_ID})
class IntegerFilter(django_filters.NumberFilter):
    """A whole number (django-filter's NumberFilter takes any decimal: `?star_year=0.5` matched nothing)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", -MAX_ID)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


@extend_schema_field({"type": "number", "minimum": -1e50, "maximum": 1e50})
class NumberFilter(django_filters.NumberFilter):
    """django-filter's NumberFilter (a decimal at most 1e50) bounded below too, both bounds documented."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", Decimal("-1e50"))
        super().__init__(*args, **kwargs)


# What a choice written into SQL may look like: the portal's choice values are lower-case words.
_CHOICE_VALUE = re.compile(r"[a-z_]{1,40}")


class ChoiceLiteral(Value):
    """A choice value written into the statement as a literal rather than bound as a parameter.

    psycopg prepares a statement after a few executions and PostgreSQL may then reuse one
    generic plan for every value of its parameters, planned for an average value. For a column
    of a few choices of very different frequency that plan suits none of the rare ones: the
    worklist by id for a state no gap of the plan is in walked every gap of the contract (0.3 s
    at 1.32 million gaps; planned for the value, 0.5 ms). Written in, each value is its own
    statement with its own plan. Only a value the filter's form accepted reaches here; anything
    but a lower-case word is refused all the same.
    """

    def as_sql(self, compiler, connection):
        if not isinstance(self.value, str) or not _CHOICE_VALUE.fullmatch(self.value):
            raise ValueError(f"Not a choice value: {self.value!r}")
        return f"'{self.value}'", []


class ChoiceFilter(django_filters.ChoiceFilter):
    """django-filter's ChoiceFilter, its value written into the statement (`ChoiceLiteral`)."""

    def filter(self, qs, value):
        if value in EMPTY_VALUES or value == self.null_value:
            return super().filter(qs, value)
        return super().filter(qs, ChoiceLiteral(value))


class MultipleChoiceFilter(django_filters.MultipleChoiceFilter):
    """django-filter's MultipleChoiceFilter, each value written into the statement (`ChoiceLiteral`)."""

    def get_filter_predicate(self, v):
        ((lookup, value),) = super().get_filter_predicate(v).items()
        return {lookup: value if value is None else ChoiceLiteral(value)}


class FilterSet(django_filters.FilterSet):
    """django-filter's FilterSet, strict about its query parameters, with its form class built once.

    django-filter is lenient for HTML forms: it ignores unknown parameters, empty values and
    booleans it cannot read, and takes the last of repeated values, so a misspelt or malformed
    filter quietly returns every row. Here each of those is a 400 naming the parameter: an
    unknown parameter; a repeated one (except the multiple-choice filters); an empty value
    (except free-text filters, where "" means no filter); a boolean other than true or false.
    Integer model fields filter by whole numbers (`IntegerFilter`).

    django-filter builds a new form class, field by field, on every request, a visible share of
    a worklist page's time. None of the portal's filters depend on the request, so the class built
    for the first request serves every later one; each request still gets its own form.
    """

    def get_form_class(self):
        filterset = type(self)
        if "_form_class" not in filterset.__dict__:
            filterset._form_class = super().get_form_class()
        return filterset._form_class

    FILTER_DEFAULTS = {
        **django_filters.filterset.FILTER_FOR_DBFIELD_DEFAULTS,
        **{
            field: {"filter_class": IntegerFilter}
            for field in [models.IntegerField, *django_filters.filterset.FILTER_FOR_DBFIELD_DEFAULTS]
            if issubclass(field, models.IntegerField)
        },
    }

    def is_valid(self):
        valid = super().is_valid()
        for name, problem in self._parameter_problems():
            self.form.errors[name] = self.form.error_class([problem])
            valid = False
        return valid

    def _parameter_problems(self):
        for name in sorted(set(self.data)):
            values = self.data.getlist(name)
            query_filter = self.filters.get(name)
            if query_filter is None:
                if name not in NON_FILTER_PARAMETERS:
                    yield name, f"Unknown query parameter; filters: {', '.join(sorted(self.filters))}."
                elif len(values) > 1:
                    yield name, "Give this parameter once."
            elif len(values) > 1 and not isinstance(query_filter, django_filters.MultipleChoiceFilter):
                yield name, "Give this parameter once."
            elif "" in values and not isinstance(query_filter, django_filters.CharFilter):
                yield name, "A value is required."
            elif isinstance(query_filter, django_filters.BooleanFilter) and values[0].lower() not in BOOLEANS:
                yield name, "Must be true or false."


class ListFilterBackend(DjangoFilterBackend):
    """django-filter's backend for lists (and exports) only: one object's route ignores the list's filters.

    DRF filters `get_object()` too, so `/api/gaps/5/?measure=COL` was a 404 and a detail
    action's own query parameters (e.g. `rank?measure=C01`) were refused as unknown filters.
    """

    def filter_queryset(self, request, queryset, view):
        if getattr(view, "detail", False):
            return queryset
        return super().filter_queryset(request, queryset, view)


class OrderingFilter(filters.OrderingFilter):
    """`?ordering=a,-b` over the view's `ordering_fields` (else the fields of its default `ordering`).

    An unknown field is a 400 naming it, not silently the default order; the schema lists the
    allowed values. An ordering that does not name the primary key gets it last, in the direction
    of the last term: cursor pages over tied values (a million gaps at priority 0, predictions of
    equal probability) are stable only in a total order.
    """

    def get_valid_fields(self, queryset, view, context=None):
        return [(name, name) for name in self._field_names(view)]

    def get_ordering(self, request, queryset, view):
        requested = request.query_params.get(self.ordering_param)
        if requested is None or getattr(view, "detail", False):
            default = self.get_default_ordering(view)
            return default and self._total(default, queryset)
        terms = [term.strip() for term in requested.split(",")]
        allowed = self._field_names(view)
        unknown = [term for term in terms if term.removeprefix("-") not in allowed]
        if unknown:
            raise ValidationError(
                {
                    self.ordering_param: [
                        f"Cannot order by {', '.join(map(repr, unknown))}; "
                        f"use {', '.join(allowed) or 'nothing'} (a leading - for descending)."
                    ]
                }
            )
        return self._total(terms, queryset)

    @staticmethod
    def _total(terms, queryset) -> list[str]:
        """`terms` with the primary key last unless they name it already."""
        key = queryset.model._meta.pk.name
        if key in {term.removeprefix("-") for term in terms}:
            return list(terms)
        return [*terms, f"-{key}" if terms[-1].startswith("-") else key]

    def get_schema_operation_parameters(self, view):
        names = self._field_names(view)
        if not names:
            return []
        return [
            {
                "name": self.ordering_param,
                "required": False,
                "in": "query",
                "description": "Comma-separated fields to order by; a leading - for descending.",
                "schema": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "string",
                        "enum": [f"{sign}{name}" for name in names for sign in ("", "-")],
                    },
                },
                "style": "form",
                "explode": False,
            }
        ]

    @staticmethod
    def _field_names(view) -> list[str]:
        names = getattr(view, "ordering_fields", None)
        if names is None:
            default = getattr(view, "ordering", None) or []
            names = [term.removeprefix("-") for term in ([default] if isinstance(default, str) else default)]
        return list(dict.fromkeys(names))
