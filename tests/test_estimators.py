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
    ({"node_limit": 0}, "node_limit"),
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


def test_node_limit_is_a_fixed_amount_of_work(small_breast_cancer):
    """A node limit without a time limit: the same network from two fits, reported as stopped by the limit (not
    optimal), the bound below the objective; for the decomposition by sign patterns (the classifier) and the full
    MIP (the regressor)."""
    X, y = small_breast_cancer
    X = X[:60, :5]
    for make, target in ((lambda: MIPNetClassifier(hidden=(2,), node_limit=1), y[:60]),
                         (lambda: MIPNetRegressor(hidden=(2,), loss="absolute", node_limit=3), 2.0 * X[:, 0])):
        first, second = make().fit(X, target), make().fit(X, target)
        rep = first.report_
        assert rep.status == "node_limit" and not rep.proved_optimal
        assert rep.bound <= rep.objective and rep.certificate["ok"]
        assert second.report_.objective == rep.objective
        np.testing.assert_array_equal(first.predict(X), second.predict(X))
        for a, b in zip(first.network_.affine_layers(), second.network_.affine_layers()):
            np.testing.assert_array_equal(a.weight, b.weight)


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


# ------------------------------------------------------------------------------------------- tied scores
def _saved_classifier(path, net, classes):
    from mipnet import save_network

    save_network(net, path, {"estimator": "MIPNetClassifier", "task": "classification", "classes": classes})
    return MIPNetClassifier.load(path)


def test_tied_scores_do_not_depend_on_the_batch(tmp_path):
    """A network as the MIP leaves it (found by scikit-learn's check_methods_subset_invariance): sample 6 lies on
    the kink of unit 1 and classes 0 and 1 have the same bias, so their scores tie; the batch and the single-row
    forward pass differ by about 2e-16 there, which decided the class before."""
    from mipnet import Dense, Network

    w1 = np.array([[-0.7490113561863371, 0.1018901722756676, -0.10007489280378698],
                   [-0.43614521980218907, 0.8103925245382376, -0.03303500382590687]])
    net = Network([Dense(2, weight=w1, bias=np.array([1.0, -1.0])),
                   Dense(3, weight=np.array([[1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]]),
                         bias=np.array([-0.9999999999999998, -0.9999999999999998, -1.0]))], 3)
    X = 3 * np.random.RandomState(0).uniform(size=(20, 3))
    clf = _saved_classifier(tmp_path / "tie.json", net, [0, 1, 2])
    batch = clf.predict(X)
    rows = np.array([clf.predict(X[i:i + 1])[0] for i in range(len(X))])
    assert np.array_equal(batch, rows)
    assert batch[6] == 0                                       # the tie goes to the first class
    dec = clf.decision_function(X)
    assert np.array_equal(dec.argmax(1), batch)               # scikit-learn: argmax(decision) == predict
    assert np.max(np.abs(dec - net.forward(X))) <= 1e-8       # only ties are snapped
    from mipnet.model import Model

    model = Model.load(tmp_path / "tie.json")                  # mipnet predict's path: the same rule
    assert np.array_equal(model.predict(X).astype(int), batch)
    assert [int(model.predict(X[i])[0]) for i in range(len(X))] == list(rows)


@pytest.mark.parametrize("bias,expect", [([0.5, 0.5 + 1e-15, 0.0], "a"), ([0.5, 0.5 + 1e-6, 0.0], "b")])
def test_ties_go_to_the_first_class(tmp_path, bias, expect):
    from mipnet import Dense, Network

    net = Network([Dense(3, weight=np.zeros((3, 2)), bias=np.array(bias))], 2)
    clf = _saved_classifier(tmp_path / "m.json", net, ["a", "b", "c"])
    assert list(clf.predict(np.zeros((2, 2)))) == [expect, expect]
    binary = Network([Dense(1, weight=np.zeros((1, 2)), bias=np.array([bias[1] - bias[0]]))], 2)
    two = _saved_classifier(tmp_path / "b.json", binary, ["a", "b"])
    assert list(two.predict(np.zeros((1, 2)))) == [expect]
    assert two.decision_function(np.zeros((1, 2)))[0] == (0.0 if expect == "a" else pytest.approx(1e-6))


# ---------------------------------------------------------------------------------- two classes, two outputs
def _check_two_output_head(clf, X, y_enc):
    o = clf.network_.forward(X).reshape(len(X), -1)
    assert o.shape == (len(X), 2)
    dec = clf.decision_function(X)
    assert dec.shape == (len(X),)
    assert np.allclose(dec, o[:, 1] - o[:, 0], atol=1e-8)
    assert np.array_equal(clf.predict(X), clf.classes_[o.argmax(1)])
    assert np.array_equal(clf.predict(X), clf.classes_[(dec > 0).astype(int)])
    rep = clf.report_
    assert rep.status == "optimal" and rep.proved_optimal and rep.certificate["ok"]
    assert "decomposition" not in rep.extra                  # the one-output sign decomposition does not apply
    rows = np.arange(len(X))
    hinge = np.maximum(0.0, 1.0 + o[rows, 1 - y_enc] - o[rows, y_enc])   # the multiclass hinge with K = 2
    assert rep.objective_terms["loss"] == pytest.approx(hinge.mean(), abs=1e-9)
    assert rep.objective == pytest.approx(rep.objective_terms["total"], abs=1e-6)


