"""The three verification queries: VNN-LIB property, local robustness, output bounds.

Every query follows the same steps: a cheap search for a counterexample (:mod:`mipnet.verify.falsify`); neuron
bounds (:func:`mipnet.encode.compute_bounds`); a proof from the bounds alone where they suffice; otherwise the exact
MIP (:func:`mipnet.encode.encode_network`). Every counterexample is re-run through :meth:`Network.forward` and
reported only if that plain forward pass breaks the property; ``holds`` is reported only from a solver's proof of
infeasibility or optimality (or from sound bounds).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path

import numpy as np

from mipnet.bounds import interval
from mipnet.bounds.crown import Chain, Relu, layer_bounds_of_box, lower
from mipnet.bounds.layer_bounds import BoundTightening, LayerBounds
from mipnet.bounds.lp import MIP_MARGIN
from mipnet.clock import DEFAULT_TIME_LIMIT, Clock
from mipnet.decision import class_indices, competitor_rows
from mipnet.encode import NetworkEncoding, compute_bounds, encode_network
from mipnet.errors import FormatError, SettingsError
from mipnet.io.vnnlib import Disjunct, Property, load_vnnlib
from mipnet.network import Network
from mipnet.solvers import LIMIT_STATUSES, SolveOptions, SolveResult, Status, get_backend
from mipnet.threads import limits_blas
from mipnet.verify.bab import RELAX, BabOptions, DisjunctSearch
from mipnet.verify.falsify import (
    attack,
    descend_into_region,
    first_in_region,
    forward,
    gradient_descent_into_region,
    point_in_region,
    sample_box,
)
from mipnet.verify.results import HOLDS, UNKNOWN, VIOLATED, BoundsResult, RobustnessResult, VerificationResult

#: seconds of the first round's slice per open disjunct in the branch and bound (doubled in each next round)
FIRST_SLICE = 1.0
LEAF_TIME_LIMIT = 10.0   # seconds for the exact MIP of one branch-and-bound sub-problem
SEARCH_MIP_THREADS = 1   # solver threads of the search's MIPs (:func:`_search_disjuncts`)


class Method(StrEnum):
    """How :func:`check_property` searches a disjunct."""

    AUTO = "auto"    #: the branch and bound (every layer kind is supported)
    BAB = "bab"      #: batched branch and bound on linear-relaxation bounds, exact MIP leaves (mipnet.verify.bab)
    MIP = "mip"      #: one exact MIP per disjunct over its whole box
    SPLIT = "split"  #: the earlier name of ``bab`` (kept for scripts)

    @classmethod
    def parse(cls, value: str | Method) -> Method:
        try:
            method = cls(value)
        except ValueError:
            raise SettingsError(f"method must be one of {', '.join(m.value for m in cls)}, got {value!r}") from None
        return cls.BAB if method in (cls.AUTO, cls.SPLIT) else method
ROW_RELAX = 1e-6      # "holds" is proved for the region with every row relaxed by ROW_RELAX (1 + |b|)
ROW_SHRINK = 1e-5     # second search for a counterexample strictly inside, rows tightened by ROW_SHRINK (1 + |b|)
BOUND_SHARE = 0.5     # at most this share of the time limit goes to bound tightening
#: robustness(method="auto") solves one exact MIP per class (exact margins) up to this many ReLUs, else it searches
ROBUSTNESS_MIP_RELUS = 64


def solve(model: object, solver: str, clock: Clock, threads: int, share: float = 1.0) -> SolveResult:
    """Solve a verification MIP within a share of the clock's remaining time."""
    left = clock.left()
    limit = None if left is None else max(left * share, 0.01)
    return get_backend(solver).solve(model, SolveOptions(time_limit=limit, threads=threads, mip_gap=1e-4))


def tightened_bounds(net: Network, lo: np.ndarray, hi: np.ndarray, tightening: BoundTightening, clock: Clock,
                     input_rows: tuple[np.ndarray, np.ndarray] | None, threads: int, outputs: bool = False
                     ) -> LayerBounds:
    """Neuron bounds over the box within :data:`BOUND_SHARE` of the clock's remaining time (``outputs``: the
    output layer too)."""
    left = clock.left()
    return compute_bounds(net, lo, hi, tightening, input_rows=input_rows,
                          time_limit=None if left is None else left * BOUND_SHARE, threads=threads, outputs=outputs)


def _bigger(a: dict, b: dict) -> dict:
    return b if b.get("variables", 0) > a.get("variables", 0) else a


# ------------------------------------------------------------------------------------------------ property
def _split_rows(d: Disjunct) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """(multi-variable input-only rows, rows with outputs) of a disjunct, both as (A, b) over [x; y]."""
    A, b = d.other_rows()
    only_in = ~np.any(A[:, d.n_inputs:] != 0, axis=1)
    return (A[only_in, :d.n_inputs], b[only_in]), (A[~only_in], b[~only_in])


