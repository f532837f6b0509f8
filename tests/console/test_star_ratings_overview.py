"""The sentences that explain a rating: true to the engine's figures and its improvement-measure rule."""

from console.star_ratings.explain import before_rounding, half_star, rating_sentence

OVERALL_THRESHOLDS = {
    "with_improvement": {
        "mean_relatively_high": 3.649351,
        "mean_high": 3.932432,
        "variance_low_below": 0.91485,
        "variance_high_from": 1.263462,
    },
    "without_improvement": {
        "mean_relatively_high": 3.686567,
        "mean_high": 3.953125,
        "variance_low_below": 0.908919,
        "variance_high_from": 1.26961,
    },
}


def calculation(measures, *, mean, variance, reward, cai, value, rating, weight_sum):
    return {
        "measures": measures,
        "measure_count": len(measures),
        "weight_sum": weight_sum,
        "weighted_mean": mean,
        "weighted_variance": variance,
        "reward_factor": reward,
        "cai": cai,
        "value_before_rounding": value,
        "rating": rating,
        "with_new_measures": True,
    }


def rating(path, with_improvement, without_improvement):
    return {
        "rating": (with_improvement if path == "with_improvement" else without_improvement)["rating"],
        "status": None,
        "rated_measures": without_improvement["measure_count"],
        "minimum_required": 19,
        "path": path,
        "new_measures_excluded": False,
        "with_improvement": with_improvement,
        "without_improvement": without_improvement,
    }


BASE = [f"C{n:02d}" for n in range(1, 37) if n != 30]


def test_overall_on_the_edge_names_the_mean_the_other_path_the_cai_and_the_rounding():
    # H9002's demo overall: 37 measures (weights 71) average 3.591549, below Table 8's 65th
    # percentile, no reward; without C30 and D04 the mean 3.688525 earns 0.1 but 3.748103 still
    # rounds to 3.5, so CMS keeps the with-improvement rating.
    overall = rating(
        "with_improvement",
        calculation(
            [*BASE, "C30", "D04"],
            mean=3.591549,
            variance=0.885263,
            reward=0.0,
            cai=-0.040422,
            value=3.551127,
            rating=3.5,
            weight_sum=71.0,
        ),
        calculation(
            BASE,
            mean=3.688525,
            variance=0.963293,
            reward=0.1,
            cai=-0.040422,
            value=3.748103,
            rating=3.5,
            weight_sum=61.0,
        ),
    )
    assert rating_sentence("Overall", overall, thresholds=OVERALL_THRESHOLDS) == (
        "Overall 3.5 ★: the weighted mean of 37 measures' stars (weights summing to 71) is 3.59, "
        "no reward factor (the mean is below the 65th percentile, 3.65), CAI −0.040: 3.55; "
        "without the improvement measures (C30, D04), 35 measures give 3.69, a 0.1 reward factor: "
        "3.748 → 3.5 ★, no higher, so CMS keeps the rating with them. 3.55 rounds to 3.5 ★."
    )


def test_the_without_improvement_path_says_why_cms_took_it():
    part_c = rating(
        "without_improvement",
        calculation(
            [*BASE[:14], "C30"],
            mean=3.55,
            variance=0.8,
            reward=0.0,
            cai=-0.036927,
            value=3.513073,
            rating=3.5,
            weight_sum=28.0,
        ),
        calculation(
            BASE[:14],
            mean=4.0,
            variance=0.0,
            reward=0.4,
            cai=-0.036927,
            value=4.363073,
            rating=4.5,
            weight_sum=23.0,
        ),
    )
    thresholds = {
        "with_improvement": OVERALL_THRESHOLDS["with_improvement"],
        "without_improvement": {
            "mean_relatively_high": 3.717391,
            "mean_high": 4.020408,
            "variance_low_below": 0.914326,
            "variance_high_from": 1.328432,
        },
    }
    sentence = rating_sentence("Part C", part_c, thresholds=thresholds)
    # 4.0 is below the 85th percentile 4.020408: relatively high mean, low variance → 0.2 by
    # the table, but the engine's figure is what the sentence must repeat (0.4 here).
    assert sentence.startswith(
        "Part C 4.5 ★: the weighted mean of 14 measures' stars (weights summing to 23) is 4.00, "
        "a 0.4 reward factor (mean at or above the 65th percentile, 3.72; variance 0.00 below the "
        "30th percentile, 0.91), CAI −0.037: 4.36; "
    )
    assert (
        "CMS uses the rating without the improvement measures (C30): 4.5 ★ is at least 4.0 ★ and "
        "higher than the 3.5 ★ with them" in sentence
    )
    assert sentence.endswith("4.36 rounds to 4.5 ★.")


def test_a_higher_rating_without_improvement_below_four_stars_is_not_used():
    part_d = rating(
        "with_improvement",
        calculation(
            ["D01", "D02", "D04"],
            mean=3.0,
            variance=1.5,
            reward=0.0,
            cai=0.0,
            value=3.0,
            rating=3.0,
            weight_sum=9.0,
        ),
        calculation(
            ["D01", "D02"],
            mean=3.5,
            variance=0.25,
            reward=0.0,
            cai=0.0,
            value=3.5,
            rating=3.5,
            weight_sum=4.0,
        ),
    )
    sentence = rating_sentence("Part D", part_d)
    assert "3.50 → 3.5 ★, higher, but below 4.0 ★, so CMS keeps the rating with them" in sentence
    assert sentence.startswith(
        "Part D 3.0 ★: the weighted mean of 3 measures' stars (weights summing to 9) is 3.00"
    )


def test_a_high_variance_denies_the_reward_factor_and_says_so():
    overall = rating(
        "with_improvement",
        calculation(
            ["C01", "C02"], mean=4.1, variance=1.4, reward=0.0, cai=0.0, value=4.1, rating=4.0, weight_sum=2.0
        ),
        calculation(
            ["C01", "C02"], mean=4.1, variance=1.4, reward=0.0, cai=0.0, value=4.1, rating=4.0, weight_sum=2.0
        ),
    )
    assert (
        "no reward factor: mean at or above the 85th percentile, 3.93, but the variance 1.40 is at or "
        "above the 70th percentile, 1.26"
    ) in rating_sentence("Overall", overall, thresholds=OVERALL_THRESHOLDS)


def test_unrated_and_not_applicable_ratings_say_why():
    assert rating_sentence("Part D", None) == "Part D: not rated for this kind of contract."
    unrated = {
        "rating": None,
        "status": "Not enough data available",
        "rated_measures": 4,
        "minimum_required": 15,
    }
    assert rating_sentence("Part C", unrated) == (
        "Part C: Not enough data available — 4 measures have a star, 15 are needed."
    )


def test_the_value_before_rounding_never_reads_as_another_half_star():
    assert (half_star(3.75), half_star(3.748103), half_star(3.25), half_star(3.249999)) == (4, 3.5, 3.5, 3)
    assert before_rounding(3.748103) == "3.748"
    assert before_rounding(3.249999) == "3.249999"
    assert before_rounding(3.551127) == "3.55"
