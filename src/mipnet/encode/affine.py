"""Affine layers (Dense and Conv2D): ``z[i, o, p] = sum_e W[o, e] * a[i, windows[p, e]] + b[o]``.

``windows`` (:meth:`mipnet.layers.Layer.windows`) lists, for each output position ``p``, which inputs meet weight
column ``e``: a dense layer has one position and ``windows = arange(in)``; a convolution one position per output
pixel and its patch indices. What the product becomes depends only on which side is fixed (DESIGN.md section 1):

============================  ====================  =================================================
weight                        activation            rows
============================  ====================  =================================================
constant                      constant              evaluated (a constant ``Act``)
constant                      variable              linear rows in the activations (verification)
variable                      constant (data)       linear rows in the weights (training, first layer)
variable, discrete            variable, bounded     exact linearisation through the weight's binaries
variable, continuous          variable              bilinear equalities (SCIP), else refused
============================  ====================  =================================================

The bias, constant or variable, is one more term of every row.
"""

from __future__ import annotations

import numpy as np

from mipnet.bounds import interval
from mipnet.encode.values import Act, Encoder, Weights
from mipnet.errors import SettingsError
from mipnet.layers import gather_windows


def default_bounds(enc: Encoder, windows: np.ndarray, weights: Weights, act: Act) -> tuple[np.ndarray, np.ndarray]:
    """Bounds on the pre-activations ``(N, O*P)`` implied by the input's bounds and the weights' domain."""
    if weights.constant:
        lo, hi = interval.affine_constant(weights.weight, weights.bias if weights.bias_idx is None else None,
                                          windows, act.lo, act.hi, enc.widen)
        if weights.bias_idx is not None:
            lo, hi = lo - weights.bias_mag, hi + weights.bias_mag
        return lo, hi
    bias = weights.bias_mag if weights.bias_idx is not None else float(np.max(np.abs(weights.bias_values()),
                                                                              initial=0.0))
    return interval.affine_variable(windows, act.lo, act.hi, weights.n_out, weights.mag, bias, weights.budget)


def affine(enc: Encoder, windows: np.ndarray, weights: Weights, act: Act,
           bounds: tuple[np.ndarray, np.ndarray] | None = None) -> Act:
    """Encode the affine map; returns the pre-activations as an :class:`Act` of shape ``(N, O*P)``.

    ``bounds``: bounds on the pre-activations (``(N, O*P)`` or broadcastable), used as given; by default
    :func:`default_bounds`.
    """
    m = enc.m
    n, (p, n_e) = act.lo.shape[0], windows.shape
    out = weights.n_out
    b_fixed = weights.bias_values() if weights.bias_idx is None else np.zeros(out)  # the bias's constant part
    if weights.constant and act.const:
        val = _evaluate(windows, weights.weight, b_fixed, act.val)
        if weights.bias_idx is None:
            return Act.constant(val)
    lo, hi = default_bounds(enc, windows, weights, act) if bounds is None else bounds
    lo = np.broadcast_to(lo, (n, out * p)).reshape(n, out, p)
    hi = np.broadcast_to(hi, (n, out * p)).reshape(n, out, p)
    z = m.add_vars((n, out, p), lo, hi)
    z_cols = z[..., None]
    b_cols = np.broadcast_to(weights.bias_columns()[None, :, None, None], (n, out, p, 1))
    b_const = np.broadcast_to(b_fixed[None, :, None], (n, out, p))
    ones, minus = np.ones((n, out, p, 1)), -np.ones((n, out, p, 1))
    if act.const:
        if weights.constant:  # constant weights and data, variable bias: z - b = W x
            rhs = val.reshape(n, out, p)
            m.add_rows(np.concatenate([z_cols, b_cols], -1), np.concatenate([ones, minus], -1), lo=rhs, hi=rhs)
        else:  # variable weights on data: z - sum_e x_e w_e - b = const
            xp = gather_windows(act.lo, windows)  # (N, P, E)
            w_cols = np.broadcast_to(weights.weight_idx[None, :, None, :], (n, out, p, n_e))
            coefs = np.concatenate([ones, -np.broadcast_to(xp[:, None], (n, out, p, n_e)), minus], -1)
            m.add_rows(np.concatenate([z_cols, w_cols, b_cols], -1), coefs, lo=b_const, hi=b_const)
    elif weights.constant:  # constant weights: z - sum_e w_e a_e - b = const
        a_cols = gather_windows(act.idx.astype(float), windows, fill=-1).astype(np.int64)  # (N, P, E)
        cols = np.concatenate([z_cols, np.broadcast_to(a_cols[:, None], (n, out, p, n_e)), b_cols], -1)
        coefs = np.concatenate([ones, np.broadcast_to(-weights.weight[None, :, None, :], (n, out, p, n_e)), minus],
                               -1)
        m.add_rows(cols, coefs, lo=b_const, hi=b_const)
    elif weights.beta is not None:
        _discrete_product(enc, windows, weights, act, z)
    elif weights.bilinear:
        _bilinear_product(enc, windows, weights, act, z)
    else:
        raise SettingsError("continuous weights are exact as a MILP only where the layer's input is data (the first "
                            "affine layer); for later layers choose a discrete domain (sign, ternary, grid(bits)) or "
                            "'continuous-bilinear' with solver='scip'")
    zval = None
    if act.val is not None and weights.has_start():
        zval = _evaluate(windows, weights.weight, weights.bias_values(), act.val).reshape(n, out, p)
        enc.record(z, zval)
    flat = lambda a: None if a is None else a.reshape(n, out * p)  # noqa: E731  (C, H, W) order
    return Act(flat(z), flat(lo), flat(hi), flat(zval))


