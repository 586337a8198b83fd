"""A streaming reader for VNN-LIB 1.0 and 2.0 text: bytes in, a :class:`~mipnet.io.vnnlib_tree.RowStore` and a
factored formula tree out.

The text is read in chunks (cut at line ends) and tokenized by one compiled regular expression, match by match:
no token list, and no Python object per token is kept. The common shapes take one match each: a whole
``(assert (<= X_7 0.25))`` line, or a comparison ``(>= Y_0 Y_3)`` of two atoms inside ``and`` / ``or``. Their rows
go straight into typed arrays (8 bytes per number). Everything else (terms with ``+ - * /``, chains, comparisons
split over lines) goes through an explicit stack of frames, so nesting depth costs no recursion at parse time.

Variables are encoded while reading as ``i >= 0`` for input ``i`` and ``-(j + 1)`` for output ``j``, and mapped to
the columns ``[x; y]`` at the end (declarations may come in any order, but before their first use).
"""

from __future__ import annotations

import math
import re
from array import array

import numpy as np

from mipnet.errors import FormatError
from mipnet.io.vnnlib_tree import MAX_DEPTH, And, Conj, Or, RowStore, Terms

_CMP = rb"(<=|>=|==|=|<|>)"
_SIMPLE = rb"[\w.+\-]+(?:\[[\d,]*\])?"              # an atom of the fast paths: X_3, -0.25, 1e-05, X[0,3]
_ATOM = rb"[^\s()\[\];\"]+(?:\s*\[[^()\[\];\"]*\])?|\[[^()\[\];\"]*\]|\"[^\"\n]*\""
_TOKEN = re.compile(
    rb"\(\s*assert\s*\(\s*" + _CMP + rb"\s+(" + _SIMPLE + rb")\s+(" + _SIMPLE + rb")\s*\)\s*\)"   # 1-3
    rb"|\(\s*" + _CMP + rb"\s+(" + _SIMPLE + rb")\s+(" + _SIMPLE + rb")\s*\)"                    # 4-6
    rb"|\(\s*declare-const\s+(" + _SIMPLE + rb")\s+(" + _SIMPLE + rb")\s*\)"                    # 7-8
    rb"|(\()"                                                                                     # 9
    rb"|(\))"                                                                                     # 10
    rb"|(;[^\n]*)"                                                                                # 11
    rb"|(" + _ATOM + rb")"                                                                        # 12
    rb"|(\S)")                                                                                    # 13
_VAR1 = re.compile(r"^([XY])_(\d+)$")
_INDEX = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)\s*\[([^\]]*)\]$")
_TENSOR_DECL = re.compile(r'([A-Za-z][A-Za-z0-9_]*)\s+([A-Za-z][A-Za-z0-9_]*)\s*\[([\d\s,]*)\](?:\s+"[^"]*")?')
_CMP_OPS = {"<=", ">=", "<", ">", "=", "=="}
_LE = {b"<=", b"<"}
_GE = {b">=", b">"}
_SKIP = {"set-logic", "set-info", "set-option", "check-sat", "get-model", "exit"}
_REAL_TYPES = {"Real", "real", "float16", "float32", "float64", "bfloat16", "float8e4m3fn", "float8e5m2",
               "float8e4m3fnuz", "float8e5m2fnuz", "float4e2m1"}
CHUNK = 1 << 20

# frame kinds (a frame is a list: [kind, ...])
_HEAD, _SKIPF, _DECL, _ASSERT, _FHEAD, _AND, _OR, _CMPF, _LIST = range(9)


def _show(expr: object, limit: int = 200) -> str:
    def rec(e: object) -> str:
        if isinstance(e, list):
            return "(" + " ".join(rec(x) for x in e) + ")"
        return e.decode("utf-8", "replace") if isinstance(e, bytes) else str(e)

    text = rec(expr)
    return text if len(text) <= limit else text[:limit] + " ..."


