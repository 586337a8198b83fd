"""scikit-learn estimator API: fit/predict/score/params, pipelines, grid search, labels, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler

from mipnet import MIPNetClassifier, MIPNetRegressor
from mipnet.errors import DataError, NoSolutionError, SettingsError, SolverUnavailableError
from mipnet.solvers import BACKENDS


@pytest.fixture
def wine():
    from sklearn.datasets import load_wine

    X, y = load_wine(return_X_y=True)
    X = MinMaxScaler((-1, 1)).fit_transform(X)
    idx = np.random.default_rng(0).permutation(len(X))[:15]
    return X[idx][:, :3], y[idx]


def test_binary_string_labels_and_report(small_breast_cancer):
    X, y = small_breast_cancer
    labels = np.where(y == 1, "benign", "malignant")
    clf = MIPNetClassifier(hidden=(2,), l1=0.01, time_limit=60).fit(X[:20], labels[:20])
    assert set(clf.classes_) == {"benign", "malignant"}
    assert set(clf.predict(X[:30])) <= set(clf.classes_)
    rep = clf.report_
    assert rep.status == "optimal" and rep.proved_optimal and rep.gap <= 1e-4
    assert rep.certificate["ok"]
    assert rep.objective == pytest.approx(rep.objective_terms["total"], abs=1e-6)
    assert rep.warm_start_objective is None or rep.warm_start_objective >= rep.objective - 1e-9
    assert "status" in str(rep) and "certificate" in str(rep)
    scores = clf.decision_function(X[:20])
    assert scores.shape == (20,)
    assert np.array_equal(clf.predict(X[:20]), np.where(scores > 0, clf.classes_[1], clf.classes_[0]))
    assert clf.network_.forward(X[:3]).shape == (3, 1)


def test_multiclass(wine):
    X, y = wine
    clf = MIPNetClassifier(hidden=(2,), l1=0.01, time_limit=10).fit(X, y)
    assert clf.decision_function(X).shape == (len(X), 3)
    assert clf.report_.status in ("optimal", "time_limit")
    assert clf.report_.certificate["ok"]
    assert 0 <= clf.score(X, y) <= 1


def test_params_clone_pipeline_gridsearch(small_breast_cancer):
    X, y = small_breast_cancer
    clf = MIPNetClassifier(hidden=(2,), l1=0.01, time_limit=20)
    assert clone(clf).get_params()["l1"] == 0.01
    clf.set_params(l1=0.02)
    assert clf.l1 == 0.02
    pipe = make_pipeline(MinMaxScaler((-1, 1)), MIPNetClassifier(hidden=(1,), time_limit=20))
    pipe.fit(X[:16], y[:16])
    assert pipe.score(X[:16], y[:16]) >= 0.5
    gs = GridSearchCV(MIPNetClassifier(hidden=(1,), time_limit=10), {"l1": [0.01, 0.1]}, cv=2)
    gs.fit(X[:16], y[:16])
    assert gs.best_params_["l1"] in (0.01, 0.1)


def test_regressor_losses():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (12, 2))
    y = np.abs(X[:, 0]) + 0.1 * X[:, 1]
    for loss in ("absolute", "max"):
        reg = MIPNetRegressor(hidden=(2,), loss=loss, l1=0.001, time_limit=60).fit(X, y)
        assert reg.predict(X).shape == (12,)
        assert reg.report_.certificate["ok"]
    reg2 = MIPNetRegressor(hidden=(2,), time_limit=30).fit(X, np.stack([y, -y], 1))
    assert reg2.predict(X).shape == (12, 2)


def test_save_and_load(tmp_path, small_breast_cancer):
    X, y = small_breast_cancer
    clf = MIPNetClassifier(hidden=(2,), l1=0.01, time_limit=30).fit(X[:16], y[:16])
    path = tmp_path / "m.json"
    clf.save(path)
    back = MIPNetClassifier.load(path)
    assert np.array_equal(back.predict(X), clf.predict(X))
    assert np.array_equal(back.decision_function(X), clf.decision_function(X))
    back.save(tmp_path / "again.json")                     # a loaded model saves again (no report_ needed)
    assert np.array_equal(MIPNetClassifier.load(tmp_path / "again.json").predict(X), clf.predict(X))


def _cli_model_file(path, task="classification"):
    """A model file as ``mipnet train`` writes it: minmax scaling of raw features in its metadata."""
    from mipnet import Dense, Network, save_network

    rng = np.random.default_rng(5)
    n_out = 3 if task == "classification" else 1
    net = Network([Dense(4, weight=rng.normal(size=(4, 2)), bias=rng.normal(size=4) * 0.3),
                   Dense(n_out, weight=rng.normal(size=(n_out, 4)), bias=rng.normal(size=n_out) * 0.3)], 2)
    offset, scale = np.array([50.0, 0.5]), np.array([0.02, 2.0])
    meta = {"estimator": "MIPNetClassifier" if task == "classification" else "MIPNetRegressor", "task": task,
            "features": ["big", "small"], "target": "t",
            "preprocessing": {"kind": "minmax", "offset": offset.tolist(), "scale": scale.tolist()}}
    if task == "classification":
        meta["classes"] = ["a", "b", "c"]
    save_network(net, path, meta)
    return net, offset, scale


@pytest.mark.filterwarnings("ignore:X does not have valid feature names:UserWarning")
def test_load_of_a_cli_model_applies_its_preprocessing(tmp_path):
    net, offset, scale = _cli_model_file(tmp_path / "m.json")
    X = np.random.default_rng(0).uniform([0, 0], [100, 1], (200, 2))      # raw features
    expect = np.array(["a", "b", "c"])[net.forward((X - offset) * scale).argmax(1)]
    assert len(set(expect)) > 1 and not np.array_equal(expect, np.array(["a", "b", "c"])[net.forward(X).argmax(1)])
    clf = MIPNetClassifier.load(tmp_path / "m.json")
    assert np.array_equal(clf.predict(X), expect)
    assert np.array_equal(clf.decision_function(X), net.forward((X - offset) * scale))
    clf.save(tmp_path / "again.json")                      # the preprocessing survives a save
    assert np.array_equal(MIPNetClassifier.load(tmp_path / "again.json").predict(X), expect)
    net, offset, scale = _cli_model_file(tmp_path / "r.json", task="regression")
    reg = MIPNetRegressor.load(tmp_path / "r.json")
    assert np.array_equal(reg.predict(X), net.forward((X - offset) * scale)[:, 0])
    with pytest.raises(DataError, match="classifier"):
        MIPNetRegressor.load(tmp_path / "m.json")


def test_refit_after_load_drops_the_preprocessing(tmp_path, tiny_binary):
    _cli_model_file(tmp_path / "m.json")
    clf = MIPNetClassifier.load(tmp_path / "m.json").set_params(hidden=(1,), time_limit=20)
    X, y = tiny_binary
    clf.fit(X, y)
    assert clf.preprocessing_ is None
    assert np.array_equal(clf.decision_function(X), clf.network_.forward(X)[:, 0])


@pytest.mark.parametrize("X,y,match", [
    (np.array([[0.0, np.nan], [1.0, 2.0]]), [0, 1], "NaN"),
    (np.array([[0.0, np.inf], [1.0, 2.0]]), [0, 1], "infinite"),
    (np.zeros((3, 2)), [0, 1], "samples"),
    (np.zeros((3, 2)), [1, 1, 1], "one class"),
    (np.zeros((0, 2)), [], "0 sample"),
    (np.zeros((3, 0)), [0, 1, 0], "0 feature"),
    (np.zeros(4), [0, 1, 0, 1], "Expected 2D array"),
    (np.zeros((4, 2)), [0.5, 1.5, 2.25, 3.0], "continuous"),
    (np.zeros((4, 2)), np.zeros((4, 2)), "1d array"),
])
def test_bad_data(X, y, match):
    with pytest.raises(DataError, match=match):
        MIPNetClassifier().fit(X, y)


@pytest.mark.parametrize("kwargs,match", [
    ({"time_limit": -1}, "time_limit"),
    ({"l1": -0.1}, "l1"),
    ({"solver": "cplex"}, "unknown solver"),
    ({"loss": "absolute"}, "regression"),
    ({"weights": "quaternary"}, "weight domain"),
    ({"hidden": (0,)}, "hidden"),
    ({"bounds": "magic"}, "bounds"),
])
def test_bad_settings(kwargs, match, tiny_binary):
    X, y = tiny_binary
    with pytest.raises(SettingsError, match=match):
        MIPNetClassifier(**kwargs).fit(X, y)


def test_missing_solver(monkeypatch, tiny_binary):
    X, y = tiny_binary
    monkeypatch.setattr(BACKENDS["scip"], "available", classmethod(lambda cls: False))
    with pytest.raises(SolverUnavailableError, match="not installed"):
        MIPNetClassifier(solver="scip").fit(X, y)


def test_hard_limit_and_infeasible_report(monkeypatch, tiny_binary):
    X, y = tiny_binary
    clf = MIPNetClassifier(hidden=(1,), max_inputs=1, time_limit=20).fit(X, y)
    assert len(clf.network_.summary()["inputs_used"]) <= 1
    from mipnet.solvers import SolveResult, Status
    from mipnet.solvers.highs import HighsBackend

    monkeypatch.setattr(HighsBackend, "solve", lambda self, m, o, start=None: SolveResult(Status.INFEASIBLE))
    with pytest.raises(NoSolutionError, match="infeasible"):
        MIPNetClassifier(hidden=(1,), loss="zero_one").fit(X, y)
    with pytest.raises(SettingsError, match="max_inputs"):
        MIPNetClassifier(max_inputs=0).fit(X, y)


def test_time_limit_returns_best_network(small_breast_cancer):
    X, y = small_breast_cancer
    clf = MIPNetClassifier(hidden=(3,), l1=0.001, time_limit=1.0).fit(X[:60], y[:60])
    rep = clf.report_
    assert rep.status in ("time_limit", "optimal")
    if rep.status == "time_limit":
        assert not rep.proved_optimal and rep.gap > 0
    assert rep.certificate["ok"]
    assert clf.predict(X[:5]).shape == (5,)


def test_cnn_classifier_with_filter_pruning():
    from sklearn.datasets import load_digits

    from mipnet import Conv2D, Dense, Flatten, MaxPool2D

    X, y = load_digits(return_X_y=True)
    keep = np.isin(y, (0, 1))
    X, y = X[keep][:10] / 16.0, y[keep][:10]
    images = X.reshape(-1, 1, 8, 8)
    arch = [Conv2D(2, kernel=3, stride=2), MaxPool2D(3), Flatten(), Dense(1)]
    clf = MIPNetClassifier(architecture=arch, filter_penalty=0.01, l1=0.001, time_limit=30).fit(images, y)
    rep = clf.report_
    assert rep.certificate["ok"]
    assert rep.sparsity["active_filters"] is not None
    assert clf.predict(images).shape == (10,)
    text = MIPNetClassifier(architecture="conv(2,k=3,s=2)-maxpool(3)-flatten-dense(1)", time_limit=10)
    assert text.fit(images, y).network_.layers[0].kind == "conv2d"
