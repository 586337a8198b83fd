"""mipnet JSON: exact round trip, validation with clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mipnet import Dense, Network, load_network, save_network
from mipnet.errors import FormatError


def _net():
    rng = np.random.default_rng(0)
    return Network([Dense(3, weight=rng.normal(size=(3, 2)), bias=rng.normal(size=3)),
                    Dense(1, weight=rng.normal(size=(1, 3)), bias=None, bias_on=False)], 2)


def test_round_trip_is_exact(tmp_path):
    net = _net()
    path = tmp_path / "n.json"
    save_network(net, path, {"note": "x"})
    back = load_network(path)
    X = np.random.default_rng(1).normal(size=(20, 2))
    assert np.array_equal(back.forward(X), net.forward(X))
    for a, b in zip(net.affine_layers(), back.affine_layers()):
        assert np.array_equal(a.weight, b.weight)


@pytest.mark.parametrize("mutate,match", [
    (lambda d: d.update(format="other"), "not a mipnet network"),
    (lambda d: d.update(version=99), "unsupported version"),
    (lambda d: d["layers"][0].update(kind="lstm"), "unknown kind"),
    (lambda d: d["layers"][0].update(weight=[[1.0, "a"]] * 3), "numbers"),
    (lambda d: d["layers"][0].update(bias=[1.0]), "bias has shape"),
    (lambda d: d["layers"][1].update(weight=[[1.0, 2.0]]), "inputs"),
    (lambda d: d.update(input_shape=[-1]), "input_shape"),
])
def test_damaged_files(tmp_path, mutate, match):
    path = tmp_path / "n.json"
    save_network(_net(), path)
    doc = json.loads(path.read_text())
    mutate(doc)
    path.write_text(json.dumps(doc))
    with pytest.raises(FormatError, match=match):
        load_network(path)
