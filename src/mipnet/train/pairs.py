"""Which sample pairs the training MIP's pair rows are written for (one place for the choice)."""

from __future__ import annotations

import numpy as np

#: nearest samples of the other role per sample in the pair rows (the options override it)
PAIR_ROWS = 8


def nearest_pairs(X: np.ndarray, first: np.ndarray, second: np.ndarray, k: int) -> np.ndarray:
    """Each sample of ``first`` with its ``k`` nearest samples of ``second`` (L1 distance of the flattened inputs)
    and each of ``second`` with its ``k`` nearest of ``first``.

    Parameters
    ----------
    X : ndarray ``(N, ...)``
    first, second : ndarray of int
        Disjoint sample indices.
    k : int

    Returns
    -------
    ndarray ``(P, 2)`` of int
        The union of those pairs as ``(first, second)`` rows, sorted; empty when either side is.
    """
    first, second = np.asarray(first, dtype=np.int64), np.asarray(second, dtype=np.int64)
    if k <= 0 or not first.size or not second.size:
        return np.zeros((0, 2), dtype=np.int64)
    flat = np.asarray(X, dtype=float).reshape(len(X), -1)
    dist = np.abs(flat[first][:, None, :] - flat[second][None, :, :]).sum(-1)     # (P, Q)
    near_second = np.argsort(dist, axis=1, kind="stable")[:, :k]                  # per first sample
    near_first = np.argsort(dist, axis=0, kind="stable")[:k, :]                   # per second sample
    rows = np.concatenate([np.stack([np.repeat(np.arange(len(first)), near_second.shape[1]), near_second.ravel()], 1),
                           np.stack([near_first.ravel(), np.tile(np.arange(len(second)), near_first.shape[0])], 1)])
    return np.unique(np.stack([first[rows[:, 0]], second[rows[:, 1]]], 1), axis=0)


def nearest_pairs_of_classes(X: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """:func:`nearest_pairs` between each class and the rest, over every class: pairs ``(h, u)`` of samples of
    different classes, each listed once (``h < u``)."""
    labels = np.asarray(labels).reshape(-1)
    out = [nearest_pairs(X, np.flatnonzero(labels == c), np.flatnonzero(labels != c), k) for c in np.unique(labels)]
    if not out:
        return np.zeros((0, 2), dtype=np.int64)
    pairs = np.sort(np.concatenate(out), axis=1)
    return np.unique(pairs, axis=0)
