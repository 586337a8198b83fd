"""Provable repair: minimal changes on cases whose optimum is known, proofs re-checked by the verifier's MIP."""

import importlib.util

import numpy as np
import pytest

from mipnet import Conv2D, Dense, Flatten, Network
from mipnet.errors import FormatError, SettingsError
from mipnet.io import parse_vnnlib
from mipnet.repair import (
    Norm,
    RepairStatus,
    behaviour_change,
    repair,
    safe_slack,
    sample_region,
    split_network,
    unsafe_depth,
)
from mipnet.repair.loop import MARGIN, near_counterexample
from mipnet.verify import check_property
from mipnet.verify.results import Verdict, VerificationResult

ONE_D = ("(declare-const X_0 Real)\n(declare-const Y_0 Real)\n(assert (>= X_0 0))\n(assert (<= X_0 1))\n"
         "(assert (>= Y_0 1))\n")   # unsafe: an output >= 1 anywhere in [0, 1]


def line_net(v: float = 2.0) -> Network:
    """y = v * relu(x): on [0, 1] its largest output is v (unsafe for v >= 1)."""
    return Network([Dense(1, weight=[[1.0]], bias=[0.0]), Dense(1, weight=[[v]], bias=[0.0])], 1)


def three_class_net(seed: int = 0) -> Network:
    rng = np.random.default_rng(seed)
    return Network([Dense(6, weight=rng.normal(size=(6, 2)), bias=rng.normal(size=6) * 0.3),
                    Dense(3, weight=rng.normal(size=(3, 6)), bias=np.zeros(3))], 2)


def class_zero_unsafe() -> str:
    """Unsafe: class 0 wins (y0 >= y1 and y0 >= y2) somewhere in the box [-1, 1] x [-1, 1]."""
    head = "(declare-const X_0 Real)\n(declare-const X_1 Real)\n" + \
        "".join(f"(declare-const Y_{j} Real)\n" for j in range(3))
    box = "(assert (>= X_0 -1))\n(assert (<= X_0 1))\n(assert (>= X_1 -1))\n(assert (<= X_1 1))\n"
    return head + box + "(assert (>= Y_0 Y_1))\n(assert (>= Y_0 Y_2))\n"


@pytest.mark.parametrize("norm, expected", [(Norm.L1, 1 + MARGIN), (Norm.LINF, (1 + MARGIN) / 2)])
def test_minimal_change_matches_the_closed_form(norm, expected):
    # safe needs (2 + dv) x + dc <= 1 - margin on [0, 1], i.e. dv + dc <= -(1 + margin) (at x = 1) and dc <= 1 - margin:
    # the smallest L1 change is 1 + margin, the smallest L-inf change (1 + margin) / 2
    net, prop = line_net(), parse_vnnlib(ONE_D)
    assert check_property(net, prop, method="mip").status == "violated"
    res = repair(net, prop, norm=norm, output_weight=0.0, decision_rows="none", time_limit=60)
    assert res.status == RepairStatus.PROVED and res.verification.status == "holds"
    assert check_property(res.network, prop, method="mip", time_limit=30).status == "holds"   # independent re-check
    assert res.change["l1" if norm == Norm.L1 else "linf"] == pytest.approx(expected, abs=1e-6)
    assert res.change["per_layer"][0]["l1"] == 0.0                     # the first layer is fixed
    assert res.objective == pytest.approx(expected, abs=1e-6)
    assert res.lower_bound == pytest.approx(expected, abs=1e-6)        # minimal: the proved network attains the bound
    assert len(res.rounds) >= 2 and res.rounds[0]["verdict"] == "violated"
    # the original network is untouched
    assert net.layers[1].weight[0, 0] == 2.0


