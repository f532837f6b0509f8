"""Headless Chromium for tests (Playwright driving Debian's /usr/bin/chromium, never a download)."""

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
