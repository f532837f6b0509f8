"""The care manager's worklist on the demo plan fits a 1366 × 768 screen, in Chromium."""

import pytest

from tests.browser import DEMO_PASSWORD, chromium, demo_loaded, log_in, watched  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo(db):
    demo_loaded("care.manager")


def test_the_worklist_fits_1366_pixels_with_every_column_on_screen(demo, watched, live_server):  # noqa: F811
    page = watched.page
    log_in(page, live_server, "care.manager", DEMO_PASSWORD)
    page.goto(f"{live_server.url}/admin/gaps/caregap/")

    assert page.evaluate("document.documentElement.scrollWidth") <= 1366
    results = page.locator("#changelist-form .results")
    assert page.evaluate("el => el.scrollWidth <= el.clientWidth", results.element_handle())
    headers = [text.strip().lower() for text in page.locator("#result_list thead th").all_inner_texts()]
    assert headers[-3:] == ["p(close)", "risk tier", "last outreach"]
    last = page.locator("#result_list thead th").last.bounding_box()
    assert last["x"] + last["width"] <= 1366
    # A measure reads as its code and name; a risk tier as the filter spells it.
    assert " – " in page.locator("#result_list .field-measure_code").first.inner_text()
    tiers = set(page.locator("#result_list td.field-risk_tier").all_inner_texts()) - {"-"}
    assert tiers and tiers <= {"Low", "Medium", "High"}
    assert page.locator("#changelist-filter").bounding_box()["x"] + 180 <= 1366
    assert watched.problems() == []
