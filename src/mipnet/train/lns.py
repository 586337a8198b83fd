"""Large-neighbourhood search: the primal side of training (issue 14).

The full training MIP of a convolutional network is too large for the solver to improve on its warm start in
minutes (thousands of ReLU and max-pool binaries, a near-zero LP bound). Most of that difficulty disappears when
most of the network's parameters are fixed: with the weights of every filter but one fixed, the other filters'
activations are constants; with every binary fixed, what is left is an LP in the continuous weights. The search
repeats such sub-MIPs around the incumbent:

* **pattern** (an LP): every integer variable fixed to the incumbent (ReLU sides, max-pool selectors, discrete
  weights, gates); the continuous weights (a first layer on data) and biases move: a polishing step;
* **layer k**: the parameters of affine layer ``k`` free, every other layer's fixed (``head``: the last layer;
  where it is a ``Dense`` layer after others and no extra rows are present, its sub-MIP is built on its own: the
  earlier layers' outputs are then constants (the incumbent's forward pass), so the sub-MIP is a linear model on
  fixed features with the head's discrete weights, a few hundred binaries, solved in a fraction of a second);
* **unit c of layer k**: one filter (or hidden neuron) with its gate, and the weights of the next layer that read
  it, free;
* **random**: a random share of the weight entries free (adapted: smaller after a sub-MIP stopped by its limit,
  larger after one proved).

Every other sub-MIP is the full training MIP with bounds pinned (:func:`restricted`), so every solution it returns
is a network the full model allows (the head's own MIP changes only weights within the head's domain). Each is
solved with the incumbent as its MIP start and a short time limit; a solution is accepted only when the network
extracted from it passes the certificate (:func:`mipnet.train.certificate.certify`, the one re-check of every
solve) and its numpy objective is below the incumbent's. Every improvement is reported to the run's
:class:`~mipnet.progress.TrainProgress` (so its history, the report and the progress plot show the objective over
time) and the model is rebuilt around the new incumbent, whose objective gives a tighter L1 budget.

No bound comes from a sub-MIP: a neighbourhood's optimum says nothing about the networks outside it. The bound of
the run is the full MIP's, which the trainer solves afterwards from the best network found.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

import numpy as np

from mipnet.clock import Clock
from mipnet.layers import Dense
from mipnet.mip import MIPModel
from mipnet.network import Network
from mipnet.progress import Phase, TrainProgress
from mipnet.solvers import SolveOptions, Status
from mipnet.solvers.base import Backend
from mipnet.train.certificate import certify, objective_value
from mipnet.train.config import LNSOptions, PrimalSearch, TrainConfig
from mipnet.train.formulation import TrainingFormulation, WeightBlock
from mipnet.train.losses import Loss
from mipnet.train.warmstart_cnn import input_channels

#: relative improvement a network must bring to replace the incumbent (below: solver noise, not progress)
IMPROVEMENT = 1e-9


@dataclass
class Neighbourhood:
    """Which parameters a sub-MIP may change; every other parameter is fixed to the incumbent.

    Attributes
    ----------
    name : str
    weights : list of ndarray
        Per affine layer, ``(out, E)`` booleans: the weight entries that are free.
    units : list of ndarray
        Per affine layer, ``(out,)`` booleans: the units whose bias and gates (neuron, filter) are free.
    layers : list of bool
        Per affine layer: its layer gate is free.
    integers : bool
        Fix every integer variable of the model as well (the pattern LP): only continuous variables move.
    """

    name: str
    weights: list[np.ndarray]
    units: list[np.ndarray]
    layers: list[bool]
    integers: bool = False


@dataclass
class Round:
    """One sub-MIP of the search."""

    name: str
    time: float          #: seconds since launch at the end of the sub-MIP
    seconds: float       #: the sub-MIP's own time
    status: str
    objective: float     #: numpy objective of the network it returned (``nan``: none)
    improved: bool


@dataclass
class SearchResult:
    """What the search found: the best network, its objective, and the formulation built around it."""

    network: Network
    value: float
    form: TrainingFormulation
    rounds: list[Round] = field(default_factory=list)
    start_value: float = math.nan
    seconds: float = 0.0

    @property
    def improvements(self) -> list[Round]:
        return [r for r in self.rounds if r.improved]

    def summary(self) -> str:
        """One line for the report: sub-MIPs, time, improvements and the objective before and after."""
        steps = ", ".join(f"{r.name} {r.objective:.6g} at {r.time:.1f}s" for r in self.improvements)
        return (f"large-neighbourhood search: {len(self.rounds)} sub-MIPs in {self.seconds:.1f}s, "
                f"{len(self.improvements)} improvements, {self.start_value:.6g} -> {self.value:.6g}"
                + (f" ({steps})" if steps else "") + "; no bound comes from it")


def restricted(model: MIPModel, lb: np.ndarray, ub: np.ndarray) -> tuple[MIPModel, Callable[[np.ndarray], np.ndarray]]:
    """``model`` with the bounds ``lb``, ``ub``, its fixed variables substituted out: their columns move into the
    row bounds and the objective constant, rows left without a column are dropped (each is checked to hold).
    Returns the smaller model and ``lift``, which maps its solutions back to full vectors. A model with quadratic or
    bilinear terms keeps every column (only the bounds change)."""
    fixed = lb == ub
    if model.quad_obj or model.bilinear or not fixed.any():
        return replace(model, lb=[lb], ub=[ub], integer=[model.integrality()]), lambda v: v
    A, lo, hi = model.matrix()
    A = A.tocsc()
    free = np.flatnonzero(~fixed)
    shift = A[:, np.flatnonzero(fixed)] @ lb[fixed]
    Af = A[:, free].tocsr()
    keep = np.diff(Af.indptr) > 0
    tol = 1e-7 * (1.0 + np.abs(shift))
    if np.any((shift < lo - tol) & ~keep) or np.any((shift > hi + tol) & ~keep):
        raise ValueError("the fixed values violate a row of the model")   # never: they are a feasible solution's
    Af = Af[keep].tocoo()
    c = model.objective_vector()
    sub = MIPModel()
    sub.add_vars(len(free), lb[free], ub[free])
    sub.integer = [model.integrality()[free]]
    sub._rows, sub._cols, sub._vals = [Af.row.astype(np.int64)], [Af.col.astype(np.int64)], [Af.data]
    sub._lo, sub._hi = [(lo - shift)[keep]], [(hi - shift)[keep]]
    sub.n_rows = int(keep.sum())
    nz = np.flatnonzero(c[free])
    sub.obj = dict(zip(nz.tolist(), c[free][nz].tolist()))
    sub.obj_constant = model.obj_constant + float(c[fixed] @ lb[fixed])

    def lift(v: np.ndarray) -> np.ndarray:
        x = lb.copy()
        x[free] = v
        return x

    return sub, lift


def pinned_bounds(form: TrainingFormulation, x: np.ndarray, nb: Neighbourhood) -> tuple[np.ndarray, np.ndarray]:
    """The model's bounds with every parameter outside ``nb`` fixed to its value in ``x`` (integer variables
    rounded); with ``nb.integers`` every integer variable fixed too."""
    lb, ub = form.m.bounds()
    ints = form.m.integrality()
    x = np.where(ints, np.round(x), x)
    fixed = np.zeros(form.m.n_vars, dtype=bool)
    for blk, w_free, u_free, l_free in zip(form.blocks, nb.weights, nb.units, nb.layers):
        for idx, free in _parameters(blk, w_free, u_free, l_free):
            fixed[idx[~free]] = True
    if form.input_gate is not None and not nb.weights[0].all():
        fixed[form.input_gate] = True
    if nb.integers:
        fixed |= ints
    lb, ub = lb.copy(), ub.copy()
    lb[fixed] = ub[fixed] = np.clip(x[fixed], lb[fixed], ub[fixed])
    return lb, ub


def _parameters(blk: WeightBlock, w_free: np.ndarray, u_free: np.ndarray,
                l_free: bool) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Each parameter variable block of a layer with the mask of its free entries."""
    for idx in (blk.W, blk.absw, blk.nz):
        if idx is not None:
            yield idx, w_free
    if blk.beta is not None:
        yield blk.beta, np.broadcast_to(w_free[..., None], blk.beta.shape)
    for idx in (blk.b, blk.gate, blk.filter_gate):
        if idx is not None:
            yield idx, u_free
    if blk.layer_gate is not None:
        yield np.array([blk.layer_gate]), np.array([l_free])


