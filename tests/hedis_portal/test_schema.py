"""The OpenAPI schema builds without warnings and validates, and the offline docs are served."""

import pytest
from django.core.management import call_command


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