def _rows_infeasible_by_bounds(A: np.ndarray, b: np.ndarray, vlo: np.ndarray, vhi: np.ndarray) -> bool:
    """True when some row ``a v <= b`` cannot hold for any ``v`` in the box ``[vlo, vhi]`` (sound)."""
    if not len(b):
        return False
    low = interval.box_lower_bound(A, vlo, vhi, rel=interval.ROUND_EPS)
    return bool(np.any(low > b + ROW_RELAX * (1 + np.abs(b))))


def _disjunct_mip(net: Network, lb: LayerBounds, in_rows: tuple, out_rows: tuple, lo: np.ndarray,
                  hi: np.ndarray, delta: np.ndarray | float, delta_in: np.ndarray | float) -> NetworkEncoding:
    """The MIP of one disjunct with its rows relaxed (``delta > 0``) or tightened (``delta < 0``)."""
    A_in, b_in = in_rows
    enc = encode_network(net, lb, input_rows=(A_in, b_in + delta_in) if len(b_in) else None)
    A, b = out_rows
    if len(b):
        cols = np.concatenate([enc.x, enc.out])
        enc.model.add_rows(np.broadcast_to(cols, A.shape), A, hi=b + delta)
    return enc


def _decide_by_mip(net: Network, d: Disjunct, lb: LayerBounds, lo: np.ndarray, hi: np.ndarray, in_rows: tuple,
                   out_rows: tuple, solver: str, clock: Clock, threads: int, cap: float | None, entry: dict
                   ) -> tuple[str, tuple | None]:
    """Exact decision of one disjunct on one box: ``holds`` (MIP infeasible), ``violated`` (re-checked point)."""
    relax_out = ROW_RELAX * (1 + np.abs(out_rows[1]))
    relax_in = ROW_RELAX * (1 + np.abs(in_rows[1]))
    enc = _disjunct_mip(net, lb, in_rows, out_rows, lo, hi, relax_out, relax_in)
    entry["mip_size"] = _bigger(entry.get("mip_size", {}), enc.model.size())
    sub = clock.sub(cap)
    sr = solve(enc.model, solver, sub, threads)
    entry["solves"] = entry.get("solves", 0) + 1
    entry["last_solver_status"] = str(sr.status)
    if sr.status == Status.INFEASIBLE:
        return HOLDS, None
    if sr.x is None:
        return UNKNOWN, None
    checked = point_in_region(net, d, enc.input_values(sr.x)[0], lo, hi)
    if checked is not None:
        return VIOLATED, checked
    # the solver's point lies within tolerance of the region's boundary: look strictly inside
    enc2 = _disjunct_mip(net, lb, in_rows, out_rows, lo, hi, -ROW_SHRINK * (1 + np.abs(out_rows[1])),
                         -ROW_SHRINK * (1 + np.abs(in_rows[1])))
    sr2 = solve(enc2.model, solver, sub, threads)
    if sr2.x is not None:
        checked = point_in_region(net, d, enc2.input_values(sr2.x)[0], lo, hi)
        if checked is not None:
            return VIOLATED, checked
    entry["boundary_case"] = True
    return UNKNOWN, None


