import numpy as np
import pytest

from mipnet import Dense, Network, verify
from mipnet.decision import class_indices


def _attack_margin(net, x0, eps, label, rng, n=4000):
    """Simple attack: random points and corners of the ball, then signed finite-difference steps."""
    X = x0 + rng.uniform(-eps, eps, size=(n, x0.size))
    X = np.vstack([X, x0 + eps * np.sign(rng.normal(size=(n, x0.size)))])
    Y = net.forward(X)
    M = Y[:, [label]] - np.delete(Y, label, axis=1)
    return float(M.min())


def test_label_and_counterexamples_follow_the_prediction_rule():
    """Class 1 beats class 0 by 1e-12 everywhere: ``predict`` calls that a tie and gives it to class 0, so the
    verifier's default label is 0 and no input is a counterexample (an exact argmax would say class 1)."""
    net = Network([Dense(2, weight=np.zeros((2, 2)), bias=np.array([0.0, 1e-12]))], 2)
    x0 = np.array([0.3, -0.1])
    assert class_indices(net.forward(x0[None])).tolist() == [0]
    res = verify.robustness(net, x0, 0.5, time_limit=30)
    assert res.label == 0 and res.status != "violated"
    res = verify.robustness(net, x0, 0.5, label=1, time_limit=30)        # every input is predicted as class 0
    assert res.status == "violated" and class_indices(res.counterexample_output[None]).tolist() == [0]


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
    # a proof solves every MIP to optimality: the reported margin is then the true worst case, no sampled point
    # beats it (a counterexample ends the query at once, its margin is only an upper bound)
    if res.status == "holds":
        assert res.margin <= attack + 1e-6
    else:
        assert res.margin <= 0
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


def _binary_net(seed: int = 0) -> Network:
    rng = np.random.default_rng(seed)
    return Network([Dense(6, weight=rng.normal(size=(6, 3)), bias=rng.normal(size=6) * 0.3),
                    Dense(1, weight=rng.normal(size=(1, 6)), bias=np.array([0.1]))], 3)


@pytest.mark.parametrize("eps", [0.01, 0.5])
def test_binary_classifiers_with_one_output(eps):
    """One output (class 1 when o > 0, the estimators' rule): robustness works, agrees with dense sampling, and a
    counterexample is predicted as the other class."""
    net = _binary_net(3)
    x = np.array([0.2, -0.1, 0.4])
    res = verify.robustness(net, x, eps, time_limit=60)
    label = int(net.forward(x[None])[0, 0] > 0)
    assert res.label == label
    Z = np.random.default_rng(0).uniform(x - eps, x + eps, (20000, 3))
    flips = (net.forward(Z)[:, 0] > 0).astype(int) != label
    if res.status == "holds":
        assert not flips.any() and res.margin_bound > 0
    else:
        assert res.status == "violated"
        assert int(net.forward(res.counterexample[None])[0, 0] > 0) != label


def test_a_wrong_label_at_the_centre_is_violated_at_once():
    net = _binary_net(4)
    x = np.array([0.2, -0.1, 0.4])
    label = 1 - int(net.forward(x[None])[0, 0] > 0)
    res = verify.robustness(net, x, 0.01, label=label, time_limit=60)
    assert res.status == "violated" and "centre" in res.note
    np.testing.assert_array_equal(res.counterexample, x)


def test_a_tie_given_to_the_label_is_no_counterexample():
    """Two equal outputs: argmax gives class 0, so class 0 is not violated at the tie (margin 0)."""
    net = Network([Dense(2, relu=False, weight=np.zeros((2, 1)), bias=np.zeros(2))], 1)
    res = verify.robustness(net, np.array([0.0]), 0.1, label=0, time_limit=30)
    assert res.status != "violated"


def test_output_bounds_stay_near_the_attained_ones_when_the_mip_stops(dense_net):
    net = dense_net([4, 20, 20, 2], seed=5)
    res = verify.output_bounds(net, -0.2, 0.2, exact=False)
    width = res.upper - res.lower
    reach = res.upper_attained - res.lower_attained
    assert np.all(width <= 10 * reach + 1e-6)    # the output layer is LP-tightened, not interval arithmetic


hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from mipnet.decision import competitor_rows  # noqa: E402
from mipnet.verify.falsify import attack  # noqa: E402


@settings(max_examples=int(__import__("os").environ.get("MIPNET_FUZZ_EXAMPLES", "0")) or 10, deadline=None,
          database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), n_in=st.integers(1, 4), hidden=st.integers(1, 6), n_out=st.integers(1, 3),
       eps=st.floats(0.001, 0.5))
