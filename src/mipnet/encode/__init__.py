"""One encoder for training and verification (DESIGN.md section 1).

A layer encoder multiplies a weight tensor by an activation tensor; what that product becomes depends only on
which side is fixed. :func:`encode_layer` dispatches on the layer type from one table; :func:`encode_network`
encodes a trained network over an input region; :func:`compute_bounds` tightens neuron bounds with the encoding's
LP (and MIP) relaxation.
"""

from mipnet.encode.network import (
                                   LAYER_ENCODERS,
                                   LayerEncoding,
                                   LayerOptions,
                                   NetworkEncoding,
                                   encode_layer,
                                   encode_network,
)
from mipnet.encode.tighten import compute_bounds
from mipnet.encode.values import Act, Encoder, Weights

__all__ = ["LAYER_ENCODERS", "Act", "Encoder", "LayerEncoding", "LayerOptions", "NetworkEncoding", "Weights",
           "compute_bounds", "encode_layer", "encode_network"]
