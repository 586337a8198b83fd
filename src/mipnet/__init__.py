"""mipnet: train sparse ReLU networks to proven optimality by mixed-integer programming, and encode trained
networks exactly for verification.

The public names are imported on first use (module ``__getattr__``), so ``import mipnet`` and the command line
start quickly: scikit-learn is imported only with the estimators, SciPy and the solvers only with ``mipnet.verify``
or training. ``from mipnet import MIPNetClassifier`` and ``mipnet.verify`` work as usual.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mipnet.errors import (
    CertificateWarning,
    DataError,
    FormatError,
    MIPNetError,
    NoSolutionError,
    SettingsError,
    ShapeError,
    SolverUnavailableError,
)

if TYPE_CHECKING:
    from mipnet import verify
    from mipnet.estimators import MIPNetClassifier, MIPNetRegressor
    from mipnet.io import from_torch, load_network, save_network, to_onnx, to_torch
    from mipnet.layers import AvgPool2D, Conv2D, Dense, Flatten, MaxPool2D
    from mipnet.network import Network
    from mipnet.report import TrainReport
    from mipnet.train.config import TrainConfig

__version__ = "0.1.0"

__all__ = ["AvgPool2D", "CertificateWarning", "Conv2D", "DataError", "Dense", "Flatten", "FormatError",
           "MIPNetClassifier", "MIPNetError", "MIPNetRegressor", "MaxPool2D", "Network", "NoSolutionError",
           "SettingsError", "ShapeError", "SolverUnavailableError", "TrainConfig", "TrainReport", "__version__",
           "from_torch", "load_network", "save_network", "to_onnx", "to_torch", "verify"]


def _load(name: str) -> Any:
    """Import the object behind the public name ``name`` (each group of names from its own module)."""
    if name == "verify":
        import mipnet.verify as verify_package  # not "from mipnet import verify": that calls __getattr__ again

        return verify_package
    if name in ("MIPNetClassifier", "MIPNetRegressor"):
        from mipnet.estimators import MIPNetClassifier, MIPNetRegressor

        return {"MIPNetClassifier": MIPNetClassifier, "MIPNetRegressor": MIPNetRegressor}[name]
    if name in ("from_torch", "load_network", "save_network", "to_onnx", "to_torch"):
        from mipnet.io import from_torch, load_network, save_network, to_onnx, to_torch

        return {"from_torch": from_torch, "load_network": load_network, "save_network": save_network,
                "to_onnx": to_onnx, "to_torch": to_torch}[name]
    if name in ("AvgPool2D", "Conv2D", "Dense", "Flatten", "MaxPool2D"):
        from mipnet.layers import AvgPool2D, Conv2D, Dense, Flatten, MaxPool2D

        return {"AvgPool2D": AvgPool2D, "Conv2D": Conv2D, "Dense": Dense, "Flatten": Flatten,
                "MaxPool2D": MaxPool2D}[name]
    if name == "Network":
        from mipnet.network import Network

        return Network
    if name == "TrainReport":
        from mipnet.report import TrainReport

        return TrainReport
    if name == "TrainConfig":
        from mipnet.train.config import TrainConfig

        return TrainConfig
    raise AttributeError(f"module 'mipnet' has no attribute {name!r}")


def __getattr__(name: str) -> Any:
    value = _load(name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
