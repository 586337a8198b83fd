"""Provable repair: the smallest change of the last layers that makes a VNN-LIB property provable.

A counterexample-guided loop (DESIGN.md section 6), the repair counterpart of
:func:`mipnet.constraints.train_with_constraints`:

1. verify the network with :func:`mipnet.verify.check_property`; every counterexample (re-checked by a forward
   pass) and a few more unsafe inputs found by sampling near it and over the region become *points*;
2. solve the repair MIP (:class:`~mipnet.repair.formulation.RepairFormulation`): the weights and biases of the last
   ``layers`` affine layers change as little as possible (L1 or L-inf), the outputs on a reference set move as little
   as possible, and every point is kept out of the unsafe region by ``margin``;
3. verify the repaired network over the whole region, from scratch; repeat from 1 until the verifier proves the
   property, or a limit (rounds, time) is hit.

``proved`` is reported only from the verifier's proof for the returned network; a verifier ``unknown`` is never
taken as safe. Each round's MIP bound is a lower bound on the objective of any repair of those layers (fewer
constraints than the whole region); the proved network's objective is an upper bound.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

import numpy as np

from mipnet.constraints.rows import add_safe_rows
from mipnet.errors import FormatError, SettingsError
from mipnet.io.vnnlib import Property, load_vnnlib
from mipnet.layers import Dense
from mipnet.network import Network
from mipnet.repair.formulation import RepairFormulation, decision_slack
from mipnet.repair.results import (
    Decision,
    DecisionRows,
    Norm,
    OutputLoss,
    RepairResult,
    RepairStatus,
    behaviour_change,
    decisions,
    outputs,
    parse_enum,
    weight_change,
)
from mipnet.solvers import LIMIT_STATUSES, SolveOptions, Status, get_backend
from mipnet.train.losses import AbsoluteError, MaxError
from mipnet.verify import check_property
from mipnet.verify.results import Verdict, VerificationResult

#: by how much each counterexample point is kept out of the unsafe region (one of its rows violated by this much)
MARGIN = 1e-3
#: a reference input counts as a changed decision in the numpy objective when its decision rows break by more
DECISION_TOL = 1e-7
#: share of the remaining time one round's repair MIP may use (the rest is kept for verification)
MIP_SHARE = 0.5
#: share of the time limit the first verification (of the original network, for its counterexample) may use
FIRST_SHARE = 1 / 3
#: inputs sampled per round over the region (and near each counterexample) to find more unsafe points
SEARCH_SAMPLES = 4096
#: radii (relative to the region's bounding box) at which each new candidate is attacked around the earlier
#: counterexamples before the verifier runs (:func:`near_counterexample`)
NEAR_SCALES = (1e-4, 1e-3, 1e-2)
#: pool inputs whose decision changed that join the reference set per drawdown round (spread over the pool)
POOL_ADD = 200
#: at most this many disjuncts are read to find the input boxes of a property (for sampling)
MAX_BOXES = 10_000


# ------------------------------------------------------------------------------------------ the region
def region_boxes(prop: Property) -> list[tuple[np.ndarray, np.ndarray]]:
    """The distinct, bounded input boxes of a property's disjuncts (the common box of each group where it bounds
    every input; else the disjuncts' own boxes, at most :data:`MAX_BOXES`).

    Raises
    ------
    FormatError
        When some input is unbounded in every box found.
    """
    boxes: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}
    for group in prop.groups():
        lo, hi = group.box()
        if np.all(np.isfinite(lo)) and np.all(np.isfinite(hi)):
            boxes.setdefault(np.concatenate([lo, hi]).tobytes(), (lo, hi))
            continue
        for k, d in enumerate(group):
            if k >= MAX_BOXES:
                break
            lo, hi = d.box()
            if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
                raise FormatError("a disjunct of the property leaves some input unbounded: every input needs a "
                                  "lower and an upper bound")
            boxes.setdefault(np.concatenate([lo, hi]).tobytes(), (lo, hi))
    out = [(lo, hi) for lo, hi in boxes.values() if np.all(lo <= hi)]
    if not out:
        raise FormatError("the property's input region is empty: nothing to repair")
    return out


def region_bounding_box(prop: Property) -> tuple[np.ndarray, np.ndarray]:
    """The smallest box holding every input box of the property's disjuncts."""
    boxes = region_boxes(prop)
    return np.min([b[0] for b in boxes], axis=0), np.max([b[1] for b in boxes], axis=0)


