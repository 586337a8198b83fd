"""Every training option in one validated record, shared by the estimators, the CLI and the benchmarks."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from mipnet.errors import SettingsError

BOUND_RULES = ("interval", "budget")


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
        decomposition by output signs (:mod:`mipnet.train.decompose`): ``H + 1`` smaller MIPs, each with the
        best network so far as cutoff. Needs ``warm_start``; the result is the same optimum.
    margin : float
        Margin of the misclassification loss.
    seed : int
        Seed of the warm start's random initialisation.
    extra : dict
        Switches of individual speed features of the sign-pattern sub-problems, for experiments and ablations
        (each is tested to keep the optimum): ``relu_cuts`` (root cut loop, :mod:`mipnet.train.cuts`, default
        True), ``cut_keep_slack`` (0.05), ``cut_symmetric`` (False), ``relu_indicator`` (rows ``z <= U d``,
        False), ``pair_rows`` (nearest opposite-class pairs listed as rows; default 8 without cuts, 0 with them),
        ``secant_rows``, ``one_sided_relu``, ``margin_cap`` (True), ``group_order`` (False), ``obbt`` (False,
        :mod:`mipnet.train.obbt`).
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
    margin: float = 1e-2
    seed: int = 0
    extra: dict = field(default_factory=dict)

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
        if self.margin <= 0:
            raise SettingsError(f"margin must be positive, got {self.margin}")

    @classmethod
    def naive(cls, **kwargs: object) -> TrainConfig:
        """The plain formulation (benchmark baseline): big-M from per-sample interval bounds, no warm start,
        no symmetry handling, no decomposition. Same model (objective and feasible networks) as the default."""
        return cls(**{"bounds": "interval", "symmetry": False, "warm_start": False, "decompose": False, **kwargs})

    @property
    def filter_gates(self) -> bool:
        """Whether convolution layers get filter gates."""
        return self.filter_penalty > 0 or self.max_filters is not None

    @property
    def layer_gates(self) -> bool:
        """Whether shape-preserving hidden layers get layer gates."""
        return self.layer_penalty > 0 or self.max_layers is not None

    @property
    def omega_b(self) -> float:
        return float(self.weight_bound if self.bias_bound is None else self.bias_bound)
