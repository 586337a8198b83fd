"""SCIP backend (``pyscipopt``, the ``scip`` extra): also takes quadratic objectives and bilinear equalities."""

from __future__ import annotations

import math
import time

import numpy as np

from mipnet.mip import MIPModel
from mipnet.solvers.base import Backend, Progress, SolveOptions, SolveResult, Status, recording, relative_gap

_STATUS = {
    "optimal": Status.OPTIMAL, "gaplimit": Status.OPTIMAL, "infeasible": Status.INFEASIBLE,
    "unbounded": Status.UNBOUNDED, "inforunbd": Status.INFEASIBLE, "userinterrupt": Status.INTERRUPTED,
    "terminate": Status.INTERRUPTED, "nodelimit": Status.NODE_LIMIT, "totalnodelimit": Status.NODE_LIMIT,
}


class ScipBackend(Backend):
    """Solve with SCIP through PySCIPOpt: linear, quadratic-objective and bilinear (nonconvex) models."""

    name = "scip"
    module = "pyscipopt"


    @classmethod
    def version(cls) -> str:
        from importlib.metadata import version

        import pyscipopt

        return f"{pyscipopt.Model().version()} (PySCIPOpt {version('pyscipopt')})"

    def solve(self, model: MIPModel, options: SolveOptions, start: np.ndarray | None = None) -> SolveResult:
        from pyscipopt import Model, quicksum
        from pyscipopt.scip import ExprCons

        options, history = recording(options)
        m = Model()
        m.hideOutput(not options.verbose)
        m.setParam("limits/gap", float(options.mip_gap))
        m.setParam("randomization/randomseedshift", int(options.seed))
        m.setParam("parallel/maxnthreads", int(options.threads))
        if options.time_limit is not None:
            m.setParam("limits/time", float(options.time_limit))
        if options.node_limit is not None:
            m.setParam("limits/nodes", int(options.node_limit))
        lb, ub = model.bounds()
        ints = model.integrality()
        xs = [m.addVar(name=f"x{i}", vtype="I" if ints[i] else "C",
                       lb=None if np.isneginf(lb[i]) else float(lb[i]),
                       ub=None if np.isposinf(ub[i]) else float(ub[i])) for i in range(model.n_vars)]
        A, lo, hi = model.matrix()
        for r in range(A.shape[0]):
            s, e = A.indptr[r], A.indptr[r + 1]
            expr = quicksum(float(v) * xs[c] for c, v in zip(A.indices[s:e].tolist(), A.data[s:e].tolist()))
            m.addCons(ExprCons(expr, lhs=None if np.isneginf(lo[r]) else float(lo[r]),
                               rhs=None if np.isposinf(hi[r]) else float(hi[r])))
        for t, a, b in model.bilinear:
            m.addCons(xs[t] == xs[a] * xs[b])
        c = model.objective_vector()
        linear = quicksum(float(c[i]) * xs[i] for i in np.flatnonzero(c).tolist())
        if model.is_quadratic:
            epi = m.addVar(name="quadratic_objective", lb=0.0, ub=None)
            m.addCons(quicksum(v * xs[i] * xs[j] for (i, j), v in model.quad_obj.items()) <= epi)
            linear = linear + epi
        m.setObjective(linear + model.obj_constant, "minimize")

        accepted = None
        if start is not None:
            sol = m.createSol()
            for i, v in enumerate(np.asarray(start, dtype=float).tolist()):
                m.setSolVal(sol, xs[i], v)
            if model.is_quadratic:
                m.setSolVal(sol, epi, sum(v * start[i] * start[j] for (i, j), v in model.quad_obj.items()))
            accepted = bool(m.addSol(sol, free=True))

        self._attach_progress(m, options.callback)
        t0 = time.perf_counter()
        m.optimize()
        elapsed = time.perf_counter() - t0

        raw = m.getStatus()
        has_sol = m.getNSols() > 0
        x = np.array([m.getVal(v) for v in xs]) if has_sol else None
        obj = float(m.getObjVal()) if has_sol else math.nan
        bound = float(m.getDualbound())
        status = _STATUS.get(raw)
        if status == Status.NODE_LIMIT and not has_sol:
            status = Status.NO_SOLUTION
        if status is None:  # time, memory and other limits
            status = Status.TIME_LIMIT if has_sol else Status.NO_SOLUTION
        gap = relative_gap(obj, bound) if has_sol else math.inf
        if status == Status.INFEASIBLE:
            gap = math.nan
        return SolveResult(status=status, objective=obj, bound=bound, gap=gap, time=elapsed,
                           nodes=int(m.getNNodes()), solver=self.name, version=self.version(), x=x,
                           start_accepted=accepted, history=[*history, (elapsed, obj, bound)])

    @staticmethod
    def _attach_progress(m: object, callback: object) -> None:
        """Report each better solution (``BESTSOLFOUND``) at once, and the bound at most once a second as nodes are
        solved (``NODESOLVED``), as the HiGHS backend does."""
        from pyscipopt import SCIP_EVENTTYPE, Eventhdlr

        events = SCIP_EVENTTYPE.BESTSOLFOUND | SCIP_EVENTTYPE.NODESOLVED

        class _Progress(Eventhdlr):
            last = -math.inf

            def eventinit(self) -> None:
                self.model.catchEvent(events, self)

            def eventexit(self) -> None:
                self.model.dropEvent(events, self)

            def eventexec(self, event: object) -> None:
                mm = self.model
                now = mm.getSolvingTime()
                if event.getType() != SCIP_EVENTTYPE.BESTSOLFOUND and now - self.last < 1.0:
                    return
                self.last = now
                inc, bnd = mm.getPrimalbound(), mm.getDualbound()
                callback(Progress(now, inc, bnd, relative_gap(inc, bnd), int(mm.getNNodes())))

        m.includeEventhdlr(_Progress(), "mipnet_progress", "reports improving solutions and the bound")
