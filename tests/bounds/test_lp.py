"""The safe LP-bound rule: weak duality holds for any multipliers."""

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from mipnet.bounds.lp import safe_dual_bound


def test_safe_dual_bound_is_valid_for_any_multipliers():
    rng = np.random.default_rng(0)
    A = sp.csr_matrix(rng.normal(size=(6, 5)))
    row_lo, row_hi = -np.abs(rng.normal(size=6)) - 1, np.abs(rng.normal(size=6)) + 1
    col_lo, col_hi = -np.ones(5), np.ones(5)
    c = rng.normal(size=5)
    opt = linprog(c, A_ub=np.vstack([A.toarray(), -A.toarray()]), b_ub=np.concatenate([row_hi, -row_lo]),
                  bounds=list(zip(col_lo, col_hi)))
    assert opt.status == 0
    for _ in range(50):
        y = rng.normal(size=6)
        assert safe_dual_bound(c, A, row_lo, row_hi, col_lo, col_hi, y) <= opt.fun + 1e-9
