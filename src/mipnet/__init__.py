"""mipnet: train sparse ReLU networks to proven optimality by mixed-integer programming, and encode trained
networks exactly for verification."""

from mipnet import verify  # noqa: E402,I001  (the verification API as mipnet.verify)
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
