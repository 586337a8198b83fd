"""Max pooling: selector binaries only where an entry can be the maximum; the encoding equals the maximum."""

import numpy as np

from mipnet.encode import Act, Encoder
from mipnet.encode.pool import maxpool
from mipnet.layers import MaxPool2D
from mipnet.mip import MIPModel
from mipnet.solvers import SolveOptions, get_backend


def test_maxpool_selectors_only_where_needed():
    enc = Encoder()
    layer = MaxPool2D(2)
    layer.build((1, 2, 6))  # three windows of four entries
    a = enc.m.add_vars((1, 12), 0.0, 10.0)
    win = layer.windows()
    lo, hi = np.zeros((1, 12)), np.zeros((1, 12))
    lo[0, win[0]], hi[0, win[0]] = [5, 0, 0, 0], [6, 1, 2, 3]     # entry 0 dominates: no selector
    lo[0, win[1]], hi[0, win[1]] = [0, 0, 0, 0], [0, 0, 0, 0]     # all fixed at 0: m = 0
    lo[0, win[2]], hi[0, win[2]] = [1, 0, 0, 0], [4, .5, 3, 1]    # entries 1 and 3 can never be the maximum
    n_bin = enc.m.integrality().sum()
    out = maxpool(enc, layer.windows(), Act(a, lo, hi, None))
    assert enc.m.integrality().sum() - n_bin == 2  # selectors for window 2's entries 0 and 2 only
    np.testing.assert_array_equal(out.lo, [[5, 0, 1]])
    np.testing.assert_array_equal(out.hi, [[6, 0, 4]])
    rng = np.random.default_rng(0)
    backend = get_backend("highs")
    for _ in range(5):
        vals = rng.uniform(lo, hi)
        base = enc.m
        m = MIPModel(**{k: list(v) if isinstance(v, list) else v for k, v in vars(base).items()})
        m.fix(a, vals)
        m.obj = {int(i): 1.0 for i in out.idx.ravel()}  # min and max of m must both equal the max
        res_min = backend.solve(m, SolveOptions())
        m.obj = {int(i): -1.0 for i in out.idx.ravel()}
        res_max = backend.solve(m, SolveOptions())
        expect = vals[0, win].max(1)
        np.testing.assert_allclose(res_min.x[out.idx[0]], expect, atol=1e-9)
        np.testing.assert_allclose(res_max.x[out.idx[0]], expect, atol=1e-9)


# ------------------------------------------------------------------------------------------- brute force
