"""Bounds on a network's neurons: interval arithmetic, batched CROWN linear bounds, and safe LP bounds.

* :mod:`mipnet.bounds.interval`: interval rules of every layer kind (constant weights) and of affine layers with
  variable weights (training's big-M values);
* :mod:`mipnet.bounds.layer_bounds`: :class:`LayerBounds`, per-layer bounds over an input region;
* :mod:`mipnet.bounds.crown`: batched linear-relaxation bounds, forwards and backwards (CROWN), with optimised
  ReLU slopes (alpha-CROWN), for many boxes at once;
* :mod:`mipnet.bounds.lp`: the safe LP-bound rule (weak duality from the duals plus a margin) and
  :class:`LPSession`.
"""

from mipnet.bounds.layer_bounds import BoundTightening, LayerBounds, interval_bounds
from mipnet.bounds.lp import LPSession, SafeMargin, safe_lp_bound

__all__ = ["BoundTightening", "LPSession", "LayerBounds", "SafeMargin", "interval_bounds", "safe_lp_bound"]
