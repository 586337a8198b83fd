"""VNN-LIB property files: the *unsafe* region of a verification query.

Supported, VNN-LIB 1.0: ``(declare-const X_i Real)`` inputs and ``(declare-const Y_j Real)`` outputs;
``(assert ...)`` of linear comparisons ``<=``, ``>=``, ``<``, ``>``, ``=`` (chains allowed) between terms built from
variables and numbers with ``+``, ``-`` (unary and n-ary), ``*`` and ``/`` by constants (nested freely); ``and`` /
``or`` nested freely. VNN-LIB 2.0 (a ``(vnnlib-version <2.0>)`` header): one ``(declare-network N (declare-input X
TYPE [shape]) (declare-output Y TYPE [shape]))`` with real or floating-point element types, elements ``X[i,j]``
flattened in C order to the network's inputs and outputs, ``==`` for equality. Files may be gzip-compressed.

All asserts together are the conjunction that describes the unsafe region. Its disjunctive normal form is a
sequence of :class:`Disjunct`, each a conjunction of linear constraints ``A @ [x; y] <= b``. Strict comparisons are
treated as non-strict (as in VNN-COMP). The property *holds* when every disjunct is infeasible for the network.

The DNF is never expanded in memory. Rows are stored once, sparse (:mod:`mipnet.io.vnnlib_tree`); an input box
conjoined with a disjunction of output conditions, or a top-level ``or`` of box-and-output terms, is kept as it is
written; :attr:`Property.disjuncts` is a lazy sequence that builds each :class:`Disjunct` when it is asked for.
Memory is linear in the file, whatever the number of disjuncts.
"""

from __future__ import annotations

import gzip
import sys
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from mipnet.errors import FormatError
from mipnet.io.vnnlib_parse import Reader, read_chunks
from mipnet.io.vnnlib_tree import (
    And,
    Conj,
    Leaf,
    Or,
    RowStore,
    Terms,
    get_parts,
    iter_parts,
    node_holds,
    row_ok,
    store_from_rows,
)


