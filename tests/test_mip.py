"""MIPModel.append: a copy of another model with shifted indices (two network copies in one model)."""

from __future__ import annotations

import numpy as np

from mipnet.mip import MIPModel


def _small() -> MIPModel:
    m = MIPModel()
    x = m.add_vars(2, -1.0, 2.0)
    b = m.add_binaries(1)
    m.add_rows(np.array([[x[0], x[1], b[0]]]), [1.0, 1.0, -1.0], hi=1.5)
    m.add_objective(x, [1.0, -2.0])
    m.add_quadratic_objective(x[:1], 0.5)
    m.add_bilinear(x[:1], x[1:], b)
    m.obj_constant = 0.25
    return m


def test_append_copies_with_offsets() -> None:
    a, b = _small(), _small()
    off = a.append(b)
    assert off == 3 and a.n_vars == 6 and a.n_rows == 2
    A, lo, hi = a.matrix()
    A1, _, hi1 = b.matrix()
    np.testing.assert_array_equal(A[:1, :3].toarray(), A1.toarray())
    np.testing.assert_array_equal(A[1:, 3:].toarray(), A1.toarray())
    assert A[1:, :3].nnz == 0 and list(hi) == list(hi1) * 2
    np.testing.assert_array_equal(a.integrality(), [False, False, True] * 2)
    np.testing.assert_array_equal(a.objective_vector(), [1, -2, 0, 1, -2, 0])
    assert a.quad_obj == {(0, 0): 0.5, (3, 3): 0.5} and a.bilinear == [(0, 1, 2), (3, 4, 5)]
    assert a.obj_constant == 0.5
    x = np.array([0.5, 1.0, 1.0, 2.0, -1.0, 0.0])
    assert a.objective_value(x) == b.objective_value(x[:3]) + b.objective_value(x[3:])
    assert b.n_vars == 3 and b.n_rows == 1  # the appended model is unchanged