@limits_blas
def check_property(net: Network, prop: str | Path | Property, time_limit: float | None = DEFAULT_TIME_LIMIT,
                   solver: str = "highs", tightening: BoundTightening | str = BoundTightening.LP, threads: int = 1,
                   method: Method | str = Method.AUTO, samples: int = 512, seed: int = 0,
                   bab: BabOptions | None = None) -> VerificationResult:
    """Check a VNN-LIB property: prove its unsafe region empty, or find an input in it.

    Parameters
    ----------
    net : Network
    prop : path or Property
        A ``.vnnlib`` file (or a parsed :class:`~mipnet.io.vnnlib.Property`) describing the *unsafe* region.
    time_limit : float or None
        Seconds for the whole query, bounds and every disjunct (default :data:`DEFAULT_TIME_LIMIT`; ``None``: no
        limit).
    solver : {"highs", "scip"}
    tightening : BoundTightening or {"interval", "lp", "mip"}
        Bound tightening before the MIP (``method="mip"``; the branch and bound computes its own per sub-problem).
    threads : int
    method : Method or {"auto", "bab", "mip"}
        ``bab`` (and ``auto``, the default): batched branch and bound on linear-relaxation (alpha-CROWN) bounds,
        splitting inputs for networks with few inputs and ReLUs otherwise, sub-problems with few unstable ReLUs
        decided by their exact MIP (:mod:`mipnet.verify.bab`). ``mip``: one exact MIP per disjunct over its whole
        input box (bounds from ``tightening``).
    samples : int
        Random inputs tried per disjunct before its search (a cheap search for counterexamples); with the branch
        and bound, disjuncts that the bound of their whole box already proves empty are not attacked.
    seed : int
    bab : BabOptions, optional
        Settings of the branch and bound (batch size, slope optimisation, branching).

    Returns
    -------
    VerificationResult
        ``holds`` when every disjunct was proved empty; ``violated`` with a re-checked counterexample;
        ``unknown`` otherwise.
    """
    clock = Clock(time_limit)
    tightening = BoundTightening.parse(tightening)
    method = Method.parse(method)
    if not isinstance(prop, Property):
        prop = load_vnnlib(prop, net.n_inputs, net.n_outputs)
    elif prop.n_inputs != net.n_inputs or prop.n_outputs != net.n_outputs:
        raise FormatError(f"the property has {prop.n_inputs} inputs and {prop.n_outputs} outputs, the network "
                          f"{net.n_inputs} and {net.n_outputs}")
    res = VerificationResult(UNKNOWN, bounds_method="alpha-crown+bab" if method == Method.BAB else str(tightening),
                             solver=solver, query="property")
    chain = lower(net)    # the network as affine maps and non-linearities, shared by the attack and the search
    bab = bab or BabOptions(threads=threads)
    # 1. the bound of each disjunct's whole box (the search's first step), so that easy proofs pay for no attack
    proved = _proved_by_root_bounds(net, chain, prop, bab, clock) if method == Method.BAB else set()
    # 2. cheap search in the others: sampling and local descent
    found = _falsify_disjuncts(net, chain, _disjunct_boxes(prop), samples, np.random.default_rng(seed), clock,
                               skip=proved)
    # 3. each disjunct: bounds, then MIP (or the branch and bound with MIP leaves)
    split_jobs: list = []
    for k, (d, (lo, hi)) in enumerate(_disjunct_boxes(prop)):
        if found is not None:
            break
        entry: dict = {"disjunct": k}
        res.details.append(entry)
        if k in proved:
            entry.update(status=HOLDS, how="alpha-CROWN bound of the whole box")
            continue
        job = _screen_disjunct(d, lo, hi, clock, entry)
        if job is None:
            continue
        if method == Method.BAB:
            split_jobs.append((k, d, lo, hi, *job, entry))
            continue
        found = _disjunct_by_mip(net, k, d, lo, hi, *job, tightening, solver, clock, threads, entry)
        res.mip_size = _bigger(res.mip_size, entry.get("mip_size", {}))
    if found is None and split_jobs:
        found = _search_disjuncts(net, chain, split_jobs, solver, clock, bab, tightening)
        for job in split_jobs:
            res.mip_size = _bigger(res.mip_size, job[-1].get("mip_size", {}))
    res.time = clock.elapsed
    if found is not None:
        x, y, k, how = found
        res.status, res.counterexample = VIOLATED, x.reshape(net.input_shape)
        res.counterexample_output = y
        res.note = f"disjunct {k}: counterexample found by {how}, re-checked by Network.forward"
        return res
    open_disjuncts = sum(e.get("status") != HOLDS for e in res.details)
    if open_disjuncts == 0:
        res.status = HOLDS
        res.note = "every disjunct of the unsafe region was proved empty"
    else:
        reasons = sorted({e.get("how", "") for e in res.details if e.get("status") == UNKNOWN})
        res.note = f"{open_disjuncts} disjunct(s) unresolved: {'; '.join(reasons)}"
    return res


def _disjunct_boxes(prop: Property) -> Iterator[tuple[Disjunct, tuple[np.ndarray, np.ndarray]]]:
    """Each disjunct with its input box, built one at a time (a factored property is never expanded in memory);
    a :class:`FormatError` when an input is unbounded."""
    for k, d in enumerate(prop.disjuncts):
        lo, hi = d.box()
        if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
            free = [f"X_{i}" for i in np.flatnonzero(~(np.isfinite(lo) & np.isfinite(hi)))]
            raise FormatError(f"disjunct {k} of the property leaves inputs {', '.join(free)} unbounded: every input "
                              "needs a lower and an upper bound")
        yield d, (lo, hi)


def _proved_by_root_bounds(net: Network, chain: Chain, prop: Property, options: BabOptions, clock: Clock
                           ) -> set[int]:
    """The disjuncts whose whole box the branch and bound's first bound already proves empty
    (:meth:`DisjunctSearch.root_proves`); stops adding when ``clock`` is out."""
    proved = set()
    for k, (d, (lo, hi)) in enumerate(_disjunct_boxes(prop)):
        if clock.out():
            break
        if DisjunctSearch(net, d, lo, hi, options, chain=chain).root_proves():
            proved.add(k)
    return proved


