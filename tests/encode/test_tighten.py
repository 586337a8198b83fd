import itertools

import numpy as np
import pytest
from scipy.optimize import linprog

from mipnet import verify
from mipnet.bounds.layer_bounds import BoundTightening
from mipnet.encode import compute_bounds


@pytest.mark.parametrize("method", list(BoundTightening))
def test_bounds_are_sound_on_samples(dense_net, method):
    net = dense_net([3, 8, 8, 6, 2], seed=11)
    lo, hi = np.array([-1.0, -0.5, 0.0]), np.array([0.5, 0.5, 1.0])
    b = compute_bounds(net, lo, hi, method)
    X = np.random.default_rng(0).uniform(lo, hi, size=(20000, 3))
    X = np.vstack([X, np.array(list(itertools.product(*zip(lo, hi))))])       # and every corner
    for z, l, h in zip(net.pre_activations(X), b.lo, b.hi):
        assert np.all(z >= l) and np.all(z <= h)


def test_conv_bounds_are_sound(conv_net):
    net = conv_net(3)
    x0 = np.random.default_rng(1).normal(size=(1, 6, 6))
    b = compute_bounds(net, x0 - 0.2, x0 + 0.2, "lp")
    X = x0[None] + np.random.default_rng(2).uniform(-0.2, 0.2, size=(3000, 1, 6, 6))
    for z, l, h in zip(net.pre_activations(X), b.lo, b.hi):
        z = z.reshape(len(X), -1)
        assert np.all(z >= l) and np.all(z <= h)


def test_lp_is_at_least_as_tight_as_interval(dense_net):
    net = dense_net([4, 10, 10, 10, 3], seed=5)
    lo, hi = -np.ones(4), np.ones(4)
    a, b = compute_bounds(net, lo, hi, "interval"), compute_bounds(net, lo, hi, "lp")
    widths_a = sum(float(np.sum(h - l)) for l, h in zip(a.lo, a.hi))
    widths_b = sum(float(np.sum(h - l)) for l, h in zip(b.lo, b.hi))
    assert all(np.all(lb >= la - 1e-9) and np.all(hb <= ha + 1e-9) for la, ha, lb, hb in zip(a.lo, a.hi, b.lo, b.hi))
    assert widths_b < widths_a
    assert b.unstable(net) <= a.unstable(net)


def _exhaustive_output_range(net, lo, hi, j):
    """min/max of output j by one LP per activation pattern of a 2-hidden-layer dense net."""
    (W1, b1), (W2, b2), (W3, b3) = [(la.weight, la.bias) for la in net.affine_layers()]
    n1, n2 = len(b1), len(b2)
    best_lo, best_hi = np.inf, -np.inf
    for pattern in itertools.product([0, 1], repeat=n1 + n2):
        s1, s2 = np.array(pattern[:n1]), np.array(pattern[n1:])
        # z1 = W1 x + b1 ; a1 = s1 * z1 ; z2 = W2 a1 + b2 ; a2 = s2 * z2 ; y = W3 a2 + b3, all affine in x
        A2, c2 = W2 @ (s1[:, None] * W1), W2 @ (s1 * b1) + b2
        Ay, cy = W3[j] @ (s2[:, None] * A2), W3[j] @ (s2 * c2) + b3[j]
        # sign constraints: s = 1 -> z >= 0 ; s = 0 -> z <= 0
        G = np.vstack([np.where(s1[:, None] == 1, -W1, W1), np.where(s2[:, None] == 1, -A2, A2)])
        h = np.concatenate([np.where(s1 == 1, b1, -b1), np.where(s2 == 1, c2, -c2)])
        for sign in (1.0, -1.0):
            r = linprog(sign * Ay, A_ub=G, b_ub=h, bounds=list(zip(lo, hi)))
            if r.status == 0:
                v = sign * r.fun + cy
                best_lo, best_hi = min(best_lo, v), max(best_hi, v)
    return best_lo, best_hi


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_output_bounds_are_tight_on_tiny_networks(dense_net, seed):
    net = dense_net([2, 3, 3, 2], seed=seed)
    lo, hi = np.array([-1.0, -1.0]), np.array([1.0, 1.0])
    res = verify.output_bounds(net, lo, hi, time_limit=60)
    assert res.status == "exact"
    for j in range(2):
        true_lo, true_hi = _exhaustive_output_range(net, lo, hi, j)
        assert res.lower[j] <= true_lo + 1e-9 and res.upper[j] >= true_hi - 1e-9     # sound
        assert abs(res.lower[j] - true_lo) < 1e-4 and abs(res.upper[j] - true_hi) < 1e-4   # tight
        assert abs(res.lower_attained[j] - true_lo) < 1e-4 and abs(res.upper_attained[j] - true_hi) < 1e-4


def test_output_bounds_without_mip_are_sound(conv_net):
    net = conv_net(1)
    res = verify.output_bounds(net, -1.0, 1.0, exact=False, tightening="interval")
    Y = net.forward(np.random.default_rng(0).uniform(-1, 1, size=(5000, 1, 6, 6)))
    assert np.all(Y >= res.lower) and np.all(Y <= res.upper)
    assert res.status == "sound"
