"""The Content-Security-Policy holds on every kind of page, in a real browser, with no violation."""

import pytest

from hedis_portal import roles
from tests.browser import CSP_LISTENER, chromium, csp_violations, log_in  # noqa: F401 (fixture)
from tests.factories import CareGapFactory, ContractFactory, MemberFactory, UserFactory

# The live server reads the test database from another thread, so these tests commit; the flush
# after each runs post_migrate again, which puts back the roles and the measure catalog.
pytestmark = pytest.mark.django_db(transaction=True)


def _policy(response) -> dict[str, set[str]]:
    """The Content-Security-Policy header as directive → sources (django-csp orders neither)."""
    parts = (part.split() for part in response["Content-Security-Policy"].split(";"))
    return {name: set(sources) for name, *sources in parts}


def test_header_names_only_the_portals_own_origin(client):
    assert _policy(client.get("/admin/login/")) == {
        "default-src": {"'none'"},
        "script-src": {"'self'"},
        "style-src": {"'self'"},
        "img-src": {"'self'", "data:"},
        "font-src": {"'self'"},
        "connect-src": {"'self'"},
        "manifest-src": {"'self'"},
        "form-action": {"'self'"},
        "base-uri": {"'none'"},
        "frame-ancestors": {"'none'"},
    }


def test_browsable_api_alone_may_use_inline_styles_never_inline_scripts(api, client, care_manager):
    client.force_login(care_manager)
    html = _policy(client.get("/api/gaps/", HTTP_ACCEPT="text/html"))
    json = _policy(api(care_manager).get("/api/gaps/"))
    assert (html["style-src"], html["script-src"]) == ({"'self'", "'unsafe-inline'"}, {"'self'"})
    assert (json["style-src"], json["script-src"]) == ({"'self'"}, {"'self'"})


def test_admin_api_docs_and_browsable_api_load_with_no_violation(live_server, chromium):  # noqa: F811
    contract = ContractFactory(contract_id="H1001")
    member = MemberFactory(contract=contract)
    gap = CareGapFactory(member=member)
    UserFactory(username="admin", role=roles.ADMINISTRATOR, contracts=[contract])
    pages = [
        "/admin/",
        "/admin/gaps/caregap/",
        f"/admin/gaps/caregap/{gap.pk}/change/",
        f"/admin/members/member/{member.pk}/change/",
        "/admin/interventions/intervention/add/",
        "/api/docs/",
        "/api/",
        "/api/me/",
        "/api/gaps/",
        f"/api/members/{member.pk}/",
    ]
    context = chromium.new_context()
    context.add_init_script(CSP_LISTENER)
    page = context.new_page()
    console = []
    page.on("console", lambda message: console.append(f"{message.text} {message.location.get('url')}"))
    log_in(page, live_server, "admin", "test-password")
    violations = {}
    for path in pages:
        response = page.goto(f"{live_server.url}{path}")
        assert response.status == 200, path
        page.wait_for_load_state("networkidle")
        if path == "/api/docs/":
            # Swagger UI draws the operations only if its scripts ran and the schema loaded.
            page.wait_for_selector(".opblock")
            assert page.locator(".opblock").count() > 20
        violations[path] = csp_violations(page)
    context.close()
    assert violations == {path: [] for path in pages}
    assert [text for text in console if "Content Security Policy" in text] == []
    # Nothing the pages ask for is missing (the browser's own icon request included).
    assert [text for text in console if "Failed to load resource" in text] == []


def test_every_admin_list_and_add_page_loads_with_no_violation(live_server, chromium):  # noqa: F811
    contract = ContractFactory(contract_id="H1001")
    CareGapFactory(member=MemberFactory(contract=contract))
    UserFactory(username="root", is_superuser=True)
    context = chromium.new_context()
    context.add_init_script(CSP_LISTENER)
    page = context.new_page()
    log_in(page, live_server, "root", "test-password")
    links = page.eval_on_selector_all(
        "#content-main a[href^='/admin/']", "anchors => anchors.map(a => a.getAttribute('href'))"
    )
    assert len(links) > 20
    violations = {}
    for path in sorted(set(links)):
        response = page.goto(f"{live_server.url}{path}")
        assert response.status == 200, path
        violations[path] = csp_violations(page)
    context.close()
    assert violations == {path: [] for path in violations}