def test_two_class_dense_head_with_two_outputs(tmp_path, tiny_binary):
    from mipnet import Dense

    X, y = tiny_binary
    labels = np.where(y == 1, "yes", "no")
    clf = MIPNetClassifier(architecture=[Dense(2), Dense(2)], l1=0.01, time_limit=60).fit(X, labels)
    _check_two_output_head(clf, X, (labels == clf.classes_[1]).astype(int))
    assert clf.report_.weights == ["continuous", "ternary"]
    clf.save(tmp_path / "m.json")
    back = MIPNetClassifier.load(tmp_path / "m.json")
    assert np.array_equal(back.predict(X), clf.predict(X))
    assert np.array_equal(back.decision_function(X), clf.decision_function(X))
    text = MIPNetClassifier(architecture="dense(2)-dense(2)", l1=0.01, time_limit=60).fit(X, labels)
    assert text.network_.n_outputs == 2 and text.report_.status == "optimal"


def test_two_class_cnn_head_with_two_outputs():
    from mipnet import Conv2D, Dense, Flatten

    rng = np.random.default_rng(0)
    y = np.arange(6) % 2
    images = rng.uniform(0, 0.3, (6, 1, 4, 4))
    images[y == 1, 0, :, :2] += 0.7                          # class 1 bright on the left, class 0 on the right
    images[y == 0, 0, :, 2:] += 0.7
    clf = MIPNetClassifier(architecture=[Conv2D(1, kernel=2, stride=2), Flatten(), Dense(2)],
                           weights=["continuous", "ternary"], l1=0.01, time_limit=60).fit(images, y)
    _check_two_output_head(clf, images, y)
    assert clf.score(images, y) == 1.0


@pytest.mark.parametrize("head,n_classes,match", [(3, 2, "needs 1 or 2"), (2, 3, "needs 3"), (1, 3, "needs 3")])
def test_head_width_must_fit_the_classes(head, n_classes, match):
    from mipnet import Dense

    X = np.random.default_rng(0).uniform(-1, 1, (6, 2))
    y = np.arange(6) % n_classes
    with pytest.raises(SettingsError, match=match):
        MIPNetClassifier(architecture=[Dense(2), Dense(head)], time_limit=5).fit(X, y)


# ------------------------------------------------------------------------------------- pandas, feature names
def test_dataframe_feature_names(tmp_path, small_breast_cancer, capsys):
    pd = pytest.importorskip("pandas")
    from mipnet.cli import main
    from mipnet.model import Model

    X, y = small_breast_cancer
    names = ["radius", "texture", "perimeter", "area", "smoothness"]
    df = pd.DataFrame(X[:20], columns=names)
    clf = MIPNetClassifier(hidden=(1,), l1=0.05, input_penalty=0.05, time_limit=60).fit(df, y[:20])
    assert isinstance(clf.feature_names_in_, np.ndarray) and list(clf.feature_names_in_) == names
    assert clf.n_features_in_ == 5
    used = clf.report_.sparsity["inputs_used"]
    assert 0 < len(used) < 5                                    # the penalty drops some inputs
    assert clf.report_.inputs_used_names() == [names[k] for k in used]
    assert f"inputs used {len(used)} ({', '.join(names[k] for k in used)})" in str(clf.report_)
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        assert np.array_equal(clf.predict(df), clf.predict(X[:20]))     # an array still works, with a warning
    with pytest.raises(DataError, match="feature names"):
        clf.predict(df[names[::-1]])                           # columns in another order: refused
    path = tmp_path / "m.json"
    clf.save(path)
    assert Model.load(path).features == names
    assert MIPNetClassifier.load(path).feature_names_in_.tolist() == names
    assert main(["info", str(path)]) == 0
    assert f"features (5): {', '.join(names)}" in capsys.readouterr().out
    clf.fit(X[:20], y[:20])                                     # refit on an array: no names any more
    assert not hasattr(clf, "feature_names_in_") and clf.to_model().features is None
    reg = MIPNetRegressor(hidden=(1,), time_limit=20).fit(df, X[:20, 0])
    assert list(reg.feature_names_in_) == names and reg.to_model().features == names


def test_report_names_inputs_without_feature_names(tiny_binary):
    X, y = tiny_binary
    clf = MIPNetClassifier(hidden=(1,), max_inputs=1, time_limit=20).fit(X, y)
    used = clf.report_.sparsity["inputs_used"]
    assert clf.report_.feature_names is None
    assert clf.report_.inputs_used_names() == [f"x{k}" for k in used]