def test_drawdown_is_measured_on_the_reference_set():
    net, prop = line_net(), parse_vnnlib(ONE_D)
    R = np.linspace(0.0, 1.0, 41)[:, None]
    res = repair(net, prop, norm=Norm.LINF, reference=R, output_weight=0.0, decision_rows="none", time_limit=60)
    assert res.proved
    y0, y1 = net.forward(R)[:, 0], res.network.forward(R)[:, 0]
    flips = np.mean((y0 > 0) != (y1 > 0))           # one output: the decision is y > 0
    assert res.behaviour["drawdown"] == pytest.approx(flips)
    assert res.behaviour["max_output_change"] == pytest.approx(np.abs(y1 - y0).max())
    assert res.n_reference == 41 and flips > 0      # the L-inf optimum lowers the bias, so small x flip to y < 0


def test_kept_decisions_give_no_drawdown_on_the_reference_set():
    net, prop = line_net(), parse_vnnlib(ONE_D)
    R = np.linspace(0.0, 1.0, 41)[:, None]
    res = repair(net, prop, norm=Norm.LINF, reference=R, output_weight=0.0, time_limit=60)
    assert res.proved and res.behaviour["drawdown"] == 0.0
    assert all(e.get("decisions", "kept") == "kept" for e in res.rounds[1:])


def test_multi_output_disjunction_is_repaired_and_proved():
    net, prop = three_class_net(), parse_vnnlib(class_zero_unsafe())
    assert check_property(net, prop, method="mip").status == "violated"
    res = repair(net, prop, norm=Norm.L1, n_reference=100, time_limit=120, decision="argmax")
    assert res.proved
    assert check_property(res.network, prop, method="mip", time_limit=60).status == "holds"
    assert res.change["l1"] > 0 and res.change["per_layer"][0]["changed"] == 0
    X = sample_region(prop, 2000, np.random.default_rng(5))
    Y = res.network.forward(X)
    assert not np.isfinite(unsafe_depth(prop, X, Y)).any()            # dense sampling agrees with the proof
    assert res.behaviour == behaviour_change(net, res.network, sample_region(prop, 100, np.random.default_rng(0)),
                                             "argmax")


def test_already_safe_network_needs_no_change():
    net, prop = line_net(0.5), parse_vnnlib(ONE_D)
    res = repair(net, prop, time_limit=30)
    assert res.proved and res.change["l1"] == 0.0 and res.behaviour["drawdown"] == 0.0
    assert len(res.rounds) == 1 and res.rounds[0]["verdict"] == "holds"


@pytest.mark.skipif(importlib.util.find_spec("pyscipopt") is None, reason="layers=2 needs SCIP")
def test_two_layers_find_a_smaller_change():
    # with the hidden layer free too, scaling the hidden unit by 1/2 suffices: L1 change (1 + margin) / 2
    net, prop = line_net(), parse_vnnlib(ONE_D)
    R = np.linspace(0.0, 1.0, 6)[:, None]
    res = repair(net, prop, layers=2, norm=Norm.L1, reference=R, output_weight=0.0, decision_rows="none",
                 time_limit=120)
    assert res.proved
    assert check_property(res.network, prop, method="mip", time_limit=30).status == "holds"
    one = repair(net, prop, layers=1, norm=Norm.L1, reference=R, output_weight=0.0, decision_rows="none",
                 time_limit=60)
    assert res.change["l1"] < one.change["l1"] - 0.3
    assert res.change["l1"] >= (1 + MARGIN) / 2 - 1e-6
    assert res.change["per_layer"][0]["changed"] > 0 or res.change["per_layer"][1]["changed"] > 0


def test_split_network_keeps_the_function():
    net = three_class_net(1)
    prefix, tail = split_network(net, 1)
    X = np.random.default_rng(0).uniform(-1, 1, (20, 2))
    H = prefix[0].forward(X)
    np.testing.assert_allclose(tail.forward(H), net.forward(X))
    assert tail.layers[0].weight is not net.layers[1].weight


