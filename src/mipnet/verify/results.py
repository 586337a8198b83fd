"""Result objects of the verification queries."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np


class Verdict(StrEnum):
    """A verification answer (a ``str``: it compares equal to, and serialises as, its value)."""

    HOLDS = "holds"          #: proved: by a solver's infeasibility or optimality proof, or by sound bounds
    VIOLATED = "violated"    #: a counterexample, re-checked by a plain forward pass
    UNKNOWN = "unknown"      #: neither (time limit, or a candidate that failed the re-check); never safe


HOLDS, VIOLATED, UNKNOWN = Verdict.HOLDS, Verdict.VIOLATED, Verdict.UNKNOWN


def _plain(v: object) -> object:
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, Verdict):
        return v.value
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    if isinstance(v, float) and not np.isfinite(v):
        return None if np.isnan(v) else ("inf" if v > 0 else "-inf")
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


@dataclass
class VerificationResult:
    """Outcome of a property or robustness query.

    Attributes
    ----------
    status : {"holds", "violated", "unknown"}
        ``holds``: the solver proved the unsafe region empty (infeasibility or a proved bound).
        ``violated``: :attr:`counterexample` is an input in the region, re-checked by :meth:`Network.forward`.
        ``unknown``: neither (time limit, or a candidate that did not survive the re-check; see :attr:`note`).
    time : float
        Wall-clock seconds, bounds included.
    counterexample : ndarray or None
        The violating input (network input shape), when ``status == "violated"``.
    counterexample_output : ndarray or None
        ``Network.forward(counterexample)``.
    mip_size : dict
        Variables, binaries, constraints, nonzeros of the largest MIP solved.
    bounds_method : str
        ``interval``, ``lp`` or ``mip``.
    solver : str
    note : str
        How the answer was obtained, or why it is unknown.
    details : list of dict
        One entry per disjunct (property) or per competing class (robustness).
    """

    status: Verdict
    time: float = 0.0
    counterexample: np.ndarray | None = None
    counterexample_output: np.ndarray | None = None
    mip_size: dict = field(default_factory=dict)
    bounds_method: str = ""
    solver: str = ""
    note: str = ""
    details: list = field(default_factory=list)
    query: str = "property"

    @property
    def holds(self) -> bool:
        return self.status == HOLDS

    @property
    def violated(self) -> bool:
        return self.status == VIOLATED

    def as_dict(self) -> dict:
        """Plain JSON-ready values."""
        return {k: _plain(v) for k, v in self.__dict__.items()}


@dataclass
class RobustnessResult(VerificationResult):
    """Outcome of a local robustness query in an L-infinity ball.

    Attributes
    ----------
    label : int
    eps : float
    margin : float
        Smallest ``o_label - o_k`` (over ``k != label``; ``+-o`` for one output) found at a point of the ball: an
        upper bound on the worst-case margin, exact when every per-class MIP was solved to optimality (as for
        ``holds``; a counterexample ends the query at once).
    margin_bound : float
        Proved lower bound on the worst-case margin. ``holds`` means ``margin_bound > 0``.
    """

    label: int = -1
    eps: float = 0.0
    margin: float = np.inf
    margin_bound: float = -np.inf
    query: str = "robustness"


@dataclass
class MonotonicityResult(VerificationResult):
    """Outcome of a monotonicity query (:func:`mipnet.verify.monotonicity`).

    Attributes
    ----------
    feature, output : int
    direction : {"increasing", "decreasing"}
    tol : float
    worst_found : float
        Smallest ``sign * (o(x') - o(x))`` over the pairs found (``sign`` is +1 for increasing), each re-checked by
        forward passes: negative beyond ``tol`` means ``violated``.
    worst_bound : float
        Proved lower bound on it over the whole box: ``>= -tol`` means ``holds``.
    counterexample, counterexample_pair : ndarray or None
        The pair ``x`` (lower feature value) and ``x'`` (higher), when violated; ``counterexample_output`` and
        ``counterexample_pair_output`` are their forward passes.
    """

    feature: int = 0
    output: int = 0
    direction: str = "increasing"
    tol: float = 1e-4
    worst_found: float = np.inf
    worst_bound: float = -np.inf
    counterexample_pair: np.ndarray | None = None
    counterexample_pair_output: np.ndarray | None = None
    query: str = "monotonicity"


@dataclass
class BoundsResult:
    """Proved bounds on every output over an input box.

    Attributes
    ----------
    lower, upper : ndarray
        Sound bounds: every input of the box gives outputs inside ``[lower, upper]``.
    lower_attained, upper_attained : ndarray
        Output values actually reached at inputs found by the solver (re-checked by a forward pass); the true
        extremes lie between these and the sound bounds.
    exact : ndarray of bool
        Per output and side (shape ``(n_outputs, 2)``): the solver proved optimality, so the sound bound and the
        attained value agree to the solver's gap.
    lower_input, upper_input : ndarray or None
        Per output (shape ``(n_outputs, *input_shape)``): an input of the box where the attained value is reached.
    status : {"exact", "sound"}
        ``exact`` when every bound was proved optimal; ``sound`` when some are only valid, not tight.
    time, mip_size, bounds_method, solver, note : see :class:`VerificationResult`
    """

    lower: np.ndarray
    upper: np.ndarray
    lower_attained: np.ndarray
    upper_attained: np.ndarray
    exact: np.ndarray
    status: str = "sound"
    time: float = 0.0
    mip_size: dict = field(default_factory=dict)
    bounds_method: str = ""
    solver: str = ""
    note: str = ""
    query: str = "output_bounds"
    lower_input: np.ndarray | None = None
    upper_input: np.ndarray | None = None

    def as_dict(self) -> dict:
        return {k: _plain(v) for k, v in self.__dict__.items()}
