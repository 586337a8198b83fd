"""``mipnet plot``: a trained model's network and progress, and a saved sweep, as PNG and SVG files."""

from __future__ import annotations

import csv
import xml.etree.ElementTree as ET

import pytest

from mipnet.cli import main
from mipnet.estimators import MIPNetClassifier
from mipnet.sweep import sweep

pytest.importorskip("matplotlib")


def test_plot_network_progress_and_sweep(tmp_path, bc_subset, capsys) -> None:
    X, y = bc_subset(20, 3, 4)
    data = tmp_path / "d.csv"
    with open(data, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["a", "b", "c", "label"])
        w.writerows([[*map(float, row), int(t)] for row, t in zip(X, y)])
    model = tmp_path / "m.json"
    assert main(["train", str(data), "--target", "label", "--hidden", "2", "--l1", "0.05", "--time-limit", "20",
                 "--quiet", "--out", str(model)]) == 0
    assert main(["plot", str(model)]) == 0                               # default: the network, m.png
    assert (tmp_path / "m.png").read_bytes().startswith(b"\x89PNG")
    assert main(["plot", str(model), "--kind", "network", "--out", str(tmp_path / "n.svg")]) == 0
    ids = {el.get("id") for el in ET.parse(tmp_path / "n.svg").getroot().iter()}
    assert {"input:0", "input:1", "input:2", "unit:0:0", "unit:1:0"} <= ids
    assert main(["plot", str(model), "--kind", "progress", "--out", str(tmp_path / "p.png")]) == 0
    assert (tmp_path / "p.png").stat().st_size > 1000
    res = sweep(MIPNetClassifier(hidden=(1,), time_limit=10), X, y, [0.0, 0.3])
    res.save(tmp_path / "s.json")
    assert main(["plot", str(tmp_path / "s.json"), "--kind", "sweep", "--out", str(tmp_path / "s.svg")]) == 0
    ET.parse(tmp_path / "s.svg")
    capsys.readouterr()
    assert main(["plot", str(model), "--out", str(tmp_path / "n.bmp")]) == 2
    assert "png or .svg" in capsys.readouterr().err
    assert main(["plot", str(model), "--kind", "sweep"]) == 2             # a model is not a sweep file
    assert "not a mipnet sweep" in capsys.readouterr().err
