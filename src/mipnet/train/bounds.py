"""Bounds on pre-activations during training, per sample and per unit (DESIGN.md section 2).

Two rules, both sound:

* **interval**: every weight lies in ``[-omega, omega]``, so ``|sum_e w_e a_e| <= omega * sum_e max|a_e|``.
* **budget**: when the objective has an L1 term ``l1 * sum|w|`` and an incumbent of value ``UB`` is known, any
  better solution has ``sum|w| <= B = (UB - constant) / l1``. The largest ``sum_e w_e a_e`` under
  ``|w_e| <= omega`` and ``sum_e |w_e| <= B`` is a fractional knapsack: fill the largest ``|a_e|`` first.
  This removes only solutions worse than the incumbent, which the solver keeps.
"""

from __future__ import annotations

import numpy as np


def affine_bound(mag: np.ndarray, omega: float, budget: float | None = None) -> np.ndarray:
    """Largest ``|sum_e w_e a_e|`` over the last axis of ``mag = max|a_e|``.

    Parameters
    ----------
    mag : ndarray, shape ``(..., E)``
        Largest magnitude of each input term.
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
