"""Monotonicity of one output in one input feature over an input box (two copies of the network, DESIGN.md §3).

The network is non-decreasing in feature ``f`` on the box when ``o(x') >= o(x)`` for every pair of inputs of the
box that differ only in feature ``f`` with ``x'_f >= x_f``. The query minimises ``o(x') - o(x)`` over such pairs
(for ``decreasing``: ``o(x) - o(x')``): one MIP with two exact copies of the network (a batch of two in
:func:`mipnet.encode.encode_network`) that share every input but feature ``f``. Both copies lie in the same box, so
one set of neuron bounds serves both.

* ``holds``: the solver proved the minimum ``>= -tol`` (its dual bound, widened by the verifier's MIP margin);
* ``violated``: a pair found (by sampling or by the MIP) whose plain forward passes give ``o(x') - o(x) < -tol``;
  both points are re-run through :meth:`Network.forward` before they are reported;
* ``unknown``: neither within the time limit.
"""

from __future__ import annotations

import math

import numpy as np

from mipnet.bounds.layer_bounds import BoundTightening
from mipnet.bounds.lp import MIP_MARGIN
from mipnet.clock import Clock
from mipnet.encode import encode_network
from mipnet.errors import SettingsError
from mipnet.network import Network
from mipnet.solvers import Status
from mipnet.threads import limits_blas
from mipnet.verify.falsify import forward, sample_box
from mipnet.verify.queries import DEFAULT_TIME_LIMIT, solve, tightened_bounds
from mipnet.verify.results import HOLDS, UNKNOWN, VIOLATED, MonotonicityResult

DIRECTIONS = ("increasing", "decreasing")


def _pairs(lo: np.ndarray, hi: np.ndarray, feature: int, n: int, rng: np.random.Generator
           ) -> tuple[np.ndarray, np.ndarray]:
    """Sample pairs ``(x, x')`` of the box equal but in ``feature``, with ``x'_f >= x_f`` (half of them at the ends
    of the feature's range)."""
    X = sample_box(lo, hi, n, rng)
    X2 = X.copy()
    ends = np.arange(len(X)) % 2 == 0
    X[ends, feature] = lo[feature]
    X2[ends, feature] = hi[feature]
    X2[~ends, feature] = rng.uniform(X[~ends, feature], hi[feature])
    return X, X2