def test_bad_inputs_fail_before_any_solve():
    net, prop = line_net(), parse_vnnlib(ONE_D)
    with pytest.raises(SettingsError, match="layers must be"):
        repair(net, prop, layers=0)
    with pytest.raises(SettingsError, match="layers must be"):
        repair(net, prop, layers=3)
    with pytest.raises(SettingsError, match="norm must be one of"):
        repair(net, prop, norm="l3")
    with pytest.raises(SettingsError, match="decision must be one of"):
        repair(net, prop, decision="median")
    with pytest.raises(SettingsError, match="reference must be"):
        repair(net, prop, reference=np.zeros((4, 3)))
    with pytest.raises(SettingsError, match="needs solver='scip'"):
        repair(net, prop, layers=2, solver="highs")
    with pytest.raises(SettingsError, match="margin"):
        repair(net, prop, margin=-1.0)
    with pytest.raises(FormatError, match="inputs and"):
        repair(three_class_net(), prop)
    conv = Network([Conv2D(2, kernel=2), Flatten(), Dense(1)], (1, 3, 3))
    conv.layers[0].weight, conv.layers[0].bias = np.ones((2, 1, 2, 2)), np.zeros(2)
    conv.layers[2].weight, conv.layers[2].bias = np.ones((1, 8)), np.zeros(1)
    with pytest.raises(SettingsError, match="Dense layers only"):
        split_network(conv, 2)


# --------------------------------------------------------------------------------- decision rows, counted
FLAT_UNSAFE = ("(declare-const X_0 Real)\n(declare-const Y_0 Real)\n(assert (>= X_0 -2))\n(assert (<= X_0 -1.5))\n"
               "(assert (>= Y_0 0))\n")   # unsafe: an output >= 0 anywhere in [-2, -1.5]


def flat_net() -> Network:
    """y = relu(x) + 1: constant 1 on x <= 0 (so the unsafe region [-2, -1.5] is hit everywhere)."""
    return Network([Dense(1, weight=[[1.0]], bias=[0.0]), Dense(1, weight=[[1.0]], bias=[1.0])], 1)


def test_counted_decisions_change_exactly_the_forced_ones():
    # every input x <= 0 has the hidden value 0, so safety on [-2, -1.5] (bias <= -margin) forces y < 0 at the
    # reference inputs -1 and -0.5 (their decision y > 0 cannot be kept); those at 0.5 and 1 can keep it (raise the
    # weight): the fewest changed decisions is 2 of 4 (the bias must move by more than 1: max_change=3)
    net, prop = flat_net(), parse_vnnlib(FLAT_UNSAFE)
    R = np.array([[-1.0], [-0.5], [0.5], [1.0]])
    res = repair(net, prop, reference=R, decision_rows="count", output_weight=0.0, max_change=3.0, time_limit=60)
    assert res.proved and check_property(res.network, prop, method="mip", time_limit=30).status == "holds"
    y0, y1 = net.forward(R)[:, 0], res.network.forward(R)[:, 0]
    assert np.array_equal(y1 > 0, [False, False, True, True])
    assert res.behaviour["changed_decisions"] == 2 and res.behaviour["drawdown"] == 0.5
    last = res.rounds[-1]
    assert last["decisions"] == "counted" and last["changed_decisions"] == 2
    # the objective counts them: change + drawdown_weight * 2 / 4, and it is the MIP's optimum
    assert res.objective == pytest.approx(res.change["l1"] + 100.0 * 2 / 4, rel=1e-6)
    assert res.lower_bound == pytest.approx(res.objective, rel=1e-6)
    # the hard rows are infeasible here and fall back to a slack penalty; without rows the change alone decides
    kept = repair(net, prop, reference=R, decision_rows="keep", output_weight=0.0, max_change=3.0, time_limit=60)
    assert kept.proved and kept.rounds[-1]["decisions"] == "penalised"
    assert kept.behaviour["changed_decisions"] >= 2
    assert np.all((y0 > 0) == [True, True, True, True])


