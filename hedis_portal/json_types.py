"""A JSON body's values must have the JSON type the schema gives them.

DRF's fields also read HTML forms, whose values are all text, so they coerce: `CharField`
takes 0 as "0", `IntegerField` takes "5", `FloatField` takes "0.5", `BooleanField` takes "yes"
and 1, `DecimalField` takes a number where the schema says a decimal string. The API reads
JSON only (`DEFAULT_PARSER_CLASSES`), and its schema promises those types; a request of the
wrong type must be refused (400), not guessed at.

`install()` (from `HedisPortalConfig.ready`) makes those five field classes, and so every
subclass, check the JSON type first when the value came from a parsed JSON body. Values from
a query string or a multipart form (a `QueryDict`) are text and are read as before.
"""

from collections.abc import Callable

from django.http import QueryDict
from rest_framework import serializers


def _is_text(value) -> bool:
    return isinstance(value, str)


def _is_integer(value) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, float) and value.is_integer()
    )


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_boolean(value) -> bool:
    return isinstance(value, bool)


# Each field class, what its JSON value must be, and how to say so.
JSON_TYPES: list[tuple[type[serializers.Field], Callable[[object], bool], str]] = [
    (serializers.CharField, _is_text, "Must be a string."),
    (serializers.DecimalField, _is_text, 'Must be a decimal number written as a string, e.g. "12.50".'),
    (serializers.IntegerField, _is_integer, "Must be a whole number."),
    (serializers.FloatField, _is_number, "Must be a number."),
    (serializers.BooleanField, _is_boolean, "Must be true or false."),
]


def _from_json(field: serializers.Field) -> bool:
    """Whether the value being read comes from a JSON body (not a query string or a form)."""
    initial = getattr(field.root, "initial_data", None)
    return initial is not None and not isinstance(initial, QueryDict)


def _checking(to_internal_value, accepts: Callable[[object], bool], message: str):
    def checked(self, data):
        if _from_json(self) and not accepts(data):
            raise serializers.ValidationError(message, code="invalid")
        return to_internal_value(self, data)

    checked.json_type_checked = True
    return checked


def install() -> None:
    """Make DRF's primitive fields check a JSON value's type before reading it (idempotent)."""
    for field_class, accepts, message in JSON_TYPES:
        original = field_class.__dict__["to_internal_value"]
        if not getattr(original, "json_type_checked", False):
            field_class.to_internal_value = _checking(original, accepts, message)
