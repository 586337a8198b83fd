import numpy as np
import pytest

from mipnet import verify
from mipnet.errors import FormatError
from mipnet.io import parse_vnnlib

HEADER = "".join(f"(declare-const X_{i} Real)\n" for i in range(3)) + \
    "".join(f"(declare-const Y_{j} Real)\n" for j in range(2))
BOX = "(assert (and (>= X_0 -1) (<= X_0 1) (>= X_1 -1) (<= X_1 1) (>= X_2 -1) (<= X_2 1)))\n"


def _exact_range(net, j):
    return verify.output_bounds(net, -np.ones(3), np.ones(3), time_limit=60)


@pytest.mark.parametrize("method", ["mip", "split"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_threshold_properties(dense_net, seed, method):
    net = dense_net([3, 6, 6, 2], seed=seed)
    rb = verify.output_bounds(net, -np.ones(3), np.ones(3), time_limit=60)
    assert rb.status == "exact"
    top = rb.upper_attained[0]
    # unsafe: Y_0 >= top + 0.05 -> empty -> holds
    p_hold = parse_vnnlib(HEADER + BOX + f"(assert (>= Y_0 {float(top + 0.05)!r}))")
    r = verify.check_property(net, p_hold, time_limit=60, method=method)
    assert r.status == "holds" and r.counterexample is None
    # unsafe: Y_0 >= top - 0.05 -> reachable -> violated, and the counterexample really is in the region
    p_viol = parse_vnnlib(HEADER + BOX + f"(assert (>= Y_0 {float(top - 0.05)!r}))")
    r = verify.check_property(net, p_viol, time_limit=60, method=method, samples=1)
    assert r.status == "violated"
    x = r.counterexample
    y = net.forward(x[None])[0]
    assert np.all(np.abs(x) <= 1) and y[0] >= top - 0.05
    np.testing.assert_array_equal(y, r.counterexample_output)


def test_disjunctive_input_boxes_and_mixed_rows(dense_net):
    net = dense_net([3, 5, 5, 2], seed=4)
    # unsafe: (X in box A or X in box B) and (Y_0 - Y_1 + X_0 >= c); the answer must match dense sampling
    text = HEADER + """
(assert (or (and (>= X_0 -1) (<= X_0 -0.5) (>= X_1 -1) (<= X_1 1) (>= X_2 -1) (<= X_2 1))
            (and (>= X_0 0.5) (<= X_0 1) (>= X_1 -1) (<= X_1 1) (>= X_2 -1) (<= X_2 1))))
(assert (>= (+ (- Y_0 Y_1) X_0) C))
"""
    X = np.random.default_rng(0).uniform(-1, 1, size=(200000, 3))
    X = X[np.abs(X[:, 0]) >= 0.5]
    Y = net.forward(X)
    vals = Y[:, 0] - Y[:, 1] + X[:, 0]
    hi = float(vals.max())
    res_v = verify.check_property(net, parse_vnnlib(text.replace("C", repr(hi - 0.01))), time_limit=60)
    assert res_v.status == "violated"
    x, y = res_v.counterexample, res_v.counterexample_output
    assert abs(x[0]) >= 0.5 and y[0] - y[1] + x[0] >= hi - 0.01
    opt = verify.output_bounds(net, [-1, -1, -1], [1, 1, 1], time_limit=60)
    big = float(opt.upper[0] - opt.lower[1] + 1 + 1.0)          # certainly above anything reachable
    assert verify.check_property(net, parse_vnnlib(text.replace("C", repr(big))), time_limit=60).status == "holds"


def test_unbounded_input_is_an_error(dense_net):
    net = dense_net([3, 4, 2])
    with pytest.raises(FormatError, match="unbounded"):
        verify.check_property(net, parse_vnnlib(HEADER + "(assert (>= X_0 0))(assert (>= Y_0 0))"))


def test_acasxu_prop4_holds_and_prop2_violated(acasxu):
    from mipnet.io import load_any

    net = load_any(acasxu / "onnx" / "ACASXU_run2a_1_1_batch_2000.onnx")
    res = verify.check_property(net, acasxu / "vnnlib" / "prop_4.vnnlib", time_limit=100)
    assert res.status == "holds"
    net = load_any(acasxu / "onnx" / "ACASXU_run2a_2_9_batch_2000.onnx")
    res = verify.check_property(net, acasxu / "vnnlib" / "prop_2.vnnlib", time_limit=100)
    assert res.status == "violated"
    y = net.forward(res.counterexample[None])[0]
    assert y[0] >= y[1:].max()          # prop 2's unsafe region: Y_0 is the largest score
    x = res.counterexample
    assert 0.6 <= x[0] <= 0.679857769 and -0.5 <= x[4] <= -0.45


def test_acasxu_prop8_violated_with_disjunction(acasxu):
    from mipnet.io import load_any, load_vnnlib

    net = load_any(acasxu / "onnx" / "ACASXU_run2a_2_9_batch_2000.onnx")
    prop = load_vnnlib(acasxu / "vnnlib" / "prop_8.vnnlib", 5, 5)
    res = verify.check_property(net, prop, time_limit=100)
    assert res.status == "violated"
    assert prop.contains(res.counterexample, net.forward(res.counterexample[None])[0])
