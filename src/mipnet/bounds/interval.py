"""Interval bounds: the one place where a layer's output range is computed from its input range.

Every function takes a batch axis: bounds have shape ``(N, D)`` (N samples in training, one input or two copies
in verification). Two rules for affine layers:

* **constant weights** (verification, fixed output signs in training): ``W+ U + W- L + b``, exact interval
  arithmetic;
* **variable weights** (training): every weight lies in ``[-omega, omega]``, so
  ``|sum_e w_e a_e| <= omega * sum_e max|a_e|``; with an L1 budget ``sum_e |w_e| <= B`` (implied by an incumbent
  when the objective has an L1 term) the largest value is a fractional knapsack that fills the largest ``|a_e|``
  first (:func:`weight_box_bound`). The bias adds ``+-omega_b``.

Floating-point widening is an explicit parameter (``widen``, relative): verification widens by :data:`ROUND_EPS`
so that a bound stays valid after rounding; training keeps exact big-M values (``widen=0``).
"""

from __future__ import annotations

import numpy as np

from mipnet.layers import AvgPool2D, Conv2D, Dense, Flatten, Layer, MaxPool2D, gather_windows

#: relative widening of interval bounds for floating-point rounding (verification)
ROUND_EPS = 1e-9


def widen(lo: np.ndarray, hi: np.ndarray, rel: float) -> tuple[np.ndarray, np.ndarray]:
    """``[lo, hi]`` widened by ``rel * (1 + |bound|)`` on each side (no change when ``rel`` is 0)."""
    if not rel:
        return lo, hi
    return lo - rel * (1.0 + np.abs(lo)), hi + rel * (1.0 + np.abs(hi))


def box_lower_bound(A: np.ndarray, lo: np.ndarray, hi: np.ndarray, const: np.ndarray | float = 0.0,
                    rel: float = 0.0) -> np.ndarray:
    """``min (A v + const)`` per row over the box ``lo <= v <= hi`` (exact, then widened down by ``rel``)."""
    v = np.maximum(A, 0.0) @ lo + np.minimum(A, 0.0) @ hi + const
    return v - rel * (1.0 + np.abs(v)) if rel else v


def box_upper_bound(A: np.ndarray, lo: np.ndarray, hi: np.ndarray, const: np.ndarray | float = 0.0,
                    rel: float = 0.0) -> np.ndarray:
    """``max (A v + const)`` per row over the box ``lo <= v <= hi`` (exact, then widened up by ``rel``)."""
    v = np.maximum(A, 0.0) @ hi + np.minimum(A, 0.0) @ lo + const
    return v + rel * (1.0 + np.abs(v)) if rel else v


def weight_box_bound(mag: np.ndarray, omega: float, budget: float | None = None) -> np.ndarray:
    """Largest ``|sum_e w_e a_e|`` over the last axis, for ``|w_e| <= omega`` (and ``sum_e |w_e| <= budget``).

    Parameters
    ----------
    mag : ndarray, shape ``(..., E)``
        Largest magnitude of each input term ``max |a_e|``.
    omega : float
        Bound on each ``|w_e|``.
    budget : float or None
        Bound on ``sum_e |w_e|`` (None: no budget).
    """
    mag = np.abs(np.asarray(mag, dtype=float))
    plain = omega * mag.sum(axis=-1)
    if budget is None or not np.isfinite(budget):
        return plain
    budget = max(float(budget), 0.0)
    srt = -np.sort(-mag, axis=-1)  # descending
    # weight allotted to the e-th largest term: min(omega, what remains of the budget)
    before = omega * np.arange(srt.shape[-1])
    alloc = np.clip(budget - before, 0.0, omega)
    return np.minimum(plain, (alloc * srt).sum(axis=-1))


def affine_constant(weight: np.ndarray, bias: np.ndarray | None, windows: np.ndarray, lo: np.ndarray,
                    hi: np.ndarray, rel: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Bounds on ``z[n, o, p] = sum_e W[o, e] a[n, windows[p, e]] + b[o]`` for constant weights ``(O, E)``.

    ``lo``, ``hi`` of shape ``(N, D)``; returns ``(N, O*P)`` in ``(O, P)`` (channel-major) order.
    """
    W = weight.reshape(weight.shape[0], -1)
    b = np.zeros(W.shape[0]) if bias is None else bias
    plo, phi = gather_windows(lo, windows), gather_windows(hi, windows)              # (N, P, E), 0 on padding
    Wp, Wn = np.maximum(W, 0.0), np.minimum(W, 0.0)
    zlo = np.einsum("npe,oe->nop", plo, Wp) + np.einsum("npe,oe->nop", phi, Wn) + b[None, :, None]
    zhi = np.einsum("npe,oe->nop", phi, Wp) + np.einsum("npe,oe->nop", plo, Wn) + b[None, :, None]
    n = lo.shape[0]
    return widen(zlo.reshape(n, -1), zhi.reshape(n, -1), rel)


def affine_variable(windows: np.ndarray, lo: np.ndarray, hi: np.ndarray, out: int, omega: float,
                    omega_b: float, budget: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric bounds on an affine layer's pre-activations whose weights are variables in ``[-omega, omega]``
    (and within an L1 ``budget``) and whose biases lie in ``[-omega_b, omega_b]`` (0 for no bias).

    Returns ``(N, out*P)`` arrays in ``(O, P)`` order (the same bound for every output unit).
    """
    mag = gather_windows(np.maximum(np.abs(lo), np.abs(hi)), windows)                # (N, P, E), 0 on padding
    width = weight_box_bound(mag, omega, budget) + omega_b                           # (N, P)
    hi_z = np.broadcast_to(width[:, None, :], (lo.shape[0], out, windows.shape[0])).reshape(lo.shape[0], -1)
    return -hi_z, hi_z.copy()


def maxpool(windows: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bounds on each window's maximum: ``(max L, max U)`` (exact: no rounding)."""
    return lo[:, windows].max(-1), hi[:, windows].max(-1)


def avgpool(windows: np.ndarray, lo: np.ndarray, hi: np.ndarray, rel: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Bounds on each window's mean."""
    return widen(lo[:, windows].mean(-1), hi[:, windows].mean(-1), rel)


def relu(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bounds after a ReLU (exact)."""
    return np.maximum(lo, 0.0), np.maximum(hi, 0.0)


def layer_bounds(layer: Layer, lo: np.ndarray, hi: np.ndarray, rel: float = ROUND_EPS
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Interval bounds of a layer with constant weights: the pre-activation of an affine layer (before its ReLU),
    the output of any other layer. ``lo``, ``hi`` of shape ``(N, D)`` or flat ``(D,)`` (returned flat then)."""
    flat = np.ndim(lo) == 1
    lo2, hi2 = np.atleast_2d(lo), np.atleast_2d(hi)
    if isinstance(layer, (Dense, Conv2D)):
        if not layer.active:
            out = (lo2, hi2)
        else:
            out = affine_constant(layer.weight, layer.bias, layer.windows(), lo2, hi2, rel)
    elif isinstance(layer, MaxPool2D):
        out = maxpool(layer.windows(), lo2, hi2)
    elif isinstance(layer, AvgPool2D):
        out = avgpool(layer.windows(), lo2, hi2, rel)
    elif isinstance(layer, Flatten):
        out = (lo2, hi2)
    else:  # pragma: no cover - every layer kind is handled
        raise TypeError(f"no interval rule for {layer!r}")
    return (out[0][0], out[1][0]) if flat else out
