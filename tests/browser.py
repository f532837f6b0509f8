"""Headless Chromium for tests (Playwright driving Debian's /usr/bin/chromium, never a download)."""

import os
import shutil

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Without these, Chromium tries to reach Google's services at start-up; this machine has no internet.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def chromium():
    """One headless Chromium for a test module."""
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running on this thread, and Django then refuses
    # ORM calls from it as if they came from async code; the test's own ORM calls are synchronous.
    # Module scope: the loop and the setting end with the browser tests, not with the session.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()


# Collects every Content-Security-Policy violation the page reports, in page order.
CSP_LISTENER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  const where = `${event.sourceFile}:${event.lineNumber}`;
  window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI} ${where}`);
});
"""


def csp_violations(page) -> list[str]:
    """The violations the page has reported, once the events queued during its load have fired."""
    return page.evaluate("new Promise(done => setTimeout(() => done(window.__cspViolations), 50))")


def log_in(page, live_server, username: str, password: str) -> None:
    """Sign in through the admin's own login form, as a person would."""
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")


class WatchedPage:
    """A page whose every request, response and console message is watched, as a user's would be.

    `problems()` lists what a user should never meet: a console error, a request to any host
    but the test server, a 4xx/5xx answer to a page asset. On failure, `screenshot(name)` saves
    the page under `test-results/` for the reader of the CI log.
    """

    def __init__(self, page, live_server):
        self.page = page
        self.origin = live_server.url
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        page.on("request", self._request)
        page.on("response", self._response)

    def _console(self, message) -> None:
        if message.type == "error":
            self.errors.append(f"console error: {message.text}")

    def _request(self, request) -> None:
        if not request.url.startswith((self.origin, "data:", "blob:")):
            self.errors.append(f"request to another host: {request.url}")

    def _response(self, response) -> None:
        if response.status >= 400 and response.request.resource_type != "document":
            self.errors.append(f"{response.status} for {response.url}")

    def problems(self) -> list[str]:
        return [*self.errors, *csp_violations(self.page)]

    def chart_series(self, chart_id: str) -> list[dict]:
        """The datasets Chart.js drew on the canvas of the chart `chart_id`: label and data each."""
        return self.page.evaluate(
            """id => {
              const canvas = document.querySelector(`#${id} canvas`);
              const chart = canvas && window.Chart && window.Chart.getChart(canvas);
              return chart ? chart.data.datasets.map(d => ({label: d.label, data: d.data})) : null;
            }""",
            chart_id,
        )

    def screenshot(self, name: str) -> str:
        path = f"test-results/{name}.png"
        os.makedirs("test-results", exist_ok=True)
        self.page.screenshot(path=path, full_page=True)
        return path


@pytest.fixture
def watched(chromium, live_server, request):
    """A fresh browser context and a `WatchedPage` at 1366 × 768; a failing test leaves a screenshot."""
    context = chromium.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    page.add_init_script(CSP_LISTENER)
    watched_page = WatchedPage(page, live_server)
    yield watched_page
    if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
        watched_page.screenshot(request.node.name)
    context.close()


DEMO_PASSWORD = "walk-the-demo-plan-1"


def demo_loaded(*usernames: str) -> dict:
    """The demo plan loaded (`load_demo_data`), its users of these names signing in with
    `DEMO_PASSWORD`: the users by name."""
    from django.contrib.auth.models import User
    from django.core.management import call_command

    call_command("load_demo_data")
    users = {}
    for username in usernames:
        users[username] = User.objects.get(username=username)
        users[username].set_password(DEMO_PASSWORD)
        users[username].save()
    return users
