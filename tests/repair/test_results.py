"""The measures a repair reports: decisions, drawdown, output and weight change."""

import numpy as np
import pytest

from mipnet import Dense, Network
from mipnet.errors import SettingsError
from mipnet.repair import Decision, Norm, behaviour_change, decisions, weight_change
from mipnet.repair.results import parse_enum


def _net(W, b):
    return Network([Dense(len(b), relu=False, weight=np.array(W, dtype=float), bias=np.array(b, dtype=float))],
                   len(W[0]))


def test_decisions_follow_the_convention():
    Y = np.array([[0.0, 2.0, 1.0], [3.0, -1.0, 0.0]])
    assert decisions(Y, Decision.ARGMAX).tolist() == [1, 0]
    assert decisions(Y, Decision.ARGMIN).tolist() == [0, 1]
    assert decisions(np.array([[0.5], [-0.5], [0.0]]), Decision.ARGMAX).tolist() == [1, 0, 0]


def test_behaviour_change_counts_changed_decisions():
    a = _net([[1.0, 0.0], [0.0, 1.0]], [0.0, 0.0])
    b = _net([[1.0, 0.0], [0.0, 1.0]], [0.0, 0.5])        # output 1 raised by 0.5
    X = np.array([[1.0, 0.0], [0.3, 0.0], [0.0, 1.0], [0.7, 0.5]])
    out = behaviour_change(a, b, X, "argmax")
    # argmax before: 0, 0, 1, 0; after: 0, 1, 1, 1
    assert out["drawdown"] == 0.5 and out["changed_decisions"] == 2 and out["n"] == 4
    assert out["max_output_change"] == pytest.approx(0.5) and out["mean_output_change"] == pytest.approx(0.5)
    assert behaviour_change(a, a, X)["drawdown"] == 0.0


def test_weight_change_per_layer_and_missing_bias():
    a = Network([Dense(2, weight=np.ones((2, 2)), bias=None), Dense(1, weight=np.ones((1, 2)), bias=np.zeros(1))], 2)
    b = Network([Dense(2, weight=np.ones((2, 2)), bias=np.array([0.0, -0.25])),
                 Dense(1, weight=np.array([[1.0, 3.0]]), bias=np.zeros(1))], 2)
    ch = weight_change(a, b)
    assert ch["per_layer"][0] == {"layer": 0, "l1": 0.25, "linf": 0.25, "changed": 1, "entries": 6}
    assert ch["per_layer"][1]["l1"] == 2.0 and ch["l1"] == 2.25 and ch["linf"] == 2.0 and ch["changed"] == 2


def test_options_are_enums_with_clear_errors():
    assert parse_enum(Norm, "linf", "norm") is Norm.LINF
    assert parse_enum(Norm, Norm.L1, "norm") is Norm.L1
    with pytest.raises(SettingsError, match="norm must be one of 'l1', 'linf'"):
        parse_enum(Norm, "l2", "norm")
