"""Shared fixtures: small data made by the tests or shipped with scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def tiny_binary() -> tuple[np.ndarray, np.ndarray]:
    """8 samples, 2 features in [-1, 1], labels 0/1 from a nonlinear rule."""
    rng = np.random.default_rng(3)
    X = rng.uniform(-1, 1, (8, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    return X, y


@pytest.fixture
def small_breast_cancer() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_breast_cancer
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    X, y = load_breast_cancer(return_X_y=True)
    X = MinMaxScaler((-1, 1)).fit_transform(StandardScaler().fit_transform(X))
    idx = np.random.default_rng(0).permutation(len(X))  # mixed classes in every prefix
    return X[idx][:, :5], y[idx]
