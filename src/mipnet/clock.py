"""A wall clock with an optional limit, shared by every query and solve that must stop in time."""

from __future__ import annotations

import math
import time

from mipnet.errors import SettingsError

#: default time limit of every verification query (seconds; :mod:`mipnet.verify.queries` and ``mipnet verify``): a
#: query without an explicit limit ends, with "unknown" at worst. Here, in a module without dependencies, so that the
#: command line states it without loading the verifier.
DEFAULT_TIME_LIMIT = 300.0


def time_limit_text(seconds: float | None) -> str:
    """``time limit 300 s`` or ``no time limit``: the words every command-line header uses."""
    return "no time limit" if seconds is None else f"time limit {seconds:g} s"


class Clock:
    """Seconds since creation against an optional limit.

    Parameters
    ----------
    limit : float or None
        Seconds; ``None`` means no limit. Must be positive and finite.
    started : float or None
        ``time.perf_counter()`` at the start of the work (default: now), e.g. the launch of a training run.
    """

    def __init__(self, limit: float | None, started: float | None = None) -> None:
        if limit is not None and (not math.isfinite(limit) or limit <= 0):
            raise SettingsError(f"time_limit must be a positive number of seconds, got {limit}")
        self.t0 = time.perf_counter() if started is None else started
        self.limit = limit

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def left(self) -> float | None:
        """Seconds left (``None`` without a limit)."""
        return None if self.limit is None else self.limit - self.elapsed

    def out(self) -> bool:
        """Whether the limit is (all but) reached."""
        left = self.left()
        return left is not None and left <= 0.01

    def sub(self, seconds: float | None) -> Clock:
        """A clock for a part of the work: at most ``seconds`` and never past this clock's limit."""
        left = self.left()
        limits = [v for v in (seconds, left) if v is not None]
        return Clock(max(min(limits), 1e-3) if limits else None)