class Disjunct:
    """One conjunction of linear constraints ``A @ concat(x, y) <= b`` with ``x`` inputs and ``y`` outputs.

    Parameters
    ----------
    A : ndarray or scipy sparse matrix, shape (m, n_inputs + n_outputs)
    b : ndarray, shape (m,)
    n_inputs : int

    Notes
    -----
    The rows are kept sparse and, for disjuncts of a parsed file, shared with the other disjuncts that contain them.
    :attr:`A` is built dense when asked for (as code written for dense rows expects); :attr:`A_sparse` is the same
    matrix as a ``scipy.sparse.csr_array``, the one to use for disjuncts over many inputs (a box over 3,072 inputs
    is 6,144 rows). :meth:`other_rows` is dense (the rows that are not simple input bounds, few in practice).
    """

    __slots__ = ("_parts", "n_inputs", "n_cols", "_csr", "_A", "_A_sparse")

    def __init__(self, A: object, b: np.ndarray, n_inputs: int) -> None:
        b = np.asarray(b, dtype=float).reshape(-1)
        if hasattr(A, "tocsr"):
            csr = A.tocsr().copy()
            csr.sum_duplicates()
            csr.eliminate_zeros()
            shape, ptr, ind, dat = csr.shape, csr.indptr, csr.indices, csr.data
        else:
            dense = np.asarray(A, dtype=float)
            if dense.ndim != 2:
                raise FormatError(f"Disjunct: A must be a matrix (2-D), got shape {dense.shape}")
            shape = dense.shape
            rows, ind = np.nonzero(dense)
            dat = dense[rows, ind]
            ptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=len(b)))])
        if shape[0] != len(b):
            raise FormatError(f"Disjunct: A has {shape[0]} rows, b has {len(b)} entries")
        if not 0 <= n_inputs <= shape[1]:
            raise FormatError(f"Disjunct: n_inputs {n_inputs} does not fit A with {shape[1]} columns")
        store = store_from_rows(ptr, ind, dat, b, int(n_inputs), int(shape[1]))
        self._init(((store, 0, len(b)),), int(n_inputs), int(shape[1]))

    def _init(self, parts: tuple, n_inputs: int, n_cols: int) -> Disjunct:
        self._parts, self.n_inputs, self.n_cols = parts, n_inputs, n_cols
        self._csr = self._A = self._A_sparse = None
        return self

    @classmethod
    def _from_parts(cls, parts: tuple, n_inputs: int, n_cols: int) -> Disjunct:
        return cls.__new__(cls)._init(parts, n_inputs, n_cols)

    def __repr__(self) -> str:
        return f"Disjunct({self.n_rows} rows over {self.n_inputs} inputs and {self.n_cols - self.n_inputs} outputs)"

    # ----------------------------------------------------------------------------------------- rows
    def _rows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(indptr, indices, data, b) of all rows, concatenated over the parts (cached)."""
        if self._csr is None:
            if not self._parts:
                z = np.zeros(0)
                self._csr = (np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int64), z, z)
            elif len(self._parts) == 1:
                st, s, e = self._parts[0]
                lo, hi = st.indptr[s], st.indptr[e]
                self._csr = (st.indptr[s:e + 1] - lo, st.indices[lo:hi], st.data[lo:hi], st.rhs[s:e])
            else:
                ptrs, inds, dats, rhss, off = [np.zeros(1, dtype=np.int64)], [], [], [], 0
                for st, s, e in self._parts:
                    lo, hi = st.indptr[s], st.indptr[e]
                    ptrs.append(st.indptr[s + 1:e + 1] - lo + off)
                    off += hi - lo
                    inds.append(st.indices[lo:hi])
                    dats.append(st.data[lo:hi])
                    rhss.append(st.rhs[s:e])
                self._csr = (np.concatenate(ptrs), np.concatenate(inds), np.concatenate(dats), np.concatenate(rhss))
        return self._csr

    @property
    def n_rows(self) -> int:
        """Number of rows."""
        return sum(e - s for _, s, e in self._parts)

    @property
    def A(self) -> np.ndarray:
        """The rows as a dense array of shape ``(n_rows, n_inputs + n_outputs)`` (built on first use; see
        :attr:`A_sparse` for large disjuncts)."""
        if self._A is None:
            ptr, ind, dat, _ = self._rows()
            A = np.zeros((len(ptr) - 1, self.n_cols))
            A[np.repeat(np.arange(len(ptr) - 1), np.diff(ptr)), ind] = dat
            self._A = A
        return self._A

    @property
    def A_sparse(self):  # noqa: ANN201 - scipy.sparse.csr_array, imported lazily
        """The rows as a ``scipy.sparse.csr_array`` of shape ``(n_rows, n_inputs + n_outputs)``."""
        if self._A_sparse is None:
            from scipy.sparse import csr_array

            ptr, ind, dat, _ = self._rows()
            self._A_sparse = csr_array((dat, ind, ptr), shape=(len(ptr) - 1, self.n_cols))
        return self._A_sparse

    @property
    def b(self) -> np.ndarray:
        """Right-hand sides, one per row of :attr:`A`."""
        return self._rows()[3]

    def _row_values(self, v: np.ndarray) -> np.ndarray:
        ptr, ind, dat, _ = self._rows()
        rows = np.repeat(np.arange(len(ptr) - 1), np.diff(ptr))
        return np.bincount(rows, weights=dat * v[ind], minlength=len(ptr) - 1)

    @property
    def input_rows(self) -> np.ndarray:
        """Mask of rows that involve inputs only."""
        return ~np.concatenate([st.has_output[s:e] for st, s, e in self._parts]) if self._parts else np.zeros(
            0, dtype=bool)

    def _single(self) -> np.ndarray:
        return np.concatenate([st.single[s:e] for st, s, e in self._parts]) if self._parts else np.zeros(
            0, dtype=bool)

    def box(self) -> tuple[np.ndarray, np.ndarray]:
        """The input box implied by single-variable input rows (``±inf`` where unbounded)."""
        lo, hi = np.full(self.n_inputs, -np.inf), np.full(self.n_inputs, np.inf)
        for st, s, e in self._parts:
            plo, phi = st.box_of(s, e)
            np.maximum(lo, plo, out=lo)
            np.minimum(hi, phi, out=hi)
        return lo, hi

    def other_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """Rows that are not simple input bounds (multi-variable input rows and every row with outputs), dense."""
        ptr, ind, dat, b = self._rows()
        keep = np.flatnonzero(~self._single())
        M = np.zeros((len(keep), self.n_cols))
        counts = np.diff(ptr)[keep]
        rows = np.repeat(np.arange(len(keep)), counts)
        first = np.concatenate([[0], np.cumsum(counts)[:-1]]) if len(keep) else np.zeros(0, dtype=np.int64)
        pos = np.repeat(ptr[keep] - first, counts) + np.arange(int(counts.sum()))
        M[rows, ind[pos]] = dat[pos]
        return M, b[keep]

    def holds_at(self, x: np.ndarray, y: np.ndarray, tol: float = 0.0) -> bool:
        """Whether the point ``(x, y)`` lies in this (unsafe) region, up to ``tol``."""
        v = np.concatenate([np.ravel(x), np.ravel(y)]).astype(float)
        return bool(np.all(self._row_values(v) <= self.b + tol))

    def slack(self, x: np.ndarray, y: np.ndarray) -> float:
        """``min(b - A v)``: positive strictly inside the region, negative outside."""
        v = np.concatenate([np.ravel(x), np.ravel(y)]).astype(float)
        b = self.b
        return float(np.min(b - self._row_values(v))) if len(b) else np.inf


class DisjunctSequence(Sequence):
    """The disjuncts of a :class:`Property`, built one at a time when asked for (indexing, slicing, iteration)."""

    def __init__(self, prop: Property) -> None:
        self._prop = prop

    def __len__(self) -> int:
        n = self._prop.n_disjuncts
        if n > sys.maxsize:
            raise FormatError(f"the property's disjunctive normal form has {n} disjuncts, too many to count with "
                              "len(); iterate over them, or use Property.n_disjuncts")
        return n

    def __getitem__(self, k: int | slice) -> Disjunct | list[Disjunct]:
        n = self._prop.n_disjuncts
        if isinstance(k, slice):
            return [self[i] for i in range(*k.indices(n))]
        k = int(k)
        if k < 0:
            k += n
        if not 0 <= k < n:
            raise IndexError(f"disjunct {k} of {n}")
        p = self._prop
        return Disjunct._from_parts(get_parts(p._root, p._store, k), p.n_inputs, p.n_inputs + p.n_outputs)

    def __iter__(self) -> Iterator[Disjunct]:
        p = self._prop
        n_cols = p.n_inputs + p.n_outputs
        for parts in iter_parts(p._root, p._store):
            yield Disjunct._from_parts(parts, p.n_inputs, n_cols)

    def __repr__(self) -> str:
        return f"<{self._prop.n_disjuncts} disjuncts>"


class DisjunctGroup:
    """Disjuncts that share a common part: the top-level alternatives of a property (see :meth:`Property.groups`).

    Attributes
    ----------
    start : int
        Index of the group's first disjunct in :attr:`Property.disjuncts`.
    n_disjuncts : int
    """

    def __init__(self, prop: Property, node: object, start: int) -> None:
        self._prop, self._node, self.start = prop, node, start
        self.n_disjuncts = node.count

    def box(self) -> tuple[np.ndarray, np.ndarray]:
        """The input box of the rows every disjunct of the group contains (each disjunct's box lies inside it)."""
        p, node = self._prop, self._node
        if isinstance(node, Leaf):
            parts = node.parts
        elif isinstance(node, Conj):
            parts = ((p._store, node.start, node.stop),)
        elif isinstance(node, And):
            parts = tuple((p._store, c.start, c.stop) for c in node.children if isinstance(c, Conj))
        else:
            parts = ()
        return Disjunct._from_parts(parts, p.n_inputs, p.n_inputs + p.n_outputs).box()

    def __iter__(self) -> Iterator[Disjunct]:
        p = self._prop
        for parts in iter_parts(self._node, p._store):
            yield Disjunct._from_parts(parts, p.n_inputs, p.n_inputs + p.n_outputs)

    def __repr__(self) -> str:
        return f"DisjunctGroup(start={self.start}, n_disjuncts={self.n_disjuncts})"


class Property:
    """A parsed VNN-LIB file: the unsafe region as a disjunction of :class:`Disjunct`.

    Parameters
    ----------
    n_inputs, n_outputs : int
    disjuncts : list of Disjunct, optional
        The region as given disjuncts (the file reader builds a factored form instead).
    source : str
        Where it was read from.

    Attributes
    ----------
    disjuncts : DisjunctSequence
        Lazy: ``len()``, indexing and iteration build each :class:`Disjunct` when needed.
    n_disjuncts : int
        The exact number of disjuncts (a Python int; may exceed what ``len()`` can return).
    version : str
        ``"1.0"`` or ``"2.0"`` (the file's VNN-LIB version).
    input_shape, output_shape : tuple or None
        Tensor shapes declared by a VNN-LIB 2.0 file.
    """

    def __init__(self, n_inputs: int, n_outputs: int, disjuncts: list[Disjunct] | None = None,
                 source: str = "") -> None:
        self.n_inputs, self.n_outputs, self.source = int(n_inputs), int(n_outputs), source
        self.version, self.input_shape, self.output_shape = "1.0", None, None
        self._store: RowStore | None = None
        items = []
        for d in disjuncts or []:
            if d.n_inputs != self.n_inputs or d.n_cols != self.n_inputs + self.n_outputs:
                raise FormatError(f"a disjunct over {d.n_inputs} inputs and {d.n_cols - d.n_inputs} outputs in a "
                                  f"property over {self.n_inputs} and {self.n_outputs}")
            items.append(Leaf(d._parts))
        self._root: object = Or(tuple(items))

    @classmethod
    def _from_tree(cls, store: RowStore, root: object, info: dict, source: str = "") -> Property:
        p = cls(store.n_inputs, store.n_cols - store.n_inputs, None, source)
        p._store, p._root = store, root
        p.version = info.get("version", "1.0")
        p.input_shape, p.output_shape = info.get("input_shape"), info.get("output_shape")
        return p

    @property
    def disjuncts(self) -> DisjunctSequence:
        """The disjuncts, built lazily (see :class:`DisjunctSequence`)."""
        return DisjunctSequence(self)

    @property
    def n_disjuncts(self) -> int:
        """The exact number of disjuncts of the DNF (never expanded to count it)."""
        return self._root.count

    def groups(self) -> Iterator[DisjunctGroup]:
        """The top-level alternatives: for a top-level ``or``, each of its operands (a term of box-and-output rows is
        a group of one disjunct); otherwise the whole property is one group. Disjuncts of a group share the rows of
        its :meth:`DisjunctGroup.box` (stored once)."""
        root, start = self._root, 0
        alternatives = root.children if isinstance(root, Or) else (root,)
        for node in alternatives:
            if isinstance(node, Terms):
                for k in range(node.count):
                    yield DisjunctGroup(self, Conj(int(node.bounds[k]), int(node.bounds[k + 1])), start)
                    start += 1
            else:
                yield DisjunctGroup(self, node, start)
                start += node.count

    def contains(self, x: np.ndarray, y: np.ndarray, tol: float = 0.0) -> bool:
        """Whether ``(x, y)`` lies in the unsafe region (some disjunct holds); linear in the file, not in the number
        of disjuncts."""
        v = np.concatenate([np.ravel(x), np.ravel(y)]).astype(float)
        ok = row_ok(self._store, v, tol) if self._store is not None else None

        def leaf(parts: tuple) -> bool:
            return Disjunct._from_parts(parts, self.n_inputs, self.n_inputs + self.n_outputs).holds_at(x, y, tol)

        return node_holds(self._root, self._store, ok, leaf)

    def __repr__(self) -> str:
        return (f"Property({self.n_inputs} inputs, {self.n_outputs} outputs, {self.n_disjuncts} disjuncts, "
                f"VNN-LIB {self.version}{', ' + self.source if self.source else ''})")


# ------------------------------------------------------------------------------------------------ reading
def _read(chunks: Iterator[bytes], n_inputs: int | None, n_outputs: int | None, source: str = "") -> Property:
    reader = Reader()
    for chunk in chunks:
        reader.feed(chunk)
    store, root, info = reader.finish(n_inputs, n_outputs)
    return Property._from_tree(store, root, info, source)


def parse_vnnlib(text: str | bytes, n_inputs: int | None = None, n_outputs: int | None = None) -> Property:
    """Parse VNN-LIB text into a :class:`Property`.

    Parameters
    ----------
    text : str or bytes
        The file's content (VNN-LIB 1.0, or 2.0 with a ``(vnnlib-version <2.0>)`` header).
    n_inputs, n_outputs : int, optional
        When given, the declared variable counts must match (the network's sizes).

    Returns
    -------
    Property

    Raises
    ------
    FormatError
        For malformed or unsupported text; the message names the line.
    """
    data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    return _read(iter([data]), n_inputs, n_outputs)


def load_vnnlib(path: str | Path, n_inputs: int | None = None, n_outputs: int | None = None) -> Property:
    """Read and parse a ``.vnnlib`` file, plain or gzip-compressed (see :func:`parse_vnnlib`).

    The file is read in chunks of a few MB: memory stays linear in the number of constraints, and the DNF is kept
    factored (:class:`Property`).
    """
    path = Path(path)
    with open(path, "rb") as raw:
        gz = raw.read(2) == b"\x1f\x8b"
    try:
        with (gzip.open(path, "rb") if gz else open(path, "rb")) as fh:
            prop = _read(read_chunks(fh), n_inputs, n_outputs, str(path))
    except FormatError as exc:
        raise FormatError(f"{path}: {exc}") from None
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise FormatError(f"{path}: damaged gzip file ({exc})") from None
    return prop
