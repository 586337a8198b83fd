"""Bounds on every neuron over an input region: interval arithmetic, then LP, then optionally MIP tightening.

The work is progressive, layer by layer: interval arithmetic first (cheap); then, for neurons whose ReLU is still
*unstable* (``L < 0 < U``), the LP relaxation of the network so far is solved to minimise and maximise that
neuron's pre-activation; then (``MIP``) the exact MIP of the network so far, under a per-neuron time limit, for the
neurons still unstable. Neurons whose bounds settle on one side of 0 get no binary in the final MIP.

Soundness rule (stated in docs/verification.md):

* **interval**: exact arithmetic of ``W+ U + W- L + b`` widened by ``1e-9 (1 + |b|)`` for floating-point rounding.
* **LP**: the LP solution is *not* trusted. From the LP's row duals ``y`` (any ``y`` works), weak duality gives a
  bound valid for *every* point of the relaxation: for ``min c'v`` subject to ``lo <= A v <= hi`` and
  ``lb <= v <= ub``, ``c'v >= sum_r min(y_r lo_r, y_r hi_r) + sum_j min(r_j lb_j, r_j ub_j)`` with
  ``r = c - A'y`` (Neumaier & Shcherbina, 2004). This safe bound does not depend on the LP solver's primal or dual
  feasibility tolerances; it is then widened by ``1e-6 (1 + |b|)`` to cover rounding in its own evaluation. It is
  used only where it improves on the interval bound.
* **MIP**: the solver's reported dual bound ``b`` widened by ``1e-6 (1 + |b|)`` plus ``10 x`` the MIP feasibility
  tolerance ``(1e-6) (1 + |b|)``. This relies on the solver's tolerances (a MIP dual bound has no cheap
  certificate); LP bounds stay in force where they are tighter.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from mipnet.errors import SettingsError
from mipnet.layers import AvgPool2D, Conv2D, Dense, Flatten, Layer, MaxPool2D, gather_windows
from mipnet.network import Network
from mipnet.solvers.highs import _new_highs, highs_lp

ROUND_EPS = 1e-9      # relative widening of interval bounds
LP_MARGIN = 1e-6      # relative widening of LP safe dual bounds
MIP_MARGIN = 1e-5     # relative widening of MIP dual bounds (margin + 10 x mip_feasibility_tolerance)


class BoundTightening(StrEnum):
    """How hard to work on neuron bounds before the final MIP."""

    INTERVAL = "interval"   #: interval arithmetic only
    LP = "lp"               #: + LP relaxation bounds for unstable neurons (default)
    MIP = "mip"             #: + MIP bounds (per-neuron time limit) for neurons the LP leaves unstable

    @classmethod
    def parse(cls, value: str | BoundTightening) -> BoundTightening:
        try:
            return cls(str(value).lower())
        except ValueError:
            raise SettingsError(f"unknown bound tightening {value!r}: choose one of "
                                f"{[m.value for m in cls]}") from None


@dataclass
class LayerBounds:
    """Input box and, per layer, bounds on the affine pre-activations (or on the output of other layers).

    Attributes
    ----------
    input_lo, input_hi : ndarray
        Flat input box.
    lo, hi : list of ndarray
        One flat array per layer of ``net.layers``.
    method : BoundTightening
    stats : dict
        Counts of unstable neurons and LP/MIP solves.
    empty : bool
        The solver proved the input region (box and extra rows) empty; the lists may then be incomplete.
    """

    input_lo: np.ndarray
    input_hi: np.ndarray
    lo: list[np.ndarray] = field(default_factory=list)
    hi: list[np.ndarray] = field(default_factory=list)
    method: BoundTightening = BoundTightening.INTERVAL
    stats: dict = field(default_factory=dict)
    empty: bool = False

    def post(self, net: Network, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Bounds on the output of layer ``i`` (after its ReLU)."""
        layer = net.layers[i]
        if layer.is_affine and layer.relu:
            return np.maximum(self.lo[i], 0.0), np.maximum(self.hi[i], 0.0)
        return self.lo[i], self.hi[i]

    def unstable(self, net: Network) -> int:
        """Number of ReLUs with ``L < 0 < U`` (each costs one binary)."""
        return int(sum(np.sum((lo < 0) & (hi > 0)) for layer, lo, hi in zip(net.layers, self.lo, self.hi)
                       if layer.is_affine and layer.relu))


