"""Safe bounds from linear programs: the one LP-bound session of the project.

An LP solver's reported optimum is *not* trusted. From the LP's row duals ``y`` (any ``y`` works), weak duality gives
a bound valid for *every* point of the relaxation: for ``min c'v`` subject to ``lo <= A v <= hi`` and
``lb <= v <= ub``, ``c'v >= sum_r min(y_r lo_r, y_r hi_r) + sum_j min(r_j lb_j, r_j ub_j)`` with ``r = c - A'y``
(Neumaier & Shcherbina, 2004). The bound does not depend on the solver's primal or dual feasibility tolerances;
it is then lowered by a :class:`SafeMargin` to cover rounding in its own evaluation.

:class:`LPSession` holds one HiGHS instance over a :class:`~mipnet.mip.MIPModel` (its LP relaxation, or the MIP
itself) and re-solves it for many objectives and after added rows. It serves verification's bound tightening
(:mod:`mipnet.encode.tighten`), training's OBBT (:mod:`mipnet.train.sign_patterns.obbt`) and the root cut loop
(:mod:`mipnet.train.sign_patterns.cuts`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from mipnet.mip import MIPModel
from mipnet.solvers.highs import new_highs, pass_model

#: relative widening of a MIP solver's dual bound: a margin plus 10x the MIP feasibility tolerance (1e-6). A MIP
#: dual bound has no cheap certificate, so this relies on the solver's tolerances.
MIP_MARGIN = 1e-5


@dataclass(frozen=True)
class SafeMargin:
    """How far a weak-duality bound ``b`` is lowered: ``abs + rel * |b| + dual * sum|y|``."""

    rel: float = 1e-6
    abs: float = 1e-6
    dual: float = 0.0

    def lower(self, b: float, y: np.ndarray | None = None) -> float:
        if not math.isfinite(b):
            return b
        extra = self.dual * float(np.abs(y).sum()) if self.dual and y is not None else 0.0
        return b - (self.abs + self.rel * abs(b) + extra)


#: the verifier's margin, ``1e-6 (1 + |b|)``
VERIFY_MARGIN = SafeMargin(rel=1e-6, abs=1e-6)


def safe_dual_bound(c: np.ndarray, A: object, row_lo: np.ndarray, row_hi: np.ndarray, col_lo: np.ndarray,
                    col_hi: np.ndarray, y: np.ndarray) -> float:
    """A lower bound on ``min c'v`` over ``row_lo <= A v <= row_hi``, ``col_lo <= v <= col_hi``, valid for any ``y``.

    ``c'v = y'Av + r'v`` with ``r = c - A'y``; each term is bounded below separately. Returns ``-inf`` when a needed
    bound is infinite.
    """
    y = np.where(np.abs(y) < 1e-13, 0.0, y)
    r = c - A.T @ y
    with np.errstate(invalid="ignore"):
        row_term = np.where(y > 0, y * row_lo, np.where(y < 0, y * row_hi, 0.0))
        col_term = np.where(r > 0, r * col_lo, np.where(r < 0, r * col_hi, 0.0))
    total = float(np.sum(row_term) + np.sum(col_term))
    return total if np.isfinite(total) else -np.inf


def safe_lp_bound(c: np.ndarray, A: object, row_lo: np.ndarray, row_hi: np.ndarray, col_lo: np.ndarray,
                  col_hi: np.ndarray, y: np.ndarray) -> float:
    """:func:`safe_dual_bound` for the row duals ``y`` of an LP solver, whatever its sign convention (both signs
    are tried). A multiplier that pairs with an infinite row side (simplex noise of the wrong sign) is set to 0
    first: any multipliers give a valid bound, and this one would make it infinite."""
    best = -np.inf
    for yy in (y, -y):
        yy = np.where(((yy > 0) & np.isinf(row_lo)) | ((yy < 0) & np.isinf(row_hi)), 0.0, yy)
        best = max(best, safe_dual_bound(c, A, row_lo, row_hi, col_lo, col_hi, yy))
    return best


@dataclass
class LPSolve:
    """One solve of an :class:`LPSession`: ``optimal`` is HiGHS's word; ``bound`` is the safe bound (``-inf`` when
    nothing could be proved, ``+inf`` when the model was proved infeasible)."""

    optimal: bool
    infeasible: bool
    value: float
    bound: float
    x: np.ndarray | None
    duals: np.ndarray | None
    status: str


class LPSession:
    """One HiGHS instance over a model's rows and column bounds, re-solved for many objectives.

    Parameters
    ----------
    model : MIPModel
    relax : bool
        Solve the LP relaxation (integrality dropped). With ``relax=False`` and integer columns the session
        solves MIPs, and its bound is the solver's dual bound widened by :data:`MIP_MARGIN`.
    objective : bool
        Start from the model's objective (with its constant); otherwise the cost is 0 until :meth:`minimise`.
    threads : int
    resolve : bool
        Tune HiGHS for many re-solves after cost changes (no presolve, primal simplex from the last basis).
    margin : SafeMargin
        Widening of every weak-duality bound.
    """

    def __init__(self, model: MIPModel, relax: bool = True, objective: bool = False, threads: int = 1,
                 resolve: bool = True, margin: SafeMargin = VERIFY_MARGIN) -> None:
        self.col_lo, self.col_hi = model.bounds()
        self.A, self.row_lo, self.row_hi = model.matrix()
        ints = model.integrality()
        self.is_mip = bool(ints.any()) and not relax
        self.n = model.n_vars
        self.cost = model.objective_vector() if objective else np.zeros(self.n)
        self.offset = float(model.obj_constant) if objective else 0.0
        self.margin = margin
        self.h = new_highs(False)
        self.h.setOptionValue("threads", int(threads))
        if resolve and not self.is_mip:
            self.h.setOptionValue("presolve", "off")
            self.h.setOptionValue("simplex_strategy", 4)
        pass_model(self.h, self.col_lo, self.col_hi, self.A, self.row_lo, self.row_hi, self.cost, self.offset,
                   integer=ints if self.is_mip else None)
        self._pending: list[tuple[sp.csr_matrix, np.ndarray, np.ndarray]] = []

    @property
    def n_rows(self) -> int:
        return self.A.shape[0] + sum(r[0].shape[0] for r in self._pending)

    def add_rows(self, rows: sp.spmatrix, lo: np.ndarray, hi: np.ndarray) -> None:
        """Add rows ``lo <= rows v <= hi`` (sparse, ``n_vars`` columns) to the LP and to the safe bound's matrix."""
        import highspy

        rows = sp.csr_matrix(rows)
        lo, hi = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
        inf = highspy.kHighsInf
        for r in range(rows.shape[0]):
            start, end = rows.indptr[r], rows.indptr[r + 1]
            self.h.addRow(-inf if np.isinf(lo[r]) else float(lo[r]), inf if np.isinf(hi[r]) else float(hi[r]),
                          int(end - start), rows.indices[start:end].astype(np.int32), rows.data[start:end])
        self._pending.append((rows, lo, hi))

    def _matrix(self, n_rows: int | None = None) -> tuple[object, np.ndarray, np.ndarray]:
        """The first ``n_rows`` rows of the session's matrix with their sides (all rows by default)."""
        if self._pending:
            self.A = sp.vstack([self.A] + [r[0] for r in self._pending]).tocsr()
            self.row_lo = np.concatenate([self.row_lo] + [r[1] for r in self._pending])
            self.row_hi = np.concatenate([self.row_hi] + [r[2] for r in self._pending])
            self._pending = []
        if n_rows is None or n_rows == self.A.shape[0]:
            return self.A, self.row_lo, self.row_hi
        return self.A[:n_rows], self.row_lo[:n_rows], self.row_hi[:n_rows]

    def safe_bound(self, duals: np.ndarray, cost: np.ndarray | None = None, n_rows: int | None = None) -> float:
        """Weak-duality lower bound on ``min cost.v + offset`` over the first ``n_rows`` rows (all by default)
        from row multipliers ``duals``, widened by the session's margin."""
        A, lo, hi = self._matrix(n_rows)
        c = self.cost if cost is None else cost
        b = safe_lp_bound(c, A, lo, hi, self.col_lo, self.col_hi, duals)
        if not math.isfinite(b):
            return -math.inf
        return self.margin.lower(b + (self.offset if cost is None else 0.0), duals)

    def solve(self, time_limit: float | None = None, cost: np.ndarray | None = None) -> LPSolve:
        """Solve with the current cost (the session's, or ``cost`` for this solve only)."""
        import highspy

        h = self.h
        if cost is not None:
            idx = np.flatnonzero(cost != self.cost)
            if idx.size:
                h.changeColsCost(len(idx), idx.astype(np.int32), cost[idx])
        h.setOptionValue("time_limit", float(h.getRunTime() + max(time_limit, 1e-3)) if time_limit is not None
                         else highspy.kHighsInf)  # HiGHS's clock runs across runs
        try:
            h.run()
            status = h.getModelStatus()
            MS = highspy.HighsModelStatus
            if status == MS.kInfeasible:
                return LPSolve(False, True, math.inf, math.inf, None, None, str(status))
            if self.is_mip:
                b = float(h.getInfo().mip_dual_bound)
                bound = b - MIP_MARGIN * (1.0 + abs(b)) if math.isfinite(b) else -math.inf
                return LPSolve(status == MS.kOptimal, False, float(h.getInfo().objective_function_value), bound,
                               None, None, str(status))
            if status != MS.kOptimal:
                return LPSolve(False, False, math.nan, -math.inf, None, None, str(status))
            sol = h.getSolution()
            x = np.asarray(sol.col_value, dtype=float)
            y = np.asarray(sol.row_dual, dtype=float)
            bound = self.safe_bound(y, cost if cost is not None else None)
            return LPSolve(True, False, float(h.getInfo().objective_function_value), bound, x, y, str(status))
        finally:
            if cost is not None and idx.size:
                h.changeColsCost(len(idx), idx.astype(np.int32), self.cost[idx])

    def minimise(self, j: int, sign: float, time_limit: float | None = None) -> LPSolve:
        """Solve ``min sign * v_j``; the answer's ``bound`` is a safe lower bound on it."""
        cost = self.cost.copy()
        cost[int(j)] = cost[int(j)] + float(sign)
        return self.solve(time_limit, cost)
