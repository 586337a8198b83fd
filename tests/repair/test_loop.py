"""Provable repair: minimal changes on cases whose optimum is known, proofs re-checked by the verifier's MIP."""

import importlib.util

import numpy as np
import pytest

from mipnet import Conv2D, Dense, Flatten, Network
from mipnet.errors import FormatError, SettingsError
from mipnet.io import parse_vnnlib
from mipnet.repair import Norm, RepairStatus, behaviour_change, repair, sample_region, split_network, unsafe_depth
from mipnet.repair.loop import MARGIN
from mipnet.verify import check_property

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
    res = repair(net, prop, norm=norm, output_weight=0.0, keep_decisions=False, time_limit=60)
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
    res = repair(net, prop, norm=Norm.LINF, reference=R, output_weight=0.0, keep_decisions=False, time_limit=60)
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
    res = repair(net, prop, layers=2, norm=Norm.L1, reference=R, output_weight=0.0, keep_decisions=False,
                 time_limit=120)
    assert res.proved
    assert check_property(res.network, prop, method="mip", time_limit=30).status == "holds"
    one = repair(net, prop, layers=1, norm=Norm.L1, reference=R, output_weight=0.0, keep_decisions=False,
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
