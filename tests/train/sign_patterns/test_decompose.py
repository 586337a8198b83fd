"""The decomposition by output signs: a run stopped before every pattern's MIP still reports a valid, finite
bound (each pattern's root cut loop runs first and its safe LP bound stands in for the MIP it did not get)."""

from __future__ import annotations

import math

import pytest

from mipnet import Dense, Network
from mipnet.solvers import SolveOptions
from mipnet.solvers.highs import HighsBackend
from mipnet.train.config import TrainConfig
from mipnet.train.losses import make_loss
from mipnet.train.trainer import train_network

OPTS = SolveOptions(time_limit=120, threads=1, mip_gap=1e-7)


def _train(X, y, h: int):
    template = Network([Dense(h), Dense(1)], X.shape[1])
    return train_network(template, X, y, make_loss("hinge"), TrainConfig(l1=0.01), options=OPTS)


def test_ctrl_c_in_the_first_mip_keeps_a_finite_valid_bound(bc_subset, monkeypatch) -> None:
    X, y = bc_subset(40, 8, 3)
    _, full = _train(X, y, 3)
    assert full.proved_optimal
    solved_by_mip = [s for s in full.extra["sub_problems"] if "objective" in s]
    assert solved_by_mip, "the instance must need at least one MIP for this test to mean anything"

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(HighsBackend, "solve", interrupted)
    net, rep = _train(X, y, 3)
    subs = rep.extra["sub_problems"]
    assert rep.status == "interrupted" and not rep.proved_optimal
    assert [s["k"] for s in subs] == [s["k"] for s in full.extra["sub_problems"]]  # same order, every pattern
    assert any(s["status"] == "interrupted" for s in subs)
    # every pattern ran its root cut loop before any MIP, so every pattern has a safe LP bound
    assert all(math.isfinite(s["loop_bound"]) for s in subs)
    assert math.isfinite(rep.bound) and math.isfinite(rep.gap)
    assert rep.bound <= full.objective + 1e-6  # a lower bound on the proven optimum
    assert rep.bound <= rep.objective
    assert rep.objective == pytest.approx(rep.warm_start_objective)  # the best start, certified
    assert rep.certificate["ok"]
    assert "LP bound" in str(rep)


def test_loop_bounds_are_lower_bounds_and_closed_patterns_reach_the_cutoff(bc_subset) -> None:
    X, y = bc_subset(30, 5, 1)
    net, rep = _train(X, y, 2)
    assert rep.proved_optimal
    subs = rep.extra["sub_problems"]
    for s in subs:
        assert s["status"] in ("optimal", "infeasible", "closed by the cut loop's LP bound")
        if s["status"].startswith("closed"):
            assert s["bound"] >= s["cutoff"]
    # the pattern that holds the optimum (its number of +1 output weights): its loop's bound is a lower bound on it
    k = int((net.layers[1].weight[0] > 0).sum())
    holder = [s for s in subs if s["k"] == k]
    assert len(holder) == 1 and holder[0]["loop_bound"] <= rep.objective + 1e-6
