"""The repair MIP: the original weights are its zero-change solution; kept decisions and their numpy side agree."""

import numpy as np
import pytest

from mipnet import Dense, Network
from mipnet.repair.formulation import RepairFormulation, decision_slack
from mipnet.solvers import SolveOptions, Status, get_backend
from mipnet.train.losses import AbsoluteError


def _tail(seed=0):
    rng = np.random.default_rng(seed)
    return Network([Dense(3, relu=False, weight=rng.normal(size=(3, 4)), bias=rng.normal(size=3))], 4)


@pytest.mark.parametrize("l1", [True, False])
def test_without_points_the_original_is_optimal_with_zero_change(l1):
    tail = _tail()
    H = np.abs(np.random.default_rng(1).normal(size=(25, 4)))
    Y0 = tail.forward(H)
    form = RepairFormulation(tail, H, Y0, AbsoluteError(), l1, max_change=0.5, output_weight=1.0)
    form.keep_decisions(np.arange(25), argmin=True, cap=1e-3)
    sr = get_backend("highs").solve(form.m, SolveOptions(time_limit=30))
    assert sr.status == Status.OPTIMAL and sr.objective == pytest.approx(0.0, abs=1e-8)
    out = form.extract(sr.x)
    np.testing.assert_allclose(out.layers[0].weight, tail.layers[0].weight, atol=1e-8)
    assert form.encoding.error(sr.x, out) < 1e-9


def test_decision_rows_match_their_numpy_slack():
    tail = _tail(2)
    H = np.abs(np.random.default_rng(3).normal(size=(10, 4)))
    Y0 = tail.forward(H)
    form = RepairFormulation(tail, H, Y0, AbsoluteError(), True, max_change=1.0, output_weight=0.0)
    form.keep_decisions(np.arange(10), argmin=False, cap=0.05, soft=1.0)
    # force a different network: pin output 0's bias far down, so argmax decisions on output 0 must be paid for
    blk = form.blocks[0]
    b0 = tail.layers[0].bias
    form.m.set_bounds(blk.b[:1], b0[0] - 1.0, b0[0] - 1.0)
    sr = get_backend("highs").solve(form.m, SolveOptions(time_limit=30))
    assert sr.status == Status.OPTIMAL
    net = form.extract(sr.x)
    Y = net.forward(H)
    change = np.abs(net.layers[0].weight - tail.layers[0].weight).sum() + np.abs(net.layers[0].bias - b0).sum()
    slack = decision_slack(Y0, Y, argmin=False, cap=0.05)
    assert sr.objective == pytest.approx(change + slack.sum(), abs=1e-6)
    assert decision_slack(Y0, Y0, argmin=False, cap=0.05).max() == 0.0
