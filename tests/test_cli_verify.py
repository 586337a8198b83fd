import inspect
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mipnet.cli import main

SRC = Path(__file__).resolve().parents[1] / "src"


def test_property_answers_and_exit_codes(onnx_query, capsys):
    d, _, _ = onnx_query
    assert main(["verify", str(d / "net.onnx"), str(d / "holds.vnnlib"), "--time-limit", "30"]) == 0
    header, verdict = capsys.readouterr().out.splitlines()[:2]
    assert header.startswith("verifying") and "time limit 30 s" in header and verdict.startswith("holds")
    for method in ("auto", "mip", "split"):
        assert main(["verify", str(d / "net.onnx"), str(d / "violated.vnnlib"), "--json", "--method", method]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["status"] == "violated" and len(out["counterexample"]) == 3


def test_robustness_and_bounds(onnx_query, capsys):
    d, net, x0 = onnx_query
    assert main(["verify", str(d / "net.onnx"), "--robust-at", str(d / "point.csv"), "--eps", "0.01", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "holds" and out["label"] == int(np.argmax(net.forward(x0[None])[0]))
    assert out["bounds_method"] == "lp"                        # 12 ReLUs: auto solves the exact MIPs
    assert main(["verify", str(d / "net.onnx"), "--robust-at", str(d / "point.csv"), "--eps", "0.01", "--json",
                 "--method", "bab"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "holds" and out["bounds_method"] == "alpha-crown+bab"
    assert main(["verify", str(d / "net.onnx"), "--bounds=-1,1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    Y = net.forward(np.random.default_rng(0).uniform(-1, 1, size=(5000, 3)))
    assert np.all(Y >= np.array(out["lower"])) and np.all(Y <= np.array(out["upper"]))


def test_errors_are_one_line_without_traceback(onnx_query, tmp_path):
    d, _, _ = onnx_query
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"garbage")
    env = {"PYTHONPATH": str(SRC)}
    for args in ([str(bad), str(d / "holds.vnnlib")], [str(d / "missing.onnx"), str(d / "holds.vnnlib")],
                 [str(tmp_path / "net.txt"), str(d / "holds.vnnlib")], [str(d / "net.onnx")]):
        if args[0].endswith(".txt"):
            Path(args[0]).write_text("x")
        p = subprocess.run([sys.executable, "-m", "mipnet.cli", "verify", *args], capture_output=True, text=True,
                           env=env, timeout=120)
        assert p.returncode != 0
        assert "Traceback" not in p.stderr
        assert len(p.stderr.strip().splitlines()) == 1 and "error" in p.stderr


def test_unsupported_node_message(tmp_path, onnx_query):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    d, _, _ = onnx_query
    g = helper.make_graph([helper.make_node("Sigmoid", ["x"], ["y"], name="sig")], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])])
    onnx.save(helper.make_model(g), str(tmp_path / "sig.onnx"))
    p = subprocess.run([sys.executable, "-m", "mipnet.cli", "verify", str(tmp_path / "sig.onnx"),
                        str(d / "holds.vnnlib")], capture_output=True, text=True, env={"PYTHONPATH": str(SRC)},
                       timeout=120)
    assert p.returncode == 2 and "sig" in p.stderr and "Sigmoid" in p.stderr


@pytest.fixture
def scaled_model(tmp_path):
    """A model file as ``mipnet train`` writes it: raw feature 0 in [0, 100] and feature 1 in [0, 1], minmax
    scaled to [-1, 1]; outputs ``o0 = s0 + s1`` and ``o1 = 0`` of the scaled inputs ``s`` (class "high" when
    ``s0 + s1 > 0``)."""
    from mipnet import Dense, Network, save_network

    net = Network([Dense(2, weight=np.array([[1.0, 1.0], [-1.0, -1.0]]), bias=np.zeros(2)),
                   Dense(2, weight=np.array([[1.0, -1.0], [0.0, 0.0]]), bias=np.zeros(2))], 2)
    meta = {"task": "classification", "classes": ["high", "low"], "features": ["big", "small"], "target": "t",
            "preprocessing": {"kind": "minmax", "offset": [50.0, 0.5], "scale": [0.02, 2.0]}}
    save_network(net, tmp_path / "m.json", meta)
    (tmp_path / "x.csv").write_text("30,0.5\n")
    (tmp_path / "named.csv").write_text("small,big\n0.5,30\n")
    return tmp_path / "m.json", tmp_path


def test_robust_at_works_in_raw_feature_space(scaled_model, capsys):
    """At raw (30, 0.5) the model predicts "low" (index 1); the worst margin in the raw ball is 0.4 - 2.02 eps."""
    model, d = scaled_model
    assert main(["predict", str(model), str(d / "named.csv")]) == 0
    assert capsys.readouterr().out.split() == ["prediction", "low"]
    for point in ("x.csv", "named.csv"):
        assert main(["verify", str(model), "--robust-at", str(d / point), "--eps", "0.15", "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["status"] == "holds" and out["label"] == 1 and out["class"] == "low"
        assert out["space"] == "raw feature space" and out["eps"] == 0.15
        assert out["margin_bound"] == pytest.approx(0.4 - 2.02 * 0.15, abs=1e-6)
    assert main(["verify", str(model), "--robust-at", str(d / "x.csv"), "--eps", "0.25"]) == 0
    lines = capsys.readouterr().out.splitlines()[1:]   # after the header
    assert lines[0].startswith("violated") and "label 1 (class low)" in lines[0]
    assert lines[1].startswith("space: raw feature space")
    cex = np.array([float(v) for v in lines[2].split(":")[1].split(",")])
    assert np.all(np.abs(cex - [30.0, 0.5]) <= 0.25 + 1e-8)
    assert (cex[0] - 50) * 0.02 + (cex[1] - 0.5) * 2 >= 0       # class "high" there, through the scaling
    # --space scaled: the same numbers are network inputs (30 + 0.5 > 0: label 0)
    assert main(["verify", str(model), "--robust-at", str(d / "x.csv"), "--eps", "0.15", "--space", "scaled",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["label"] == 0 and out["space"] == "scaled feature space"


@pytest.mark.parametrize("text,n", [("30,0.5,7\n", 3), ("30\n", 1)])
def test_a_point_of_the_wrong_length_names_both_lengths(scaled_model, capsys, text, n):
    model, d = scaled_model
    (d / "bad.csv").write_text(text)
    assert main(["verify", str(model), "--robust-at", str(d / "bad.csv"), "--eps", "0.1"]) == 2
    err = capsys.readouterr().err
    assert f"has {n} value" in err and "the model takes 2 features" in err and err.count("\n") == 1


def test_bounds_and_monotone_boxes_in_raw_feature_space(scaled_model, capsys, tmp_path):
    model, d = scaled_model
    (tmp_path / "lo.csv").write_text("0,0")
    (tmp_path / "hi.csv").write_text("100,1")
    assert main(["verify", str(model), f"--bounds={tmp_path / 'lo.csv'},{tmp_path / 'hi.csv'}", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["space"] == "raw feature space"
    assert out["lower"][0] == pytest.approx(-2, abs=1e-4) and out["upper"][0] == pytest.approx(2, abs=1e-4)
    assert main(["verify", str(model), "--bounds=50,75"]) == 0        # [50, 75] in both raw features
    text = capsys.readouterr().out
    assert "space: raw feature space" in text and "y0: [99, 149.5]" in text   # not [100, 150]
    assert main(["verify", str(model), "--monotone", "0", "--box", "20,40", "--decreasing", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "violated" and out["space"] == "raw feature space"
    a, b = np.array(out["counterexample"]), np.array(out["counterexample_pair"])
    assert np.all((a >= 20) & (a <= 40) & (b >= 20) & (b <= 40)) and a[1] == b[1] and b[0] >= a[0]


def test_network_files_say_network_input_space(onnx_query, capsys):
    d, _, _ = onnx_query
    assert main(["verify", str(d / "net.onnx"), "--robust-at", str(d / "point.csv"), "--eps", "0.01"]) == 0
    assert "space: network input space" in capsys.readouterr().out
    assert main(["verify", str(d / "net.onnx"), "--bounds=-1,1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["space"] == "network input space"


def test_property_with_combined_inputs_in_raw_or_scaled_space(scaled_model, capsys):
    model, d = scaled_model
    head = "(declare-const X_0 Real)(declare-const X_1 Real)(declare-const Y_0 Real)(declare-const Y_1 Real)\n"
    box = "(assert (>= X_0 20))(assert (<= X_0 40))(assert (>= X_1 0))(assert (<= X_1 1))\n"
    (d / "box.vnnlib").write_text(head + box + "(assert (>= Y_0 0.5))\n")
    (d / "mixed.vnnlib").write_text(head + box + "(assert (<= (+ X_0 X_1) 30))(assert (>= Y_0 0.5))\n")
    assert main(["verify", str(model), str(d / "box.vnnlib"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "violated" and out["space"] == "raw feature space"
    assert 20 <= out["counterexample"][0] <= 40
    assert main(["verify", str(model), str(d / "mixed.vnnlib"), "--json"]) == 0    # rows mapped, not refused
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "violated" and out["space"] == "raw feature space"
    assert out["counterexample"][0] + out["counterexample"][1] <= 30
    assert main(["verify", str(model), str(d / "mixed.vnnlib"), "--space", "scaled"]) == 0
    assert "scaled feature space" in capsys.readouterr().out


def test_verify_and_help_start_without_scikit_learn_or_unused_solvers():
    """``import mipnet`` and the verify command import neither scikit-learn nor SCIP nor rich, nor (for
    ``mipnet.cli_verify``) SciPy's optimizers; the estimators stay reachable as ``mipnet.MIPNetClassifier``."""
    heavy = "('sklearn', 'pyscipopt', 'rich', 'scipy.optimize', 'torch', 'onnx')"
    code = ("import sys, mipnet, mipnet.cli_verify\n"
            f"print(sorted(m for m in {heavy} if m in sys.modules))\n"
            "import mipnet.cli\n"
            "mipnet.cli.build_parser()\n"
            "print(sorted(m for m in ('sklearn', 'pyscipopt', 'rich') if m in sys.modules))\n"
            "from mipnet import MIPNetClassifier, verify\n"
            "print(MIPNetClassifier.__module__, verify.__name__, 'sklearn' in sys.modules)\n"
            "print(mipnet.__file__)\n")
    src = Path(__file__).resolve().parents[1] / "src"      # this checkout, not an installed mipnet
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin"}).stdout.splitlines()
    assert out.pop() == str(src / "mipnet" / "__init__.py")
    assert out == ["[]", "[]", "mipnet.estimators mipnet.verify True"]


def test_default_time_limit_is_the_python_apis_and_the_header_says_it(onnx_query, capsys):
    """Without --time-limit the query runs under verify.queries.DEFAULT_TIME_LIMIT (300 s), as in the Python API, and
    the header and the JSON say so; 'none' lifts it."""
    from mipnet.verify.queries import DEFAULT_TIME_LIMIT

    d, _, _ = onnx_query
    assert DEFAULT_TIME_LIMIT == 300.0
    assert main(["verify", str(d / "net.onnx"), str(d / "holds.vnnlib")]) == 0
    out = capsys.readouterr().out
    assert "time limit 300 s" in out.splitlines()[0] and "nones" not in out
    assert main(["verify", str(d / "net.onnx"), str(d / "holds.vnnlib"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["time_limit"] == DEFAULT_TIME_LIMIT
    assert main(["verify", str(d / "net.onnx"), str(d / "holds.vnnlib"), "--time-limit", "none"]) == 0
    assert "no time limit" in capsys.readouterr().out.splitlines()[0]
    # the Python queries stop by themselves too (they ran without end when no time_limit was given)
    from mipnet import verify

    for query in (verify.check_property, verify.output_bounds, verify.robustness, verify.monotonicity):
        assert inspect.signature(query).parameters["time_limit"].default == DEFAULT_TIME_LIMIT, query.__name__
