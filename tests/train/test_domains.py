"""Weight domains: levels, binary encodings and projections agree with each other."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from mipnet.errors import SettingsError
from mipnet.train.domains import WeightDomain


@pytest.mark.parametrize("spec", ["sign", "ternary", "grid(2)", "grid(3)", "grid(4)"])
@pytest.mark.parametrize("prunable", [False, True])
def test_encoding_reproduces_every_level(spec, prunable):
    dom = WeightDomain.parse(spec)
    omega = 0.7
    c0, coef = dom.encoding(omega, prunable)
    levels = dom.levels(omega, prunable)
    bits = dom.binaries_of(levels, omega, prunable)
    assert np.allclose(c0 + bits @ coef, levels)
    # every binary combination allowed by the side rows gives a level, and no other value
    reach = set()
    for combo in itertools.product((0, 1), repeat=len(coef)):
        combo = np.array(combo)
        if len(coef) == 2 and dom.kind in ("sign", "ternary") and combo.sum() > 1:
            continue
        if dom.kind == "grid" and combo @ (2 ** np.arange(dom.bits)) > 2 * dom.grid_k:
            continue
        reach.add(round(float(c0 + combo @ coef), 9))
    assert reach == {round(float(v), 9) for v in levels}


def test_project_snaps_to_nearest_level():
    dom = WeightDomain.parse("grid(3)")
    w = np.array([-5.0, -0.2, 0.0, 0.4, 0.99])
    p = dom.project(w, 1.0)
    assert np.allclose(p, [-1.0, -1 / 3, 0.0, 1 / 3, 1.0])
    assert np.allclose(WeightDomain.parse("continuous").project(w, 1.0), np.clip(w, -1, 1))


@pytest.mark.parametrize("bad", ["grid", "grid(1)", "grid(x)", "binary", ""])
def test_bad_specs(bad):
    with pytest.raises(SettingsError):
        WeightDomain.parse(bad)
