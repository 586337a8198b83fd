"""Optimality-based bound tightening (OBBT) of the first-layer pre-activations in a sign-pattern sub-problem.

In a sub-problem of the decomposition by output signs (:mod:`mipnet.train.sign_patterns.decompose`), each
"upward" ReLU entry (direction +1, :mod:`mipnet.train.sign_patterns.formulation`) gets a binary and two big-M rows
that use the bounds ``L_ij <= z_ij <= U_ij`` of its pre-activation. The default bounds come from the L1 budget (a
fractional knapsack, :func:`mipnet.bounds.interval.weight_box_bound`) and are loose. Here each such bound is
replaced by the optimum of an LP:
``max z_ij`` (and ``min z_ij``) over the LP relaxation of the sub-problem with the extra row
``objective <= cap``, where ``cap`` is the value of the best network known.

Why it is valid
---------------
* Every solution of the sub-problem MIP whose objective is ``<= cap`` is a point of that LP, so its ``z_ij``
  lies within the LP's range. Only solutions worse than ``cap`` can be removed, and the decomposition only
  needs those no worse than the best known value: it uses ``cap`` as cutoff (or has that network as start).
* The bound is not the LP value reported by the solver (which is optimal only within tolerances) but a
  Lagrangian bound computed here from the LP's dual values ``y``: for *any* ``y``,
  ``c.x = y.(A x) + (c - A^T y).x >= sum_r min(y_r lo_r, y_r hi_r) + sum_j min(d_j lb_j, d_j ub_j)`` on the
  LP's feasible set (weak duality), so inexact duals only weaken the bound. A small margin covers rounding.
  When that bound is infinite (a tiny nonzero multiplier on an unbounded column), the LP value minus a margin
  (``FALLBACK_MARGIN * (1 + |value|)``, four orders above HiGHS's default feasibility and optimality
  tolerances) is used instead.
* The warm start given to the solver stays feasible: every bound is widened to contain its value there.
* The LP may omit valid rows (the pair rows, :attr:`ObbtOptions.pair_rows`) to be cheaper: a looser LP only
  gives wider (still valid) bounds.

Switched on by ``SignPatternOptions(obbt=ObbtOptions(...))`` (off by default: see bench/RESULTS.md).

One :class:`~mipnet.bounds.lp.LPSession` is reused: between LPs only the objective changes, so each re-solve
starts from the previous optimal basis (a few simplex iterations instead of a fresh solve).
"""

from __future__ import annotations

import math
import time

import numpy as np
import scipy.sparse as sp

from mipnet.bounds.lp import LPSession, SafeMargin
from mipnet.mip import MIPModel

#: margins on each Lagrangian bound ``b``: ``1e-6 + 1e-7 (|b| + sum |y| + 1)`` (floating-point rounding of the sums)
OBBT_MARGIN = SafeMargin(rel=1e-7, abs=1e-6 + 1e-7, dual=1e-7)
#: margin on the LP value when the Lagrangian bound is infinite (relative to ``1 + |value|``)
FALLBACK_MARGIN = 1e-5


