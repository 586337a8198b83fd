"""Convex-combination ReLU cuts for the sign-pattern sub-problems, separated in a root cut loop.

In a sub-problem of the decomposition by output signs (:mod:`mipnet.train.sign_patterns.decompose`), each
first-layer ReLU entry keeps one side (see :mod:`mipnet.train.sign_patterns.formulation`): an *upward* entry
``(h, j)`` (direction +1) has
``a_hj <= relu(z_hj)`` (binary, big-M) and a *downward* entry ``(u, j)`` (direction -1) has
``a_uj >= relu(z_uj)`` (no binary). The LP relaxation of the big-M rows lets ``a_hj`` exceed ``relu(z_hj)`` by
about half the pre-activation's range, for free. The cuts below tie it to the downward entries of the same unit.

The family
----------
For a unit ``j``, an upward entry ``h`` and any ``lambda >= 0`` over the downward entries ``u`` of unit ``j``:

    a_hj <= sum_u lambda_u a_uj + (z_hj - sum_u lambda_u z_uj) / 2
            + sum_e |d_e| t_je / 2 + |1 - sum_u lambda_u| beta_j / 2,     d = x_h - sum_u lambda_u x_u,

with ``t_je >= |W_je|`` (the L1 variables) and ``beta_j >= |b_j|``.

Why it is valid
---------------
``relu`` is sublinear (convex and positively homogeneous), so with ``r = z_hj - sum_u lambda_u z_uj``:
``relu(z_hj) <= relu(r) + sum_u lambda_u relu(z_uj)``; then ``relu(r) = (r + |r|) / 2`` and, since
``r = W_j . d + (1 - sum lambda) b_j``, ``|r| <= sum_e |d_e| |W_je| + |1 - sum lambda| |b_j|``. Every feasible
point of the sub-problem has ``a_hj <= relu(z_hj)`` and ``a_uj >= relu(z_uj)``, so it satisfies every member.
``lambda = 0`` gives the secant row and ``lambda = e_u`` the pair row of the formulation: the family contains
both. The coefficients are computed from whatever ``lambda`` the separation returns, so the cut is valid even
when that LP is solved inexactly.

Separation
----------
At an LP point, the most violated member for ``(h, j)`` minimises the right-hand side over ``lambda``: a small
LP with ``|U_j| + 2E + 2`` columns and ``E + 1`` equality rows (``d = d+ - d-``). For a unit, only the right-hand
side ``x_h`` changes between entries ``h``, so one HiGHS instance per unit is re-solved from its last basis.
Only entries with ``a_hj > relu(z_hj)`` at the LP point can be violated (at that point the right side is at least
``relu(z_hj)``).

The loop re-solves the sub-problem's LP relaxation with the new cuts until none is violated, the bound stalls,
the bound reaches the cutoff, or the time budget runs out. Its bound is a safe Lagrangian bound from the LP's
duals (:class:`mipnet.bounds.lp.LPSession`), so it does not trust the LP solver's tolerances.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from mipnet.bounds.lp import LPSession
from mipnet.solvers.highs import new_highs, pass_model
from mipnet.train.sign_patterns.formulation import SignPatternFormulation

#: a cut is added when it is violated by more than this (absolute, activations are O(1))
MIN_VIOLATION = 1e-4
#: stop when the last ``STALL_ROUNDS`` rounds closed less than this fraction of the gap to the cutoff
STALL_FRACTION, STALL_ROUNDS = 0.02, 3
#: cuts whose slack at the loop's last LP is below this go into the MIP (binding ones only made the tree larger:
#: measured on breast cancer (80, 4))
KEEP_SLACK = 0.05
#: slack on each cut's right side (floating-point rounding of the coefficients)
CUT_SLACK = 1e-9


@dataclass
class Cut:
    """One row ``sum coefs * x[cols] <= rhs``."""

    cols: np.ndarray
    coefs: np.ndarray
    rhs: float = CUT_SLACK
    orbit: int = -1  # cuts that are copies of one another for interchangeable units share an orbit


@dataclass
class CutLoopResult:
    """What the root cut loop found: the cuts with little slack at its last LP (``keep_slack``), its safe bound,
    and counts."""

    cuts: list[Cut] = field(default_factory=list)
    bound: float = -math.inf
    lp_bound_start: float = -math.inf
    rounds: int = 0
    generated: int = 0
    time: float = 0.0
    stopped: str = ""

    def as_dict(self) -> dict:
        return {"rounds": self.rounds, "generated": self.generated, "kept": len(self.cuts),
                "lp_bound_start": self.lp_bound_start, "bound": self.bound, "time": self.time,
                "stopped": self.stopped}


class _Separator:
    """The separation LPs of one unit: ``min_lambda`` of the cut's right side, re-solved per upward entry."""

    def __init__(self, X: np.ndarray, down: np.ndarray) -> None:
        self.X = X
        n_u, e = len(down), X.shape[1]
        # columns: lambda (n_u), d+ (E), d- (E), q+, q-
        # rows: X_U^T lambda + d+ - d- = x_h, sum lambda + q+ - q- = 1
        top = sp.hstack([sp.csr_matrix(X[down].T), sp.identity(e), -sp.identity(e), sp.csr_matrix((e, 2))])
        bottom = sp.hstack([sp.csr_matrix(np.ones((1, n_u))), sp.csr_matrix((1, 2 * e)),
                            sp.csr_matrix(np.array([[1.0, -1.0]]))])
        A = sp.vstack([top, bottom]).tocsr()
        n = n_u + 2 * e + 2
        self.n_u, self.e = n_u, e
        self.h = new_highs(False)
        self.h.setOptionValue("threads", 1)
        rhs = np.append(X[0], 1.0)
        pass_model(self.h, np.zeros(n), np.full(n, np.inf), A, rhs, rhs, np.zeros(n))

    def set_point(self, a_down: np.ndarray, z_down: np.ndarray, t: np.ndarray, beta: float) -> None:
        cost = np.concatenate([a_down - 0.5 * z_down, 0.5 * t, 0.5 * t, [0.5 * beta, 0.5 * beta]])
        self.h.changeColsCost(len(cost), np.arange(len(cost), dtype=np.int32), cost)

    def best(self, h_row: int) -> np.ndarray | None:
        """The minimising ``lambda`` for upward sample ``h_row`` (``None`` if the LP failed)."""
        import highspy

        rhs = np.append(self.X[h_row], 1.0)
        self.h.changeRowsBounds(len(rhs), np.arange(len(rhs), dtype=np.int32), rhs, rhs)
        self.h.run()
        if self.h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        lam = np.asarray(self.h.getSolution().col_value[:self.n_u], dtype=float)
        return np.where(lam > 1e-9, lam, 0.0)


