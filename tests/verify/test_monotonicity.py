"""Monotonicity queries: proofs on monotone networks, re-checked counterexample pairs, agreement with a dense grid."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mipnet import Dense, Network
from mipnet.cli import main
from mipnet.errors import SettingsError
from mipnet.io import save_network
from mipnet.verify import monotonicity


def _net(layers: list[tuple[np.ndarray, np.ndarray]], n_in: int) -> Network:
    out = [Dense(W.shape[0], weight=W, bias=b, relu=k < len(layers) - 1) for k, (W, b) in enumerate(layers)]
    return Network(out, n_in)


def _positive_net(seed: int = 0) -> Network:
    """Nonnegative weights after the first layer and a nonnegative first column: non-decreasing in feature 0."""
    rng = np.random.default_rng(seed)
    W1 = rng.normal(size=(6, 3))
    W1[:, 0] = np.abs(W1[:, 0])
    return _net([(W1, rng.normal(size=6)), (np.abs(rng.normal(size=(5, 6))), rng.normal(size=5)),
                 (np.abs(rng.normal(size=(2, 5))), rng.normal(size=2))], 3)


def _dip_net(width: float = 1e-3) -> Network:
    """o(x) = x - 3 relu(x - 0.5) + 3 relu(x - 0.5 - width): increasing except on [0.5, 0.5 + width], where it
    falls by 2 * width (too narrow for sampling to find)."""
    W1 = np.array([[1.0], [-1.0], [1.0], [1.0]])
    b1 = np.array([0.0, 0.0, -0.5, -0.5 - width])
    W2 = np.array([[1.0, -1.0, -3.0, 3.0]])
    return _net([(W1, b1), (W2, np.zeros(1))], 1)


def test_monotone_network_is_proved_increasing() -> None:
    net = _positive_net()
    res = monotonicity(net, 0, -1.0, 1.0, output=1, time_limit=60)
    assert res.status == "holds", res.note
    assert res.worst_bound >= -res.tol and res.counterexample is None


def test_narrow_dip_is_found_by_the_mip_and_rechecked() -> None:
    net = _dip_net()
    res = monotonicity(net, 0, -1.0, 1.0, time_limit=60, samples=16)
    assert res.status == "violated", res.note
    x, x2 = np.ravel(res.counterexample), np.ravel(res.counterexample_pair)
    assert x2[0] >= x[0]
    o, o2 = net.forward(x[None])[0, 0], net.forward(x2[None])[0, 0]
    assert o2 - o < -res.tol
    assert res.worst_found == pytest.approx(o2 - o)
    assert res.worst_found == pytest.approx(-2e-3, abs=1e-6)  # the whole dip
    np.testing.assert_allclose(res.counterexample_output, net.forward(x[None])[0])
    # the same network is proved increasing where the dip is not
    assert monotonicity(net, 0, -1.0, 0.45, time_limit=60).status == "holds"


def test_decreasing_direction() -> None:
    net = _net([(np.array([[-1.0], [1.0]]), np.zeros(2)), (np.array([[1.0, -1.0]]), np.zeros(1))], 1)  # -x
    assert monotonicity(net, 0, -1.0, 1.0, direction="decreasing", time_limit=30).status == "holds"
    res = monotonicity(net, 0, -1.0, 1.0, direction="increasing", time_limit=30)
    assert res.status == "violated"


def _nearly_monotone(seed: int, dent: float) -> Network:
    """2 inputs; increasing in feature 0 except through one hidden unit whose output weight is ``-dent`` times
    its size: monotone for ``dent = 0``, broken in part of the box for larger ``dent``."""
    rng = np.random.default_rng(seed)
    W1 = rng.normal(size=(6, 2))
    W1[:, 0] = np.abs(W1[:, 0])
    W2 = np.abs(rng.normal(size=(1, 6)))
    W2[0, 0] *= -dent
    return _net([(W1, rng.normal(size=6)), (W2, rng.normal(size=1))], 2)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("dent", [0.0, 0.3, 3.0])
def test_agrees_with_a_dense_grid(seed: int, dent: float) -> None:
    """A 401 x 401 grid gives the smallest change along feature 0 between neighbouring grid points; a proof must
    not contradict it, and a grid decrease must be reported as a violation."""
    net = _nearly_monotone(seed, dent)
    g = np.linspace(-1, 1, 401)
    X = np.array([[a, b] for b in g for a in g])
    o = net.forward(X)[:, 0].reshape(401, 401)  # o[b, a]
    grid_worst = float(np.diff(o, axis=1).min())
    res = monotonicity(net, 0, -1.0, 1.0, time_limit=60, samples=32)
    assert res.status in ("holds", "violated")
    if grid_worst < -res.tol:
        assert res.status == "violated"
    if res.status == "holds":
        assert grid_worst >= -res.tol
    else:
        assert res.worst_found < -res.tol
    if dent == 0.0:
        assert res.status == "holds"


def test_bad_arguments(dense_net) -> None:
    net = dense_net([2, 3, 1], seed=0)
    with pytest.raises(SettingsError, match="feature"):
        monotonicity(net, 5, -1.0, 1.0)
    with pytest.raises(SettingsError, match="direction"):
        monotonicity(net, 0, -1.0, 1.0, direction="up")
    with pytest.raises(SettingsError, match="output"):
        monotonicity(net, 0, -1.0, 1.0, output=3)
    with pytest.raises(SettingsError, match="box"):
        monotonicity(net, 0, 1.0, -1.0)


def test_cli_monotone(tmp_path, capsys) -> None:
    save_network(_dip_net(), tmp_path / "dip.json")
    assert main(["verify", str(tmp_path / "dip.json"), "--monotone", "0", "--box=-1,1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "violated" and out["query"] == "monotonicity"
    assert main(["verify", str(tmp_path / "dip.json"), "--monotone", "0", "--box=-1,0.4"]) == 0
    assert capsys.readouterr().out.splitlines()[1].startswith("holds")   # after the header
    assert main(["verify", str(tmp_path / "dip.json"), "--monotone", "0"]) == 2
    assert "--box" in capsys.readouterr().err