def tighten(model: MIPModel, cap: float, targets: np.ndarray, lower_too: np.ndarray | None = None,
            time_budget: float = 30.0) -> tuple[np.ndarray, np.ndarray, dict]:
    """Safe LP bounds on variables ``targets`` over ``model``'s LP relaxation with ``objective <= cap``.

    Parameters
    ----------
    model : MIPModel
        Linear model (integrality is ignored).
    cap : float
        Objective cap (the value of a known solution, which must satisfy it).
    targets : ndarray of int
        Variables to bound from above (and from below where ``lower_too``).
    lower_too : ndarray of bool or None
        Per target: also compute the lower bound.
    time_budget : float
        Seconds; targets not reached keep their current bounds.

    Returns
    -------
    lo, hi : ndarray
        New bounds per target (never looser than the model's own column bounds).
    info : dict
        Number of LPs solved and time spent.
    """
    t0 = time.perf_counter()
    targets = np.asarray(targets, dtype=np.int64).reshape(-1)
    lower_too = np.zeros(len(targets), bool) if lower_too is None else np.asarray(lower_too, bool).reshape(-1)
    lb, ub = model.bounds()
    new_lo, new_hi = lb[targets].astype(float).copy(), ub[targets].astype(float).copy()
    if not len(targets) or not math.isfinite(cap):
        return new_lo, new_hi, {"lps": 0, "time": 0.0}
    session = LPSession(model, relax=True, resolve=False, margin=OBBT_MARGIN)
    # cap row: c.x <= cap - constant (tiny slack: the known solution stays inside after rounding)
    session.add_rows(sp.csr_matrix(model.objective_vector()[None, :]), [-np.inf],
                     [cap - model.obj_constant + 1e-9 * (1 + abs(cap))])
    lps = 0
    jobs = [(k, -1.0) for k in range(len(targets))] + [(k, 1.0) for k in np.flatnonzero(lower_too)]
    for k, sense in jobs:  # minimise sense * x_t: -1 gives the upper bound, +1 the lower bound
        left = time_budget - (time.perf_counter() - t0)
        if left <= 0:
            break
        lp = session.minimise(int(targets[k]), sense, left)
        lps += 1
        if not lp.optimal:
            continue
        low = lp.bound  # <= min sense * x_t over the LP
        if math.isfinite(lp.value):
            # the Lagrangian bound may be infinite or loose (a multiplier of an unbounded column or of an
            # infinite row side is not exactly 0: simplex noise): then the LP value with a margin far above
            # the solver's tolerances (measured: the two agree within 1e-9 where the Lagrangian one is finite)
            low = max(low, lp.value - FALLBACK_MARGIN * (1.0 + abs(lp.value)))
        if not math.isfinite(low):
            continue
        if sense < 0:
            new_hi[k] = min(new_hi[k], -low)
        else:
            new_lo[k] = max(new_lo[k], low)
    return new_lo, new_hi, {"lps": lps, "time": time.perf_counter() - t0}


def first_layer_bounds(make_form: object, cap: float, time_budget: float, rounds: int = 1,
                       lower: bool = True, symmetric: bool = True) -> tuple[tuple[np.ndarray, np.ndarray] | None, dict]:
    """OBBT bounds ``(lo, hi)`` on a sub-problem's first-layer pre-activations, shape ``(N, H)``.

    ``make_form(z_bounds)`` builds the sub-problem's :class:`TrainingFormulation` (with ``output_signs``) with the
    given pre-activation bounds (``None``: the defaults). Only the upward (binary) ReLU entries that are not
    already stable are tightened; each round rebuilds the LP with the previous round's bounds (tighter big-M
    rows, so a tighter LP). Bounds are widened to contain the formulation's warm start, if any. ``symmetric``:
    per sample, the same (loosest) bounds for all units of equal output sign.
    """
    t0 = time.perf_counter()
    bounds = None
    info = {"lps": 0, "time": 0.0, "rounds": 0}
    for _ in range(max(rounds, 1)):
        left = time_budget - (time.perf_counter() - t0)
        if left <= 0:
            break
        form = make_form(bounds)
        z, direction = form.first_z, form.first_direction
        if z is None or direction is None:
            return None, info
        lo, hi = z.lo.copy(), z.hi.copy()
        sel = (direction > 0) & (lo < 0) & (hi > 0)
        if not sel.any():
            break
        new_lo, new_hi, got = tighten(form.m, cap, z.idx[sel], np.full(int(sel.sum()), lower), left)
        lo[sel], hi[sel] = new_lo, new_hi
        hi = np.maximum(hi, lo)
        if symmetric and form.output_signs is not None:
            # loosest bound over the units of equal output sign, per sample (each is valid for every unit of the
            # group, a looser one too): keeps the units interchangeable, so the solver's symmetry detection
            # still sees the permutations (measured: per-unit bounds made HiGHS explore more nodes)
            for sign in (-1.0, 1.0):
                g = form.output_signs == sign
                if g.any():
                    lo[:, g] = lo[:, g].min(1, keepdims=True)
                    hi[:, g] = hi[:, g].max(1, keepdims=True)
        if z.val is not None:  # the warm start stays feasible
            lo, hi = np.minimum(lo, z.val), np.maximum(hi, z.val)
        bounds = (lo, hi)
        info["lps"] += got["lps"]
        info["rounds"] += 1
    info["time"] = time.perf_counter() - t0
    return bounds, info
