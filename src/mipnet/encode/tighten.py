"""Bounds on every neuron over an input region: interval arithmetic, then LP, then optionally MIP tightening.

The work is progressive, layer by layer: interval arithmetic first (:mod:`mipnet.bounds.interval`); then, for
neurons whose ReLU is still *unstable* (``L < 0 < U``), the LP relaxation of the network so far (this package's
encoding with ``relax=True``) is solved to minimise and maximise that neuron's pre-activation; then (``MIP``) the
exact MIP of the network so far, under a per-neuron time limit, for the neurons still unstable. Neurons whose bounds
settle on one side of 0 get no binary in the final MIP.

Soundness rule (stated in docs/verification.md):

* **interval**: exact arithmetic of ``W+ U + W- L + b`` widened by ``1e-9 (1 + |b|)`` for floating-point rounding;
* **LP**: the weak-duality bound of :mod:`mipnet.bounds.lp` from the LP's duals, widened by ``1e-6 (1 + |b|)``;
  used only where it improves on the interval bound;
* **MIP**: the solver's dual bound widened by ``1e-5 (1 + |b|)`` (:data:`mipnet.bounds.lp.MIP_MARGIN`). This
  relies on the solver's tolerances (a MIP dual bound has no cheap certificate); LP bounds stay in force where
  they are tighter.
"""

from __future__ import annotations

import time

import numpy as np

from mipnet.bounds import interval
from mipnet.bounds.layer_bounds import BoundTightening, LayerBounds, check_box
from mipnet.bounds.lp import LPSession
from mipnet.encode.network import encode_network
from mipnet.network import Network


def compute_bounds(net: Network, lower: np.ndarray, upper: np.ndarray,
                   method: BoundTightening | str = BoundTightening.LP,
                   input_rows: tuple[np.ndarray, np.ndarray] | None = None, time_limit: float | None = None,
                   mip_neuron_time: float = 1.0, threads: int = 1, outputs: bool = False) -> LayerBounds:
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
    outputs : bool
        Also tighten the network's outputs (a last affine layer without ReLU: both sides of every entry).

    Returns
    -------
    LayerBounds
    """
    method = BoundTightening.parse(method)
    t0 = time.perf_counter()
    lo_in, hi_in = check_box(net, lower, upper)
    lb = LayerBounds(lo_in, hi_in, method=method, stats={"lp_solves": 0, "mip_solves": 0, "tightened": 0})
    has_rows = input_rows is not None and len(input_rows[1]) > 0
    affine_seen = 0
    last = len(net.layers) - 1
    for i, layer in enumerate(net.layers):
        lo, hi = interval.layer_bounds(layer, *lb.post(net, i - 1))
        lb.lo.append(lo)
        lb.hi.append(hi)
        if not layer.is_affine:
            continue
        affine_seen += 1
        # over a plain box, interval bounds of the first affine layer are already exact
        whole = outputs and i == last and not layer.relu   # every output entry, both sides
        if method == BoundTightening.INTERVAL or (affine_seen == 1 and not has_rows) or not (layer.relu or whole):
            continue
        for relax, kind in ((True, "lp"), (False, "mip")):
            if kind == "mip" and (method != BoundTightening.MIP or whole):
                break
            unstable = np.arange(lb.lo[i].size) if whole else np.flatnonzero((lb.lo[i] < 0) & (lb.hi[i] > 0))
            if not len(unstable):
                break
            enc = encode_network(net, lb, upto=i, relax=relax, input_rows=input_rows if has_rows else None)
            session = LPSession(enc.model, relax=relax, threads=threads)
            z = enc.z(i)
            for j in unstable:
                if time_limit is not None and time.perf_counter() - t0 > time_limit:
                    lb.stats["timed_out"] = True
                    break
                per = mip_neuron_time if kind == "mip" else None
                if kind == "mip" and time_limit is not None:
                    per = min(per, max(time_limit - (time.perf_counter() - t0), 1e-3))
                low = session.minimise(z[j], 1.0, per).bound
                if lb.lo[i][j] < low:
                    lb.lo[i][j] = low
                if low < 0 or whole:
                    up = -session.minimise(z[j], -1.0, per).bound
                    if up < lb.hi[i][j]:
                        lb.hi[i][j] = up
                lb.stats[f"{kind}_solves"] += 2 if low < 0 or whole else 1
                if lb.lo[i][j] >= 0 or lb.hi[i][j] <= 0:
                    lb.stats["tightened"] += 1
                if lb.lo[i][j] > lb.hi[i][j]:   # the solver proved the input region empty
                    lb.empty = True
                    lb.stats["time"] = time.perf_counter() - t0
                    return lb
    lb.stats["unstable"] = lb.unstable(net)
    lb.stats["time"] = time.perf_counter() - t0
    return lb