def _evaluate(windows: np.ndarray, weight: np.ndarray, bias: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``(N, O*P)`` values of the affine map at constant inputs."""
    xp = gather_windows(values, windows)
    z = np.einsum("npe,oe->nop", xp, weight) + bias[None, :, None]
    return z.reshape(len(values), -1)


def _discrete_product(enc: Encoder, windows: np.ndarray, weights: Weights, act: Act, z: np.ndarray) -> None:
    """``z = sum_e (c0 + sum_t coef_t beta_et) * a_e + b`` with ``r = beta * a`` linearised exactly: for each weight
    binary ``beta`` and bounded ``L <= a <= U``, ``r <= U beta``, ``r >= L beta``, ``r <= a - L (1 - beta)``,
    ``r >= a - U (1 - beta)``."""
    m = enc.m
    n, out, p = z.shape
    n_e, t = windows.shape[1], len(weights.coef)
    a_idx = gather_windows(act.idx.astype(float), windows, fill=-1).astype(np.int64)  # (N, P, E)
    lo = gather_windows(act.lo, windows)
    hi = gather_windows(act.hi, windows)
    live = (a_idx >= 0) & ((hi > 0) | (lo < 0))  # (N, P, E)
    ii, pp, ee = np.nonzero(live)
    k = len(ii)
    # r[k, o, t] = beta[o, e_k, t] * a[i_k, p_k, e_k]
    lo_k, hi_k = lo[ii, pp, ee], hi[ii, pp, ee]
    r_lo = np.minimum(lo_k, 0.0)[:, None, None] * np.ones((1, out, t))
    r_hi = np.maximum(hi_k, 0.0)[:, None, None] * np.ones((1, out, t))
    r = m.add_vars((k, out, t), r_lo, r_hi)
    beta = weights.beta[:, ee, :].transpose(1, 0, 2)  # (k, out, t)
    a = np.broadcast_to(a_idx[ii, pp, ee][:, None, None], r.shape)
    L = np.broadcast_to(lo_k[:, None, None], r.shape)
    U = np.broadcast_to(hi_k[:, None, None], r.shape)
    one = np.ones(r.shape)
    m.add_rows(np.stack([r, beta], -1), np.stack([one, -U], -1), hi=0.0)
    m.add_rows(np.stack([r, beta], -1), np.stack([one, -L], -1), lo=0.0)
    m.add_rows(np.stack([r, a, beta], -1), np.stack([one, -one, -L], -1), hi=-L)
    m.add_rows(np.stack([r, a, beta], -1), np.stack([one, -one, -U], -1), lo=-U)
    # z - c0 * sum_e a - sum_{e,t} coef_t r - b = 0, gathered per (i, o, p)
    rows = np.full((n, out, p, n_e, t), -1, dtype=np.int64)
    rows[ii, :, pp, ee, :] = r
    a_cols = np.where(live, a_idx, -1)  # (N, P, E)
    cols = np.concatenate([z[..., None], np.broadcast_to(a_cols[:, None], (n, out, p, n_e)),
                           rows.reshape(n, out, p, n_e * t),
                           np.broadcast_to(weights.bias_columns()[None, :, None, None], (n, out, p, 1))], -1)
    coefs = np.concatenate([np.ones((n, out, p, 1)), np.full((n, out, p, n_e), -weights.c0),
                            np.broadcast_to(-np.tile(weights.coef, n_e), (n, out, p, n_e * t)),
                            -np.ones((n, out, p, 1))], -1)
    b_const = 0.0 if weights.bias_idx is not None else np.broadcast_to(weights.bias_values()[None, :, None],
                                                                      (n, out, p))
    m.add_rows(cols, coefs, lo=b_const, hi=b_const)
    if act.val is not None and weights.beta_start is not None:
        aval = gather_windows(act.val, windows)[ii, pp, ee]
        enc.record(r, weights.beta_start[:, ee, :].transpose(1, 0, 2) * aval[:, None, None])


def _bilinear_product(enc: Encoder, windows: np.ndarray, weights: Weights, act: Act, z: np.ndarray) -> None:
    """``t = W * a`` as nonconvex bilinear equalities (SCIP's spatial branch-and-bound)."""
    m = enc.m
    n, out, p = z.shape
    mag_in = gather_windows(np.maximum(np.abs(act.lo), np.abs(act.hi)), windows)
    a_idx = gather_windows(act.idx.astype(float), windows, fill=-1).astype(np.int64)
    ii, pp, ee = np.nonzero((a_idx >= 0) & (mag_in > 0))
    bound = weights.mag * mag_in[ii, pp, ee][:, None] * np.ones((1, out))
    t = m.add_vars((len(ii), out), -bound, bound)
    m.add_bilinear(t, np.broadcast_to(weights.weight_idx[:, ee].T, t.shape),
                   np.broadcast_to(a_idx[ii, pp, ee][:, None], t.shape))
    rows = np.full((n, out, p, windows.shape[1]), -1, dtype=np.int64)
    rows[ii, :, pp, ee] = t
    b_cols = np.broadcast_to(weights.bias_columns()[None, :, None, None], (n, out, p, 1))
    cols = np.concatenate([z[..., None], rows, b_cols], -1)
    coefs = np.concatenate([np.ones((n, out, p, 1)), -np.ones(rows.shape), -np.ones((n, out, p, 1))], -1)
    b_const = 0.0 if weights.bias_idx is not None else np.broadcast_to(weights.bias_values()[None, :, None],
                                                                      (n, out, p))
    m.add_rows(cols, coefs, lo=b_const, hi=b_const)
    if act.val is not None and weights.weight is not None:
        aval = gather_windows(act.val, windows)[ii, pp, ee]
        enc.record(t, weights.weight[:, ee].T * aval[:, None])
