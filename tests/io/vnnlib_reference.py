"""The VNN-LIB reader of mipnet before issue 13 (commit b2a6fbe, ``src/mipnet/io/vnnlib.py``), kept as a slow,
dense reference: a full DNF expansion with one dense row per constraint. The tests compare the streaming, factored
reader of :mod:`mipnet.io.vnnlib` with it, disjunct by disjunct, on files small enough for it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mipnet.errors import FormatError

_TOKEN = re.compile(r"\(|\)|[^\s()]+")
_VAR = re.compile(r"^([XY])_(\d+)$")


@dataclass
class Disjunct:
    """One conjunction of linear constraints ``A @ concat(x, y) <= b`` with ``x`` inputs and ``y`` outputs."""

    A: np.ndarray
    b: np.ndarray
    n_inputs: int

    @property
    def input_rows(self) -> np.ndarray:
        """Mask of rows that involve inputs only."""
        return ~np.any(self.A[:, self.n_inputs:] != 0, axis=1)

    def box(self) -> tuple[np.ndarray, np.ndarray]:
        """The input box implied by single-variable input rows (``±inf`` where unbounded)."""
        n = self.n_inputs
        lo, hi = np.full(n, -np.inf), np.full(n, np.inf)
        A = self.A[:, :n]
        single = self.input_rows & (np.count_nonzero(A, axis=1) == 1)
        for r in np.flatnonzero(single):
            j = int(np.flatnonzero(A[r])[0])
            c = A[r, j]
            if c > 0:
                hi[j] = min(hi[j], self.b[r] / c)
            else:
                lo[j] = max(lo[j], self.b[r] / c)
        return lo, hi

    def other_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """Rows that are not simple input bounds (multi-variable input rows and every row with outputs)."""
        n = self.n_inputs
        single = self.input_rows & (np.count_nonzero(self.A[:, :n], axis=1) == 1)
        return self.A[~single], self.b[~single]

    def holds_at(self, x: np.ndarray, y: np.ndarray, tol: float = 0.0) -> bool:
        """Whether the point ``(x, y)`` lies in this (unsafe) region, up to ``tol``."""
        v = np.concatenate([np.ravel(x), np.ravel(y)])
        return bool(np.all(self.A @ v <= self.b + tol))

    def slack(self, x: np.ndarray, y: np.ndarray) -> float:
        """``min(b - A v)``: positive strictly inside the region, negative outside."""
        v = np.concatenate([np.ravel(x), np.ravel(y)])
        return float(np.min(self.b - self.A @ v)) if len(self.b) else np.inf


@dataclass
class Property:
    """A parsed VNN-LIB file: the unsafe region as a disjunction of :class:`Disjunct`."""

    n_inputs: int
    n_outputs: int
    disjuncts: list[Disjunct] = field(default_factory=list)
    source: str = ""

    def contains(self, x: np.ndarray, y: np.ndarray, tol: float = 0.0) -> bool:
        """Whether ``(x, y)`` lies in the unsafe region (some disjunct holds)."""
        return any(d.holds_at(x, y, tol) for d in self.disjuncts)


# ------------------------------------------------------------------------------------------------ parsing
def _parse_sexprs(text: str) -> list:
    text = "\n".join(line.split(";", 1)[0] for line in text.splitlines())
    tokens = _TOKEN.findall(text)
    stack: list[list] = [[]]
    for tok in tokens:
        if tok == "(":
            stack.append([])
        elif tok == ")":
            if len(stack) == 1:
                raise FormatError("unbalanced ')' in VNN-LIB text")
            done = stack.pop()
            stack[-1].append(done)
        else:
            stack[-1].append(tok)
    if len(stack) != 1:
        raise FormatError("unbalanced '(' in VNN-LIB text: missing ')'")
    return stack[0]


class _Linear:
    """A linear expression: ``coef`` over the variables plus a constant."""

    def __init__(self, n: int, coef: np.ndarray | None = None, const: float = 0.0) -> None:
        self.coef = np.zeros(n) if coef is None else coef
        self.const = const

    def __add__(self, o: _Linear) -> _Linear:
        return _Linear(len(self.coef), self.coef + o.coef, self.const + o.const)

    def scale(self, s: float) -> _Linear:
        return _Linear(len(self.coef), self.coef * s, self.const * s)

    @property
    def is_const(self) -> bool:
        return not np.any(self.coef)


class _Parser:
    def __init__(self) -> None:
        self.inputs: dict[str, int] = {}
        self.outputs: dict[str, int] = {}

    def declare(self, expr: list) -> None:
        if len(expr) != 3 or not isinstance(expr[1], str):
            raise FormatError(f"bad declaration {self._show(expr)}")
        m = _VAR.match(expr[1])
        if not m:
            raise FormatError(f"declared variable {expr[1]!r}: only X_i (inputs) and Y_j (outputs) are supported")
        (self.inputs if m.group(1) == "X" else self.outputs)[expr[1]] = int(m.group(2))

    def finish_declarations(self) -> None:
        for name, d in (("X", self.inputs), ("Y", self.outputs)):
            if sorted(d.values()) != list(range(len(d))):
                raise FormatError(f"the {name}_i declarations must be numbered 0..n-1, got {sorted(d.values())}")
        self.n_x, self.n_y = len(self.inputs), len(self.outputs)
        self.n = self.n_x + self.n_y

    @staticmethod
    def _show(expr: object) -> str:
        if isinstance(expr, list):
            return "(" + " ".join(_Parser._show(e) for e in expr) + ")"
        return str(expr)

    def term(self, expr: object) -> _Linear:
        if isinstance(expr, str):
            if expr in self.inputs:
                c = np.zeros(self.n)
                c[self.inputs[expr]] = 1.0
                return _Linear(self.n, c)
            if expr in self.outputs:
                c = np.zeros(self.n)
                c[self.n_x + self.outputs[expr]] = 1.0
                return _Linear(self.n, c)
            try:
                return _Linear(self.n, const=float(expr))
            except ValueError:
                raise FormatError(f"unknown symbol {expr!r} (not a declared variable or a number)") from None
        if not expr or not isinstance(expr[0], str):
            raise FormatError(f"bad term {self._show(expr)}")
        op, args = expr[0], [self.term(a) for a in expr[1:]]
        if op == "+" and args:
            out = args[0]
            for a in args[1:]:
                out = out + a
            return out
        if op == "-" and len(args) == 1:
            return args[0].scale(-1.0)
        if op == "-" and args:
            out = args[0]
            for a in args[1:]:
                out = out + a.scale(-1.0)
            return out
        if op == "*" and args:
            out = args[0]
            for a in args[1:]:
                if out.is_const:
                    out = a.scale(out.const)
                elif a.is_const:
                    out = out.scale(a.const)
                else:
                    raise FormatError(f"nonlinear product in {self._show(expr)}")
            return out
        if op == "/" and len(args) == 2 and args[1].is_const and args[1].const != 0:
            return args[0].scale(1.0 / args[1].const)
        raise FormatError(f"unsupported term {self._show(expr)}")

    def formula(self, expr: object) -> list[list[tuple[np.ndarray, float]]]:
        """DNF of a formula: a list of conjunctions, each a list of rows ``(a, b)`` meaning ``a @ v <= b``."""
        if not isinstance(expr, list) or not expr or not isinstance(expr[0], str):
            raise FormatError(f"bad formula {self._show(expr)}")
        op = expr[0]
        if op == "and":
            dnf: list[list[tuple[np.ndarray, float]]] = [[]]
            for sub in expr[1:]:
                part = self.formula(sub)
                dnf = [c1 + c2 for c1 in dnf for c2 in part]
                if len(dnf) > 100_000:
                    raise FormatError("the property's disjunctive normal form is too large (over 100000 terms)")
            return dnf
        if op == "or":
            return [conj for sub in expr[1:] for conj in self.formula(sub)]
        if op in ("<=", ">=", "<", ">", "="):
            if len(expr) < 3:
                raise FormatError(f"comparison needs two or more terms: {self._show(expr)}")
            terms = [self.term(t) for t in expr[1:]]
            rows: list[tuple[np.ndarray, float]] = []
            for lhs, rhs in zip(terms[:-1], terms[1:]):
                d = lhs + rhs.scale(-1.0)   # lhs - rhs  (op) 0
                if op in ("<=", "<", "="):
                    rows.append((d.coef.copy(), -d.const))
                if op in (">=", ">", "="):
                    rows.append((-d.coef, d.const))
            return [rows]
        raise FormatError(f"unsupported formula operator {op!r} in {self._show(expr)}")


def parse_vnnlib(text: str, n_inputs: int | None = None, n_outputs: int | None = None) -> Property:
    """Parse VNN-LIB text into a :class:`Property`.

    Parameters
    ----------
    text : str
        The file's content.
    n_inputs, n_outputs : int, optional
        When given, the declared variable counts must match (the network's sizes).

    Returns
    -------
    Property
    """
    p = _Parser()
    exprs = _parse_sexprs(text)
    asserts = []
    for e in exprs:
        if not isinstance(e, list) or not e:
            raise FormatError(f"unexpected top-level item {_Parser._show(e)!r}")
        if e[0] == "declare-const":
            p.declare(e)
        elif e[0] == "assert":
            if len(e) != 2:
                raise FormatError(f"assert takes one formula: {_Parser._show(e)}")
            asserts.append(e[1])
        elif e[0] in ("set-logic", "set-info", "check-sat", "get-model", "exit"):
            continue
        else:
            raise FormatError(f"unsupported command {e[0]!r}")
    p.finish_declarations()
    if n_inputs is not None and p.n_x != n_inputs:
        raise FormatError(f"the property declares {p.n_x} inputs X_i, the network has {n_inputs}")
    if n_outputs is not None and p.n_y != n_outputs:
        raise FormatError(f"the property declares {p.n_y} outputs Y_j, the network has {n_outputs}")
    dnf = p.formula(["and", *asserts]) if asserts else [[]]
    disjuncts = []
    for conj in dnf:
        A = np.array([r[0] for r in conj]).reshape(len(conj), p.n)
        b = np.array([r[1] for r in conj], dtype=float)
        disjuncts.append(Disjunct(A, b, p.n_x))
    return Property(p.n_x, p.n_y, disjuncts)


def load_vnnlib(path: str | Path, n_inputs: int | None = None, n_outputs: int | None = None) -> Property:
    """Read and parse a ``.vnnlib`` file (see :func:`parse_vnnlib`)."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        prop = parse_vnnlib(text, n_inputs, n_outputs)
    except FormatError as exc:
        raise FormatError(f"{path}: {exc}") from None
    prop.source = str(path)
    return prop
