import gzip
import importlib.util
import io
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from mipnet.errors import FormatError
from mipnet.io import Disjunct, Property, load_any, load_vnnlib, parse_vnnlib
from mipnet.io.vnnlib import _read
from mipnet.io.vnnlib_parse import read_chunks

_spec = importlib.util.spec_from_file_location("_vnnlib_reference", Path(__file__).with_name("vnnlib_reference.py"))
ref = sys.modules.setdefault("_vnnlib_reference", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(ref)

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


def assert_same(new: Property, old: object) -> None:
    """The new reader's property equals the reference reader's, disjunct by disjunct (order, rows, boxes)."""
    assert new.n_disjuncts == len(old.disjuncts) == len(new.disjuncts)
    assert (new.n_inputs, new.n_outputs) == (old.n_inputs, old.n_outputs)
    for dn, do in zip(new.disjuncts, old.disjuncts):
        A = dn.A
        assert A.shape == do.A.shape and np.array_equal(A, do.A) and np.array_equal(dn.A_sparse.toarray(), A)
        assert np.array_equal(dn.b, do.b)
        for a, b in zip(dn.box(), do.box()):
            assert np.array_equal(a, b)
        for a, b in zip(dn.other_rows(), do.other_rows()):
            assert a.shape == b.shape and np.array_equal(a, b)
        assert np.array_equal(dn.input_rows, do.input_rows)


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
    assert_same(p, ref.parse_vnnlib(TEXT, 2, 2))


@pytest.mark.parametrize("bad, match", [
    ("(declare-const X_0 Real)(declare-const Y_0 Real)(assert (<= (* X_0 Y_0) 1))", "nonlinear"),
    ("(declare-const X_0 Real)(declare-const Y_0 Real)(assert (<= X_0 1)", "unbalanced"),
    ("(declare-const X_0 Real)(declare-const Y_0 Real)(assert (<= Z 1))", "unknown symbol"),
    ("(declare-const X_0 Real)(declare-const Y_0 Real)(assert (not (<= X_0 1)))", "not"),
    ("(declare-const X_0 Real)(assert (<= X_0 1)))", "unbalanced"),
    ("(declare-const X_0 Real)(assert (<= X_0 nan))", "not finite"),
    ("(declare-const X_0 Real)(assert (<= X_0 inf))", "not finite"),
    ("(declare-const X_0 Real)(assert (<= X_0))", "two or more terms"),
    ("(declare-const X_0 Real)(assert (<= X_0 1) (<= X_0 2))", "assert takes one formula"),
    ("(declare-const X_0 Real)(assert)", "assert takes one formula"),
    ("(declare-const X_0 Real)(assert X_0)", "bad formula"),
    ("(declare-const X_0 Real)(assert (and (<= X_0 1) X_0))", "bad formula"),
    ("(declare-const X_0 Real)(assert (<= (/ X_0 0) 1))", "unsupported term"),
    ("(declare-const X_0 Real)(assert (<= (/ 1 X_0) 1))", "unsupported term"),
    ("(declare-const X_0 Real)(assert (<= (exp X_0) 1))", "unsupported term"),
    ("(declare-const X_0 Real)(assert (<= ((+ X_0)) 1))", "bad term"),
    ("(declare-const X_0 Real)(assert (<= (<= X_0 1) 1))", "unsupported term"),
    ("(declare-const X_0 Real)(frobnicate)", "unsupported command 'frobnicate'"),
    ("(declare-const X_0 Real)()", "empty command"),
    ("(declare-const X_0 Real)X_0", "unexpected top-level item"),
    ("(declare-const X_0 Real)(assert (<= X_0 1)) ]", "unexpected character"),
    ("(declare-const X_1 Real)", "numbered 0..n-1"),
    ("(declare-const Z_0 Real)", "only X_i"),
    ("(declare-const X_0)", "bad declaration"),
    ("(assert (<= X_0 1))(declare-const X_0 Real)", "unknown symbol 'X_0'"),
    ("(declare-const X_0 Real)(assert (or (<= X_0 1) (assert (<= X_0 1))))", "assert inside a formula"),
    ("(declare-const X_0 Real)((assert (<= X_0 1)))", "command name"),
])
def test_errors(bad, match):
    with pytest.raises(FormatError, match=match):
        parse_vnnlib(bad)


def test_error_messages_name_the_line(tmp_path):
    (tmp_path / "p.vnnlib").write_text("(declare-const X_0 Real)\n(declare-const Y_0 Real)\n\n(assert (<= Z 1))\n")
    with pytest.raises(FormatError, match=r"p\.vnnlib: line 4: unknown symbol 'Z'"):
        load_vnnlib(tmp_path / "p.vnnlib")


def test_sizes_must_match_network():
    with pytest.raises(FormatError, match="inputs"):
        parse_vnnlib(TEXT, 3, 2)
    with pytest.raises(FormatError, match="outputs"):
        parse_vnnlib(TEXT, 2, 3)


def test_acasxu_properties_parse(acasxu):
    counts = {k: len(load_vnnlib(acasxu / "vnnlib" / f"prop_{k}.vnnlib", 5, 5).disjuncts) for k in range(1, 11)}
    assert counts[1] == counts[2] == counts[3] == counts[4] == 1
    assert counts[6] == 8          # two input boxes x four output conditions


def test_acasxu_properties_equal_the_reference_reader(acasxu):
    for k in range(1, 11):
        path = acasxu / "vnnlib" / f"prop_{k}.vnnlib"
        assert_same(load_vnnlib(path, 5, 5), ref.load_vnnlib(path, 5, 5))


def test_load_any_unknown_extension(tmp_path):
    p = tmp_path / "net.xyz"
    p.write_text("x")
    with pytest.raises(FormatError, match="unknown network file type"):
        load_any(p)


# ------------------------------------------------------------------------------------------------ random files
def _term(rng: np.random.Generator, names: list[str], depth: int) -> str:
    r = rng.random()
    if depth == 0 or r < 0.35:
        return names[rng.integers(len(names))] if rng.random() < 0.7 else repr(round(float(rng.normal()), 3))
    sub = [_term(rng, names, depth - 1) for _ in range(rng.integers(1, 4))]
    c = repr(float(rng.choice([-2.0, -0.5, 0.0, 1.0, 3.0])))
    return rng.choice([f"(+ {' '.join(sub)})", f"(- {' '.join(sub)})", f"(* {c} {sub[0]})", f"(* {sub[0]} {c})",
                       f"(/ {sub[0]} 4)", f"(- {sub[0]})"])


def _formula(rng: np.random.Generator, names: list[str], depth: int) -> str:
    if depth == 0 or rng.random() < 0.3:
        op = rng.choice(["<=", ">=", "<", ">", "="])
        k = 3 if rng.random() < 0.15 else 2
        return f"({op} {' '.join(_term(rng, names, 2) for _ in range(k))})"
    op = rng.choice(["and", "or"])
    return f"({op} {' '.join(_formula(rng, names, depth - 1) for _ in range(rng.integers(0 if depth < 3 else 1, 4)))})"


def random_property(seed: int, n_x: int = 3, n_y: int = 2) -> str:
    rng = np.random.default_rng(seed)
    names = [f"X_{i}" for i in range(n_x)] + [f"Y_{j}" for j in range(n_y)]
    lines = [f"(declare-const {v} Real)" for v in rng.permutation(names)]
    for i in range(n_x):
        lo = round(float(rng.uniform(-1, 0)), 4)
        lines.append(f"(assert (>= X_{i} {lo!r}))" if rng.random() < 0.5 else f"(assert (<= {lo!r} X_{i}))")
        lines.append(f"(assert (<= X_{i} {lo + 1!r}))")
    lines += [f"(assert {_formula(rng, names, 3)})" for _ in range(rng.integers(1, 4))]
    return "\n".join(lines)


@pytest.mark.parametrize("seed", range(40))
def test_random_nested_formulas_equal_the_reference_reader(seed):
    text = random_property(seed)
    old = ref.parse_vnnlib(text)
    new = parse_vnnlib(text)
    assert_same(new, old)
    rng = np.random.default_rng(seed)
    for _ in range(20):            # contains() works on the factored form: same answer as the expansion
        x, y = rng.uniform(-1.5, 1.5, 3), rng.uniform(-3, 3, 2)
        assert new.contains(x, y) == old.contains(x, y) == any(d.holds_at(x, y) for d in new.disjuncts)
    n = new.n_disjuncts
    for k in ([0, n - 1, n // 2] if n else []):     # random access equals iteration
        assert np.array_equal(new.disjuncts[k].A, old.disjuncts[k].A)
        assert np.array_equal(new.disjuncts[-1].b, old.disjuncts[-1].b)


def test_chunked_reading_equals_whole_text():
    text = random_property(7) + "\n; a comment ( with ) parens\n" + TEXT.split("\n", 6)[-1].replace("X_1", "X_2")
    whole = parse_vnnlib(text)
    for chunk in (1, 5, 64):
        assert_same(_read(read_chunks(io.BytesIO(text.encode()), chunk), None, None), ref.parse_vnnlib(text))
    assert whole.n_disjuncts == len(ref.parse_vnnlib(text).disjuncts)


# ------------------------------------------------------------------------------------------------ VNN-COMP shapes
def robust_text(n_inputs: int, n_outputs: int = 10, expanded: bool = False, seed: int = 0) -> str:
    """A robustness property: a box over the inputs and a disjunction of ``n_outputs`` output conditions, either
    factored (box asserts, then one ``or``) or expanded (one top-level ``or`` of box-and-output terms)."""
    rng = np.random.default_rng(seed)
    c = rng.uniform(0, 1, n_inputs).tolist()
    head = "".join(f"(declare-const X_{i} Real)\n" for i in range(n_inputs))
    head += "".join(f"(declare-const Y_{j} Real)\n" for j in range(n_outputs))
    rows = [(f"(<= X_{i} {c[i] + 0.01!r})", f"(>= X_{i} {c[i] - 0.01!r})") for i in range(n_inputs)]
    outs = [f"(>= Y_{j} Y_0)" if j else "(<= Y_0 -1.5)" for j in range(n_outputs)]
    if not expanded:
        box = "".join(f"(assert {a})\n(assert {b})\n" for a, b in rows)
        return head + box + "(assert (or " + " ".join(f"(and {o})" for o in outs) + "))\n"
    box = " ".join(f"{a} {b}" for a, b in rows)
    return head + "(assert (or\n" + "".join(f"(and {box} {o})\n" for o in outs) + "))\n"


def test_robustness_property_over_3072_inputs_is_factored():
    text = robust_text(3072)
    tracemalloc.start()
    p = parse_vnnlib(text, 3072, 10)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 30e6                          # the old reader: one dense 6145 x 3082 matrix per disjunct
    assert p.n_disjuncts == 10 and p._store.n_rows == 2 * 3072 + 10     # the box is stored once
    groups = list(p.groups())
    assert len(groups) == 1 and groups[0].n_disjuncts == 10
    big = parse_vnnlib(robust_text(3072, expanded=True), 3072, 10)      # 3.4 MB: the same 10 disjuncts
    assert len(text) > 300_000 and big.n_disjuncts == 10 and len(list(big.groups())) == 10
    for d1, d2 in zip(p.disjuncts, big.disjuncts):
        assert (d1.A_sparse != d2.A_sparse).nnz == 0 and np.array_equal(d1.b, d2.b)
        for a, b in zip(d1.box(), d2.box()):
            assert np.array_equal(a, b) and np.all(np.isfinite(a))
        A, b = d1.other_rows()
        assert A.shape == (1, 3082)
    lo, hi = groups[0].box()
    assert np.array_equal(lo, p.disjuncts[3].box()[0]) and np.array_equal(hi, p.disjuncts[3].box()[1])


def test_small_robustness_property_equals_the_reference_reader():
    for expanded in (False, True):
        text = robust_text(40, expanded=expanded)
        assert_same(parse_vnnlib(text), ref.parse_vnnlib(text))


def or_terms_text(n_terms: int, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    lo = rng.uniform(-1, 1, (n_terms, 2)).round(6).tolist()
    terms = [f"(and (>= X_0 {a!r}) (<= X_0 {a + 0.01!r}) (>= X_1 {b!r}) (<= X_1 {b + 0.01!r}) (>= Y_0 {a + b!r}))"
             for a, b in lo]
    head = "(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const Y_0 Real)\n(declare-const Y_1 Real)\n"
    return head + "(assert (or\n" + "\n".join(terms) + "))\n"


def test_top_level_or_of_10000_terms():
    text = or_terms_text(10_000)
    p = parse_vnnlib(text, 2, 2)
    assert p.n_disjuncts == 10_000 and len(list(p.groups())) == 10_000
    assert_same(p, ref.parse_vnnlib(text, 2, 2))
    d = p.disjuncts[1234]
    lo, hi = d.box()
    x = (lo + hi) / 2
    assert d.holds_at(x, [lo.sum() + 5, 0.0]) and p.contains(x, [lo.sum() + 5, 0.0])
    assert not p.contains(x, [lo.sum() - 5, 0.0])


def test_gzip_file_equals_plain(tmp_path):
    text = or_terms_text(500) + TEXT.split("\n", 6)[-1].replace("X_1", "X_0")
    plain, packed = tmp_path / "p.vnnlib", tmp_path / "p.vnnlib.gz"
    plain.write_text(text)
    packed.write_bytes(gzip.compress(text.encode()))
    assert_same(load_vnnlib(packed), ref.load_vnnlib(plain))
    assert load_vnnlib(packed).source == str(packed)
    (tmp_path / "bad.vnnlib.gz").write_bytes(gzip.compress(text.encode())[:200])
    with pytest.raises(FormatError, match="damaged gzip"):
        load_vnnlib(tmp_path / "bad.vnnlib.gz")


@pytest.mark.parametrize("mb", [1, 10])
def test_generated_files_of_1_and_10_mb(tmp_path, mb):
    """Memory linear in the file and seconds per 10 MB (the 100 MB case is in bench/bench_vnnlib.py)."""
    path = tmp_path / "p.vnnlib"
    with open(path, "w") as f:
        f.write(robust_text(int(mb * 10_000)))
    size = path.stat().st_size
    assert 0.7e6 * mb < size < 1.6e6 * mb
    if mb == 1:                 # tracemalloc slows parsing down a few times: measured on the small file
        tracemalloc.start()
    t = time.perf_counter()
    p = load_vnnlib(path)
    seconds = time.perf_counter() - t
    if mb == 1:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < 3 * size + 5e6
    else:
        assert seconds < 60     # about 3 s on one core; generous for a loaded machine
    assert p.n_disjuncts == 10 and p._store.n_rows == 2 * mb * 10_000 + 10
    lo, hi = p.disjuncts[9].box()
    assert np.all(hi - lo > 0.019)


# ------------------------------------------------------------------------------------------------ the DNF, lazily
def test_astronomically_large_dnf_stays_factored():
    head = "".join(f"(declare-const X_{i} Real)\n" for i in range(70)) + "(declare-const Y_0 Real)\n"
    text = head + "".join(f"(assert (or (and (>= X_{i} 0) (<= X_{i} 1)) (and (>= X_{i} 2) (<= X_{i} 3))))\n"
                          for i in range(70))
    p = parse_vnnlib(text)
    assert p.n_disjuncts == 2 ** 70
    with pytest.raises(FormatError, match="too many to count"):
        len(p.disjuncts)
    last = p.disjuncts[2 ** 70 - 1]
    lo, hi = last.box()
    assert np.all(lo == 2) and np.all(hi == 3)
    first = next(iter(p.disjuncts))
    assert np.all(first.box()[1] == 1)
    assert p.contains(np.where(np.arange(70) % 2, 0.5, 2.5), [0.0])
    assert not p.contains(np.full(70, 1.5), [0.0])
    with pytest.raises(IndexError):
        p.disjuncts[2 ** 70]


def test_disjunct_from_dense_rows_and_property_of_disjuncts():
    A = np.array([[1.0, 0, 0], [-2.0, 0, 0], [0, 1, 0], [0, -1, 0], [1, 1, 0], [0, 0, 1]])
    b = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    d = Disjunct(A, b, 2)
    assert np.array_equal(d.A, A) and np.array_equal(d.b, b)
    lo, hi = d.box()
    assert np.array_equal(lo, [-1, -4]) and np.array_equal(hi, [1, 3])
    Ao, bo = d.other_rows()
    assert np.array_equal(Ao, A[4:]) and np.array_equal(bo, b[4:])
    assert np.array_equal(d.input_rows, [True] * 5 + [False])
    assert d.holds_at([0, 0], [6]) and not d.holds_at([0, 0], [6.1]) and d.holds_at([0, 0], [6.1], tol=0.2)
    assert d.slack([0, 0], [5]) == 1.0
    p = Property(2, 1, [d, Disjunct(np.eye(3)[:1], [-5.0], 2)], "made")
    assert p.n_disjuncts == len(p.disjuncts) == 2 and p.contains([-6, 0], [100]) and not p.contains([2, 0], [0])
    assert [g.n_disjuncts for g in p.groups()] == [1, 1]
    with pytest.raises(FormatError, match="rows"):
        Disjunct(A, b[:3], 2)


# ------------------------------------------------------------------------------------------------ malformed
def test_fuzzed_files_raise_format_error_or_parse():
    """Random damage to valid files (deleted, doubled or replaced characters, truncation) either still parses or
    raises FormatError with a message: never another exception."""
    rng = np.random.default_rng(0)
    texts = [TEXT, random_property(3), or_terms_text(5), robust_text(4),
             "(vnnlib-version <2.0>)\n(declare-network N (declare-input X float32 [1,2]) "
             "(declare-output Y float32 [2]))\n(assert (<= X[0,0] 1))(assert (>= (+ Y[0] Y[1]) X[0,1]))\n"]
    alphabet = list("()[]; \n-+*/=<>.,0123456789XY_eaors\"") + ["and", "or", "assert", "X_0", "Y_1", "X[0,1]"]
    failures = 0
    for it in range(1500):
        t = texts[it % len(texts)]
        for _ in range(rng.integers(1, 4)):
            i = int(rng.integers(len(t) + 1))
            op = rng.integers(4)
            if op == 0:
                t = t[:i] + t[i + 1:]
            elif op == 1:
                t = t[:i] + str(rng.choice(alphabet)) + t[i:]
            elif op == 2:
                t = t[:i] + str(rng.choice(alphabet)) + t[i + 1:]
            else:
                t = t[:i]
        try:
            p = parse_vnnlib(t)
        except FormatError as exc:
            assert str(exc)
            failures += 1
            continue
        for d in p.disjuncts[:3] if p.n_disjuncts < 10 ** 6 else []:
            d.box()
            d.other_rows()
    assert failures > 300


# ------------------------------------------------------------------------------------------------ VNN-LIB 2.0
V2 = """(vnnlib-version <2.0>)
; two inputs in a [1, 2] tensor, two outputs
(declare-network N
  (declare-input X float32 [1,2])
  (declare-output Y float32 [1, 2]))
(assert (and (<= -1.0 X[0,0]) (<= X[0,0] 1.0) (>= X [0, 1] -0.5) (<= X[0,1] 0.5)))
(assert (or (<= Y[0,0] Y[0,1]) (>= (+ Y[0,0] (* -2.0 Y[0,1]) (- X[0,0])) 3.0) (== Y[0,1] 0.25)))
"""

V1 = """(declare-const X_0 Real)(declare-const X_1 Real)(declare-const Y_0 Real)(declare-const Y_1 Real)
(assert (and (<= -1.0 X_0) (<= X_0 1.0) (>= X_1 -0.5) (<= X_1 0.5)))
(assert (or (<= Y_0 Y_1) (>= (+ Y_0 (* -2.0 Y_1) (- X_0)) 3.0) (= Y_1 0.25)))
"""


def test_vnnlib2_equals_the_same_property_in_vnnlib1():
    p2 = parse_vnnlib(V2, 2, 2)
    assert p2.version == "2.0" and p2.input_shape == (1, 2) and p2.output_shape == (1, 2)
    assert_same(p2, ref.parse_vnnlib(V1, 2, 2))


def test_vnnlib2_tensor_elements_in_c_order():
    text = ("(vnnlib-version <2.0>)\n(declare-network net (declare-input img Real [2,3]) "
            "(declare-output logits float64 [4]) )\n"
            + "".join(f"(assert (<= img[{i},{j}] {10 * i + j}))(assert (>= img[{i},{j}] -1))\n"
                      for i in range(2) for j in range(3))
            + "(assert (or (>= logits[3] logits[0]) (>= logits[1] logits[0])))\n")
    p = parse_vnnlib(text, 6, 4)
    lo, hi = p.disjuncts[0].box()
    assert np.array_equal(hi, [0, 1, 2, 10, 11, 12]) and np.array_equal(lo, -np.ones(6))
    A, b = p.disjuncts[0].other_rows()
    assert np.array_equal(A, [[0] * 6 + [1, 0, 0, -1]]) and b[0] == 0
    scalar = parse_vnnlib("(vnnlib-version <2.0>)(declare-network n (declare-input x Real []) "
                          "(declare-output y Real [] \"out\"))(assert (<= x 1))(assert (>= x 0))(assert (<= y x))")
    assert (scalar.n_inputs, scalar.n_outputs, scalar.n_disjuncts) == (1, 1, 1)


@pytest.mark.parametrize("body, match", [
    ("(declare-network N (declare-input X Real [2]) (declare-output Y Real [1]))"
     "(declare-network M (declare-input X Real [2]) (declare-output Y Real [1]))", "several networks"),
    ("(declare-network N (equal-to M) (declare-input X Real [2]) (declare-output Y Real [1]))", "equal-to"),
    ("(declare-network N (isomorphic-to M) (declare-input X Real [2]) (declare-output Y Real [1]))",
     "isomorphic-to"),
    ("(declare-network N (declare-input X Real [2]) (declare-hidden H Real [3] \"h\") (declare-output Y Real [1]))",
     "declare-hidden"),
    ("(declare-network N (declare-input X Real [2]) (declare-input Z Real [2]) (declare-output Y Real [1]))",
     "exactly one declare-input"),
    ("(declare-network N (declare-input X int8 [2]) (declare-output Y Real [1]))", "element type 'int8'"),
    ("(declare-network N (declare-input X Real [2]) (declare-output Y Real [1]))(assert (<= X[2] 1))",
     "out of range"),
    ("(declare-network N (declare-input X Real [2]) (declare-output Y Real [1]))(assert (<= X[0,0] 1))",
     "out of range"),
    ("(declare-network N (declare-input X Real [2]) (declare-output Y Real [1]))(assert (<= X 1))",
     "not a scalar"),
    ("(declare-network N (declare-input X Real [2]) (declare-output Y Real [1]))(assert (<= W[0] 1))",
     "unknown tensor"),
    ("(declare-network N (declare-input X Real [2]) (declare-output Y Real [1]))(declare-const X_0 Real)",
     "declare-const is VNN-LIB 1.0"),
    ("(declare-network N (declare-input X Real [2,x]) (declare-output Y Real [1]))", "bad tensor declaration"),
    ("(declare-network N (declare-input X Real [0]) (declare-output Y Real [1]))", "bad tensor shape"),
    ("(assert (<= 1 2))", "needs a \\(declare-network"),
])
def test_vnnlib2_unsupported_parts_are_clear_errors(body, match):
    with pytest.raises(FormatError, match=match):
        parse_vnnlib("(vnnlib-version <2.0>)\n" + body)


def test_vnnlib2_header_rules():
    with pytest.raises(FormatError, match="needs a \\(vnnlib-version <2.0>\\) header"):
        parse_vnnlib("(declare-network N (declare-input X Real [2]) (declare-output Y Real [1]))")
    with pytest.raises(FormatError, match="first command"):
        parse_vnnlib("(declare-const X_0 Real)(vnnlib-version <2.0>)")
    with pytest.raises(FormatError, match="version 3.0 is not supported"):
        parse_vnnlib("(vnnlib-version <3.0>)")
    with pytest.raises(FormatError, match="bad version"):
        parse_vnnlib("(vnnlib-version 2.0)")
