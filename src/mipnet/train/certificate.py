"""The certificate after every solve: recompute outputs and objective from the extracted weights with numpy."""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np

from mipnet.encode import NetworkEncoding
from mipnet.errors import CertificateWarning
from mipnet.layers import Dense
from mipnet.network import Network
from mipnet.train.config import TrainConfig
from mipnet.train.losses import Loss
from mipnet.train.structure import active_filters, active_layers

#: relative tolerance of the certificate: outputs agree within ``TOL * (1 + max |output bound|)`` and the
#: objective within ``TOL * (1 + |objective|)`` (HiGHS and SCIP accept integrality and feasibility errors
#: of about 1e-6, which a big-M of size M turns into output errors of about 1e-6 * M).
TOL = 1e-5


def objective_terms(net: Network, X: np.ndarray, y: np.ndarray, loss: Loss, config: TrainConfig) -> dict:
    """Every term of the composite objective of ``net`` on ``(X, y)``, computed with numpy."""
    layers = net.affine_layers()
    weights = [layer.weight for layer in layers]
    hidden = [layer for layer in layers[:-1] if isinstance(layer, Dense)]  # conv layers have filter gates
    active = sum(int(((np.abs(layer.weight.reshape(layer.weight.shape[0], -1)) > 0).any(1)
                      | (np.abs(layer.bias if layer.bias is not None else 0) > 0)).sum()) for layer in hidden)
    first = layers[0].weight
    inputs_used = int((np.abs(first) > 0).any(0).sum()) if first.ndim == 2 else 0
    terms = {
        "loss": loss.value(net.forward(X).reshape(len(X), -1), y),
        "l1": config.l1 * float(sum(np.abs(w).sum() for w in weights)),
        "l2": config.l2 * float(sum((w ** 2).sum() for w in weights)),
        "l0": config.l0 * float(sum((np.abs(w) > 0).sum() for w in weights)),
        "neurons": config.neuron_penalty * active if (config.neuron_penalty > 0) else 0.0,
        "inputs": config.input_penalty * inputs_used if (config.input_penalty > 0) else 0.0,
        "filters": config.filter_penalty * sum(active_filters(net)) if config.filter_penalty > 0 else 0.0,
        "layers": config.layer_penalty * sum(active_layers(net)) if config.layer_penalty > 0 else 0.0,
    }
    terms["total"] = float(sum(terms.values()))
    return terms


def objective_value(net: Network, X: np.ndarray, y: np.ndarray, loss: Loss, config: TrainConfig) -> float:
    return objective_terms(net, X, y, loss, config)["total"]


@dataclass
class Certificate:
    """Result of the numpy re-check of one solution."""

    ok: bool
    max_output_error: float
    output_tolerance: float
    solver_objective: float
    numpy_objective: float
    objective_tolerance: float
    message: str

    def as_dict(self) -> dict:
        return asdict(self)


def certify(net: Network, X: np.ndarray, y: np.ndarray, loss: Loss, config: TrainConfig, encoding: NetworkEncoding,
            x: np.ndarray, solver_objective: float) -> Certificate:
    """Compare the solver's outputs and objective with a numpy forward pass of the extracted network.

    ``encoding`` is the training MIP's handle and ``x`` the solution vector: the outputs are compared by
    :meth:`NetworkEncoding.error` with ``net`` (the network extracted from ``x``).

    A mismatch beyond tolerance emits :class:`~mipnet.errors.CertificateWarning` with the numbers. The numpy
    objective may be *lower* than the solver's where an indicator was left on with nothing behind it (a
    solution stopped early); that is not an error, and the numpy value is the network's true objective.
    """
    err = encoding.error(x, net)
    out = encoding.outputs
    output_scale = float(np.max(np.abs(np.concatenate([out.lo.ravel(), out.hi.ravel()])), initial=0.0))
    out_tol = TOL * (1.0 + output_scale)
    value = objective_value(net, X, y, loss, config)
    obj_tol = TOL * (1.0 + abs(solver_objective)) + out_tol
    problems = []
    if err > out_tol:
        problems.append(f"outputs differ from the MIP's by up to {err:.3g} (tolerance {out_tol:.3g})")
    if value > solver_objective + obj_tol:
        problems.append(f"numpy objective {value:.10g} exceeds the solver's {solver_objective:.10g} "
                        f"(tolerance {obj_tol:.3g})")
    ok = not problems
    msg = "numpy re-evaluation agrees with the solver" if ok else "; ".join(problems)
    if ok and value < solver_objective - obj_tol:
        msg = (f"numpy objective {value:.10g} is below the solver's {solver_objective:.10g}: indicators left "
               "on with nothing behind them")
    if not ok:
        warnings.warn(f"certificate failed: {msg}", CertificateWarning, stacklevel=3)
    return Certificate(ok, err, out_tol, float(solver_objective), value, obj_tol, msg)
