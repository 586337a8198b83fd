"""Symbolic (CROWN-style) bounds: linear lower and upper functions of the input for every neuron.

For networks of :class:`~mipnet.layers.Dense` layers (and :class:`~mipnet.layers.Flatten`), each neuron is bounded
by ``Al x + cl <= v <= Au x + cu`` over the input box. An affine layer maps these functions exactly (positive weights
take the lower function to the lower side, negative weights the upper one). An unstable ReLU (numeric bounds
``l < 0 < u``) is relaxed by the triangle relaxation of :func:`relu_relaxation`. Numeric bounds come from minimising
/ maximising the linear functions over the box, widened by :data:`~mipnet.bounds.interval.ROUND_EPS` for rounding,
and intersected with interval arithmetic from the previous layer's numeric bounds. These bounds are much tighter
than plain interval arithmetic for deep networks and cost a few small matrix products, which makes them the
work-horse of input splitting.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linprog

from mipnet.bounds import interval
from mipnet.bounds.interval import ROUND_EPS
from mipnet.bounds.layer_bounds import LayerBounds
from mipnet.layers import Dense, Flatten
from mipnet.network import Network


def supports(net: Network) -> bool:
    """Whether symbolic bounds apply (dense layers and Flatten only)."""
    return all(isinstance(la, (Dense, Flatten)) for la in net.layers)


def relu_relaxation(l: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Linear relaxation of ``a = relu(z)`` for ``l <= z <= u``: ``s z <= a <= lam z + shift``.

    Stable entries are exact (on: slopes 1, off: slopes 0). An unstable entry gets the triangle's upper side
    ``lam = u / (u - l)``, ``shift = -lam l`` and the adaptive lower slope of CROWN/DeepPoly (``s = 1`` if
    ``u > -l`` else ``0``). Returns ``(lam, shift, s)``.
    """
    off, on = u <= 0, l >= 0
    unst = ~off & ~on
    lam = np.where(unst, u / np.where(unst, u - l, 1.0), on.astype(float))
    shift = np.where(unst, -lam * l, 0.0)
    s = np.where(unst, (u > -l).astype(float), on.astype(float))
    return lam, shift, s


def _bias(layer: Dense) -> np.ndarray:
    return layer.bias if layer.bias is not None else np.zeros(layer.weight.shape[0])


def symbolic_bounds(net: Network, lo: np.ndarray, hi: np.ndarray) -> tuple[LayerBounds, tuple]:
    """Layer bounds of ``net`` over the box, and the output's linear bounds ``(Al, cl, Au, cu)``.

    Parameters
    ----------
    net : Network
        Dense layers only (see :func:`supports`).
    lo, hi : ndarray
        Flat input box.
    """
    n = net.n_inputs
    Al, cl = np.eye(n), np.zeros(n)
    Au, cu = np.eye(n), np.zeros(n)
    lb = LayerBounds(lo, hi, method="symbolic", stats={"symbolic": True})
    for i, layer in enumerate(net.layers):
        if isinstance(layer, Flatten):
            prev = lb.post(net, i - 1)
            lb.lo.append(prev[0])
            lb.hi.append(prev[1])
            continue
        W, b = layer.weight, _bias(layer)
        Wp, Wn = np.maximum(W, 0.0), np.minimum(W, 0.0)
        Zl, zl = Wp @ Al + Wn @ Au, Wp @ cl + Wn @ cu + b
        Zu, zu = Wp @ Au + Wn @ Al, Wp @ cu + Wn @ cl + b
        l = interval.box_lower_bound(Zl, lo, hi, zl, ROUND_EPS)
        u = interval.box_upper_bound(Zu, lo, hi, zu, ROUND_EPS)
        # never looser than plain interval arithmetic from the previous layer's numeric bounds
        il, iu = interval.layer_bounds(layer, *lb.post(net, i - 1))
        lb.lo.append(np.maximum(l, il))
        lb.hi.append(np.minimum(u, iu))
        if not layer.relu:
            Al, cl, Au, cu = Zl, zl, Zu, zu
            continue
        lam, shift, s = relu_relaxation(lb.lo[-1], lb.hi[-1])
        Au, cu = lam[:, None] * Zu, lam * zu + shift
        Al, cl = s[:, None] * Zl, s * zl
    return lb, (Al, cl, Au, cu)


