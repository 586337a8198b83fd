"""The command line end to end: train, info, predict, demo, errors without tracebacks."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import subprocess
import sys

import numpy as np
import pytest

from mipnet.cli import main


@pytest.fixture
def data_csv(tmp_path, small_breast_cancer):
    X, y = small_breast_cancer
    path = tmp_path / "data.csv"
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["f0", "f1", "f2", "f3", "f4", "diagnosis"])
        for x, t in zip(X[:16], y[:16]):
            w.writerow([*map(float, x), "benign" if t else "malignant"])
    return path


def test_train_info_predict(tmp_path, data_csv, capsys):
    model = tmp_path / "model.json"
    assert main(["train", str(data_csv), "--target", "diagnosis", "--hidden", "2", "--l1", "0.01",
                 "--time-limit", "60", "--out", str(model)]) == 0
    out = capsys.readouterr().out
    assert "status" in out and "certificate       OK" in out and "incumbent" in out
    doc = json.loads(model.read_text())
    assert doc["format"] == "mipnet-network" and doc["metadata"]["classes"] == ["benign", "malignant"]
    assert main(["info", str(model)]) == 0
    out = capsys.readouterr().out
    assert "nonzero weights" in out and "inputs used" in out
    # the gap is printed as train prints it (a percentage), never as a bare fraction like "gap 1.0"
    gap = doc["metadata"]["report"]["gap"]
    assert f"gap {100 * gap:.2f}%" in out
    assert main(["predict", str(model), str(data_csv)]) == 0
    preds = capsys.readouterr().out.split()
    assert preds[0] == "prediction" and len(preds) == 17 and set(preds[1:]) <= {"benign", "malignant"}


def test_regression_task(tmp_path, capsys):
    rng = np.random.default_rng(0)
    path = tmp_path / "reg.csv"
    X = rng.uniform(-1, 1, (10, 2))
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["a", "b", "t"])
        for x in X:
            w.writerow([x[0], x[1], abs(x[0]) + 0.123])
    model = tmp_path / "m.json"
    assert main(["train", str(path), "--target", "t", "--hidden", "2", "--time-limit", "30", "--quiet",
                 "--out", str(model)]) == 0
    assert "regression" in capsys.readouterr().out
    assert main(["predict", str(model), str(path)]) == 0
    assert capsys.readouterr().out.startswith("output_0")


def test_a_nan_feature_is_named_by_column_and_line(tmp_path, capsys):
    path = tmp_path / "d.csv"
    path.write_text("a,b,y\n1,2,0\n3,nan,1\n4,5,0\n")
    assert main(["train", str(path), "--target", "y", "--time-limit", "5", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "column 'b' line 3 is 'nan'" in err and err.count("\n") == 1


@pytest.mark.parametrize("argv,match", [
    (["train", "nope.csv", "--target", "y"], "cannot read"),
    (["info", "nope.json"], "cannot read"),
    (["train", "DATA", "--target", "missing"], "no column named"),
    (["train", "DATA", "--target", "diagnosis", "--time-limit", "-3"], "time_limit"),
    (["train", "DATA", "--target", "diagnosis", "--solver", "gurobix"], "unknown solver"),
])
def test_errors_are_one_line(argv, match, data_csv, capsys):
    argv = [str(data_csv) if a == "DATA" else a for a in argv]
    assert main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err
    assert match in err and "Traceback" not in err and err.count("\n") == 1
    assert "training" not in captured.out            # options are checked before the training header


def test_damaged_model_file(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "mipnet-network", "version": 1, "input_shape": [2], "layers": [{"kind": "dense"')
    assert main(["info", str(bad)]) == 2
    assert "damaged JSON" in capsys.readouterr().err


def test_console_script_demo_runs():
    res = subprocess.run([sys.executable, "-m", "mipnet.cli", "demo", "--n", "20", "--hidden", "1", "--quiet"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "held-out accuracy" in res.stdout and "certificate       OK" in res.stdout


def test_ctrl_c_keeps_the_best_network(tmp_path):
    """SIGINT during the solve stops it and still reports, certifies and saves the incumbent."""
    import os
    import signal

    model = tmp_path / "m.json"
    proc = subprocess.Popen([sys.executable, "-m", "mipnet.cli", "demo", "--n", "80", "--hidden", "4",
                             "--time-limit", "600", "--out", str(model)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if line.lstrip().startswith("*"):   # a progress line with a network found (a warm start at first)
            break
    proc.send_signal(signal.SIGINT)
    # HiGHS acts on the interrupt at its next check (measured 0.2-7 s after the signal on 2 busy cores)
    out, err = proc.communicate(timeout=300)
    out = "".join(seen) + out
    assert proc.returncode == 0, err
    assert "status            interrupted" in out or "status            optimal" in out
    assert "certificate       OK" in out
    assert json.loads(model.read_text())["format"] == "mipnet-network"


def test_train_cnn_from_csv(tmp_path, capsys):
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    keep = np.isin(y, (0, 1))
    X, y = X[keep][:8], y[keep][:8]
    path = tmp_path / "digits.csv"
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([f"p{k}" for k in range(64)] + ["digit"])
        for x, t in zip(X, y):
            w.writerow([*map(float, x), int(t)])
    model = tmp_path / "cnn.json"
    assert main(["train", str(path), "--target", "digit", "--arch", "conv(2,k=3,s=2)-maxpool(3)-flatten-dense(1)",
                 "--image-shape", "1,8,8", "--filter-penalty", "0.01", "--time-limit", "10", "--quiet",
                 "--out", str(model)]) == 0
    capsys.readouterr()
    assert main(["info", str(model)]) == 0
    assert "active filters" in capsys.readouterr().out
    assert main(["predict", str(model), str(path)]) == 0
    assert len(capsys.readouterr().out.split()) == 9


@pytest.fixture
def iris_csv(tmp_path):
    """Iris with its raw features (cm) and integer species, as a user would export it."""
    from sklearn.datasets import load_iris

    d = load_iris()
    path = tmp_path / "iris.csv"
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["sl", "sw", "pl", "pw", "species"])
        for x, t in zip(d.data[::5], d.target[::5]):       # 30 rows: a quick MIP
            w.writerow([*map(float, x), int(t)])
    return path, d.data[::5]


def test_cli_model_on_raw_features_predict_load_verify_agree(tmp_path, iris_csv, capsys):
    """Issue 10: the model's feature scaling is applied by predict, by MIPNetClassifier.load and by verify."""
    from mipnet import MIPNetClassifier

    path, X = iris_csv
    model = tmp_path / "m.json"
    assert main(["train", str(path), "--target", "species", "--hidden", "2", "--time-limit", "5", "--quiet",
                 "--out", str(model)]) == 0
    capsys.readouterr()
    assert main(["predict", str(model), str(path)]) == 0
    cli = [int(p) for p in capsys.readouterr().out.split()[1:]]
    assert len(cli) == len(X)
    clf = MIPNetClassifier.load(model)
    assert [int(p) for p in clf.predict(X)] == cli
    point = tmp_path / "point.csv"
    point.write_text("5.1,3.5,1.4,0.2\n")
    assert main(["verify", str(model), "--robust-at", str(point), "--eps", "0", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["label"] == cli[0]
    assert out["class"] == cli[0] and out["space"] == "raw feature space"
    assert out["status"] in ("holds", "violated")        # eps 0: the point's own margin (a tie is violated)
    assert main(["verify", str(model), "--robust-at", str(point), "--eps", "0"]) == 0
    text = capsys.readouterr().out
    assert f"label {cli[0]}" in text and "space: raw feature space" in text


def test_info_shows_preprocessing_and_features(tmp_path, data_csv, capsys):
    model = tmp_path / "m.json"
    assert main(["train", str(data_csv), "--target", "diagnosis", "--hidden", "1", "--time-limit", "10", "--quiet",
                 "--scale", "standard", "--out", str(model)]) == 0
    assert "standard feature scaling" in capsys.readouterr().out
    assert main(["info", str(model)]) == 0
    out = capsys.readouterr().out
    assert "preprocessing: standard scaling" in out and "features (5): f0, f1, f2, f3, f4" in out
    assert "f0: (x - " in out and "classes benign, malignant" in out
    assert main(["info", str(model), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["model"]["preprocessing"]["kind"] == "standard" and doc["model"]["features"][0] == "f0"
    assert doc["model"]["space"] == "raw feature space"
    assert doc["report"]["status"] in ("optimal", "time_limit") and "objective" in doc["report"]


@pytest.mark.parametrize("where,match", [("missing_dir/m.json", "does not exist"), (".", "is a directory")])
def test_unwritable_out_is_refused_before_training(tmp_path, data_csv, capsys, where, match):
    out = tmp_path / where
    assert main(["train", str(data_csv), "--target", "diagnosis", "--time-limit", "60", "--out", str(out)]) == 2
    cap = capsys.readouterr()
    assert match in cap.err and cap.err.count("\n") == 1 and "Traceback" not in cap.err
    assert "training" not in cap.out                    # refused before any training


def test_node_limit_trains_the_same_network_twice(tmp_path, data_csv, capsys):
    models = [tmp_path / "a.json", tmp_path / "b.json"]
    for model in models:
        assert main(["train", str(data_csv), "--target", "diagnosis", "--hidden", "2", "--node-limit", "1",
                     "--quiet", "--out", str(model)]) == 0
        out = capsys.readouterr().out
        assert "status            node_limit" in out and "node limit reached: the best network found" in out
    a, b = (json.loads(m.read_text()) for m in models)
    assert a["layers"] == b["layers"]
    assert main(["train", str(data_csv), "--target", "diagnosis", "--node-limit", "0"]) == 2
    assert "node_limit must be a positive whole number" in capsys.readouterr().err


def test_train_without_out_says_the_model_is_not_saved(data_csv, capsys):
    assert main(["train", str(data_csv), "--target", "diagnosis", "--hidden", "1", "--time-limit", "10",
                 "--quiet"]) == 0
    assert "model not saved" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------ task and loss
def _labels_csv(tmp_path, labels, name="labels.csv"):
    rng = np.random.default_rng(1)
    path = tmp_path / name
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["a", "b", "y"])
        for t in labels:
            w.writerow([*rng.uniform(-1, 1, 2), t])
    return path


@pytest.mark.parametrize("labels,argv,match", [
    ([0, 1] * 5, ["--loss", "squared"], "regression loss, but the target column 'y' holds class labels"),
    ([0, 1] * 5, ["--loss", "absolute"], "--task regression to fit the labels as numbers"),
    (["no", "yes"] * 5, ["--loss", "max"], "holds class labels (2 distinct labels that are not all numbers)"),
    ([0.25 * k + 0.01 for k in range(10)], ["--loss", "hinge"], "classification loss, but the target column"),
    ([0, 1] * 5, ["--loss", "hinge", "--task", "regression"], "--loss hinge is a classification loss, but --task"),
])
def test_a_loss_never_changes_the_task_silently(tmp_path, capsys, labels, argv, match):
    path = _labels_csv(tmp_path, labels)
    assert main(["train", str(path), "--target", "y", "--hidden", "1", "--time-limit", "10", "--quiet", *argv]) == 2
    cap = capsys.readouterr()
    assert match in cap.err and cap.err.count("\n") == 1
    assert "training" not in cap.out                          # refused before any training


def test_train_says_how_the_task_was_chosen_and_prints_the_training_fit(tmp_path, capsys):
    from mipnet.model import Model

    path = _labels_csv(tmp_path, [0, 1, 1, 0, 1, 0, 0, 1])
    model = tmp_path / "c.json"
    assert main(["train", str(path), "--target", "y", "--hidden", "1", "--time-limit", "20", "--quiet",
                 "--out", str(model)]) == 0
    out = capsys.readouterr().out
    assert "task classification (guessed from the target column 'y': 2 distinct whole numbers" in out
    m = Model.load(model)
    X = np.loadtxt(path, delimiter=",", skiprows=1)
    right = int(np.sum(m.predict(X[:, :2]) == X[:, 2].astype(int)))
    assert f"training accuracy {right / 8:.4f} ({right} of 8 samples)" in out
    assert m.features == ["a", "b"]

    path = _labels_csv(tmp_path, [0, 1, 1, 0, 1, 0, 0, 1], "r.csv")
    model = tmp_path / "r.json"
    assert main(["train", str(path), "--target", "y", "--task", "regression", "--loss", "absolute", "--hidden", "1",
                 "--time-limit", "20", "--quiet", "--out", str(model)]) == 0
    out = capsys.readouterr().out
    assert "task regression (given by --task)" in out
    X = np.loadtxt(path, delimiter=",", skiprows=1)
    err = np.abs(Model.load(model).predict(X[:, :2])[:, 0] - X[:, 2])
    assert f"training error: mean absolute {err.mean():.6g}, max {err.max():.6g}" in out


def test_report_of_train_names_the_inputs_used(data_csv, capsys):
    assert main(["train", str(data_csv), "--target", "diagnosis", "--hidden", "1", "--max-inputs", "2",
                 "--time-limit", "20", "--quiet"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("sparsity"))
    assert re.search(r"inputs used [12] \(f\d(, f\d)?\)$", line), line   # the CSV's column names, not x0 ...


def test_every_train_option_has_help_with_its_default(capsys):
    from mipnet.cli import build_parser

    parser = build_parser()
    train = parser._subparsers._group_actions[0].choices["train"]
    formatter = train._get_formatter()
    for action in train._actions:
        if action.dest == "help":
            continue
        assert action.help, f"{action.option_strings or action.dest} has no help text"
        if action.option_strings and not action.required:
            text = formatter._expand_help(action)
            assert "default" in text, f"{action.option_strings} does not say its default: {text!r}"
    with pytest.raises(SystemExit) as exc:
        main(["train", "--help"])
    assert exc.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "highs (embedded) | scip" in text and "| gurobi" in text and "(default: highs)" in text
    assert "--time-limit TIME_LIMIT seconds (none: no limit)" in text and "(default: none)" in text


def test_train_with_a_monotone_constraint_proves_it(tmp_path) -> None:
    """``mipnet train --monotone x0:+`` trains with the constraint and reports it proved."""
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (10, 2))
    y = np.abs(X[:, 0]) - 0.5 * X[:, 1]
    path = tmp_path / "d.csv"
    path.write_text("x0,x1,y\n" + "\n".join(f"{a},{b},{c}" for (a, b), c in zip(X, y)))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(["train", str(path), "--target", "y", "--task", "regression", "--loss", "absolute",
                   "--hidden", "2", "--weights", "continuous,ternary", "--l1", "0.01", "--monotone", "x0:+",
                   "--time-limit", "60", "--quiet"])
    assert rc == 0
    text = out.getvalue()
    assert "holds" in text and "Monotone(feature=0" in text
    rc = main(["train", str(path), "--target", "y", "--monotone", "nope:+", "--quiet"])
    assert rc == 2


# ------------------------------------------------------------------------------------- progress and lost work
def test_ctrl_c_while_the_mip_is_built_saves_the_best_network(tmp_path, data_csv, capsys, monkeypatch):
    """Ctrl-C during the model build (was: "interrupted (no model saved)", exit 130, the warm start lost)."""
    from mipnet.train.sign_patterns import decompose

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(decompose, "SignPatternFormulation", interrupted)
    model = tmp_path / "model.json"
    assert main(["train", str(data_csv), "--target", "diagnosis", "--hidden", "2", "--out", str(model)]) == 0
    out = capsys.readouterr().out
    assert "status            interrupted" in out and "interrupted: the best network found so far is kept" in out
    assert f"saved {model}" in out and "best network found so far)" in out
    assert "-inf" not in out and "gap inf" not in out
    assert json.loads(model.read_text())["format"] == "mipnet-network"
    assert main(["predict", str(model), str(data_csv)]) == 0


def test_train_progress_from_launch_and_quiet(data_csv, capsys):
    """Plain progress lines (stdout is not a terminal here): a start line before the estimator is loaded, then from
    the warm start on, per sign pattern; --quiet none; the header says 'no time limit' (was: 'time limit nones')."""
    assert main(["train", str(data_csv), "--target", "diagnosis", "--hidden", "2", "--l1", "0.01"]) == 0
    out = capsys.readouterr().out
    assert "no time limit" in out and "nones" not in out
    progress = [line for line in out.splitlines() if re.match(r"\s+\*?\s+\d+\.\ds  ", line)]
    assert progress and "start" in progress[0] and "loading the estimator" in progress[0]
    assert "warm start k=0" in progress[1]
    assert any("cut loop k=" in line for line in progress) and "done" in progress[-1]
    assert main(["train", str(data_csv), "--target", "diagnosis", "--hidden", "2", "--l1", "0.01", "--quiet",
                 "--time-limit", "60"]) == 0
    out = capsys.readouterr().out
    assert "time limit 60 s" in out
    assert not any(re.match(r"\s+\*?\s+\d+\.\ds  ", line) for line in out.splitlines())


@pytest.mark.parametrize("primal, runs", [("lns", True), ("none", False)])
def test_train_primal_option_switches_the_search(tmp_path, data_csv, capsys, primal, runs):
    model = tmp_path / "model.json"
    assert main(["train", str(data_csv), "--target", "diagnosis", "--hidden", "2", "--l1", "0.01",
                 "--primal", primal, "--time-limit", "20", "--quiet", "--out", str(model)]) == 0
    capsys.readouterr()
    report = json.loads(model.read_text())["metadata"]["report"]
    assert ("primal search" in report.get("extra", {})) == runs


def test_verify_robustness_of_a_binary_model_in_raw_space(tmp_path, data_csv, capsys):
    """A one-output (binary) model trained on raw features: a violated ball is re-checked in raw space with
    predict's rule (it raised IndexError when the raw re-check assumed one output per class)."""
    model = tmp_path / "m.json"
    assert main(["train", str(data_csv), "--target", "diagnosis", "--hidden", "2", "--time-limit", "20", "--quiet",
                 "--out", str(model)]) == 0
    capsys.readouterr()
    rows = list(csv.reader(open(data_csv)))
    point = tmp_path / "point.csv"
    point.write_text(",".join(rows[1][:-1]) + "\n")
    # a ball as wide as the data: both classes are in it, so it is violated with a raw counterexample
    eps = max(float(v) for r in rows[1:] for v in r[:-1])
    assert main(["verify", str(model), "--robust-at", str(point), "--eps", str(eps), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "violated" and out["space"] == "raw feature space"
    # the raw counterexample is predicted as the other class by the saved model, as `mipnet predict` reads it
    cex = tmp_path / "cex.csv"
    cex.write_text(",".join(rows[0][:-1]) + "\n" + ",".join(map(repr, out["counterexample"])) + "\n")
    assert main(["predict", str(model), str(cex)]) == 0
    predicted = capsys.readouterr().out.split()[1]
    centre = tmp_path / "centre.csv"
    centre.write_text(",".join(rows[0][:-1]) + "\n" + ",".join(rows[1][:-1]) + "\n")
    assert main(["predict", str(model), str(centre)]) == 0
    assert capsys.readouterr().out.split()[1] != predicted