def _falsify_disjuncts(net: Network, chain: Chain, boxes: Iterator, samples: int, rng: np.random.Generator,
                       clock: Clock, skip: set[int] | frozenset = frozenset()
                       ) -> tuple[np.ndarray, np.ndarray, int, str] | None:
    """Sampling, then local descent, in every disjunct but those in ``skip`` (already proved empty): a re-checked
    ``(x, y, disjunct, how)`` or ``None``.

    Both descents use exact gradients on the lowered network ``chain`` (every layer kind lowers,
    :func:`~mipnet.bounds.crown.lower`).

    Stops (``None``) as soon as ``clock`` is out, so that the query's time limit covers the attack too (the
    disjuncts are then left to :func:`_screen_disjunct`, which calls them unknown)."""
    for k, (d, (lo, hi)) in enumerate(boxes):
        if clock.out():
            return None
        if np.any(lo > hi) or k in skip:
            continue
        X = sample_box(lo, hi, samples, rng)
        checked = first_in_region(net, d, X, lo, hi)
        if checked is not None:
            return (*checked, k, "random sampling")
        x = descend_into_region(chain, d, lo, hi, X, clock=clock)
        if x is not None:
            checked = point_in_region(net, d, x, lo, hi)
            if checked is not None:
                return (*checked, k, "local search")
        if clock.out():
            return None
        # gradient descent on the rows' violation from the best samples
        viol = np.max(np.concatenate([X, forward(net, X)], axis=1) @ d.A.T - d.b, axis=1)
        starts = X[np.argsort(viol)[:64]]
        checked = first_in_region(net, d, gradient_descent_into_region(chain, d.A, d.b, lo, hi, starts, clock=clock),
                                  lo, hi)
        if checked is not None:
            return (*checked, k, "gradient attack")
    return None


def _screen_disjunct(d: Disjunct, lo: np.ndarray, hi: np.ndarray, clock: Clock, entry: dict
                     ) -> tuple[tuple, tuple] | None:
    """The disjunct's (input rows, output rows) when it needs a search; ``None`` (with ``entry`` settled) when its
    box is empty, its input rows are infeasible over the box, or time is up."""
    if np.any(lo > hi):
        entry.update(status=HOLDS, how="empty input box")
        return None
    in_rows, out_rows = _split_rows(d)
    if _rows_infeasible_by_bounds(in_rows[0], in_rows[1], lo, hi):
        entry.update(status=HOLDS, how="input rows infeasible over the box")
        return None
    if clock.out():
        entry.update(status=UNKNOWN, how="time limit")
        return None
    return in_rows, out_rows


def _disjunct_by_mip(net: Network, k: int, d: Disjunct, lo: np.ndarray, hi: np.ndarray, in_rows: tuple,
                     out_rows: tuple, tightening: BoundTightening, solver: str, clock: Clock, threads: int,
                     entry: dict) -> tuple[np.ndarray, np.ndarray, int, str] | None:
    """Bounds, then one MIP over the disjunct's whole box; a counterexample or ``None`` (``entry`` settled)."""
    lb = tightened_bounds(net, lo, hi, tightening, clock, in_rows if len(in_rows[1]) else None, threads)
    entry["unstable_relus"] = lb.unstable(net)
    if lb.empty:
        entry.update(status=HOLDS, how="LP relaxation of the input region infeasible")
        return None
    out_lo, out_hi = lb.post(net, len(net.layers) - 1)
    if _rows_infeasible_by_bounds(out_rows[0], out_rows[1], np.concatenate([lo, out_lo]),
                                  np.concatenate([hi, out_hi])):
        entry.update(status=HOLDS, how=f"{tightening} bounds")
        return None
    status, found = _decide_by_mip(net, d, lb, lo, hi, in_rows, out_rows, solver, clock, threads, None, entry)
    if status == VIOLATED:
        return (*found, k, "the MIP")
    how = {HOLDS: "MIP infeasible"}.get(status, "the solver's candidate failed the forward-pass re-check (a "
                                        "boundary case within solver tolerance)" if entry.get("boundary_case")
                                        else f"solver stopped: {entry.get('last_solver_status')}")
    entry.update(status=status, how=how)
    return None