def make_cut(form: SignPatternFormulation, h_row: int, j: int, down: np.ndarray, lam: np.ndarray) -> Cut:
    """The member of the family for upward entry ``(h_row, j)`` and weights ``lam`` on the downward rows ``down``
    (coefficients from ``lam`` exactly as given: valid for any ``lam >= 0``)."""
    hd = form.handles
    X, a, z, t, beta = hd.X, hd.a, hd.z, hd.l1, hd.abs_bias
    used = lam > 0
    u, lu = down[used], lam[used]
    d = X[h_row] - lu @ X[u]
    cols = np.concatenate([[a[h_row, j]], a[u, j], [z[h_row, j]], z[u, j], t[j], [beta[j]]])
    coefs = np.concatenate([[1.0], -lu, [-0.5], 0.5 * lu, -0.5 * np.abs(d), [-0.5 * abs(1.0 - lu.sum())]])
    return Cut(cols.astype(np.int64), coefs)


def applicable(form: object) -> bool:
    """Whether the formulation is a sign-pattern sub-problem with the variables the cuts need."""
    return isinstance(form, SignPatternFormulation) and form.handles is not None


def cut_values(form: object, x: np.ndarray, cuts: list[Cut]) -> np.ndarray:
    """Left side minus right side of each cut at ``x`` (positive: violated)."""
    return np.array([float(c.coefs @ x[c.cols]) - c.rhs for c in cuts])