def test_counted_decisions_keep_every_decision_when_they_can():
    net, prop = line_net(), parse_vnnlib(ONE_D)
    R = np.linspace(0.0, 1.0, 41)[:, None]
    res = repair(net, prop, norm=Norm.LINF, reference=R, output_weight=0.0, decision_rows="count", time_limit=60)
    free = repair(net, prop, norm=Norm.LINF, reference=R, output_weight=0.0, decision_rows="none", time_limit=60)
    assert res.proved and free.proved
    assert res.behaviour["drawdown"] == 0.0 < free.behaviour["drawdown"]
    assert res.rounds[-1]["decisions"] == "counted" and res.rounds[-1]["changed_decisions"] == 0


# ------------------------------------------------------------------------------- proof-guided margin
def _unknown_verifier(real, unknown_rounds):
    """A stand-in for check_property that answers ``unknown`` (as a verifier out of time does) for the candidates of
    the rounds in ``unknown_rounds`` and the real answer otherwise."""
    calls = []

    def check(candidate, prop, time_limit=None, method="auto", threads=1, seed=0):
        calls.append(seed)
        if len(calls) - 1 in unknown_rounds:
            return VerificationResult(Verdict.UNKNOWN, note="stand-in: no answer")
        return real(candidate, prop, time_limit=time_limit, method=method, threads=threads, seed=seed)
    return check, calls


def test_grown_margin_is_proved_only_by_the_verifier(monkeypatch):
    import mipnet.repair.loop as loop

    net, prop = line_net(), parse_vnnlib(ONE_D)
    R = np.linspace(0.0, 1.0, 41)[:, None]      # x >= 0.5 are unsafe points, x = 1 among them: round 1 is safe
    check, calls = _unknown_verifier(loop.check_property, unknown_rounds={1})
    monkeypatch.setattr(loop, "check_property", check)
    res = repair(net, prop, norm=Norm.L1, reference=R, output_weight=0.0, decision_rows="none", margin=1e-3,
                 margin_growth=10.0, time_limit=60)
    # round 1's candidate was not proved (unknown) and no counterexample exists: the margin grew to 1e-2,
    # near-boundary points were added, and the next candidate was proved by the (real) verifier
    assert res.rounds[1]["verdict"] == "unknown" and res.rounds[1]["margin_next"] == pytest.approx(1e-2)
    assert res.rounds[1]["added"] > 0 and res.rounds[2]["margin"] == pytest.approx(1e-2)
    assert res.proved and res.verification.status == "holds" and len(calls) == 3
    assert check_property(res.network, prop, method="mip", time_limit=30).status == "holds"
    assert res.network.forward(np.ones((1, 1)))[0, 0] <= 1 - 1e-2 + 1e-7     # x = 1 carries the grown margin
    # the lower bound is the base-margin round's (1 + margin), not the more constrained problem's
    assert res.lower_bound == pytest.approx(1 + 1e-3, abs=1e-6)
    assert res.objective == pytest.approx(1 + 1e-2, abs=1e-6) and res.objective >= res.lower_bound


def test_grown_margin_never_claims_a_proof_it_does_not_have(monkeypatch):
    import mipnet.repair.loop as loop

    net, prop, real = line_net(), parse_vnnlib(ONE_D), loop.check_property
    check, calls = _unknown_verifier(real, unknown_rounds=set(range(1, 100)))
    monkeypatch.setattr(loop, "check_property", check)
    res = repair(net, prop, norm=Norm.L1, output_weight=0.0, decision_rows="none", margin_growth=2.0,
                 max_rounds=4, time_limit=60)
    assert res.status == RepairStatus.NOT_PROVED and not res.proved
    assert res.verification.status == "unknown" and res.network is not None
    margins = [e["margin"] for e in res.rounds[1:]]
    assert margins == sorted(margins) and margins[-1] > margins[0]
    # without growth the loop stops at the first unknown, not proved either
    check, _ = _unknown_verifier(real, unknown_rounds=set(range(1, 100)))
    monkeypatch.setattr(loop, "check_property", check)
    plain = repair(net, prop, norm=Norm.L1, output_weight=0.0, decision_rows="none", time_limit=60)
    assert not plain.proved and plain.verification.status == "unknown"
    assert all(e["margin"] == MARGIN and "margin_next" not in e for e in plain.rounds[1:])


