import numpy as np
import pytest

from mipnet import verify


def _attack_margin(net, x0, eps, label, rng, n=4000):
    """Simple attack: random points and corners of the ball, then signed finite-difference steps."""
    X = x0 + rng.uniform(-eps, eps, size=(n, x0.size))
    X = np.vstack([X, x0 + eps * np.sign(rng.normal(size=(n, x0.size)))])
    Y = net.forward(X)
    M = Y[:, [label]] - np.delete(Y, label, axis=1)
    return float(M.min())


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("eps", [0.02, 0.15, 0.6])
def test_robustness_agrees_with_attack(dense_net, seed, eps):
    net = dense_net([4, 8, 8, 3], seed=seed)
    rng = np.random.default_rng(100 + seed)
    x0 = rng.normal(size=4)
    res = verify.robustness(net, x0, eps, time_limit=60)
    label = int(np.argmax(net.forward(x0[None])[0]))
    assert res.label == label
    attack = _attack_margin(net, x0, eps, label, rng)
    assert res.status in ("holds", "violated")          # tiny networks: always decided
    if attack <= 0:
        assert res.status == "violated"
    if res.status == "holds":
        assert res.margin_bound > 0
        assert res.margin_bound <= attack + 1e-9         # a proved lower bound can never exceed an attained value
    else:
        cx = res.counterexample.reshape(-1)
        assert np.all(np.abs(cx - x0) <= eps + 1e-12)
        y = net.forward(cx[None])[0]
        assert y[label] - np.delete(y, label).max() <= 0
    # with every MIP optimal the reported margin is the true worst case: no sampled point beats it
    assert res.margin <= attack + 1e-6
    assert res.margin_bound <= res.margin + 1e-6


def test_both_answers_occur(dense_net):
    net = dense_net([4, 8, 8, 3], seed=0)
    x0 = np.random.default_rng(100).normal(size=4)
    assert verify.robustness(net, x0, 1e-4).status == "holds"
    assert verify.robustness(net, x0, 5.0).status == "violated"


def test_conv_robustness_with_domain(conv_net):
    net = conv_net(5)
    rng = np.random.default_rng(0)
    x0 = rng.uniform(0, 1, size=(1, 6, 6))
    res = verify.robustness(net, x0, 0.05, domain=(0.0, 1.0), time_limit=60)
    assert res.status in ("holds", "violated")
    label = res.label
    X = np.clip(x0[None] + rng.uniform(-0.05, 0.05, size=(3000, 1, 6, 6)), 0, 1)
    Y = net.forward(X)
    attack = float((Y[:, [label]] - np.delete(Y, label, axis=1)).min())
    assert res.margin_bound <= attack + 1e-9
    if res.status == "violated":
        cx = res.counterexample
        assert cx.shape == (1, 6, 6) and cx.min() >= 0 and cx.max() <= 1
        assert np.all(np.abs(cx - x0) <= 0.05 + 1e-12)


@pytest.mark.parametrize("method", ["interval", "lp", "mip"])
def test_tightening_methods_give_same_answer(dense_net, method):
    net = dense_net([3, 6, 6, 3], seed=9)
    x0 = np.random.default_rng(9).normal(size=3)
    ref = verify.robustness(net, x0, 0.1, tightening="interval")
    res = verify.robustness(net, x0, 0.1, tightening=method)
    assert res.status == ref.status
    assert res.bounds_method == method
    assert abs(res.margin - ref.margin) < 1e-4
