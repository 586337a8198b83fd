"""The batched branch and bound: agrees with the exact MIP, its "holds" survives attacks, its counterexamples are
real, tiny margins are not rounded into proofs, and every branching mode and layer kind works."""

import numpy as np
import pytest

from mipnet import Dense, Network, verify
from mipnet.clock import Clock
from mipnet.io import parse_vnnlib
from mipnet.verify.bab import BabOptions, Branching, DisjunctSearch


def _header(n, m):
    return "".join(f"(declare-const X_{i} Real)\n" for i in range(n)) + \
        "".join(f"(declare-const Y_{j} Real)\n" for j in range(m))


def _box(n, r=1.0):
    return "".join(f"(assert (>= X_{i} {-r})) (assert (<= X_{i} {r}))\n" for i in range(n))


def _prop(net, rows, r=1.0):
    """Unsafe region: the box and every ``(j, k, c)`` row ``Y_j - Y_k <= c`` (``k = None``: ``Y_j <= c``)."""
    body = []
    for j, k, c in rows:
        body.append(f"(<= Y_{j} {c!r})" if k is None else f"(<= (- Y_{j} Y_{k}) {c!r})")
    text = _header(net.n_inputs, net.n_outputs) + _box(net.n_inputs, r) + f"(assert (and {' '.join(body)}))\n"
    return parse_vnnlib(text)


@pytest.mark.parametrize("branching", [Branching.INPUT, Branching.RELU])
@pytest.mark.parametrize("seed", range(4))
def test_agrees_with_the_exact_mip(dense_net, seed, branching):
    net = dense_net([3, 8, 8, 2], seed=seed)
    exact = verify.output_bounds(net, -np.ones(3), np.ones(3), time_limit=60)
    assert exact.status == "exact"
    low = float(exact.lower[0])
    for c, expect in ((low - 0.02, "holds"), (low + 0.02, "violated")):
        prop = _prop(net, [(0, None, c)])
        r = verify.check_property(net, prop, time_limit=60, method="bab", samples=1,
                                  bab=BabOptions(branching=branching, mip_threshold=0))
        assert r.status == expect
        if expect == "violated":
            y = net.forward(r.counterexample[None])[0]
            assert y[0] <= c and np.all(np.abs(r.counterexample) <= 1)


def test_holds_survives_attacks_on_random_properties(dense_net):
    rng = np.random.default_rng(7)
    decided = 0
    for seed in range(8):
        net = dense_net([4, 10, 10, 3], seed=100 + seed)
        c = float(rng.uniform(-0.5, 0.5))
        prop = _prop(net, [(0, 1, c), (0, 2, c)])
        r = verify.check_property(net, prop, time_limit=30, samples=1)
        assert r.status in ("holds", "violated")
        decided += 1
        X = rng.uniform(-1, 1, (50000, 4))
        Y = net.forward(X)
        inside = (Y[:, 0] - Y[:, 1] <= c) & (Y[:, 0] - Y[:, 2] <= c)
        if r.status == "holds":
            assert not inside.any()
        else:
            assert prop.contains(r.counterexample, net.forward(r.counterexample[None])[0])
    assert decided == 8


def test_a_touching_region_is_never_proved_empty():
    # y = relu(x0) + relu(-x0) - 0.5 = |x0| - 0.5 on [-1, 1]: its minimum -0.5 is attained at x0 = 0 exactly
    net = Network([Dense(2, relu=True, weight=np.array([[1.0, 0.0], [-1.0, 0.0]]), bias=np.zeros(2)),
                   Dense(1, weight=np.array([[1.0, 1.0]]), bias=np.array([-0.5]))], 2)
    for c, allowed in ((-0.5, {"violated", "unknown"}), (-0.5 - 1e-12, {"holds", "unknown"}),
                       (-0.5 + 1e-12, {"violated", "unknown"}), (-0.49, {"violated"}), (-0.51, {"holds"})):
        prop = _prop(net, [(0, None, c)])
        r = verify.check_property(net, prop, time_limit=20, samples=1)
        assert r.status in allowed, (c, r.status)
        if r.status == "violated":
            assert net.forward(r.counterexample[None])[0, 0] <= c
    # just above the minimum by less than the margin: the search must not claim "holds"
    prop = _prop(net, [(0, None, -0.5 - 1e-9)])
    d = prop.disjuncts[0]
    status, _, _ = DisjunctSearch(net, d, *d.box(), BabOptions(mip_threshold=0)).run(Clock(5))
    assert status != "violated"


