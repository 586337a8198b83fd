"""Every speed feature of the dense training MIP keeps the optimum of the naive model (correctness only).

Naive: big-M from per-sample interval bounds, no warm start, no symmetry handling, one MIP. The fast path adds
the warm starts (per output-sign pattern, LP-polished), the L1-budget big-M, the decomposition by output signs
with cutoffs, one-sided ReLUs, the secant rows, the root cuts, the margin cap and the bias order within sign
groups (the optional hyperplane-side rows too).
"""

from __future__ import annotations

import numpy as np
import pytest

from mipnet import Dense, Network
from mipnet.solvers import SolveOptions
from mipnet.train.config import ObbtOptions, SignPatternOptions, TrainConfig
from mipnet.train.domains import resolve_domains
from mipnet.train.formulation import TrainingFormulation
from mipnet.train.losses import make_loss
from mipnet.train.sign_patterns.formulation import SignPatternFormulation
from mipnet.train.trainer import train_network
from mipnet.train.warmstart import sign_output_starts

OPTS = SolveOptions(time_limit=60, threads=1, mip_gap=1e-7)


def _solve(X: np.ndarray, y: np.ndarray, h: int, config: TrainConfig):
    template = Network([Dense(h), Dense(1)], X.shape[1])
    return train_network(template, X, y, make_loss("hinge"), config, options=OPTS)


CASES = [(10, 2, 3, 0), (12, 3, 4, 1), (9, 3, 3, 2)]
VARIANTS = {
    "fast (default)": {},
    "no one-sided relu": {"one_sided_relu": False},
    "no secant rows": {"secant_rows": False},
    "no margin cap": {"margin_cap": False},
    "no pair rows": {"pair_rows": 0},
    "no root cuts (pair rows instead)": {"relu_cuts": False},
    "hyperplane-side rows z <= U d": {"relu_indicator": True},
    "root cuts, all kept, symmetric": {"cut_keep_slack": float("inf"), "cut_symmetric": True},
    "root cuts with pair rows": {"pair_rows": 8},
    "OBBT of the big-M values": {"obbt": ObbtOptions()},
    "OBBT with pair rows, 2 rounds, upper only": {"obbt": ObbtOptions(pair_rows=8, rounds=2, lower=False)},
    "pair rows for the 2 nearest only": {"pair_rows": 2},
    "decomposition without symmetry": {"config": {"symmetry": False}},
    "bias order within sign groups": {"group_order": True},
    "single MIP: budget + symmetry + warm start": {"config": {"decompose": False}},
    "single MIP: symmetry only": {"config": {"decompose": False, "warm_start": False}},
}


@pytest.mark.parametrize("n,h,d,seed", CASES)
def test_every_feature_keeps_the_naive_optimum(bc_subset, n: int, h: int, d: int, seed: int) -> None:
    X, y = bc_subset(n, d, seed)
    l1 = 0.01
    _, naive = _solve(X, y, h, TrainConfig.naive(l1=l1))
    assert naive.proved_optimal
    for name, kw in VARIANTS.items():
        kw = dict(kw)
        config = kw.pop("config", {})
        net, rep = _solve(X, y, h, TrainConfig(l1=l1, sign_patterns=SignPatternOptions(**kw), **config))
        assert rep.proved_optimal, name
        assert rep.objective == pytest.approx(naive.objective, rel=1e-6, abs=1e-9), name
        assert rep.certificate["ok"], name
        if rep.warm_start_objective is not None:
            assert rep.warm_start_objective >= naive.objective - 1e-9, name


def test_naive_preset_is_the_plain_model() -> None:
    c = TrainConfig.naive(l1=0.01)
    assert (c.bounds, c.symmetry, c.warm_start, c.decompose) == ("interval", False, False, False)


@pytest.mark.parametrize("n,h,d,seed", CASES[:2])
def test_warm_starts_are_feasible_and_not_below_the_optimum(bc_subset, n: int, h: int, d: int, seed: int) -> None:
    X, y = bc_subset(n, d, seed)
    config = TrainConfig(l1=0.01)
    _, naive = _solve(X, y, h, TrainConfig.naive(l1=0.01))
    template = Network([Dense(h), Dense(1)], X.shape[1])
    starts = sign_output_starts(template, X, y, config)
    assert sorted(starts) == list(range(h + 1))
    domains = resolve_domains("auto", 2, 1)
    best = min(v for _, v in starts.values())
    for k, (net, value) in starts.items():
        assert value >= naive.objective - 1e-9
        v = np.array([1.0] * k + [-1.0] * (h - k))
        np.testing.assert_array_equal(net.layers[1].weight[0], v)
        # feasible for the full (naive) formulation and for its own sign-pattern sub-problem
        for form in (TrainingFormulation(template, X, y, make_loss("hinge"), TrainConfig.naive(l1=0.01), domains,
                                         warm=net),
                     SignPatternFormulation(template, X, y, make_loss("hinge"), config, domains, v, warm=net,
                                            incumbent=max(best, value))):
            x = form.start_vector()
            assert form.m.violation(x) <= 1e-7
            assert form.m.objective_value(x) == pytest.approx(value, abs=1e-7)
    _, rep = _solve(X, y, h, config)
    assert rep.warm_start_accepted is True
    assert rep.warm_start_objective >= rep.objective - 1e-9


def test_sub_problems_with_fixed_signs_match_the_naive_model_with_fixed_signs(bc_subset) -> None:
    """Each sign-pattern sub-problem (one-sided ReLU, secant rows, margin cap, bias order) has the optimum of
    the naive model with the output weights pinned to the same signs."""
    X, y = bc_subset(10, 3, 5)
    h = 2
    template = Network([Dense(h), Dense(1)], X.shape[1])
    domains = resolve_domains("auto", 2, 1)
    from mipnet.solvers.highs import HighsBackend

    for k in range(h + 1):
        v = np.array([1.0] * k + [-1.0] * (h - k))
        plain = TrainingFormulation(template, X, y, make_loss("hinge"), TrainConfig.naive(l1=0.01), domains)
        blk = plain.blocks[1]
        plain.m.fix(blk.W, v[None, :])
        plain.m.fix(blk.beta, ((v + 1) / 2)[None, :, None])
        sub = SignPatternFormulation(template, X, y, make_loss("hinge"), TrainConfig(l1=0.01), domains, v)
        a = HighsBackend().solve(plain.m, OPTS)
        b = HighsBackend().solve(sub.m, OPTS)
        assert a.status == b.status == "optimal"
        assert b.objective == pytest.approx(a.objective, rel=1e-6, abs=1e-9)
