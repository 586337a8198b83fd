"""Batched branch and bound on linear-relaxation bounds: the default search of :func:`mipnet.verify.check_property`.

One disjunct ``A [x; y] <= b`` over an input box is decided as follows. Sub-problems — input boxes, each with a set
of ReLU splits — live in arrays and are processed in batches:

1. **Bounds** (:mod:`mipnet.bounds.crown`): CROWN bounds of every neuron for the whole batch, then a lower bound
   on every row ``A_r [x; y] - b_r`` with optimised lower ReLU slopes (alpha-CROWN) and, for ReLU splits,
   optimised multipliers of the split constraints in the bound (beta-CROWN). A sub-problem whose best row
   bound exceeds the margin ``RELAX (1 + |b_r|)`` holds no point of the region and is dropped.
2. **Falsification**: the minimising corners of the rows, the box centres and a short gradient attack are run through
   :meth:`Network.forward`; a point inside the region ends the search (``violated``, re-checked).
3. **Exact leaves**: a sub-problem with no unstable ReLU is affine, decided exactly by one small LP (a candidate
   it returns is re-checked by the forward pass); with few unstable ReLUs (``mip_threshold``, or
   ``mip_threshold_input`` when inputs are split) the caller's exact MIP decides it.
4. **Branching**: the rest are split — on an input dimension (networks with few inputs: batched strong branching,
   every dimension's two halves bounded and the one whose worse half is best kept, unless it is ``aspect`` times
   narrower than the widest, which is then cut so that the search converges; widths are measured in the
   network's own scale, each input's width times the L1 norm of its column in the first affine map) or on an
   unstable ReLU (many
   inputs: the unstable neuron of largest ``min(-l, u) u / (u - l)``, a BaBSR-like score), the two children get
   the split as bounds. A sub-problem with nothing left to split goes to the exact MIP, or leaves it ``unknown``.

The disjunct **holds** when every sub-problem was dropped; a time or size limit leaves it **unknown**. Soundness:
a row is called empty only from a bound computed in float64 and widened for rounding
(:func:`mipnet.bounds.crown._box_min`), then compared with a margin of ``RELAX (1 + |b_r|)``; every counterexample is a
forward-pass re-check.
"""

from __future__ import annotations

import pickle
import uuid
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from enum import StrEnum

import numpy as np
from scipy.optimize import linprog

from mipnet.bounds.crown import (
    BETA_LR,
    BackwardRows,
    Chain,
    Relu,
    box_bounds,
    combine_rows,
    forward_bounds,
    lower,
    maxpool_lines,
    optimise_rows,
)
from mipnet.clock import Clock
from mipnet.errors import SettingsError
from mipnet.io.vnnlib import Disjunct
from mipnet.network import Network
from mipnet.processes import available, discard, warm_up, workers
from mipnet.verify.falsify import first_in_region, gradient_descent_into_region, point_in_region, region_attack

RELAX = 1e-6        # a row is proved empty on a box when its lower bound exceeds RELAX (1 + |b_r|)
FIRST_QUANTUM = 0.5  # seconds of a worker's first part of a parallel search; doubled each round up to MAX_QUANTUM
MAX_QUANTUM = 4.0    # (the parts are rebalanced after each round, so a worker idles at most one quantum)


class Branching(StrEnum):
    """What the branch and bound splits."""

    AUTO = "auto"      #: input splitting for at most ``input_split_max`` inputs, ReLU splitting above
    INPUT = "input"
    RELU = "relu"


