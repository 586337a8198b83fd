"""The warm start of the decomposition by output signs: the LP polishing (one HiGHS instance re-solved warm) and
its progress events."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linprog

from mipnet import Dense, Network
from mipnet.progress import Phase, TrainProgress
from mipnet.train.config import TrainConfig
from mipnet.train.warmstart import PolishLP, _sign_objective, sign_output_starts


def _reference_lp(X: np.ndarray, s: np.ndarray, v: np.ndarray, l1: float, omega: float, omega_b: float,
                  on: np.ndarray) -> float:
    """The optimum of the polishing LP for pattern ``on``, written out densely, row by row (independent of
    :class:`PolishLP`): columns w (H x E), t = |w|, b (H), c, e (N)."""
    n, d = X.shape
    h = len(v)
    nw = h * d
    nv = 2 * nw + h + 1 + n
    rows, rhs = [], []
    for j in range(h):
        for i in range(n):
            r = np.zeros(nv)
            sign = -1.0 if on[i, j] else 1.0    # on: z >= 0, i.e. -z <= 0; off: z <= 0
            r[j * d:(j + 1) * d] = sign * X[i]
            r[2 * nw + j] = sign
            rows.append(r)
            rhs.append(0.0)
    for i in range(n):
        r = np.zeros(nv)
        for j in range(h):
            if on[i, j]:
                r[j * d:(j + 1) * d] -= s[i] * v[j] * X[i]
                r[2 * nw + j] -= s[i] * v[j]
        r[2 * nw + h] = -s[i]
        r[2 * nw + h + 1 + i] = -1.0
        rows.append(r)
        rhs.append(-1.0)
    for k in range(nw):
        for sign in (1.0, -1.0):
            r = np.zeros(nv)
            r[k], r[nw + k] = sign, -1.0
            rows.append(r)
            rhs.append(0.0)
    cost = np.zeros(nv)
    cost[nw:2 * nw] = l1
    cost[2 * nw + h + 1:] = 1.0 / n
    bounds = [(-omega, omega)] * nw + [(0, omega)] * nw + [(-omega_b, omega_b)] * (h + 1) + [(0, None)] * n
    res = linprog(cost, A_ub=np.array(rows), b_ub=np.array(rhs), bounds=bounds, method="highs")
    assert res.status == 0
    return float(res.fun)


@pytest.mark.parametrize("l1", [0.0, 0.01])
def test_polish_lp_is_the_lp_of_the_pattern_also_when_re_solved(bc_subset, l1: float) -> None:
    """Each re-solve of one instance (bounds changed, warm basis) gives the optimum of that pattern's LP, and a
    network with that activation pattern whose exact objective is the LP's."""
    X, y = bc_subset(25, 3, 1)
    s = np.where(y == 1, 1.0, -1.0)
    v = np.array([1.0, -1.0])
    omega, omega_b = 1.0, 1.0
    lp = PolishLP(X, s, v, l1, omega, omega_b)
    rng = np.random.default_rng(3)
    for _ in range(4):
        W, b = rng.uniform(-1, 1, (2, 3)), rng.uniform(-0.5, 0.5, 2)
        on = X @ W.T + b > 0
        res = lp.solve(on)
        assert res is not None
        W2, b2, c2 = res
        z = X @ W2.T + b2
        assert np.all(z[on] >= -1e-7) and np.all(z[~on] <= 1e-7)     # the pattern is kept
        assert np.all(np.abs(W2) <= omega + 1e-9) and np.all(np.abs(b2) <= omega_b + 1e-9)
        best = _reference_lp(X, s, v, l1, omega, omega_b, on)
        # the objective also counts the fixed output weights' L1 term, a constant the LP leaves out
        assert _sign_objective(W2, b2, v, c2, X, s, l1) == pytest.approx(best + l1 * len(v), abs=1e-7)


def test_polish_lp_time_limit_counts_per_solve(bc_subset) -> None:
    """The time limit of a re-solve is its own: HiGHS sums the run time of every solve of an instance, so a limit
    passed as is would stop a re-solve at once (no network) after enough earlier solves."""
    X, y = bc_subset(40, 4, 2)
    s = np.where(y == 1, 1.0, -1.0)
    lp = PolishLP(X, s, np.array([1.0, -1.0, -1.0]), 0.0, 1.0, 1.0)
    rng = np.random.default_rng(0)
    limit = 0.5    # far more than one re-solve of this small LP (milliseconds)
    for _ in range(5000):
        if lp.highs.getRunTime() > 2 * limit:
            break
        assert lp.solve(X @ rng.normal(size=(3, 4)).T + rng.normal(size=3) > 0) is not None
    assert lp.highs.getRunTime() > 2 * limit
    for _ in range(5):
        assert lp.solve(X @ rng.normal(size=(3, 4)).T + rng.normal(size=3) > 0, time_limit=limit) is not None


def test_warm_start_emits_progress_events_as_it_runs(bc_subset) -> None:
    """Every pattern, every restart's gradient training and every start's LP polishing is announced as it starts, each
    better network as it is found; the starts returned are the ones the events reported."""
    X, y = bc_subset(30, 4, 0)
    template = Network([Dense(2), Dense(1)], X.shape[1])
    events = []
    restarts = 2
    out = sign_output_starts(template, X, y, TrainConfig(l1=0.01), restarts=restarts,
                             progress=TrainProgress(events.append))
    assert events and all(e.phase == Phase.WARM_START for e in events)
    assert [e.elapsed for e in events] == sorted(e.elapsed for e in events)
    for k in range(3):
        mine = [e.detail for e in events if e.pattern == k]
        assert sum("gradient training" in d for d in mine) == restarts
        assert any("LP polishing of restart" in d for d in mine)
    # every pattern has its gradient starts before any polishing (a time limit that stops the polishing leaves none
    # without a start)
    kinds = ["polish" if "LP polishing" in e.detail else "gradient" for e in events if e.detail
             and ("LP polishing" in e.detail or "gradient training" in e.detail)]
    assert kinds == sorted(kinds)   # "gradient" < "polish"
    improved = [e for e in events if e.improved]
    assert improved and [e.incumbent for e in improved] == sorted((e.incumbent for e in improved), reverse=True)
    assert improved[-1].incumbent == pytest.approx(min(value for _, value in out.values()))