def test_safe_slack_measures_the_distance_to_the_unsafe_region():
    prop = parse_vnnlib(ONE_D)
    X = np.array([[0.5], [0.5], [2.0]])
    Y = np.array([[0.7], [1.2], [5.0]])
    s = safe_slack(prop, X, Y)
    assert s[0] == pytest.approx(0.3) and s[1] <= 0 and s[2] == np.inf


def test_pool_rounds_bring_the_changed_decisions_into_the_reference_set():
    # the L-inf optimum lowers the bias, so small x flip to y < 0; with only x = 1 (an unsafe point) as reference no
    # decision is kept at first; the pool shows the flips, they join the reference set and the next repair keeps them
    net, prop = line_net(), parse_vnnlib(ONE_D)
    pool = np.linspace(0.0, 1.0, 101)[:, None]
    res = repair(net, prop, norm=Norm.LINF, reference=np.ones((1, 1)), output_weight=0.0, decision_rows="keep",
                 pool=pool, pool_rounds=2, time_limit=60)
    assert res.proved and check_property(res.network, prop, method="mip", time_limit=30).status == "holds"
    dd = [e["pool_drawdown"] for e in res.rounds if "pool_drawdown" in e]
    assert dd[0] > 0 and dd[-1] == 0.0 and res.rounds[-1]["decisions"] == "kept"
    assert res.n_reference == 1 + res.rounds[len(res.rounds) - 2]["pool_added"]
    changed = behaviour_change(net, res.network, pool)["changed_decisions"]
    assert changed == 0                          # the returned network is the one with the smallest pool drawdown
    with pytest.raises(SettingsError, match="pool must be"):
        repair(net, prop, pool=np.zeros((3, 2)))


def test_a_proved_pool_candidate_is_kept_when_a_later_round_fails(monkeypatch):
    import mipnet.repair.loop as loop

    net, prop = line_net(), parse_vnnlib(ONE_D)
    check, calls = _unknown_verifier(loop.check_property, unknown_rounds={2})   # round 2's candidate: unknown
    monkeypatch.setattr(loop, "check_property", check)
    pool = np.linspace(0.0, 1.0, 101)[:, None]
    res = repair(net, prop, norm=Norm.LINF, reference=np.ones((1, 1)), output_weight=0.0, decision_rows="keep",
                 pool=pool, pool_rounds=2, time_limit=60)
    assert res.proved and res.verification.status == "holds" and "a later round ended" in res.note
    assert res.rounds[1]["verdict"] == "holds" and res.rounds[1]["pool_drawdown"] > 0
    assert res.rounds[2]["verdict"] == "unknown"
    assert check_property(res.network, prop, method="mip", time_limit=30).status == "holds"
    assert behaviour_change(net, res.network, pool)["drawdown"] == pytest.approx(res.rounds[1]["pool_drawdown"])


def test_near_counterexample_finds_the_tiny_unsafe_region_next_to_an_earlier_point():
    """Unsafe only where x0 >= 0.9996 (a sliver of the box): sampling around an earlier counterexample inside it
    finds a re-checked one; around a point far from it, none."""
    net = Network([Dense(1, weight=[[1.0, 0.0]], bias=[-0.9995]), Dense(1, weight=[[1000.0]], bias=[0.0])], 2)
    prop = parse_vnnlib("(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const Y_0 Real)\n"
                        "(assert (>= X_0 0))\n(assert (<= X_0 1))\n(assert (>= X_1 0))\n(assert (<= X_1 1))\n"
                        "(assert (>= Y_0 0.1))\n")
    rng = np.random.default_rng(0)
    x = near_counterexample(net, prop, np.array([[0.99965, 0.5]]), rng)
    assert x is not None and x[0] >= 0.9996 and prop.contains(x, net.forward(x[None])[0])
    assert near_counterexample(net, prop, np.array([[0.5, 0.5], [0.2, 0.9]]), rng) is None
    assert near_counterexample(net, prop, np.zeros((0, 2)), rng) is None