def _widen(lo: np.ndarray, hi: np.ndarray, rel: float) -> tuple[np.ndarray, np.ndarray]:
    return lo - rel * (1.0 + np.abs(lo)), hi + rel * (1.0 + np.abs(hi))


def interval_layer(layer: Layer, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Interval bounds on a layer's pre-activation (affine) or output (other layers) from flat input bounds."""
    if isinstance(layer, (Dense, Conv2D)):
        W = layer.weight.reshape(layer.weight.shape[0], -1)
        bias = layer.bias if layer.bias is not None else np.zeros(W.shape[0])
        Wp, Wn = np.maximum(W, 0.0), np.minimum(W, 0.0)
        if isinstance(layer, Dense):
            zlo, zhi = Wp @ lo + Wn @ hi + bias, Wp @ hi + Wn @ lo + bias
        else:
            idx = layer.patch_index()
            plo, phi = gather_windows(lo[None], idx)[0], gather_windows(hi[None], idx)[0]   # (P, E)
            zlo = (Wp @ plo.T + Wn @ phi.T + bias[:, None]).reshape(-1)
            zhi = (Wp @ phi.T + Wn @ plo.T + bias[:, None]).reshape(-1)
        return _widen(zlo, zhi, ROUND_EPS)
    if isinstance(layer, MaxPool2D):
        idx = layer.window_index()
        return (gather_windows(lo[None], idx)[0].max(-1).reshape(-1),
                gather_windows(hi[None], idx)[0].max(-1).reshape(-1))
    if isinstance(layer, AvgPool2D):
        idx = layer.window_index()
        return _widen(gather_windows(lo[None], idx)[0].mean(-1).reshape(-1),
                      gather_windows(hi[None], idx)[0].mean(-1).reshape(-1), ROUND_EPS)
    if isinstance(layer, Flatten):
        return lo, hi
    raise TypeError(f"no interval rule for {layer!r}")  # pragma: no cover


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


class _HighsSession:
    """One HiGHS model (LP or MIP) re-solved for many objectives ``min +-v_j``."""

    def __init__(self, model: object, threads: int = 1) -> None:
        self.h = _new_highs(False)
        self.h.setOptionValue("threads", int(threads))
        if not model.integrality().any():   # re-solves after a cost change: primal simplex from the last basis
            self.h.setOptionValue("presolve", "off")
            self.h.setOptionValue("simplex_strategy", 4)
        self.model = model
        self._pass(model)
        self.A, self.row_lo, self.row_hi = model.matrix()
        self.col_lo, self.col_hi = model.bounds()
        self.is_mip = bool(model.integrality().any())

    def _pass(self, model: object) -> None:
        lb, ub = model.bounds()
        A, lo, hi = model.matrix()
        lp = highs_lp(lb, ub, A, lo, hi, integer=model.integrality())
        self.h.passModel(lp)

    def minimise(self, j: int, sign: float, time_limit: float | None = None) -> float:
        """A sound lower bound on ``min sign * v_j`` (``-inf`` if nothing could be proved)."""

        h = self.h
        h.changeColCost(int(j), float(sign))
        if time_limit is not None:
            h.setOptionValue("time_limit", max(float(time_limit), 1e-3))
        h.run()
        try:
            return self._read_bound(j, sign)
        finally:
            h.changeColCost(int(j), 0.0)

    def _read_bound(self, j: int, sign: float) -> float:
        import highspy

        h = self.h
        status = h.getModelStatus()
        MS = highspy.HighsModelStatus
        if status == MS.kInfeasible:
            return np.inf
        if self.is_mip:
            b = float(h.getInfo().mip_dual_bound)
            if not np.isfinite(b):
                return -np.inf
            return b - MIP_MARGIN * (1.0 + abs(b))
        if status != MS.kOptimal:
            return -np.inf
        c = np.zeros(self.model.n_vars)
        c[j] = sign
        y = np.asarray(h.getSolution().row_dual, dtype=float)
        b = safe_lp_bound(c, self.A, self.row_lo, self.row_hi, self.col_lo, self.col_hi, y)
        return b - LP_MARGIN * (1.0 + abs(b)) if np.isfinite(b) else -np.inf


def compute_bounds(net: Network, lower: np.ndarray, upper: np.ndarray,
                   method: BoundTightening | str = BoundTightening.LP,
                   input_rows: tuple[np.ndarray, np.ndarray] | None = None, time_limit: float | None = None,
                   mip_neuron_time: float = 1.0, threads: int = 1) -> LayerBounds:
    """Bounds on every layer of ``net`` over the box ``[lower, upper]`` (and ``A x <= b`` if ``input_rows``).

    Parameters
    ----------
    net : Network
    lower, upper : array
        Input box (any shape with ``n_inputs`` entries); must be finite.
    method : BoundTightening or str
        ``interval``, ``lp`` or ``mip`` (each includes the cheaper ones before it).
    input_rows : (A, b), optional
        Extra linear constraints on the input, used by the LP and MIP steps.
    time_limit : float, optional
        Seconds for the whole tightening; when it runs out the remaining neurons keep their interval bounds
        (still sound).
    mip_neuron_time : float
        Time limit of each per-neuron MIP (``method="mip"``).
    threads : int

    Returns
    -------
    LayerBounds
    """
    from mipnet.verify.encoding import encode

    method = BoundTightening.parse(method)
    t0 = time.perf_counter()
    lo_in = np.asarray(lower, dtype=float).reshape(-1)
    hi_in = np.asarray(upper, dtype=float).reshape(-1)
    if lo_in.size != net.n_inputs or hi_in.size != net.n_inputs:
        raise SettingsError(f"the input box needs {net.n_inputs} entries, got {lo_in.size} and {hi_in.size}")
    if not (np.all(np.isfinite(lo_in)) and np.all(np.isfinite(hi_in))):
        raise SettingsError("the input box must be finite in every input")
    lb = LayerBounds(lo_in, hi_in, method=method, stats={"lp_solves": 0, "mip_solves": 0, "tightened": 0})
    has_rows = input_rows is not None and len(input_rows[1]) > 0
    affine_seen = 0
    for i, layer in enumerate(net.layers):
        prev_lo, prev_hi = lb.post(net, i - 1) if i else (lo_in, hi_in)
        lo, hi = interval_layer(layer, prev_lo, prev_hi)
        lb.lo.append(lo)
        lb.hi.append(hi)
        if not layer.is_affine:
            continue
        affine_seen += 1
        # over a plain box, interval bounds of the first affine layer are already exact
        if method == BoundTightening.INTERVAL or (affine_seen == 1 and not has_rows) or not layer.relu:
            continue
        for relax, kind in ((True, "lp"), (False, "mip")):
            if kind == "mip" and method != BoundTightening.MIP:
                break
            unstable = np.flatnonzero((lb.lo[i] < 0) & (lb.hi[i] > 0))
            if not len(unstable):
                break
            enc = encode(net, lb, upto=i, relax=relax, input_rows=input_rows if has_rows else None)
            session = _HighsSession(enc.model, threads)
            z = enc.z[i]
            for j in unstable:
                if time_limit is not None and time.perf_counter() - t0 > time_limit:
                    lb.stats["timed_out"] = True
                    break
                per = mip_neuron_time if kind == "mip" else None
                if kind == "mip" and time_limit is not None:
                    per = min(per, max(time_limit - (time.perf_counter() - t0), 1e-3))
                low = session.minimise(z[j], 1.0, per)
                if lb.lo[i][j] < low:
                    lb.lo[i][j] = low
                if low < 0:
                    up = -session.minimise(z[j], -1.0, per)
                    if up < lb.hi[i][j]:
                        lb.hi[i][j] = up
                lb.stats[f"{kind}_solves"] += 2 if low < 0 else 1
                if lb.lo[i][j] >= 0 or lb.hi[i][j] <= 0:
                    lb.stats["tightened"] += 1
                if lb.lo[i][j] > lb.hi[i][j]:   # the solver proved the input region empty
                    lb.empty = True
                    lb.stats["time"] = time.perf_counter() - t0
                    return lb
    lb.stats["unstable"] = lb.unstable(net)
    lb.stats["time"] = time.perf_counter() - t0
    return lb
