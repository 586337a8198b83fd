"""End to end: train_network on a small CNN with filter pruning; the certificate and the report."""

from __future__ import annotations

import numpy as np
import pytest

from mipnet.arch import parse_architecture
from mipnet.network import Network
from mipnet.solvers import SolveOptions
from mipnet.train.certificate import objective_terms
from mipnet.train.config import TrainConfig
from mipnet.train.losses import Hinge
from mipnet.train.trainer import train_network


def test_train_cnn_with_filter_gates_on_digits():
    datasets = pytest.importorskip("sklearn.datasets")
    digits = datasets.load_digits()
    keep = np.isin(digits.target, (0, 1))
    X = digits.images[keep][:12, None] / 16.0
    y = (digits.target[keep][:12] == 1).astype(int)
    template = Network(parse_architecture("conv(2,k=3,s=2)-maxpool(3)-flatten-dense(1)"), (1, 8, 8))
    config = TrainConfig(weights=["continuous", "ternary"], filter_penalty=0.05, max_filters=1)
    net, report = train_network(template, X, y, Hinge(), config, options=SolveOptions(time_limit=5))
    assert report.certificate["ok"]
    assert report.warm_start_objective is not None
    assert report.objective <= report.warm_start_objective + 1e-6
    s = report.sparsity
    assert s["filters"] == [2] and len(s["active_filters"]) == 1 and s["active_filters"][0] <= 1
    assert s["active_layers"] == 2 and s["layers"] == 2
    terms = objective_terms(net, X, y, Hinge(), config)
    assert terms["total"] == pytest.approx(report.objective, abs=1e-5)
    assert terms["filters"] == pytest.approx(0.05 * s["active_filters"][0])
    assert "active filters per conv layer" in str(report)
    np.testing.assert_array_equal(net.forward(X).shape, (12, 1))