def _search_disjuncts(net: Network, chain: Chain, jobs: list, solver: str, clock: Clock, options: BabOptions,
                      tightening: BoundTightening = BoundTightening.LP
                      ) -> tuple[np.ndarray, np.ndarray, int, str] | None:
    """Branch and bound on every job ``(k, d, lo, hi, in_rows, out_rows, entry)``, in rounds over the disjuncts still
    open (a counterexample in a later disjunct is not hidden behind a hard earlier one). Each round gives each open
    disjunct a slice, :data:`FIRST_SLICE` seconds in the first round and doubled in each next one (never more than
    an even share of the time left): the search, resumed where it stopped, for ``1 - share`` of it (``share``: the
    search's ``settings.mip_share``, by its branching), then, if the disjunct is still open, one exact MIP over its
    whole box for the rest (from scratch: with the doubling, about half of the MIPs' time is repeated work). Without
    a time limit, the search alone, once per disjunct. A counterexample or ``None`` (each ``entry`` settled).

    The search's MIPs (its leaves and the MIP of the whole box) run on :data:`SEARCH_MIP_THREADS` solver thread:
    the leaves are decided while the search's worker processes use the other cores (``options.threads``), and
    HiGHS's MIP gains nothing from a second thread here (the whole box of dense100 image 163 eps 0.05 in bench/robust:
    9.2 s on one thread, 10.1 s on two)."""
    searches: dict[int, DisjunctSearch] = {}
    slice_clock: dict[int, Clock] = {}     # each disjunct's current slice: its MIP leaves keep it too
    length = FIRST_SLICE
    while True:
        pending = [job for job in jobs if job[-1].get("status") != HOLDS]
        if not pending:
            return None
        for n_done, (k, d, lo, hi, in_rows, out_rows, entry) in enumerate(pending):
            left = clock.left()
            if left is not None and left <= 0.01:
                return None
            share = None if left is None else min(length, left / (len(pending) - n_done))
            if k not in searches:
                def leaf(blo: np.ndarray, bhi: np.ndarray, pre: list, splits: list, k=k, d=d, in_rows=in_rows,
                         out_rows=out_rows, entry=entry) -> tuple[str, tuple | None]:
                    lb = layer_bounds_of_box(net, blo, bhi, pre)
                    return _decide_by_mip(net, d, lb, blo, bhi, in_rows, out_rows, solver, slice_clock[k],
                                          SEARCH_MIP_THREADS,
                                          LEAF_TIME_LIMIT, entry)

                searches[k] = DisjunctSearch(net, d, lo, hi, options, mip_leaf=leaf, chain=chain)
            mip_share = searches[k].settings.mip_share if share is not None else 0.0
            slice_clock[k] = clock if share is None else Clock(share * (1.0 - mip_share))
            status, found, stats = searches[k].run(slice_clock[k])
            entry.update(stats)
            if status == VIOLATED:
                return (*found, k, "branch and bound")
            entry.update(status=status, how="branch and bound" if status == HOLDS else
                         "time limit (branch and bound)")
            if status != HOLDS and mip_share > 0 and not clock.out():
                whole = clock.sub(share * mip_share)
                mip_found = _disjunct_by_mip(net, k, d, lo, hi, in_rows, out_rows, tightening, solver, whole,
                                             SEARCH_MIP_THREADS, entry)
                if mip_found is not None:
                    return mip_found
                if entry.get("status") != HOLDS:
                    entry.update(status=UNKNOWN, how="time limit (branch and bound, then the MIP of the box)")
        if clock.limit is None:
            return None
        length *= 2