@dataclass
class BabOptions:
    """Settings of the batched branch and bound.

    Attributes
    ----------
    batch : int
        Sub-problems bounded together.
    alpha_iterations : int
        Gradient steps on the lower ReLU slopes per batch with input branching (0: plain CROWN).
    relu_iterations : int
        Gradient steps per batch with ReLU branching, on the slopes and on the splits' multipliers (beta): split
        sub-problems need more steps, and their bound is what prunes.
    beta_lr : float
        Step of the splits' multipliers, relative to the scale of each row's coefficients.
    branching : Branching
    input_split_max : int
        Largest input dimension for which ``AUTO`` splits inputs.
    mip_threshold : int
        Sub-problems with at most this many unstable ReLUs go to the exact leaf (when one is given), in a search that
        splits ReLUs.
    mip_threshold_input : int
        The same for a search that splits inputs. Its boxes shrink until their ReLUs are stable, and a MIP leaf
        costs as much as a hundred or more boxes (ACAS Xu: about 70 ms each; with 12, N3_3 property 2 spent most of
        its 116 s in 1,077 leaves and stayed open, without them the search alone holds in 51 s), so by default only
        boxes with no unstable ReLU whose max-pools are undecided (no LP leaf applies) go to the MIP.
    max_subproblems : int
        Sub-problems bounded before the search gives up (``unknown``).
    threads : int
        Processes that search at once (:mod:`mipnet.processes`). With more than one, a search still open after
        ``parallel_after`` seconds hands its open sub-problems, split evenly by bound, to that many worker
        processes for a short stretch (half a second, doubled each round up to four), gathers what is left,
        splits it again, and so on; the wide attacks are split between the workers too, and sub-problems that need
        the exact MIP leaf come back to this process, which decides them while the workers search.
    parallel_after : float
        Seconds of search in this process before a search with ``threads`` above 1 goes parallel: most queries end
        sooner, and pay nothing for the workers (started in the background when the search begins).
    aspect : float
        Input splitting cuts the widest input when the best-scoring one is more than ``aspect`` times narrower, so
        every input that matters shrinks and the search converges. Widths are scaled by the input's weight in the
        network (the L1 norm of its column in the first affine map, :attr:`DisjunctSearch.input_scale`): a wide
        input the network hardly reads is not cut for its width, and rescaling an input changes nothing. Measured on
        ACAS Xu at 116 s (bench/RESULTS.md): with widths relative to the root box and 32, N3_3 property 2 stayed
        unknown (a sub-box of it took 27.9 s against 1.9 s); with scaled widths and 4 it holds in 51 s.
    region_attack_after : float
        Seconds of search after which a wide attack on the whole box runs (:func:`mipnet.verify.falsify.
        region_attack``), then again, with twice the samples, once the search without the attacks has run ``ratio``
        times (``region_attack_ratio`` or ``region_attack_ratio_input``) as long as all the attacks together, the
        next one included (its time estimated from the last one's and the samples), so that at the end of each
        attack about ``1 / (1 + ratio)`` of the time or less has gone to them (0: never). Counterexamples in tiny
        regions (ACAS Xu N1_9 property 7) are found this way; a search that ends before it never pays for it.
    region_attack_ratio : float
        Seconds of search without attacks per second of all the wide attacks, for a search that splits ReLUs (2:
        about a third of the time goes to the attacks; :func:`next_attack_at`).
    region_attack_ratio_input : float
        The same for a search that splits inputs (4: about a fifth). Measured on ACAS Xu at 116 s (with the earlier
        schedule, which let the attacks take more): with 2, N4_2 property 2 (holds) needed 117.5 s, with 4 89.6 s,
        and the counterexample of N1_9 property 7, found by these attacks, came as fast (35.2 s and 35.7 s).
    region_attack_work : float
        Multiply-adds of the first wide attack's samples (doubled each time, at most 32 times): 1.5e10 is about a
        million samples of an ACAS Xu network (5 s on one core), fewer for a bigger network.
    mip_share : float
        In :func:`mipnet.verify.check_property`: the share of a disjunct's time slice (in each round of the search)
        that goes, when a search that splits ReLUs leaves the disjunct open, to one exact MIP over its whole box (0:
        never). The two are complete in different places: the search on networks whose bounds are tight, the MIP
        where max pooling makes the linear bounds loose (a digits CNN: open after 60 s of search, proved by the
        MIP in 1-12 s). The search resumes where it stopped in each new slice, so its share loses no work; the
        MIP starts afresh each time (the slices double, so about half of the MIPs' time is repeated).
    mip_share_input : float
        The same share for a search that splits inputs (few inputs): its bounds tighten as the boxes shrink, while
        the MIP of the whole box has every ReLU unstable (on ACAS Xu a share of 0.5 made the slow instances 1.4-4
        times slower and proved nothing more), so by default it gets none.
    """

    batch: int = 512
    alpha_iterations: int = 8
    relu_iterations: int = 50
    beta_lr: float = BETA_LR
    branching: Branching = Branching.AUTO
    input_split_max: int = 12
    mip_threshold: int = 12
    mip_threshold_input: int = 0
    max_subproblems: int = 5_000_000
    threads: int = 1
    parallel_after: float = 0.5
    aspect: float = 4.0
    region_attack_after: float = 10.0
    region_attack_ratio: float = 2.0
    region_attack_ratio_input: float = 4.0
    region_attack_work: float = 1.5e10
    mip_share: float = 0.5
    mip_share_input: float = 0.0

    def __post_init__(self) -> None:
        for name in ("region_attack_ratio", "region_attack_ratio_input"):
            if not getattr(self, name) > 0:
                raise SettingsError(f"{name} must be positive, got {getattr(self, name)!r}")
        if int(self.threads) < 1:
            raise SettingsError(f"threads must be at least 1, got {self.threads!r}")
        if not self.parallel_after >= 0:
            raise SettingsError(f"parallel_after must be >= 0 seconds, got {self.parallel_after!r}")
        for name in ("mip_share", "mip_share_input"):
            share = getattr(self, name)
            if not 0.0 <= share < 1.0:
                raise SettingsError(f"{name} must be in [0, 1), got {share!r}")

    def for_branching(self, branching: Branching) -> BranchingSettings:
        """The settings that depend on what a search splits: the ``*_input`` ones for input splitting."""
        if branching == Branching.INPUT:
            return BranchingSettings(self.mip_threshold_input, self.mip_share_input, self.region_attack_ratio_input)
        return BranchingSettings(self.mip_threshold, self.mip_share, self.region_attack_ratio)


@dataclass(frozen=True)
class BranchingSettings:
    """The settings of :class:`BabOptions` that differ between a search that splits inputs and one that splits ReLUs
    (:meth:`BabOptions.for_branching`)."""

    mip_threshold: int     #: the most unstable ReLUs of a sub-problem that goes to the exact MIP leaf
    mip_share: float       #: the share of a slice that goes to the MIP of the whole box
    attack_ratio: float    #: seconds of search per second of wide attack


def next_attack_at(attacked: float, upcoming: float, ratio: float) -> float:
    """The search time (attacks included) at which the next wide attack starts: once the search without the attacks
    has run ``ratio`` times as long as all of them together, the next one included (``attacked`` seconds so far,
    ``upcoming`` the next one's estimated cost). At the end of that attack, if the estimate holds, the attacks have
    taken ``1 / (1 + ratio)`` of the time."""
    return attacked + ratio * (attacked + upcoming)


