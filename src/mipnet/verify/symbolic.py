"""Symbolic interval bounds: linear lower and upper functions of the input for every neuron.

For networks of :class:`~mipnet.layers.Dense` layers (and :class:`~mipnet.layers.Flatten`), each neuron is bounded
by ``Al x + cl <= v <= Au x + cu`` over the input box. An affine layer maps these functions exactly (positive weights
take the lower function to the lower side, negative weights the upper one). An unstable ReLU (numeric bounds
``l < 0 < u``) is relaxed by ``a <= u (z - l) / (u - l)`` above and ``a >= s z`` below with ``s = 1`` if ``u > -l``
else ``0`` (the adaptive choice of CROWN/DeepPoly). Numeric bounds come from minimising/maximising the linear
functions over the box, widened by ``1e-9 (1 + |b|)`` for rounding, and intersected with interval arithmetic
from the previous layer's numeric bounds. These bounds are much tighter than plain
interval arithmetic for deep networks and cost a few small matrix products, which makes them the work-horse of
input splitting (:mod:`mipnet.verify.splitting`).
"""

from __future__ import annotations

import numpy as np

from mipnet.layers import Dense, Flatten
from mipnet.network import Network
from mipnet.verify.bounds import ROUND_EPS, BoundTightening, LayerBounds, interval_layer


def supports(net: Network) -> bool:
    """Whether symbolic bounds apply (dense layers and Flatten only)."""
    return all(isinstance(la, (Dense, Flatten)) for la in net.layers)


def _concretize(A: np.ndarray, c: np.ndarray, lo: np.ndarray, hi: np.ndarray, upper: bool) -> np.ndarray:
    Ap, An = np.maximum(A, 0.0), np.minimum(A, 0.0)
    v = (Ap @ hi + An @ lo + c) if upper else (Ap @ lo + An @ hi + c)
    return v + ROUND_EPS * (1 + np.abs(v)) if upper else v - ROUND_EPS * (1 + np.abs(v))


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
    lb = LayerBounds(lo, hi, method=BoundTightening.INTERVAL, stats={"symbolic": True})
    for layer in net.layers:
        if isinstance(layer, Flatten):
            lb.lo.append(lb.lo[-1] if lb.lo else lo)
            lb.hi.append(lb.hi[-1] if lb.hi else hi)
            continue
        W = layer.weight
        b = layer.bias if layer.bias is not None else np.zeros(W.shape[0])
        Wp, Wn = np.maximum(W, 0.0), np.minimum(W, 0.0)
        Zl, zl = Wp @ Al + Wn @ Au, Wp @ cl + Wn @ cu + b
        Zu, zu = Wp @ Au + Wn @ Al, Wp @ cu + Wn @ cl + b
        l, u = _concretize(Zl, zl, lo, hi, False), _concretize(Zu, zu, lo, hi, True)
        # never looser than plain interval arithmetic from the previous layer's numeric bounds
        prev = lb.post(net, len(lb.lo) - 1) if lb.lo else (lo, hi)
        il, iu = interval_layer(layer, *prev)
        l, u = np.maximum(l, il), np.minimum(u, iu)
        lb.lo.append(l)
        lb.hi.append(u)
        if not layer.relu:
            Al, cl, Au, cu = Zl, zl, Zu, zu
            continue
        off, on = u <= 0, l >= 0
        unst = ~off & ~on
        lam = np.where(unst, u / np.where(unst, u - l, 1.0), on.astype(float))   # upper slope (1 on, 0 off)
        shift = np.where(unst, -lam * l, 0.0)
        s = np.where(unst, (u > -l).astype(float), on.astype(float))             # lower slope
        Au, cu = lam[:, None] * Zu, lam * zu + shift
        Al, cl = s[:, None] * Zl, s * zl
    return lb, (Al, cl, Au, cu)


def row_lower_bounds(A: np.ndarray, b: np.ndarray, n_inputs: int, out_lin: tuple, lo: np.ndarray,
                     hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower bounds on ``A @ [x; y]`` per row over the box, and each row's linear lower function's coefficients.

    ``y`` is replaced by its linear lower (positive coefficient) or upper (negative coefficient) function of ``x``.
    """
    Al, cl, Au, cu = out_lin
    Ax, Ay = A[:, :n_inputs], A[:, n_inputs:]
    Ayp, Ayn = np.maximum(Ay, 0.0), np.minimum(Ay, 0.0)
    coef = Ax + Ayp @ Al + Ayn @ Au
    const = Ayp @ cl + Ayn @ cu
    return _concretize(coef, const, lo, hi, False), coef


def backward_row_bounds(net: Network, lb: LayerBounds, A: np.ndarray, lo: np.ndarray, hi: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Linear lower functions ``G x + g <= A @ [x; y]`` valid over the box (CROWN-style backward pass).

    The rows are propagated backwards through the layers; each unstable ReLU (bounds from ``lb``) is replaced by its
    lower line ``a >= s z`` where the row's coefficient is positive and by its upper line ``a <= u (z - l)/(u - l)``
    where it is negative. Returns ``(G, g)`` of shapes ``(R, n_inputs)`` and ``(R,)``.
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
            l, u = lb.lo[i], lb.hi[i]
            off, on = u <= 0, l >= 0
            unst = ~off & ~on
            up = np.where(unst, u / np.where(unst, u - l, 1.0), on.astype(float))
            up_shift = np.where(unst, -up * l, 0.0)
            low = np.where(unst, (u > -l).astype(float), on.astype(float))
            lp, ln = np.maximum(lam, 0.0), np.minimum(lam, 0.0)
            const = const + ln @ up_shift
            lam = lp * low + ln * up
        bias = layer.bias if layer.bias is not None else np.zeros(layer.weight.shape[0])
        const = const + lam @ bias
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
        W = layer.weight
        bias = layer.bias if layer.bias is not None else np.zeros(W.shape[0])
        lam = np.vstack([W, -W])
        G, g = _backward(net, lb, lam, np.concatenate([bias, -bias]), i - 1)
        v = _concretize(G, g, lo, hi, False)
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
    from scipy.optimize import linprog

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
    const = float(w @ (g - b))
    v = float(np.maximum(coef, 0) @ lo + np.minimum(coef, 0) @ hi + const)
    # also the best single row (never worse than what we had)
    single = np.maximum(G, 0) @ lo + np.minimum(G, 0) @ hi + g - b
    r = int(np.argmax(single))
    if single[r] > v:
        v, coef = float(single[r]), G[r]
    return v - ROUND_EPS * (1 + abs(v)), coef, np.clip(x_star, lo, hi)