class Neighbourhoods:
    """The cycle of neighbourhoods for one architecture: pattern LP (where some layer has continuous weights), the
    head, each unit of each hidden layer, each hidden layer, then a random one (a fresh draw each time)."""

    def __init__(self, form: TrainingFormulation, options: LNSOptions, seed: int) -> None:
        self.shapes = [blk.W.shape for blk in form.blocks]
        self.chans = input_channels(form.template)
        self.fraction = options.random_fraction
        self.rng = np.random.default_rng(seed)
        n = len(self.shapes)
        self.fixed: list[Callable[[], Neighbourhood]] = []
        if any(not blk.domain.discrete for blk in form.blocks):
            self.fixed.append(lambda: self._make("pattern", [True] * n, integers=True))
        self.fixed.append(lambda: self._make("head", [k == n - 1 for k in range(n)]))
        for k in range(n - 1):
            for c in range(self.shapes[k][0]):
                self.fixed.append(lambda k=k, c=c: self._unit(k, c))
        for k in range(n - 1):
            self.fixed.append(lambda k=k: self._make(f"layer {k}", [j == k for j in range(n)]))

    def __len__(self) -> int:
        """Neighbourhoods in one cycle (the random one included)."""
        return len(self.fixed) + 1

    def cycle(self) -> Iterator[Neighbourhood]:
        """Every neighbourhood once, in order (a new random draw at the end)."""
        for make in self.fixed:
            yield make()
        yield self._random()

    def _make(self, name: str, free_layers: list[bool], integers: bool = False) -> Neighbourhood:
        return Neighbourhood(name, [np.full(s, f) for s, f in zip(self.shapes, free_layers)],
                             [np.full(s[0], f) for s, f in zip(self.shapes, free_layers)], list(free_layers),
                             integers)

    def _unit(self, k: int, c: int) -> Neighbourhood:
        nb = self._make(f"unit {c} of layer {k}", [False] * len(self.shapes))
        nb.weights[k][c] = True
        nb.units[k][c] = True
        nb.weights[k + 1][:, self.chans[k + 1] == c] = True
        nb.units[k + 1][:] = True  # the next layer's biases (continuous) adjust to the change
        return nb

    def _random(self) -> Neighbourhood:
        nb = self._make(f"random {self.fraction:.2f}", [False] * len(self.shapes))
        for k, s in enumerate(self.shapes):
            nb.weights[k] = self.rng.random(s) < self.fraction
            nb.units[k] = self.rng.random(s[0]) < self.fraction
        return nb

    def adapt(self, nb: Neighbourhood, proved: bool) -> None:
        """After a random sub-MIP: free more next time when it was proved, fewer when it ran out of time."""
        if nb.name.startswith("random"):
            self.fraction = min(0.9, self.fraction * 1.3) if proved else max(0.02, self.fraction * 0.7)


