"""The factored form of a VNN-LIB property: sparse rows in one store, and a small and/or tree over row ranges.

A parsed property is never expanded into disjunctive normal form. Every comparison of the file becomes one or two
rows ``a @ [x; y] <= b`` appended, in the order of the file, to a :class:`RowStore` (compressed sparse rows). The
formula becomes a tree whose leaves are contiguous row ranges:

- :class:`Conj` ``[start, stop)``: the conjunction of those rows (one disjunct);
- :class:`Terms` ``bounds``: the disjunction of the conjunctions ``[bounds[k], bounds[k+1])`` (one disjunct per
  term; a top-level ``or`` of 10,000 box-and-output terms is one :class:`Terms` of 10,001 integers);
- :class:`And` and :class:`Or` over subtrees.

The disjuncts are the DNF of the tree, enumerated lazily (:func:`iter_parts`) or by index (:func:`get_parts`) in
the order a full expansion would list them: ``or`` concatenates, ``and`` takes the product with its first operand
varying slowest. A disjunct is a tuple of *parts* ``(store, start, stop)``; its rows are the concatenation of those
ranges (shared with every other disjunct that uses them, never copied at parse time).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

MAX_DEPTH = 200     # and/or alternations (nested and-in-and and or-in-or are flattened and do not count)


@dataclass(eq=False)
class RowStore:
    """Rows ``a @ v <= b`` over ``v = [x; y]`` in compressed sparse row form (no explicit zeros, no repeated column
    within a row).

    Attributes
    ----------
    indptr : ndarray of int64, shape (n_rows + 1,)
    indices : ndarray of int64, shape (nnz,)
        Column of each coefficient: ``0 .. n_inputs - 1`` for inputs, ``n_inputs ..`` for outputs.
    data : ndarray of float64, shape (nnz,)
    rhs : ndarray of float64, shape (n_rows,)
    n_inputs, n_cols : int
    """

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    rhs: np.ndarray
    n_inputs: int
    n_cols: int
    _single: np.ndarray | None = field(default=None, repr=False)
    _outputs: np.ndarray | None = field(default=None, repr=False)
    _boxes: OrderedDict = field(default_factory=OrderedDict, repr=False)

    @property
    def n_rows(self) -> int:
        return len(self.rhs)

    @property
    def single(self) -> np.ndarray:
        """Mask of the rows with exactly one coefficient, on an input (the box rows)."""
        if self._single is None:
            nnz = np.diff(self.indptr)
            first = self.indices[np.minimum(self.indptr[:-1], max(len(self.indices) - 1, 0))] if len(
                self.indices) else np.zeros(self.n_rows, dtype=np.int64)
            self._single = (nnz == 1) & (first < self.n_inputs)
        return self._single

    @property
    def has_output(self) -> np.ndarray:
        """Mask of the rows with a coefficient on an output."""
        if self._outputs is None:
            rows = np.repeat(np.arange(self.n_rows), np.diff(self.indptr))
            out = np.zeros(self.n_rows, dtype=bool)
            out[rows[self.indices >= self.n_inputs]] = True
            self._outputs = out
        return self._outputs

    def row_values(self, v: np.ndarray, start: int = 0, stop: int | None = None) -> np.ndarray:
        """``a_r @ v`` for the rows ``start .. stop - 1`` (float64, coefficients summed in column order of the
        file)."""
        stop = self.n_rows if stop is None else stop
        lo, hi = int(self.indptr[start]), int(self.indptr[stop])
        counts = np.diff(self.indptr[start:stop + 1])
        rows = np.repeat(np.arange(stop - start), counts)
        return np.bincount(rows, weights=self.data[lo:hi] * v[self.indices[lo:hi]], minlength=stop - start)

    def box_of(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """The input box implied by the single-input rows among ``start .. stop - 1`` (``±inf`` where unbounded).
        Cached for the last few ranges asked for; the arrays returned are shared: copy before changing them."""
        key = (start, stop)
        box = self._boxes.get(key)
        if box is None:
            box = self._boxes[key] = self._box(start, stop)
            if len(self._boxes) > 16:
                self._boxes.popitem(last=False)
        return box

    def _box(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        n = self.n_inputs
        lo, hi = np.full(n, -np.inf), np.full(n, np.inf)
        rows = start + np.flatnonzero(self.single[start:stop])
        if len(rows):
            k = self.indptr[rows]
            j, c = self.indices[k], self.data[k]
            val = self.rhs[rows] / c
            up = c > 0
            np.minimum.at(hi, j[up], val[up])
            np.maximum.at(lo, j[~up], val[~up])
        lo.flags.writeable = False
        hi.flags.writeable = False
        return lo, hi


def store_from_rows(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, rhs: np.ndarray, n_inputs: int,
                    n_cols: int) -> RowStore:
    """A :class:`RowStore` from CSR arrays (copied to int64 / float64)."""
    return RowStore(np.asarray(indptr, dtype=np.int64), np.asarray(indices, dtype=np.int64),
                    np.asarray(data, dtype=np.float64), np.asarray(rhs, dtype=np.float64), n_inputs, n_cols)


# ------------------------------------------------------------------------------------------------ tree
class Conj:
    """The conjunction of the rows ``[start, stop)`` of the store."""

    __slots__ = ("start", "stop")
    count = 1
    depth = 0

    def __init__(self, start: int, stop: int) -> None:
        self.start, self.stop = start, stop


class Terms:
    """The disjunction of the conjunctions ``[bounds[k], bounds[k+1])``."""

    __slots__ = ("bounds", "count")
    depth = 0

    def __init__(self, bounds: np.ndarray) -> None:
        self.bounds = bounds
        self.count = len(bounds) - 1


class And:
    """The conjunction of subtrees: its disjuncts are the product of theirs."""

    __slots__ = ("children", "count", "depth")

    def __init__(self, children: tuple) -> None:
        self.children = children
        count = 1
        for c in children:
            count *= c.count
        self.count = count
        self.depth = 1 + max((c.depth for c in children), default=0)


class Or:
    """The disjunction of subtrees: its disjuncts are theirs, in order."""

    __slots__ = ("children", "count", "depth", "cum")

    def __init__(self, children: tuple) -> None:
        self.children = children
        self.cum = [0]
        for c in children:
            self.cum.append(self.cum[-1] + c.count)
        self.count = self.cum[-1]
        self.depth = 1 + max((c.depth for c in children), default=0)


class Leaf:
    """A disjunct given as such (``Property(..., disjuncts=[...])``): its own parts, possibly in its own store."""

    __slots__ = ("parts",)
    count = 1
    depth = 0

    def __init__(self, parts: tuple) -> None:
        self.parts = parts


def iter_parts(node: object, store: RowStore | None):
    """Every disjunct of ``node`` as a tuple of parts ``(store, start, stop)``, in DNF order, lazily."""
    if isinstance(node, Conj):
        yield ((store, node.start, node.stop),)
    elif isinstance(node, Terms):
        b = node.bounds.tolist() if node.count < 4096 else node.bounds
        for k in range(node.count):
            yield ((store, int(b[k]), int(b[k + 1])),)
    elif isinstance(node, Leaf):
        yield node.parts
    elif isinstance(node, Or):
        for c in node.children:
            yield from iter_parts(c, store)
    else:
        yield from _product(node.children, store)


def _product(children: tuple, store: RowStore | None):
    """The product of the children's disjuncts (the last child varying fastest), without recursion over the
    children."""
    iters, heads = [], []
    for c in children:
        it = iter_parts(c, store)
        h = next(it, None)
        if h is None:
            return
        iters.append(it)
        heads.append(h)
    while True:
        yield tuple(p for h in heads for p in h)
        i = len(children) - 1
        while i >= 0:
            h = next(iters[i], None)
            if h is not None:
                heads[i] = h
                break
            iters[i] = iter_parts(children[i], store)
            heads[i] = next(iters[i])
            i -= 1
        if i < 0:
            return


def get_parts(node: object, store: RowStore | None, k: int) -> tuple:
    """Disjunct ``k`` (``0 <= k < node.count``) of ``node`` as a tuple of parts."""
    if isinstance(node, Conj):
        return ((store, node.start, node.stop),)
    if isinstance(node, Terms):
        return ((store, int(node.bounds[k]), int(node.bounds[k + 1])),)
    if isinstance(node, Leaf):
        return node.parts
    if isinstance(node, Or):
        import bisect

        i = bisect.bisect_right(node.cum, k) - 1
        return get_parts(node.children[i], store, k - node.cum[i])
    picks = []
    for c in reversed(node.children):
        k, r = divmod(k, c.count)
        picks.append(get_parts(c, store, r))
    return tuple(p for h in reversed(picks) for p in h)


def row_ok(store: RowStore, v: np.ndarray, tol: float) -> np.ndarray:
    """Whether each row of the store holds at ``v`` (up to ``tol``)."""
    return store.row_values(v) <= store.rhs + tol


def node_holds(node: object, store: RowStore | None, ok: np.ndarray | None, leaf_holds) -> bool:
    """Whether some disjunct of ``node`` holds, given the per-row results ``ok`` of ``store`` (linear in the tree,
    not in the expansion). ``leaf_holds(parts)`` decides :class:`Leaf` disjuncts."""
    if isinstance(node, Conj):
        return bool(np.all(ok[node.start:node.stop]))
    if isinstance(node, Terms):
        bad = np.concatenate([[0], np.cumsum(~ok)])
        b = node.bounds
        return bool(np.any(bad[b[1:]] == bad[b[:-1]]))
    if isinstance(node, Leaf):
        return leaf_holds(node.parts)
    if isinstance(node, Or):
        return any(node_holds(c, store, ok, leaf_holds) for c in node.children)
    return all(node_holds(c, store, ok, leaf_holds) for c in node.children)