# ---------------------------------------------------------------------------------------------- robustness
@limits_blas
def robustness(net: Network, x: np.ndarray, eps: float, label: int | None = None,
               time_limit: float | None = DEFAULT_TIME_LIMIT, solver: str = "highs",
               tightening: BoundTightening | str = BoundTightening.LP,
               domain: tuple[float | np.ndarray, float | np.ndarray] | None = None, threads: int = 1,
               samples: int = 256, seed: int = 0, method: Method | str = Method.AUTO,
               bab: BabOptions | None = None) -> RobustnessResult:
    """Worst-case classification margin in the L-infinity ball of radius ``eps`` around ``x``.

    The margin is ``min over inputs of min over k != label of (o_label - o_k)``; for a binary classifier with one
    output (class 1 when ``o > 0``, as mipnet's classifiers predict) it is ``o`` for label 1 and ``-o`` for label 0.
    The ball is robust (``holds``) when a proved lower bound on the margin is positive; ``violated`` when an input
    of the ball, re-run through :meth:`Network.forward`, is *predicted* as another class (the prediction rule
    decides, so a tie that the rule gives to ``label`` is no counterexample). A counterexample found by the first
    cheap search (the centre itself included) ends the query at once.

    Parameters
    ----------
    net : Network
    x : array
        Centre of the ball (network input shape, or flat).
    eps : float
        Radius (L-infinity).
    label : int, optional
        Class that must win; default: the network's prediction at ``x`` (argmax of the outputs; ``o > 0`` for one
        output).
    time_limit : float or None
        Seconds for the whole query (default :data:`DEFAULT_TIME_LIMIT`; ``None``: no limit).
    solver : {"highs", "scip"}
    tightening : BoundTightening or str
    domain : (low, high), optional
        Valid input range (e.g. ``(0, 1)`` for images); the ball is intersected with it.
    threads, samples, seed : see :func:`check_property`
    method : Method or {"auto", "mip", "bab"}
        ``mip``: after the bounds, one exact MIP per competing class, so a proof comes with the exact worst-case
        margin. ``bab``: the question posed as a property, one disjunct per competing class ("its margin <= 0"),
        decided by the branch and bound of :func:`check_property` (far faster on networks beyond a few dozen
        ReLUs); a proof then gives ``margin_bound = RELAX`` (:data:`mipnet.verify.bab.RELAX`: every margin is
        proved above it) and ``margin`` is the smallest margin found. ``auto`` (default): ``mip`` for networks of
        at most :data:`ROBUSTNESS_MIP_RELUS` ReLUs, else ``bab``.
    bab : BabOptions, optional
        Settings of the branch and bound.

    Returns
    -------
    RobustnessResult
    """
    clock = Clock(time_limit)
    tightening = BoundTightening.parse(tightening)
    chain = None if str(method) == Method.MIP else lower(net)   # the search's network, lowered once
    method = _robustness_method(method, chain)
    eps = float(eps)
    if not math.isfinite(eps) or eps < 0:
        raise SettingsError(f"eps must be a non-negative number, got {eps}")
    x0 = net.check_input(x).reshape(-1)
    if x0.size != net.n_inputs:
        raise SettingsError(f"x must be one input of {net.n_inputs} values")
    y0 = forward(net, x0[None])[0]
    n_classes = max(net.n_outputs, 2)
    label = class_indices(y0[None])[0] if label is None else int(label)
    if not 0 <= label < n_classes:
        raise SettingsError(f"label must be in 0..{n_classes - 1}, got {label}")
    lo, hi = x0 - eps, x0 + eps
    if domain is not None:
        lo = np.maximum(lo, np.broadcast_to(np.asarray(domain[0], dtype=float), lo.shape))
        hi = np.minimum(hi, np.broadcast_to(np.asarray(domain[1], dtype=float), hi.shape))
        if np.any(lo > hi):
            raise SettingsError("the ball does not meet the input domain")
        x0 = np.clip(x0, lo, hi)
    res = RobustnessResult(UNKNOWN, bounds_method="alpha-crown+bab" if method == Method.BAB else str(tightening),
                           solver=solver, label=label, eps=eps)
    C, others = competitor_rows(net.n_outputs, label)   # margin against others[r] = C[r] @ outputs

    def counterexample(P: np.ndarray) -> int | None:
        """Index of a row of ``P`` that a forward pass predicts as another class."""
        wrong = np.flatnonzero(class_indices(forward(net, P)) != label)
        return int(wrong[0]) if wrong.size else None

    def violated(xv: np.ndarray, how: str) -> RobustnessResult:
        yv = forward(net, xv[None])[0]
        res.status, res.counterexample, res.counterexample_output = VIOLATED, xv.reshape(net.input_shape), yv
        res.margin = float((C @ yv).min())
        res.note = (f"input predicted as class {class_indices(yv[None])[0]}, margin {res.margin:.6g} (found by "
                    f"{how}, re-checked by Network.forward)")
        res.time = clock.elapsed
        return res

    # 1. the centre and an attack: a counterexample ends the query
    X = np.vstack([x0[None], attack(net, x0, lo, hi, C, np.random.default_rng(seed), samples)])
    hit = counterexample(X)
    if hit is not None:
        return violated(X[hit], "the centre" if hit == 0 else "sampling and signed gradient steps")
    best_m = float((forward(net, X) @ C.T).min())
    if method == Method.BAB:
        return _robustness_by_search(net, chain, lo, hi, C, others, best_m, solver, clock,
                                     bab or BabOptions(threads=threads), res, counterexample, violated)
    # 2. bounds; a class whose margin is bounded above 0 needs no MIP
    lb = tightened_bounds(net, lo, hi, tightening, clock, None, threads)
    proved = {r: _margin_bound(net, lb, C[r]) for r in range(len(C))}
    enc = None
    for r in sorted(proved, key=lambda r: proved[r]):
        entry = {"class": others[r], "bound_from_" + str(tightening): proved[r]}
        res.details.append(entry)
        if proved[r] > 0:
            entry.update(status=HOLDS, how=f"{tightening} bounds")
            continue
        if clock.out():
            entry.update(status=UNKNOWN, how="time limit")
            continue
        if enc is None:
            enc = encode_network(net, lb)
            res.mip_size = enc.model.size()
        enc.model.obj = {}
        enc.model.add_objective(enc.out, C[r])
        n_left = len(C) - len(res.details) + 1
        sr = solve(enc.model, solver, clock, threads, share=1.0 / max(1, n_left))
        entry.update(solver_status=str(sr.status), solve_time=sr.time, nodes=sr.nodes)
        if sr.x is not None:
            xc = np.clip(enc.input_values(sr.x)[0], lo, hi)
            if counterexample(xc[None]) is not None:
                return violated(xc, "the MIP")
            mc = float((forward(net, xc[None]) @ C.T).min())
            entry["margin_found"] = mc
            best_m = min(best_m, mc)
        if sr.status == Status.OPTIMAL and math.isfinite(sr.bound):
            proved[r] = max(proved[r], sr.bound - MIP_MARGIN * (1 + abs(sr.bound)))
            entry.update(status=HOLDS if proved[r] > 0 else UNKNOWN, how="MIP optimal")
        else:
            entry.update(status=UNKNOWN, how=f"solver stopped: {sr.status}")
    res.margin = best_m
    res.margin_bound = float(min(proved.values()))
    solved = all(e.get("how", "").endswith("bounds") or e.get("how") == "MIP optimal" for e in res.details)
    if solved and res.margin_bound > 0:
        res.status = HOLDS
        res.note = f"worst-case margin proved >= {res.margin_bound:.6g}"
    elif solved:
        res.note = (f"the smallest margin is {res.margin_bound:.6g} up to the solver's tolerance, at a tie that the "
                    "prediction rule gives to the label: neither a counterexample nor a proof")
    else:
        res.note = "no counterexample found and no proof within the limits"
    res.time = clock.elapsed
    return res


