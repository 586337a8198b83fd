"""Cheap searches for counterexamples, run before any proof: sampling, and signed descents (exact gradients on the
lowered network for property queries; finite differences for the robustness attack).

Nothing here proves anything; every point found is re-run through :meth:`Network.forward` by the query that uses
it before it is reported.
"""

from __future__ import annotations

import numpy as np

from mipnet.bounds.crown import Chain, evaluate
from mipnet.clock import Clock
from mipnet.io.vnnlib import Disjunct
from mipnet.network import Network


def forward(net: Network, X: np.ndarray) -> np.ndarray:
    """Flat outputs ``(N, n_outputs)`` of flat inputs ``(N, n_inputs)``."""
    return net.forward(np.asarray(X, dtype=float).reshape(-1, *net.input_shape)).reshape(len(X), -1)


def point_in_region(net: Network, d: Disjunct, x: np.ndarray, lo: np.ndarray, hi: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray] | None:
    """The re-check of a candidate counterexample: clip ``x`` to the box ``[lo, hi]``, run that one row through
    ``Network.forward`` and return ``(x, y)`` if it lies in the disjunct's region, else ``None``. One row, not a
    batch: a batch's pass can differ from it in the last bit, and the output reported is then exactly what a user's
    own ``net.forward(x[None])`` gives."""
    x = np.clip(np.asarray(x, dtype=float), lo, hi)
    y = forward(net, x[None])[0]
    return (x, y) if d.holds_at(x, y) else None


def first_in_region(net: Network, d: Disjunct, X: np.ndarray, lo: np.ndarray, hi: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray] | None:
    """The first of the candidate inputs ``X`` (rows, clipped to the box ``[lo, hi]``) that lies in the disjunct's
    region, with its output, or ``None``: one forward pass of the batch screens the rows, and every row it lets
    through, in order, is decided by :func:`point_in_region` (its own one-row pass) until one is confirmed."""
    X = np.clip(np.asarray(X, dtype=float).reshape(len(X), -1), lo, hi)
    if not len(X):
        return None
    Y = forward(net, X)
    inside = np.all(np.concatenate([X, Y], axis=1) @ d.A_sparse.T <= d.b, axis=1)
    for k in np.flatnonzero(inside):
        found = point_in_region(net, d, X[k], lo, hi)
        if found is not None:
            return found
    return None


