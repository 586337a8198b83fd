"""Shared fixtures: small data made by the tests or shipped with scikit-learn."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mipnet import AvgPool2D, Conv2D, Dense, Flatten, MaxPool2D, Network
from mipnet.io import to_onnx


@pytest.fixture
def tiny_binary() -> tuple[np.ndarray, np.ndarray]:
    """8 samples, 2 features in [-1, 1], labels 0/1 from a nonlinear rule."""
    rng = np.random.default_rng(3)
    X = rng.uniform(-1, 1, (8, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    return X, y


def _bc_subset(n: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_breast_cancer
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    X, y = load_breast_cancer(return_X_y=True)
    X = MinMaxScaler((-1, 1)).fit_transform(StandardScaler().fit_transform(X))
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(X), n, replace=False)
    cols = rng.choice(X.shape[1], d, replace=False)
    return X[np.ix_(rows, cols)], y[rows]


@pytest.fixture
def bc_subset():
    """Factory: ``bc_subset(n, d, seed)``, n random breast-cancer rows and d random features in [-1, 1]."""
    return _bc_subset


@pytest.fixture
def small_breast_cancer() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_breast_cancer
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    X, y = load_breast_cancer(return_X_y=True)
    X = MinMaxScaler((-1, 1)).fit_transform(StandardScaler().fit_transform(X))
    idx = np.random.default_rng(0).permutation(len(X))  # mixed classes in every prefix
    return X[idx][:, :5], y[idx]


REPO = Path(__file__).resolve().parents[1]
ACASXU = REPO / ".." / "shared" / "external" / "acasxu"


@pytest.fixture
def acasxu() -> Path:
    if not (ACASXU / "onnx").is_dir():
        pytest.skip("ACAS Xu data (../shared/external/acasxu) not present")
    return ACASXU


def _dense_net(sizes: list[int], seed: int = 0) -> Network:
    rng = np.random.default_rng(seed)
    layers = [Dense(o, weight=rng.normal(size=(o, i)) / np.sqrt(i), bias=rng.normal(size=o) * 0.3)
              for i, o in zip(sizes[:-1], sizes[1:])]
    return Network(layers, sizes[0])


def _conv_net(seed: int = 0) -> Network:
    rng = np.random.default_rng(seed)
    return Network([Conv2D(3, 3, padding=1, weight=rng.normal(size=(3, 1, 3, 3)) / 3, bias=rng.normal(size=3) * 0.1),
                    MaxPool2D(2),
                    Conv2D(2, 2, weight=rng.normal(size=(2, 3, 2, 2)) / 3, bias=rng.normal(size=2) * 0.1),
                    AvgPool2D(1), Flatten(),
                    Dense(3, weight=rng.normal(size=(3, 8)) / 4, bias=rng.normal(size=3) * 0.1)], (1, 6, 6))


@pytest.fixture
def dense_net():
    """Factory: ``dense_net([n_in, h1, ..., n_out], seed)`` with ReLU on every hidden layer."""
    return _dense_net


@pytest.fixture
def conv_net():
    """Factory: ``conv_net(seed)``, a (1, 6, 6) -> 3 network with Conv2D, MaxPool2D, AvgPool2D, Flatten, Dense."""
    return _conv_net


@pytest.fixture
def onnx_query(tmp_path):
    """A 3-6-6-2 network saved as ``net.onnx`` beside three files, in ``tmp_path``.

    ``holds.vnnlib`` (``Y_0 >= 1000`` on the box ``[-1, 1]^3``: empty), ``violated.vnnlib`` (``Y_0 >= Y_1`` on the same
    box: non-empty for this network) and ``point.csv`` (one input). Returns ``(directory, network, point)``; the
    network is the one in memory (the ONNX file holds it in float32).
    """
    pytest.importorskip("onnx")
    net = _dense_net([3, 6, 6, 2], seed=3)
    to_onnx(net, tmp_path / "net.onnx")
    head = "".join(f"(declare-const X_{i} Real)\n" for i in range(3))
    head += "(declare-const Y_0 Real)(declare-const Y_1 Real)\n"
    box = "(assert (and (>= X_0 -1) (<= X_0 1) (>= X_1 -1) (<= X_1 1) (>= X_2 -1) (<= X_2 1)))\n"
    (tmp_path / "holds.vnnlib").write_text(head + box + "(assert (>= Y_0 1000))\n")
    (tmp_path / "violated.vnnlib").write_text(head + box + "(assert (>= Y_0 Y_1))\n")
    x0 = np.array([0.1, -0.2, 0.3])
    (tmp_path / "point.csv").write_text(",".join(map(str, x0)))
    return tmp_path, net, x0
