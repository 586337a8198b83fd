"""Verification of trained ReLU networks by exact MIP encodings (DESIGN.md section 3).

>>> from mipnet import verify
>>> res = verify.check_property(net, "prop.vnnlib", time_limit=120)   # doctest: +SKIP
>>> res.status                                                        # Verdict.HOLDS | VIOLATED | UNKNOWN
>>> verify.monotonicity(net, feature=2, lower=0, upper=1).status      # doctest: +SKIP
"""

from mipnet.bounds.layer_bounds import BoundTightening, LayerBounds
from mipnet.encode import NetworkEncoding, compute_bounds, encode_network
from mipnet.verify.monotonicity import monotonicity
from mipnet.verify.queries import check_property, output_bounds, robustness
from mipnet.verify.results import BoundsResult, MonotonicityResult, RobustnessResult, Verdict, VerificationResult

__all__ = ["BoundTightening", "BoundsResult", "LayerBounds", "MonotonicityResult", "NetworkEncoding",
           "RobustnessResult", "Verdict", "VerificationResult", "check_property", "compute_bounds", "encode_network",
           "monotonicity", "output_bounds", "robustness"]
