"""Fixtures shared by the verifier's tests."""

from __future__ import annotations

import numpy as np
import pytest

from mipnet import Network, verify
from mipnet.io import Disjunct, parse_vnnlib


def _below_minimum(net: Network, lo: np.ndarray, hi: np.ndarray, gap: float = 0.01) -> Disjunct:
    """The disjunct ``X in [lo, hi] and Y_0 <= (exact minimum of Y_0 over the box) - gap``: empty (it holds) and,
    for a small ``gap``, only a search proves it."""
    exact = verify.output_bounds(net, lo, hi, time_limit=60)
    assert exact.status == "exact"
    text = "".join(f"(declare-const X_{i} Real)\n" for i in range(net.n_inputs))
    text += "".join(f"(declare-const Y_{j} Real)\n" for j in range(net.n_outputs))
    text += "".join(f"(assert (>= X_{i} {float(lo[i])!r})) (assert (<= X_{i} {float(hi[i])!r}))\n"
                    for i in range(net.n_inputs))
    text += f"(assert (<= Y_0 {float(exact.lower[0]) - gap!r}))\n"
    return parse_vnnlib(text).disjuncts[0]


@pytest.fixture
def below_minimum():
    """Factory: ``below_minimum(net, lo, hi, gap=0.01)``, a disjunct that holds by ``gap`` below the exact minimum
    of ``Y_0`` over the box ``[lo, hi]`` (exact by :func:`mipnet.verify.output_bounds`)."""
    return _below_minimum