class Reader:
    """Incremental VNN-LIB reader: :meth:`feed` chunks of bytes (each ending at a line end), then :meth:`finish`."""

    def __init__(self) -> None:
        self.indptr = array("q", [0])
        self.indices = array("q")
        self.data = array("d")
        self.rhs = array("d")
        self.sym: dict[bytes, int] = {}        # atom -> encoded variable
        self.inputs: set[int] = set()          # 1.0: declared X_i / Y_j numbers
        self.outputs: set[int] = set()
        self.version = "1.0"
        self.v2: dict | None = None            # 2.0: {"network", "input": (name, shape), "output": ...}
        self.commands = 0
        self.stack: list[list] = []
        self.top: list = []                    # items of the implicit top-level "and" of the asserts
        self.line = 1                          # line number at the start of the current chunk
        self._buf = b""
        self._pos = 0

    # ------------------------------------------------------------------------------------------ errors
    def error(self, msg: str) -> FormatError:
        line = self.line + self._buf.count(b"\n", 0, self._pos)
        return FormatError(f"line {line}: {msg}")

    # ------------------------------------------------------------------------------------------ numbers
    def number(self, tok: bytes) -> float:
        try:
            v = float(tok)
        except ValueError:
            raise self.error(f"unknown symbol {tok.decode('utf-8', 'replace')!r} (not a declared variable or a "
                             "number; declare variables before their first use)") from None
        if not math.isfinite(v):
            raise self.error(f"number {tok.decode('utf-8', 'replace')!r} is not finite")
        return v

    def lookup(self, tok: bytes) -> int | None:
        """The encoded variable of an atom, or ``None`` when it is not a variable."""
        c = self.sym.get(tok)
        if c is None and self.v2 is not None:
            if b"[" in tok:
                return self._tensor_element(tok)
            if tok.decode("utf-8", "replace") in (self.v2["input"][0], self.v2["output"][0]):
                raise self.error(f"tensor {tok.decode()!r} is not a scalar: name an element, like {tok.decode()}[0]")
        return c

    def _tensor_element(self, tok: bytes) -> int | None:
        m = _INDEX.match(tok.decode("utf-8", "replace"))
        if not m:
            return None
        name, idx = m.group(1), m.group(2)
        for kind, (tname, shape) in (("input", self.v2["input"]), ("output", self.v2["output"])):
            if tname != name:
                continue
            try:
                ix = [int(t) for t in idx.replace(" ", "").split(",")] if idx.strip() else []
            except ValueError:
                raise self.error(f"bad tensor index {tok.decode()!r}") from None
            if len(ix) != len(shape) or any(i < 0 or i >= s for i, s in zip(ix, shape)):
                raise self.error(f"index {tok.decode()!r} out of range for {kind} {name} of shape "
                                 f"[{','.join(map(str, shape))}]")
            flat = 0
            for i, s in zip(ix, shape):
                flat = flat * s + i
            c = flat if kind == "input" else -(flat + 1)
            self.sym[tok] = c
            return c
        raise self.error(f"unknown tensor {name!r} in {tok.decode()!r}")

    # ------------------------------------------------------------------------------------------ rows
    def _row(self, coef: dict[int, float], b: float) -> None:
        for c, v in coef.items():
            if v != 0:
                self.indices.append(c)
                self.data.append(v)
        self.rhs.append(b)
        self.indptr.append(len(self.indices))

    def simple(self, op: bytes, a: bytes, b: bytes) -> None:
        """Rows of ``(op a b)`` with atoms ``a``, ``b``: the arithmetic of :meth:`comparison`, written out for a
        variable and a number, or two variables (the same floating-point results, row for row)."""
        if self.v2 is None:
            sym = self.sym
            ca = sym.get(a)
            if ca is not None and op[0] != 61 and b not in sym:      # the most common row: X_i <= c, X_i >= c
                try:
                    v = float(b)
                except ValueError:
                    v = self.number(b)
                if v - v == 0.0:                                        # finite
                    ind = self.indices
                    ind.append(ca)
                    if op[0] == 60:                                     # "<=", "<": a - v <= 0
                        self.data.append(1.0)
                        self.rhs.append(-(0.0 - v))
                    else:
                        self.data.append(-1.0)
                        self.rhs.append(0.0 - v)
                    self.indptr.append(len(ind))
                    return
            ca, cb = ca, sym.get(b)
        else:
            ca, cb = self.lookup(a), self.lookup(b)
        if (ca is None) == (cb is None):
            if ca is None:
                self.comparison(op.decode(), [a, b])
                return
            var, sign, v = ca, 1.0, 0.0
        elif ca is not None:
            var, sign, v = ca, 1.0, self.number(b)          # a - v (op) 0
        else:
            var, sign, v = cb, -1.0, self.number(a)         # v - b (op) 0
        ind, dat, rhs, ptr = self.indices, self.data, self.rhs, self.indptr
        const = (0.0 - v) if sign > 0 else (v - 0.0)       # the constant of lhs - rhs
        le = op == b"<=" or op == b"<"
        if le or op[0] == 61:                               # "=" and "==": both rows, <= first
            if cb is not None and ca is not None:
                if ca != cb:
                    ind.append(ca)
                    dat.append(1.0)
                    ind.append(cb)
                    dat.append(-1.0)
            else:
                ind.append(var)
                dat.append(sign)
            rhs.append(-const)
            ptr.append(len(ind))
        if not le:
            if cb is not None and ca is not None:
                if ca != cb:
                    ind.append(ca)
                    dat.append(-1.0)
                    ind.append(cb)
                    dat.append(1.0)
            else:
                ind.append(var)
                dat.append(-sign)
            rhs.append(const)
            ptr.append(len(ind))

    def comparison(self, op: str, items: list) -> None:
        """Rows of a comparison (chains allowed) between general terms."""
        if len(items) < 2:
            raise self.error(f"comparison needs two or more terms: {_show([op.encode(), *items])}")
        try:
            terms = [self.term(t) for t in items]
        except RecursionError:
            raise self.error("term nested too deeply") from None
        for (c1, k1), (c2, k2) in zip(terms[:-1], terms[1:]):
            coef = dict(c1)
            for c, v in c2.items():
                coef[c] = coef.get(c, 0.0) + (-1.0) * v     # lhs - rhs (op) 0
            const = k1 + (-1.0) * k2
            if op in ("<=", "<", "=", "=="):
                self._row(coef, -const)
            if op in (">=", ">", "=", "=="):
                self._row({c: -v for c, v in coef.items()}, const)

    def term(self, expr: object) -> tuple[dict[int, float], float]:
        """A linear term: ``({variable: coefficient}, constant)``."""
        if isinstance(expr, bytes):
            c = self.lookup(expr)
            if c is not None:
                return {c: 1.0}, 0.0
            return {}, self.number(expr)
        if not expr or not isinstance(expr[0], bytes):
            raise self.error(f"bad term {_show(expr)}")
        op, args = expr[0], [self.term(a) for a in expr[1:]]

        def add(x: tuple, y: tuple) -> tuple:
            coef = dict(x[0])
            for c, v in y[0].items():
                coef[c] = coef.get(c, 0.0) + v
            return coef, x[1] + y[1]

        def scale(x: tuple, s: float) -> tuple:
            return {c: v * s for c, v in x[0].items()}, x[1] * s

        def is_const(x: tuple) -> bool:
            return not any(v != 0 for v in x[0].values())

        if op == b"+" and args:
            out = args[0]
            for a in args[1:]:
                out = add(out, a)
            return out
        if op == b"-" and len(args) == 1:
            return scale(args[0], -1.0)
        if op == b"-" and args:
            out = args[0]
            for a in args[1:]:
                out = add(out, scale(a, -1.0))
            return out
        if op == b"*" and args:
            out = args[0]
            for a in args[1:]:
                if is_const(out):
                    out = scale(a, out[1])
                elif is_const(a):
                    out = scale(out, a[1])
                else:
                    raise self.error(f"nonlinear product in {_show(expr)}")
            return out
        if op == b"/" and len(args) == 2 and is_const(args[1]) and args[1][1] != 0:
            return scale(args[0], 1.0 / args[1][1])
        raise self.error(f"unsupported term {_show(expr)}")

    # ------------------------------------------------------------------------------------------ formula tree
    @property
    def n_rows(self) -> int:
        return len(self.rhs)

    def add_child(self, frame: list | None, child: object) -> None:
        """Add a finished formula (a row range ``(start, stop)`` or a node) to an ``and``/``or``/``assert`` frame
        (``None``: the top level)."""
        if frame is None:
            _and_add(self.top, child)
        elif frame[0] == _AND:
            _and_add(frame[1], child)
        elif frame[0] == _OR:
            _or_add(frame, child)
        elif frame[0] == _ASSERT:
            frame[1].append(child)
        else:
            raise self.error("a formula where a term is expected")

    def close_and(self, items: list) -> object:
        if not items:
            return (self.n_rows, self.n_rows)
        if len(items) == 1:
            return items[0]
        node = And(tuple(Conj(*c) if isinstance(c, tuple) else c for c in items))
        if node.depth > MAX_DEPTH:
            raise self.error(f"and/or nested more than {MAX_DEPTH} levels deep")
        return node

    def close_or(self, frame: list) -> object:
        _or_close_run(frame)
        items = frame[1]
        if len(items) == 1:
            return items[0]
        node = Or(tuple(Conj(*c) if isinstance(c, tuple) else c for c in items))
        if node.depth > MAX_DEPTH:
            raise self.error(f"and/or nested more than {MAX_DEPTH} levels deep")
        return node

    # ------------------------------------------------------------------------------------------ commands
    def command(self, name: bytes) -> list:
        text = name.decode("utf-8", "replace")
        self.commands += 1
        if text == "assert":
            return [_ASSERT, []]
        if text in ("declare-const", "declare-network", "vnnlib-version"):
            return [_DECL, [name]]
        if text in _SKIP:
            return [_SKIPF, 0]
        raise self.error(f"unsupported command {text!r}")

    def declaration(self, expr: list) -> None:
        head = expr[0].decode()
        if head == "vnnlib-version":
            self._version(expr)
        elif head == "declare-const":
            self._declare_const(expr)
        else:
            self._declare_network(expr)

    def _version(self, expr: list) -> None:
        text = expr[1].decode("utf-8", "replace") if len(expr) == 2 and isinstance(expr[1], bytes) else ""
        m = re.fullmatch(r"<(\d+)\.(\d+)>", text)
        if not m:
            raise self.error(f"bad version {_show(expr)}: expected (vnnlib-version <2.0>)")
        if self.commands != 1:
            raise self.error("(vnnlib-version ...) must be the first command of the file")
        if m.group(1) not in ("1", "2"):
            raise self.error(f"VNN-LIB version {m.group(1)}.{m.group(2)} is not supported (1.0 and 2.0 are)")
        self.version = f"{m.group(1)}.{m.group(2)}"

    def _declare_const(self, expr: list) -> None:
        if self.version.startswith("2"):
            raise self.error("declare-const is VNN-LIB 1.0; a 2.0 file declares tensors in declare-network")
        if len(expr) != 3 or not isinstance(expr[1], bytes):
            raise self.error(f"bad declaration {_show(expr)}")
        name = expr[1].decode("utf-8", "replace")
        m = _VAR1.match(name)
        if not m:
            raise self.error(f"declared variable {name!r}: only X_i (inputs) and Y_j (outputs) are supported")
        i = int(m.group(2))
        if m.group(1) == "X":
            self.inputs.add(i)
            self.sym[expr[1]] = i
        else:
            self.outputs.add(i)
            self.sym[expr[1]] = -(i + 1)

    def _declare_network(self, expr: list) -> None:
        if not self.version.startswith("2"):
            raise self.error("declare-network is VNN-LIB 2.0: the file needs a (vnnlib-version <2.0>) header")
        if self.v2 is not None:
            raise self.error("several networks in one query are not supported (mipnet verifies one network)")
        if len(expr) < 2 or not isinstance(expr[1], bytes):
            raise self.error(f"bad network declaration {_show(expr)}")
        decl = {"network": expr[1].decode(), "input": [], "output": []}
        for part in expr[2:]:
            if not isinstance(part, list) or not part or not isinstance(part[0], bytes):
                raise self.error(f"bad network declaration item {_show(part)}")
            kind = part[0].decode("utf-8", "replace")
            if kind in ("equal-to", "isomorphic-to"):
                raise self.error(f"({kind} ...) relates several networks: not supported")
            if kind == "declare-hidden":
                raise self.error("declare-hidden (constraints on hidden ONNX nodes) is not supported")
            if kind not in ("declare-input", "declare-output"):
                raise self.error(f"unsupported network declaration item {kind!r}")
            m = _TENSOR_DECL.fullmatch(b" ".join(part[1:]).decode("utf-8", "replace")) if all(
                isinstance(p, bytes) for p in part[1:]) else None
            if not m:
                raise self.error(f"bad tensor declaration {_show(part)}: expected ({kind} NAME TYPE [shape])")
            name, dtype, shape_text = m.group(1, 2, 3)
            if dtype not in _REAL_TYPES:
                raise self.error(f"tensor {name} of element type {dtype!r}: only real and floating-point tensors "
                                 "are supported (integer or boolean inputs would need integer variables)")
            try:
                shape = tuple(int(t) for t in shape_text.replace(" ", "").split(",")) if shape_text.strip() else ()
            except ValueError:
                raise self.error(f"bad tensor shape [{shape_text}] in {_show(part)}") from None
            if any(d <= 0 for d in shape):
                raise self.error(f"bad tensor shape [{shape_text}] in {_show(part)}")
            decl[kind[8:]].append((name, shape))
        if len(decl["input"]) != 1 or len(decl["output"]) != 1:
            raise self.error(f"network {decl['network']}: exactly one declare-input and one declare-output are "
                             f"supported, got {len(decl['input'])} and {len(decl['output'])}")
        (xn, xs), (yn, ys) = decl["input"][0], decl["output"][0]
        if xn == yn:
            raise self.error(f"input and output tensors share the name {xn!r}")
        self.v2 = {"network": decl["network"], "input": (xn, xs), "output": (yn, ys)}
        if xs == ():
            self.sym[xn.encode()] = 0
        if ys == ():
            self.sym[yn.encode()] = -1

    # ------------------------------------------------------------------------------------------ tokens
    def feed(self, buf: bytes) -> None:
        """Read one chunk (it must end at a line end, or be the end of the text)."""
        self._buf = buf
        stack, top_items, rhs = self.stack, self.top, self.rhs
        simple = self.simple
        for m in _TOKEN.finditer(buf):
            li = m.lastindex
            if li == 6:                                       # (op a b)
                f = stack[-1] if stack else None
                if f is not None and f[0] == _AND:
                    s = len(rhs)
                    self._pos = m.start()
                    simple(m.group(4), m.group(5), m.group(6))
                    items = f[1]
                    if items and type(items[-1]) is tuple and items[-1][1] == s:
                        items[-1] = (items[-1][0], len(rhs))
                    else:
                        _and_add(items, (s, len(rhs)))
                else:
                    self._pos = m.start()
                    self._simple_in(f, m)
            elif li == 3:                                     # (assert (op a b))
                self._pos = m.start()
                if stack:
                    self._assert_in(stack[-1], m)
                    continue
                s = len(rhs)
                simple(m.group(1), m.group(2), m.group(3))
                if top_items and type(top_items[-1]) is tuple and top_items[-1][1] == s:
                    top_items[-1] = (top_items[-1][0], len(rhs))
                else:
                    _and_add(top_items, (s, len(rhs)))
                self.commands += 1
            elif li == 9:
                self._pos = m.start()
                self._open(stack)
            elif li == 10:
                self._pos = m.start()
                self._close(stack)
            elif li == 12:
                self._pos = m.start()
                self._atom(stack, m.group(12))
            elif li == 8:                                     # (declare-const name type)
                self._pos = m.start()
                expr = [b"declare-const", m.group(7), m.group(8)]
                if stack:
                    self._raw_in(stack[-1], expr, "declare-const")
                else:
                    self.commands += 1
                    self._declare_const(expr)
            elif li == 13:
                self._pos = m.start()
                raise self.error(f"unexpected character {m.group(13).decode('utf-8', 'replace')!r}")
        self.line += buf.count(b"\n")
        self._buf, self._pos = b"", 0

    def _simple_in(self, f: list | None, m: re.Match) -> None:
        """``(op a b)`` read in frame ``f`` (not an ``and``)."""
        if f is not None and f[0] in (_OR, _ASSERT):
            s = len(self.rhs)
            self.simple(m.group(4), m.group(5), m.group(6))
            self.add_child(f, (s, len(self.rhs)))
        elif f is None:
            raise self.error(f"unexpected top-level item {m.group(0).decode('utf-8', 'replace')!r}")
        elif f[0] == _HEAD:
            raise self.error("expected a command name after '('")
        else:
            self._raw_in(f, [m.group(4), m.group(5), m.group(6)], "a comparison")

    def _assert_in(self, f: list, m: re.Match) -> None:
        """``(assert (op a b))`` read inside another expression."""
        if f[0] in (_AND, _OR, _ASSERT, _FHEAD):
            raise self.error("assert inside a formula: assert is a top-level command")
        self._raw_in(f, [b"assert", [m.group(1), m.group(2), m.group(3)]], "assert")

    def _raw_in(self, f: list, expr: list, what: str) -> None:
        """A parsed expression inside a frame that collects raw expressions (or skips them)."""
        if f[0] == _SKIPF:
            return
        if f[0] in (_CMPF, _LIST, _DECL):
            f[-1].append(expr)
        elif f[0] == _HEAD:
            raise self.error("expected a command name after '('")
        elif f[0] == _FHEAD:
            raise self.error(f"bad formula: {_show(expr)} where an operator is expected")
        else:
            raise self.error(f"{what} where a formula is expected: {_show(expr)}")

    def _open(self, stack: list) -> None:
        if not stack:
            stack.append([_HEAD])
            return
        kind = stack[-1][0]
        if kind in (_ASSERT, _AND, _OR):
            if len(stack) > 4 * MAX_DEPTH:
                raise self.error(f"formula nested more than {4 * MAX_DEPTH} levels deep")
            stack.append([_FHEAD])
        elif kind in (_CMPF, _LIST, _DECL):
            if len(stack) > 10_000:
                raise self.error("term nested too deeply")
            stack.append([_LIST, []])
        elif kind == _SKIPF:
            stack[-1][1] += 1
        elif kind == _HEAD:
            raise self.error("expected a command name after '('")
        else:
            raise self.error("bad formula: '(' where an operator (and, or, <=, ...) is expected")

    def _open_formula(self, stack: list, op: bytes) -> None:
        """The head of a formula frame was read: ``and``, ``or`` or a comparison."""
        text = op.decode("utf-8", "replace")
        if text == "and":
            stack[-1] = [_AND, []]
        elif text == "or":
            stack[-1] = [_OR, [], None]
        elif text in _CMP_OPS:
            stack[-1] = [_CMPF, text, []]
        else:
            raise self.error(f"unsupported formula operator {text!r} (supported: and, or, <=, >=, <, >, =)")

    def _atom(self, stack: list, tok: bytes) -> None:
        if not stack:
            raise self.error(f"unexpected top-level item {tok.decode('utf-8', 'replace')!r}")
        f = stack[-1]
        kind = f[0]
        if kind in (_CMPF, _LIST, _DECL):
            f[-1].append(tok)
        elif kind == _HEAD:
            stack[-1] = self.command(tok)
        elif kind == _FHEAD:
            self._open_formula(stack, tok)
        elif kind == _SKIPF:
            return
        else:
            raise self.error(f"bad formula {tok.decode('utf-8', 'replace')!r}")

    def _close(self, stack: list) -> None:
        if not stack:
            raise self.error("unbalanced ')' in VNN-LIB text")
        f = stack[-1]
        kind = f[0]
        if kind == _SKIPF and f[1] > 0:
            f[1] -= 1
            return
        stack.pop()
        parent = stack[-1] if stack else None
        if kind == _LIST:
            parent[-1].append(f[1])
        elif kind == _CMPF:
            s = len(self.rhs)
            self.comparison(f[1], f[2])
            self.add_child(parent, (s, len(self.rhs)))
        elif kind == _AND:
            self.add_child(parent, self.close_and(f[1]))
        elif kind == _OR:
            self.add_child(parent, self.close_or(f))
        elif kind == _ASSERT:
            if len(f[1]) != 1:
                raise self.error(f"assert takes one formula, got {len(f[1])}")
            _and_add(self.top, f[1][0])
        elif kind == _DECL:
            self.declaration(f[1])
        elif kind == _HEAD:
            raise self.error("empty command ()")
        elif kind == _FHEAD:
            raise self.error("bad formula ()")

    # ------------------------------------------------------------------------------------------ result
    def finish(self, n_inputs: int | None, n_outputs: int | None) -> tuple[RowStore, object, dict]:
        """The row store, the formula tree and facts about the file (``version``, tensor shapes)."""
        if self.stack:
            raise FormatError(f"unbalanced '(' in VNN-LIB text: missing ')' at the end (line {self.line})")
        if self.v2 is not None:
            xs, ys = self.v2["input"][1], self.v2["output"][1]
            n_x, n_y = math.prod(xs), math.prod(ys)
            info = {"version": self.version, "network": self.v2["network"], "input_shape": xs, "output_shape": ys}
        else:
            if self.version.startswith("2"):
                raise FormatError("a VNN-LIB 2.0 file needs a (declare-network ...)")
            for name, d in (("X", self.inputs), ("Y", self.outputs)):
                if d and (min(d) != 0 or max(d) != len(d) - 1):
                    missing = sorted(set(range(max(d) + 1)) - d)
                    raise FormatError(f"the {name}_i declarations must be numbered 0..n-1: {len(d)} declared, up to "
                                      f"{name}_{max(d)}, missing {', '.join(f'{name}_{k}' for k in missing[:5])}"
                                      f"{' ...' if len(missing) > 5 else ''}")
            n_x, n_y = len(self.inputs), len(self.outputs)
            info = {"version": self.version}
        if n_inputs is not None and n_x != n_inputs:
            raise FormatError(f"the property declares {n_x} inputs X_i, the network has {n_inputs}")
        if n_outputs is not None and n_y != n_outputs:
            raise FormatError(f"the property declares {n_y} outputs Y_j, the network has {n_outputs}")
        enc = np.frombuffer(self.indices, dtype=np.int64) if len(self.indices) else np.zeros(0, dtype=np.int64)
        cols = np.where(enc >= 0, enc, n_x - 1 - enc)
        self.indices = array("q")
        indptr = np.frombuffer(self.indptr, dtype=np.int64).copy()
        data = np.frombuffer(self.data, dtype=np.float64).copy() if len(self.data) else np.zeros(0)
        rhs = np.frombuffer(self.rhs, dtype=np.float64).copy() if len(self.rhs) else np.zeros(0)
        self.indptr, self.data, self.rhs = array("q"), array("d"), array("d")
        store = RowStore(indptr, cols, data, rhs, n_x, n_x + n_y)
        root = self.close_and(self.top)
        if isinstance(root, tuple):
            root = Conj(*root)
        return store, root, info


