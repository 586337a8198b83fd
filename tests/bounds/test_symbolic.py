"""Symbolic (CROWN-style) bounds are sound against sampling and never looser than interval arithmetic."""

import numpy as np

from mipnet.bounds.layer_bounds import interval_bounds
from mipnet.bounds.symbolic import crown_bounds, symbolic_bounds


def test_symbolic_and_crown_bounds_are_sound_and_tighter(dense_net):
    net = dense_net([3, 10, 10, 10, 2], seed=21)
    lo, hi = np.array([-1.0, -0.5, 0.0]), np.array([0.5, 0.5, 1.0])
    iv = interval_bounds(net, lo, hi)
    sym, _ = symbolic_bounds(net, lo, hi)
    cr = crown_bounds(net, lo, hi)
    X = np.random.default_rng(3).uniform(lo, hi, size=(20000, 3))
    for i, z in enumerate(net.pre_activations(X)):
        assert np.all(z >= sym.lo[i]) and np.all(z <= sym.hi[i])
        assert np.all(z >= cr.lo[i]) and np.all(z <= cr.hi[i])
        assert np.all(cr.hi[i] - cr.lo[i] <= iv.hi[i] - iv.lo[i] + 1e-9)
