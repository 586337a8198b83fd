"""The training report: what was solved, how it ended, and what the certificate found."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from mipnet.errors import SettingsError
from mipnet.network import Network
from mipnet.plot import PlotKind, plot_network, plot_progress


def fmt(v: float | None, pct: bool = False) -> str:
    """A report number as printed: 6 significant digits, or a percentage (``pct``); ``-`` when missing."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, float) and math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return f"{100 * v:.2f}%" if pct else f"{v:.6g}"


@dataclass
class TrainReport:
    """Everything known about one training solve (``estimator.report_``).

    ``feature_names`` (set by the estimators from a DataFrame's columns, and by ``mipnet train`` from the CSV
    header) names the inputs in :meth:`inputs_used_names` and in the text form.

    ``history``: the solver's progress, ``(time, incumbent, bound)`` per event and at the end, times in seconds since
    training began (``inf`` / ``-inf`` where there was no incumbent / bound yet). ``network``: the trained network
    (set by the estimators; not part of :meth:`as_dict`), drawn by :meth:`plot`.
    """

    status: str
    proved_optimal: bool
    objective: float
    bound: float
    gap: float
    solve_time: float
    build_time: float
    total_time: float
    nodes: int
    solver: str
    solver_version: str
    mip_size: dict
    weights: list[str]
    bound_rule: str
    l1_budget: float | None
    warm_start_objective: float | None
    warm_start_accepted: bool | None
    objective_terms: dict
    sparsity: dict
    certificate: dict
    extra: dict = field(default_factory=dict)
    certified: list | None = None
    rounds: list | None = None
    bounds_constrained: dict | None = None
    feature_names: list[str] | None = None
    history: list[tuple[float, float, float]] | None = None
    network: Network | None = field(default=None, repr=False, compare=False)

    def as_dict(self) -> dict:
        d = asdict(replace(self, network=None))
        d.pop("network")
        return d

    def plot(self, kind: PlotKind | str = PlotKind.NETWORK, out: str | Path | None = None,
             title: str | None = None) -> Any:
        """Draw the trained network (``kind="network"``, pruned units grey; see :func:`mipnet.plot.plot_network`)
        or the incumbent and bound over time (``"progress"``); with ``out`` also write it (``.png``/``.svg``).

        Returns
        -------
        matplotlib.figure.Figure

        Raises
        ------
        OptionalDependencyError
            matplotlib is not installed (``pip install 'mipnet[plot]'``).
        """
        try:
            kind = PlotKind(kind)
        except ValueError:
            raise SettingsError(f"unknown plot kind {kind!r}: choose network or progress") from None
        if kind == PlotKind.PROGRESS:
            return plot_progress(self.history or [], out=out, title=title or f"{self.solver}: {self.status}")
        if kind == PlotKind.NETWORK:
            if self.network is None:
                raise SettingsError("this report holds no network to draw (reports of fitted estimators do)")
            return plot_network(self.network, self.feature_names, out=out, title=title)
        raise SettingsError("a report draws its network or its progress; a sweep is drawn by mipnet.sweep")

    def inputs_used_names(self) -> list[str] | None:
        """The input features the network uses, by name (``x<k>`` without feature names); ``None`` where the
        network's first layer is not dense on the inputs."""
        used = self.sparsity.get("inputs_used")
        if used is None:
            return None
        names = self.feature_names
        return [names[k] if names is not None and k < len(names) else f"x{k}" for k in used]

    def __str__(self) -> str:
        size = self.mip_size
        cert = self.certificate
        lines = [
            f"status            {self.status}{' (proved)' if self.proved_optimal else ''}",
            f"objective         {fmt(self.objective)}   best bound {fmt(self.bound)}   gap {fmt(self.gap, True)}",
            f"time              solve {self.solve_time:.2f}s, build {self.build_time:.2f}s, total "
            f"{self.total_time:.2f}s, {self.nodes} nodes",
            f"solver            {self.solver} {self.solver_version}",
            f"MIP size          {size.get('variables')} variables ({size.get('binaries')} binary), "
            f"{size.get('constraints')} constraints, {size.get('nonzeros')} nonzeros",
            f"weight domains    {', '.join(self.weights)}; bounds: {self.bound_rule}"
            + (f" (L1 budget {self.l1_budget:.4g})" if self.l1_budget is not None else ""),
            "warm start        " + ("none" if self.warm_start_objective is None else
                                     f"objective {fmt(self.warm_start_objective)}"
                                     f" (accepted by solver: {self.warm_start_accepted})"),
            "objective terms   " + ", ".join(f"{k} {fmt(v)}" for k, v in self.objective_terms.items()),
            f"sparsity          {self.sparsity.get('nonzero_weights')}/{self.sparsity.get('weights')} weights "
            f"nonzero; active units per layer {self.sparsity.get('active_units')}; inputs used "
            f"{self.sparsity.get('inputs_used_count')}" + _names_note(self.inputs_used_names()),
            f"certificate       {'OK' if cert.get('ok') else 'FAILED'}: {cert.get('message')}; max output error "
            f"{cert.get('max_output_error', float('nan')):.2e} (tol {cert.get('output_tolerance', float('nan')):.1e})",
        ]
        parts = []
        if self.sparsity.get("filters"):    # dense networks have no filters to report
            parts.append(f"active filters per conv layer {self.sparsity.get('active_filters')} of "
                         f"{self.sparsity.get('filters')}")
        if self.sparsity.get("filters") or self.sparsity.get("gated_layers_active"):
            parts.append(f"active layers {self.sparsity.get('active_layers')} of {self.sparsity.get('layers')}")
        if parts:
            lines.append("structure         " + "; ".join(parts))
        for k, v in self.extra.items():
            if k == "sub_problems" and isinstance(v, list):
                for sub in v:
                    if "objective" in sub:
                        lines.append(f"  sign pattern k={sub['k']}: {sub['status']}, "
                                     f"objective {fmt(sub['objective'])}, bound {fmt(sub['bound'])}, "
                                     f"{sub['time']:.2f}s, {sub['nodes']} nodes"
                                     + (f", cutoff {fmt(sub['cutoff'])}" if sub.get("cutoff") is not None else "")
                                     + _cut_note(sub))
                    elif "bound" in sub:
                        lines.append(f"  sign pattern k={sub['k']}: {sub['status']}, bound {fmt(sub['bound'])} "
                                     f">= {fmt(sub['cutoff'])}, {sub['time']:.2f}s" + _cut_note(sub))
                    else:
                        lines.append(f"  sign pattern k={sub['k']}: {sub['status']}" + _cut_note(sub))
            else:
                lines.append(f"{k:<18}{v}")
        for c in self.certified or []:
            detail = f": {c['detail']}" if c.get("detail") else ""
            lines.append(f"constraint        {c['status']:<9} {c['constraint']}{detail}")
        for r in self.rounds or []:
            lines.append(f"  round {r['round']}: MIP objective {fmt(r['objective'])} (bound {fmt(r['bound'])}, "
                         f"{r['status']}), verifier {', '.join(r['verdicts'])}, {r['added']} counterexample(s) added, "
                         f"train {r['train_time']:.1f}s, verify {r['verify_time']:.1f}s")
        return "\n".join(lines)


def _names_note(names: list[str] | None, most: int = 20) -> str:
    if not names:
        return ""
    shown = ", ".join(names[:most])
    return f" ({shown}{', ...' if len(names) > most else ''})"


def _cut_note(sub: dict) -> str:
    c = sub.get("cuts")
    if not c:
        return ""
    return f"; root cuts: {c['rounds']} rounds, {c['kept']} of {c['generated']} kept, LP bound {fmt(c['bound'])}"
