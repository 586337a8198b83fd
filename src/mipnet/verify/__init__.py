"""Verification of trained ReLU networks by exact MIP encodings (DESIGN.md section 3).

>>> from mipnet import verify
>>> res = verify.property(net, "prop.vnnlib", time_limit=120)     # doctest: +SKIP
>>> res.status                                                      # "holds" | "violated" | "unknown"
"""

from mipnet.verify.bounds import BoundTightening, LayerBounds, compute_bounds
from mipnet.verify.encoding import Encoding, encode
from mipnet.verify.queries import output_bounds, property, robustness
from mipnet.verify.results import BoundsResult, RobustnessResult, VerificationResult

__all__ = ["BoundTightening", "BoundsResult", "Encoding", "LayerBounds", "RobustnessResult", "VerificationResult",
           "compute_bounds", "encode", "output_bounds", "property", "robustness"]