def sample_region(prop: Property, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` inputs drawn uniformly from the input boxes of the property's disjuncts (an equal share per box)."""
    boxes = region_boxes(prop)
    which = rng.integers(len(boxes), size=n)
    X = np.empty((n, prop.n_inputs))
    for k, (lo, hi) in enumerate(boxes):
        sel = which == k
        X[sel] = rng.uniform(lo, hi, (int(sel.sum()), prop.n_inputs))
    return X


def unsafe_depth(prop: Property, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Per row: how deep ``(x, y)`` lies inside the unsafe region (``min(b - A v)`` of the best disjunct; ``>= 0``
    inside, ``-inf`` where no disjunct holds)."""
    V = np.concatenate([X, Y], axis=1)
    depth = np.full(len(X), -np.inf)
    for d in prop.disjuncts:
        slack = d.b[None, :] - (d.A_sparse @ V.T).T
        s = slack.min(axis=1) if slack.shape[1] else np.full(len(X), np.inf)
        depth = np.maximum(depth, np.where(s >= 0, s, -np.inf))
    return depth


def safe_slack(prop: Property, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Per row: how far ``(x, y)`` lies outside the unsafe region, as the rows of
    :func:`mipnet.constraints.rows.add_safe_rows` measure it: over the disjuncts whose input rows hold at ``x``, the
    smallest of (the largest violation ``A_r v - b_r`` of its output rows); ``+inf`` where no disjunct applies,
    ``<= 0`` inside the unsafe region."""
    n = prop.n_inputs
    V = np.concatenate([X, Y], axis=1)
    out = np.full(len(X), np.inf)
    for d in prop.disjuncts:
        A, b = d.A, d.b
        has_y = np.any(A[:, n:] != 0, axis=1)
        applies = np.all(X @ A[~has_y, :n].T <= b[~has_y] + 1e-12, axis=1)
        if not has_y.any():
            out = np.where(applies, -np.inf, out)
            continue
        viol = (V @ A[has_y].T - b[has_y]).max(axis=1)
        out = np.where(applies, np.minimum(out, viol), out)
    return out


def _near_points(net: Network, prop: Property, margin: float, k: int, rng: np.random.Generator
                 ) -> list[np.ndarray]:
    """Up to ``k`` safe inputs of the region that ``net`` maps closest to the unsafe region (safe by less than
    ``margin``): the points at which a grown margin is imposed when the verifier could not decide."""
    if k <= 0:
        return []
    X = sample_region(prop, SEARCH_SAMPLES, rng)
    s = safe_slack(prop, X, outputs(net, X))
    close = np.flatnonzero(np.isfinite(s) & (s > 0) & (s < margin))
    if not close.size:
        return []
    best = close[np.argsort(s[close])]
    picks = best[np.unique(np.linspace(0, len(best) - 1, min(k, len(best))).astype(int))]
    return [X[i] for i in picks]


def in_unsafe_region(net: Network, prop: Property, x: np.ndarray) -> bool:
    """Whether the input ``x`` lies in the property's unsafe region for ``net``, by its own forward pass (the
    re-check of a point a batch found: batch and single-row outputs can differ in the last bits)."""
    return bool(prop.contains(x, outputs(net, x[None])[0]))


def _more_points(net: Network, prop: Property, x: np.ndarray | None, k: int, rng: np.random.Generator
                 ) -> list[np.ndarray]:
    """Up to ``k`` more inputs of the unsafe region for ``net`` (re-checked by the forward pass): the deepest of
    random inputs near ``x`` and over the region."""
    if k <= 0:
        return []
    lo, hi = region_bounding_box(prop)
    parts = [sample_region(prop, SEARCH_SAMPLES, rng)]
    if x is not None:
        r = 0.05 * (hi - lo)
        parts.append(np.clip(x + rng.uniform(-r, r, (SEARCH_SAMPLES // 4, len(x))), lo, hi))
    X = np.vstack(parts)
    depth = unsafe_depth(prop, X, outputs(net, X))
    inside = np.flatnonzero(np.isfinite(depth))
    if not inside.size:
        return []
    best = inside[np.argsort(-depth[inside])]
    # spread the picks over the ranking: the deepest, then evenly down to the shallowest
    picks = best[np.unique(np.linspace(0, len(best) - 1, min(k, len(best))).astype(int))]
    return [X[i] for i in picks if in_unsafe_region(net, prop, X[i])]


def near_counterexample(net: Network, prop: Property, P: np.ndarray, rng: np.random.Generator
                        ) -> np.ndarray | None:
    """An input of the unsafe region for ``net`` close to one of the points ``P`` (earlier counterexamples), or
    ``None``: random inputs around each point at the scales of :data:`NEAR_SCALES` (relative to the region's
    bounding box), the deepest one re-checked by the forward pass. A candidate that keeps the points themselves out
    of the region often still fails next to them, where the violations of the original network lie, and a region
    that is tiny beside the whole box is where sampling the region misses and the verifier takes longest."""
    if not len(P):
        return None
    lo, hi = region_bounding_box(prop)
    per = max(SEARCH_SAMPLES // (len(P) * len(NEAR_SCALES)), 8)
    X = np.vstack([np.clip(P[:, None, :] + rng.uniform(-1, 1, (len(P), per, P.shape[1])) * (r * (hi - lo)),
                           lo, hi).reshape(-1, P.shape[1]) for r in NEAR_SCALES])
    depth = unsafe_depth(prop, X, outputs(net, X))
    for i in np.argsort(-depth)[: 8]:
        if not np.isfinite(depth[i]):
            break
        if in_unsafe_region(net, prop, X[i]):
            return X[i]
    return None


# ------------------------------------------------------------------------------------------- the network
def split_network(net: Network, layers: int) -> tuple[list, Network]:
    """The fixed layers (copies) and the tail of the last ``layers`` affine layers as its own network."""
    affine = [i for i, layer in enumerate(net.layers) if layer.is_affine]
    if not isinstance(layers, (int, np.integer)) or not 1 <= layers <= len(affine):
        raise SettingsError(f"layers must be a whole number in 1..{len(affine)} (the network has {len(affine)} "
                            f"affine layers), got {layers!r}")
    start = affine[-int(layers)]
    tail_layers = net.layers[start:]
    if not all(isinstance(layer, Dense) and layer.active for layer in tail_layers):
        raise SettingsError(f"repair changes Dense layers only: the last {layers} affine layer(s) and everything "
                            "after them must be (active) Dense layers")
    prefix = [copy.deepcopy(layer) for layer in net.layers[:start]]
    tail = [Dense(layer.units, relu=bool(layer.relu), weight=layer.weight.copy(),
                  bias=None if layer.bias is None else layer.bias.copy()) for layer in tail_layers]
    return prefix, Network(tail, tail_layers[0].in_shape)


def _hidden(prefix: list, net: Network, X: np.ndarray) -> np.ndarray:
    """The fixed layers' output at the inputs ``X`` (flat)."""
    a = net.check_input(X)
    for layer in prefix:
        a = layer.forward(a)
    return a.reshape(len(X), -1)


def _join(prefix: list, tail: Network, like: Network) -> Network:
    out = Network([copy.deepcopy(layer) for layer in prefix] + tail.layers, like.input_shape)
    if hasattr(like, "nnet_normalization"):
        out.nnet_normalization = like.nnet_normalization  # type: ignore[attr-defined]
    return out


def _objective(original: Network, net: Network, R: np.ndarray, norm: Norm, loss: OutputLoss,
               output_weight: float, soft: tuple | None = None) -> float:
    """The repair objective of ``net`` recomputed with numpy (``soft``: ``(keep mask, argmin, cap, weight, count)``
    of penalised decision rows: ``weight`` per unit of slack, or with ``count`` per reference input whose rows are
    broken)."""
    ch = weight_change(original, net)
    Y0, Y = outputs(original, R), outputs(net, R)
    diff = np.abs(Y - Y0)
    out = float(diff.max(initial=0.0)) if loss == OutputLoss.MAX else float(diff.sum(axis=1).mean()) if len(R) else 0.0
    value = ch["l1" if norm == Norm.L1 else "linf"] + output_weight * out
    if soft is not None:
        keep, argmin, cap, weight, count = soft
        slack = decision_slack(Y0[keep], Y[keep], argmin, cap)
        value += weight * float((slack > DECISION_TOL).sum() if count else slack.sum())
    return value


def _solve(tail: Network, H: np.ndarray, Y0: np.ndarray, loss: object, norm: Norm, max_change: float,
           output_weight: float, prefix: list, net: Network, P: np.ndarray, prop: Property, margin: float,
           keep: np.ndarray | None, decision: Decision, backend: object, time_limit: float | None, threads: int,
           cap: float, soft: float | None = None, count: float | None = None) -> tuple[RepairFormulation, object]:
    """Build and solve one round's repair MIP (``keep``: mask of reference inputs whose decision is kept, as hard
    rows or, with ``soft`` / ``count``, penalised per unit of slack / per changed decision; ``cap``: the largest
    lead they demand)."""
    form = RepairFormulation(tail, H, Y0, loss, norm == Norm.L1, max_change, output_weight,
                             points=_hidden(prefix, net, P))
    po = form.point_out
    for p, x in enumerate(P):
        add_safe_rows(form.enc, po.idx[p], po.lo[p], po.hi[p], x, prop, margin, "the property")
    if keep is not None:
        form.keep_decisions(np.flatnonzero(keep), decision == Decision.ARGMIN, cap, soft, count)
    backend.check(form.m)
    return form, backend.solve(form.m, SolveOptions(time_limit=time_limit, threads=threads, mip_gap=1e-6))


# ------------------------------------------------------------------------------------------------ repair
def repair(net: Network, prop: str | Path | Property, layers: int = 1, norm: Norm | str = Norm.L1,
           reference: np.ndarray | None = None, n_reference: int = 500, decision: Decision | str = Decision.ARGMAX,
           output_weight: float = 1.0, output_loss: OutputLoss | str = OutputLoss.MEAN,
           decision_rows: DecisionRows | str = DecisionRows.KEEP, decision_weight: float = 10.0,
           drawdown_weight: float = 100.0, max_change: float | None = None,
           margin: float = MARGIN, margin_growth: float = 1.0, margin_points: int = 64, max_rounds: int = 30,
           extra_points: int = 8, pool: np.ndarray | None = None, pool_rounds: int = 3,
           pool_target: float = 0.0, time_limit: float | None = 600.0, verify_time: float | None = None,
           method: str = "auto", solver: str | None = None, threads: int = 1, seed: int = 0) -> RepairResult:
    """Change the last ``layers`` affine layers of ``net`` as little as possible so that ``prop`` is proved.

    Parameters
    ----------
    net : Network
        The network to repair (not modified).
    prop : path or Property
        A VNN-LIB property: the *unsafe* region, which must be empty for the repaired network.
    layers : int
        How many affine layers, counted from the output, may change (weights and biases); every layer from the
        first of them on must be Dense. ``1`` gives a linear program (a mixed-integer one when a disjunct has more
        than one output row); ``>= 2`` multiplies variable weights by variable activations and needs SCIP.
    norm : Norm or {"l1", "linf"}
        The size of the change that is minimised.
    reference : ndarray or None
        Inputs ``(N, n_inputs)`` on which the outputs should move as little as possible (default: ``n_reference``
        inputs drawn uniformly from the input boxes of the property).
    n_reference : int
    decision : Decision or {"argmax", "argmin"}
        The network's decision, for the drawdown (the share of reference inputs whose decision changes).
    output_weight : float
        Weight of the output change on the reference set in the objective (``0``: the weight change alone).
    output_loss : OutputLoss or {"mean", "max"}
        The output change as the mean summed absolute change, or as the largest one.
    decision_rows : DecisionRows or {"keep", "count", "none"}
        How the decision of every reference input that the original network maps outside the unsafe region is
        kept (its winning output stays ahead by half its original lead, at most ``margin``). ``keep``: linear rows,
        so the drawdown on the reference set is 0 by construction; when they conflict with the counterexample
        points (the round's MIP is infeasible), the round is solved again with each input's rows relaxed by a slack
        that costs ``decision_weight`` per unit (``decisions`` in the round's entry: ``kept`` or ``penalised``).
        ``count``: a binary per reference input may switch its rows off at a cost of ``drawdown_weight / N`` (N
        reference inputs): the MIP minimises the reference drawdown exactly, traded against the change
        (``decisions``: ``counted``, with ``changed_decisions``). ``none``: no decision rows. Reference inputs
        inside the unsafe region are counterexample points from the first round on.
    decision_weight : float
        See ``decision_rows`` (``keep``).
    drawdown_weight : float
        See ``decision_rows`` (``count``): the objective's cost of a 100% reference drawdown.
    max_change : float or None
        Every weight and bias stays within this distance of its original value (default: the largest magnitude of
        a weight or bias of the repaired layers). Keeps the big-M values of a deeper repair finite.
    margin : float
        Each counterexample point is kept out of the unsafe region by this much (one of its rows violated by
        ``margin``); a larger margin pushes the network away from the boundary, so fewer rounds are needed.
    margin_growth : float
        Proof-guided margin (``>= 1``; 1 switches it off). When the verifier answers ``unknown`` for a candidate and
        no counterexample is found, the margin of every point is multiplied by this factor and up to
        ``margin_points`` sampled inputs of the region that the candidate maps closest to the unsafe region (safe
        by less than the new margin) become points too; the round is solved again. A network far from the unsafe
        region is easier to prove; it is still reported ``proved`` only with the verifier's proof.
    margin_points : int
        See ``margin_growth``.
    max_rounds : int
        Repair rounds (each: one MIP, one verification).
    extra_points : int
        More unsafe inputs added per round, found by sampling near the counterexample and over the region.
    pool : ndarray or None
        Drawdown-guided reference set: inputs ``(M, n_inputs)`` on which the decisions of a *proved* candidate are
        compared with the original's. When more than ``pool_target`` of them changed, up to :data:`POOL_ADD` of
        the changed ones join the reference set (their decisions kept by ``decision_rows``) and the repair is
        solved again, at most ``pool_rounds`` times; the proved candidate with the smallest pool drawdown is
        returned (``pool_drawdown`` in the rounds). Measure the drawdown on other inputs than the pool.
    pool_rounds : int
    pool_target : float
        See ``pool``.
    time_limit : float or None
        Seconds for everything (``None``: no limit).
    verify_time : float or None
        Seconds per verification (default: the time left; the first, of the original network, gets at most a third
        of ``time_limit``).
    method : {"auto", "mip", "split"}
        The verifier's method (:func:`mipnet.verify.check_property`).
    solver : {"highs", "scip"} or None
        The repair MIP's solver (default HiGHS for ``layers=1``, SCIP for deeper repairs). Verification uses HiGHS.
    threads, seed : int

    Returns
    -------
    RepairResult
        ``status`` is ``proved`` only when the verifier proved the property for the returned network.

    Raises
    ------
    SettingsError, FormatError
        Bad options, or a property that does not fit the network (before any solve).
    """
    t0 = time.perf_counter()
    norm = parse_enum(Norm, norm, "norm")
    decision = parse_enum(Decision, decision, "decision")
    output_loss = parse_enum(OutputLoss, output_loss, "output_loss")
    if not isinstance(prop, Property):
        prop = load_vnnlib(prop, net.n_inputs, net.n_outputs)
    elif (prop.n_inputs, prop.n_outputs) != (net.n_inputs, net.n_outputs):
        raise FormatError(f"the property has {prop.n_inputs} inputs and {prop.n_outputs} outputs, the network "
                          f"{net.n_inputs} and {net.n_outputs}")
    prefix, tail0 = split_network(net, layers)
    decision_rows = parse_enum(DecisionRows, decision_rows, "decision_rows")
    for name, v, low in (("output_weight", output_weight, 0.0), ("margin", margin, 0.0),
                         ("decision_weight", decision_weight, 0.0), ("drawdown_weight", drawdown_weight, 0.0),
                         ("margin_growth", margin_growth, 1.0)):
        if not (isinstance(v, (int, float)) and np.isfinite(v) and v >= low):
            raise SettingsError(f"{name} must be a finite number >= {low:g}, got {v!r}")
    for name, v in (("max_rounds", max_rounds), ("n_reference", n_reference), ("extra_points", extra_points),
                    ("margin_points", margin_points), ("pool_rounds", pool_rounds)):
        if not isinstance(v, (int, np.integer)) or v < (1 if name == "max_rounds" else 0):
            raise SettingsError(f"{name} must be a whole number >= {1 if name == 'max_rounds' else 0}, got {v!r}")
    if time_limit is not None and not (np.isfinite(time_limit) and time_limit > 0):
        raise SettingsError(f"time_limit must be a positive number of seconds or None, got {time_limit!r}")
    if solver is None:
        solver = "highs" if layers == 1 else "scip"
    if layers > 1 and solver != "scip":
        raise SettingsError(f"repairing {layers} layers multiplies variable weights by variable activations: it "
                            "needs solver='scip' (spatial branch-and-bound)")
    backend = get_backend(solver)
    rng = np.random.default_rng(seed)
    if reference is None:
        R = sample_region(prop, int(n_reference), rng)
    else:
        R = np.asarray(reference, dtype=float)
        if R.ndim != 2 or R.shape[1] != net.n_inputs or not len(R) or not np.all(np.isfinite(R)):
            raise SettingsError(f"reference must be a non-empty array of finite values with {net.n_inputs} columns "
                                f"(one row per input), got shape {R.shape}")
    if not len(R):
        raise SettingsError("the reference set is empty: give n_reference >= 1 or reference inputs")
    if pool is not None:
        pool = np.asarray(pool, dtype=float)
        if pool.ndim != 2 or pool.shape[1] != net.n_inputs or not len(pool) or not np.all(np.isfinite(pool)):
            raise SettingsError(f"pool must be a non-empty array of finite values with {net.n_inputs} columns, got "
                                f"shape {pool.shape}")
    if not (isinstance(pool_target, (int, float)) and 0.0 <= pool_target <= 1.0):
        raise SettingsError(f"pool_target must be a fraction in [0, 1], got {pool_target!r}")
    if max_change is None:
        max_change = max(max(float(np.max(np.abs(layer.weight))), float(np.max(np.abs(layer.bias), initial=0.0))
                             if layer.bias is not None else 0.0) for layer in tail0.affine_layers())
        max_change = max(max_change, 1e-6)
    if not (np.isfinite(max_change) and max_change > 0):
        raise SettingsError(f"max_change must be a positive number, got {max_change!r}")
    Y0 = outputs(net, R)
    H = _hidden(prefix, net, R)
    loss = MaxError() if output_loss == OutputLoss.MAX else AbsoluteError()

    def left() -> float | None:
        return None if time_limit is None else time_limit - (time.perf_counter() - t0)

    def verify(candidate: Network, r: int) -> VerificationResult:
        budget = left()
        if r == 0 and time_limit is not None:
            budget = min(budget, FIRST_SHARE * time_limit)
        if verify_time is not None:
            budget = verify_time if budget is None else min(budget, verify_time)
        return check_property(candidate, prop, time_limit=None if budget is None else max(budget, 1.0),
                              method=method, threads=threads, seed=seed + r)

    def result(status: RepairStatus, cand: Network | None, res: VerificationResult | None, note: str,
               bound: float = -np.inf, n_points: int = 0) -> RepairResult:
        if status == RepairStatus.NOT_PROVED and best is not None:
            best.note += f"; a later round ended: {note}"
            return best                   # a proved candidate of an earlier pool round: never lose a proof
        out = RepairResult(status, cand, res, rounds=rounds, layers=int(layers), norm=norm, decision=decision,
                           n_reference=len(R), counterexamples=n_points, lower_bound=bound, note=note)
        if cand is not None:
            out.change = weight_change(net, cand)
            out.behaviour = behaviour_change(net, cand, R, decision)
            soft = None
            if penalty is not None:
                soft = (keep, decision == Decision.ARGMIN, margin, penalty, decision_rows == DecisionRows.COUNT)
            out.objective = _objective(net, cand, R, norm, output_loss, output_weight, soft)
        out.time = time.perf_counter() - t0
        return out

    rounds: list[dict] = []
    best: RepairResult | None = None      # the proved candidate with the smallest pool drawdown
    best_drawdown = np.inf
    penalty: float | None = None          # the decision rows' cost in the last MIP (None: hard rows or none)
    keep = np.zeros(len(R), dtype=bool)
    res = verify(net, 0)
    rounds.append({"round": 0, "points": 0, "verdict": str(res.status), "verify_time": res.time,
                   "note": res.note})
    if res.status == Verdict.HOLDS:
        return result(RepairStatus.PROVED, net, res, "the network already satisfies the property: no change",
                      bound=0.0)
    # reference inputs the original network already maps into the unsafe region are counterexamples too; at the
    # others the decision is kept (decision_rows)
    bad = np.isfinite(unsafe_depth(prop, R, Y0))
    keep = ~bad if decision_rows != DecisionRows.NONE else np.zeros(len(R), dtype=bool)
    points: list[np.ndarray] = [R[i] for i in np.flatnonzero(bad)]
    rounds[0]["reference_unsafe"] = int(bad.sum())
    cand, bound = net, -np.inf
    margin_now = float(margin)
    if pool is not None:
        d_pool0 = decisions(outputs(net, pool), decision)
        pool_safe = ~np.isfinite(unsafe_depth(prop, pool, outputs(net, pool)))   # decisions that may be kept
    pool_left = int(pool_rounds) if pool is not None else 0
    for r in range(1, int(max_rounds) + 1):
        count = drawdown_weight / len(R) if decision_rows == DecisionRows.COUNT else None
        cex = None if res.counterexample is None else res.counterexample.reshape(-1)
        refine = res.status == Verdict.HOLDS           # a proved candidate whose pool drawdown is refined
        found = [] if refine else ([cex] if cex is not None else []) + _more_points(cand, prop, cex,
                                                                                   int(extra_points), rng)
        if not found and res.status == Verdict.UNKNOWN and margin_growth > 1 and r > 1:
            # proof-guided margin: push the candidate further from the unsafe region where it comes closest
            margin_now *= margin_growth
            found = _near_points(cand, prop, margin_now, int(margin_points), rng)
            rounds[-1]["margin_next"] = margin_now
        rounds[-1]["added"] = len(found)
        if not found and not refine:
            note = "the verifier found no counterexample and sampling none: " + (
                "not proved (the verifier's answer was unknown)" if res.status == Verdict.UNKNOWN else res.note)
            return result(RepairStatus.NOT_PROVED, cand if r > 1 else None, res, note, bound, len(points))
        points.extend(found)
        budget = left()
        if budget is not None and budget <= 1.0:
            return result(RepairStatus.NOT_PROVED, cand if r > 1 else None, res,
                          "time limit before the repair MIP of round " + str(r), bound, len(points))
        t_mip = time.perf_counter()
        P = np.array(points)
        mip_limit = None if budget is None else max(budget * MIP_SHARE, 1.0)
        use = keep if keep.any() else None
        form, sr = _solve(tail0, H, Y0, loss, norm, max_change, output_weight, prefix, net, P, prop, margin_now,
                          use, decision, backend, mip_limit, threads, margin, count=count)
        penalty = count if use is not None else None
        mode = "none" if use is None else "counted" if count is not None else "kept"
        if sr.status == Status.INFEASIBLE and use is not None and count is None:
            # the kept decisions conflict with the points: solve again with them penalised (drawdown measured)
            form, sr = _solve(tail0, H, Y0, loss, norm, max_change, output_weight, prefix, net, P, prop,
                              margin_now, keep, decision, backend, mip_limit, threads, margin, soft=decision_weight)
            penalty, mode = decision_weight, "penalised"
        entry = {"round": r, "points": len(points), "margin": margin_now, "mip_status": str(sr.status),
                 "mip_objective": sr.objective, "mip_bound": sr.bound, "mip_time": time.perf_counter() - t_mip,
                 "mip_size": form.m.size(), "decisions": mode}
        rounds.append(entry)
        if margin_now == margin:
            # a lower bound on every repair that keeps the counterexamples out by `margin`; once the margin has
            # grown (and safe points carry it) the MIP is more constrained than that, so the bound stays
            bound = float(sr.bound) if np.isfinite(sr.bound) and sr.status in (
                Status.OPTIMAL, *LIMIT_STATUSES, Status.NO_SOLUTION) else -np.inf
        if sr.status == Status.INFEASIBLE:
            grown = "" if margin_now == margin else f" by the grown margin {margin_now:g}"
            return result(RepairStatus.NOT_PROVED, cand if r > 1 and margin_now != margin else None, res,
                          f"no change of the last {layers} layer(s) within +-{max_change:g} keeps the "
                          f"{len(points)} points out of the unsafe region{grown} (proved infeasible)",
                          np.inf if margin_now == margin else bound, len(points))
        if sr.x is None:
            return result(RepairStatus.NOT_PROVED, cand if r > 1 else None, res,
                          f"the repair MIP of round {r} ended without a solution ({sr.status})", bound, len(points))
        cand = _join(prefix, form.extract(sr.x), net)
        entry["mip_output_error"] = form.encoding.error(sr.x, form.extract(sr.x))
        if count is not None:
            kept = np.flatnonzero(keep)
            entry["changed_decisions"] = int((decision_slack(Y0[kept], outputs(cand, R[kept]),
                                                             decision == Decision.ARGMIN, margin)
                                              > DECISION_TOL).sum())
        t_near = time.perf_counter()
        near = near_counterexample(cand, prop, P, rng)
        if near is not None:
            # the candidate fails next to an earlier counterexample: no need for the verifier this round
            res = VerificationResult(Verdict.VIOLATED, time=time.perf_counter() - t_near, counterexample=near,
                                     counterexample_output=outputs(cand, near[None])[0],
                                     note="counterexample near an earlier one (sampling around it), re-checked by "
                                          "Network.forward")
        else:
            res = verify(cand, r)
        entry.update(verdict=str(res.status), verify_time=res.time, note=res.note)
        if res.status == Verdict.HOLDS:
            done = result(RepairStatus.PROVED, cand, res,
                          f"proved by the verifier ({res.note}) for the returned network", bound, len(points))
            if pool is None:
                return done
            changed = np.flatnonzero((decisions(outputs(cand, pool), decision) != d_pool0) & pool_safe)
            entry["pool_drawdown"] = len(changed) / len(pool)
            if best is None or entry["pool_drawdown"] < best_drawdown:
                best, best_drawdown = done, entry["pool_drawdown"]
                done.note += f" (round {r}, pool drawdown {100 * best_drawdown:.2f}%)"
            if entry["pool_drawdown"] <= pool_target or pool_left <= 0 or not len(changed):
                return best
            # drawdown-guided reference set: the pool inputs whose decision changed join it
            pool_left -= 1
            add = changed[np.unique(np.linspace(0, len(changed) - 1, min(POOL_ADD, len(changed))).astype(int))]
            entry["pool_added"] = len(add)
            R, H, Y0 = np.vstack([R, pool[add]]), np.vstack([H, _hidden(prefix, net, pool[add])]), \
                np.vstack([Y0, outputs(net, pool[add])])
            keep = np.concatenate([keep, np.full(len(add), decision_rows != DecisionRows.NONE)])
    return result(RepairStatus.NOT_PROVED, cand, res,
                  f"not proved within {len(rounds) - 1} rounds / the time limit: the verifier's last answer was "
                  f"{res.status} ({res.note})", bound, len(points))
