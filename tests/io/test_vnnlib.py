import numpy as np
import pytest

from mipnet.errors import FormatError
from mipnet.io import load_any, load_vnnlib, parse_vnnlib

TEXT = """
; comment
(declare-const X_0 Real)
(declare-const X_1 Real)
(declare-const Y_0 Real)
(declare-const Y_1 Real)
(assert (or (and (>= X_0 -1) (<= X_0 0)) (and (>= X_0 0.5) (<= X_0 1))))
(assert (<= -2 X_1 (* 2 1.5)))
(assert (or (and (<= Y_0 Y_1)) (and (>= (+ Y_0 (* -2 Y_1) (- X_0)) 3) (<= (- Y_1) 4))))
"""


def test_nested_and_or_to_dnf():
    p = parse_vnnlib(TEXT, 2, 2)
    assert len(p.disjuncts) == 4          # 2 input boxes x 2 output conditions
    lo, hi = p.disjuncts[0].box()
    np.testing.assert_allclose(lo, [-1, -2])
    np.testing.assert_allclose(hi, [0, 3])
    lo, hi = p.disjuncts[3].box()
    np.testing.assert_allclose(lo, [0.5, -2])
    # Y_0 - 2 Y_1 - X_0 >= 3  ->  X_0 - Y_0 + 2 Y_1 <= -3
    A, b = p.disjuncts[1].other_rows()
    assert any(np.allclose(r, [1, 0, -1, 2]) and np.isclose(v, -3) for r, v in zip(A, b))
    assert any(np.allclose(r, [0, 0, 0, -1]) and np.isclose(v, 4) for r, v in zip(A, b))
    assert p.contains(np.array([-0.5, 0.0]), np.array([1.0, 2.0]))
    assert not p.contains(np.array([0.2, 0.0]), np.array([1.0, 2.0]))     # X_0 in neither box


@pytest.mark.parametrize("bad, match", [
    ("(declare-const X_0 Real)(declare-const Y_0 Real)(assert (<= (* X_0 Y_0) 1))", "nonlinear"),
    ("(declare-const X_0 Real)(declare-const Y_0 Real)(assert (<= X_0 1)", "unbalanced"),
    ("(declare-const X_0 Real)(declare-const Y_0 Real)(assert (<= Z 1))", "unknown symbol"),
    ("(declare-const X_0 Real)(declare-const Y_0 Real)(assert (not (<= X_0 1)))", "not"),
])
def test_errors(bad, match):
    with pytest.raises(FormatError, match=match):
        parse_vnnlib(bad)


def test_sizes_must_match_network():
    with pytest.raises(FormatError, match="inputs"):
        parse_vnnlib(TEXT, 3, 2)


def test_acasxu_properties_parse(acasxu):
    counts = {k: len(load_vnnlib(acasxu / "vnnlib" / f"prop_{k}.vnnlib", 5, 5).disjuncts) for k in range(1, 11)}
    assert counts[1] == counts[2] == counts[3] == counts[4] == 1
    assert counts[6] == 8          # two input boxes x four output conditions


def test_load_any_unknown_extension(tmp_path):
    p = tmp_path / "net.xyz"
    p.write_text("x")
    with pytest.raises(FormatError, match="unknown network file type"):
        load_any(p)
