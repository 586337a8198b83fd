"""ReLU ``a = max(z, 0)`` with per-entry bounds ``L <= z <= U`` (DESIGN.md section 2).

An unstable entry (``L < 0 < U``) gets one binary ``d``: ``a >= z``, ``a >= 0``, ``a <= z - L (1 - d)``,
``a <= U d``. A stable entry gets none: off (``U <= 0``) means ``a = 0``, on (``L >= 0``) means ``a = z``.

One-sided encodings (``direction``): where the objective cannot decrease as ``a`` grows (-1) only the convex side
``a >= max(z, 0)`` is kept (no binary); where it cannot increase (+1) only ``a <= max(z, 0)`` (binary). Valid for
the optimum of a model whose objective is monotone in those entries in the stated direction: from any solution of
the relaxation, setting every ``a`` to ``max(z, 0)`` moves each entry in the direction that does not increase the
objective, giving a solution of the exact model that is at least as good with the same weights (the caller
vouches for the direction; :mod:`mipnet.train.sign_patterns` derives it).
"""

from __future__ import annotations

import numpy as np

from mipnet.bounds import interval
from mipnet.encode.values import Act, Encoder


def relu(enc: Encoder, z: Act, direction: np.ndarray | None = None, cap: np.ndarray | None = None,
         start: np.ndarray | None = None, indicator: bool = False) -> Act:
    """Encode ``a = max(z, 0)``; returns ``a``.

    Parameters
    ----------
    enc : Encoder
    z : Act
        The pre-activations (variables).
    direction : ndarray or None
        Per entry +1 / -1 / 0 (both sides) for a one-sided encoding (see the module docstring).
    cap : ndarray or None
        Valid upper bound on useful values of one-sided (+1) entries: lowers their big-M.
    start : ndarray or None
        Start values of ``a`` (default ``max(z.val, 0)``).
    indicator : bool
        With ``direction``, also ``z <= U d`` on the one-sided (+1) entries: ``d`` is then the side of the unit's
        hyperplane, so branching on ``d`` splits the weight space (valid for the optimum: a solution with ``d = 0``
        and ``z > 0`` has ``a = 0`` and stays feasible, with the same objective, when ``d`` is set to 1).
    """
    if z.const:
        return Act.constant(np.maximum(z.val, 0.0))
    m = enc.m
    L, U = z.lo, z.hi
    a_lo, a_hi = interval.relu(L, U)
    a = m.add_vars(z.idx.shape, 0.0, a_hi)
    lower = upper = np.ones(z.idx.shape, dtype=bool)
    if direction is not None:
        lower, upper = direction <= 0, direction >= 0
    on = L >= 0
    unstable = (L < 0) & (U > 0)
    both = on & lower & upper
    if both.any():
        m.add_rows(np.stack([a[both], z.idx[both]], -1), [1.0, -1.0], lo=0.0, hi=0.0)
    if (on & ~both & lower).any():
        m.add_rows(np.stack([a[on & ~both & lower], z.idx[on & ~both & lower]], -1), [1.0, -1.0], lo=0.0)
    if (on & ~both & upper).any():
        m.add_rows(np.stack([a[on & ~both & upper], z.idx[on & ~both & upper]], -1), [1.0, -1.0], hi=0.0)
    if (unstable & lower).any():
        sel = unstable & lower
        m.add_rows(np.stack([a[sel], z.idx[sel]], -1), [1.0, -1.0], lo=0.0)                     # a >= z
    if (unstable & upper).any():
        sel = unstable & upper
        au, zu, Lu, Uz = a[sel], z.idx[sel], L[sel], U[sel]
        Uu = Uz if cap is None else np.minimum(Uz, cap[sel])
        d = enc.binaries(au.shape)
        one = np.ones(au.shape)
        m.add_rows(np.stack([au, zu, d], -1), np.stack([one, -one, -Lu], -1), hi=-Lu)             # a <= z - L(1-d)
        m.add_rows(np.stack([au, d], -1), np.stack([one, -Uu], -1), hi=0.0)                       # a <= U d
        if direction is not None and indicator:
            m.add_rows(np.stack([zu, d], -1), np.stack([one, -Uz], -1), hi=0.0)                   # z <= U d
        if z.val is not None:
            enc.record(d, (z.val[sel] > 0).astype(float))
    aval = start if start is not None else (None if z.val is None else np.maximum(z.val, 0.0))
    enc.record(a, aval)
    return Act(a, a_lo, a_hi, aval)
