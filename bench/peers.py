"""Verifier adapters shared by the verification benchmarks (bench_verify.py, bench_robust.py), and their summary table.

Every adapter decides one instance, an ONNX file and a VNN-LIB property (the unsafe region), and returns a record
``{"status": "holds" | "violated" | "unknown", "time": s, "x": counterexample or None, "note": str, ...}``:

* :func:`run_mipnet`    ``mipnet.verify.check_property`` on the network mipnet read from the ONNX file;
* :func:`run_omlt`      OMLT's big-M ReLU formulation per disjunct, solved by HiGHS (dense networks only);
* :func:`run_marabou`   maraboupy 2.0 on the ONNX file, one query per disjunct;
* :func:`run_neuralsat` NeuralSAT 0.2.17 (``../shared/peers/neuralsat``) on the ONNX file and the VNN-LIB file.

:func:`run_interleaved` runs several tools on a list of instances, instance by instance (so a change in the
machine's load falls on all tools alike), one JSON-lines file per tool; :func:`result_files` names those files.

A ``violated`` answer counts only with a point: :func:`confirm` clips it to a disjunct's input box and accepts it
when ``Network.forward`` puts it in that disjunct (the benchmarks call it for every tool). :func:`summarize` prints
the markdown tables (per tool: holds / violated / unknown / resolved / median times; side by side with the time
ratios and the conflicting definite answers).

Run the benchmarks from the repository root (``python bench/bench_verify.py``): Python puts ``bench/`` on the path,
so the scripts import this module as ``peers``.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import multiprocessing
import os
import re
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np

from mipnet.io.vnnlib import Property
from mipnet.network import Network

ROOT = Path(__file__).resolve().parents[1]
NEURALSAT = ROOT / ".." / "shared" / "peers" / "neuralsat"
NEURALSAT_GRACE = 10.0    # seconds past its --timeout before a NeuralSAT run is killed (as run_one.sh does)

Case = TypeVar("Case")


# ------------------------------------------------------------------------------------------------ re-check
def confirm(net: Network, prop: Property, x: np.ndarray | list | None) -> np.ndarray | None:
    """``x`` clipped to the input box of a disjunct it then satisfies under ``Network.forward``, or ``None``.

    Tools work in float32 (or with solver tolerances): a point a hair outside the box is clipped back into it, and the
    clipped point itself must lie in the unsafe region; nothing else is accepted.
    """
    if x is None:
        return None
    x = np.asarray(x, dtype=float).reshape(-1)
    if x.shape != (net.n_inputs,) or not np.all(np.isfinite(x)):
        return None
    for d in prop.disjuncts:
        lo, hi = d.box()
        xc = np.clip(x, lo, hi)
        if d.holds_at(xc, net.forward(xc[None])[0]):
            return xc
    return None


# ------------------------------------------------------------------------------------------------ mipnet
def run_mipnet(net: Network, prop: Property, time_limit: float, method: str = "auto", threads: int = 1) -> dict:
    """``mipnet.verify.check_property``; the record adds what the branch and bound did, summed over disjuncts
    (``subproblems``, ``batches``, ``lp_leaves``, ``mip_leaves``, ``max_open``) and how each disjunct ended."""
    from mipnet import verify

    t0 = time.perf_counter()
    r = verify.check_property(net, prop, time_limit=time_limit, method=method, threads=threads)
    wall = time.perf_counter() - t0
    rec = {"status": str(r.status), "time": r.time, "wall": wall,
           "x": None if r.counterexample is None else np.ravel(r.counterexample).tolist(), "note": r.note}
    for key in ("subproblems", "batches", "lp_leaves", "mip_leaves", "solves"):
        rec[key] = int(sum(e.get(key, 0) for e in r.details))
    rec["max_open"] = int(max([e.get("max_open", 0) for e in r.details] or [0]))
    rec["disjuncts"] = [{"disjunct": e.get("disjunct"), "status": str(e.get("status", "")), "how": e.get("how", ""),
                         "subproblems": e.get("subproblems", 0), "mip_leaves": e.get("mip_leaves", 0)}
                        for e in r.details]
    return rec


# ------------------------------------------------------------------------------------------------ OMLT
def run_omlt(net: Network, prop: Property, time_limit: float) -> dict:
    """Each disjunct as a feasibility MIP in OMLT's big-M ReLU formulation, solved by HiGHS through pyomo
    (``pip install omlt pyomo``; dense networks only)."""
    import highspy
    import pyomo.environ as pyo
    from omlt import OmltBlock
    from omlt.neuralnet import NetworkDefinition, ReluBigMFormulation
    from omlt.neuralnet.layer import DenseLayer, InputLayer

    logging.getLogger("pyomo").setLevel(logging.ERROR)
    t0 = time.perf_counter()
    open_disjuncts = 0
    for d in prop.disjuncts:
        left = time_limit - (time.perf_counter() - t0)
        if left <= 0.05:
            return {"status": "unknown", "time": time.perf_counter() - t0, "x": None, "note": "time limit"}
        lo, hi = d.box()
        nd = NetworkDefinition(scaled_input_bounds={i: (float(lo[i]), float(hi[i])) for i in range(len(lo))})
        prev = InputLayer([net.n_inputs])
        nd.add_layer(prev)
        for layer in net.affine_layers():
            dl = DenseLayer([layer.weight.shape[1]], [layer.units], layer.weight.T, layer.bias,
                            activation="relu" if layer.relu else "linear")
            nd.add_layer(dl)
            nd.add_edge(prev, dl)
            prev = dl
        m = pyo.ConcreteModel()
        m.nn = OmltBlock()
        m.nn.build_formulation(ReluBigMFormulation(nd))
        A, b = d.other_rows()
        n = net.n_inputs
        m.rows = pyo.ConstraintList()
        for row, rhs in zip(A, b):
            expr = sum(float(row[i]) * m.nn.inputs[i] for i in range(n) if row[i] != 0) + \
                sum(float(row[n + j]) * m.nn.outputs[j] for j in range(net.n_outputs) if row[n + j] != 0)
            m.rows.add(expr <= float(rhs) + 1e-6 * (1 + abs(rhs)))
        m.obj = pyo.Objective(expr=0)
        # pyomo's appsi_highs did not honour the time limit here: hand the same model to HiGHS through an MPS file
        mps = Path(tempfile.mkdtemp()) / "omlt.mps"
        m.write(str(mps), io_options={"symbolic_solver_labels": True})
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.readModel(str(mps))
        h.setOptionValue("time_limit", max(time_limit - (time.perf_counter() - t0), 0.05))
        h.setOptionValue("threads", 1)
        h.run()
        status = h.getModelStatus()
        if status == highspy.HighsModelStatus.kInfeasible:
            continue
        if h.getInfo().primal_solution_status == 2:
            names = {h.getColName(i)[1]: i for i in range(h.getNumCol())}
            vals = h.getSolution().col_value
            x = np.clip(np.array([vals[names[f"nn_inputs({i})"]] for i in range(n)]), lo, hi)
            y = net.forward(x[None])[0]
            if d.holds_at(x, y):
                return {"status": "violated", "time": time.perf_counter() - t0, "x": x.tolist(), "note": "MIP"}
        open_disjuncts += 1
    status = "holds" if open_disjuncts == 0 else "unknown"
    return {"status": status, "time": time.perf_counter() - t0, "x": None, "note": ""}


# ------------------------------------------------------------------------------------------------ Marabou
#: seconds past its time limit a Marabou query may run before it is stopped (it does not always keep its limit)
MARABOU_GRACE = 30.0


def run_marabou(path: Path, net: Network, prop: Property, time_limit: float) -> dict:
    """:func:`marabou_queries` in a forked child process: a crash of MarabouCore (it can die of a divide error, as
    on one digits CNN property) or a run past the time limit plus :data:`MARABOU_GRACE` is answered ``unknown`` with
    a note, and the benchmark goes on."""
    ctx = multiprocessing.get_context("fork")
    reader, writer = ctx.Pipe(duplex=False)
    t0 = time.perf_counter()

    def child() -> None:
        try:
            writer.send(marabou_queries(path, net, prop, time_limit))
        except BaseException as exc:  # noqa: BLE001 -- reported to the parent, whatever it is
            writer.send({"status": "unknown", "time": time.perf_counter() - t0, "x": None,
                         "note": f"Marabou raised {type(exc).__name__}: {exc}"})

    proc = ctx.Process(target=child, daemon=True)
    proc.start()
    writer.close()
    answer = None
    if reader.poll(time_limit + MARABOU_GRACE):
        try:
            answer = reader.recv()
        except EOFError:
            answer = None
    proc.join(1.0)
    if proc.is_alive():
        proc.kill()
        proc.join()
    if answer is None:
        why = (f"stopped at {time_limit + MARABOU_GRACE:.0f} s" if proc.exitcode in (None, -9)
               else f"Marabou crashed (exit code {proc.exitcode})")
        answer = {"status": "unknown", "time": time.perf_counter() - t0, "x": None, "note": why}
    return answer


def marabou_queries(path: Path, net: Network, prop: Property, time_limit: float) -> dict:
    """Each disjunct as one Marabou query on the ONNX network (``Marabou.read_onnx``), sharing the time limit.

    Box rows become input bounds, the other rows ``network.addInequality`` (``sum coeffs * vars <= scalar``);
    ``sat`` is accepted only if mipnet's ``Network.forward`` confirms the point lies in the disjunct.
    Marabou's timeout has whole-second granularity, so each disjunct gets ``floor`` of the time left (>= 1 s).
    The input tensor may have any shape (a convolutional network's ``(1, C, H, W)``): its variables are taken in
    C order, the order of VNN-LIB's ``X_i`` and of mipnet's flattened inputs.
    """
    from maraboupy import Marabou

    t0 = time.perf_counter()
    open_disjuncts = 0
    n, m = net.n_inputs, net.n_outputs

    def query(d, margin: float):
        with contextlib.redirect_stdout(io.StringIO()):
            mn = Marabou.read_onnx(str(path))
        xs = np.asarray(mn.inputVars[0]).reshape(-1)
        ys = np.asarray(mn.outputVars[0]).reshape(-1)
        assert len(xs) == n and len(ys) == m
        variables = np.concatenate([xs, ys])
        lo, hi = d.box()
        for i in range(n):
            if np.isfinite(lo[i]):
                mn.setLowerBound(int(xs[i]), float(lo[i]))
            if np.isfinite(hi[i]):
                mn.setUpperBound(int(xs[i]), float(hi[i]))
        A, b = d.other_rows()
        for row, rhs in zip(A, b):
            nz = np.flatnonzero(row)
            mn.addInequality([int(variables[k]) for k in nz], [float(row[k]) for k in nz], float(rhs) - margin)
        left = time_limit - (time.perf_counter() - t0)
        opts = Marabou.createOptions(timeoutInSeconds=max(int(left), 1), verbosity=0, numWorkers=1)
        with contextlib.redirect_stdout(io.StringIO()):
            code, vals, _ = mn.solve(options=opts, verbose=False)
        x = None
        if code == "sat":
            x = np.clip(np.array([vals[int(v)] for v in xs]), lo, hi)
            if not d.holds_at(x, net.forward(x[None])[0]):
                x = None
        return code, x

    notes = []
    for d in prop.disjuncts:
        if time_limit - (time.perf_counter() - t0) < 1.0:
            return {"status": "unknown", "time": time.perf_counter() - t0, "x": None, "note": "time limit"}
        code, x = query(d, 0.0)
        if code == "sat" and x is None and time_limit - (time.perf_counter() - t0) >= 1.0:
            # Marabou's point sits on the boundary (e.g. a tie between outputs) and misses the disjunct in mipnet's
            # forward pass: ask again for a point strictly inside (rows tightened by 1e-5); only a "sat" is used
            notes.append("sat point failed the re-check; retried with margin 1e-5")
            code, x = query(d, 1e-5)
            if code != "sat":
                code = "sat-unconfirmed"
        if code == "unsat":
            continue
        if x is not None:
            return {"status": "violated", "time": time.perf_counter() - t0, "x": x.tolist(), "note": "Marabou sat"}
        open_disjuncts += 1
        if code not in ("TIMEOUT", "sat", "sat-unconfirmed"):
            return {"status": "unknown", "time": time.perf_counter() - t0, "x": None, "note": f"Marabou {code}"}
        notes.append(f"Marabou {code}")
    status = "holds" if open_disjuncts == 0 else "unknown"
    return {"status": status, "time": time.perf_counter() - t0, "x": None, "note": "; ".join(notes)}


# ------------------------------------------------------------------------------------------------ NeuralSAT
_CEX_X = re.compile(r"\(\s*X_(\d+)\s+([^\s()]+)\s*\)")


def neuralsat_command(onnx: Path, vnnlib: Path, time_limit: float, result_file: Path,
                      home: Path | None = None) -> list[str]:
    """The NeuralSAT command line of ``run_one.sh`` (its installed interpreter and ``main.py``) plus
    ``--export_cex --export_runtime``, so that a ``sat`` answer comes with its point and NeuralSAT's own time."""
    home = Path(home or os.environ.get("NEURALSAT_HOME", Path.home() / ".cache" / "peers" / "neuralsat"))
    mains = sorted((home / "venv" / "lib").glob("python3*/site-packages/src/main.py"))
    if not mains:
        raise FileNotFoundError(f"NeuralSAT is not installed in {home}: run {NEURALSAT / 'setup.sh'}")
    return [str(home / "venv" / "bin" / "python"), str(mains[0]), "--net", str(Path(onnx).resolve()),
            "--spec", str(Path(vnnlib).resolve()), "--timeout", str(time_limit), "--device", "cpu",
            "--result_file", str(result_file), "--export_cex", "--export_runtime"]


def run_neuralsat(onnx: Path, vnnlib: Path, net: Network, prop: Property, time_limit: float,
                  log: Path | None = None) -> dict:
    """NeuralSAT on one instance, run as ``../shared/peers/neuralsat/run_one.sh`` runs it (one thread, CPU, its
    torchvision stub on the path, killed ``NEURALSAT_GRACE`` s past its own timeout) but keeping its result file,
    which holds its answer, its own run time and, for ``sat``, the counterexample (``--export_cex``).

    ``time`` is NeuralSAT's own clock (from after its imports: ONNX parsing and the search); ``wall`` adds its
    start-up (torch import, ~7 s here). ``sat`` is returned as ``violated`` with NeuralSAT's point (clipped to the
    box when :func:`confirm` accepts it, as given otherwise, or ``None`` when it wrote none): the caller re-checks.
    """
    with tempfile.TemporaryDirectory() as work:
        result = Path(work) / "result.txt"
        cmd = neuralsat_command(onnx, vnnlib, time_limit, result)
        env = dict(os.environ, CUDA_VISIBLE_DEVICES="", PYTHONWARNINGS="ignore",
                   OMP_NUM_THREADS=os.environ.get("NEURALSAT_THREADS", "1"),
                   MKL_NUM_THREADS=os.environ.get("NEURALSAT_THREADS", "1"))
        env["PYTHONPATH"] = os.pathsep.join([str((NEURALSAT / "shim").resolve())] +
                                            ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        t0 = time.perf_counter()
        out = open(log, "a", encoding="utf-8") if log is not None else subprocess.DEVNULL
        try:
            proc = subprocess.run(cmd, cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT,
                                  timeout=time_limit + NEURALSAT_GRACE)
            rc: int | str = proc.returncode
        except subprocess.TimeoutExpired:
            rc = "killed"
        finally:
            if log is not None:
                out.close()
        wall = time.perf_counter() - t0
        text = result.read_text(encoding="utf-8") if result.exists() else ""
    first = text.splitlines()[0].strip() if text.strip() else ""
    answer, _, own = first.partition(",")
    own_time = float(own) if own else wall
    rec = {"status": "unknown", "time": own_time, "wall": wall, "x": None, "note": f"NeuralSAT {answer or rc}"}
    if answer == "unsat":
        rec["status"] = "holds"
    elif answer == "sat":
        # reported as NeuralSAT says; the benchmark's re-check (confirm) marks a point that fails it
        pairs = {int(i): float(v) for i, v in _CEX_X.findall(text)}
        x = np.array([pairs.get(i, np.nan) for i in range(net.n_inputs)]) if pairs else None
        xc = confirm(net, prop, x)
        rec.update(status="violated", x=(xc if xc is not None else x).tolist() if x is not None else None)
    if rc == "killed":
        rec["note"] += f"; killed {NEURALSAT_GRACE:g} s past its timeout"
    return rec


# ------------------------------------------------------------------------------------------------ runner
def result_files(tools: Sequence[str], out: Path | None, default_folder: Path, prefix: str) -> list[Path]:
    """One result file per tool: ``out`` itself for one tool (default ``default_folder/<prefix><tool>.jsonl``),
    else ``<prefix><tool>.jsonl`` in the folder ``out`` (default ``default_folder``), which is created."""
    if len(tools) == 1:
        return [out or default_folder / f"{prefix}{tools[0]}.jsonl"]
    folder = out or default_folder
    folder.mkdir(parents=True, exist_ok=True)
    return [folder / f"{prefix}{t}.jsonl" for t in tools]


def run_interleaved(cases: Iterable[Case], tools: Sequence[str], outs: Sequence[Path],
                    run_one: Callable[[str, Case], dict], describe: Callable[[dict], str],
                    resume_keys: tuple[Callable[[Case], object], Callable[[dict], object]] | None = None) -> None:
    """Every case by every tool, interleaved (case by case, the tools in the given order), so a change in the
    machine's load falls on all tools alike. ``run_one(tool, case)`` returns the record written (one JSON line
    per record, flushed at once, so a stopped run keeps what it decided) to that tool's file in ``outs``;
    ``describe(record)`` is the line printed for it. With ``resume_keys`` (the key of a case and the key of a
    record, equal for the same instance) the files are appended to and a case already in a tool's file is skipped
    for that tool."""
    done: list[set] = [set() for _ in outs]
    if resume_keys is not None:
        for keys, out in zip(done, outs, strict=True):
            if out.exists():
                keys.update(resume_keys[1](json.loads(line))
                            for line in out.read_text(encoding="utf-8").splitlines() if line.strip())
    handles = [open(out, "a" if resume_keys is not None else "w", encoding="utf-8") for out in outs]
    try:
        for case in cases:
            for tool, fh, keys in zip(tools, handles, done, strict=True):
                if resume_keys is not None and resume_keys[0](case) in keys:
                    continue
                rec = run_one(tool, case)
                fh.write(json.dumps(rec) + "\n")
                fh.flush()
                print(describe(rec), flush=True)
    finally:
        for fh in handles:
            fh.close()


# ------------------------------------------------------------------------------------------------ summary
def summarize(files: list[Path], net_prefix: str = "") -> str:
    """Markdown tables from result files (JSON lines with ``tool``, ``net``, ``prop``, ``status``, ``time`` and, for
    ``violated``, ``rechecked``): one row per tool, then the instances side by side (first tool against the others,
    time ratios on instances both resolved), then the conflicting definite answers between any two tools.

    A ``violated`` answer whose point failed the forward-pass re-check (``rechecked`` false) is not resolved: it
    is counted in its own column ("violated, failed re-check") and named below the tables."""
    rows = [json.loads(line) for f in files for line in open(f, encoding="utf-8") if line.strip()]
    by_tool: dict[str, dict] = {}
    for r in rows:
        by_tool.setdefault(r["tool"], {})[(r["net"], r["prop"])] = r

    def verdict(r: dict) -> str:
        if r["status"] == "violated" and not r.get("rechecked", False):
            return "failed"
        return r["status"]

    tools = list(by_tool)
    lines = ["| tool | instances | holds | violated | violated, failed re-check | unknown | resolved | "
             "median time, resolved (s) | median time, all (s) |", "|---|---|---|---|---|---|---|---|---|"]
    for t in tools:
        rs = list(by_tool[t].values())
        solved = [r for r in rs if verdict(r) in ("holds", "violated")]
        cnt = {s: sum(verdict(r) == s for r in rs) for s in ("holds", "violated", "failed", "unknown")}
        med_s = f"{statistics.median(r['time'] for r in solved):.2f}" if solved else "-"
        med_a = f"{statistics.median(r['time'] for r in rs):.2f}"
        lines.append(f"| {t} | {len(rs)} | {cnt['holds']} | {cnt['violated']} | {cnt['failed']} | {cnt['unknown']} | "
                     f"{len(solved)} | {med_s} | {med_a} |")
    if len(tools) >= 2:
        a, others = tools[0], tools[1:]
        head = " | ".join(others) + " | " + " | ".join(f"time ratio {b}/{a}" for b in others)
        lines += ["", f"| net | prop | {a} | {head} |", "|---|---|---|" + "---|" * (2 * len(others))]
        ratios: dict[str, list[float]] = {b: [] for b in others}
        for key in sorted(by_tool[a], key=lambda k: (k[1], k[0])):
            ra = by_tool[a][key]
            cells, rcells = [], []
            for b in others:
                rb = by_tool[b].get(key)
                if rb is None:
                    cells.append("-")
                    rcells.append("-")
                    continue
                cells.append(f"{verdict(rb)} {rb['time']:.2f} s")
                ratio = "-"
                if {verdict(ra), verdict(rb)} <= {"holds", "violated"}:
                    ratio = f"{rb['time'] / max(ra['time'], 1e-3):.1f}"
                    ratios[b].append(rb["time"] / max(ra["time"], 1e-3))
                    if verdict(ra) != verdict(rb):
                        ratio += " **CONFLICT**"
                rcells.append(ratio)
            lines.append(f"| {net_prefix}{key[0]} | {key[1]} | {verdict(ra)} {ra['time']:.2f} s | "
                         + " | ".join(cells + rcells) + " |")
        lines.append("")
        for b in others:
            if ratios[b]:
                lines.append(f"Median time ratio {b}/{a} on instances both resolved: "
                             f"{statistics.median(ratios[b]):.1f} ({len(ratios[b])} instances).")
            else:
                lines.append(f"No instance resolved by both {a} and {b}.")
    conflicts = []
    for key in sorted({k for t in tools for k in by_tool[t]}):
        answers = {t: verdict(by_tool[t][key]) for t in tools if key in by_tool[t]}
        if {"holds", "violated"} <= set(answers.values()):
            conflicts.append(f"{net_prefix}{key[0]} {key[1]} (" + ", ".join(f"{t}: {v}" for t, v in answers.items())
                             + ")")
    lines.append(f"Conflicting definite answers (holds against a re-checked violated): {len(conflicts)}"
                 + (": " + "; ".join(conflicts) if conflicts else "") + ".")
    bad = [f"{r['tool']} {net_prefix}{r['net']} {r['prop']}" for r in rows if verdict(r) == "failed"]
    lines.append(f"Counterexamples that failed the forward-pass re-check: {len(bad)}"
                 + (": " + "; ".join(bad) if bad else "") + ".")
    return "\n".join(lines)
