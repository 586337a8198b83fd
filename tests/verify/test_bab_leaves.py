"""Exact affine leaves of the branch and bound on conv nets with max pooling: only ReLUs count as unstable, a
window of switched-off ReLUs (all exactly 0) is decided, the leaf's affine map is the network on the box, and the
LP leaf's answer agrees with the exact MIP."""

from dataclasses import replace

import numpy as np
import pytest

from mipnet import verify
from mipnet.bounds.crown import MaxPool, Relu, box_bounds, lower
from mipnet.clock import Clock
from mipnet.errors import SettingsError
from mipnet.io import parse_vnnlib
from mipnet.verify.bab import BabOptions, Branching, DisjunctSearch, next_attack_at


def _band(net, x0, r, a, delta):
    """Unsafe region on the box ``x0 +- r``: ``a + delta <= Y_0 - Y_1 <= a`` (empty for ``delta > 0``; each row
    alone is not)."""
    text = "".join(f"(declare-const X_{i} Real)\n" for i in range(net.n_inputs))
    text += "".join(f"(declare-const Y_{j} Real)\n" for j in range(net.n_outputs))
    text += "".join(f"(assert (>= X_{i} {float(x0[i] - r)!r})) (assert (<= X_{i} {float(x0[i] + r)!r}))\n"
                    for i in range(net.n_inputs))
    text += f"(assert (<= (- Y_0 Y_1) {a!r}))\n(assert (>= (- Y_0 Y_1) {a + delta!r}))\n"
    return parse_vnnlib(text)


def test_unstable_counts_relus_only_and_the_leaf_map_is_exact(conv_net):
    net = conv_net(2)
    chain = lower(net)
    x0 = np.random.default_rng(2).uniform(-0.5, 0.5, net.n_inputs)
    lo, hi = x0 - 1e-3, x0 + 1e-3
    bb = box_bounds(chain, lo[None], hi[None])
    relu_unstable = sum(int(((l < 0) & (u > 0)).sum()) for op, (l, u) in zip(chain.activations, bb.pre)
                        if isinstance(op, Relu))
    pool_straddling = sum(int(((l < 0) & (u > 0)).sum()) for op, (l, u) in zip(chain.activations, bb.pre)
                          if isinstance(op, MaxPool))
    assert relu_unstable == 0 and pool_straddling > 0      # max-pool inputs of dead ReLUs widened around 0
    assert bb.unstable(chain)[0] == 0
    y = net.forward(x0.reshape(1, *net.input_shape))[0]
    d = _band(net, x0, 1e-3, float(y[0] - y[1]), 1e-4).disjuncts[0]
    search = DisjunctSearch(net, d, lo, hi, BabOptions())
    assert search._affine_on_box(bb, 0)
    W, c, _ = search._affine_map(bb, 0, [None] * len(chain.activations))
    X = np.random.default_rng(0).uniform(lo, hi, (200, net.n_inputs))
    np.testing.assert_allclose(X @ W.T + c, net.forward(X.reshape(-1, *net.input_shape)), atol=1e-12)


def test_conv_maxpool_net_reaches_the_lp_leaf_and_agrees_with_the_mip(conv_net):
    net = conv_net(0)
    x0 = np.random.default_rng(0).uniform(-0.5, 0.5, net.n_inputs)
    y = net.forward(x0.reshape(1, *net.input_shape))[0]
    prop = _band(net, x0, 3e-3, float(y[0] - y[1]), 1e-4)
    d = prop.disjuncts[0]
    status, _, stats = DisjunctSearch(net, d, *d.box(), BabOptions(mip_threshold=0)).run(Clock(30))
    assert stats["lp_leaves"] > 0
    assert status == "holds"
    assert verify.check_property(net, prop, time_limit=60, method="mip").status == "holds"
    assert verify.check_property(net, prop, time_limit=60).status == "holds"


def test_a_disjunct_the_search_leaves_open_goes_to_the_mip_of_its_box(conv_net):
    """``BabOptions.mip_share``: a search that gives up (here after one sub-problem) hands the disjunct to the exact
    MIP of its whole box, which proves it; with the share at 0 the answer stays unknown."""
    net = conv_net(0)
    x0 = np.random.default_rng(0).uniform(-0.5, 0.5, net.n_inputs)
    y = net.forward(x0.reshape(1, *net.input_shape))[0]
    prop = _band(net, x0, 0.05, float(y[0] - y[1]), 1e-3)
    assert verify.check_property(net, prop, time_limit=60, method="mip").status == "holds"
    give_up = BabOptions(max_subproblems=1, mip_threshold=0)
    alone = verify.check_property(net, prop, time_limit=20, bab=replace(give_up, mip_share=0.0))
    assert alone.status == "unknown"
    both = verify.check_property(net, prop, time_limit=20, bab=give_up)
    assert both.status == "holds"
    assert "MIP" in both.details[0]["how"]


