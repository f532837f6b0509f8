"""Numbers for people: stars as "4.5 ★", rates as "67.3%", probabilities as "56%", money as "$24,917".

One place for how the admin and the Star Ratings console write a figure, so a page never shows
`58.000000` or `0.0000024264799876050347`. Each takes None (or "") and gives an em dash.
"""

from decimal import Decimal, InvalidOperation

MISSING = "—"
STAR = "★"


def _number(value) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _sign(number: Decimal) -> str:
    """A change's sign as people write it: +, − (a true minus) or ± for none."""
    return "+" if number > 0 else ("−" if number < 0 else "±")


def stars(value, places: int = 1) -> str:
    """A rating to `places` decimals, 4.0 → "4.0 ★"; a measure's star (an int) whole, 3 → "3 ★"."""
    number = _number(value)
    if number is None:
        return MISSING
    if isinstance(value, int):
        return f"{value} {STAR}"
    return f"{number:.{places}f} {STAR}"


def stars_change(value, places: int = 2) -> str:
    """A change in stars, signed: 0.45 → "+0.45 ★", -0.1 → "−0.10 ★"."""
    number = _number(value)
    if number is None:
        return MISSING
    return f"{_sign(number)}{abs(number):.{places}f} {STAR}"


def percent(value, places: int = 1) -> str:
    """A rate already in percent (0–100): 67.2841 → "67.3%"."""
    number = _number(value)
    if number is None:
        return MISSING
    return f"{number:,.{places}f}%"


def points(value, places: int = 1) -> str:
    """A difference of two rates in percentage points, signed: -9.2294 → "−9.2 pts"."""
    number = _number(value)
    if number is None:
        return MISSING
    return f"{_sign(number)}{abs(number):.{places}f} pts"


def probability(value) -> str:
    """A probability (0–1) in whole percent; never rounds a possibility to a certainty or to nothing.

    0.5612 → "56%", 0.0003 → "<1%", 0.9997 → ">99%", exactly 0 or 1 → "0%" or "100%".
    """
    number = _number(value)
    if number is None:
        return MISSING
    if number <= 0:
        return "0%"
    if number >= 1:
        return "100%"
    whole = (number * 100).quantize(Decimal(1))
    if whole < 1:
        return "<1%"
    if whole > 99:
        return ">99%"
    return f"{whole}%"


def money(value) -> str:
    """Dollars: 24917 → "$24,917", 12.5 → "$12.50" (cents only when there are some)."""
    number = _number(value)
    if number is None:
        return MISSING
    sign = "−" if number < 0 else ""
    number = abs(number)
    if number == number.to_integral_value():
        return f"{sign}${int(number):,}"
    return f"{sign}${number:,.2f}"


def count(value) -> str:
    """A whole count with thousands separators: 20219 → "20,219"."""
    number = _number(value)
    if number is None:
        return MISSING
    return f"{int(number):,}"


def matched_of(matched: int, compared: int, places: int = 2) -> str:
    """A comparison's matches as the verification commands print them: "715 of 720 (99.31%)",
    or "none compared"."""
    if not compared:
        return "none compared"
    return f"{matched} of {compared} ({100 * matched / compared:.{places}f}%)"


def decimal(value, places: int = 2) -> str:
    """A plain figure to `places` decimals, thousands separated: 4.0519 → "4.05"."""
    number = _number(value)
    if number is None:
        return MISSING
    return f"{number:,.{places}f}"


def significant(value, digits: int = 3) -> str:
    """A figure to `digits` significant digits, never in scientific notation: 6.2e-05 → "0.000062",
    0.012345 → "0.0123", 1234.5 → "1,230", 0 → "0"."""
    number = _number(value)
    if number is None:
        return MISSING
    if not number:
        return "0"
    rounded = Decimal(f"{number:.{digits}g}").normalize()
    places = max(-rounded.as_tuple().exponent, 0)
    return f"{rounded:,.{places}f}"
