import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mipnet.cli import main
from mipnet.io import to_onnx

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture
def files(tmp_path, dense_net):
    pytest.importorskip("onnx")
    net = dense_net([3, 6, 6, 2], seed=3)
    to_onnx(net, tmp_path / "net.onnx")
    head = "".join(f"(declare-const X_{i} Real)\n" for i in range(3))
    head += "(declare-const Y_0 Real)(declare-const Y_1 Real)\n"
    box = "(assert (and (>= X_0 -1) (<= X_0 1) (>= X_1 -1) (<= X_1 1) (>= X_2 -1) (<= X_2 1)))\n"
    (tmp_path / "holds.vnnlib").write_text(head + box + "(assert (>= Y_0 1000))\n")
    (tmp_path / "violated.vnnlib").write_text(head + box + "(assert (>= Y_0 -1000))\n")
    x0 = np.array([0.1, -0.2, 0.3])
    (tmp_path / "point.csv").write_text(",".join(map(str, x0)))
    return tmp_path, net, x0


def test_property_answers_and_exit_codes(files, capsys):
    d, _, _ = files
    assert main(["verify", str(d / "net.onnx"), str(d / "holds.vnnlib"), "--time-limit", "30"]) == 0
    assert capsys.readouterr().out.startswith("holds")
    for method in ("auto", "mip", "split"):
        assert main(["verify", str(d / "net.onnx"), str(d / "violated.vnnlib"), "--json", "--method", method]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["status"] == "violated" and len(out["counterexample"]) == 3


def test_robustness_and_bounds(files, capsys):
    d, net, x0 = files
    assert main(["verify", str(d / "net.onnx"), "--robust-at", str(d / "point.csv"), "--eps", "0.01", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "holds" and out["label"] == int(np.argmax(net.forward(x0[None])[0]))
    assert main(["verify", str(d / "net.onnx"), "--bounds=-1,1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    Y = net.forward(np.random.default_rng(0).uniform(-1, 1, size=(5000, 3)))
    assert np.all(Y >= np.array(out["lower"])) and np.all(Y <= np.array(out["upper"]))


def test_errors_are_one_line_without_traceback(files, tmp_path):
    d, _, _ = files
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


def test_unsupported_node_message(tmp_path, files):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    d, _, _ = files
    g = helper.make_graph([helper.make_node("Sigmoid", ["x"], ["y"], name="sig")], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])])
    onnx.save(helper.make_model(g), str(tmp_path / "sig.onnx"))
    p = subprocess.run([sys.executable, "-m", "mipnet.cli", "verify", str(tmp_path / "sig.onnx"),
                        str(d / "holds.vnnlib")], capture_output=True, text=True, env={"PYTHONPATH": str(SRC)},
                       timeout=120)
    assert p.returncode == 2 and "sig" in p.stderr and "Sigmoid" in p.stderr
