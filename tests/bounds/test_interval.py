"""Interval rules: exact for one layer (equal to enumeration), sound for networks; the variable-weight rules are
sound for every admissible weight, and the budget rule is the exact maximum of the fractional knapsack (checked
against an LP)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.optimize import linprog

from mipnet import AvgPool2D, Dense, Flatten, MaxPool2D, Network
from mipnet.bounds import interval
from mipnet.bounds.interval import weight_box_bound
from mipnet.bounds.layer_bounds import interval_bounds


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
        assert weight_box_bound(np.abs(a)[None], omega, budget)[0] == pytest.approx(-res.fun, abs=1e-7)


def _corners(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    return np.array(list(itertools.product(*zip(lo, hi))))


@pytest.mark.parametrize("seed", range(4))
def test_one_layer_interval_bounds_equal_enumeration(seed: int) -> None:
    """For one affine layer (and a pooling layer) interval arithmetic is exact: the box's corners attain it."""
    rng = np.random.default_rng(seed)
    lo = rng.uniform(-1, 0, 4)
    hi = lo + rng.uniform(0, 2, 4)
    dense = Dense(3, weight=rng.normal(size=(3, 4)), bias=rng.normal(size=3))
    Network([dense], 4)
    zl, zu = interval.layer_bounds(dense, lo, hi, rel=0.0)
    Z = _corners(lo, hi) @ dense.weight.T + dense.bias
    np.testing.assert_allclose(zl, Z.min(0), atol=1e-12)
    np.testing.assert_allclose(zu, Z.max(0), atol=1e-12)
    for pool in (MaxPool2D(2), AvgPool2D(2)):
        Network([pool, Flatten(), Dense(1, weight=np.ones((1, 1)))], (1, 2, 2))
        pl, pu = interval.layer_bounds(pool, lo, hi, rel=0.0)
        P = pool.forward(_corners(lo, hi).reshape(-1, 1, 2, 2)).reshape(-1, 1)
        np.testing.assert_allclose(pl, P.min(0), atol=1e-12)
        np.testing.assert_allclose(pu, P.max(0), atol=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_network_interval_bounds_are_sound_and_widened(conv_net, seed: int) -> None:
    net = conv_net(seed)
    lo, hi = -np.ones(net.n_inputs), np.ones(net.n_inputs)
    lb = interval_bounds(net, lo, hi)
    exact = interval_bounds(net, lo, hi, rel=0.0)
    X = np.random.default_rng(seed).uniform(-1, 1, (3000, *net.input_shape))
    for i, z in enumerate(net.pre_activations(X)):
        z = z.reshape(len(X), -1)
        assert np.all(z >= lb.lo[i]) and np.all(z <= lb.hi[i])
        assert np.all(lb.lo[i] <= exact.lo[i]) and np.all(lb.hi[i] >= exact.hi[i])


def test_variable_weight_bound_holds_for_every_weight_in_the_box() -> None:
    """``affine_variable``: no weight matrix within ``[-omega, omega]`` and no bias within ``[-omega_b, omega_b]``
    takes a pre-activation outside the bound, at any input of the box."""
    rng = np.random.default_rng(0)
    lo, hi = rng.uniform(-1, 0, (5, 3)), rng.uniform(0, 1, (5, 3))
    zl, zu = interval.affine_variable(np.arange(3)[None], lo, hi, out=2, omega=0.7, omega_b=0.3)
    for _ in range(200):
        W, b = rng.uniform(-0.7, 0.7, (2, 3)), rng.uniform(-0.3, 0.3, 2)
        x = rng.uniform(lo, hi)
        z = x @ W.T + b
        assert np.all(z >= zl - 1e-12) and np.all(z <= zu + 1e-12)
