"""Verification of trained ReLU networks by exact MIP encodings (DESIGN.md section 3).

>>> from mipnet import verify
>>> res = verify.property(net, "prop.vnnlib", time_limit=120)     # doctest: +SKIP
>>> res.status                                                      # "holds" | "violated" | "unknown"
>>> verify.monotonicity(net, feature=2, lower=0, upper=1).status    # doctest: +SKIP
"""

from mipnet.verify.bounds import BoundTightening, LayerBounds, compute_bounds
from mipnet.verify.encoding import Encoding, encode
from mipnet.verify.monotonicity import monotonicity
from mipnet.verify.queries import output_bounds, property, robustness
from mipnet.verify.results import BoundsResult, MonotonicityResult, RobustnessResult, VerificationResult

__all__ = ["BoundTightening", "BoundsResult", "Encoding", "LayerBounds", "MonotonicityResult", "RobustnessResult",
           "VerificationResult", "compute_bounds", "encode", "monotonicity", "output_bounds", "property",
           "robustness"]
