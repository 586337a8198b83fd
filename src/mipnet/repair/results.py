"""Options and results of a provable repair, and the measures it reports (change, drawdown, output change)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from mipnet.errors import SettingsError
from mipnet.network import Network
from mipnet.verify.results import VerificationResult, _plain


class Norm(StrEnum):
    """How the weight change is measured (and minimised): over every weight and bias of the repaired layers."""

    L1 = "l1"        #: sum of absolute changes (tends to change few weights)
    LINF = "linf"    #: largest absolute change (tends to change many weights a little)


class Decision(StrEnum):
    """The network's decision on an input, for the drawdown: the index of the largest or of the smallest output
    (ACAS Xu's advisory is the argmin). A network with one output decides ``output > 0``."""

    ARGMAX = "argmax"
    ARGMIN = "argmin"


class DecisionRows(StrEnum):
    """How the repair MIP keeps the reference inputs' decisions (the drawdown's part of the repair objective)."""

    NONE = "none"     #: no decision rows: only the output change on the reference set is penalised
    KEEP = "keep"     #: hard rows (every decision kept); when they conflict with the points, a penalised slack
    COUNT = "count"   #: a binary per reference input switches its rows off at a cost: the changed decisions are
    #: counted in the objective, so the MIP minimises the reference drawdown exactly (always feasible)


class OutputLoss(StrEnum):
    """How the output change on the reference set enters the repair objective."""

    MEAN = "mean"    #: mean over reference inputs of the summed absolute output changes
    MAX = "max"      #: the largest absolute output change over reference inputs and outputs


class RepairStatus(StrEnum):
    """The answer of a repair."""

    PROVED = "proved"            #: the returned network satisfies the property, proved by the exact verifier
    NOT_PROVED = "not proved"    #: no network proved safe (see the verifier's answer and the note)


def parse_enum(cls: type[StrEnum], value: object, what: str) -> StrEnum:
    """``value`` as a member of ``cls`` (a member or its value); a :class:`SettingsError` naming the choices."""
    try:
        return cls(value)
    except ValueError:
        choices = ", ".join(repr(m.value) for m in cls)
        raise SettingsError(f"{what} must be one of {choices}, got {value!r}") from None


def decisions(Y: np.ndarray, decision: Decision) -> np.ndarray:
    """The decision per row of the outputs ``Y`` ``(N, K)``: arg max / arg min, or ``Y > 0`` for one output."""
    Y = np.asarray(Y, dtype=float).reshape(len(Y), -1)
    if Y.shape[1] == 1:
        return (Y[:, 0] > 0).astype(int)
    return np.argmin(Y, axis=1) if decision == Decision.ARGMIN else np.argmax(Y, axis=1)


def outputs(net: Network, X: np.ndarray) -> np.ndarray:
    """Flat outputs ``(N, n_outputs)`` of the inputs ``X`` (flat or shaped)."""
    X = np.asarray(X, dtype=float)
    return net.forward(X.reshape(len(X), *net.input_shape)).reshape(len(X), -1)


def behaviour_change(original: Network, repaired: Network, X: np.ndarray, decision: Decision = Decision.ARGMAX
                     ) -> dict:
    """How much ``repaired`` differs from ``original`` on the inputs ``X``.

    Parameters
    ----------
    original, repaired : Network
    X : ndarray, shape ``(N, n_inputs)``
    decision : Decision

    Returns
    -------
    dict
        ``drawdown`` (fraction of inputs whose decision changes), ``changed_decisions`` (their number), ``n``,
        ``max_output_change`` (largest absolute change of any output) and ``mean_output_change`` (mean over inputs
        of the summed absolute output changes).
    """
    decision = parse_enum(Decision, decision, "decision")
    Y0, Y1 = outputs(original, X), outputs(repaired, X)
    changed = decisions(Y0, decision) != decisions(Y1, decision)
    diff = np.abs(Y1 - Y0)
    return {"drawdown": float(changed.mean()) if len(X) else 0.0, "changed_decisions": int(changed.sum()),
            "n": int(len(X)), "max_output_change": float(diff.max(initial=0.0)),
            "mean_output_change": float(diff.sum(axis=1).mean()) if len(X) else 0.0}


def weight_change(original: Network, repaired: Network, tol: float = 1e-12) -> dict:
    """The change of every affine layer's weights and bias (biases count as weights; a missing bias is 0).

    Returns
    -------
    dict
        ``l1`` and ``linf`` over all layers, ``changed`` (entries that moved by more than ``tol``), and
        ``per_layer``: one entry per affine layer with its index, ``l1``, ``linf`` and ``changed``.
    """
    per_layer = []
    for i, (a, b) in enumerate(zip(original.affine_layers(), repaired.affine_layers())):
        d = [np.ravel(b.weight - a.weight)]
        ba = np.zeros(a.weight.shape[0]) if a.bias is None else a.bias
        bb = np.zeros(b.weight.shape[0]) if b.bias is None else b.bias
        d.append(np.ravel(bb - ba))
        d = np.abs(np.concatenate(d))
        per_layer.append({"layer": i, "l1": float(d.sum()), "linf": float(d.max(initial=0.0)),
                          "changed": int((d > tol).sum()), "entries": int(d.size)})
    return {"l1": float(sum(e["l1"] for e in per_layer)), "linf": float(max((e["linf"] for e in per_layer),
                                                                           default=0.0)),
            "changed": int(sum(e["changed"] for e in per_layer)), "per_layer": per_layer}


@dataclass
class RepairResult:
    """What :func:`mipnet.repair.repair` found.

    Attributes
    ----------
    status : RepairStatus
        ``proved`` only when :func:`mipnet.verify.check_property` proved the property for :attr:`network` itself
        (the returned object, verified from scratch after the last repair round).
    network : Network or None
        The repaired network (the original when it was already safe; the last candidate when not proved; ``None``
        when no candidate was found).
    verification : VerificationResult or None
        The verifier's answer for :attr:`network`: the proof when ``proved``.
    change : dict
        :func:`weight_change` of :attr:`network` against the original (``l1``, ``linf``, ``per_layer``).
    behaviour : dict
        :func:`behaviour_change` on the reference inputs (``drawdown``, ``max_output_change``...).
    objective : float
        The repair objective of :attr:`network`, recomputed with numpy: the change (in :attr:`norm`) plus
        ``output_weight`` times the output change on the reference set (plus the decision penalty when the last
        round had to penalise the kept decisions instead of imposing them).
    lower_bound : float
        The last repair MIP's proved bound: no change of these layers that keeps every counterexample point out of
        the unsafe region by ``margin`` (and, when that round kept them, the reference decisions) has a smaller
        objective. With ``proved``, ``objective`` is an upper bound, so
        the repair is minimal (for the margin) up to ``objective - lower_bound``.
    rounds : list of dict
        Per round: points, ``margin``, MIP status / objective / bound / time, ``decisions`` (``kept``, ``penalised``,
        ``counted`` with ``changed_decisions``, ``none``), the verifier's answer and time, points added; with a
        drawdown pool, ``pool_drawdown`` and ``pool_added``; with a proof-guided margin, ``margin_next`` where the
        margin grew.
    layers, norm, decision : the options used
    n_reference : int
    counterexamples : int
        Points (re-checked inputs of the unsafe region) imposed in the last repair MIP.
    time : float
    note : str
        How the answer was reached, or why it is not proved.
    """

    status: RepairStatus
    network: Network | None
    verification: VerificationResult | None
    change: dict = field(default_factory=dict)
    behaviour: dict = field(default_factory=dict)
    objective: float = np.nan
    lower_bound: float = -np.inf
    rounds: list = field(default_factory=list)
    layers: int = 1
    norm: Norm = Norm.L1
    decision: Decision = Decision.ARGMAX
    n_reference: int = 0
    counterexamples: int = 0
    time: float = 0.0
    note: str = ""

    @property
    def proved(self) -> bool:
        return self.status == RepairStatus.PROVED

    def as_dict(self) -> dict:
        """Plain JSON-ready values (the network left out)."""
        out = {k: v for k, v in self.__dict__.items() if k not in ("network", "verification")}
        out["verification"] = None if self.verification is None else self.verification.as_dict()
        return {k: (v.value if isinstance(v, StrEnum) else _plain(v)) for k, v in out.items()}

    def summary(self) -> list[str]:
        """A few human-readable lines."""
        v = self.verification
        lines = [f"repair: {self.status}" + (f" (verifier: {v.status}, {v.time:.1f} s)" if v is not None else ""),
                 f"  change ({self.norm}, last {self.layers} affine layer(s)): L1 {self.change.get('l1', 0):.6g}, "
                 f"L-inf {self.change.get('linf', 0):.6g}, {self.change.get('changed', 0)} entries changed"]
        b = self.behaviour
        if b:
            lines.append(f"  reference set ({b['n']} inputs): drawdown {100 * b['drawdown']:.2f}% "
                         f"({b['changed_decisions']} {self.decision} decisions changed), largest output change "
                         f"{b['max_output_change']:.6g}")
        lines.append(f"  rounds {len(self.rounds)}, counterexample points {self.counterexamples}, time "
                     f"{self.time:.1f} s")
        if np.isfinite(self.objective):
            lines.append(f"  objective {self.objective:.6g}, lower bound {self.lower_bound:.6g}")
        if self.note:
            lines.append(f"  {self.note}")
        return lines
