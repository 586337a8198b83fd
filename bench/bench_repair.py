"""Provable repair on the real ACAS Xu networks (../shared/external/acasxu): the last layer changed minimally so that
a violated property is proved, with the drawdown on 10,000 inputs of the network's input box.

Pairs: every violated pair of the 42 instances (``PAIRS``): N2_9 with property 8 and N1_9 with property 7 (the
repair literature's cases), N1_7 and N1_9 with properties 3 and 4, N2_1, N2_9, N4_5 and N5_3 with property 2. For
each: ``repair(net, prop, layers=1, norm="l1", decision="argmin")`` with 500 reference inputs drawn
uniformly from the network's input box (the normalised box of the NNet header) and a 600 s limit (the first
verification, of the original network, gets at most 200 s; each later one the time left); then the drawdown
(argmin advisories that change) and the largest output change on 10,000 other inputs of the box. A proved repair
is exported as float32 ONNX, read back, and verified again by mipnet (``method="auto"``, from scratch) and by Marabou
(``bench_verify.run_marabou``, where maraboupy is installed) on those float32 weights.

Usage (run from the repository root)::

    PYTHONPATH=src python bench/bench_repair.py --out bench/out_repair.jsonl
    PYTHONPATH=src python bench/bench_repair.py --only 1_9:3 --time-limit 120
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ACAS = ROOT / ".." / "shared" / "external" / "acasxu"
#: Every violated (network, property) pair of the 42 ACAS Xu instances (``mipnet verify`` answers each one
#: violated with a re-checked counterexample, bench/acas_116): the repair literature's two first.
PAIRS = [("2_9", 8), ("1_9", 7), ("1_9", 3), ("1_9", 4), ("2_9", 2), ("2_1", 2), ("4_5", 2), ("5_3", 2),
         ("1_7", 3), ("1_7", 4)]


def input_box(net_id: str) -> tuple[np.ndarray, np.ndarray]:
    """The network's input box in the normalised space of the ONNX and VNN-LIB files (from the NNet header)."""
    from mipnet.io.nnet import read_nnet

    d = read_nnet(ACAS / "nnet" / f"ACASXU_experimental_v2a_{net_id}.nnet")
    n = len(d["mins"])
    return (d["mins"] - d["means"][:n]) / d["ranges"][:n], (d["maxs"] - d["means"][:n]) / d["ranges"][:n]