@limits_blas
def monotonicity(net: Network, feature: int, lower: np.ndarray | float, upper: np.ndarray | float,
                 output: int = 0, direction: str = "increasing", time_limit: float | None = DEFAULT_TIME_LIMIT,
                 solver: str = "highs", tightening: BoundTightening | str = BoundTightening.LP, tol: float = 1e-4,
                 threads: int = 1, samples: int = 256, seed: int = 0) -> MonotonicityResult:
    """Prove that output ``output`` is monotone in input ``feature`` over the box ``[lower, upper]``, or find a
    pair of inputs that breaks it.

    Parameters
    ----------
    net : Network
    feature : int
        Index of the input feature (in the flattened input).
    lower, upper : array or float
        The input box (broadcast to the input shape).
    output : int
        Index of the output.
    direction : {"increasing", "decreasing"}
        Non-decreasing or non-increasing.
    time_limit : float or None
        Seconds for the whole query (default 300; ``None``: no limit).
    solver : {"highs", "scip"}
    tightening : BoundTightening or str
        Neuron bounds before the MIP.
    tol : float
        Changes against the direction smaller than this are not counted as violations; ``holds`` proves
        ``sign * (o(x') - o(x)) >= -tol`` (it must exceed the verifier's MIP margin, ``1e-5 (1 + |bound|)``).
    threads, samples, seed : see :func:`mipnet.verify.check_property`

    Returns
    -------
    MonotonicityResult
        ``worst_found`` is the smallest ``sign * (o(x') - o(x))`` over the pairs found (re-checked), ``worst_bound``
        a proved lower bound on it over the whole box.
    """
    clock = Clock(time_limit)
    tightening = BoundTightening.parse(tightening)
    if direction not in DIRECTIONS:
        raise SettingsError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    if not 0 <= int(feature) < net.n_inputs or int(feature) != feature:
        raise SettingsError(f"feature must be an input index in 0..{net.n_inputs - 1}, got {feature!r}")
    if not 0 <= int(output) < net.n_outputs or int(output) != output:
        raise SettingsError(f"output must be in 0..{net.n_outputs - 1}, got {output!r}")
    if not (math.isfinite(tol) and tol >= 0):
        raise SettingsError(f"tol must be a number >= 0, got {tol}")
    feature, output = int(feature), int(output)
    lo = np.broadcast_to(np.asarray(lower, dtype=float), net.input_shape).reshape(-1).copy()
    hi = np.broadcast_to(np.asarray(upper, dtype=float), net.input_shape).reshape(-1).copy()
    if np.any(lo > hi) or not (np.isfinite(lo).all() and np.isfinite(hi).all()):
        raise SettingsError("the box needs finite lower <= upper")
    sign = 1.0 if direction == "increasing" else -1.0
    res = MonotonicityResult(UNKNOWN, bounds_method=str(tightening), solver=solver, feature=feature, output=output,
                             direction=direction, tol=tol)

    def change(X: np.ndarray, X2: np.ndarray) -> np.ndarray:  # sign * (o(x') - o(x)) by plain forward passes
        return sign * (forward(net, X2)[:, output] - forward(net, X)[:, output])

    # 1. sampling
    X, X2 = _pairs(lo, hi, feature, samples, np.random.default_rng(seed))
    d = change(X, X2)
    best = int(np.argmin(d))
    pair, res.worst_found = (X[best], X2[best]), float(d[best])
    # 2. the MIP over pairs, unless sampling already broke the property
    if res.worst_found >= -tol and hi[feature] > lo[feature]:
        lb = tightened_bounds(net, lo, hi, tightening, clock, None, threads)
        enc = encode_network(net, lb, copies=2)
        m, x, x2 = enc.model, enc.inputs.idx[0], enc.inputs.idx[1]
        others = np.flatnonzero(np.arange(net.n_inputs) != feature)
        if others.size:
            m.add_rows(np.stack([x2[others], x[others]], -1), [1.0, -1.0], lo=0.0, hi=0.0)   # x'_k = x_k
        m.add_rows(np.array([[x2[feature], x[feature]]]), [1.0, -1.0], lo=0.0)              # x'_f >= x_f
        m.add_objective(np.array([enc.outputs.idx[1, output], enc.outputs.idx[0, output]]), np.array([sign, -sign]))
        res.mip_size = m.size()
        if clock.out():
            res.note = "time limit before the MIP"
        else:
            sr = solve(m, solver, clock, threads)
            res.details.append({"solver_status": str(sr.status), "solve_time": sr.time, "nodes": sr.nodes,
                                "objective": sr.objective, "bound": sr.bound})
            if sr.x is not None:
                pair_in = enc.input_values(sr.x)
                xa = np.clip(pair_in[0], lo, hi)
                xb = xa.copy()
                xb[feature] = np.clip(pair_in[1, feature], xa[feature], hi[feature])
                dc = float(change(xa[None], xb[None])[0])
                if dc < res.worst_found:
                    pair, res.worst_found = (xa, xb), dc
            if sr.status == Status.OPTIMAL and math.isfinite(sr.bound):
                res.worst_bound = float(sr.bound - MIP_MARGIN * (1 + abs(sr.bound)))
    elif hi[feature] <= lo[feature]:
        res.worst_bound, res.worst_found = 0.0, 0.0  # the feature cannot change in the box
    if res.worst_found < -tol:
        res.status = VIOLATED
        res.counterexample = pair[0].reshape(net.input_shape)
        res.counterexample_pair = pair[1].reshape(net.input_shape)
        res.counterexample_output = forward(net, pair[0][None])[0]
        res.counterexample_pair_output = forward(net, pair[1][None])[0]
        res.note = (f"raising feature {feature} from {pair[0][feature]:.9g} to {pair[1][feature]:.9g} changes output "
                    f"{output} by {sign * res.worst_found:.6g} (re-checked by Network.forward)")
    elif res.worst_bound >= -tol:
        res.status = HOLDS
        res.note = f"proved {direction} (smallest change {res.worst_bound:.6g} >= -{tol:g})"
    elif not res.note:
        res.note = "no counterexample found and no proof within the limits"
    res.time = clock.elapsed
    return res
