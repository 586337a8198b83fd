"""Pooling layers over windows (:meth:`mipnet.layers.Layer.windows`, one row per output entry).

Max pooling uses selector binaries ``sigma`` with ``sum sigma = 1``, ``m >= a_k`` and
``m <= a_k + (U_max - L_k)(1 - sigma_k)``, where ``U_max`` is the window's largest upper bound. Entries that can
never be the maximum (``U_k <= max L``) get no selector; a window with a single possible maximum gets the equality
``m = a_k`` (a window of entries fixed at 0 gives 0). Average pooling is linear.

One-sided encodings (``direction``, as for :func:`mipnet.encode.relu.relu`): where the objective cannot decrease as
``m`` grows (-1) only the convex side ``m >= a_k`` is kept (no selector); where it cannot increase (+1) only
``m <= max_k a_k`` (the selector rows without ``m >= a_k``). Valid for the optimum of a model whose objective is
monotone in those outputs in the stated direction (the caller vouches for it).
"""

from __future__ import annotations

import numpy as np

from mipnet.bounds import interval
from mipnet.encode.values import Act, Encoder


def maxpool(enc: Encoder, windows: np.ndarray, act: Act, direction: np.ndarray | None = None) -> Act:
    """Encode the maximum of each window; returns the outputs ``(N, R)``.

    ``direction``: per output entry ``(N, R)`` +1 / -1 / 0 (both sides) for a one-sided encoding (module docstring).
    """
    m, win = enc.m, windows
    L, U = act.lo[:, win], act.hi[:, win]  # (N, R, K)
    val = None if act.val is None else act.val[:, win].max(-1)
    lstar, umax = interval.maxpool(win, act.lo, act.hi)
    if act.const:
        return Act(None, lstar, umax, val)
    idx = act.idx[:, win]
    n, r, k = L.shape
    kstar = L.argmax(-1)
    cand = U > lstar[..., None]
    cand[np.arange(n)[:, None], np.arange(r)[None, :], kstar] = True
    mvar = m.add_vars((n, r), lstar, umax)
    lower = upper = np.ones((n, r), dtype=bool)
    if direction is not None:
        lower, upper = direction <= 0, direction >= 0
    count = cand.sum(-1)
    single = count == 1
    if single.any():
        a_star = idx[np.arange(n)[:, None], np.arange(r)[None, :], kstar]
        for side, lo, hi in ((lower & upper, 0.0, 0.0), (lower & ~upper, 0.0, None), (upper & ~lower, None, 0.0)):
            sel1 = single & side
            if sel1.any():
                m.add_rows(np.stack([mvar[sel1], a_star[sel1]], -1), [1.0, -1.0], lo=lo, hi=hi)
    convex = cand & ~single[..., None] & lower[..., None]
    ci, cr, ck = np.nonzero(convex)
    if len(ci):
        m.add_rows(np.stack([mvar[ci, cr], idx[ci, cr, ck]], -1), [1.0, -1.0], lo=0.0)      # m >= a_k
    ii, rr, kk = np.nonzero(cand & ~single[..., None] & upper[..., None])
    if len(ii):
        mk, ak, lk, uk = mvar[ii, rr], idx[ii, rr, kk], L[ii, rr, kk], umax[ii, rr]
        sig = enc.binaries(len(ii))
        sel = np.full((n, r, k), -1, dtype=np.int64)
        sel[ii, rr, kk] = sig
        multi = ~single & upper
        m.add_rows(sel[multi], 1.0, lo=1.0, hi=1.0)                                           # sum sigma = 1
        one = np.ones(len(ii))
        big = uk - lk
        m.add_rows(np.stack([mk, ak, sig], -1), np.stack([one, -one, big], -1), hi=big)      # m <= a_k + M(1-s)
        if act.val is not None:
            v = np.where(cand, act.val[:, win], -np.inf)
            choice = np.zeros((n, r, k))
            choice[np.arange(n)[:, None], np.arange(r)[None, :], v.argmax(-1)] = 1.0
            enc.record(sig, choice[ii, rr, kk])
    enc.record(mvar, val)
    return Act(mvar, lstar, umax, val)


def avgpool(enc: Encoder, windows: np.ndarray, act: Act) -> Act:
    """Average pooling: one linear equality per sample and output entry."""
    k = windows.shape[1]
    lo, hi = interval.avgpool(windows, act.lo, act.hi, enc.widen)
    val = None if act.val is None else act.val[:, windows].mean(-1)
    if act.const:
        return Act(None, val, val, val)
    n, r = lo.shape
    mvar = enc.m.add_vars((n, r), lo, hi)
    cols = np.concatenate([mvar[..., None], act.idx[:, windows]], -1)
    enc.m.add_rows(cols, np.concatenate([[1.0], np.full(k, -1.0 / k)]), lo=0.0, hi=0.0)
    enc.record(mvar, val)
    return Act(mvar, lo, hi, val)
