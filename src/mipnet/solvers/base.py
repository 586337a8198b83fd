"""The one small solver interface: options in, a :class:`SolveResult` out, the same words for every backend."""

from __future__ import annotations

import importlib.util
import math
import numbers
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum

import numpy as np

from mipnet.errors import SettingsError
from mipnet.mip import MIPModel


class Status(StrEnum):
    """How a solve ended."""

    OPTIMAL = "optimal"            #: proven optimal within the relative gap
    TIME_LIMIT = "time_limit"      #: stopped by the time limit with an incumbent
    NODE_LIMIT = "node_limit"      #: stopped by the node limit (:attr:`SolveOptions.node_limit`) with an incumbent
    INFEASIBLE = "infeasible"      #: proven infeasible
    NO_SOLUTION = "no_solution"    #: stopped (time or node limit) before any feasible solution was found
    INTERRUPTED = "interrupted"    #: stopped by the user (Ctrl-C or a callback); may hold an incumbent
    UNBOUNDED = "unbounded"
    ERROR = "error"


#: the statuses of a solve stopped by a limit while holding an incumbent (its bound is valid, not proved tight)
LIMIT_STATUSES = (Status.TIME_LIMIT, Status.NODE_LIMIT)


def stopping_limit(result: SolveResult | None) -> Status:
    """The limit a run that ended without a proof reports: the node limit when its last solve stopped there, else
    the time limit."""
    return Status.NODE_LIMIT if result is not None and result.status == Status.NODE_LIMIT else Status.TIME_LIMIT


@dataclass
class Progress:
    """One progress event passed to a user callback while the solver runs."""

    time: float
    incumbent: float
    bound: float
    gap: float
    nodes: int


@dataclass
class SolveOptions:
    """Options every backend understands.

    Parameters
    ----------
    time_limit : float or None
        Seconds; ``None`` for no limit.
    threads : int
    mip_gap : float
        Relative gap at which the solver may stop and call the solution optimal.
    node_limit : int or None
        Branch-and-bound nodes per MIP solve (``None``: no limit); a solve stopped by it ends ``node_limit``. Unlike
        the time limit it is a deterministic amount of work: with one thread and no time limit the same inputs give
        the same result every time (on one installation: BLAS and CPU can differ in the last bits elsewhere).
    seed : int
    verbose : bool
        Show the solver's own log.
    callback : callable or None
        Called with a :class:`Progress` on every improving solution (and, where the solver allows, periodically).
    cutoff : float or None
        Objective cutoff: the solver may discard every solution whose objective is not below it (a known
        solution's value). A solve that finds nothing below the cutoff ends infeasible; that is a proof that no
        solution beats the cutoff.
    solver_options : dict
        Extra options passed to the backend unchanged (names are the solver's own).
    """

    time_limit: float | None = None
    threads: int = 1
    mip_gap: float = 1e-4
    node_limit: int | None = None
    seed: int = 0
    verbose: bool = False
    callback: Callable[[Progress], None] | None = None
    cutoff: float | None = None
    solver_options: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.time_limit is not None and (not math.isfinite(self.time_limit) or self.time_limit <= 0):
            raise SettingsError(f"time_limit must be a positive number of seconds, got {self.time_limit}")
        if int(self.threads) < 1:
            raise SettingsError(f"threads must be at least 1, got {self.threads}")
        nodes = self.node_limit
        if nodes is not None and (isinstance(nodes, bool) or not isinstance(nodes, numbers.Integral) or nodes < 1):
            raise SettingsError(f"node_limit must be a positive whole number of nodes or None, got {self.node_limit!r}")
        if not 0 <= self.mip_gap < 1:
            raise SettingsError(f"mip_gap must be in [0, 1), got {self.mip_gap}")


@dataclass
class SolveResult:
    """What a solve returned, in the same vocabulary for every backend."""

    status: Status
    objective: float = math.nan
    bound: float = math.nan
    gap: float = math.nan
    time: float = 0.0
    nodes: int = 0
    solver: str = ""
    version: str = ""
    x: np.ndarray | None = field(default=None, repr=False)
    start_accepted: bool | None = None
    #: ``(time, incumbent, bound)`` of every progress event and of the end, time in seconds since the solve began
    #: (``inf`` incumbent before the first solution)
    history: list[tuple[float, float, float]] = field(default_factory=list, repr=False)

    @property
    def has_solution(self) -> bool:
        return self.x is not None

    @property
    def proved(self) -> bool:
        """True when the solver proved optimality or infeasibility."""
        return self.status in (Status.OPTIMAL, Status.INFEASIBLE)

    def as_dict(self) -> dict:
        d = asdict(self)
        d.pop("x")
        d["status"] = str(self.status)
        return d


def recording(options: SolveOptions) -> tuple[SolveOptions, list[tuple[float, float, float]]]:
    """``options`` with a callback that appends ``(time, incumbent, bound)`` of every progress event to the list
    returned (and then calls the user's callback, if any); the backends fill :attr:`SolveResult.history` with it."""
    history: list[tuple[float, float, float]] = []
    user = options.callback

    def record(p: Progress) -> None:
        history.append((float(p.time), float(p.incumbent), float(p.bound)))
        if user is not None:
            user(p)

    return replace(options, callback=record), history


def relative_gap(objective: float, bound: float) -> float:
    """``|objective - bound| / max(|objective|, 1e-10)``; 0 when both agree, inf without an incumbent."""
    if not math.isfinite(objective):
        return math.inf
    if not math.isfinite(bound):
        return math.inf
    diff = abs(objective - bound)
    return 0.0 if diff <= 1e-12 else diff / max(abs(objective), 1e-10)


class Backend:
    """Interface of a solver backend."""

    name = "backend"
    module = ""  #: the Python module the backend needs

    @classmethod
    def available(cls) -> bool:
        return importlib.util.find_spec(cls.module) is not None

    @classmethod
    def version(cls) -> str:
        raise NotImplementedError

    def check(self, model: MIPModel) -> None:
        """Raise :class:`~mipnet.errors.SolverUnavailableError` if this backend cannot take ``model``."""

    def solve(self, model: MIPModel, options: SolveOptions, start: np.ndarray | None = None) -> SolveResult:
        raise NotImplementedError
