"""The optimizer's mixed-integer program, solved by HiGHS through `scipy.optimize.milp`.

Data: classes j of interventions (type t_j, size n_j, cost c_j, gain a_jm expected closures on
measure m per intervention), today's expected closures E_m, the closures n_mk star k needs, σ̄_m
and the chords (α_i, β_i) of g (see `surrogate`), and the rating cells: every key c = (S, Q, stars
of special measures) that star vectors between today's stars s0 and the highest levels reachable
within the budget produce, with R_c the engine's rating of that key (`RatingOracle`; S = Σ w s,
Q = Σ w s² over the member-level measures). A solve for a minimum rating r uses only the frontier
F_r: the cells rated ≥ r that no other such cell dominates (lower S, higher Q, same specials).

Variables: x_j ∈ {0..n_j} (integer); in exact mode, for each gap several candidates could work,
its rise r_s ∈ [0, 1 − p_s]; per measure m and level k from s0_m to its highest reachable level,
λ_mk ∈ {0,1} (m's target star is k), D_mk ≥ 0 (the plan's extra expected closures on m when the
target is k) and, for k > s0_m, L_mk ≤ 0 (g of the target's z); u_c ∈ {0,1}, c ∈ F_r.

    Σ_k D_mk ≤ Σ_j a_jm x_j + Σ_{s on m} r_s                 (gains)
    r_s ≤ Σ_{j working s} uplift_j x_j                       (several uplifts add, capped at 1 − p)
    Σ_j c_j x_j ≤ budget;   Σ_{j of type t} x_j ≤ capacity_t
    Σ_k λ_mk = 1;   D_mk ≤ G_m λ_mk                          (G_m: the most m could gain)
    D_mk ≥ (n_mk − ½ − E_m − Z_MAX σ̄_m) λ_mk                (at most Z_MAX deviations of luck)
    L_mk ≤ α_i λ_mk + β_i ((E_m − n_mk + ½) λ_mk + D_mk) / σ̄_m   for every chord i
    L_mk ≥ g(−Z_MAX) λ_mk
    Σ_c u_c = 1;   Σ_mk w_m (k − s0_m) λ_mk ≥ Σ_c (S_c − S_0) u_c;
    Σ_mk w_m (k² − s0_m²) λ_mk ≤ Σ_c (Q_c − Q_0) u_c;   Σ_k (k − s0_m) λ_mk = Σ_c (s_cm − s0_m) u_c
                                                          for special measures

The chord rows are the perspective of L ≤ g(z) on each (measure, level) disjunct, so each
measure's choice of target is described by its convex hull and the LP relaxation stays tight
(no big-M). The cell rows say the target's key dominates a cell rated ≥ r, hence the target is
rated ≥ r (`Formulation.frontier`). For σ̄_m = 0 the closures are certain: the reach row is exact
and L_mk is not needed. Goals: "log_probability" maximizes Σ L_mk; "cost" minimizes Σ c_j x_j,
optionally with Σ L_mk ≥ a floor.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, linprog, milp
from scipy.sparse import csr_array, vstack

from ratings.portfolio.candidates import Candidates
from ratings.portfolio.model import Prepared
from ratings.portfolio.solver_output import native_stdout_silenced
from ratings.portfolio.surrogate import REACH_TOLERANCE, Z_MAX, chords, log_probability, margins

__all__ = ["Formulation", "MilpResult"]

STATUS = {0: "optimal", 1: "time_limit", 2: "infeasible", 3: "unbounded", 4: "error"}
# Gains below this are noise from bucket edges; dropping them keeps HiGHS's matrix well scaled.
MIN_GAIN = 1e-9


@dataclass(frozen=True, eq=False)
class MilpResult:
    """One HiGHS solve: status, the goal's value and bound, and the solution's decisions."""

    status: str
    message: str
    feasible: bool
    objective: float
    bound: float
    mip_gap: float | None
    counts: np.ndarray
    fractional_counts: np.ndarray
    planned_gain: np.ndarray
    stars: np.ndarray
    rating: float
    log_probability: float
    cost: float
    seconds: float
    nodes: int
    cells: int
    variables: int
    constraints: int


class _Rows:
    """Accumulates sparse constraint rows lb ≤ A x ≤ ub."""

    def __init__(self) -> None:
        self.rows: list[np.ndarray] = []
        self.columns: list[np.ndarray] = []
        self.values: list[np.ndarray] = []
        self.lower: list[float] = []
        self.upper: list[float] = []

    def add(self, columns, values, lower: float, upper: float) -> None:
        """Append one row."""
        columns = np.asarray(columns, dtype=np.int64)
        self.rows.append(np.full(columns.size, len(self.lower), dtype=np.int64))
        self.columns.append(columns)
        self.values.append(np.asarray(values, dtype=np.float64))
        self.lower.append(lower)
        self.upper.append(upper)

    def add_block(self, rows, columns, values, lower, upper) -> None:
        """Append many rows given as COO triplets with row numbers 0..k−1."""
        start = len(self.lower)
        self.rows.append(np.asarray(rows, dtype=np.int64) + start)
        self.columns.append(np.asarray(columns, dtype=np.int64))
        self.values.append(np.asarray(values, dtype=np.float64))
        self.lower.extend(np.asarray(lower, dtype=np.float64).tolist())
        self.upper.extend(np.asarray(upper, dtype=np.float64).tolist())

    def extend(self, other: _Rows) -> None:
        """Append every row of another accumulator."""
        offset = len(self.lower)
        self.rows.extend(r + offset for r in other.rows)
        self.columns.extend(other.columns)
        self.values.extend(other.values)
        self.lower.extend(other.lower)
        self.upper.extend(other.upper)

    def matrix(self, width: int) -> tuple[csr_array, np.ndarray, np.ndarray]:
        """The constraint matrix and its bounds."""
        if not self.lower:
            return csr_array((0, width)), np.empty(0), np.empty(0)
        matrix = csr_array(
            (np.concatenate(self.values), (np.concatenate(self.rows), np.concatenate(self.columns))),
            shape=(len(self.lower), width),
        )
        return matrix, np.array(self.lower), np.array(self.upper)


class Formulation:
    """The MILP for one set of class gains and one budget; `solve` runs one goal on it."""

    def __init__(
        self,
        prepared: Prepared,
        candidates: Candidates,
        gains: np.ndarray,
        budget: float,
        expected: np.ndarray,
        sigma: np.ndarray,
    ) -> None:
        self.prepared = prepared
        self.candidates = candidates
        self.gains = np.where(gains >= MIN_GAIN, gains, 0.0)
        self.budget = budget
        self.expected = expected
        self.sigma = sigma
        self.class_cost = prepared.costs[candidates.type_index]
        self.shared_count = candidates.shared_cap.size
        self._levels()
        self._cells()
        self._layout()
        self._constraints()

    def _levels(self) -> None:
        """Star levels each measure could reach within the budget (an upper bound on the reach)."""
        prepared, candidates = self.prepared, self.candidates
        gains = self.gains.copy()
        if candidates.shared_rows.size:
            # A shared gap's rise counts fully for each candidate: an upper bound is all we need.
            rise = np.minimum(candidates.shared_uplift, candidates.shared_cap[candidates.shared_rows])
            np.maximum.at(
                gains, (candidates.shared_columns, candidates.shared_measure[candidates.shared_rows]), rise
            )
        if gains.shape[0]:
            total = (candidates.size[:, None] * gains).sum(axis=0)
            best_ratio = (gains / self.class_cost[:, None]).max(axis=0)
            self.max_gain = np.minimum(total, self.budget * best_ratio)
        else:
            self.max_gain = np.zeros(len(prepared.measures))
        self.margin = margins(prepared, self.expected)
        self.floor = np.where(self.sigma > 0, -Z_MAX * self.sigma, 0.0)
        self.low = prepared.current_stars
        self.high = self.low.copy()
        for measure in prepared.measures:
            if not measure.in_rating:
                continue
            m = measure.index
            for level in range(measure.current_star + 1, 6):
                required = self.floor[m] - self.margin[m, level]
                if not np.isfinite(required) or required > self.max_gain[m] + REACH_TOLERANCE:
                    break
                self.high[m] = level

    def _cells(self) -> None:
        """Every reachable key with a witness vector, rated by the engine."""
        oracle = self.prepared.oracle
        reachable = oracle.best_by_key(self.low, self.high)
        keys = list(reachable)
        witnesses = np.array([reachable[k][1] for k in keys])
        self.cell_keys = np.array(keys, dtype=np.int64).reshape(len(keys), -1)
        self.cell_ratings = oracle.rate(witnesses)[0]
        self.base_key = np.array(oracle.key_of(self.low), dtype=np.int64)

    def _layout(self) -> None:
        """Variable positions: x | r | λ | D | L, then the u of the solve's frontier cells."""
        self.class_count = self.candidates.class_count
        self.options = [
            (m, level)
            for m in range(self.low.size)
            if self.high[m] > self.low[m]
            for level in range(int(self.low[m]), int(self.high[m]) + 1)
        ]
        self.targets = [(m, k) for m, k in self.options if k > self.low[m] and self.sigma[m] > 0]
        self.r0 = self.class_count
        self.lambda0 = self.r0 + self.shared_count
        self.d0 = self.lambda0 + len(self.options)
        self.l0 = self.d0 + len(self.options)
        self.u0 = self.l0 + len(self.targets)

    @property
    def cell_count(self) -> int:
        """Number of reachable rating cells (keys)."""
        return self.cell_keys.shape[0]

    @property
    def ratings(self) -> np.ndarray:
        """The distinct ratings of the reachable cells, ascending."""
        return np.unique(self.cell_ratings)

    def _constraints(self) -> None:
        """Every row that does not depend on the solve's target rating."""
        rows = _Rows()
        self.cap_rows: list[int] = []
        if self.class_count:
            rows.add(np.arange(self.class_count), self.class_cost, -np.inf, self.budget)
        for t, kind in enumerate(self.prepared.types):
            members = np.flatnonzero(self.candidates.type_index == t)
            if (
                kind.capacity is not None
                and members.size
                and self.candidates.size[members].sum() > kind.capacity
            ):
                rows.add(members, np.ones(members.size), -np.inf, float(kind.capacity))
        shared = self.candidates
        if self.shared_count:
            rows.add_block(
                np.concatenate([np.arange(self.shared_count), shared.shared_rows]),
                np.concatenate([self.r0 + np.arange(self.shared_count), shared.shared_columns]),
                np.concatenate([np.ones(self.shared_count), -shared.shared_uplift]),
                np.full(self.shared_count, -np.inf),
                np.zeros(self.shared_count),
            )
        by_measure: dict[int, list[int]] = {}
        for position, (m, _) in enumerate(self.options):
            by_measure.setdefault(m, []).append(position)
        for m, positions in by_measure.items():
            choices = self.lambda0 + np.array(positions)
            extras = self.d0 + np.array(positions)
            rows.add(choices, np.ones(choices.size), 1.0, 1.0)
            classes = np.flatnonzero(self.gains[:, m] > 0)
            rises = self.r0 + np.flatnonzero(shared.shared_measure == m)
            rows.add(
                np.concatenate([extras, classes, rises]),
                np.concatenate([np.ones(extras.size), -self.gains[classes, m], -np.ones(rises.size)]),
                -np.inf,
                0.0,
            )
            for position in positions:
                level = self.options[position][1]
                # Budget-derived, so it tightens the relaxation; `budget_shadow_price` drops it.
                self.cap_rows.append(len(rows.lower))
                rows.add(
                    [self.d0 + position, self.lambda0 + position], [1.0, -self.max_gain[m]], -np.inf, 0.0
                )
                required = self.floor[m] - self.margin[m, level]
                if level > self.low[m] and required > 0:
                    rows.add([self.d0 + position, self.lambda0 + position], [1.0, -required], 0.0, np.inf)
        intercepts, slopes = chords()
        floor_value = float(log_probability(np.array([-Z_MAX]))[0])
        for offset, (m, level) in enumerate(self.targets):
            position = self.options.index((m, level))
            sigma = self.sigma[m]
            start = self.margin[m, level] / sigma
            column_l, column_lambda, column_d = self.l0 + offset, self.lambda0 + position, self.d0 + position
            for alpha, beta in zip(intercepts, slopes, strict=True):
                rows.add(
                    [column_l, column_lambda, column_d],
                    [1.0, -(alpha + beta * start), -beta / sigma],
                    -np.inf,
                    0.0,
                )
            rows.add([column_l, column_lambda], [1.0, -floor_value], 0.0, np.inf)
        self.rows = rows

    def frontier(self, min_rating: float) -> np.ndarray:
        """The cells rated ≥ min_rating that no easier such cell dominates (indices into cell_keys).

        A target meets a cell when its S is at least the cell's and its Q at most (its special
        stars equal). The rating never falls as S rises or Q falls with the rest fixed — the mean
        rises and the variance falls, the reward factor, rounding and the improvement rule are
        monotone in both — so the cells rated ≥ r form an upper set and only its minimal elements
        are needed; `tests/portfolio/test_model.py` checks that monotonicity on the engine.
        """
        qualified = np.flatnonzero(self.cell_ratings >= min_rating - 1e-9)
        keep = []
        groups: dict[tuple[int, ...], list[int]] = {}
        for index in qualified:
            groups.setdefault(tuple(self.cell_keys[index, 2:]), []).append(int(index))
        for members in groups.values():
            order = sorted(members, key=lambda i: (self.cell_keys[i, 0], -self.cell_keys[i, 1]))
            best_q = -np.inf
            for index in order:
                if self.cell_keys[index, 1] > best_q:
                    keep.append(index)
                    best_q = self.cell_keys[index, 1]
        return np.array(sorted(keep), dtype=np.int64)

    def _cell_rows(self, rows: _Rows, cells: np.ndarray) -> None:
        """The target's S at least, Q at most, special stars equal to, one chosen frontier cell's."""
        oracle = self.prepared.oracle
        weights = oracle.weights.astype(np.float64)
        columns = self.u0 + np.arange(cells.size)
        delta = (self.cell_keys[cells] - self.base_key[None, :]).astype(np.float64)
        choices = self.lambda0 + np.arange(len(self.options))
        measure = np.array([m for m, _ in self.options], dtype=np.int64)
        level = np.array([k for _, k in self.options], dtype=np.float64)
        start = self.low[measure].astype(np.float64)
        everything = np.concatenate([choices, columns])
        rows.add(everything, np.concatenate([weights[measure] * (level - start), -delta[:, 0]]), 0.0, np.inf)
        rows.add(
            everything, np.concatenate([weights[measure] * (level**2 - start**2), -delta[:, 1]]), -np.inf, 0.0
        )
        for offset, special in enumerate(oracle.special):
            own = measure == special
            rows.add(
                np.concatenate([choices[own], columns]),
                np.concatenate([(level - start)[own], -delta[:, 2 + offset]]),
                0.0,
                0.0,
            )
        rows.add(columns, np.ones(cells.size), 1.0, 1.0)

    def solve(
        self,
        goal: str,
        *,
        min_rating: float,
        min_log_probability: float | None = None,
        integral_counts: bool = True,
        linear_relaxation: bool = False,
        fixed_stars: np.ndarray | None = None,
        time_limit: float,
        mip_rel_gap: float,
    ) -> MilpResult:
        """Solve for "log_probability" or "cost", with a minimum target rating and log-probability.

        With `integral_counts` False the class counts are continuous (the aggregated problem's
        LP in x, exact in the star-level and cell choices): `counts` is then the solution rounded
        down and `fractional_counts` the solution itself, for `round_counts`. With
        `linear_relaxation` every variable is continuous: the LP optimum is a quick upper bound.
        `fixed_stars` pins the target star vector (e.g. to find the cheapest plan for a target).
        """
        started = time.perf_counter()
        cells = self.frontier(min_rating)
        if cells.size == 0:
            return self._empty("infeasible", f"no reachable target is rated {min_rating} or more", started)
        # One extra column fixed at 1 with cost 1 offsets the log-probability goal: HiGHS's gap
        # is relative to the objective, which is ~0 when success is near certain, so without the
        # offset it would chase 1e-6 of log-probability; with it the gap is relative to 1 + |Σ L|.
        width = self.u0 + cells.size + 1
        rows = _Rows()
        rows.extend(self.rows)
        self._cell_rows(rows, cells)
        if min_log_probability is not None and self.targets:
            rows.add(np.arange(self.l0, self.u0), np.ones(len(self.targets)), min_log_probability, np.inf)
        matrix, row_lower, row_upper = rows.matrix(width)
        lower = np.zeros(width)
        upper = np.full(width, np.inf)
        upper[: self.class_count] = self.candidates.size
        upper[self.r0 : self.lambda0] = self.candidates.shared_cap
        upper[self.lambda0 : self.d0] = 1.0
        if fixed_stars is not None:
            pinned = np.array([fixed_stars[m] == level for m, level in self.options], dtype=np.float64)
            lower[self.lambda0 : self.d0] = pinned
            upper[self.lambda0 : self.d0] = pinned
        lower[self.l0 : self.u0] = float(log_probability(np.array([-Z_MAX]))[0])
        upper[self.l0 : self.u0] = 0.0
        upper[self.u0 :] = 1.0
        lower[-1] = 1.0
        objective = np.zeros(width)
        if goal == "log_probability":
            objective[self.l0 : self.u0] = -1.0
            objective[-1] = 1.0
        else:
            objective[: self.class_count] = self.class_cost
        integrality = np.zeros(width)
        integrality[self.lambda0 : self.d0] = 1
        integrality[self.u0 : -1] = 1
        if integral_counts:
            integrality[: self.class_count] = 1
        if linear_relaxation:
            integrality[:] = 0
        with native_stdout_silenced():
            result = milp(
                objective,
                integrality=integrality,
                bounds=Bounds(lower, upper),
                constraints=LinearConstraint(matrix, row_lower, row_upper),
                # HiGHS's presolve spends most of the aggregated problem's solve on its thousands of
                # near-parallel class columns, for no reduction the simplex needs; the small exact
                # problems keep it.
                options={"time_limit": time_limit, "mip_rel_gap": mip_rel_gap, "presolve": integral_counts},
            )
        status = STATUS.get(result.status, "error")
        if result.x is None:
            return self._empty(status, result.message, started)
        x = result.x
        fractional = np.clip(x[: self.class_count], 0.0, self.candidates.size)
        counts = (np.rint(fractional) if integral_counts else np.floor(fractional + 1e-9)).astype(np.int64)
        stars = self.low.copy()
        for (m, level), flag in zip(self.options, x[self.lambda0 : self.d0], strict=True):
            if flag > 0.5:
                stars[m] = level
        log_prob = float(x[self.l0 : self.u0].sum())
        cost = float(self.class_cost @ counts) if self.class_count else 0.0
        # HiGHS minimizes: its dual bound is a lower bound on the minimum (the LP optimum for an LP).
        dual = float(result.fun) if linear_relaxation else getattr(result, "mip_dual_bound", None)
        if goal == "log_probability":
            value, bound = log_prob, (1.0 - float(dual) if dual is not None else np.nan)
        else:
            value, bound = cost, (float(dual) if dual is not None else np.nan)
        return MilpResult(
            status=status,
            message=str(result.message),
            feasible=True,
            objective=value,
            bound=bound,
            mip_gap=float(result.mip_gap) if getattr(result, "mip_gap", None) is not None else None,
            counts=counts,
            fractional_counts=fractional,
            planned_gain=self.gains.T @ fractional if self.class_count else np.zeros(self.low.size),
            stars=stars,
            rating=float(self.prepared.oracle.rate(stars[None, :])[0][0]),
            log_probability=log_prob,
            cost=cost,
            seconds=time.perf_counter() - started,
            nodes=int(getattr(result, "mip_node_count", 0) or 0),
            cells=int(cells.size),
            variables=width,
            constraints=matrix.shape[0],
        )

    def _empty(self, status: str, message: str, started: float) -> MilpResult:
        """A result without a solution (infeasible, or a limit hit before any was found)."""
        return MilpResult(
            status=status,
            message=message,
            feasible=False,
            objective=-np.inf,
            bound=np.nan,
            mip_gap=None,
            counts=np.empty(0, np.int64),
            fractional_counts=np.empty(0),
            planned_gain=np.zeros(self.low.size),
            stars=self.low.copy(),
            rating=np.nan,
            log_probability=-np.inf,
            cost=0.0,
            seconds=time.perf_counter() - started,
            nodes=0,
            cells=0,
            variables=self.u0,
            constraints=len(self.rows.lower),
        )

    def round_counts(self, result: MilpResult, class_value: np.ndarray) -> np.ndarray:
        """Integer counts from a continuous solution: round down, then round up the fractional
        classes with the best value per dollar while the budget and capacities allow.

        Every row but the gains is a ≤ row with non-negative coefficients, so rounding down stays
        feasible; the loss against the continuous optimum shows in the reported gap.
        """
        counts = result.counts.copy()
        fractional = np.flatnonzero(result.fractional_counts - counts > 1e-9)
        budget_left = self.budget - float(self.class_cost @ counts)
        capacity_left = {
            t: kind.capacity - int(counts[self.candidates.type_index == t].sum())
            for t, kind in enumerate(self.prepared.types)
            if kind.capacity is not None
        }
        for j in sorted(fractional, key=lambda j: (-class_value[j] / self.class_cost[j], j)):
            t = int(self.candidates.type_index[j])
            if self.class_cost[j] > budget_left + 1e-9 or capacity_left.get(t, 1) < 1:
                continue
            counts[j] += 1
            budget_left -= self.class_cost[j]
            if t in capacity_left:
                capacity_left[t] -= 1
        return counts

    def budget_shadow_price(self, result: MilpResult) -> float:
        """d(Σ L)/d(budget) at a solution, its target star vector held: the budget row's LP dual.

        With the target fixed the problem in the class counts is a linear program; HiGHS's dual
        of the budget row is the log-probability one more dollar buys (0 when money is not binding).
        """
        if not self.class_count or not self.targets:
            return 0.0
        cells = self.frontier(result.rating)
        rows = _Rows()
        rows.extend(self.rows)
        self._cell_rows(rows, cells)
        width = self.u0 + cells.size
        matrix, row_lower, row_upper = rows.matrix(width)
        keep = np.ones(matrix.shape[0], dtype=bool)
        keep[self.cap_rows] = False
        matrix, row_lower, row_upper = matrix[keep], row_lower[keep], row_upper[keep]
        lower = np.zeros(width)
        upper = np.full(width, np.inf)
        upper[: self.class_count] = self.candidates.size
        upper[self.r0 : self.lambda0] = self.candidates.shared_cap
        pinned = np.array([result.stars[m] == level for m, level in self.options], dtype=np.float64)
        lower[self.lambda0 : self.d0] = pinned
        upper[self.lambda0 : self.d0] = pinned
        upper[self.d0 : self.l0] = np.where(pinned > 0, np.inf, 0.0)
        lower[self.l0 : self.u0] = float(log_probability(np.array([-Z_MAX]))[0])
        upper[self.l0 : self.u0] = 0.0
        upper[self.u0 :] = 1.0
        objective = np.zeros(width)
        objective[self.l0 : self.u0] = -1.0
        upper_rows = np.isfinite(row_upper) & (row_lower != row_upper)
        lower_rows = np.isfinite(row_lower) & (row_lower != row_upper)
        equal_rows = row_lower == row_upper
        with native_stdout_silenced():
            solution = linprog(
                objective,
                A_ub=vstack([matrix[upper_rows], -matrix[lower_rows]]),
                b_ub=np.concatenate([row_upper[upper_rows], -row_lower[lower_rows]]),
                A_eq=matrix[equal_rows],
                b_eq=row_lower[equal_rows],
                bounds=np.column_stack([lower, upper]),
                method="highs",
            )
        if solution.status != 0:
            return 0.0
        # The budget is the first row, a ≤ row: its marginal is d(min −Σ L)/d(budget) ≤ 0.
        return float(-solution.ineqlin.marginals[0])
