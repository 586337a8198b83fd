"""HiGHS backend (``highspy``): the licence-free default."""

from __future__ import annotations

import math
import os
import sys
import threading
import time

import numpy as np

from mipnet.errors import SolverUnavailableError
from mipnet.mip import MIPModel
from mipnet.solvers.base import Backend, Progress, SolveOptions, SolveResult, Status, recording, relative_gap


def new_highs(verbose: bool) -> object:
    """A ``Highs`` instance; its constructor prints a banner on file descriptor 1, hidden unless verbose."""
    import highspy

    if verbose:
        return highspy.Highs()
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            h = highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    h.setOptionValue("output_flag", False)
    return h


def pass_model(h: object, lb: np.ndarray, ub: np.ndarray, A: object, lo: np.ndarray, hi: np.ndarray,
               cost: np.ndarray | None = None, offset: float = 0.0, integer: np.ndarray | None = None) -> None:
    """Pass ``min cost.x + offset`` s.t. ``lo <= A x <= hi``, ``lb <= x <= ub`` (``integer``: a mask of integer
    variables) to the ``Highs`` instance ``h``: the one place where mipnet's arrays become HiGHS's model.

    The arrays go through highspy's array form of ``passModel`` in one call (column-wise matrix, infinities as
    ``kHighsInf``). Filling a ``HighsLp`` field by field, as before, converted element by element and took
    seconds at 10^5 columns (bench/bench_build_cnn.py)."""
    import highspy

    inf = highspy.kHighsInf
    A = A.tocsc()
    n, m = A.shape[1], A.shape[0]
    ints = np.zeros(n, dtype=np.int32) if integer is None else np.asarray(integer, dtype=bool).astype(np.int32)
    h.passModel(int(n), int(m), int(A.nnz), int(highspy.MatrixFormat.kColwise), int(highspy.ObjSense.kMinimize),
                float(offset), np.zeros(n) if cost is None else np.ascontiguousarray(cost, dtype=float),
                np.where(np.isinf(lb), -inf, lb).astype(float), np.where(np.isinf(ub), inf, ub).astype(float),
                np.where(np.isinf(lo), -inf, lo).astype(float), np.where(np.isinf(hi), inf, hi).astype(float),
                A.indptr.astype(np.int32), A.indices.astype(np.int32), A.data.astype(float), ints)


def run_interruptibly(h: object) -> bool:
    """Run the ``Highs`` instance ``h`` so that Ctrl-C stops it cleanly; ``True`` when Ctrl-C was pressed.

    The solve runs on a worker thread (HiGHS releases the GIL) while this thread waits; a ``KeyboardInterrupt`` sets a
    flag that HiGHS's interrupt callbacks (simplex, interior point, MIP) turn into a user interrupt, and the wait goes
    on until the solver has returned, so no solver thread outlives the call. The model status is then HiGHS's
    (``kInterrupt`` when it stopped for the flag). highspy's own ``HandleKeyboardInterrupt`` is not used: its locks
    are shared by all ``Highs`` instances, and a Ctrl-C at the wrong moment leaves a solver running after ``solve``
    raised (the next solve fails with "Solver is already running", and the process aborts at exit:
    tests/solvers/test_highs.py::test_ctrl_c_storm_never_leaves_a_solver_running).
    """
    stop = threading.Event()

    def on_interrupt_check(event: object) -> None:
        if stop.is_set():
            event.interrupt()

    hooks = (h.cbSimplexInterrupt, h.cbIpmInterrupt, h.cbMipInterrupt)
    for hook in hooks:
        hook.subscribe(on_interrupt_check)
    finished = threading.Event()

    def work() -> None:
        try:
            h.run()
        finally:
            finished.set()

    # the end is awaited on an Event, not Thread.join: a KeyboardInterrupt inside join makes is_alive() False on
    # Python 3.11 while the thread still runs
    worker = threading.Thread(target=work, name="highs-solve", daemon=True)
    interrupted = False
    try:
        worker.start()
        while True:
            try:
                while not finished.wait(0.1):
                    pass
                break
            except KeyboardInterrupt:
                interrupted = True
                stop.set()
    finally:
        stop.set()            # reached early only by an exception in the wait itself: the solver stops too
        while not finished.is_set():
            try:
                finished.wait(0.1)
            except KeyboardInterrupt:
                interrupted = True
        for hook in hooks:
            hook.unsubscribe(on_interrupt_check)
    return interrupted


