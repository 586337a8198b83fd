"""The cheap counterexample searches run before any proof: they keep the query's time limit (an expired clock
stops them and the query answers unknown, never holds)."""

import types

import numpy as np

from mipnet import verify
from mipnet.bounds.crown import lower
from mipnet.clock import Clock
from mipnet.io import parse_vnnlib
from mipnet.verify import falsify, queries
from mipnet.verify.falsify import (
    descend_into_region,
    first_in_region,
    gradient_descent_into_region,
    region_attack,
    sample_box,
)

HEADER = "".join(f"(declare-const X_{i} Real)\n" for i in range(3)) + \
    "".join(f"(declare-const Y_{j} Real)\n" for j in range(3))
BOX = "(assert (and (>= X_0 -1) (<= X_0 1) (>= X_1 -1) (<= X_1 1) (>= X_2 -1) (<= X_2 1)))\n"


def _expired() -> Clock:
    clock = Clock(1.0)
    clock.t0 -= 10.0
    assert clock.out()
    return clock


class _FakeTime:
    """A ``time`` module for :mod:`mipnet.clock` whose clock moves only when told."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now


def test_descents_stop_on_an_expired_clock(dense_net):
    net = dense_net([3, 8, 8, 3], seed=2)
    # unsafe: Y_0 <= Y_1 on the box
    d = parse_vnnlib(HEADER + BOX + "(assert (<= (- Y_0 Y_1) 0))").disjuncts[0]
    lo, hi = d.box()
    X = sample_box(lo, hi, 64, np.random.default_rng(0))
    assert descend_into_region(lower(net), d, lo, hi, X, clock=_expired()) is None
    starts = X[:5] + 2.0               # outside the box: returned clipped, unchanged otherwise
    got = gradient_descent_into_region(lower(net), d.A, d.b, lo, hi, starts, clock=_expired())
    np.testing.assert_array_equal(got, np.clip(starts, lo, hi))


def test_falsification_keeps_the_time_limit_and_the_answer_is_unknown(dense_net, monkeypatch):
    net = dense_net([3, 8, 8, 3], seed=1)
    # two disjuncts, both empty (outputs far beyond reach): without a time limit the query holds. (method "mip":
    # the branch and bound's root bounds would prove both before any attack, see the next test)
    text = HEADER + BOX + "(assert (or (and (>= Y_0 1000)) (and (>= Y_1 1000))))\n"
    assert verify.check_property(net, parse_vnnlib(text), time_limit=60, method="mip").status == "holds"
    fake = _FakeTime()
    monkeypatch.setattr("mipnet.clock.time", types.SimpleNamespace(perf_counter=fake.perf_counter))
    calls = []
    real = queries.gradient_descent_into_region

    def slow_descent(*args, **kwargs):
        calls.append(1)
        fake.now += 100.0            # this attack takes longer than the whole limit
        return real(*args, **kwargs)

    monkeypatch.setattr(queries, "gradient_descent_into_region", slow_descent)
    r = verify.check_property(net, parse_vnnlib(text), time_limit=60, method="mip")
    assert len(calls) == 1            # the second disjunct's attack never starts
    assert r.status == "unknown"
    assert all(e.get("status") != "holds" for e in r.details)


def test_disjuncts_proved_by_their_root_bound_are_not_attacked(dense_net, monkeypatch):
    """A disjunct that the bound of its whole box proves empty costs no sampling and no descent; the others are
    still attacked, and a counterexample there is found."""
    net = dense_net([3, 8, 8, 3], seed=1)
    lo, hi = -np.ones(3), np.ones(3)
    y_hi = float(verify.output_bounds(net, lo, hi, time_limit=30).upper[0])
    attacked = []
    real = queries.sample_box

    def counting_sample_box(lo_, hi_, n, rng):
        attacked.append(1)
        return real(lo_, hi_, n, rng)

    monkeypatch.setattr(queries, "sample_box", counting_sample_box)
    empty = f"(and (>= Y_0 {y_hi + 1.0!r}))"                  # beyond the proved upper bound: the root proves it
    r = verify.check_property(net, parse_vnnlib(HEADER + BOX + f"(assert (or {empty} {empty}))\n"), time_limit=60)
    assert r.status == "holds" and attacked == []
    assert all(e["how"] == "alpha-CROWN bound of the whole box" for e in r.details)
    c = float(net.forward(np.zeros((1, 3)))[0, 0])             # the centre's output: a point of the region
    r = verify.check_property(net, parse_vnnlib(HEADER + BOX + f"(assert (or {empty} (and (<= Y_0 {c!r}))))\n"),
                              time_limit=60)
    assert r.status == "violated" and len(attacked) == 1      # the second disjunct only
    assert net.forward(r.counterexample[None])[0, 0] <= c


def _below(net, c):
    """Unsafe region ``Y_0 <= c`` on ``[-1, 1]^n``."""
    n = net.n_inputs
    text = "".join(f"(declare-const X_{i} Real)\n" for i in range(n)) + "(declare-const Y_0 Real)\n"
    text += "".join(f"(assert (>= X_{i} -1)) (assert (<= X_{i} 1))\n" for i in range(n)) + f"(assert (<= Y_0 {c!r}))\n"
    return parse_vnnlib(text).disjuncts[0]


def test_exact_gradient_descent_reaches_what_sampling_misses_on_many_inputs(dense_net):
    # 70 inputs: finite differences would need n + 1 forward passes a step; exact gradients need two
    net = dense_net([70, 8, 1], seed=1)
    lo, hi = -np.ones(70), np.ones(70)
    low = float(verify.output_bounds(net, lo, hi, time_limit=30).lower[0])
    X = sample_box(lo, hi, 256, np.random.default_rng(0))
    c = float((net.forward(X).min() + low) / 2)       # halfway between the best sample and the proved minimum
    d = _below(net, c)
    x = descend_into_region(lower(net), d, lo, hi, X)
    assert x is not None and np.all((lo <= x) & (x <= hi)) and net.forward(x[None])[0, 0] <= c


def test_property_falsification_uses_exact_gradients(dense_net, monkeypatch):
    net = dense_net([64, 8, 1], seed=1)
    lo, hi = -np.ones(64), np.ones(64)
    low = float(verify.output_bounds(net, lo, hi, time_limit=30).lower[0])
    rows = []
    real_forward = net.forward
    net.forward = lambda P: rows.append(len(P)) or real_forward(P)
    r = verify.check_property(net, parse_vnnlib(
        "".join(f"(declare-const X_{i} Real)\n" for i in range(64)) + "(declare-const Y_0 Real)\n"
        + "".join(f"(assert (>= X_{i} -1)) (assert (<= X_{i} 1))\n" for i in range(64))
        + f"(assert (<= Y_0 {low + 0.05 * abs(low)!r}))\n"), time_limit=60, samples=64)
    assert r.status == "violated"
    y = real_forward(r.counterexample[None])[0]
    assert y[0] <= low + 0.05 * abs(low)
    assert max(rows) <= 64            # never a batch of n + 1 = 65 finite-difference points


def test_region_attack_finds_a_counterexample_that_sampling_misses(acasxu):
    """ACAS Xu N1_9 property 7 is violated (VNN-COMP) in a region that thousands of random points and the
    descents from them miss by about 1e-4; the wide attack (a million samples, fine descent on the near rows)
    reaches it. Every point it returns is re-checked here by the forward pass."""
    from mipnet.io import load_any, load_vnnlib

    net = load_any(acasxu / "onnx" / "ACASXU_run2a_1_9_batch_2000.onnx")
    d = load_vnnlib(acasxu / "vnnlib" / "prop_7.vnnlib", 5, 5).disjuncts[0]
    chain = lower(net)
    lo, hi = d.box()
    A, b = d.other_rows()
    rng = np.random.default_rng(0)
    X = sample_box(lo, hi, 5000, rng)
    assert not any(d.holds_at(x, y) for x, y in zip(X, net.forward(X)))     # sampling misses it
    Y = net.forward(X)
    best = X[np.argsort((np.concatenate([X, Y], axis=1) @ A.T - b).max(axis=1))[:500]]
    P = gradient_descent_into_region(chain, A, b, lo, hi, best)
    assert not any(d.holds_at(x, y) for x, y in zip(P, net.forward(P)))
    P = region_attack(chain, A, b, lo, hi, 1_000_000, rng)
    hits = [x for x, y in zip(P, net.forward(P)) if d.holds_at(x, y)]
    assert hits and np.all((np.array(hits) >= lo) & (np.array(hits) <= hi))


def _y0_at_most(c):
    text = HEADER + BOX + f"(assert (<= Y_0 {c!r}))\n"
    return parse_vnnlib(text).disjuncts[0]


def test_first_in_region_is_the_first_clipped_row_inside_and_its_own_forward_pass(dense_net):
    net = dense_net([3, 8, 3], seed=2)
    lo, hi = -np.ones(3), np.ones(3)
    X = np.random.default_rng(0).uniform(-2, 2, (60, 3))      # many rows outside the box: clipped first
    Y = net.forward(np.clip(X, lo, hi))
    c = float(np.median(Y[:, 0]))
    x, y = first_in_region(net, _y0_at_most(c), X, lo, hi)
    first = int(np.flatnonzero(Y[:, 0] <= c)[0])
    np.testing.assert_array_equal(x, np.clip(X[first], lo, hi))
    np.testing.assert_array_equal(y, net.forward(x[None])[0])
    assert first_in_region(net, _y0_at_most(float(Y[:, 0].min()) - 1.0), X, lo, hi) is None


def test_first_in_region_tries_every_screened_row(dense_net, monkeypatch):
    net = dense_net([3, 8, 3], seed=2)
    lo, hi = -np.ones(3), np.ones(3)
    X = np.random.default_rng(1).uniform(-1, 1, (40, 3))
    Y = net.forward(X)
    c = float(np.median(Y[:, 0]))
    inside = np.flatnonzero(Y[:, 0] <= c)
    real = falsify.point_in_region
    # the row-by-row re-check rejects the first row the batch screen let through (a last-bit difference)
    monkeypatch.setattr(falsify, "point_in_region",
                        lambda net_, d, x, lo_, hi_: None if np.array_equal(x, X[inside[0]]) else real(net_, d, x, lo_,
                                                                                                        hi_))
    x, _ = first_in_region(net, _y0_at_most(c), X, lo, hi)
    np.testing.assert_array_equal(x, X[inside[1]])