def _run_marabou():
    if importlib.util.find_spec("maraboupy") is None:
        return None
    spec = importlib.util.spec_from_file_location("bench_verify", ROOT / "bench" / "bench_verify.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.run_marabou


def run_pair(net_id: str, p: int, time_limit: float, verify_time: float | None, cross_time: float,
             margin: float, options: dict | None = None, n_reference: int = 500, n_pool: int = 0) -> dict:
    """One repair; ``options`` go to :func:`mipnet.repair.repair` (decision_rows, margin_growth...). The reference
    set (seed 1), the drawdown pool (seed 3, ``n_pool`` inputs, 0: none) and the 10,000 measurement inputs (seed 2)
    are three independent uniform samples of the network's input box: the drawdown is measured on inputs the
    repair never saw."""
    from mipnet.io import load_any, load_vnnlib
    from mipnet.io.onnx_io import to_onnx
    from mipnet.repair import behaviour_change, repair
    from mipnet.verify import check_property

    net = load_any(ACAS / "onnx" / f"ACASXU_run2a_{net_id}_batch_2000.onnx")
    prop = load_vnnlib(ACAS / "vnnlib" / f"prop_{p}.vnnlib", 5, 5)
    lo, hi = input_box(net_id)
    options = dict(options or {})
    layers = options.pop("layers", 1)
    R = np.random.default_rng(1).uniform(lo, hi, (n_reference, 5))
    T = np.random.default_rng(2).uniform(lo, hi, (10_000, 5))
    if n_pool:
        options["pool"] = np.random.default_rng(3).uniform(lo, hi, (n_pool, 5))
    t0 = time.perf_counter()
    res = repair(net, prop, layers=layers, norm="l1", reference=R, decision="argmin", time_limit=time_limit,
                 verify_time=verify_time, margin=margin, **options)
    wall = time.perf_counter() - t0
    row = {"net": net_id, "prop": p, "margin": margin, "n_reference": n_reference, "n_pool": n_pool,
           "options": {**{k: v for k, v in options.items() if k != "pool"}, "layers": layers},
           "final_reference": res.n_reference, "status": str(res.status), "time": wall,
           "verifier": None if res.verification is None else str(res.verification.status),
           "verifier_time": None if res.verification is None else res.verification.time,
           "note": res.note, "rounds": len(res.rounds) - 1, "points": res.counterexamples,
           "change_l1": res.change.get("l1"), "change_linf": res.change.get("linf"),
           "changed": res.change.get("changed"), "reference_drawdown": res.behaviour.get("drawdown"),
           "objective": res.objective, "lower_bound": res.lower_bound,
           "round_log": [{k: v for k, v in e.items() if k != "mip_size"} for e in res.rounds]}
    if res.network is not None:
        test = behaviour_change(net, res.network, T, "argmin")
        row.update(drawdown=test["drawdown"], max_output_change=test["max_output_change"])
    if res.proved:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "repaired.onnx"
            to_onnx(res.network, path, dtype="float32")
            net32 = load_any(path)
            again = check_property(net32, prop, time_limit=cross_time)
            row.update(float32_mipnet=str(again.status), float32_mipnet_time=again.time)
            marabou = _run_marabou()
            if marabou is not None:
                m = marabou(path, net32, prop, cross_time)
                row.update(float32_marabou=m["status"], float32_marabou_time=m["time"],
                           float32_marabou_note=m["note"])
    return row


def _fmt(v: object, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def table(rows: list[dict]) -> str:
    lines = ["| net | prop | margin | options | repair | verifier (time) | rounds | points | L1 change | "
             "L-inf change | entries changed | drawdown (10,000) | max output change | time | "
             "float32: mipnet / Marabou |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ver = "-" if r["verifier"] is None else f"{r['verifier']} ({r['verifier_time']:.1f} s)"
        cross = f"{r.get('float32_mipnet', '-')} / {r.get('float32_marabou', '-')}"
        dd = "-" if r.get("drawdown") is None else f"{100 * r['drawdown']:.2f}%"
        o = r.get("options", {})
        opts = f"{o.get('decision_rows', 'keep')}, w {o.get('decision_weight', 10):g}, growth " \
               f"{o.get('margin_growth', 1):g}, ref {r.get('n_reference', 500)}, pool {r.get('n_pool', 0)}" + \
            (f", threads {o['threads']}" if o.get("threads", 1) != 1 else "") + \
            (f", layers {o['layers']}" if o.get("layers", 1) != 1 else "")
        lines.append(f"| N{r['net']} | {r['prop']} | {r['margin']:g} | {opts} | {r['status']} | {ver} | "
                     f"{r['rounds']} | {r['points']} | "
                     f"{_fmt(r['change_l1'], '.4g')} | {_fmt(r['change_linf'], '.4g')} | "
                     f"{_fmt(r['changed'], 'd')} | {dd} | "
                     f"{_fmt(r.get('max_output_change'), '.3g')} | {r['time']:.1f} s | {cross} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out_repair.jsonl")
    ap.add_argument("--only", action="append", metavar="NET:PROP", help="e.g. 2_9:8 (repeatable)")
    ap.add_argument("--time-limit", type=float, default=600.0)
    ap.add_argument("--verify-time", type=float, default=None, help="seconds per verification (default: the time "
                    "left; the first gets at most a third of the time limit)")
    ap.add_argument("--margin", type=float, default=1e-3, help="repair margin (mipnet.repair.repair)")
    ap.add_argument("--margin-growth", type=float, default=1.0, help="proof-guided margin factor (1: off)")
    ap.add_argument("--decision-rows", default="keep", choices=["keep", "count", "none"])
    ap.add_argument("--decision-weight", type=float, default=10.0, help="cost per unit of decision slack (keep)")
    ap.add_argument("--reference", type=int, default=500, help="reference inputs (seed 1)")
    ap.add_argument("--pool", type=int, default=0, help="drawdown pool inputs (seed 3; 0: no pool rounds)")
    ap.add_argument("--pool-rounds", type=int, default=3)
    ap.add_argument("--layers", type=int, default=1, help="repair(layers=...): affine layers that change")
    ap.add_argument("--threads", type=int, default=1, help="repair(threads=...): verifier worker processes")
    ap.add_argument("--cross-time", type=float, default=120.0, help="seconds for each float32 re-verification")
    ap.add_argument("--table", type=Path, default=None, help="print the table of an existing JSONL file")
    args = ap.parse_args()
    if args.table is not None:
        print(table([json.loads(ln) for ln in args.table.read_text().splitlines() if ln.strip()]))
        return
    if not ACAS.is_dir():
        sys.exit(f"ACAS Xu data not found at {ACAS}")
    pairs = [(s.split(":")[0], int(s.split(":")[1])) for s in args.only] if args.only else PAIRS
    rows = []
    with open(args.out, "w", encoding="utf-8") as fh:
        for net_id, p in pairs:
            options = {"decision_rows": args.decision_rows, "decision_weight": args.decision_weight,
                       "margin_growth": args.margin_growth, "pool_rounds": args.pool_rounds, "threads": args.threads,
                       "layers": args.layers}
            row = run_pair(net_id, p, args.time_limit, args.verify_time, args.cross_time, args.margin, options,
                           args.reference, args.pool)
            rows.append(row)
            fh.write(json.dumps(row, default=float) + "\n")
            fh.flush()
            print(f"N{net_id} prop {p}: {row['status']} in {row['time']:.1f} s", flush=True)
    print(table(rows))


if __name__ == "__main__":
    main()
