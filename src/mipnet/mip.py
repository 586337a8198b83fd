"""A solver-neutral mixed-integer model, built with vectorised numpy calls.

Encoders add blocks of variables and blocks of linear rows at once; a backend turns the finished model into
its own form (HiGHS takes the whole sparse matrix in one call). Quadratic objective terms and bilinear
equalities ``t = x * y`` are recorded separately so that a backend that cannot take them can say so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

INF = np.inf


@dataclass
class MIPModel:
    """Variables with bounds and types, linear rows ``lo <= A x <= hi``, and an objective to minimise."""

    lb: list[np.ndarray] = field(default_factory=list)
    ub: list[np.ndarray] = field(default_factory=list)
    integer: list[np.ndarray] = field(default_factory=list)
    n_vars: int = 0
    n_rows: int = 0
    _rows: list[np.ndarray] = field(default_factory=list)
    _cols: list[np.ndarray] = field(default_factory=list)
    _vals: list[np.ndarray] = field(default_factory=list)
    _lo: list[np.ndarray] = field(default_factory=list)
    _hi: list[np.ndarray] = field(default_factory=list)
    obj: dict[int, float] = field(default_factory=dict)
    obj_constant: float = 0.0
    quad_obj: dict[tuple[int, int], float] = field(default_factory=dict)
    bilinear: list[tuple[int, int, int]] = field(default_factory=list)

    # ----------------------------------------------------------------------------------------- variables
    def add_vars(self, shape: int | tuple[int, ...], lb: float | np.ndarray = 0.0, ub: float | np.ndarray = INF,
                 integer: bool = False) -> np.ndarray:
        """Add a block of variables; returns their indices with the given ``shape``."""
        shape = (shape,) if np.isscalar(shape) else tuple(shape)
        n = int(np.prod(shape))
        idx = np.arange(self.n_vars, self.n_vars + n).reshape(shape)
        self.lb.append(np.broadcast_to(np.asarray(lb, dtype=float), shape).reshape(-1).copy())
        self.ub.append(np.broadcast_to(np.asarray(ub, dtype=float), shape).reshape(-1).copy())
        self.integer.append(np.full(n, bool(integer)))
        self.n_vars += n
        return idx

    def add_binaries(self, shape: int | tuple[int, ...]) -> np.ndarray:
        return self.add_vars(shape, 0.0, 1.0, integer=True)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return np.concatenate(self.lb) if self.lb else np.zeros(0), np.concatenate(self.ub) if self.ub else np.zeros(0)

    def integrality(self) -> np.ndarray:
        return np.concatenate(self.integer) if self.integer else np.zeros(0, dtype=bool)

    def fix(self, idx: np.ndarray, values: np.ndarray) -> None:
        """Fix variables to values (used to pin weights in tests and for verification)."""
        lb, ub = self.bounds()
        idx = np.asarray(idx).reshape(-1)
        lb[idx] = ub[idx] = np.asarray(values, dtype=float).reshape(-1)
        self.lb, self.ub = [lb], [ub]

    def set_bounds(self, idx: np.ndarray, lo: np.ndarray | float, hi: np.ndarray | float) -> None:
        """Intersect the bounds of variables ``idx`` with ``[lo, hi]`` (broadcast to ``idx``'s shape)."""
        lb, ub = self.bounds()
        idx = np.asarray(idx)
        lo = np.broadcast_to(np.asarray(lo, dtype=float), idx.shape).reshape(-1)
        hi = np.broadcast_to(np.asarray(hi, dtype=float), idx.shape).reshape(-1)
        idx = idx.reshape(-1)
        lb[idx] = np.maximum(lb[idx], lo)
        ub[idx] = np.minimum(ub[idx], hi)
        self.lb, self.ub = [lb], [ub]

    # ---------------------------------------------------------------------------------------------- rows
    def add_rows(self, cols: np.ndarray, coefs: np.ndarray, lo: float | np.ndarray = -INF,
                 hi: float | np.ndarray = INF) -> np.ndarray:
        """Add ``m`` rows of ``k`` terms each: ``lo[r] <= sum_t coefs[r, t] * x[cols[r, t]] <= hi[r]``.

        ``cols`` and ``coefs`` broadcast to a common shape ``(..., k)``; every leading index is one row.
        A column index of -1 drops that term (for rows of unequal length). Returns the row indices.
        """
        cols, coefs = np.broadcast_arrays(np.asarray(cols), np.asarray(coefs, dtype=float))
        k = cols.shape[-1] if cols.ndim else 1
        lead = cols.shape[:-1] if cols.ndim else ()
        cols = cols.reshape(-1, k)
        coefs = coefs.reshape(-1, k)
        m = cols.shape[0]
        rows = np.repeat(np.arange(self.n_rows, self.n_rows + m), k)
        cols, coefs = cols.reshape(-1), coefs.reshape(-1)
        keep = (cols >= 0) & (coefs != 0)
        self._rows.append(rows[keep])
        self._cols.append(cols[keep].astype(np.int64))
        self._vals.append(coefs[keep])
        self._lo.append(np.broadcast_to(np.asarray(lo, dtype=float), lead).reshape(-1).copy())
        self._hi.append(np.broadcast_to(np.asarray(hi, dtype=float), lead).reshape(-1).copy())
        idx = np.arange(self.n_rows, self.n_rows + m)
        self.n_rows += m
        return idx

    def matrix(self) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
        """The constraint matrix (CSR, duplicates summed) with row bounds."""
        if not self._rows:
            return sp.csr_matrix((0, self.n_vars)), np.zeros(0), np.zeros(0)
        A = sp.coo_matrix((np.concatenate(self._vals), (np.concatenate(self._rows), np.concatenate(self._cols))),
                          shape=(self.n_rows, self.n_vars)).tocsr()
        A.sum_duplicates()
        return A, np.concatenate(self._lo), np.concatenate(self._hi)

    def append(self, other: MIPModel) -> int:
        """Add a copy of ``other``'s variables, rows, objective and bilinear terms; returns the offset to add to
        ``other``'s variable indices (used for two copies of a network in one model)."""
        off, roff = self.n_vars, self.n_rows
        self.lb += [a.copy() for a in other.lb]
        self.ub += [a.copy() for a in other.ub]
        self.integer += [a.copy() for a in other.integer]
        self._rows += [r + roff for r in other._rows]
        self._cols += [c + off for c in other._cols]
        self._vals += [v.copy() for v in other._vals]
        self._lo += [v.copy() for v in other._lo]
        self._hi += [v.copy() for v in other._hi]
        for i, c in other.obj.items():
            self.obj[i + off] = self.obj.get(i + off, 0.0) + c
        for (i, j), c in other.quad_obj.items():
            self.quad_obj[(i + off, j + off)] = self.quad_obj.get((i + off, j + off), 0.0) + c
        self.bilinear += [(t + off, a + off, b + off) for t, a, b in other.bilinear]
        self.obj_constant += other.obj_constant
        self.n_vars += other.n_vars
        self.n_rows += other.n_rows
        return off

    # ------------------------------------------------------------------------------------------ objective
    def add_objective(self, idx: np.ndarray, coefs: float | np.ndarray) -> None:
        idx = np.asarray(idx).reshape(-1)
        coefs = np.broadcast_to(np.asarray(coefs, dtype=float), idx.shape)
        for i, c in zip(idx.tolist(), coefs.tolist()):
            if c != 0.0:
                self.obj[i] = self.obj.get(i, 0.0) + c

    def add_quadratic_objective(self, idx: np.ndarray, coefs: float | np.ndarray) -> None:
        """Add ``sum coefs * x[idx]**2`` to the objective."""
        idx = np.asarray(idx).reshape(-1)
        coefs = np.broadcast_to(np.asarray(coefs, dtype=float), idx.shape)
        for i, c in zip(idx.tolist(), coefs.tolist()):
            if c != 0.0:
                self.quad_obj[(i, i)] = self.quad_obj.get((i, i), 0.0) + c

    def objective_vector(self) -> np.ndarray:
        c = np.zeros(self.n_vars)
        for i, v in self.obj.items():
            c[i] = v
        return c

    def add_bilinear(self, t: np.ndarray, x: np.ndarray, y: np.ndarray) -> None:
        """Require ``t = x * y`` elementwise (nonconvex; only for a spatial branch-and-bound solver)."""
        for a, b, c in zip(np.ravel(t).tolist(), np.ravel(x).tolist(), np.ravel(y).tolist()):
            self.bilinear.append((a, b, c))

    # --------------------------------------------------------------------------------------------- checks
    @property
    def is_quadratic(self) -> bool:
        return bool(self.quad_obj)

    @property
    def is_bilinear(self) -> bool:
        return bool(self.bilinear)

    def objective_value(self, x: np.ndarray) -> float:
        val = self.obj_constant + float(self.objective_vector() @ x)
        for (i, j), c in self.quad_obj.items():
            val += c * x[i] * x[j]
        return val

    def violation(self, x: np.ndarray) -> float:
        """Largest violation of bounds, rows, integrality and bilinear equalities at ``x``."""
        lb, ub = self.bounds()
        A, lo, hi = self.matrix()
        ax = A @ x
        v = [np.max(lb - x, initial=0.0), np.max(x - ub, initial=0.0), np.max(lo - ax, initial=0.0),
             np.max(ax - hi, initial=0.0)]
        ints = self.integrality()
        if ints.any():
            v.append(float(np.max(np.abs(x[ints] - np.round(x[ints])))))
        for t, a, b in self.bilinear:
            v.append(abs(x[t] - x[a] * x[b]))
        return float(max(v))

    def size(self) -> dict[str, int]:
        ints = self.integrality()
        A, _, _ = self.matrix()
        return {"variables": int(self.n_vars), "binaries": int(ints.sum()), "constraints": int(self.n_rows),
                "nonzeros": int(A.nnz), "bilinear": len(self.bilinear)}
