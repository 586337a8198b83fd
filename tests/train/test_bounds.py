"""The pre-activation bound rules are sound: no admissible weight vector exceeds them, and the budget rule is the
exact maximum of the fractional knapsack (checked against an LP)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linprog

from mipnet.train.bounds import affine_bound


@pytest.mark.parametrize("budget", [None, 0.0, 0.5, 2.5, 100.0])
def test_bound_equals_lp_maximum(budget):
    rng = np.random.default_rng(0)
    for _ in range(10):
        a = rng.uniform(-2, 2, 6)
        omega = 0.8
        # max a.w s.t. |w_e| <= omega, sum |w_e| <= budget, with w = p - q, p, q >= 0
        n = len(a)
        c = -np.concatenate([a, -a])
        A = [np.ones(2 * n)] if budget is not None else None
        res = linprog(c, A_ub=A, b_ub=[budget] if budget is not None else None, bounds=[(0, omega)] * (2 * n))
        assert affine_bound(np.abs(a)[None], omega, budget)[0] == pytest.approx(-res.fun, abs=1e-7)
