"""Every training option in one validated record, shared by the estimators, the CLI and the benchmarks."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

from mipnet.errors import SettingsError

BOUND_RULES = ("interval", "budget")


class Gate(StrEnum):
    """Structure binaries a model can carry (each also switched on by its penalty or limit)."""

    INPUT = "input"      #: one per input feature: 0 means every first-layer weight of the feature is 0
    NEURON = "neuron"    #: one per hidden Dense unit: 0 means its incoming weights and bias are 0
    FILTER = "filter"    #: one per convolution filter
    LAYER = "layer"      #: one per shape-preserving hidden layer: 0 means the layer passes its input through


class PrimalSearch(StrEnum):
    """The primal side of training: how the trainer looks for better networks before the full MIP runs."""

    AUTO = "auto"   #: large-neighbourhood search for networks with a convolution, none otherwise
    LNS = "lns"     #: large-neighbourhood search (:mod:`mipnet.train.lns`)
    NONE = "none"   #: the full MIP alone, from the warm start


@dataclass(frozen=True)
class LNSOptions:
    """Large-neighbourhood search (:mod:`mipnet.train.lns`): sub-MIPs with most weights fixed to the incumbent.

    Attributes
    ----------
    time_share : float
        Share of the time left after the warm start and the build that the search may use (the full MIP, which
        alone gives the bound, gets the rest). Without a time limit the search ends when a whole cycle of
        neighbourhoods brings no improvement (or after ``max_rounds`` sub-MIPs).
    sub_time_limit : float or None
        Seconds per sub-MIP; ``None``: a tenth of the search's time, between 1 and 10 s (5 s without a limit).
    random_fraction : float
        Share of the weights freed by a random neighbourhood at first (adapted: smaller after a sub-MIP stopped by
        its time limit, larger after one proved).
    max_rounds : int
        Most sub-MIPs in one search.
    """

    time_share: float = 0.5
    sub_time_limit: float | None = None
    random_fraction: float = 0.3
    max_rounds: int = 200

    def __post_init__(self) -> None:
        if not (isinstance(self.time_share, (int, float)) and 0 < self.time_share < 1):
            raise SettingsError(f"time_share must be in (0, 1), got {self.time_share!r}")
        if self.sub_time_limit is not None and not (math.isfinite(self.sub_time_limit) and self.sub_time_limit > 0):
            raise SettingsError(f"sub_time_limit must be a positive number of seconds, got {self.sub_time_limit!r}")
        if not 0 < self.random_fraction <= 1:
            raise SettingsError(f"random_fraction must be in (0, 1], got {self.random_fraction!r}")
        if int(self.max_rounds) != self.max_rounds or self.max_rounds < 1:
            raise SettingsError(f"max_rounds must be a whole number >= 1, got {self.max_rounds!r}")


@dataclass(frozen=True)
class ObbtOptions:
    """LP bound tightening of the first layer's big-M values in the sign-pattern sub-problems
    (:mod:`mipnet.train.sign_patterns.obbt`; off by default: measured slower, see bench/RESULTS.md).

    Attributes
    ----------
    time_fraction : float
        Share of the remaining time for the tightening.
    rounds : int
        Rebuild-and-tighten rounds.
    lower : bool
        Also tighten lower bounds.
    pair_rows : int
        Pair rows in the tightening LP (fewer: a cheaper, looser LP).
    symmetric : bool
        The same (loosest) bound for every unit of equal output sign, per sample.
    """

    time_fraction: float = 0.1
    rounds: int = 1
    lower: bool = True
    pair_rows: int = 0
    symmetric: bool = True


@dataclass(frozen=True)
class SignPatternOptions:
    """Speed features of the exact decomposition by output signs (:mod:`mipnet.train.sign_patterns`).

    Every switch keeps the optimum (tested against the naive model); the defaults are the measured best.

    Attributes
    ----------
    one_sided_relu : bool
        Keep only the side of each first-layer ReLU the objective can push against.
    margin_cap : bool
        Cap the margins ``s_i o_i <= 1`` (binary hinge) and lower the big-M of one-sided entries with it.
    secant_rows : bool
        Rows ``a <= (z + sum |x||w| + |b|) / 2`` on the first layer.
    pair_rows : int or None
        Nearest opposite-class sample pairs listed as rows (0: none); ``None``: 8 without the cut loop, 0 with it
        (the cut family contains them).
    relu_indicator : bool
        Rows ``z <= U d`` on one-sided entries (measured slower).
    group_order : bool
        Order the units within each group of equal output sign (measured slower: HiGHS's own symmetry handling).
    relu_cuts : bool
        The root cut loop with convex-combination ReLU cuts (:mod:`mipnet.train.sign_patterns.cuts`).
    cut_keep_slack : float
        Cuts whose slack at the loop's last LP is below this go into the MIP.
    cut_symmetric : bool
        Add each cut for every unit of equal output sign.
    obbt : ObbtOptions or None
        LP bound tightening before each sub-problem (``None``: off).
    """

    one_sided_relu: bool = True
    margin_cap: bool = True
    secant_rows: bool = True
    pair_rows: int | None = None
    relu_indicator: bool = False
    group_order: bool = False
    relu_cuts: bool = True
    cut_keep_slack: float = 0.05
    cut_symmetric: bool = False
    obbt: ObbtOptions | None = None

    def __post_init__(self) -> None:
        if self.pair_rows is not None and (int(self.pair_rows) != self.pair_rows or self.pair_rows < 0):
            raise SettingsError(f"pair_rows must be a whole number >= 0 or None, got {self.pair_rows!r}")
        if not (math.isfinite(self.cut_keep_slack) or self.cut_keep_slack == math.inf) or self.cut_keep_slack < 0:
            raise SettingsError(f"cut_keep_slack must be >= 0, got {self.cut_keep_slack!r}")

    @property
    def listed_pair_rows(self) -> int:
        """Pair rows listed in the sub-problem's model (the cut loop separates them instead)."""
        if self.pair_rows is not None:
            return int(self.pair_rows)
        return 0 if self.relu_cuts else 8


@dataclass
class TrainConfig:
    """Options of the training MIP (see the README for what each means).

    Parameters
    ----------
    weights : str or list
        Weight domain(s): ``"auto"``, ``"continuous"``, ``"sign"``, ``"ternary"``, ``"grid(bits)"``,
        ``"continuous-bilinear"``, or one per affine layer.
    weight_bound : float
        ``omega``: every weight lies in ``[-omega, omega]`` (sign weights in ``{-1, 0, 1}``).
    bias_bound : float or None
        Bound on every bias; ``None`` uses ``weight_bound``.
    l1, l2, l0 : float
        Penalties on ``sum|w|``, ``sum w**2`` and the number of nonzero weights (biases are not penalised).
    neuron_penalty, input_penalty : float
        Penalties on the number of active hidden neurons and of input features used.
    max_inputs, max_neurons : int or None
        Hard limits on input features used and on active hidden neurons per hidden layer.
    filter_penalty : float
        Penalty per active filter of a convolution (a filter gate ``f_c = 0`` sets every weight and the bias of
        filter ``c`` to 0).
    max_filters : int or None
        Hard limit on active filters per convolution layer.
    layer_penalty : float
        Penalty per active gated layer. Every hidden affine layer whose output shape equals its input shape gets
        a layer gate ``u``; ``u = 0`` makes the layer pass its input through unchanged (depth is a decision).
    max_layers : int or None
        Hard limit on the number of active gated layers (0 allowed: every gated layer may be skipped).
    symmetry : bool
        Add ordering constraints that remove permuted copies of hidden neurons.
    bounds : {"interval", "budget"}
        Pre-activation bound rule (``budget`` needs ``l1 > 0`` and an incumbent; else it equals interval).
    warm_start : bool
        Start the solver from a gradient-trained network projected onto the weight domains.
    decompose : bool
        For one hidden layer and one output with ``sign`` weights and the binary hinge loss, solve the exact
        decomposition by output signs (:mod:`mipnet.train.sign_patterns.decompose`): ``H + 1`` smaller MIPs,
        each with the best network so far as cutoff; for a convolution on the data followed by pooling and a small
        discrete head (:mod:`mipnet.train.sign_patterns.conv_heads`), the decomposition by head patterns. Needs
        ``warm_start`` (and HiGHS); the result is the same optimum.
    output_pair_rows : int
        For classification with a first affine layer on the data (continuous weights, ReLU), then only max / average
        pooling and flatten, then a ``Dense`` head, and ``l1 > 0``: rows ``o_h - o_u <= sum_j omega_j sum_e
        max_k |x_hke - x_uke| t_je`` for each sample and this many nearest samples (L1 distance) of another class
        (:meth:`~mipnet.train.formulation.TrainingFormulation.add_output_pair_rows`): two samples' outputs differ
        by at most what the first layer's L1 weight allows, which the big-M relaxation of the head's products
        ignores (it lets each sample have its own head). 0 (the default): none. Measured (bench/RESULTS.md): they
        lift the full MIP's root LP bound from 0 but left the 300 s bounds unchanged, and made the decomposition
        by head patterns 2.1 times slower to its optimum, so they are off unless asked for.
    margin : float
        Margin of the misclassification loss.
    seed : int
        Seed of the warm start's random initialisation.
    sign_patterns : SignPatternOptions
        Switches of the individual speed features of the sign-pattern sub-problems, for experiments and
        ablations (each is tested to keep the optimum).
    gates : frozenset of Gate
        Structure binaries the model must carry even without a penalty or limit (logic constraints between
        structure choices act on them, :mod:`mipnet.constraints`).
    primal : PrimalSearch
        The primal side: ``auto`` (default) runs the large-neighbourhood search for networks with a convolution,
        ``lns`` for any network (it runs on the full MIP, so ``lns`` also turns off the decomposition by output
        signs), ``none`` never. It only finds networks; the bound comes from the full MIP alone.
    lns : LNSOptions
        Time share and sizes of the large-neighbourhood search.
    """

    weights: str | list = "auto"
    weight_bound: float = 1.0
    bias_bound: float | None = None
    l1: float = 0.0
    l2: float = 0.0
    l0: float = 0.0
    neuron_penalty: float = 0.0
    input_penalty: float = 0.0
    max_inputs: int | None = None
    max_neurons: int | None = None
    filter_penalty: float = 0.0
    max_filters: int | None = None
    layer_penalty: float = 0.0
    max_layers: int | None = None
    symmetry: bool = True
    bounds: str = "budget"
    warm_start: bool = True
    decompose: bool = True
    output_pair_rows: int = 0
    margin: float = 1e-2
    seed: int = 0
    sign_patterns: SignPatternOptions = field(default_factory=lambda: SignPatternOptions())
    gates: frozenset = frozenset()
    primal: PrimalSearch = PrimalSearch.AUTO
    lns: LNSOptions = field(default_factory=lambda: LNSOptions())

    def __post_init__(self) -> None:
        for name in ("l1", "l2", "l0", "neuron_penalty", "input_penalty", "filter_penalty", "layer_penalty"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise SettingsError(f"{name} must be a finite number >= 0, got {v!r}")
        if not (isinstance(self.weight_bound, (int, float)) and math.isfinite(self.weight_bound)
                and self.weight_bound > 0):
            raise SettingsError(f"weight_bound must be a positive number, got {self.weight_bound!r}")
        if self.bias_bound is not None and not (math.isfinite(self.bias_bound) and self.bias_bound >= 0):
            raise SettingsError(f"bias_bound must be a number >= 0, got {self.bias_bound!r}")
        for name in ("max_inputs", "max_neurons", "max_filters"):
            v = getattr(self, name)
            if v is not None and (int(v) != v or v < 1):
                raise SettingsError(f"{name} must be a whole number >= 1, got {v!r}")
        if self.max_layers is not None and (int(self.max_layers) != self.max_layers or self.max_layers < 0):
            raise SettingsError(f"max_layers must be a whole number >= 0, got {self.max_layers!r}")
        if self.bounds not in BOUND_RULES:
            raise SettingsError(f"bounds must be one of {BOUND_RULES}, got {self.bounds!r}")
        if int(self.output_pair_rows) != self.output_pair_rows or self.output_pair_rows < 0:
            raise SettingsError(f"output_pair_rows must be a whole number >= 0, got {self.output_pair_rows!r}")
        if self.margin <= 0:
            raise SettingsError(f"margin must be positive, got {self.margin}")
        self.gates = frozenset(Gate(g) for g in self.gates)
        try:
            self.primal = PrimalSearch(self.primal)
        except ValueError:
            raise SettingsError(f"primal must be one of {[p.value for p in PrimalSearch]}, "
                                f"got {self.primal!r}") from None
        if not isinstance(self.lns, LNSOptions):
            raise SettingsError(f"lns must be an LNSOptions, got {type(self.lns).__name__}")
        if not isinstance(self.sign_patterns, SignPatternOptions):
            raise SettingsError(f"sign_patterns must be a SignPatternOptions, got {type(self.sign_patterns).__name__}")

    @classmethod
    def naive(cls, **kwargs: object) -> TrainConfig:
        """The plain formulation (benchmark baseline): big-M from per-sample interval bounds, no warm start,
        no symmetry handling, no decomposition, no primal search. Same model (objective and feasible networks) as
        the default."""
        return cls(**{"bounds": "interval", "symmetry": False, "warm_start": False, "decompose": False,
                      "primal": PrimalSearch.NONE, "output_pair_rows": 0, **kwargs})

    @property
    def input_gates(self) -> bool:
        """Whether the first layer gets one gate per input feature."""
        return self.input_penalty > 0 or bool(self.max_inputs) or Gate.INPUT in self.gates

    @property
    def neuron_gates(self) -> bool:
        """Whether hidden Dense units get neuron gates."""
        return self.neuron_penalty > 0 or bool(self.max_neurons) or Gate.NEURON in self.gates

    @property
    def filter_gates(self) -> bool:
        """Whether convolution layers get filter gates."""
        return self.filter_penalty > 0 or self.max_filters is not None or Gate.FILTER in self.gates

    @property
    def layer_gates(self) -> bool:
        """Whether shape-preserving hidden layers get layer gates."""
        return self.layer_penalty > 0 or self.max_layers is not None or Gate.LAYER in self.gates

    @property
    def omega_b(self) -> float:
        return float(self.weight_bound if self.bias_bound is None else self.bias_bound)
