import numpy as np
import pytest

from mipnet import Dense, Network, verify
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


hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from mipnet.verify.falsify import attack  # noqa: E402


@settings(max_examples=int(__import__("os").environ.get("MIPNET_FUZZ_EXAMPLES", "0")) or 10, deadline=None,
          database=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), hidden=st.integers(1, 6), j=st.integers(0, 1), width=st.floats(0.05, 1.0),
       quantile=st.floats(0.5, 1.2))
def test_random_properties_that_hold_survive_the_attack(seed, hidden, j, width, quantile):
    """Property: a random box and threshold ``Y_j >= t`` (unsafe); "holds" must survive the attack (no input of the
    box found with ``Y_j >= t``), "violated" must come with an input of the box that reaches ``t``."""
    rng = np.random.default_rng(seed)
    net = Network([Dense(hidden, weight=rng.normal(size=(hidden, 3)), bias=rng.normal(size=hidden) * 0.5),
                   Dense(2, weight=rng.normal(size=(2, hidden)), bias=rng.normal(size=2))], 3)
    c = rng.uniform(-1, 1, 3)
    lo, hi = c - width, c + width
    Y = net.forward(rng.uniform(lo, hi, (200, 3)))[:, j]
    t = float(Y.min() + quantile * (Y.max() - Y.min()) + 1e-3)
    box = "".join(f"(assert (>= X_{i} {float(lo[i])!r}))\n(assert (<= X_{i} {float(hi[i])!r}))\n" for i in range(3))
    r = verify.check_property(net, parse_vnnlib(HEADER + box + f"(assert (>= Y_{j} {t!r}))"), time_limit=20)
    event(str(r.status))
    if r.status == "violated":
        x = np.asarray(r.counterexample).reshape(-1)
        assert np.all(x >= lo - 1e-9) and np.all(x <= hi + 1e-9) and net.forward(x[None])[0, j] >= t - 1e-9
    if r.status != "holds":
        return
    C = np.zeros((1, 2))
    C[0, j] = -1.0                    # the attack lowers -Y_j: it looks for the largest Y_j
    X = np.vstack([attack(net, c, lo, hi, C, rng, samples=2000), rng.uniform(lo, hi, (2000, 3))])
    assert np.all(net.forward(X)[:, j] < t)