@dataclass
class _Resume:
    """Where a stopped search continues: its open sub-problems, when its next wide attack runs (seconds of search)
    and with how many samples, the first attack's samples, and the seconds it has searched (of which in attacks)."""

    pool: _Pool
    attack_at: float
    samples: int
    first: int
    spent: float = 0.0
    attacked: float = 0.0   #: seconds of the search spent in wide attacks
    lost: bool = False   #: the search stopped inside a batch (open sub-problems dropped): a new run starts afresh
    #: sub-problems that a worker left to the exact MIP leaf, (lo, hi, pre_bounds, splits) each, not yet decided:
    #: they are open sub-problems as much as the pool's
    deferred: list = field(default_factory=list)


@dataclass
class _Pool:
    """Open sub-problems: boxes, ReLU splits (one int8 array per ReLU layer), and the parent's bound."""

    lo: np.ndarray
    hi: np.ndarray
    splits: list
    score: np.ndarray

    def __len__(self) -> int:
        return len(self.score)

    def take(self, k: int) -> _Pool:
        """Remove and return the ``k`` sub-problems of lowest score (the hardest first)."""
        if k >= len(self):
            idx = np.arange(len(self))
        else:
            idx = np.argpartition(self.score, k)[:k]
        keep = np.ones(len(self), bool)
        keep[idx] = False
        out = _Pool(self.lo[idx], self.hi[idx], [None if s is None else s[idx] for s in self.splits],
                    self.score[idx])
        self.lo, self.hi, self.score = self.lo[keep], self.hi[keep], self.score[keep]
        self.splits = [None if s is None else s[keep] for s in self.splits]
        return out

    def parts(self, n: int) -> list[_Pool]:
        """Split into at most ``n`` pools of about equal size and equal hardness (dealt out in order of score)."""
        order = np.argsort(self.score, kind="stable")
        return [_Pool(self.lo[i], self.hi[i], [None if s is None else s[i] for s in self.splits], self.score[i])
                for i in (order[k::n] for k in range(min(n, len(self))))]

    def add(self, other: _Pool) -> None:
        self.lo = np.concatenate([self.lo, other.lo])
        self.hi = np.concatenate([self.hi, other.hi])
        self.score = np.concatenate([self.score, other.score])
        self.splits = [None if s is None else np.concatenate([s, t]) for s, t in zip(self.splits, other.splits)]


