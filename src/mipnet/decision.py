"""The one rule that turns network outputs into a class, shared by prediction and verification.

A robustness counterexample is an input whose *prediction* differs from the label, so the verifier re-checks every
candidate with the same rule that ``predict`` (estimators, :class:`~mipnet.model.Model`, ``mipnet predict``) uses.
"""

from __future__ import annotations

import numpy as np

#: Relative tolerance below which two class scores count as tied (:func:`tie_tolerance`).
TIE_TOL = 1e-9


def tie_tolerance(scores: np.ndarray) -> np.ndarray:
    """Per-sample tolerance ``TIE_TOL * (1 + max_k |score_k|)`` below which class scores count as tied, ``(N, 1)``.

    MIP solutions often sit exactly on ties (a sample on a ReLU's kink, two outputs with the same bias), where the
    floating-point evaluation of the network differs by about 1e-16 between a batch and a single row; such
    differences must not decide a class.
    """
    scores = np.asarray(scores, dtype=float).reshape(len(scores), -1)
    return TIE_TOL * (1.0 + np.abs(scores).max(axis=1, keepdims=True))


def class_indices(outputs: np.ndarray) -> np.ndarray:
    """The class index mipnet's classifiers predict from network outputs ``(N, K)``: for one output 1 where it is
    positive beyond :func:`tie_tolerance`, else the first class whose score is within it of the row's maximum (a
    tie goes to the first class, the same for a batch and for a single row)."""
    out = np.asarray(outputs, dtype=float).reshape(len(outputs), -1)
    tol = tie_tolerance(out)
    if out.shape[1] == 1:
        return (out[:, 0] > tol[:, 0]).astype(int)
    return np.argmax(out >= out.max(axis=1, keepdims=True) - tol, axis=1)


def competitor_rows(n_outputs: int, label: int) -> tuple[np.ndarray, list[int]]:
    """Rows ``C`` with ``C[r] @ o`` the margin of ``label`` over competing class ``others[r]``: ``e_label - e_k``,
    or for one output ``+o`` (label 1) / ``-o`` (label 0)."""
    if n_outputs == 1:
        return np.array([[1.0 if label == 1 else -1.0]]), [1 - label]
    others = [k for k in range(n_outputs) if k != label]
    C = np.zeros((len(others), n_outputs))
    C[:, label] = 1.0
    C[np.arange(len(others)), others] = -1.0
    return C, others


__all__ = ["TIE_TOL", "class_indices", "competitor_rows", "tie_tolerance"]
