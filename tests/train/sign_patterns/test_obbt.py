"""OBBT of the sub-problems' big-M values keeps every network no worse than the cap (correctness only)."""

from __future__ import annotations

import numpy as np
import pytest

from mipnet import Dense, Network
from mipnet.solvers import SolveOptions
from mipnet.train.config import ObbtOptions, SignPatternOptions, TrainConfig
from mipnet.train.domains import resolve_domains
from mipnet.train.losses import make_loss
from mipnet.train.sign_patterns.formulation import SignPatternFormulation
from mipnet.train.sign_patterns.obbt import first_layer_bounds
from mipnet.train.trainer import train_network

OPTS = SolveOptions(time_limit=60, threads=1, mip_gap=1e-7)


@pytest.mark.parametrize("n,h,d,seed", [(12, 3, 4, 1), (14, 2, 3, 7)])
def test_obbt_bounds_contain_the_optimal_network(bc_subset, n: int, h: int, d: int, seed: int) -> None:
    """The pre-activations of an optimal network lie within the OBBT bounds of its sign pattern's sub-problem
    (cap = its objective), and training with OBBT finds the optimum found without it."""
    X, y = bc_subset(n, d, seed)
    template = Network([Dense(h), Dense(1)], X.shape[1])
    loss = make_loss("hinge")
    config = TrainConfig(l1=0.01)
    net, rep = train_network(template, X, y, loss, config, options=OPTS)
    with_obbt = TrainConfig(l1=0.01, sign_patterns=SignPatternOptions(obbt=ObbtOptions()))
    _, rep_obbt = train_network(template, X, y, loss, with_obbt, options=OPTS)
    assert rep.proved_optimal and rep_obbt.proved_optimal
    assert rep_obbt.objective == pytest.approx(rep.objective, rel=1e-6, abs=1e-9)
    # the optimal network with its units sorted by output sign (descending), as in the decomposition
    v = net.layers[1].weight[0]
    order = np.argsort(-v, kind="stable")
    W, b, v = net.layers[0].weight[order], net.layers[0].bias[order], v[order]
    z = X @ W.T + b
    domains = resolve_domains("auto", 2, 1)
    for cfg in (config, TrainConfig(l1=0.01, sign_patterns=SignPatternOptions(pair_rows=0))):
        bounds, info = first_layer_bounds(
            lambda zb, cfg=cfg: SignPatternFormulation(template, X, y, loss, cfg, domains, v,
                                                       incumbent=rep.objective, z_bounds=zb),
            rep.objective, time_budget=30.0, rounds=2)
        assert bounds is not None and info["lps"] > 0
        lo, hi = bounds
        assert np.all(z >= lo - 1e-7) and np.all(z <= hi + 1e-7)
        assert np.all(lo <= hi)