def _and_add(items: list, child: object) -> None:
    if isinstance(child, tuple):
        if items and isinstance(items[-1], tuple) and items[-1][1] == child[0]:
            items[-1] = (items[-1][0], child[1])
        else:
            items.append(child)
    elif isinstance(child, And):
        for c in child.children:
            _and_add(items, (c.start, c.stop) if isinstance(c, Conj) else c)
    else:
        items.append(child)


def _or_close_run(frame: list) -> None:
    run = frame[2]
    if run is not None:
        frame[1].append((run[0], run[1]) if len(run) == 2 else Terms(np.frombuffer(run, dtype=np.int64).copy()))
        frame[2] = None


def _or_add(frame: list, child: object) -> None:
    run = frame[2]
    if isinstance(child, tuple):
        if run is not None and run[-1] == child[0]:
            run.append(child[1])
        else:
            _or_close_run(frame)
            frame[2] = array("q", child)
    elif isinstance(child, Terms):
        if run is not None and run[-1] == child.bounds[0]:
            run.extend(child.bounds[1:].tolist())
        else:
            _or_close_run(frame)
            frame[2] = array("q", child.bounds.tolist())
    elif isinstance(child, Or):
        for c in child.children:
            _or_add(frame, (c.start, c.stop) if isinstance(c, Conj) else c)
    else:
        _or_close_run(frame)
        frame[1].append(child)


def read_chunks(fh, chunk: int = CHUNK):
    """Chunks of a binary file object, each ending at a line end (or at the end of the file)."""
    tail = b""
    while True:
        block = fh.read(chunk)
        if not block:
            if tail:
                yield tail
            return
        buf = tail + block if tail else block
        cut = buf.rfind(b"\n") + 1
        if cut == 0:
            tail = buf
            continue
        yield buf[:cut] if cut < len(buf) else buf
        tail = buf[cut:]