def backward_row_bounds(net: Network, lb: LayerBounds, A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Linear lower functions ``G x + g <= A @ [x; y]`` valid over the box (CROWN-style backward pass).

    The rows are propagated backwards through the layers; each unstable ReLU (bounds from ``lb``) is replaced by its
    lower line where the row's coefficient is positive and by its upper line where it is negative. Returns
    ``(G, g)`` of shapes ``(R, n_inputs)`` and ``(R,)``.
    """
    n = net.n_inputs
    lam, const = _backward(net, lb, A[:, n:].astype(float).copy(), np.zeros(A.shape[0]), len(net.layers) - 1)
    return lam + A[:, :n], const


def _backward(net: Network, lb: LayerBounds, lam: np.ndarray, const: np.ndarray, start: int
              ) -> tuple[np.ndarray, np.ndarray]:
    """Propagate linear lower functions ``lam @ (output of layer start) + const`` back to the input."""
    for i in range(start, -1, -1):
        layer = net.layers[i]
        if isinstance(layer, Flatten):
            continue
        if layer.relu:
            up, up_shift, low = relu_relaxation(lb.lo[i], lb.hi[i])
            lp, ln = np.maximum(lam, 0.0), np.minimum(lam, 0.0)
            const = const + ln @ up_shift
            lam = lp * low + ln * up
        const = const + lam @ _bias(layer)
        lam = lam @ layer.weight
    return lam, const


def crown_bounds(net: Network, lo: np.ndarray, hi: np.ndarray) -> LayerBounds:
    """Layer bounds from the forward symbolic pass, tightened layer by layer by backward (CROWN-style) passes.

    For affine layer ``i`` the rows ``+-W_i`` are propagated back to the input through the earlier layers' ReLU
    relaxations (built from the already tightened bounds); the result is intersected with the forward bounds.
    """
    lb, _ = symbolic_bounds(net, lo, hi)
    for i, layer in enumerate(net.layers):
        if isinstance(layer, Flatten) or i == 0:
            continue
        W, bias = layer.weight, _bias(layer)
        G, g = _backward(net, lb, np.vstack([W, -W]), np.concatenate([bias, -bias]), i - 1)
        v = interval.box_lower_bound(G, lo, hi, g, ROUND_EPS)
        m = W.shape[0]
        lb.lo[i] = np.maximum(lb.lo[i], v[:m])
        lb.hi[i] = np.minimum(lb.hi[i], -v[m:])
    return lb


def conjunction_lower_bound(G: np.ndarray, g: np.ndarray, b: np.ndarray, lo: np.ndarray, hi: np.ndarray
                            ) -> tuple[float, np.ndarray, np.ndarray]:
    """A sound lower bound on ``min_x max_r (G_r x + g_r - b_r)`` over the box.

    A positive value proves that no ``x`` of the box satisfies every row ``G_r x + g_r <= b_r``. The weights of
    the rows come from a small LP; the bound itself is evaluated from those weights directly (any convex
    combination of the rows gives a valid bound), so it does not depend on the LP's tolerances.

    Returns the bound, the combined function's coefficients and the LP's minimiser (a good candidate point).
    """
    R, n = G.shape
    if R == 1:
        w = np.ones(1)
        x_star = np.where(G[0] > 0, lo, hi)
    else:
        # min t  s.t.  G x - t <= b - g ,  lo <= x <= hi
        c = np.zeros(n + 1)
        c[-1] = 1.0
        res = linprog(c, A_ub=np.hstack([G, -np.ones((R, 1))]), b_ub=b - g,
                      bounds=[*zip(lo, hi), (None, None)], method="highs")
        if res.status != 0:
            w = np.ones(R) / R
            x_star = (lo + hi) / 2
        else:
            w = np.abs(res.ineqlin.marginals)
            w = w / w.sum() if w.sum() > 0 else np.ones(R) / R
            x_star = res.x[:n]
    coef = w @ G
    v = float(interval.box_lower_bound(coef[None], lo, hi, float(w @ (g - b)))[0])
    # also the best single row (never worse than what we had)
    single = interval.box_lower_bound(G, lo, hi, g - b)
    r = int(np.argmax(single))
    if single[r] > v:
        v, coef = float(single[r]), G[r]
    return v - ROUND_EPS * (1 + abs(v)), coef, np.clip(x_star, lo, hi)