def test_random_queries_that_hold_survive_the_attack(seed, n_in, hidden, n_out, eps):
    """Property: whenever robustness says "holds", no input the attack finds in the ball changes the class."""
    rng = np.random.default_rng(seed)
    net = Network([Dense(hidden, weight=rng.normal(size=(hidden, n_in)), bias=rng.normal(size=hidden) * 0.5),
                   Dense(n_out, weight=rng.normal(size=(n_out, hidden)), bias=rng.normal(size=n_out))], n_in)
    x0 = rng.uniform(-1, 1, n_in)
    res = verify.robustness(net, x0, eps, time_limit=20)
    event(str(res.status))
    if res.status == "violated":    # the counterexample is real: re-run through forward, another class
        x = np.asarray(res.counterexample).reshape(1, -1)
        assert np.all(np.abs(x - x0) <= eps + 1e-9)
        assert class_indices(net.forward(x))[0] != res.label
    if not res.holds:
        return
    C, _ = competitor_rows(n_out, res.label)
    X = attack(net, x0, x0 - eps, x0 + eps, C, rng, samples=2000)
    X = np.vstack([X, x0 + eps * np.sign(rng.normal(size=(2000, n_in)))])
    assert np.all(class_indices(net.forward(X)) == res.label)
    assert res.margin_bound > 0


# ------------------------------------------------------------------------------------ the branch and bound
@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("eps", [0.05, 0.3])
def test_the_search_agrees_with_the_exact_mip(dense_net, seed, eps):
    """method="bab" (one disjunct per competing class, the property search) against method="mip" (exact margins):
    the same verdict; a proof's margin bound is the search's RELAX, below the exact worst margin, and the smallest
    margin found is never below it."""
    from mipnet.verify.bab import RELAX

    net = dense_net([4, 10, 10, 3], seed=seed)
    x0 = np.random.default_rng(200 + seed).normal(size=4)
    exact = verify.robustness(net, x0, eps, time_limit=60, method="mip")
    res = verify.robustness(net, x0, eps, time_limit=60, method="bab")
    assert exact.status in ("holds", "violated") and res.status == exact.status
    assert res.bounds_method == "alpha-crown+bab"
    if res.status == "holds":
        assert len(res.details) == 2 and all(e["status"] == "holds" for e in res.details)
        assert res.margin_bound == RELAX <= exact.margin_bound + 1e-9
        assert res.margin >= exact.margin - 1e-9
    else:
        y = net.forward(res.counterexample.reshape(1, -1))[0]
        assert class_indices(y[None])[0] != res.label
        assert np.all(np.abs(res.counterexample.reshape(-1) - x0) <= eps + 1e-12)


def test_auto_searches_beyond_64_relus_and_solves_mips_below(dense_net):
    small, big = dense_net([4, 8, 8, 3], seed=1), dense_net([4, 40, 40, 3], seed=1)
    x0 = np.array([0.2, -0.1, 0.4, 0.0])
    assert verify.robustness(small, x0, 0.05, time_limit=60).bounds_method != "alpha-crown+bab"
    res = verify.robustness(big, x0, 0.05, time_limit=60)
    assert res.bounds_method == "alpha-crown+bab"
    assert res.status == verify.robustness(big, x0, 0.05, time_limit=60, method="mip").status


def test_the_search_keeps_the_binary_rule_and_ties():
    """One output (class 1 when o > 0) and a tie given to the label are decided as with the MIP."""
    net = Network([Dense(2, weight=np.zeros((2, 2)), bias=np.array([0.0, 1e-12]))], 2)
    x0 = np.array([0.3, -0.1])
    assert verify.robustness(net, x0, 0.5, time_limit=30, method="bab").status != "violated"
    res = verify.robustness(net, x0, 0.5, label=1, time_limit=30, method="bab")
    assert res.status == "violated" and class_indices(res.counterexample_output[None]).tolist() == [0]
    one = Network([Dense(1, weight=np.array([[1.0, -1.0]]), bias=np.array([0.5]))], 2)
    assert verify.robustness(one, np.zeros(2), 0.1, time_limit=30, method="bab").status == "holds"
    res = verify.robustness(one, np.zeros(2), 0.4, time_limit=30, method="bab")
    assert res.status == "violated" and one.forward(res.counterexample.reshape(1, -1))[0, 0] <= 0


def test_the_search_finds_counterexamples_the_attack_misses(dense_net, monkeypatch):
    """With the first attack switched off, the search itself finds the counterexample (rule-checked)."""
    from mipnet.verify import queries

    monkeypatch.setattr(queries, "attack", lambda net, x0, lo, hi, C, rng, samples: x0[None])
    net = dense_net([4, 10, 10, 3], seed=2)
    x0 = np.random.default_rng(202).normal(size=4)
    label = int(np.argmax(net.forward(x0[None])[0]))
    res = verify.robustness(net, x0, 0.3, time_limit=60, method="bab")
    assert res.status == "violated" and "sampling" not in res.note
    y = net.forward(res.counterexample.reshape(1, -1))[0]
    assert int(np.argmax(y)) != label and np.all(np.abs(res.counterexample.reshape(-1) - x0) <= 0.3 + 1e-12)
    one = Network([Dense(1, weight=np.array([[1.0, -1.0]]), bias=np.array([0.5]))], 2)
    res = verify.robustness(one, np.zeros(2), 0.4, time_limit=30, method="bab")
    assert res.status == "violated" and one.forward(res.counterexample.reshape(1, -1))[0, 0] <= 0