def separate(form: SignPatternFormulation, x: np.ndarray, separators: dict | None = None,
             min_violation: float = MIN_VIOLATION, symmetric: bool = False) -> list[Cut]:
    """The most violated member of the family for every upward entry where one is violated by ``min_violation``."""
    hd = form.handles
    direction = hd.direction
    a, z = x[hd.a], x[hd.z]
    t, beta = x[hd.l1], x[hd.abs_bias]
    separators = {} if separators is None else separators
    cuts = []
    for j in range(direction.shape[1]):
        up = np.flatnonzero((direction[:, j] > 0) & (a[:, j] > np.maximum(z[:, j], 0.0) + min_violation))
        if not up.size:
            continue
        down = np.flatnonzero(direction[:, j] < 0)
        if j not in separators:
            separators[j] = _Separator(hd.X, down)
        sep = separators[j]
        sep.set_point(a[down, j], z[down, j], t[j], float(beta[j]))
        for hh in up:
            lam = sep.best(int(hh)) if down.size else np.zeros(0)
            if lam is None:
                continue
            cut = make_cut(form, int(hh), j, down, lam)
            if float(cut.coefs @ x[cut.cols]) - cut.rhs > min_violation:
                cut.orbit = len(cuts)
                cuts.append(cut)
                if symmetric:  # the same cut for every unit of equal output sign (interchangeable units): keeps
                    # the model symmetric, so the solver's own symmetry handling still applies
                    for j2 in np.flatnonzero(hd.output_signs == hd.output_signs[j]):
                        if j2 != j:
                            twin = make_cut(form, int(hh), int(j2), down, lam)
                            twin.orbit = cut.orbit
                            cuts.append(twin)
    return cuts


def root_cut_loop(form: SignPatternFormulation, cutoff: float | None, time_budget: float, max_rounds: int = 60,
                  keep_slack: float = KEEP_SLACK, symmetric: bool = False,
                  on_round: Callable[[CutLoopResult, float], None] | None = None) -> CutLoopResult:
    """Run the cut loop on the LP relaxation of ``form.m``; returns the cuts with slack below ``keep_slack`` at the
    last LP and a safe LP bound.

    ``cutoff``: the value of the best known network; the loop stops once its bound reaches it (the sub-problem
    then holds nothing better, up to the caller's gap). ``time_budget`` in seconds. ``on_round(result, lp_value)``
    is called after each LP (``result.rounds`` cut rounds so far; ``lp_value`` is the LP's value, not yet a safe
    bound).

    Ctrl-C (``KeyboardInterrupt``) ends the loop as its time budget would, with ``stopped == "interrupted"``: the
    result keeps the rounds done and the safe bound of the last LP solved to optimality.
    """
    t0 = time.perf_counter()
    out = CutLoopResult()
    if not applicable(form):
        out.stopped = "not applicable"
        return out
    session = LPSession(form.m, relax=True, objective=True, resolve=False)
    base_rows = session.n_rows
    separators: dict = {}
    pool: list[Cut] = []
    history: list[float] = []
    try:
        x, duals, n_at_x = _loop(form, cutoff, time_budget, max_rounds, symmetric, on_round, session, separators,
                                 pool, history, out, t0)
    except _Stopped as stop:   # Ctrl-C: the state of the last LP solved to optimality
        x, duals, n_at_x = stop.state
        out.stopped = "interrupted"
    if x is not None and math.isfinite(history[-1] if history else math.nan):
        # the bound and the choice of cuts come from the last LP solved to optimality (an LP stopped by the time
        # budget has no useful duals); its duals cover the cuts it held, the newer ones are violated at x
        out.bound = session.safe_bound(duals, n_rows=base_rows + n_at_x)
        # keep the cuts binding at the last LP (a nonzero dual or no slack): the rest only slow the MIP's LPs
        cut_duals = np.concatenate([duals[base_rows:], np.zeros(len(pool) - n_at_x)])
        slack = -cut_values(form, x, pool) if pool else np.zeros(0)
        kept = {cut.orbit for cut, y, s in zip(pool, cut_duals, slack) if abs(y) > 1e-9 or s < keep_slack}
        out.cuts = [cut for cut in pool if cut.orbit in kept]
    out.time = time.perf_counter() - t0
    return out