def _robustness_method(method: Method | str, chain: Chain | None) -> Method:
    """``auto``: the exact MIP for networks (``chain``, lowered) of at most :data:`ROBUSTNESS_MIP_RELUS` ReLUs,
    else the search."""
    chosen = Method.parse(method)
    if str(method) == Method.AUTO:
        relus = sum(op.size for op in chain.activations if isinstance(op, Relu))
        chosen = Method.MIP if relus <= ROBUSTNESS_MIP_RELUS else Method.BAB
    return chosen


def _robustness_by_search(net: Network, chain: Chain, lo: np.ndarray, hi: np.ndarray, C: np.ndarray, others: list,
                          best_m: float, solver: str, clock: Clock, options: BabOptions,
                          res: RobustnessResult, counterexample: Callable, violated: Callable) -> RobustnessResult:
    """:func:`robustness` by the branch and bound: one disjunct per competing class, its margin ``C[r] @ y <= 0``
    on the ball's box, searched as :func:`check_property` searches (root bounds, MIP leaves, time shared); a point
    found is a counterexample only if the prediction rule gives it another class (a tie the rule gives to the
    label is none)."""
    n = net.n_inputs
    box_A = np.vstack([np.hstack([np.eye(n), np.zeros((n, net.n_outputs))]),
                       np.hstack([-np.eye(n), np.zeros((n, net.n_outputs))])])
    box_b = np.concatenate([hi, -lo])
    jobs = []
    for r in range(len(C)):
        d = Disjunct(np.vstack([box_A, np.concatenate([np.zeros(n), C[r]])[None]]), np.append(box_b, 0.0), n)
        entry: dict = {"class": others[r]}
        res.details.append(entry)
        job = _screen_disjunct(d, lo, hi, clock, entry)
        if job is not None:
            jobs.append((r, d, lo, hi, *job, entry))
    found = _search_disjuncts(net, chain, jobs, solver, clock, options) if jobs else None
    res.time = clock.elapsed
    if found is not None:
        x, y, k, how = found
        if counterexample(x[None]) is not None:
            return violated(x, how)
        res.details[k].update(status=UNKNOWN, how="a point at a tie that the prediction rule gives to the label")
        best_m = min(best_m, float((C @ y).min()))
    res.margin = best_m
    if all(e.get("status") == HOLDS for e in res.details):
        res.status = HOLDS
        res.margin_bound = float(RELAX)
        res.note = f"every competing class's margin proved > {RELAX:g} by the branch and bound"
    else:
        res.note = "no counterexample found and no proof within the limits"
    return res


