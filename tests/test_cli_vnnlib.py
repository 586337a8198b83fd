import csv
import re

import numpy as np
import pytest

from mipnet.cli import main
from mipnet.cli_vnnlib import (
    Instance,
    InstanceResult,
    ResultWord,
    format_assignment,
    read_instances,
    read_result_file,
    result_word,
    run_instance,
    run_instances,
    write_result_file,
)
from mipnet.io import load_onnx
from mipnet.io.onnx_io import ONNX_OPERATORS


@pytest.fixture
def files(onnx_query):
    """The shared query files, with the network read back from its ONNX file (float32)."""
    d, _, _ = onnx_query
    return d, load_onnx(d / "net.onnx")


def _assignment(text):
    pairs = re.findall(r"\((X|Y)_(\d+) ([^()\s]+)\)", text)
    x = np.array([float(v) for k, _, v in pairs if k == "X"])
    y = np.array([float(v) for k, _, v in pairs if k == "Y"])
    return x, y


def test_supports_lists_one_item_per_line(capsys):
    assert main(["supports", "--onnx-operators"]) == 0
    assert capsys.readouterr().out.split("\n")[:-1] == list(ONNX_OPERATORS)
    assert main(["supports", "--vnnlib-versions"]) == 0
    assert capsys.readouterr().out == "1.0\n2.0\n"
    assert main(["supports", "--onnx-opset-versions"]) == 0
    assert "13" in capsys.readouterr().out.split()
    assert main(["supports", "--serialise-assignments"]) == 0
    assert capsys.readouterr().out == "vnncomp\n"


def test_solver_form_prints_sat_or_unsat(files, capsys):
    d, net = files
    assert main(["verify", str(d / "holds.vnnlib"), "--network", f"N={d / 'net.onnx'}", "--timeout", "30"]) == 0
    assert capsys.readouterr().out == "unsat\n"
    assert main(["verify", str(d / "violated.vnnlib"), "--network", f"N={d / 'net.onnx'}", "--timeout", "30.5",
                 "--serialise-assignments"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("sat\n((X_0 ")
    x, y = _assignment(out)
    assert x.shape == (3,) and np.all(np.abs(x) <= 1)
    np.testing.assert_allclose(net.forward(x[None])[0], y, rtol=1e-12)
    assert y[0] >= y[1]


def test_solver_form_errors(files, capsys):
    d, _ = files
    assert main(["verify", str(d / "violated.vnnlib"), "--network", str(d / "net.onnx")]) == 2
    assert "NAME=MODEL" in capsys.readouterr().err
    assert main(["verify", str(d / "violated.vnnlib"), "--network", f"A={d / 'net.onnx'}", "--network",
                 f"B={d / 'net.onnx'}"]) == 2
    assert "exactly one --network" in capsys.readouterr().err
    assert main(["verify", str(d / "violated.vnnlib"), "--network", f"N={d / 'net.onnx'}", "--timeout", "-1"]) == 2
    capsys.readouterr()


def test_result_words_and_files(tmp_path):
    assert result_word("violated", 10, 5) is ResultWord.SAT
    assert result_word("holds", 10, 5) is ResultWord.UNSAT
    assert result_word("unknown", 1, 5) is ResultWord.UNKNOWN
    assert result_word("unknown", 5, 5) is ResultWord.TIMEOUT
    text = format_assignment(np.array([[0.5, -1.0]]), np.array([2.0]))
    assert text == "((X_0 0.5)\n (X_1 -1.0)\n (Y_0 2.0))"
    write_result_file(tmp_path / "r.txt", InstanceResult(ResultWord.SAT, 1.0, text))
    assert read_result_file(tmp_path / "r.txt") == (ResultWord.SAT, text)
    (tmp_path / "bad.txt").write_text("maybe\n")
    assert read_result_file(tmp_path / "bad.txt")[0] is ResultWord.ERROR


def _instances(d):
    (d / "onnx").mkdir()
    (d / "net.onnx").rename(d / "onnx" / "net.onnx")
    rows = [["net.onnx", "violated.vnnlib", "30"], ["onnx/net.onnx", "holds.vnnlib", "30"],
            ["missing.onnx", "violated.vnnlib", "30"]]
    with open(d / "instances.csv", "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return d / "instances.csv"


def test_vnncomp_runner_writes_words_and_counterexamples(files, capsys):
    d, net = files
    path = _instances(d)
    assert [i.onnx.name for i in read_instances(path)] == ["net.onnx", "net.onnx", "missing.onnx"]
    assert main(["vnncomp", str(path), "--out", str(d / "results.csv")]) == 0
    assert "3 instances" in capsys.readouterr().out
    rows = list(csv.DictReader(open(d / "results.csv")))
    assert [r["result"] for r in rows] == ["sat", "unsat", "error"]
    x, y = _assignment(rows[0]["counterexample"])
    np.testing.assert_allclose(net.forward(x[None])[0], y, rtol=1e-12)
    assert rows[1]["counterexample"] == ""


def test_vnncomp_runner_on_a_local_dask_cluster(files):
    pytest.importorskip("dask.distributed")
    d, _ = files
    instances = read_instances(_instances(d))[:2]
    results = run_instances(instances, workers=2)
    assert [r.word for r in results] == [ResultWord.SAT, ResultWord.UNSAT]


def test_an_instance_past_its_limit_is_killed_as_a_timeout(files):
    d, _ = files
    res = run_instance(Instance(d / "net.onnx", d / "holds.vnnlib", 0.001), grace=0.0)
    assert res.word is ResultWord.TIMEOUT and "killed" in res.message