class _Stopped(Exception):
    """Ctrl-C inside the cut loop, with the loop's state at its last optimal LP."""

    def __init__(self, state: tuple) -> None:
        super().__init__("interrupted")
        self.state = state


def _loop(form: SignPatternFormulation, cutoff: float | None, time_budget: float, max_rounds: int, symmetric: bool,
          on_round: Callable | None, session: LPSession, separators: dict, pool: list[Cut], history: list[float],
          out: CutLoopResult, t0: float) -> tuple:
    """The rounds of :func:`root_cut_loop`; returns ``(x, duals, n_at_x)`` of the last LP solved to optimality
    (raises :class:`_Stopped` with them on Ctrl-C)."""
    x, duals, orbits = None, None, 0
    n_at_x = 0  # cuts in the LP whose solution is x (a round's new cuts come after it)
    try:
        while True:
            left = time_budget - (time.perf_counter() - t0)
            lp = session.solve(max(left, 1e-3))
            if not lp.optimal:
                out.stopped = f"LP status {lp.status}"
                if lp.infeasible:
                    out.bound = math.inf
                break
            value, x, duals = lp.value, lp.x, lp.duals
            n_at_x = len(pool)
            history.append(value)
            if out.rounds == 0:
                out.lp_bound_start = value
            if on_round is not None:
                on_round(out, value)
            if cutoff is not None and value >= cutoff:
                out.stopped = "bound reached the cutoff"
                break
            if out.rounds >= max_rounds:
                out.stopped = "round limit"
                break
            if left <= 0:
                out.stopped = "time budget"
                break
            if cutoff is not None and len(history) > STALL_ROUNDS:
                gap = cutoff - history[-1 - STALL_ROUNDS]
                if gap > 0 and history[-1] - history[-1 - STALL_ROUNDS] < STALL_FRACTION * gap:
                    out.stopped = "stalled"
                    break
            new = separate(form, x, separators, symmetric=symmetric)
            for cut in new:
                cut.orbit += orbits
            orbits += len(new)
            if not new:
                out.stopped = "no violated cut"
                break
            session.add_rows(_cut_matrix(new, form.m.n_vars), np.full(len(new), -np.inf), [cut.rhs for cut in new])
            pool.extend(new)
            out.rounds += 1
            out.generated += len(new)
    except KeyboardInterrupt:
        raise _Stopped((x, duals, n_at_x)) from None
    return x, duals, n_at_x


def _cut_matrix(cuts: list[Cut], n_vars: int) -> sp.csr_matrix:
    """The cuts' left sides as sparse rows."""
    rows = np.concatenate([np.full(len(cut.cols), r) for r, cut in enumerate(cuts)])
    cols = np.concatenate([cut.cols for cut in cuts])
    vals = np.concatenate([cut.coefs for cut in cuts])
    return sp.csr_matrix((vals, (rows, cols)), shape=(len(cuts), n_vars))


def add_cuts(form: object, cuts: list[Cut]) -> None:
    """Add cuts to the formulation's model as rows (padded with -1 columns, which :meth:`MIPModel.add_rows` drops)."""
    if not cuts:
        return
    k = max(len(cut.cols) for cut in cuts)
    cols = np.full((len(cuts), k), -1, dtype=np.int64)
    coefs = np.zeros((len(cuts), k))
    for r, cut in enumerate(cuts):
        cols[r, :len(cut.cols)] = cut.cols
        coefs[r, :len(cut.coefs)] = cut.coefs
    form.m.add_rows(cols, coefs, hi=np.array([cut.rhs for cut in cuts]))
