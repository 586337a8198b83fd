"""Shared fixtures: small data made by the tests or shipped with scikit-learn."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mipnet import AvgPool2D, Conv2D, Dense, Flatten, MaxPool2D, Network


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
