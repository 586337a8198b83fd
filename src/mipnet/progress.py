"""Progress of a training run, counted from its launch: typed events, the tracker that keeps the best so far, and
the displays that show them (a live ``rich`` line on a terminal, plain lines otherwise).

A training run goes through phases (:class:`Phase`): the warm start, the model build, the root cut loop, the primal
search (sub-MIPs around the incumbent, :mod:`mipnet.train.lns`) and the solve (for the decomposition by output
signs: build, cut loop and solve once per sign pattern). At every step the :class:`TrainProgress` tracker knows
the best objective found so far (the *incumbent*: the objective of a network that exists) and a valid lower
bound on the optimum (the *bound*), and passes a :class:`ProgressEvent` to the callback. The bound is never
below the objective's floor (:data:`OBJECTIVE_FLOOR`: every loss and penalty is nonnegative), so a run stopped
before any solver bound is known still has a finite bound and gap.

Example
-------
>>> events = []
>>> tracker = TrainProgress(events.append)
>>> tracker.enter(Phase.WARM_START)
>>> tracker.found(0.5)
>>> events[-1].phase, events[-1].incumbent, events[-1].bound, events[-1].gap
(<Phase.WARM_START: 'warm start'>, 0.5, 0.0, 1.0)
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import IO

from mipnet.solvers.base import relative_gap

#: the smallest value the training objective can take: every loss (hinge, misclassification, absolute, max, squared
#: error) and every penalty (L1, L2, L0, structure) is nonnegative, so 0 is a valid bound. Bounds below it (a solver's
#: -6.1e-15 from floating-point rounding, say) are raised to it: the rule stated in every report (:data:`FLOOR_RULE`).
OBJECTIVE_FLOOR = 0.0
#: the rule, as the reports state it
FLOOR_RULE = ("bounds are at least 0 (the objective is a sum of nonnegative terms); a solver's bound below 0, from "
              "floating-point rounding, is reported as 0")


class Phase(StrEnum):
    """The phase a training run is in."""

    START = "start"              #: launched, nothing done yet
    WARM_START = "warm start"    #: gradient training and LP polishing of the starting network(s)
    BUILD = "build"              #: building the MIP (per sign pattern in the decomposition)
    CUTS = "cut loop"            #: the root cut loop on the LP relaxation (per sign pattern)
    PRIMAL = "primal search"     #: large-neighbourhood search for better networks (no bound comes from it)
    SOLVE = "solve"              #: the MIP solver runs (per sign pattern in the decomposition)
    DONE = "done"                #: finished (proved, time limit or interrupted: see ``detail``)


@dataclass(frozen=True)
class ProgressEvent:
    """One step of a training run, as the ``callback`` of the estimators and of
    :func:`~mipnet.train.trainer.train_network` receives it.

    Attributes
    ----------
    phase : Phase
        What the run is doing.
    elapsed : float
        Seconds since the launch of the run (the call of ``fit`` or ``train_network``), not since the solve.
    incumbent : float
        Objective of the best network found so far (``inf``: none yet).
    bound : float
        A valid lower bound on the optimal objective (at least :data:`OBJECTIVE_FLOOR`).
    gap : float
        ``(incumbent - bound) / incumbent`` (``inf`` without an incumbent).
    pattern : int or None
        The output-sign pattern ``k`` the event is about (decomposition by output signs only).
    nodes : int
        Branch-and-bound nodes of the current solve.
    improved : bool
        Whether this event brings a better incumbent.
    detail : str
        A few words on the step (``"restart 2 of 4"``, ``"12 cuts, 3 rounds"``, ``"time limit"``).
    """

    phase: Phase
    elapsed: float
    incumbent: float
    bound: float
    gap: float
    pattern: int | None = None
    nodes: int = 0
    improved: bool = False
    detail: str = ""

    @property
    def time(self) -> float:
        """``elapsed`` (the name of the solver's own progress field)."""
        return self.elapsed


class TrainProgress:
    """The state of one training run from its launch: phase, best incumbent, best valid bound; each change is passed
    to ``callback`` as a :class:`ProgressEvent`.

    Parameters
    ----------
    callback : callable or None
        Receives every event; ``None``: the tracker only keeps the state.
    started : float or None
        ``time.perf_counter()`` at launch (default: now).
    floor : float
        Lower bound on every objective value (:data:`OBJECTIVE_FLOOR`).

    Attributes
    ----------
    incumbent, bound : float
        The best objective found so far and the best valid bound so far.
    phase : Phase
    pattern : int or None
    interrupted : bool
        Set when the run was stopped by Ctrl-C (a ``KeyboardInterrupt`` caught by the trainer).
    """

    def __init__(self, callback: Callable[[ProgressEvent], None] | None = None, started: float | None = None,
                 floor: float = OBJECTIVE_FLOOR) -> None:
        self.callback = callback
        self.started = time.perf_counter() if started is None else started
        self.floor = floor
        self.incumbent = math.inf
        self.bound = floor
        self.phase = Phase.START
        self.pattern: int | None = None
        self.interrupted = False
        self._solve_bound = -math.inf
        #: (seconds since launch, incumbent, bound) at every change: the picture of the run over time
        self.history: list[tuple[float, float, float]] = []

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def clip(self, bound: float) -> float:
        """``bound`` raised to the floor (the rule :data:`FLOOR_RULE`); NaN counts as no bound."""
        if bound is None or math.isnan(bound):
            return self.floor
        return max(float(bound), self.floor)

    def record(self) -> None:
        """Append the current (time, incumbent, bound) to :attr:`history` when it changed."""
        if not self.history or self.history[-1][1:] != (self.incumbent, self.bound):
            self.history.append((self.elapsed, self.incumbent, self.bound))

    def emit(self, detail: str = "", improved: bool = False, nodes: int = 0) -> None:
        """Record the current state and pass it to the callback."""
        self.record()
        if self.callback is not None:
            self.callback(ProgressEvent(self.phase, self.elapsed, self.incumbent, self.bound,
                                        relative_gap(self.incumbent, self.bound), self.pattern, nodes, improved,
                                        detail))

    def enter(self, phase: Phase, pattern: int | None = None, detail: str = "") -> None:
        """Start a phase (for sign pattern ``pattern``)."""
        self.phase, self.pattern = phase, pattern
        self.emit(detail)

    def found(self, value: float, detail: str = "", nodes: int = 0) -> None:
        """A network with objective ``value`` exists: an event when it improves the incumbent."""
        if value < self.incumbent - 1e-12 * max(1.0, abs(value)):
            self.incumbent = float(value)
            self.bound = min(self.bound, self.incumbent)
            self.emit(detail, improved=True, nodes=nodes)

    def set_bound(self, bound: float, detail: str = "", quiet: bool = False) -> None:
        """A valid lower bound on the optimum of the whole run (the caller vouches for it); kept when it is
        better than the one known, never above the incumbent."""
        b = min(self.clip(bound), self.incumbent)
        if b > self.bound + 1e-12 * max(1.0, abs(b)):
            self.bound = b
            if not quiet:
                self.emit(detail)
            else:
                self.record()

    def solver_callback(self, on_bound: Callable[[float], float] | None = None) -> Callable[[object], None]:
        """A callback for :class:`mipnet.solvers.SolveOptions`: each solver event (its ``incumbent``, ``bound``,
        ``nodes``) becomes a progress event of the current phase.

        ``on_bound(solver_bound)`` maps the solver's bound to a bound on the whole run (default: the solver's bound
        is one, as in a single MIP); the decomposition gives the smallest over the patterns.
        """
        def cb(p: object) -> None:
            improved = p.incumbent < self.incumbent - 1e-12 * max(1.0, abs(p.incumbent))
            if improved:
                self.incumbent = float(p.incumbent)
            if p.bound is not None and not math.isnan(p.bound) and math.isfinite(p.bound):
                self._solve_bound = max(self._solve_bound, float(p.bound))
                whole = on_bound(float(p.bound)) if on_bound is not None else float(p.bound)
                self.bound = max(self.bound, min(self.clip(whole), self.incumbent))
            self.bound = min(self.bound, self.incumbent)
            self.emit(improved=improved, nodes=int(p.nodes))

        return cb


def chain(first: Callable | None, second: Callable | None) -> Callable | None:
    """A callback that calls ``first`` then ``second`` with the same event (either may be ``None``)."""
    if first is None or second is None:
        return first or second

    def both(event: object) -> None:
        first(event)
        second(event)

    return both


# --------------------------------------------------------------------------------------------------- displays
def _num(v: float) -> str:
    if math.isinf(v):
        return "-" if v > 0 else "-inf"
    return f"{v:.6g}"


def _gap(v: float) -> str:
    return "-" if not math.isfinite(v) else f"{100 * v:.2f}%"


def describe(event: ProgressEvent, elapsed: float | None = None) -> str:
    """One line for an event: elapsed time, phase (and sign pattern), incumbent, bound, gap, nodes, detail."""
    t = event.elapsed if elapsed is None else elapsed
    where = event.phase.value + (f" k={event.pattern}" if event.pattern is not None else "")
    mark = "*" if event.improved else " "
    text = (f"{mark} {t:7.1f}s  {where:<15} incumbent {_num(event.incumbent):>11}  bound {_num(event.bound):>11}  "
            f"gap {_gap(event.gap):>8}")
    if event.phase == Phase.SOLVE:
        text += f"  nodes {event.nodes}"
    if event.detail:
        text += f"  {event.detail}"
    return text


class LineDisplay:
    """Plain progress lines (for logs and pipes): one at each phase change, at each better incumbent, and at most
    every ``every`` seconds otherwise.

    Parameters
    ----------
    write : callable or None
        Takes one line (default: print to standard output, flushed).
    started : float or None
        ``time.perf_counter()`` at launch: lines show the time since then (default: the events' own elapsed time).
    every : float
        Seconds between lines that bring nothing new.
    """

    def __init__(self, write: Callable[[str], None] | None = None, started: float | None = None,
                 every: float = 10.0) -> None:
        self.write = write or _print_line
        self.started = started
        self.every = every
        self._last_key: tuple | None = None
        self._last_time = -math.inf

    def _elapsed(self, event: ProgressEvent) -> float:
        return event.elapsed if self.started is None else time.perf_counter() - self.started

    def __call__(self, event: ProgressEvent) -> None:
        t = self._elapsed(event)
        key = (event.phase, event.pattern)
        if event.improved or key != self._last_key or event.phase == Phase.DONE or t - self._last_time >= self.every:
            self._last_key, self._last_time = key, t
            self.write("  " + describe(event, t))

    def close(self) -> None:
        """Nothing to release (the same interface as :class:`LiveDisplay`)."""


def _print_line(line: str) -> None:
    print(line, flush=True)


class LiveDisplay:
    """A live ``rich`` status line on a terminal (elapsed time ticking from launch, phase, incumbent, bound, gap),
    with a permanent line printed at each phase change and each better incumbent. Use as a context manager or call
    :meth:`close`.

    Parameters
    ----------
    console : rich.console.Console
    started : float or None
        ``time.perf_counter()`` at launch (default: now).
    """

    def __init__(self, console: object, started: float | None = None) -> None:
        from rich.live import Live  # deferred: `mipnet --help` and the verifier start without rich

        self.console = console
        self.started = time.perf_counter() if started is None else started
        self.last: ProgressEvent | None = None
        self._key: tuple | None = None
        self._live = Live(self, console=console, refresh_per_second=4, transient=True)
        self._live.start()

    def __rich__(self) -> str:
        """The status line, rendered at each refresh (the elapsed time ticks between events)."""
        t = time.perf_counter() - self.started
        if self.last is None:
            return f"  {t:7.1f}s  starting"
        return "  " + describe(replace(self.last, improved=False), t)

    def __call__(self, event: ProgressEvent) -> None:
        key = (event.phase, event.pattern)
        if event.improved or key != self._key:
            self._key = key
            self.console.print("  " + describe(event, time.perf_counter() - self.started), highlight=False,
                               markup=False)
        self.last = event
        self._live.refresh()

    def close(self) -> None:
        """Stop the live line."""
        self._live.stop()

    def __enter__(self) -> LiveDisplay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_display(console: object | None = None, started: float | None = None,
                 stream: IO[str] | None = None) -> LineDisplay | LiveDisplay:
    """The display for where the output goes: :class:`LiveDisplay` on a terminal (``console.is_terminal`` for a
    ``rich`` console, else ``stream.isatty()``), :class:`LineDisplay` otherwise (tests, CI logs, pipes)."""
    if console is not None:
        if getattr(console, "is_terminal", False):
            return LiveDisplay(console, started)
        return LineDisplay(lambda line: console.print(line, highlight=False, markup=False), started)
    stream = sys.stdout if stream is None else stream
    if hasattr(stream, "isatty") and stream.isatty():
        from rich.console import Console

        return LiveDisplay(Console(file=stream, soft_wrap=True, highlight=False), started)
    return LineDisplay(lambda line: print(line, file=stream, flush=True), started)
