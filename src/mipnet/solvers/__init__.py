"""Solver backends behind one interface: HiGHS (default, always installed), SCIP (``pip install mipnet[scip]``),
Gurobi (``pip install mipnet[gurobi]``, with a licence)."""

from __future__ import annotations

from mipnet.errors import SettingsError, SolverUnavailableError
from mipnet.solvers.base import LIMIT_STATUSES, Backend, Progress, SolveOptions, SolveResult, Status
from mipnet.solvers.gurobi import GurobiBackend
from mipnet.solvers.highs import HighsBackend
from mipnet.solvers.scip import ScipBackend

BACKENDS: dict[str, type[Backend]] = {"highs": HighsBackend, "scip": ScipBackend, "gurobi": GurobiBackend}


def get_backend(name: str) -> Backend:
    """Return an instance of the backend called ``name`` or raise a clear error."""
    key = str(name).lower()
    if key not in BACKENDS:
        raise SettingsError(f"unknown solver {name!r}: choose one of {sorted(BACKENDS)}")
    cls = BACKENDS[key]
    if not cls.available():
        hint = {"scip": "pip install 'mipnet[scip]' (PySCIPOpt)", "highs": "pip install highspy",
                "gurobi": "pip install 'mipnet[gurobi]' (gurobipy; a licence for models past its size limit)"}[key]
        raise SolverUnavailableError(f"solver {key!r} is not installed: {hint}")
    return cls()


def available_solvers() -> list[str]:
    return [k for k, cls in BACKENDS.items() if cls.available()]


__all__ = ["BACKENDS", "LIMIT_STATUSES", "Backend", "Progress", "SolveOptions", "SolveResult", "Status",
           "available_solvers", "get_backend"]
