"""Verification benchmark on the real ACAS Xu networks (../shared/external/acasxu): mipnet, OMLT, Marabou.

Instances: properties 1-4 on each of the 9 networks present, plus the runnable pairs 5/N11, 6/N11, 7/N19, 8/N29,
9/N33, 10/N45 (the data README). Each tool gets the same per-instance time limit and one thread; every answer
is recorded (holds / violated / unknown) with its time. A "violated" answer from either tool is re-checked here
with ``Network.forward``; a disagreement between two definite answers is flagged.

Usage (run from the repository root)::

    PYTHONPATH=src python bench/bench_verify.py --tool mipnet --time-limit 30 --out bench/out_mipnet.jsonl
    PYTHONPATH=src python bench/bench_verify.py --tool omlt   --time-limit 30 --out bench/out_omlt.jsonl
    PYTHONPATH=src python bench/bench_verify.py --tool marabou --time-limit 30 --out bench/out_marabou.jsonl
    PYTHONPATH=src python bench/bench_verify.py --summarize bench/out_mipnet.jsonl bench/out_omlt.jsonl \\
        bench/out_marabou.jsonl
    PYTHONPATH=src python bench/bench_verify.py --quick ...      # 6 instances

OMLT (``pip install omlt pyomo``) encodes each network with its ``ReluBigMFormulation`` (interval bounds from the
input box) and solves each disjunct of the property as a feasibility MIP with HiGHS (pyomo ``appsi_highs``).

Marabou (maraboupy 2.0, ``pip install maraboupy``) reads the same ONNX file (``Marabou.read_onnx``) and solves each
disjunct as one query (box rows as input bounds, the other rows as ``addInequality``), one worker, the time limit
shared across disjuncts; a ``sat`` point counts only once mipnet's forward pass confirms it (see ``run_marabou``).
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ACAS = ROOT / ".." / "shared" / "external" / "acasxu"
NETS = ["1_1", "1_7", "1_9", "2_1", "2_9", "3_3", "4_2", "4_5", "5_3"]
EXTRA = [("1_1", 5), ("1_1", 6), ("1_9", 7), ("2_9", 8), ("3_3", 9), ("4_5", 10)]
QUICK = [("1_1", 3), ("1_1", 4), ("2_9", 2), ("1_7", 3), ("2_9", 8), ("4_2", 4)]


def instances(quick: bool) -> list[tuple[str, int]]:
    if quick:
        return QUICK
    return [(n, p) for p in (1, 2, 3, 4) for n in NETS] + EXTRA


def onnx_path(net_id: str) -> Path:
    return ACAS / "onnx" / f"ACASXU_run2a_{net_id}_batch_2000.onnx"


def run_mipnet(net, prop, time_limit: float, method: str) -> dict:
    from mipnet import verify

    r = verify.check_property(net, prop, time_limit=time_limit, method=method)
    return {"status": r.status, "time": r.time, "x": None if r.counterexample is None else r.counterexample.tolist(),
            "note": r.note}


def run_omlt(net, prop, time_limit: float) -> dict:
    """Each disjunct as a feasibility MIP in OMLT's big-M ReLU formulation, solved by HiGHS through pyomo."""
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


def run_marabou(path: Path, net, prop, time_limit: float) -> dict:
    """Each disjunct as one Marabou query on the ONNX network (``Marabou.read_onnx``), sharing the time limit.

    Box rows become input bounds, the other rows ``network.addInequality`` (``sum coeffs * vars <= scalar``);
    ``sat`` is accepted only if mipnet's ``Network.forward`` confirms the point lies in the disjunct.
    Marabou's timeout has whole-second granularity, so each disjunct gets ``floor`` of the time left (>= 1 s).
    """
    import contextlib
    import io

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


def bench(tool: str, time_limit: float, quick: bool, out: Path, only: list[tuple[str, int]] | None = None) -> None:
    from mipnet.io import load_any, load_vnnlib

    if not ACAS.is_dir():
        sys.exit(f"ACAS Xu data not found at {ACAS}")
    with open(out, "w", encoding="utf-8") as fh:
        for net_id, p in only or instances(quick):
            net = load_any(onnx_path(net_id))
            prop = load_vnnlib(ACAS / "vnnlib" / f"prop_{p}.vnnlib", 5, 5)
            if tool == "omlt":
                r = run_omlt(net, prop, time_limit)
            elif tool == "marabou":
                r = run_marabou(onnx_path(net_id), net, prop, time_limit)
            elif tool == "mipnet-mip":
                r = run_mipnet(net, prop, time_limit, "mip")
            else:
                r = run_mipnet(net, prop, time_limit, "auto")
            if r["status"] == "violated":     # re-check every counterexample here, whatever the tool
                x = np.asarray(r["x"], dtype=float).reshape(-1)
                r["rechecked"] = bool(prop.contains(x, net.forward(x[None])[0]))
            rec = {"tool": tool, "net": net_id, "prop": p, "time_limit": time_limit, **r}
            rec.pop("x")
            fh.write(json.dumps(rec) + "\n")
            fh.flush()
            print(f"{tool:10s} N{net_id} prop {p:2d}: {r['status']:8s} {r['time']:7.2f} s", flush=True)


