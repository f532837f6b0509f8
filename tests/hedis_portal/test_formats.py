"""Figures for people: every formatter on the values the portal meets, missing ones as a dash."""

from decimal import Decimal

import pytest

from hedis_portal import formats


@pytest.mark.parametrize(
    ("formatter", "value", "text"),
    [
        (formats.stars, 4.5, "4.5 ★"),
        (formats.stars, 4.0, "4.0 ★"),
        (formats.stars, Decimal("3.5"), "3.5 ★"),
        (formats.stars, "4.0", "4.0 ★"),
        (formats.stars, 3, "3 ★"),
        (formats.stars, None, "—"),
        (formats.stars_change, 0.44795, "+0.45 ★"),
        (formats.stars_change, -0.1, "−0.10 ★"),
        (formats.stars_change, 0, "±0.00 ★"),
        (formats.percent, 67.28412, "67.3%"),
        (formats.percent, Decimal("58.000000"), "58.0%"),
        (formats.percent, "", "—"),
        (formats.points, -9.2294, "−9.2 pts"),
        (formats.points, 4.303, "+4.3 pts"),
        (formats.probability, 0.5612, "56%"),
        (formats.probability, 0.0003, "<1%"),
        (formats.probability, 0.9997, ">99%"),
        (formats.probability, 0.0, "0%"),
        (formats.probability, 1.0, "100%"),
        (formats.probability, 0.0000024264799876050347, "<1%"),
        (formats.money, 24917, "$24,917"),
        (formats.money, Decimal("12.50"), "$12.50"),
        (formats.money, Decimal("25000.00"), "$25,000"),
        (formats.money, -40, "−$40"),
        (formats.count, 20219, "20,219"),
        (formats.decimal, 4.0519, "4.05"),
        (formats.decimal, "not a number", "—"),
    ],
)
def test_each_figure_reads_as_a_person_would_write_it(formatter, value, text):
    assert formatter(value) == text


def test_places_are_the_callers():
    assert (formats.stars(4.0519, 2), formats.percent(67.28412, 2), formats.decimal(58, 0)) == (
        "4.05 ★",
        "67.28%",
        "58",
    )


def test_a_comparisons_matches_read_as_the_verification_commands_print_them():
    assert (formats.matched_of(715, 720), formats.matched_of(69, 86, places=1), formats.matched_of(0, 0)) == (
        "715 of 720 (99.31%)",
        "69 of 86 (80.2%)",
        "none compared",
    )


def test_templates_have_every_formatter_as_a_filter():
    from django.template import engines

    template = engines["django"].from_string(
        "{% load portal_formats %}{{ r|stars }} {{ c|stars_change }} {{ p|percent }} {{ g|points }} "
        "{{ q|probability }} {{ m|money }} {{ n|count }} {{ d|decimal:1 }}"
    )
    context = {"r": 3.5, "c": 0.5, "p": 70, "g": -1, "q": 0.25, "m": 10000, "n": 1234, "d": 2.26}
    assert template.render(context) == "3.5 ★ +0.50 ★ 70.0% −1.0 pts 25% $10,000 1,234 2.3"
