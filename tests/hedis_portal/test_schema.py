"""The OpenAPI schema builds without warnings and validates, and the offline docs are served."""

import importlib
import inspect
import pkgutil
import re
from decimal import Decimal

import pytest
from django.core.exceptions import FieldDoesNotExist
from django.core.management import call_command
from drf_spectacular.generators import SchemaGenerator
from rest_framework import serializers

from hedis_portal.schema import decimal_pattern


def test_openapi_schema_generates_without_warnings_and_validates(tmp_path):
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    schema = target.read_text()
    for path in ["/api/members/lookup/", "/api/gaps/", "/api/gaps/import/", "/api/predictions/bulk/"]:
        assert f"  {path}:" in schema


@pytest.mark.django_db
def test_docs_page_loads_its_assets_from_our_own_static_files(client):
    page = client.get("/api/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle" in page
    assert "cdn" not in page.lower()


def _generated_schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def test_every_error_response_is_the_one_error_shape():
    schema = _generated_schema()
    error = {"$ref": "#/components/schemas/ErrorResponse"}
    assert sorted(schema["components"]["schemas"]["ErrorResponse"]["required"]) == ["extra", "message"]
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            statuses = set(operation["responses"])
            assert {"429", "503"} <= statuses, (method, path)
            if operation.get("security") and {} not in operation["security"]:
                assert {"401", "403", "404"} <= statuses, (method, path)
            if "requestBody" in operation:
                assert {"400", "413"} <= statuses, (method, path)
            for status, response in operation["responses"].items():
                if status >= "400":
                    assert response["content"]["application/json"]["schema"] == error, (method, path, status)


def test_writes_with_a_version_document_the_409_of_a_stale_one():
    paths = _generated_schema()["paths"]
    for path in [
        "/api/gaps/{id}/assign/",
        "/api/gaps/{id}/transition/",
        "/api/interventions/{id}/transition/",
    ]:
        assert "409" in paths[path]["post"]["responses"]


def test_every_bulk_list_of_gaps_is_capped():
    components = _generated_schema()["components"]["schemas"]
    for name in ["GapBulkAssignRequest", "GapBulkTransitionRequest", "InterventionBulkCreateRequest"]:
        assert components[name]["properties"]["gaps"]["maxItems"] == 1000
    assert components["OutcomesRequest"]["properties"]["outcomes"]["maxProperties"] == 1000


def _api_modules():
    """Every module that defines API serializers: each app's `api` module or `api` package's modules."""
    for app in ["gaps", "interventions", "members", "predictions", "ratings", "console"]:
        api = importlib.import_module(f"{app}.api")
        yield api
        for info in pkgutil.iter_modules(getattr(api, "__path__", [])):
            yield importlib.import_module(f"{api.__name__}.{info.name}")


def test_response_fields_that_can_be_null_or_blank_say_so():
    """A read-only field whose model field (or a relation on its way) is nullable is nullable in the
    schema, and a read-only choice of a `blank=True` field admits "" (both lose it by default)."""
    problems = []
    for api in _api_modules():
        for name, serializer in inspect.getmembers(api, inspect.isclass):
            if not issubclass(serializer, serializers.ModelSerializer) or not hasattr(serializer, "Meta"):
                continue
            for field_name, field in serializer().fields.items():
                model, nullable, model_field = serializer.Meta.model, False, None
                for part in (field.source if field.source != "*" else field_name).split("."):
                    try:
                        model_field = model._meta.get_field(part)
                    except FieldDoesNotExist:
                        model_field = None
                        break
                    nullable = nullable or (model_field.null and not model_field.one_to_many)
                    model = model_field.related_model or model
                if model_field is None or model_field.one_to_many or field.write_only:
                    continue
                if nullable and not field.allow_null:
                    problems.append(f"{name}.{field_name}: nullable")
                blank_choice = model_field.choices and model_field.blank
                if blank_choice and isinstance(field, serializers.ChoiceField) and not field.allow_blank:
                    problems.append(f"{name}.{field_name}: blank")
    assert problems == []


@pytest.mark.parametrize(
    ("bounds", "accepted", "refused"),
    [
        (
            {"whole_digits": 6, "places": 6},
            ["0", "-1", "123456.123456", "1.5"],
            ["", "-", ".", "1.", "1234567"],
        ),
        ({"whole_digits": 7, "places": 2, "min_value": 0}, ["0", "0.00", "12.5"], ["-1", "1.234", ".5"]),
        (
            {"whole_digits": 3, "places": 2, "min_value": 0, "max_value": 100},
            ["0", "99.99", "100", "100.00"],
            ["100.01", "101", "-0.5"],
        ),
        (
            {"whole_digits": 10, "places": 2, "min_value": Decimal("0.01")},
            ["0.01", "0.1", ".5", "1", "9999999999.99"],
            ["0", "0.00", "-1", "0.001"],
        ),
    ],
)
def test_decimal_strings_are_described_with_their_bounds(bounds, accepted, refused):
    pattern = re.compile(decimal_pattern(**bounds))
    assert [value for value in accepted if not pattern.search(value)] == []
    assert [value for value in refused if pattern.search(value)] == []
