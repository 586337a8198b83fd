"""Pooling layers over windows (:meth:`mipnet.layers.Layer.windows`, one row per output entry).

Max pooling uses selector binaries ``sigma`` with ``sum sigma = 1``, ``m >= a_k`` and
``m <= a_k + (U_max - L_k)(1 - sigma_k)``, where ``U_max`` is the window's largest upper bound. Entries that can
never be the maximum (``U_k <= max L``) get no selector; a window with a single possible maximum gets the equality
``m = a_k`` (a window of entries fixed at 0 gives 0). Average pooling is linear.
"""

from __future__ import annotations

import numpy as np

from mipnet.bounds import interval
from mipnet.encode.values import Act, Encoder


def maxpool(enc: Encoder, windows: np.ndarray, act: Act) -> Act:
    """Encode the maximum of each window; returns the outputs ``(N, R)``."""
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
    count = cand.sum(-1)
    single = count == 1
    if single.any():
        a_star = idx[np.arange(n)[:, None], np.arange(r)[None, :], kstar]
        m.add_rows(np.stack([mvar[single], a_star[single]], -1), [1.0, -1.0], lo=0.0, hi=0.0)
    ii, rr, kk = np.nonzero(cand & ~single[..., None])
    if len(ii):
        mk, ak, lk, uk = mvar[ii, rr], idx[ii, rr, kk], L[ii, rr, kk], umax[ii, rr]
        sig = enc.binaries(len(ii))
        sel = np.full((n, r, k), -1, dtype=np.int64)
        sel[ii, rr, kk] = sig
        multi = ~single
        m.add_rows(sel[multi], 1.0, lo=1.0, hi=1.0)                                           # sum sigma = 1
        one = np.ones(len(ii))
        m.add_rows(np.stack([mk, ak], -1), [1.0, -1.0], lo=0.0)                              # m >= a_k
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
