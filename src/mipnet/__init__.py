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
from mipnet.estimators import MIPNetClassifier, MIPNetRegressor
from mipnet.io import load_network, save_network
from mipnet.layers import AvgPool2D, Conv2D, Dense, Flatten, MaxPool2D
from mipnet.network import Network
from mipnet.report import TrainReport
from mipnet.train.config import TrainConfig

__version__ = "0.1.0"

__all__ = ["AvgPool2D", "CertificateWarning", "Conv2D", "DataError", "Dense", "Flatten", "FormatError",
           "MIPNetClassifier", "MIPNetError", "MIPNetRegressor", "MaxPool2D", "Network", "NoSolutionError", "SettingsError", "ShapeError",
           "SolverUnavailableError", "TrainConfig", "TrainReport", "__version__", "load_network",
           "save_network"]
