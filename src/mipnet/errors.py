"""Exception and warning classes: one place for every error mipnet raises on purpose."""

from __future__ import annotations


class MIPNetError(ValueError):
    """Base class for every error mipnet raises on bad input or impossible settings."""


class ShapeError(MIPNetError):
    """Layer shapes do not fit together, or data has the wrong shape."""


class DataError(MIPNetError):
    """Training or query data is unusable (NaN or inf, empty, mismatched lengths, one class...)."""


class SettingsError(MIPNetError):
    """An option has an impossible or unknown value, or options contradict each other."""


class SolverUnavailableError(MIPNetError):
    """The requested solver is not installed, or cannot handle the model (quadratic, bilinear)."""


class FormatError(MIPNetError):
    """A saved network, ONNX/NNet file or VNN-LIB property is damaged or unsupported."""


class CertificateWarning(UserWarning):
    """The numpy re-evaluation of a solution disagrees with what the solver reported."""


class NoSolutionError(MIPNetError):
    """The solver stopped without any feasible network (infeasible constraints, or no solution in time).

    ``proved_infeasible`` says which: ``True`` only when the solver proved that no network satisfies the
    constraints.
    """

    def __init__(self, message: str, proved_infeasible: bool = False) -> None:
        super().__init__(message)
        self.proved_infeasible = proved_infeasible


class InfeasibleConstraintsError(NoSolutionError):
    """The constraints given to training conflict; ``conflict`` lists a small conflicting subset of them."""

    def __init__(self, message: str, conflict: list | None = None) -> None:
        super().__init__(message, proved_infeasible=True)
        self.conflict = conflict or []


class ConversionNote(UserWarning):
    """A file was read with a documented, deliberate change (e.g. a trailing ``Softmax`` dropped from an ONNX graph)."""


class OptionalDependencyError(MIPNetError):
    """A feature needs an optional package that is not installed (the message says which extra to install)."""