def search(build: Callable[[Network, float], TrainingFormulation], network: Network, value: float, X: np.ndarray,
           y: np.ndarray, loss: Loss, config: TrainConfig, backend: Backend, options: SolveOptions,
           clock: Clock, tracker: TrainProgress, form: TrainingFormulation | None = None,
           separate_head: bool = True) -> SearchResult:
    """Large-neighbourhood search from ``network`` (objective ``value``) until ``clock`` runs out, a whole cycle of
    neighbourhoods brings no improvement, or ``config.lns.max_rounds`` sub-MIPs have run.

    Parameters
    ----------
    build : callable
        ``build(network, value)``: the full training MIP with ``network`` as its start and ``value`` as the
        incumbent of its bound rule (the caller adds its extra rows there).
    form : TrainingFormulation or None
        ``build(network, value)`` when the caller has it already.
    separate_head : bool
        Solve the head neighbourhood as its own small MIP (see the module docstring); ``False`` where ``build``
        adds rows of its own (constraints), which that MIP would not have.
    clock : Clock
        The search's own time (its limit: the share of the run's time given to it).

    Returns
    -------
    SearchResult
        The best network (never worse than ``network``), its numpy objective and the formulation built around it
        (the start vector of that formulation is the network). Ctrl-C ends the search with what it has.
    """
    opts = config.lns
    tracker.enter(Phase.PRIMAL, detail="large-neighbourhood search")
    form = build(network, value) if form is None else form
    result = SearchResult(network, value, form, start_value=value)
    x = form.start_vector()
    hoods = Neighbourhoods(form, opts, config.seed)
    t0 = time.perf_counter()
    idle = 0
    try:
        while len(result.rounds) < opts.max_rounds and idle < len(hoods):
            stop = False
            for nb in hoods.cycle():
                left = clock.left()
                if clock.out() or (left is not None and left < 0.2) or len(result.rounds) >= opts.max_rounds:
                    stop = True
                    break
                sub = _sub_limit(opts, clock)
                if nb.name == "head" and separate_head and _separable_head(result.network):
                    improved = _head_round(result, sub, X, y, loss, config, backend, options, tracker)
                else:
                    improved = _round(result, nb, x, sub, X, y, loss, config, backend, options, tracker, hoods)
                if improved:
                    result.form = build(result.network, result.value)
                    x = result.form.start_vector()
                    idle = 0
                else:
                    idle += 1
                    if idle >= len(hoods):
                        break
            if stop:
                break
    except KeyboardInterrupt:
        tracker.interrupted = True
    result.seconds = time.perf_counter() - t0
    return result


