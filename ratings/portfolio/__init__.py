"""Pure-Python portfolio core: year-end forecast, what-if, budget optimizer, gap priorities (no Django).

Plain dataclasses and NumPy arrays in (`PortfolioInput`), dataclasses with `as_dict()` out. The
rating is always the CMS engine's (`ratings.cms.rate_contract`).

- `inputs`: the input dataclasses and `PortfolioInputError`.
- `closures`: the Poisson-binomial closure count of a measure (exact, or normal with a bound).
- `model`: validation, per-measure thresholds from the engine, the memoizing `RatingOracle`.
- `forecast`: Monte Carlo forecast, what-if scenarios, exact distribution for small portfolios.
- `surrogate`: the deterministic objective the MILP maximizes exactly, and plan scoring.
- `candidates`, `milp`: intervention classes and the HiGHS MILP.
- `solver_output`: keeps HiGHS's stray C-level prints off stdout during each solve.
- `optimize`: the optimizer and its `Plan`; `priority`: per-gap priority scores.
- `synthetic`: a generated contract at any size and the scale run for benchmarks.
"""

from ratings.portfolio.closures import ClosureDistribution, closure_distribution, poisson_binomial_pmf
from ratings.portfolio.forecast import (
    Assumption,
    ExactDistribution,
    Forecast,
    MeasureForecast,
    exact_distribution,
    forecast,
    what_if,
)
from ratings.portfolio.inputs import (
    ContractMeasure,
    InterventionType,
    MemberMeasure,
    PortfolioInput,
    PortfolioInputError,
)
from ratings.portfolio.optimize import optimize, with_interventions
from ratings.portfolio.plan import ChosenIntervention, GapEffect, MeasurePlan, Plan
from ratings.portfolio.priority import gap_priorities
from ratings.portfolio.synthetic import scale_run, synthetic_portfolio

__all__ = [
    "Assumption",
    "ChosenIntervention",
    "ClosureDistribution",
    "ContractMeasure",
    "ExactDistribution",
    "Forecast",
    "GapEffect",
    "InterventionType",
    "MeasureForecast",
    "MeasurePlan",
    "MemberMeasure",
    "Plan",
    "PortfolioInput",
    "PortfolioInputError",
    "closure_distribution",
    "exact_distribution",
    "forecast",
    "gap_priorities",
    "optimize",
    "poisson_binomial_pmf",
    "scale_run",
    "synthetic_portfolio",
    "what_if",
    "with_interventions",
]