class HighsBackend(Backend):
    """Solve with HiGHS. Linear MIPs only (HiGHS has no mixed-integer quadratic or bilinear support)."""

    name = "highs"
    module = "highspy"


    @classmethod
    def version(cls) -> str:
        from importlib.metadata import version

        return version("highspy")

    def check(self, model: MIPModel) -> None:
        if model.is_bilinear:
            raise SolverUnavailableError(
                "the model has bilinear products of continuous variables (weights='continuous-bilinear'), which "
                "HiGHS cannot solve: use solver='scip', or a discrete weight domain ('sign', 'ternary', "
                "'grid(bits)') after the first layer")
        if model.is_quadratic and model.integrality().any():
            raise SolverUnavailableError(
                "the objective is quadratic (squared error or l2 on continuous weights) and the model has integer "
                "variables; HiGHS has no mixed-integer quadratic solver: use solver='scip', or a linear loss "
                "(hinge, absolute, max error) with l1 instead of l2")

    def solve(self, model: MIPModel, options: SolveOptions, start: np.ndarray | None = None) -> SolveResult:
        import highspy

        self.check(model)
        options, history = recording(options)
        h = new_highs(options.verbose)
        h.setOptionValue("output_flag", bool(options.verbose))
        h.setOptionValue("threads", int(options.threads))
        h.setOptionValue("mip_rel_gap", float(options.mip_gap))
        h.setOptionValue("random_seed", int(options.seed))
        if options.time_limit is not None:
            h.setOptionValue("time_limit", float(options.time_limit))
        if options.node_limit is not None:
            h.setOptionValue("mip_max_nodes", int(options.node_limit))
        if options.cutoff is not None and math.isfinite(options.cutoff):
            h.setOptionValue("objective_bound", float(options.cutoff))
        for key, value in options.solver_options.items():
            h.setOptionValue(key, value)

        lb, ub = model.bounds()
        A, lo, hi = model.matrix()
        ints = model.integrality()
        pass_model(h, lb, ub, A, lo, hi, model.objective_vector(), float(model.obj_constant), ints)
        if model.is_quadratic:
            self._pass_hessian(h, model)

        accepted = None
        if start is not None:
            sol = highspy.HighsSolution()
            sol.col_value = np.asarray(start, dtype=float).tolist()
            sol.value_valid = True
            accepted = h.setSolution(sol) == highspy.HighsStatus.kOk

        cb = options.callback
        if cb is not None and ints.any():
            # with a cutoff HiGHS's primal bound is the cutoff until it finds a solution below it: the ticks then
            # report only the solutions its improving-solution callback has shown (no network has the cutoff's value)
            cutoff_set = options.cutoff is not None and math.isfinite(options.cutoff)
            best = [math.inf]

            def on_improve(e: object) -> None:
                d = e.data_out
                best[0] = min(best[0], float(d.objective_function_value))
                cb(Progress(d.running_time, d.objective_function_value, d.mip_dual_bound, d.mip_gap,
                            int(d.mip_node_count)))

            last = [0.0]

            def on_tick(e: object) -> None:
                d = e.data_out
                if d.running_time - last[0] >= 1.0:
                    last[0] = d.running_time
                    incumbent = best[0] if cutoff_set else d.mip_primal_bound
                    gap = d.mip_gap if math.isfinite(incumbent) else math.inf
                    cb(Progress(d.running_time, incumbent, d.mip_dual_bound, gap, int(d.mip_node_count)))

            h.cbMipImprovingSolution.subscribe(on_improve)
            h.cbMipInterrupt.subscribe(on_tick)

        t0 = time.perf_counter()
        run_interruptibly(h)
        elapsed = time.perf_counter() - t0
        result = self._result(h, model, elapsed, accepted, options.node_limit is not None)
        result.history = [*history, (elapsed, result.objective, result.bound)]
        return result

    @staticmethod
    def _pass_hessian(h: object, model: MIPModel) -> None:
        import highspy

        n = model.n_vars
        diag = np.zeros(n)
        for (i, j), c in model.quad_obj.items():
            if i != j:
                raise SolverUnavailableError("only diagonal quadratic objectives are supported with HiGHS")
            diag[i] += 2.0 * c  # HiGHS minimises c'x + 1/2 x'Qx
        hess = highspy.HighsHessian()
        hess.dim_ = n
        hess.format_ = highspy.HessianFormat.kTriangular
        nz = np.flatnonzero(diag)
        start = np.zeros(n + 1, dtype=np.int32)
        start[1:] = np.cumsum(np.isin(np.arange(n), nz))
        hess.start_ = start
        hess.index_ = nz.astype(np.int32)
        hess.value_ = diag[nz]
        h.passHessian(hess)

    def _result(self, h: object, model: MIPModel, elapsed: float, accepted: bool | None,
                node_limited: bool = False) -> SolveResult:
        import highspy

        ms = h.getModelStatus()
        info = h.getInfo()
        has_sol = info.primal_solution_status == 2  # kSolutionStatusFeasible
        x = np.asarray(h.getSolution().col_value, dtype=float) if has_sol else None
        is_mip = bool(model.integrality().any())
        # the objective of the solution returned, evaluated here: stopped within its first ~0.1 s, HiGHS can report
        # the value of another point than the one it returns (measured: 657.835 reported, 658.275 at the point)
        obj = float(model.objective_value(x)) if has_sol else math.nan
        if is_mip:
            bound = float(info.mip_dual_bound)
            nodes = int(info.mip_node_count)
        else:
            bound, nodes = obj, 0
        MS = highspy.HighsModelStatus
        if ms == MS.kOptimal:
            status = Status.OPTIMAL
        elif ms == MS.kInfeasible:
            status = Status.INFEASIBLE
        elif ms in (MS.kUnbounded, MS.kUnboundedOrInfeasible):
            status = Status.UNBOUNDED if ms == MS.kUnbounded else Status.INFEASIBLE
            if ms == MS.kUnboundedOrInfeasible and has_sol:
                status = Status.UNBOUNDED
        elif ms == MS.kInterrupt:
            status = Status.INTERRUPTED
        elif ms == MS.kSolutionLimit and node_limited:   # HiGHS's word for its node (and leaf) limits
            status = Status.NODE_LIMIT if has_sol else Status.NO_SOLUTION
        elif ms in (MS.kTimeLimit, MS.kIterationLimit, MS.kSolutionLimit, MS.kObjectiveBound,
                    MS.kObjectiveTarget):
            status = Status.TIME_LIMIT if has_sol else Status.NO_SOLUTION
        else:
            status = Status.ERROR if not has_sol else Status.TIME_LIMIT
        if status == Status.OPTIMAL and not is_mip:
            bound = obj
        gap = relative_gap(obj, bound) if has_sol else math.inf
        if status == Status.INFEASIBLE:
            gap = math.nan
        return SolveResult(status=status, objective=obj, bound=bound if math.isfinite(bound) else -math.inf,
                           gap=gap, time=elapsed, nodes=nodes, solver=self.name, version=self.version(), x=x,
                           start_accepted=accepted)