def test_mip_share_is_checked():
    with pytest.raises(SettingsError, match="mip_share"):
        BabOptions(mip_share=1.0)


def test_a_search_that_splits_inputs_gets_no_mip_share_by_default(dense_net):
    """``BabOptions.mip_share_input``: on a 3-input network (input splitting) a search that gives up stays unknown
    by default, since the MIP of the whole box gets no share; given a share, the MIP proves the property."""
    net = dense_net([3, 8, 8, 2], 4)
    x0 = np.zeros(3)
    y = net.forward(x0[None])[0]
    prop = _band(net, x0, 0.05, float(y[0] - y[1]), 1e-3)
    give_up = BabOptions(max_subproblems=1, mip_threshold=0)
    search = DisjunctSearch(net, prop.disjuncts[0], *prop.disjuncts[0].box(), give_up)
    assert search.branching == Branching.INPUT
    assert verify.check_property(net, prop, time_limit=20, bab=give_up).status == "unknown"
    shared = verify.check_property(net, prop, time_limit=20, bab=replace(give_up, mip_share_input=0.5))
    assert shared.status == "holds"
    assert "MIP" in shared.details[0]["how"]
    assert give_up.for_branching(Branching.RELU).mip_share == give_up.mip_share
    with pytest.raises(SettingsError, match="mip_share_input"):
        BabOptions(mip_share_input=-0.1)


def test_the_attack_ratio_follows_the_branching():
    options = BabOptions(region_attack_ratio=3.0, region_attack_ratio_input=5.0)
    assert options.for_branching(Branching.RELU).attack_ratio == 3.0
    assert options.for_branching(Branching.INPUT).attack_ratio == 5.0
    with pytest.raises(SettingsError, match="region_attack_ratio_input"):
        BabOptions(region_attack_ratio_input=0.0)
    with pytest.raises(SettingsError, match="region_attack_ratio"):
        BabOptions(region_attack_ratio=-1.0)


@pytest.mark.parametrize("ratio", [2.0, 4.0])
def test_wide_attacks_whose_samples_double_keep_their_share(ratio):
    """Attacks that cost twice as much each time (their samples double) take at most ``1 / (1 + ratio)`` of the
    search time at the end of every attack after the first (the first runs at a fixed time); scheduling each one
    ``ratio`` times the last attack's cost after it, as before, let them take a third at ratio 4."""
    first_at, cost = 10.0, 2.5
    t, attacked = first_at, 0.0
    for k in range(8):
        took = cost * 2 ** k
        t += took
        attacked += took
        if k:
            assert attacked / t <= 1 / (1 + ratio) + 1e-12
        start = next_attack_at(attacked, 2 * took, ratio)
        assert start >= t            # never before the last one ended
        t = start
    # the old rule (start = end + ratio * last cost) overshoots the share with doubling costs
    t, attacked = first_at, 0.0
    for k in range(3):
        t += cost * 2 ** k
        attacked += cost * 2 ** k
        t += ratio * cost * 2 ** k
    assert (attacked + cost * 8) / (t + cost * 8) > 1 / (1 + ratio)


def test_a_search_that_splits_inputs_sends_no_box_with_unstable_relus_to_the_mip_by_default(dense_net, below_minimum):
    """``BabOptions.mip_threshold_input``: input splitting shrinks boxes until their ReLUs are stable instead of
    paying for a MIP per box; a threshold given sends the boxes with few unstable ReLUs to the MIP leaf."""
    net = dense_net([3, 24, 24, 2], 6)
    lo, hi = -np.ones(3), np.ones(3)
    d = below_minimum(net, lo, hi, gap=1e-3)
    calls = []

    def leaf(lo, hi, pre, splits):
        calls.append(sum(int(((l < 0) & (u > 0)).sum()) for l, u in pre))
        return "unknown", None

    default = DisjunctSearch(net, d, *d.box(), BabOptions(), mip_leaf=leaf)
    assert default.branching == Branching.INPUT
    assert default.settings.mip_threshold == 0
    assert default.options.for_branching(Branching.RELU).mip_threshold == default.options.mip_threshold
    status, _, stats = default.run(Clock(30))
    assert status == "holds" and stats["mip_leaves"] == 0 and not calls
    status, _, stats = DisjunctSearch(net, d, *d.box(), BabOptions(mip_threshold_input=100),
                                      mip_leaf=leaf).run(Clock(30))
    # the leaf answers unknown, so the search goes on splitting those boxes and still proves the property
    assert status == "holds" and stats["mip_leaves"] == len(calls) > 0 and max(calls) > 0