@dataclass
class BabStats:
    """What the search did."""

    subproblems: int = 0
    batches: int = 0
    lp_leaves: int = 0
    mip_leaves: int = 0
    max_open: int = 0
    branching: str = ""
    region_attacks: int = 0

    def add(self, other: BabStats) -> None:
        """Count another part of the same search (a worker's)."""
        for name in ("subproblems", "batches", "lp_leaves", "mip_leaves", "region_attacks"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.max_open = max(self.max_open, other.max_open)

    def as_dict(self) -> dict:
        return {"subproblems": self.subproblems, "batches": self.batches, "lp_leaves": self.lp_leaves,
                "mip_leaves": self.mip_leaves, "max_open": self.max_open, "branching": self.branching,
                "region_attacks": self.region_attacks}


MipLeaf = Callable[[np.ndarray, np.ndarray, list, list], tuple[str, tuple | None]]


class DisjunctSearch:
    """Branch and bound for one disjunct (see the module docstring).

    Parameters
    ----------
    net : Network
    d : Disjunct
    lo, hi : ndarray
        The disjunct's input box.
    options : BabOptions
    mip_leaf : callable, optional
        ``(lo, hi, pre_bounds, splits) -> (status, (x, y) or None)``: an exact decision of one sub-problem
        (``pre_bounds``: per non-linearity (lower, upper) for that box; ``splits``: its ReLU splits).
    chain : Chain, optional
        The lowered network, when the caller has it.
    seed : int
        Seed of the wide attacks' samples (a second search of the same disjunct should pass another).
    """

    def __init__(self, net: Network, d: Disjunct, lo: np.ndarray, hi: np.ndarray, options: BabOptions | None = None,
                 mip_leaf: MipLeaf | None = None, chain: Chain | None = None, seed: int = 0) -> None:
        self.net, self.d = net, d
        self.seed = seed
        self.options = options or BabOptions()
        self.chain = chain if chain is not None else lower(net)
        self.mip_leaf = mip_leaf
        A, b = d.other_rows()
        n = net.n_inputs
        self.A, self.b = A, b
        self.A_x, self.A_y = A[:, :n], A[:, n:]
        self.margin = RELAX * (1 + np.abs(b))
        self.lo, self.hi = np.asarray(lo, float), np.asarray(hi, float)
        #: each input's weight in the network, the L1 norm of its column in the first affine map: input splitting
        #: compares widths in this scale (``BabOptions.aspect``)
        self.input_scale = np.abs(self.chain.affines[0].W).sum(axis=0)
        br = self.options.branching
        if br == Branching.AUTO:
            br = Branching.INPUT if n <= self.options.input_split_max else Branching.RELU
        if br == Branching.RELU and not any(isinstance(op, Relu) for op in self.chain.activations):
            br = Branching.INPUT
        self.branching = br
        self.settings = self.options.for_branching(br)     #: the options that depend on the branching
        # input splitting bounds many small boxes whose live neurons differ: each box's own (tighter, and cheaper
        # than the batch's union: ACAS Xu 4% faster over the 40 instances resolved, same answers); ReLU splitting
        # bounds one box under many splits, where a wide layer has many neurons on (digits 64-256-256-10: 20% fewer
        # sub-problems in 60 s with them), so it tightens the undecided ones only
        self.backward_rows = BackwardRows.LIVE if br == Branching.INPUT else BackwardRows.UNDECIDED
        self.stats = BabStats(branching=str(br))
        self._resume: _Resume | None = None
        #: in a worker of a parallel search: the sub-problems it leaves to the exact MIP leaf of the search's owner
        self.deferred: list | None = None
        self._token = uuid.uuid4().hex     # names this search in the workers
        self._blob: bytes | None = None    # what a worker needs to rebuild it (pickled once)
        self._per_box: float | None = None
        #: the search runs on worker processes: ``threads`` above 1, where this process may start them
        self._parallel = self.options.threads > 1 and available()

    # ------------------------------------------------------------------------------------------ evaluation
    def _bound(self, pool: _Pool, alpha: bool = True, cheap: bool = False) -> tuple:
        """Bounds of a batch: (per-box best row margin, corners, BoxBounds, per-row bounds)."""
        if cheap:
            bb = forward_bounds(self.chain, pool.lo, pool.hi, pool.splits)
        else:
            bb = box_bounds(self.chain, pool.lo, pool.hi, pool.splits, self.backward_rows)
        if len(self.b) == 0:
            # no output rows: the region is the box itself (minus input rows, none here)
            v = np.full((len(pool), 1), -np.inf)
            return v[:, 0], np.repeat(((pool.lo + pool.hi) / 2)[:, None, :], 1, axis=1), bb, v
        iters = 0
        if alpha:
            iters = self.options.relu_iterations if self.branching == Branching.RELU else self.options.alpha_iterations
        v, corners, L, c = optimise_rows(self.chain, bb, self.A_x, self.A_y, self.b, iterations=iters,
                                         target=float(self.margin.max()), splits=pool.splits,
                                         beta_lr=self.options.beta_lr)
        slack = v - self.margin[None, :]
        best = slack.max(axis=1)
        if len(self.b) > 1:
            # a convex combination of the rows can prove a box that no single row proves
            comb, x = combine_rows(L, c - self.margin[None, :], pool.lo, pool.hi)
            best = np.maximum(best, comb)
            corners = np.concatenate([corners, x[:, None, :]], axis=1)
        infeasible = np.zeros(len(pool), bool)
        for lo_, hi_ in bb.pre:
            infeasible |= np.any(lo_ > hi_, axis=1)
        best = np.where(infeasible, np.inf, best)   # contradictory ReLU splits: an empty sub-problem
        return best, corners, bb, slack

    def _counterexample(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """The first of the candidate inputs ``X`` that lies in the region, with its output
        (:func:`~mipnet.verify.falsify.first_in_region`)."""
        return first_in_region(self.net, self.d, X, self.lo, self.hi)

    def _lp_leaf(self, lo: np.ndarray, hi: np.ndarray, W: np.ndarray, c: np.ndarray,
                 side: tuple[np.ndarray, np.ndarray]) -> tuple[str, tuple | None]:
        """Exact decision of an affine sub-problem ``y = W x + c`` on a box with the ReLU splits' half-spaces
        ``side`` (``S x <= s``): the LP ``min t`` with every row ``<= b + t``; a positive optimum (safely) means
        empty, else the LP's point is re-checked."""
        G = self.A_x + self.A_y @ W
        g = self.A_y @ c
        n = len(lo)
        cost = np.zeros(n + 1)
        cost[-1] = 1.0
        S, s = side
        A_ub = np.vstack([np.hstack([G, -np.ones((len(g), 1))]), np.hstack([S, np.zeros((len(s), 1))])])
        res = linprog(cost, A_ub=A_ub, b_ub=np.concatenate([self.b - g, s]),
                      bounds=[*zip(lo, hi), (None, None)], method="highs")
        if res.status == 2 and len(s):
            return "holds", None     # the splits' half-spaces miss the box (the bounds said otherwise): empty
        if res.status != 0:
            return "unknown", None
        if len(s):
            # with split half-spaces the LP's own optimum decides (no dual bound is formed here): a positive
            # optimum must clear the margin by a wide safety factor, otherwise the point is re-checked
            if res.fun > 1e-6 * (1 + np.abs(self.b).max()) + np.max(self.margin):
                return "holds", None
            found = self._counterexample(res.x[:n][None])
            return ("violated", found) if found is not None else ("unknown", None)
        # a bound from the LP's dual (any convex combination of the rows is a valid lower bound)
        w = np.abs(res.ineqlin.marginals)
        w = w / w.sum() if w.sum() > 0 else np.ones(len(g)) / len(g)
        coef = w @ G
        val = np.where(coef > 0, lo, hi) @ coef + w @ (g - self.b)
        if val - 1e-9 * (1 + abs(val) + np.abs(coef) @ np.maximum(np.abs(lo), np.abs(hi))) > w @ self.margin:
            return "holds", None
        found = self._counterexample(res.x[:n][None])
        return ("violated", found) if found is not None else ("unknown", None)

    # ------------------------------------------------------------------------------------------- branching
    def _split_inputs(self, pool: _Pool) -> _Pool:
        """Batched strong branching on the input dimensions: both halves of every dimension are bounded by CROWN
        (without slope optimisation), the dimension whose worse half is best wins."""
        P, n = pool.lo.shape
        dims = np.arange(n)
        mid = (pool.lo + pool.hi) / 2
        # children for every (box, dim): left halves then right halves
        lo_l = np.repeat(pool.lo, n, axis=0)
        hi_l = np.repeat(pool.hi, n, axis=0)
        hi_l[np.arange(P * n), np.tile(dims, P)] = np.repeat(mid, n, axis=0)[np.arange(P * n), np.tile(dims, P)]
        lo_r = np.repeat(pool.lo, n, axis=0)
        hi_r = np.repeat(pool.hi, n, axis=0)
        lo_r[np.arange(P * n), np.tile(dims, P)] = np.repeat(mid, n, axis=0)[np.arange(P * n), np.tile(dims, P)]
        splits = [None if s is None else np.repeat(s, n, axis=0) for s in pool.splits]
        kids = _Pool(np.concatenate([lo_l, lo_r]), np.concatenate([hi_l, hi_r]),
                     [None if s is None else np.concatenate([s, s]) for s in splits], np.zeros(2 * P * n))
        best, _, _, _ = self._bound(kids, alpha=False, cheap=True)
        self.stats.subproblems += len(kids)
        left, right = best[: P * n].reshape(P, n), best[P * n:].reshape(P, n)
        width = pool.hi - pool.lo
        score = np.minimum(left, right) + 1e-3 * np.maximum(left, right)
        score = np.where(width > 0, score, -np.inf)
        j = np.argmax(score, axis=1)
        # the chosen input must not be much narrower (in the network's scale) than the widest: otherwise split
        # the widest. Without this rule ties and weak scores can cut one input forever while the others stay
        # wide, and the bounds never converge; with it every input the network reads shrinks.
        scaled = width * self.input_scale[None, :]
        widest = np.argmax(scaled, axis=1)
        too_thin = scaled[np.arange(P), j] * self.options.aspect < scaled[np.arange(P), widest]
        j = np.where(too_thin, widest, j)
        rows = np.arange(P) * n + j
        chosen = np.concatenate([rows, P * n + rows])
        out = _Pool(kids.lo[chosen], kids.hi[chosen], [None if s is None else s[chosen] for s in kids.splits],
                    best[chosen])
        return out

    def _split_relus(self, pool: _Pool, bb: object, slack: np.ndarray) -> tuple[_Pool, np.ndarray]:
        """Split every sub-problem on its unstable ReLU of largest score. Returns the children and the indices
        of the sub-problems that have no unstable ReLU left (they must be decided otherwise)."""
        P = len(pool)
        best_score = np.full(P, -np.inf)
        best_layer = np.zeros(P, int)
        best_unit = np.zeros(P, int)
        relu_k = [k for k, op in enumerate(self.chain.activations) if isinstance(op, Relu)]
        for k in relu_k:
            l, u = bb.pre[k]
            unst = (l < 0) & (u > 0)
            # a BaBSR-like score: the ReLU triangle's height min(-l, u) u / (u - l); ties go to the earlier layer
            s = np.where(unst, np.minimum(-l, u) * u / np.maximum(u - l, 1e-30), -np.inf)
            unit = np.argmax(s, axis=1)
            val = s[np.arange(P), unit]
            better = val > best_score
            best_score = np.where(better, val, best_score)
            best_layer = np.where(better, k, best_layer)
            best_unit = np.where(better, unit, best_unit)
        ok = ~np.isneginf(best_score)
        splits = []
        for k, s in enumerate(pool.splits):
            if s is None:
                splits.append(None)
                continue
            pos, neg = s.copy(), s.copy()
            hit = ok & (best_layer == k)
            pos[np.flatnonzero(hit), best_unit[hit]] = 1
            neg[np.flatnonzero(hit), best_unit[hit]] = -1
            splits.append(np.concatenate([pos[ok], neg[ok]]))
        kids = _Pool(np.concatenate([pool.lo[ok], pool.lo[ok]]), np.concatenate([pool.hi[ok], pool.hi[ok]]), splits,
                     np.concatenate([slack.max(axis=1)[ok]] * 2))
        return kids, np.flatnonzero(~ok)

    # ---------------------------------------------------------------------------------------------- search
    def _root(self) -> _Pool:
        """The whole box, no ReLU split yet (an all-zero split array per ReLU layer with ReLU branching)."""
        relu_sizes = [op.size if isinstance(op, Relu) else None for op in self.chain.activations]
        splits = [None if m is None or self.branching == Branching.INPUT else np.zeros((1, m), np.int8)
                  for m in relu_sizes]
        return _Pool(self.lo[None].copy(), self.hi[None].copy(), splits, np.zeros(1))

    def root_proves(self) -> bool:
        """Whether the bound of the whole box (the search's first step: alpha-CROWN, the rows combined, the same
        margins) already proves the disjunct empty. Cheap (one box), so a query can run it before any attack."""
        if np.any(self.lo > self.hi):
            return True
        return bool(self._bound(self._root())[0][0] > 0)

    def run(self, clock: Clock) -> tuple[str, tuple | None, dict]:
        """Decide the disjunct: ``("holds" | "violated" | "unknown", (x, y) or None, stats)``.

        Resumable: after an ``unknown`` at the end of ``clock``, calling ``run`` again continues the same search (its
        open sub-problems, its attack schedule, the time it has spent) with the new clock; after a stop that left
        sub-problems out of the pool (a leaf nothing could settle) it starts afresh, so a resumed search never
        answers ``holds`` for a box it did not cover."""
        if np.any(self.lo > self.hi):
            return "holds", None, self.stats.as_dict()
        if self._resume is None or self._resume.lost:    # first run, or a stop that dropped sub-problems: afresh
            per_sample = sum(op.W.size for op in self.chain.affines)
            first = max(int(self.options.region_attack_work / max(per_sample, 1)), 1000)
            self._resume = _Resume(self._root(), self.options.region_attack_after, first, first)
            if self._parallel:
                warm_up(self.options.threads)
        state = self._resume
        pool = state.pool
        started = clock.elapsed - state.spent     # the search's own time runs on from where it stopped
        self._per_box = None
        try:
            return self._search(pool, clock, started, state)
        except BaseException:
            # interrupted (Ctrl-C) or failed inside a batch or a round: sub-problems taken from the pool may be
            # missing, so a later run must not resume from it
            state.lost = True
            raise
        finally:
            state.spent = clock.elapsed - started

    def _search(self, pool: _Pool, clock: Clock, started: float, state: _Resume) -> tuple[str, tuple | None, dict]:
        settled = self._settle_deferred(state, clock)
        if settled is not None:
            return settled
        if state.deferred:      # the clock ran out before the handed-over leaves were decided
            return "unknown", None, self.stats.as_dict()
        while len(pool):
            if self._parallel and clock.elapsed - started >= self.options.parallel_after and \
                    len(pool) >= self.options.threads:
                return self._search_parallel(pool, clock, started, state)
            if self.stats.subproblems:
                self._per_box = (clock.elapsed - started) / self.stats.subproblems
            if clock.out() or self.stats.subproblems >= self.options.max_subproblems:
                self.stats.max_open = max(self.stats.max_open, len(pool))
                return "unknown", None, self.stats.as_dict()
            if state.attack_at > 0 and len(self.b) and clock.elapsed - started >= state.attack_at:
                t0 = clock.elapsed
                rng = np.random.default_rng([self.seed, self.stats.region_attacks])
                found = self._counterexample(region_attack(self.chain, self.A, self.b, self.lo, self.hi,
                                                           state.samples, rng, clock=clock))
                if found is not None:
                    return "violated", found, self.stats.as_dict()
                self._attacked(state, clock.elapsed - t0, clock)
                if clock.out():
                    continue
            batch = pool.take(self._batch_size(clock))
            self.stats.batches += 1
            self.stats.subproblems += len(batch)
            best, corners, bb, slack = self._bound(batch)
            open_ = best <= 0
            if not open_.any():
                continue
            idx = np.flatnonzero(open_)
            cand = np.concatenate([corners[idx].reshape(-1, corners.shape[-1]),
                                   (batch.lo[idx] + batch.hi[idx]) / 2])
            found = self._counterexample(cand)
            if found is None and len(self.b):
                # a short gradient attack from the corners of the hardest open sub-problems
                hard = idx[np.argsort(best[idx])[:32]]
                starts = corners[hard].reshape(-1, corners.shape[-1])
                path = gradient_descent_into_region(self.chain, self.A, self.b, self.lo, self.hi, starts, steps=10)
                found = self._counterexample(path)
            if found is not None:
                return "violated", found, self.stats.as_dict()
            rest = self._leaves(batch, idx, bb, clock)
            if isinstance(rest, tuple):
                return rest
            if not len(rest):
                continue
            sub = _Pool(batch.lo[rest], batch.hi[rest], [None if s is None else s[rest] for s in batch.splits],
                        best[rest])
            if self.branching == Branching.INPUT:
                kids = self._split_inputs(sub)
                keep = kids.score <= 0
                kids = _Pool(kids.lo[keep], kids.hi[keep], [None if s is None else s[keep] for s in kids.splits],
                             kids.score[keep])
            else:
                sub_bb = _take_bounds(bb, rest)
                kids, stuck = self._split_relus(sub, sub_bb, slack[rest])
                for i in rest[stuck]:
                    # nothing left to split (no unstable ReLU; max-pools undecided, or a boundary case): only the
                    # exact MIP can settle it, and without one the disjunct stays open
                    status, found = self._exact_leaf(batch, i, bb, clock) if self._has_exact_leaf else \
                        ("unknown", None)
                    if status == "violated":
                        return "violated", found, self.stats.as_dict()
                    if status != "holds":
                        state.lost = True      # this batch's open sub-problems are not back in the pool
                        return "unknown", None, self.stats.as_dict()
            pool.add(kids)
            self.stats.max_open = max(self.stats.max_open, len(pool))
        return "holds", None, self.stats.as_dict()

    # ------------------------------------------------------------------------------------ parallel search
    def _search_parallel(self, pool: _Pool, clock: Clock, started: float, state: _Resume
                         ) -> tuple[str, tuple | None, dict]:
        """:meth:`_search` on ``options.threads`` worker processes (see :class:`BabOptions`): rounds in which each
        worker searches its part of the open sub-problems for a quantum and sends back what it left open, its
        counterexample (re-checked here) and the sub-problems it handed to the exact MIP leaf, which this process
        decides while the workers search the next round. Holds only when the pool and the handed-over leaves are
        both empty."""
        T = self.options.threads
        executor = workers(T)
        if self._blob is None:
            self._blob = pickle.dumps(_WorkerSpec(self.net, self.d, self.lo, self.hi,
                                                  replace(self.options, threads=1, region_attack_after=0.0),
                                                  self.chain, self.seed, self.mip_leaf is not None))
        quantum = FIRST_QUANTUM
        while len(pool) or state.deferred:
            if clock.out() or self.stats.subproblems >= self.options.max_subproblems:
                self.stats.max_open = max(self.stats.max_open, len(pool))
                return "unknown", None, self.stats.as_dict()
            if state.attack_at > 0 and len(self.b) and clock.elapsed - started >= state.attack_at:
                found = self._parallel_attack(executor, state, clock)
                if found is not None:
                    return "violated", found, self.stats.as_dict()
                continue
            seconds = quantum if clock.left() is None else max(min(quantum, clock.left()), 0.01)
            handed = pool.take(len(pool))           # the pool is empty until the workers send back what is open
            futures = [executor.submit(_search_part, self._token, self._blob, part, seconds)
                       for part in handed.parts(T)]
            settled = self._settle_deferred(state, clock)       # while the workers search
            answer = None
            for future in futures:
                try:
                    status, found, rest, deferred, stats, lost = future.result()
                except BrokenProcessPool:       # a worker died (killed): its part is lost, the search open
                    discard()
                    state.lost = True
                    continue
                self.stats.add(stats)
                pool.add(rest)
                state.deferred.extend(deferred)
                if status == "violated" and answer is None:
                    found = point_in_region(self.net, self.d, found[0], self.lo, self.hi)
                    if found is not None:
                        answer = found
                    else:
                        lost = True       # cannot happen (the worker ran the same re-check), but never hides a box
                if lost:
                    state.lost = True
            self.stats.max_open = max(self.stats.max_open, len(pool) + len(state.deferred))
            if answer is not None:
                return "violated", answer, self.stats.as_dict()
            if settled is not None:
                return settled
            if state.lost:
                return "unknown", None, self.stats.as_dict()
            quantum = min(2 * quantum, MAX_QUANTUM)
        return "holds", None, self.stats.as_dict()

    def _parallel_attack(self, executor: object, state: _Resume, clock: Clock) -> tuple | None:
        """The wide attack that is due (as in :meth:`_search`), its samples split between the workers; a
        counterexample re-checked here, or None (the schedule moved on)."""
        T = self.options.threads
        t0 = clock.elapsed
        left = clock.left()
        futures = [executor.submit(_attack_part, self._token, self._blob, -(-state.samples // T),
                                   [self.seed, self.stats.region_attacks, w], left) for w in range(T)]
        found = None
        for future in futures:
            x = future.result()
            if x is not None and found is None:
                found = point_in_region(self.net, self.d, x, self.lo, self.hi)
        if found is not None:
            return found
        self._attacked(state, clock.elapsed - t0, clock)
        return None

    def _attacked(self, state: _Resume, took: float, clock: Clock) -> None:
        """Count a wide attack that found nothing and took ``took`` seconds, and schedule the next one, with twice
        the samples (at most 32 times the first's). An attack cut short by the clock is not counted: the same one
        runs again when the search resumes."""
        state.attacked += took
        if clock.out():
            return
        self.stats.region_attacks += 1
        grown = min(2 * state.samples, 32 * state.first)
        # the next attack's cost: this one's, scaled by the samples
        state.attack_at = next_attack_at(state.attacked, took * grown / state.samples, self.settings.attack_ratio)
        state.samples = grown

    def _settle_deferred(self, state: _Resume, clock: Clock) -> tuple[str, tuple | None, dict] | None:
        """Decide the sub-problems the workers handed to the exact MIP leaf, until ``clock`` is out (the rest stay
        for the next call): a ``violated`` or ``unknown`` result of the search (a leaf the MIP leaves undecided is
        lost to it: :attr:`_Resume.lost`), or None."""
        while state.deferred and not clock.out():
            self.stats.mip_leaves += 1
            status, found = self.mip_leaf(*state.deferred.pop())
            if status == "violated":
                return "violated", found, self.stats.as_dict()
            if status != "holds":
                state.lost = True
                return "unknown", None, self.stats.as_dict()
        return None

    @property
    def _has_exact_leaf(self) -> bool:
        """Whether sub-problems can go to the exact MIP leaf (here, or, in a worker, to the search's owner)."""
        return self.mip_leaf is not None or self.deferred is not None

    def _exact_leaf(self, batch: _Pool, i: int, bb: object, clock: Clock) -> tuple[str, tuple | None]:
        """The exact MIP leaf's decision of sub-problem ``i`` of a batch, ``("unknown", None)`` once ``clock`` is out
        (a batch may hold hundreds of leaves: each would still cost the solver's set-up). In a worker the leaf is
        the owner's: the sub-problem is handed over (:attr:`deferred`) and leaves this worker's part, and the owner
        counts it open until it has decided it."""
        leaf = (batch.lo[i], batch.hi[i], [(l[i], u[i]) for l, u in bb.pre],
                [None if s is None else s[i] for s in batch.splits])
        if self.deferred is not None:
            self.deferred.append(leaf)
            return "holds", None
        if clock.out():
            return "unknown", None
        self.stats.mip_leaves += 1
        return self.mip_leaf(*leaf)

    def _batch_size(self, clock: Clock) -> int:
        """The batch size, smaller when the time left would not cover a full batch (so a time limit is kept)."""
        left = clock.left()
        if left is None or self._per_box is None:
            return self.options.batch
        # a batch of b boxes costs about b (1 + 2 n) sub-problem bounds with input strong branching
        per = self._per_box * (1 + (2 * self.chain.n_inputs if self.branching == Branching.INPUT else 0))
        return int(np.clip(left / 2 / max(per, 1e-9), 8, self.options.batch))

    def _leaves(self, batch: _Pool, idx: np.ndarray, bb: object, clock: Clock) -> np.ndarray | tuple:
        """Settle the open sub-problems ``idx`` that an exact leaf can decide; the indices still open, or a
        ``("violated", (x, y), stats)`` result. No MIP leaf starts once ``clock`` is out (a batch may hold hundreds:
        each would still cost the solver's set-up), so the search keeps its time limit."""
        unstable = bb.unstable(self.chain)
        rest = []
        for i in idx:
            if unstable[i] == 0 and self._affine_on_box(bb, i):
                self.stats.lp_leaves += 1
                W, c, side = self._affine_map(bb, i, [None if s is None else s[i] for s in batch.splits])
                status, found = self._lp_leaf(batch.lo[i], batch.hi[i], W, c, side)
                if status == "violated":
                    return "violated", found, self.stats.as_dict()
                if status == "holds":
                    continue
            elif self._has_exact_leaf and unstable[i] <= self.settings.mip_threshold:
                status, found = self._exact_leaf(batch, i, bb, clock)
                if status == "violated":
                    return "violated", found, self.stats.as_dict()
                if status == "holds":
                    continue
            rest.append(i)
        return np.array(rest, dtype=int)

    def _pool_input_bounds(self, bb: object, k: int, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Bounds ``(1, m)`` of the input of max-pool ``k`` on box ``i`` for the dominance test.

        When the affine map feeding the max-pool only selects outputs of the ReLU before it (0/1 rows with one
        entry, no bias: the lowering of Conv2D-ReLU-MaxPool2D), the inputs are those ReLU outputs exactly, bounded
        by ``[max(l, 0), max(u, 0)]`` of the ReLU's input bounds without the rounding widening of
        ``bb.pre[k]`` (which makes a window of switched-off ReLUs, all exactly 0, look undecided). Otherwise
        ``bb.pre[k]``.
        """
        aff = self.chain.ops[2 * k]
        l, u = bb.pre[k]
        if k == 0 or not isinstance(self.chain.activations[k - 1], Relu) or np.any(aff.b != 0) or \
                not np.all((aff.W == 0) | (aff.W == 1)) or not np.all((aff.W == 1).sum(axis=1) == 1):
            return l[i:i + 1], u[i:i + 1]
        src = np.argmax(aff.W, axis=1)
        rl, ru = bb.pre[k - 1]
        return np.maximum(rl[i, src], 0.0)[None], np.maximum(ru[i, src], 0.0)[None]

    def _affine_on_box(self, bb: object, i: int) -> bool:
        """Whether every non-linearity is fixed on box ``i`` (ReLUs stable, max-pools dominated)."""
        for k, op in enumerate(self.chain.activations):
            if isinstance(op, Relu):
                continue        # counted by BoxBounds.unstable
            _, dominated, _ = maxpool_lines(op.windows, *self._pool_input_bounds(bb, k, i))
            if not dominated.all():
                return False
        return True

    def _affine_map(self, bb: object, i: int, splits: list) -> tuple[np.ndarray, np.ndarray, tuple]:
        """The network's exact affine map on sub-problem ``i`` (every non-linearity fixed), and the half-spaces
        ``S x <= s`` of its ReLU splits."""
        n = self.chain.n_inputs
        W, c = np.eye(n), np.zeros(n)
        S, s = [np.zeros((0, n))], [np.zeros(0)]
        k = 0
        for op in self.chain.ops:
            if hasattr(op, "W"):
                W, c = op.W @ W, op.W @ c + op.b
                continue
            l = bb.pre[k][0][i]
            if isinstance(op, Relu):
                if splits[k] is not None:
                    pos, neg = splits[k] > 0, splits[k] < 0
                    S += [-W[pos], W[neg]]
                    s += [c[pos], -c[neg]]
                on = (l >= 0).astype(float)
                W, c = on[:, None] * W, on * c
            else:
                sel = maxpool_lines(op.windows, *self._pool_input_bounds(bb, k, i))[0][0]
                W, c = W[sel], c[sel]
            k += 1
        return W, c, (np.vstack(S), np.concatenate(s))


def _take_bounds(bb: object, rows: np.ndarray) -> object:
    """The bounds of the sub-problems ``rows`` of a batch."""
    out = type(bb)(bb.lo[rows], bb.hi[rows], [(l[rows], u[rows]) for l, u in bb.pre])
    return out


# ------------------------------------------------------------------------------- the workers' side (processes)
@dataclass
class _WorkerSpec:
    """What a worker process needs to rebuild a search (pickled once per search, sent with every task)."""

    net: Network
    d: Disjunct
    lo: np.ndarray
    hi: np.ndarray
    options: BabOptions
    chain: Chain
    seed: int
    defer_leaves: bool     #: the owner has an exact MIP leaf: hand it the sub-problems that need one


_worker_search: dict[str, DisjunctSearch] = {}     # in a worker: the search it is working for, by token


def _search_of(token: str, blob: bytes) -> DisjunctSearch:
    """The worker's copy of the search ``token`` (rebuilt from ``blob`` when it changes; one kept at a time)."""
    search = _worker_search.get(token)
    if search is None:
        _worker_search.clear()
        spec: _WorkerSpec = pickle.loads(blob)
        search = DisjunctSearch(spec.net, spec.d, spec.lo, spec.hi, spec.options, chain=spec.chain, seed=spec.seed)
        search.deferred = [] if spec.defer_leaves else None
        _worker_search[token] = search
    return search


def _search_part(token: str, blob: bytes, pool: _Pool, seconds: float) -> tuple:
    """A worker's round: search ``pool`` for ``seconds`` (no wide attacks: the owner schedules them). Returns
    ``(status, (x, y) or None, what is left open, the sub-problems handed to the MIP leaf, stats, lost)``."""
    search = _search_of(token, blob)
    search.stats = BabStats(branching=str(search.branching))
    if search.deferred is not None:
        search.deferred = []
    state = _Resume(pool, 0.0, 0, 0)
    status, found, _ = search._search(pool, Clock(seconds), 0.0, state)
    return status, found, pool, search.deferred or [], search.stats, state.lost


def _attack_part(token: str, blob: bytes, samples: int, seed: list, seconds: float | None) -> np.ndarray | None:
    """A worker's share of a wide attack: the input of a counterexample it found, or None."""
    search = _search_of(token, blob)
    clock = Clock(None if seconds is None else max(seconds, 0.01))
    X = region_attack(search.chain, search.A, search.b, search.lo, search.hi, samples,
                      np.random.default_rng(seed), clock=clock)
    found = search._counterexample(X)
    return None if found is None else found[0]
