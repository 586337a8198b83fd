"""The ``mipnet repair`` command: formats in and out, what it prints, exit codes and one-line errors."""

import json

import numpy as np
import pytest

from mipnet import Dense, Network, cli_repair
from mipnet.cli import main
from mipnet.io import load_json, load_nnet, load_onnx, save_json, save_nnet, to_onnx
from mipnet.verify import check_property

PROP = ("(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const Y_0 Real)\n(declare-const Y_1 Real)\n"
        "(assert (>= X_0 0))\n(assert (<= X_0 1))\n(assert (>= X_1 0))\n(assert (<= X_1 1))\n"
        "(assert (>= Y_0 (+ Y_1 1)))\n")   # unsafe: output 0 beats output 1 by 1 or more somewhere in the unit box


def violating_net() -> Network:
    """Output 0 - output 1 = relu(x0) + relu(x1) - 0.2 reaches 1.8 on the box: unsafe."""
    return Network([Dense(2, weight=np.eye(2), bias=np.zeros(2)),
                    Dense(2, weight=[[1.0, 1.0], [0.0, 0.0]], bias=[-0.1, 0.1])], 2)


@pytest.fixture
def files(tmp_path):
    prop = tmp_path / "prop.vnnlib"
    prop.write_text(PROP)
    return tmp_path, prop


def test_onnx_in_onnx_out_runs_in_onnxruntime(files, capsys):
    ort = pytest.importorskip("onnxruntime")
    tmp, prop = files
    src, dst = tmp / "net.onnx", tmp / "fixed.onnx"
    to_onnx(violating_net(), src)
    assert main(["repair", str(src), str(prop), "--out", str(dst), "--time-limit", "60"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("repair: proved") and f"written: {dst}" in out
    repaired = load_onnx(dst)
    assert check_property(repaired, str(prop), method="mip", time_limit=30).status == "holds"
    sess = ort.InferenceSession(str(dst))
    X = np.random.default_rng(0).uniform(0, 1, (16, 2))
    got = sess.run(None, {sess.get_inputs()[0].name: X.astype(np.float64)})[0]
    np.testing.assert_allclose(got, repaired.forward(X), rtol=1e-12, atol=1e-12)
    assert not np.allclose(got, violating_net().forward(X))


def test_nnet_in_nnet_out_by_default(files, capsys):
    tmp, prop = files
    src = tmp / "net.nnet"
    norm = {"mins": [0.0, 0.0], "maxs": [1.0, 1.0], "means": [0.0, 0.0, 0.0], "ranges": [1.0, 1.0, 1.0]}
    save_nnet(violating_net(), src, norm)
    assert main(["repair", str(src), str(prop), "--norm", "linf", "--json", "--time-limit", "60"]) == 0
    doc = json.loads(capsys.readouterr().out)
    dst = tmp / "net.repaired.nnet"
    assert doc["status"] == "proved" and doc["written"] == str(dst) and doc["norm"] == "linf"
    repaired = load_nnet(dst)
    assert repaired.nnet_normalization["maxs"].tolist() == [1.0, 1.0]   # the header is kept
    assert check_property(repaired, str(prop), method="mip", time_limit=30).status == "holds"
    assert doc["change"]["linf"] > 0


def test_json_with_reference_file_and_argmin(files, capsys):
    tmp, prop = files
    src, dst = tmp / "net.json", tmp / "out.json"
    save_json(violating_net(), src, {"note": "kept"})
    ref = tmp / "ref.csv"
    ref.write_text("a,b\n" + "\n".join(f"{x:.3f},{y:.3f}" for x, y in np.random.default_rng(1).uniform(0, 1, (30, 2))))
    assert main(["repair", str(src), str(prop), "--out", str(dst), "--reference", str(ref), "--decision", "argmin",
                 "--time-limit", "60"]) == 0
    assert "reference set (30 inputs)" in capsys.readouterr().out
    net, meta = load_json(dst)
    assert meta["note"] == "kept" and meta["repair"]["status"] == "proved" and meta["repair"]["decision"] == "argmin"


@pytest.mark.parametrize("argv, message", [
    (["net.pt", "prop.vnnlib"], "unknown network file type '.pt'"),
    (["missing.onnx", "prop.vnnlib"], "no such file"),
    (["net.onnx", "prop.vnnlib", "--out", "x.txt"], "cannot write '.txt'"),
    (["net.onnx", "prop.vnnlib", "--layers", "5"], "layers must be"),
    (["net.onnx", "prop.vnnlib", "--reference", "bad.csv"], "every row needs 2 numbers"),
    (["net.onnx", "wrong.vnnlib"], "wrong.vnnlib"),
])
def test_bad_input_gives_one_line_error(files, capsys, monkeypatch, argv, message):
    tmp, prop = files
    monkeypatch.chdir(tmp)
    to_onnx(violating_net(), tmp / "net.onnx")
    (tmp / "net.pt").write_text("not a network")
    (tmp / "bad.csv").write_text("1,2,3\n")
    (tmp / "wrong.vnnlib").write_text("(declare-const X_0 Real)\n(declare-const Y_0 Real)\n(assert (>= Y_0 1))\n")
    assert main(["repair", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mipnet repair: error:") and message in err and err.count("\n") == 1


def test_decision_rows_and_margin_options_reach_the_repair(files, capsys):
    tmp, prop = files
    src = tmp / "net.json"
    save_json(violating_net(), src)
    assert main(["repair", str(src), str(prop), "--decision-rows", "count", "--margin", "0.01", "--margin-growth",
                 "2", "--json", "--time-limit", "60", "--samples", "50"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["status"] == "proved"
    assert all(e["decisions"] == "counted" and e["margin"] == 0.01 for e in doc["rounds"][1:])
    assert check_property(load_json(src.with_name("net.repaired.json"))[0], str(prop), method="mip",
                          time_limit=30).status == "holds"
    with pytest.raises(SystemExit) as exc:
        main(["repair", str(src), str(prop), "--decision-rows", "all"])
    assert exc.value.code == 2 and "--decision-rows" in capsys.readouterr().err


def test_threads_reach_the_repair(files, capsys, monkeypatch):
    tmp, prop = files
    src = tmp / "net.json"
    save_json(violating_net(), src)
    seen = []
    real = cli_repair.repair

    def spy(*args, **kwargs):
        seen.append(kwargs["threads"])
        return real(*args, **kwargs)

    monkeypatch.setattr(cli_repair, "repair", spy)
    assert main(["repair", str(src), str(prop), "--threads", "2", "--json", "--time-limit", "60",
                 "--samples", "50"]) == 0
    assert seen == [2] and json.loads(capsys.readouterr().out)["status"] == "proved"