def summarize(files: list[Path]) -> str:
    rows = [json.loads(line) for f in files for line in open(f, encoding="utf-8") if line.strip()]
    by_tool: dict[str, dict] = {}
    for r in rows:
        by_tool.setdefault(r["tool"], {})[(r["net"], r["prop"])] = r
    tools = list(by_tool)
    lines = ["| tool | instances | holds | violated | unknown | solved | median time, solved (s) | "
             "median time, all (s) |", "|---|---|---|---|---|---|---|---|"]
    for t in tools:
        rs = list(by_tool[t].values())
        solved = [r for r in rs if r["status"] != "unknown"]
        cnt = {s: sum(r["status"] == s for r in rs) for s in ("holds", "violated", "unknown")}
        med_s = f"{statistics.median(r['time'] for r in solved):.2f}" if solved else "-"
        med_a = f"{statistics.median(r['time'] for r in rs):.2f}"
        lines.append(f"| {t} | {len(rs)} | {cnt['holds']} | {cnt['violated']} | {cnt['unknown']} | {len(solved)} | "
                     f"{med_s} | {med_a} |")
    # side by side, with the time ratio of every other tool to the first on instances both solved
    if len(tools) >= 2:
        a, others = tools[0], tools[1:]
        head = " | ".join(others) + " | " + " | ".join(f"time ratio {b}/{a}" for b in others)
        lines += ["", f"| net | prop | {a} | {head} |", "|---|---|---|" + "---|" * (2 * len(others))]
        ratios: dict[str, list[float]] = {b: [] for b in others}
        conflicts: dict[str, int] = {b: 0 for b in others}
        for key in sorted(by_tool[a], key=lambda k: (k[1], k[0])):
            ra = by_tool[a][key]
            cells, rcells = [], []
            for b in others:
                rb = by_tool[b].get(key)
                if rb is None:
                    cells.append("-")
                    rcells.append("-")
                    continue
                cells.append(f"{rb['status']} {rb['time']:.2f} s")
                ratio = "-"
                if ra["status"] != "unknown" and rb["status"] != "unknown":
                    ratio = f"{rb['time'] / max(ra['time'], 1e-3):.1f}"
                    ratios[b].append(rb["time"] / max(ra["time"], 1e-3))
                    if ra["status"] != rb["status"]:
                        conflicts[b] += 1
                        ratio += " **CONFLICT**"
                rcells.append(ratio)
            lines.append(f"| N{key[0]} | {key[1]} | {ra['status']} {ra['time']:.2f} s | " + " | ".join(cells + rcells)
                         + " |")
        lines.append("")
        for b in others:
            if ratios[b]:
                lines.append(f"Median time ratio {b}/{a} on instances both solved: {statistics.median(ratios[b]):.1f} "
                             f"({len(ratios[b])} instances); conflicting definite answers: {conflicts[b]}.")
            else:
                lines.append(f"No instance solved by both {a} and {b}; conflicting definite answers: 0.")
    bad = [r for r in rows if r["status"] == "violated" and not r.get("rechecked", False)]
    lines.append(f"Counterexamples that failed the forward-pass re-check: {len(bad)}.")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tool", choices=["mipnet", "mipnet-mip", "omlt", "marabou"], default="mipnet")
    ap.add_argument("--time-limit", type=float, default=120.0)
    ap.add_argument("--quick", action="store_true", help="6 instances only")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--instances", help="comma-separated NET:PROP pairs, e.g. 1_1:2,3_3:9 (instead of the set)")
    ap.add_argument("--summarize", nargs="+", type=Path, help="print a markdown table from result files")
    args = ap.parse_args()
    if args.summarize:
        print(summarize(args.summarize))
        return
    only = None
    if args.instances:
        only = [(item.split(":")[0], int(item.split(":")[1])) for item in args.instances.split(",")]
    bench(args.tool, args.time_limit, args.quick, args.out or ROOT / "bench" / f"out_{args.tool}.jsonl", only)


if __name__ == "__main__":
    main()
