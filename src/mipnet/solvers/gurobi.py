"""Gurobi backend (``gurobipy``, the ``gurobi`` extra): for users who own a licence.

The pip package carries a size-limited licence (about 2000 variables and constraints); larger models need a
full licence, and Gurobi's own error says so.
"""

from __future__ import annotations

import math

import numpy as np

from mipnet.errors import SolverUnavailableError
from mipnet.mip import MIPModel
from mipnet.solvers.base import Backend, Progress, SolveOptions, SolveResult, Status, recording, relative_gap


class GurobiBackend(Backend):
    """Solve with Gurobi: linear, quadratic-objective and bilinear (``NonConvex=2``) models."""

    name = "gurobi"
    module = "gurobipy"


    @classmethod
    def version(cls) -> str:
        import gurobipy

        return ".".join(map(str, gurobipy.gurobi.version()))

    def solve(self, model: MIPModel, options: SolveOptions, start: np.ndarray | None = None) -> SolveResult:
        import gurobipy as gp
        from gurobipy import GRB

        options, history = recording(options)
        try:
            env = gp.Env(empty=True)
            env.setParam("OutputFlag", 1 if options.verbose else 0)
            env.start()
        except gp.GurobiError as exc:
            raise SolverUnavailableError(f"Gurobi could not start (licence?): {exc}") from None
        m = gp.Model(env=env)
        m.Params.Threads = int(options.threads)
        m.Params.MIPGap = float(options.mip_gap)
        m.Params.Seed = int(options.seed)
        if options.time_limit is not None:
            m.Params.TimeLimit = float(options.time_limit)
        if options.node_limit is not None:
            m.Params.NodeLimit = float(options.node_limit)
        lb, ub = model.bounds()
        ints = model.integrality()
        x = m.addMVar(model.n_vars, lb=lb, ub=ub, vtype=np.where(ints, GRB.INTEGER, GRB.CONTINUOUS))
        A, lo, hi = model.matrix()
        eq = lo == hi
        for mask, sense, rhs in ((eq, GRB.EQUAL, lo), (~eq & np.isfinite(hi), GRB.LESS_EQUAL, hi),
                                 (~eq & np.isfinite(lo), GRB.GREATER_EQUAL, lo)):
            if mask.any():
                m.addMConstr(A[mask], x, sense, rhs[mask])
        for t, a, b in model.bilinear:
            m.addConstr(x[t] == x[a] * x[b])
        if model.is_bilinear:
            m.Params.NonConvex = 2
        obj = model.objective_vector() @ x + model.obj_constant
        for (i, j), c in model.quad_obj.items():
            obj = obj + c * x[i] * x[j]
        m.setObjective(obj, GRB.MINIMIZE)
        if start is not None:
            x.Start = np.asarray(start, dtype=float)
        user = options.callback

        def cb(model_: object, where: int) -> None:
            if where == GRB.Callback.MIPSOL:
                inc = model_.cbGet(GRB.Callback.MIPSOL_OBJBST)
                bnd = model_.cbGet(GRB.Callback.MIPSOL_OBJBND)
                user(Progress(model_.cbGet(GRB.Callback.RUNTIME), inc, bnd, relative_gap(inc, bnd),
                              int(model_.cbGet(GRB.Callback.MIPSOL_NODCNT))))
        try:
            m.optimize(cb)
        except gp.GurobiError as exc:
            raise SolverUnavailableError(f"Gurobi failed: {exc}") from None
        has_sol = m.SolCount > 0
        xs = np.asarray(x.X, dtype=float) if has_sol else None
        objv = float(m.ObjVal) if has_sol else math.nan
        is_mip = bool(m.IsMIP)
        bound = float(m.ObjBound) if is_mip and m.Status != GRB.INFEASIBLE else objv
        status = {GRB.OPTIMAL: Status.OPTIMAL, GRB.INFEASIBLE: Status.INFEASIBLE,
                  GRB.INF_OR_UNBD: Status.INFEASIBLE, GRB.UNBOUNDED: Status.UNBOUNDED,
                  GRB.INTERRUPTED: Status.INTERRUPTED}.get(m.Status)
        if status is None:
            limit = Status.NODE_LIMIT if m.Status == GRB.NODE_LIMIT else Status.TIME_LIMIT
            status = limit if has_sol else Status.NO_SOLUTION
        gap = math.nan if status == Status.INFEASIBLE else (relative_gap(objv, bound) if has_sol else math.inf)
        return SolveResult(status=status, objective=objv, bound=bound, gap=gap, time=float(m.Runtime),
                           nodes=int(m.NodeCount) if is_mip else 0, solver=self.name, version=self.version(), x=xs,
                           start_accepted=None if start is None else True,
                           history=[*history, (float(m.Runtime), objv, bound)])