def sample_box(lo: np.ndarray, hi: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """The box's centre and two corners, then random corners and uniform points (``n`` rows in all)."""
    pts = [(lo + hi) / 2, lo, hi]
    k = max(n - 3, 0)
    corners = np.where(rng.random((k // 2, lo.size)) < 0.5, lo, hi)
    uniform = rng.uniform(lo, hi, (k - k // 2, lo.size))
    return np.vstack([np.array(pts), corners, uniform])


def _violations(chain: Chain, A: np.ndarray, b: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Every row's violation ``A_r [x; y] - b_r`` at the inputs ``X`` (``(N, R)``), through the lowered network."""
    n = X.shape[1]
    y, _ = evaluate(chain, X)
    return X @ A[:, :n].T + y @ A[:, n:].T - b


def _descent_gradient(chain: Chain, A: np.ndarray, X: np.ndarray, viol: np.ndarray, near_rows: bool = False
                      ) -> np.ndarray:
    """Exact gradient at ``X`` of the most violated row (``viol``: :func:`_violations` at ``X``) or, with
    ``near_rows``, of the sum of the rows within ``|max violation|`` of violating."""
    n = X.shape[1]
    f = viol.max(axis=1)
    if near_rows:
        w = (viol >= -np.abs(f)[:, None]).astype(float)          # the rows that are or nearly are violated
    else:
        w = np.zeros_like(viol)
        w[np.arange(len(viol)), np.argmax(viol, axis=1)] = 1.0
    _, g = evaluate(chain, X, w @ A[:, n:])
    return g + w @ A[:, :n]


def descend_into_region(chain: Chain, d: Disjunct, lo: np.ndarray, hi: np.ndarray, X: np.ndarray, steps: int = 60,
                        starts: int = 8, clock: Clock | None = None) -> np.ndarray | None:
    """Local search for a point of the disjunct's region: signed descent on ``max_r (A_r v - b_r)`` from the best
    ``starts`` rows of ``X`` (all at once), a step kept only when it lowers the violation (else that start's step
    is halved). Gradients are exact on the lowered network ``chain`` (:func:`mipnet.bounds.crown.lower`: one
    forward and one backward pass a step). Gives up (``None``) when ``clock`` is out or no start gets inside.
    """
    x = X[np.argsort(_violations(chain, d.A, d.b, X).max(axis=1))[:starts]].copy()
    viol = _violations(chain, d.A, d.b, x)
    step = np.broadcast_to((hi - lo) / 8, x.shape).copy()
    for _ in range(steps):
        if clock is not None and clock.out():
            return None
        v0 = viol.max(axis=1)
        inside = np.flatnonzero(v0 <= 0)
        if inside.size:
            return x[inside[0]]
        cand = np.clip(x - step * np.sign(_descent_gradient(chain, d.A, x, viol)), lo, hi)
        cand_viol = _violations(chain, d.A, d.b, cand)   # kept: the violations of the next iterate
        better = cand_viol.max(axis=1) < v0
        x = np.where(better[:, None], cand, x)
        viol = np.where(better[:, None], cand_viol, viol)
        step = np.where(better[:, None], step, step * 0.5)
    return None


def attack(net: Network, x0: np.ndarray, lo: np.ndarray, hi: np.ndarray, C: np.ndarray, rng: np.random.Generator,
           samples: int, steps: int = 30) -> np.ndarray:
    """Candidate inputs that lower the margins ``C @ outputs`` (one row per competing class): random points and
    corners of the box, then signed finite-difference gradient steps on the smallest margin."""
    def margins(P: np.ndarray) -> np.ndarray:
        return forward(net, P) @ C.T

    X = sample_box(lo, hi, samples, rng)
    best = X[np.argmin(margins(X).min(axis=1))]
    found = [X]
    h = 1e-4 * np.maximum(hi - lo, 1e-9)
    if x0.size > 2000:
        return X
    for x in (best, x0):
        x = x.copy()
        step = (hi - lo) / 4
        for _ in range(steps):
            m0 = margins(x[None])[0]
            k = int(np.argmin(m0))
            g = (margins(x[None] + np.diag(h))[:, k] - m0[k]) / h
            x = np.clip(x - step * np.sign(g), lo, hi)
            found.append(x[None])
            step = step * 0.8
    return np.vstack(found)


def gradient_descent_into_region(chain: Chain, A: np.ndarray, b: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                                 starts: np.ndarray, steps: int = 40, clock: Clock | None = None,
                                 first_step: float = 1 / 8, halve_every: int = 10, near_rows: bool = False
                                 ) -> np.ndarray:
    """Projected signed-gradient descent (batched, exact gradients) on the violation ``max_r (A_r [x; y] - b_r)``
    of a disjunct's rows from every row of ``starts``; returns the best point of each start's path
    (``(len(starts), n)``; the clipped starts themselves when ``clock`` is out before the first step). A point with
    a non-positive violation lies in the region (to be re-checked by the caller with :meth:`Network.forward`).
    The descent stops early when ``clock`` is out.

    Steps start at ``first_step`` times the box's width and halve every ``halve_every`` steps. ``near_rows``: the
    step follows the sum of every row within ``|max violation|`` of violating (all of them must end ``<= 0``),
    instead of the most violated row alone, which zigzags between rows when several are nearly tight."""
    x = np.clip(starts, lo, hi)
    best_x, best_f = x.copy(), np.full(len(x), np.inf)
    step = (hi - lo) * first_step
    for t in range(steps):
        if clock is not None and clock.out():
            break
        viol = _violations(chain, A, b, x)                      # (N, R)
        f = viol.max(axis=1)
        better = f < best_f
        best_f, best_x = np.where(better, f, best_f), np.where(better[:, None], x, best_x)
        if np.all(best_f <= 0):
            break
        g = _descent_gradient(chain, A, x, viol, near_rows)
        x = np.clip(x - step * np.sign(g), lo, hi)
        if t % halve_every == halve_every - 1:
            step = step / 2
    return best_x


def region_attack(chain: Chain, A: np.ndarray, b: np.ndarray, lo: np.ndarray, hi: np.ndarray, samples: int,
                  rng: np.random.Generator, starts: int = 500, steps: int = 100, clock: Clock | None = None
                  ) -> np.ndarray:
    """A wide attack on a disjunct's whole box: ``samples`` uniform points (evaluated in chunks), then from the
    ``starts`` least violating a fine descent (:func:`gradient_descent_into_region` with steps from 1/1000 of the
    width, halved every 25, on the near rows). Returns the descents' best points, to be re-checked by the caller.
    Counterexamples of ACAS Xu N1_9 property 7 sit in a region that random points miss by about 1e-4."""
    n = lo.size
    chunk = max(1000, int(2e7 // max(n + chain.affines[0].W.shape[0], 1)))
    best_X, best_f = np.zeros((0, n)), np.zeros(0)
    done = 0
    while done < samples:
        if clock is not None and clock.out():
            break
        m = min(chunk, samples - done)
        X = rng.uniform(lo, hi, (m, n))
        f = _violations(chain, A, b, X).max(axis=1)
        best_X, best_f = np.vstack([best_X, X]), np.concatenate([best_f, f])
        keep = np.argsort(best_f)[:starts]
        best_X, best_f = best_X[keep], best_f[keep]
        done += m
    if not len(best_X):
        return best_X
    return gradient_descent_into_region(chain, A, b, lo, hi, best_X, steps=steps, clock=clock, first_step=1e-3,
                                        halve_every=25, near_rows=True)
