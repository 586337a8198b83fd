"""mipnet: train sparse ReLU networks to proven optimality by mixed-integer programming, and encode trained
networks exactly for verification."""

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
from mipnet.layers import AvgPool2D, Conv2D, Dense, Flatten, MaxPool2D
from mipnet.network import Network

__version__ = "0.1.0"

__all__ = ["AvgPool2D", "CertificateWarning", "Conv2D", "DataError", "Dense", "Flatten", "FormatError",
           "MIPNetError", "MaxPool2D", "Network", "NoSolutionError", "SettingsError", "ShapeError",
           "SolverUnavailableError", "__version__"]

from mipnet import verify  # noqa: E402  (verify.property, verify.robustness, verify.output_bounds)
from mipnet.io import from_torch, to_onnx, to_torch  # noqa: E402

__all__ += ["from_torch", "to_onnx", "to_torch", "verify"]
