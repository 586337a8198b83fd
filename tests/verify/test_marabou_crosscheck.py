"""Cross-check against Marabou (skipped without maraboupy): the benchmarks' Marabou adapter (bench/peers.py) and
mipnet agree."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from mipnet import verify
from mipnet.io import load_any, parse_vnnlib
from mipnet.io.onnx_io import to_onnx

pytest.importorskip("maraboupy")

BENCH = Path(__file__).resolve().parents[2] / "bench" / "peers.py"
HEADER = "".join(f"(declare-const X_{i} Real)\n" for i in range(3)) + \
    "".join(f"(declare-const Y_{j} Real)\n" for j in range(2))
BOX = "(assert (and (>= X_0 -1) (<= X_0 1) (>= X_1 -1) (<= X_1 0.5) (>= X_2 -0.5) (<= X_2 1)))\n"


def _bench():
    spec = importlib.util.spec_from_file_location("peers", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("seed", [0, 1])
def test_marabou_agrees_with_mipnet(dense_net, tmp_path, seed):
    from maraboupy import Marabou

    path = tmp_path / "net.onnx"
    to_onnx(dense_net([3, 8, 8, 2], seed=seed), path, dtype="float32")
    net = load_any(path)                      # the float32 weights, exactly as Marabou reads them
    mn = Marabou.read_onnx(str(path))
    x = np.random.default_rng(seed).uniform(-1, 1, size=3)
    y = np.asarray(mn.evaluateWithoutMarabou([x.reshape(np.asarray(mn.inputVars[0]).shape)])[0]).ravel()
    np.testing.assert_allclose(y, net.forward(x[None])[0], rtol=1e-5, atol=1e-5)

    lo, hi = np.array([-1, -1, -0.5]), np.array([1, 0.5, 1])
    rb = verify.output_bounds(net, lo, hi, time_limit=20)
    assert rb.status == "exact"
    top = float(rb.upper_attained[0])
    run_marabou = _bench().run_marabou
    for delta, expected in ((0.05, "holds"), (-0.05, "violated")):
        # unsafe: Y_0 >= top + delta and Y_0 - Y_1 >= -100 (a two-output row, kept out of the box)
        prop = parse_vnnlib(HEADER + BOX + f"(assert (>= Y_0 {top + delta!r}))\n(assert (>= (- Y_0 Y_1) -100))")
        ours = verify.check_property(net, prop, time_limit=20)
        theirs = run_marabou(path, net, prop, 15.0)
        assert ours.status == theirs["status"] == expected
        if expected == "violated":
            xc = np.asarray(theirs["x"])
            assert prop.contains(xc, net.forward(xc[None])[0])