def _margin_bound(net: Network, lb: LayerBounds, c: np.ndarray) -> float:
    """Sound lower bound on ``c @ outputs`` from the layer bounds (exact interval rule on the last layer)."""
    last = len(net.layers) - 1
    layer = net.layers[last]
    if layer.is_affine and layer.weight.ndim == 2 and not layer.relu:
        w = c @ layer.weight
        b = 0.0 if layer.bias is None else float(c @ layer.bias)
        return float(interval.box_lower_bound(w[None], *lb.post(net, last - 1), b, interval.ROUND_EPS)[0])
    lo, hi = lb.post(net, last)
    return float(interval.box_lower_bound(c[None], lo, hi, 0.0, interval.ROUND_EPS)[0])


# -------------------------------------------------------------------------------------------- output bounds
@limits_blas
def output_bounds(net: Network, lower: np.ndarray | float, upper: np.ndarray | float,
                  time_limit: float | None = DEFAULT_TIME_LIMIT,
                  solver: str = "highs", tightening: BoundTightening | str = BoundTightening.LP, exact: bool = True,
                  threads: int = 1, samples: int = 256, seed: int = 0) -> BoundsResult:
    """Proved lower and upper bounds on every output over the input box ``[lower, upper]``.

    Parameters
    ----------
    net : Network
    lower, upper : array or float
        The input box (broadcast to the input shape).
    time_limit : float or None
        Seconds (default :data:`DEFAULT_TIME_LIMIT`; ``None``: no limit).
    solver : {"highs", "scip"}
    tightening : BoundTightening or str
        Bound method before the MIPs (and the whole answer when ``exact=False``); the output layer itself is
        tightened too, so a MIP stopped by the time limit still leaves bounds near the attained ones.
    exact : bool
        Solve two MIPs per output (min and max) for the tightest bounds; ``False`` returns the tightened bounds.
    threads, samples, seed : see :func:`property`

    Returns
    -------
    BoundsResult
    """
    clock = Clock(time_limit)
    tightening = BoundTightening.parse(tightening)
    lo = np.broadcast_to(np.asarray(lower, dtype=float), net.input_shape).reshape(-1).copy()
    hi = np.broadcast_to(np.asarray(upper, dtype=float), net.input_shape).reshape(-1).copy()
    if np.any(lo > hi):
        raise SettingsError("lower must not exceed upper")
    S = sample_box(lo, hi, samples, np.random.default_rng(seed))
    Y = forward(net, S)
    att_lo, att_hi = Y.min(axis=0), Y.max(axis=0)
    at_lo, at_hi = S[Y.argmin(axis=0)], S[Y.argmax(axis=0)]   # (n_outputs, n_inputs): where they are reached
    lb = tightened_bounds(net, lo, hi, tightening, clock, None, threads, outputs=True)
    s_lo, s_hi = (a.copy() for a in lb.post(net, len(net.layers) - 1))
    n_out = net.n_outputs
    exact_flags = np.zeros((n_out, 2), dtype=bool)
    res = BoundsResult(s_lo, s_hi, att_lo, att_hi, exact_flags, bounds_method=str(tightening), solver=solver)
    if exact:
        enc = encode_network(net, lb)
        res.mip_size = enc.model.size()
        todo = [(j, side) for j in range(n_out) for side in (0, 1)]
        for n_done, (j, side) in enumerate(todo):
            if clock.out():
                break
            sign = 1.0 if side == 0 else -1.0
            enc.model.obj = {}
            enc.model.add_objective(enc.out[j:j + 1], sign)
            sr = solve(enc.model, solver, clock, threads, share=1.0 / (len(todo) - n_done))
            if sr.x is not None:
                xv = np.clip(enc.input_values(sr.x)[0], lo, hi)
                yv = forward(net, xv[None])[0]
                at_lo[yv < att_lo], at_hi[yv > att_hi] = xv, xv
                att_lo, att_hi = np.minimum(att_lo, yv), np.maximum(att_hi, yv)
            if math.isfinite(sr.bound) and sr.status in (Status.OPTIMAL, *LIMIT_STATUSES, Status.NO_SOLUTION):
                b = sign * (sr.bound - MIP_MARGIN * (1 + abs(sr.bound)))
                if side == 0:
                    s_lo[j] = max(s_lo[j], b)
                else:
                    s_hi[j] = min(s_hi[j], b)
            exact_flags[j, side] = sr.status == Status.OPTIMAL
        res.lower_attained, res.upper_attained = att_lo, att_hi
        res.status = "exact" if exact_flags.all() else "sound"
        res.note = f"{int(exact_flags.sum())} of {2 * n_out} bounds proved optimal by the MIP"
    else:
        res.note = f"{tightening} bounds only (exact=False)"
    res.lower_input = at_lo.reshape(n_out, *net.input_shape)
    res.upper_input = at_hi.reshape(n_out, *net.input_shape)
    res.time = clock.elapsed
    return res


__all__ = ["check_property", "output_bounds", "robustness"]