def _sub_limit(opts: LNSOptions, clock: Clock) -> float:
    left = clock.left()
    if opts.sub_time_limit is not None:
        return opts.sub_time_limit if left is None else max(min(opts.sub_time_limit, left), 1e-3)
    if left is None:
        return 5.0
    return max(min(max(clock.limit / 10.0, 1.0), 10.0, left), 1e-3)


def _round(result: SearchResult, nb: Neighbourhood, x: np.ndarray, sub: float, X: np.ndarray, y: np.ndarray,
           loss: Loss, config: TrainConfig, backend: Backend, options: SolveOptions, tracker: TrainProgress,
           hoods: Neighbourhoods) -> bool:
    """One sub-MIP; ``result`` takes its network when it is certified and better."""
    form = result.form
    lb, ub = pinned_bounds(form, x, nb)
    model, lift = restricted(form.m, lb, ub)
    sub_options = replace(options, time_limit=sub, callback=None, cutoff=None, verbose=False)
    res = backend.solve(model, sub_options, start=x[lb != ub] if model.n_vars < len(x) else x)
    hoods.adapt(nb, res.status == Status.OPTIMAL)
    value, net = math.nan, None
    if res.has_solution:
        full = lift(res.x)
        net = form.extract(full)
        cert = certify(net, X, y, loss, config, form.encoding, full, res.objective)  # warns when it fails
        value = cert.numpy_objective if cert.ok else math.nan   # a network that fails the re-check is refused
    better = net is not None and value < result.value - IMPROVEMENT * (1.0 + abs(result.value))
    result.rounds.append(Round(nb.name, tracker.elapsed, res.time, str(res.status), value, bool(better)))
    if better:
        result.network, result.value = net, float(value)
        tracker.found(result.value, f"neighbourhood {nb.name}")
    return bool(better)


def _separable_head(net: Network) -> bool:
    layers = net.layers
    last = max(i for i, layer in enumerate(layers) if layer.is_affine)
    return last > 0 and isinstance(layers[last], Dense) and layers[last].active


def head_config(config: TrainConfig) -> TrainConfig:
    """The options of the head's own MIP: the same loss terms and weight penalties (the other layers' terms are
    constants there), no structure of the other layers, no primal search."""
    return replace(config, neuron_penalty=0.0, input_penalty=0.0, max_inputs=None, max_neurons=None,
                   filter_penalty=0.0, max_filters=None, layer_penalty=0.0, max_layers=None, gates=frozenset(),
                   bounds="interval", primal=PrimalSearch.NONE)


def _head_round(result: SearchResult, sub: float, X: np.ndarray, y: np.ndarray, loss: Loss, config: TrainConfig,
                backend: Backend, options: SolveOptions, tracker: TrainProgress) -> bool:
    """The head neighbourhood as its own MIP on the incumbent's features (the last affine layer's inputs); the
    network it gives is re-checked twice: the head's MIP by the certificate, the whole network by numpy."""
    net = result.network
    li = max(i for i, layer in enumerate(net.layers) if layer.is_affine)
    head = net.layers[li]
    features = net.forward(X, return_all=True)[li - 1].reshape(len(X), -1)
    cfg = head_config(config)
    spec = {"units": head.units, "bias_on": head.bias_on, "relu": False}
    template = Network([Dense(**spec)], features.shape[1])
    warm = Network([Dense(**spec, weight=head.weight, bias=head.bias)], features.shape[1])
    form = TrainingFormulation(template, features, y, loss, cfg, [result.form.domains[-1]], warm=warm)
    sub_options = replace(options, time_limit=sub, callback=None, cutoff=None, verbose=False)
    res = backend.solve(form.m, sub_options, start=form.start_vector())
    value, cand = math.nan, None
    if res.has_solution:
        head_net = form.extract(res.x)
        new_head = head_net.layers[0]
        cert = certify(head_net, features, y, loss, cfg, form.encoding, res.x, res.objective)  # warns on failure
        if cert.ok:
            cand = copy.deepcopy(net)
            cand.layers[li].weight, cand.layers[li].bias = new_head.weight, new_head.bias
            value = objective_value(cand, X, y, loss, config)
    better = cand is not None and value < result.value - IMPROVEMENT * (1.0 + abs(result.value))
    result.rounds.append(Round("head", tracker.elapsed, res.time, str(res.status), value, bool(better)))
    if better:
        result.network, result.value = cand, float(value)
        tracker.found(result.value, "neighbourhood head")
    return bool(better)
