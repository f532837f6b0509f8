"""Sentences that explain a Part C, Part D or overall rating in CMS's terms.

Each takes the live rating's `rating_dict` (both improvement paths with every intermediate) and,
for the reward factor, the Tables 8-9 thresholds of each calculation, and says what a reader
needs to trust the figure: the weighted mean of how many measures, which improvement-measure
path CMS used and why ('Applying the Improvement Measure(s)'), the reward factor and why, the
CAI, and the value before rounding with its half star (Table 22: x.25 and x.75 round up).
"""

from decimal import Decimal

from hedis_portal import formats
from ratings.cms.engine import round_to_half_star
from ratings.cms.methodology import Methodology

# Which (mean, variance) categories earn which reward factor ('Applying the Reward Factor').
MEAN_CATEGORIES = (("mean_high", "85th"), ("mean_relatively_high", "65th"))


def signed(value, places: int) -> str:
    """A signed figure with a true minus sign: -0.040422 → "−0.040", 0.1 → "+0.1"."""
    number = Decimal(str(value))
    sign = "−" if number < 0 else "+"
    return f"{sign}{formats.decimal(abs(number), places)}"


def before_rounding(value, methodology: Methodology) -> str:
    """The value before rounding with just enough decimals that it does not seem to round otherwise
    under the methodology's half-star bands (Table 22 in 2026: x.25 and x.75 round up).

    3.748103 at two decimals reads 3.75, which would round up to 4.0 ★; three decimals (3.748) do not.
    """
    actual = round_to_half_star(Decimal(str(value)), methodology)
    for places in range(2, 7):
        shown = formats.decimal(value, places)
        if round_to_half_star(Decimal(shown.replace(",", "")), methodology) == actual:
            return shown
    return formats.decimal(value, 6)


def _mean_clause(calculation: dict) -> str:
    return (
        f"the weighted mean of {calculation['measure_count']} measures' stars "
        f"(weights summing to {formats.decimal(calculation['weight_sum'], 0)}) "
        f"is {formats.decimal(calculation['weighted_mean'], 2)}"
    )


def _reward_reason(calculation: dict, thresholds: dict | None) -> str:
    """Why the reward factor is what it is, from the mean and variance against Tables 8-9."""
    mean, variance = Decimal(str(calculation["weighted_mean"])), calculation["weighted_variance"]
    reward = Decimal(str(calculation["reward_factor"]))
    if thresholds is None:
        return f"a {formats.decimal(reward, 1)} reward factor" if reward else "no reward factor"
    reached = [
        (Decimal(str(thresholds[key])), percentile)
        for key, percentile in MEAN_CATEGORIES
        if mean >= Decimal(str(thresholds[key]))
    ]
    if not reached:
        return (
            "no reward factor (the mean is below the 65th percentile, "
            f"{formats.decimal(thresholds['mean_relatively_high'], 2)})"
        )
    threshold, percentile = reached[0]
    mean_text = f"mean at or above the {percentile} percentile, {formats.decimal(threshold, 2)}"
    if variance is None:
        return f"no reward factor (one measure has no variance; {mean_text})"
    variance = Decimal(str(variance))
    high_from = Decimal(str(thresholds["variance_high_from"]))
    if variance >= high_from:
        return (
            f"no reward factor: {mean_text}, but the variance {formats.decimal(variance, 2)} is at or "
            f"above the 70th percentile, {formats.decimal(high_from, 2)}"
        )
    low_below = Decimal(str(thresholds["variance_low_below"]))
    below, percentile = (low_below, "30th") if variance < low_below else (high_from, "70th")
    variance_text = (
        f"variance {formats.decimal(variance, 2)} below the {percentile} percentile, "
        f"{formats.decimal(below, 2)}"
    )
    return f"a {formats.decimal(reward, 1)} reward factor ({mean_text}; {variance_text})"


def _calculation_sum(calculation: dict, thresholds: dict | None, methodology: Methodology) -> str:
    """ "the weighted mean … is 3.59, a 0.1 reward factor (…), CAI −0.040: 3.651"."""
    value = before_rounding(calculation["value_before_rounding"], methodology)
    return (
        f"{_mean_clause(calculation)}, {_reward_reason(calculation, thresholds)}, CAI "
        f"{signed(calculation['cai'], 3)}: {value}"
    )


def _improvement_reason(rating: dict, other: dict, methodology: Methodology) -> str:
    """Which improvement path CMS used, the two ratings, and the rule that picked it.

    The engine takes the rating without the improvement measures only for the contract's
    highest-level rating, when it is at least the methodology's hold-harmless minimum (4 stars in
    2026) and higher than the rating with them.
    """
    minimum = methodology.hold_harmless_minimum
    with_measures = rating["with_improvement"]["measures"]
    dropped = sorted(set(with_measures) - set(rating["without_improvement"]["measures"]))
    names = f" ({', '.join(dropped)})" if dropped else ""
    with_rating = Decimal(str(rating["with_improvement"]["rating"]))
    without_rating = Decimal(str(rating["without_improvement"]["rating"]))
    at_least = formats.stars(float(minimum))
    if rating["path"] == "without_improvement":
        return (
            f"CMS uses the rating without the improvement measures{names}: "
            f"{formats.stars(float(without_rating))} is at least {at_least} and higher than the "
            f"{formats.stars(float(with_rating))} with them"
        )
    value = before_rounding(other["value_before_rounding"], methodology)
    without = (
        f"without the improvement measures{names}, {other['measure_count']} measures give "
        f"{formats.decimal(other['weighted_mean'], 2)}, {_reward_reason(other, None)}: "
        f"{value} → {formats.stars(float(without_rating))}"
    )
    if without_rating <= with_rating:
        why = "no higher, so CMS keeps the rating with them"
    elif without_rating < minimum:
        why = f"higher, but below {at_least}, so CMS keeps the rating with them"
    else:
        why = "higher, but CMS uses that only for the contract's highest-level rating"
    return f"{without}, {why}"


def rating_sentence(
    label: str, rating: dict | None, methodology: Methodology, *, thresholds: dict | None = None
) -> str:
    """One rating explained: "Overall 3.5 ★: the weighted mean of 37 measures' stars … rounds to 3.5 ★."

    `methodology` is the one the rating was computed with (its half-star bands and hold-harmless
    minimum).
    `thresholds` maps "with_improvement" / "without_improvement" to that calculation's Tables 8-9
    thresholds (`mean_high`, `mean_relatively_high`, `variance_low_below`, `variance_high_from`).
    """
    if rating is None:
        return f"{label}: not rated for this kind of contract."
    if rating["rating"] is None:
        return (
            f"{label}: {rating['status']} — {rating['rated_measures']} measures have a star, "
            f"{rating['minimum_required']} are needed."
        )
    path = rating["path"]
    other_path = "without_improvement" if path == "with_improvement" else "with_improvement"
    chosen, other = rating[path], rating[other_path]
    thresholds = thresholds or {}
    stars = formats.stars(rating["rating"])
    parts = [f"{label} {stars}: {_calculation_sum(chosen, thresholds.get(path), methodology)}"]
    if other is not None and other["measure_count"] != chosen["measure_count"]:
        parts.append(_improvement_reason(rating, other, methodology))
    if rating.get("new_measures_excluded"):
        parts.append(
            "the new measures are left out (the disaster hold harmless gives a higher rating without them)"
        )
    sentence = "; ".join(parts)
    return f"{sentence}. {before_rounding(chosen['value_before_rounding'], methodology)} rounds to {stars}."
