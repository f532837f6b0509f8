"""OpenAPI schema: the project's AutoSchema and extensions (imported in `HedisPortalConfig.ready`).

Every operation documents the errors it can answer, each in the one error shape
`{"message": …, "extra": {…}}` (`hedis_portal.errors.ErrorResponseSerializer`), decided here once
from what the operation is rather than by each view:

- 400 when it takes input (a body or query parameters): invalid fields, unknown query parameters;
- 401, 403 and 404 when it needs a signed-in user (a path, body or query that names an object
  outside your contracts reads as not existing; a list's cursor that points at no page too);
- 409 when it writes with a body: a stale `version`, a value a unique constraint already holds,
  a change the object's current state does not allow (a workflow move), or other writes to the
  same rows under way (`DatabaseBusy`, with `Retry-After`);
- 413 when it takes a body (over `DATA_UPLOAD_MAX_MEMORY_SIZE`, or an endpoint's own cap);
- 429 (throttles) and 503 (database unavailable) everywhere.

A view may still declare an error status itself (with its own description); it keeps it.
"""

from decimal import Decimal

from django.conf import settings
from drf_spectacular import openapi
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import serializers

from hedis_portal.errors import DATABASE_UNAVAILABLE, ErrorResponseSerializer

# Each documented error status: its description and a real answer of the portal.
ERROR_RESPONSES = {
    "400": (
        "Invalid input: `extra.fields` names each invalid field or unknown query parameter.",
        {"message": "Validation error", "extra": {"fields": {"version": ["This field is required."]}}},
    ),
    "401": (
        "No valid token or session.",
        {"message": "Authentication credentials were not provided.", "extra": {}},
    ),
    "403": (
        "Your role does not allow this.",
        {"message": "You do not have permission to perform this action.", "extra": {}},
    ),
    "404": (
        "No such object within your contracts (another contract's objects read as not existing), "
        "or a cursor that points at no page.",
        {"message": "Not found.", "extra": {}},
    ),
    "409": (
        "Conflicts with what is stored: the object changed since you read it (reload it and send the "
        "new `version`), the value already exists, or its current state does not allow this change. "
        "Or other writes to the same rows were under way: nothing was written; send the same request "
        "again after the `Retry-After` seconds.",
        {
            "message": "This gap changed since you read it; reload it and try again.",
            "extra": {"current_version": 4, "your_version": 3},
        },
    ),
    "413": (
        "The request body is too large (`DATA_UPLOAD_MAX_MEMORY_SIZE`, or the endpoint's own cap).",
        {
            "message": f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.",
            "extra": {"max_bytes": settings.DATA_UPLOAD_MAX_MEMORY_SIZE},
        },
    ),
    "429": (
        "Too many requests; try again after the `Retry-After` seconds.",
        {"message": "Request was throttled. Expected available in 12 seconds.", "extra": {}},
    ),
    "503": (
        "The database is unavailable or did not answer in time; try again after the `Retry-After` seconds.",
        {"message": DATABASE_UNAVAILABLE, "extra": {}},
    ),
}


def decimal_pattern(*, whole_digits: int, places: int, min_value=None, max_value=None) -> str:
    """A regex for the decimal strings a DRF DecimalField accepts, its bounds included.

    drf-spectacular's pattern allows "", "-" and "." (no digit is required) and ignores
    `min_value`/`max_value`. Handled here: no bound or any lower bound below zero; a lower
    bound of 0 (no sign) or of the smallest positive step (e.g. 0.01: at least one digit is
    not 0); an upper bound of a power of ten (e.g. 100).
    """
    fraction = rf"(?:\.\d{{1,{places}}})?" if places else ""
    signed = min_value is None or min_value < 0
    if max_value is not None and min_value is not None and min_value >= 0 and _is_power_of_ten(max_value):
        digits = len(str(int(max_value))) - 1
        zeros = rf"(?:\.0{{1,{places}}})?" if places else ""
        return rf"^(?:{int(max_value)}{zeros}|\d{{1,{digits}}}{fraction})$"
    if min_value is not None and places and min_value == Decimal(1).scaleb(-places):
        nonzero_fractions = "|".join(
            rf"0{{{zeros}}}[1-9]\d{{0,{places - 1 - zeros}}}" for zeros in range(places)
        )
        return rf"^(?:[1-9]\d{{0,{whole_digits - 1}}}{fraction}|0?\.(?:{nonzero_fractions}))$"
    sign = "-?" if signed else ""
    return rf"^{sign}\d{{1,{max(whole_digits, 1)}}}{fraction}$"


def _is_power_of_ten(value) -> bool:
    value = Decimal(value)
    return value >= 1 and value == value.to_integral_value() and str(int(value)).rstrip("0") == "1"


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's AutoSchema with the error responses every operation can answer, decimal
    strings described as DRF reads them (`decimal_pattern`), and serializers' real examples."""

    def _map_basic_serializer(self, serializer, direction):
        """A serializer's cross-field rules, stated in its `schema_constraints`, join its request schema;
        its `schema_example`, a real answer of the portal, is its response schema's `example`.

        E.g. `{"minProperties": 1}`, or `anyOf` for "both or neither"; a `properties` entry is
        merged into that property's schema.
        """
        schema = super()._map_basic_serializer(serializer, direction)
        example = getattr(serializer, "schema_example", None)
        if example is not None and direction == "response":
            schema["example"] = example
        constraints = getattr(serializer, "schema_constraints", None)
        if constraints and direction == "request":
            for key, value in constraints.items():
                if key == "properties":
                    for name, extra in value.items():
                        schema["properties"][name].update(extra)
                else:
                    schema[key] = value
        return schema

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if (
            direction == "request"
            and isinstance(field, serializers.CharField)
            and not field.allow_blank
            and field.trim_whitespace
            and schema.get("type") == "string"
            and "pattern" not in schema
            and "enum" not in schema
        ):
            # DRF trims the value first, so text of spaces only is blank: one visible character needed.
            schema["pattern"] = r"\S"
        if (
            isinstance(field, serializers.DecimalField)
            and schema.get("format") == "decimal"
            and "pattern" in schema
        ):
            schema["pattern"] = decimal_pattern(
                whole_digits=field.max_whole_digits,
                places=field.decimal_places,
                min_value=field.min_value,
                max_value=field.max_value,
            )
        return schema

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        error = self.resolve_serializer(ErrorResponseSerializer, "response").ref
        responses = operation["responses"]
        for status in self._error_statuses(operation):
            description, example = ERROR_RESPONSES[status]
            documented = responses.setdefault(status, {"description": description})
            if "content" not in documented:
                documented["content"] = {
                    "application/json": {"schema": error, "examples": {"error": {"value": example}}}
                }
        operation["responses"] = dict(sorted(responses.items()))
        return operation

    def _error_statuses(self, operation: dict) -> list[str]:
        parameters = operation.get("parameters", [])
        has_body = "requestBody" in operation
        security = operation.get("security", [])
        needs_user = bool(security) and {} not in security
        statuses = []
        if has_body or any(parameter["in"] == "query" for parameter in parameters):
            statuses.append("400")
        if needs_user:
            statuses += ["401", "403", "404"]
        if needs_user and has_body:
            statuses.append("409")
        if has_body:
            statuses.append("413")
        return [*statuses, "429", "503"]


class AuditedTokenScheme(OpenApiAuthenticationExtension):
    """Documents our knox token authentication: `Authorization: Token <token>`."""

    target_class = "hedis_portal.audit.AuditedTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <token>`, from POST /api/auth/login/",
        }
