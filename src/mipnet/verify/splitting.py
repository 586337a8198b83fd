"""Input splitting: branch and bound on the input box, for networks with few inputs (such as ACAS Xu).

One disjunct (a conjunction of rows ``A [x; y] <= b``) over a box is handled as follows, depth first:

1. Candidates: the box centre and, for each row, the corner that minimises the row's linear lower function are
   run through :meth:`Network.forward`; a point inside the region ends the search (``violated``).
2. Proof: symbolic interval bounds (:mod:`mipnet.bounds.symbolic`) give a sound lower bound on every row; if one
   exceeds its ``b`` (plus the relaxation ``1e-6 (1 + |b|)``), the box holds no unsafe point.
3. Otherwise, if few ReLUs are unstable on the box (``mip_threshold``), the exact MIP of the box decides it
   (bounds from the symbolic pass, a short time limit); if the MIP does not finish, or too many ReLUs are unstable,
   the box is cut in two along the input whose halves get the best bounds (strong branching: every input is
   tried).

The disjunct holds when every box was proved empty; the time limit leaves it ``unknown``.
"""

from __future__ import annotations

import numpy as np

from mipnet.bounds.symbolic import backward_row_bounds, conjunction_lower_bound, crown_bounds
from mipnet.io.vnnlib import Disjunct
from mipnet.network import Network

RELAX = 1e-6


def split_disjunct(net: Network, d: Disjunct, lo: np.ndarray, hi: np.ndarray, clock: object, mip_leaf: object,
                   mip_threshold: int = 16, max_boxes: int = 2_000_000) -> tuple[str, tuple | None, dict]:
    """Decide one disjunct by input splitting.

    Parameters
    ----------
    net, d : the network and the disjunct
    lo, hi : the disjunct's input box
    clock : object with ``out()``
    mip_leaf : callable ``(lb, lo, hi) -> ("holds" | "violated" | "unknown", (x, y) or None)``
        Exact decision of a small box by MIP.
    mip_threshold : int
        Boxes with at most this many unstable ReLUs go to the MIP instead of being split further.

    Returns
    -------
    status, (x, y) or None, stats
    """
    A, b = d.other_rows()          # the box rows are implied by the boxes themselves
    bmax = b + RELAX * (1 + np.abs(b))
    stats = {"boxes": 0, "mip_leaves": 0}

    def evaluate(blo: np.ndarray, bhi: np.ndarray) -> tuple:
        stats["boxes"] += 1
        lb = crown_bounds(net, blo, bhi)
        G, g = backward_row_bounds(net, lb, A)
        bound, _, x_star = conjunction_lower_bound(G, g, bmax, blo, bhi)
        return blo, bhi, lb, G, bound, x_star

    stack = [evaluate(lo.copy(), hi.copy())]
    while stack:
        if clock.out() or stats["boxes"] >= max_boxes:
            return "unknown", None, stats
        blo, bhi, lb, G, bound, x_star = stack.pop()
        if bound > 0:
            continue
        # candidate points: centre, the corners minimising the rows' lower functions, the LP's minimiser
        X = np.vstack([(blo + bhi) / 2, np.where(G > 0, blo, bhi), x_star])
        Y = net.forward(X).reshape(len(X), -1)
        inside = np.all(np.concatenate([X, Y], axis=1) @ A.T <= b, axis=1)
        if inside.any():
            k = int(np.flatnonzero(inside)[0])
            return "violated", (X[k], Y[k]), stats
        if lb.unstable(net) <= mip_threshold:
            stats["mip_leaves"] += 1
            status, found = mip_leaf(lb, blo, bhi)
            if status == "violated":
                return status, found, stats
            if status == "holds":
                continue
            stats["mip_leaves_unresolved"] = stats.get("mip_leaves_unresolved", 0) + 1   # split it further
        # strong branching on the inputs: split every input in two, keep the split whose worse half is best
        best = None
        for j in np.flatnonzero(bhi > blo):
            mid = (blo[j] + bhi[j]) / 2
            left_hi, right_lo = bhi.copy(), blo.copy()
            left_hi[j], right_lo[j] = mid, mid
            kids = (evaluate(blo, left_hi), evaluate(right_lo, bhi))
            score = min(kids[0][4], kids[1][4]) + 1e-3 * max(kids[0][4], kids[1][4])
            if best is None or score > best[0]:
                best = (score, kids)
        if best is None:
            return "unknown", None, stats   # a single point that could not be decided
        stack.append(best[1][1])
        stack.append(best[1][0])
    return "holds", None, stats
