"""The ``threads`` setting of a query also bounds numpy's BLAS: one place for every verification query.

numpy's BLAS (OpenBLAS) starts as many threads as the machine has cores for every matrix product. The bound
propagation and the attacks of :mod:`mipnet.verify` multiply many small matrices, where those threads cost more
than they give, and on a loaded machine they wait for cores: on 2 cores at load 7, one forward pass of 65 inputs
through a 64-100-100-10 network took 10.9 ms with OpenBLAS's default 2 threads against 0.24 ms with one. So a query
given ``threads=N`` runs with BLAS limited to ``N`` threads (``threadpoolctl``, a dependency of scikit-learn and of
mipnet), and restores the previous limit when it returns.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from threadpoolctl import threadpool_limits

from mipnet.errors import SettingsError

P = ParamSpec("P")
R = TypeVar("R")


def blas_threads(threads: int) -> threadpool_limits:
    """A context manager limiting numpy's BLAS to ``threads`` threads while it is open (a
    :class:`~mipnet.errors.SettingsError` below 1, as :class:`~mipnet.solvers.SolveOptions`)."""
    if int(threads) < 1:
        raise SettingsError(f"threads must be at least 1, got {threads}")
    return threadpool_limits(limits=int(threads), user_api="blas")


def limits_blas(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorator: run ``fn`` with BLAS limited to its ``threads`` argument (see :func:`blas_threads`)."""
    sig = inspect.signature(fn)
    if "threads" not in sig.parameters:
        raise TypeError(f"{fn.__qualname__} has no threads parameter")

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        bound = sig.bind(*args, **kwargs)
        bound.apply_defaults()
        with blas_threads(bound.arguments["threads"]):
            return fn(*args, **kwargs)

    return wrapper
