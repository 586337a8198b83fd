"""Estimators across processes and machines: pickling, GridSearchCV with n_jobs, joblib's Dask backend."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV

from mipnet.estimators import MIPNetClassifier, MIPNetRegressor

GRID = {"l1": [0.0, 0.1]}


@pytest.fixture
def data(bc_subset):
    return bc_subset(20, 3, 7)


@pytest.mark.parametrize("cls", [MIPNetClassifier, MIPNetRegressor])
def test_pickle_round_trip_fitted_and_unfitted(cls, data) -> None:
    X, y = data
    est = cls(hidden=(2,), l1=0.01, time_limit=20)
    again = pickle.loads(pickle.dumps(est))
    assert again.get_params() == est.get_params() and not hasattr(again, "network_")
    est.fit(X, y.astype(float) if cls is MIPNetRegressor else y)
    back = pickle.loads(pickle.dumps(est))
    assert np.array_equal(back.predict(X), est.predict(X))
    assert back.report_.as_dict() == est.report_.as_dict()
    assert back.report_.network is not None and back.report_.network is not est.network_
    back.fit(X, y.astype(float) if cls is MIPNetRegressor else y)   # an unpickled estimator refits
    assert np.array_equal(back.predict(X), est.predict(X)) or not est.report_.proved_optimal


def test_grid_search_in_two_processes_equals_one(data) -> None:
    X, y = data
    one = GridSearchCV(MIPNetClassifier(hidden=(2,), time_limit=20), GRID, cv=2).fit(X, y)
    two = GridSearchCV(MIPNetClassifier(hidden=(2,), time_limit=20), GRID, cv=2, n_jobs=2).fit(X, y)
    assert np.allclose(one.cv_results_["mean_test_score"], two.cv_results_["mean_test_score"])
    assert np.array_equal(one.predict(X), two.predict(X))


def test_grid_search_on_a_dask_cluster(data) -> None:
    pytest.importorskip("dask")
    distributed = pytest.importorskip("distributed")
    import joblib

    X, y = data
    local = GridSearchCV(MIPNetClassifier(hidden=(2,), time_limit=20), GRID, cv=2).fit(X, y)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=40) as cluster, distributed.Client(cluster) as client:
        with joblib.parallel_backend("dask"):
            grid = GridSearchCV(MIPNetClassifier(hidden=(2,), time_limit=20), GRID, cv=2).fit(X, y)
        workers = client.run(lambda: __import__("os").getpid())
    assert len(workers) == 2
    assert np.allclose(grid.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"])
    assert np.array_equal(grid.predict(X), local.predict(X))