def test_conv_and_pooling_networks(conv_net):
    for seed in (0, 3):
        net = conv_net(seed)
        # a proved lower bound and an attained value of output 0 (exact or not, both are facts)
        ob = verify.output_bounds(net, -0.5 * np.ones(net.input_shape), 0.5 * np.ones(net.input_shape),
                                  time_limit=20)
        # (ob.lower is the exact MIP's bound after 20 s, not the minimum: the "holds" threshold keeps a 0.3 gap)
        for c, expect in ((float(ob.lower[0]) - 0.3, "holds"), (float(ob.lower_attained[0]) + 0.02, "violated")):
            prop = _prop(net, [(0, None, c)], r=0.5)
            bab = verify.check_property(net, prop, time_limit=60, method="bab", samples=1)
            assert bab.status == expect
            if expect == "violated":
                assert net.forward(bab.counterexample[None])[0, 0] <= c


def test_threads_give_the_same_answer(dense_net):
    net = dense_net([3, 12, 12, 2], seed=3)
    exact = verify.output_bounds(net, -np.ones(3), np.ones(3), time_limit=60)
    prop = _prop(net, [(0, None, float(exact.lower[0]) - 0.01)])
    one = verify.check_property(net, prop, time_limit=60, threads=1, samples=1)
    two = verify.check_property(net, prop, time_limit=60, threads=2, samples=1)
    assert one.status == two.status == "holds"


def test_acasxu_instances(acasxu):
    from mipnet.io import load_any, load_vnnlib

    for net_id, p, expect in (("4_2", 4, "holds"), ("2_9", 8, "violated"), ("1_1", 1, "holds")):
        net = load_any(acasxu / "onnx" / f"ACASXU_run2a_{net_id}_batch_2000.onnx")
        prop = load_vnnlib(acasxu / "vnnlib" / f"prop_{p}.vnnlib", 5, 5)
        r = verify.check_property(net, prop, time_limit=120)
        assert r.status == expect


def test_input_splitting_never_cuts_an_input_the_network_does_not_read(dense_net, below_minimum):
    # (widths relative to the root box cut input 2 down to 1/128 here, and bounded 5,594 sub-problems, not 152)
    net = dense_net([3, 24, 24, 2], seed=6)
    net.layers[0].weight[:, 2] = 0.0       # input 2 is read by nothing
    lo, hi = -np.ones(3), np.ones(3)
    d = below_minimum(net, lo, hi, gap=1e-3)
    search = DisjunctSearch(net, d, lo, hi, BabOptions(branching=Branching.INPUT, mip_threshold=0))
    assert search.input_scale[2] == 0 and np.all(search.input_scale[:2] > 0)
    widths = []
    split = search._split_inputs

    def recording(pool):
        kids = split(pool)
        widths.append(kids.hi - kids.lo)
        return kids

    search._split_inputs = recording
    status, _, stats = search.run(Clock(60))
    assert status == "holds" and stats["subproblems"] > 100 and widths
    cut = np.concatenate(widths)
    assert np.all(cut[:, 2] == 2.0)                 # never cut, however thin the others became
    assert cut[:, 1].min() < 2.0 / 32              # while input 1 was cut at least six times


def test_rescaling_an_input_gives_the_same_search(dense_net, below_minimum):
    # x0 on [-1, 1] into the network, or x0' = 4 x0 on [-4, 4] into the network with x0's column divided by 4:
    # the same function of the same box (exactly, powers of two), so the same search
    net = dense_net([3, 24, 24, 2], seed=6)
    scaled = dense_net([3, 24, 24, 2], seed=6)
    scaled.layers[0].weight[:, 0] /= 4.0
    lo, hi = -np.ones(3), np.ones(3)
    slo, shi = lo * np.array([4.0, 1, 1]), hi * np.array([4.0, 1, 1])
    d, sd = below_minimum(net, lo, hi), below_minimum(scaled, slo, shi)
    options = BabOptions(branching=Branching.INPUT, mip_threshold=0, region_attack_after=0)
    one = DisjunctSearch(net, d, lo, hi, options).run(Clock(60))
    two = DisjunctSearch(scaled, sd, slo, shi, options).run(Clock(60))
    assert one[0] == two[0] == "holds"
    assert one[2]["subproblems"] == two[2]["subproblems"] > 100
