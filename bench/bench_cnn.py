"""CNN training benchmark (issue 3): MIP-trained small CNN with filter pruning vs gradient descent vs a dense MIP.

Data: scikit-learn digits (8x8), two classes at a time, N training images, the rest of the two classes held out.
For each (pair, N):

* ``mip-cnn``   each architecture of ``--archs`` (default: the issue-14 pair ``conv(2,k=3,s=2)-maxpool(2)-flatten-
                dense(1)`` and ``conv(3,k=3)-maxpool(2)-flatten-dense(2)``; ``--archs conv(3,k=3)-maxpool(2)-flatten-
                dense(1)`` is the earlier benchmark), hinge loss (multiclass hinge for two outputs), ``weights="auto"``,
                filter gates (penalty 0.01) and L1 0.001, trained by :func:`mipnet.train.trainer.train_network`
                (HiGHS, one thread, time limit per run) from the projected gradient warm start;
* ``naive-cnn`` the same MIP built by ``TrainConfig.naive()`` (interval big-Ms, no warm start, no symmetry, no
                primal search), same time limit: what the formulation buys;
* ``gd-cnn``    the same architecture trained by full-batch Adam on the hinge loss (PyTorch when installed:
                ``to_torch`` / ``from_torch``; else the numpy trainer used for the warm start), no projection, no
                pruning;
* ``mip-dense`` flatten-dense(2)-dense(1) by MIP (continuous first layer, sign output layer), same loss and
                penalties (neuron penalty instead of filters).

Run (manual, not a test)::

    PYTHONPATH=src python bench/bench_cnn.py --time-limit 60 --out bench/cnn_results.json
    PYTHONPATH=src python bench/bench_cnn.py --table bench/cnn_results.json   # markdown table (several files ok)

``--pairs 0,1`` / ``--sizes 20`` restrict the grid (two processes can split the pairs on two cores).
``--root-bounds --out F`` writes only the safe root LP bound of each formulation (decomposition by head patterns,
full MIP, naive MIP) for the grid: seconds, no MIP.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from mipnet.arch import parse_architecture
from mipnet.bounds.lp import LPSession
from mipnet.decision import class_indices
from mipnet.io import from_torch, to_torch
from mipnet.network import Network
from mipnet.solvers import SolveOptions
from mipnet.train.config import TrainConfig
from mipnet.train.domains import resolve_domains
from mipnet.train.formulation import TrainingFormulation, is_prunable
from mipnet.train.losses import Hinge
from mipnet.train.sign_patterns.conv_heads import HeadPatternFormulation, head_patterns
from mipnet.train.trainer import train_network
from mipnet.train.warmstart_cnn import gradient_train_layers

ARCHS = ("conv(2,k=3,s=2)-maxpool(2)-flatten-dense(1)", "conv(3,k=3)-maxpool(2)-flatten-dense(2)")
DENSE = "flatten-dense(2)-dense(1)"


def load_pair(pair: tuple[int, int], n_train: int, seed: int = 0):
    from sklearn.datasets import load_digits

    d = load_digits()
    keep = np.flatnonzero(np.isin(d.target, pair))
    rng = np.random.default_rng(seed)
    rng.shuffle(keep)
    X = d.images[keep][:, None] / 16.0
    y = (d.target[keep] == pair[1]).astype(int)
    # balanced training set: n_train/2 of each class
    idx0, idx1 = np.flatnonzero(y == 0), np.flatnonzero(y == 1)
    tr = np.concatenate([idx0[: n_train // 2], idx1[: n_train - n_train // 2]])
    te = np.setdiff1d(np.arange(len(y)), tr)
    return X[tr], y[tr], X[te], y[te]


def accuracy(net: Network, X: np.ndarray, y: np.ndarray) -> float:
    """Accuracy with the classifiers' own rule (one output: class 1 when positive; K outputs: the argmax)."""
    return float(np.mean(class_indices(net.forward(X)) == y))


def gd_cnn(arch: str, X, y, Xt, yt, seed: int = 0) -> dict:
    """The same architecture by gradient descent on the hinge loss (PyTorch if importable, else numpy)."""
    t0 = time.perf_counter()
    template = Network(parse_architecture(arch), (1, 8, 8))
    rng = np.random.default_rng(seed)
    for layer in template.affine_layers():
        tail = (layer.in_shape[0], *layer.kernel) if hasattr(layer, "kernel") else (int(np.prod(layer.in_shape)),)
        layer.weight = rng.normal(size=(layer.out_shape[0], *tail)) / np.sqrt(np.prod(tail))
        layer.bias = np.zeros(layer.out_shape[0])
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        torch.manual_seed(seed)
        model = to_torch(template)
        opt = torch.optim.Adam(model.parameters(), lr=0.02)
        xt = torch.tensor(X)
        two = template.n_outputs > 1
        target = torch.tensor(y) if two else torch.tensor(np.where(y == 1, 1.0, -1.0))
        multi = torch.nn.MultiMarginLoss()
        for _ in range(600):
            opt.zero_grad()
            out = model(xt)
            loss = multi(out, target) if two else torch.clamp(1 - target * out[:, 0], min=0).mean()
            loss.backward()
            opt.step()
        template = from_torch(model, (1, 8, 8))
        engine = f"torch {torch.__version__}"
    else:
        params = gradient_train_layers(template, X.reshape(len(X), -1), y, Hinge(), TrainConfig(), seed=seed,
                                       epochs=600)
        for layer, (W, b) in zip(template.affine_layers(), params):
            layer.weight, layer.bias = W.reshape(layer.weight.shape), b
        engine = "numpy"
    first = template.affine_layers()[0]
    return {"method": "gd-cnn", "arch": arch, "engine": engine, "train_acc": accuracy(template, X, y),
            "test_acc": accuracy(template, Xt, yt), "nonzero_params": template.n_parameters(True),
            "params": template.n_parameters(),
            "active_filters": int((np.abs(first.weight.reshape(first.weight.shape[0], -1)).sum(1) > 0).sum()),
            "time": time.perf_counter() - t0, "gap": None, "status": "-", "certificate": None}


def mip(arch: str, X, y, Xt, yt, time_limit: float, conv: bool, naive: bool = False,
        overrides: dict | None = None, label: str | None = None) -> dict:
    template = Network(parse_architecture(arch), (1, 8, 8))
    terms = {"l1": 0.001, "filter_penalty": 0.01 if conv else 0.0, "neuron_penalty": 0.0 if conv else 0.01,
             **(overrides or {})}
    config = TrainConfig.naive(**terms) if naive else TrainConfig(**terms)
    net, rep = train_network(template, X, y, Hinge(), config, options=SolveOptions(time_limit=time_limit))
    s = rep.sparsity
    method = label or (("naive-cnn" if naive else "mip-cnn") if conv else "mip-dense")
    return {"method": method, "arch": arch, "train_acc": accuracy(net, X, y),
            "test_acc": accuracy(net, Xt, yt), "nonzero_params": net.n_parameters(True), "params": net.n_parameters(),
            "active_filters": s["active_filters"][0] if conv else None, "active_units": s["active_units"],
            "time": rep.total_time, "solve_time": rep.solve_time, "gap": rep.gap, "status": rep.status,
            "objective": rep.objective, "bound": rep.bound, "warm_start_objective": rep.warm_start_objective,
            "certificate": rep.certificate["ok"], "mip_size": rep.mip_size}


def root_bounds(pairs, sizes, archs) -> list[dict]:
    """The safe LP bound at the root of each formulation: the decomposition by head patterns (the smallest over the
    patterns, where it applies), the full MIP of the default configuration without and with its warm start's
    L1-budget big-Ms, and the naive model; on the benchmark's data and objective."""
    rows = []
    for pair in pairs:
        for n in sizes:
            X, y, _, _ = load_pair(pair, n)
            for arch in archs:
                template = Network(parse_architecture(arch), (1, 8, 8))
                terms = {"l1": 0.001, "filter_penalty": 0.01}
                row = {"pair": list(pair), "n": n, "arch": arch}
                for name, config in (("default", TrainConfig(**terms)), ("naive", TrainConfig.naive(**terms))):
                    domains = resolve_domains(config.weights, 2, template.n_outputs, True)
                    form = TrainingFormulation(template, X, y, Hinge(), config, domains)
                    row[f"{name}_full_root"] = LPSession(form.m, relax=True, objective=True).solve().bound
                config = TrainConfig(**terms)
                domains = resolve_domains(config.weights, 2, template.n_outputs, True)
                heads = head_patterns(template, Hinge(), domains, config,
                                      is_prunable(template, config, template.layers[-1]))
                if heads is not None:
                    row["head_patterns"] = len(heads.patterns)
                    row["head_pattern_root"] = min(
                        LPSession(HeadPatternFormulation(template, X, y, Hinge(), config, domains, heads.head(k),
                                                         heads.off_filters(k)).m,
                                  relax=True, objective=True).solve().bound for k in range(len(heads.patterns)))
                rows.append(row)
                print(json.dumps(row), flush=True)
    return rows


def run(pairs, sizes, archs, time_limit: float, out: Path, naive: bool = True, cnn_only: bool = False,
        pair_rows: bool = False) -> None:
    """Every method on every pair, size and architecture; ``cnn_only`` skips gradient descent and the dense MIP,
    ``pair_rows`` adds the CNN MIP with the output pair rows (``TrainConfig(output_pair_rows=8)``) after the
    default."""
    results = json.loads(out.read_text()) if out.exists() else []

    def key(r: dict) -> tuple:
        return r["pair"], r["n"], r["method"], r.get("arch", "")

    for pair in pairs:
        for n in sizes:
            X, y, Xt, yt = load_pair(pair, n)
            data = (X, y, Xt, yt)
            jobs = [] if cnn_only else [(gd_cnn, (a, *data), {}) for a in archs]
            for a in archs:
                jobs.append((mip, (a, *data, time_limit, True), {}))
                if pair_rows:
                    jobs.append((mip, (a, *data, time_limit, True),
                                 {"overrides": {"output_pair_rows": 8}, "label": "mip-cnn-pair-rows"}))
            if naive:
                jobs += [(mip, (a, *data, time_limit, True), {"naive": True}) for a in archs]
            if not cnn_only:
                jobs.append((mip, (DENSE, *data, time_limit, False), {}))
            for fn, args, kwargs in jobs:
                res = fn(*args, **kwargs)
                res.update(pair=list(pair), n=n, n_test=len(yt), time_limit=time_limit)
                results = [r for r in results if key(r) != key(res)]
                results.append(res)
                out.write_text(json.dumps(results, indent=1, default=float))
                print(json.dumps(res, default=float), flush=True)


def table(paths: list[Path]) -> str:
    rows = sorted((r for p in paths for r in json.loads(p.read_text())),
                  key=lambda r: (r["pair"], r["n"], r.get("arch", ""), r["method"]))
    lines = ["| pair | N | architecture | method | status | objective | warm start | bound | gap | test acc | "
             "train acc | active filters | nonzero / params | time (s) | certificate |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]

    def num(v: object) -> str:
        return "-" if v is None else f"{float(v):.5g}"

    for r in rows:
        gap = "-" if r["gap"] is None else f"{100 * r['gap']:.0f}%"
        filt = "-" if r["active_filters"] is None else str(r["active_filters"])
        cert = "-" if r["certificate"] is None else ("OK" if r["certificate"] else "FAILED")
        lines.append(f"| {r['pair'][0]} vs {r['pair'][1]} | {r['n']} | {r.get('arch', '-')} | {r['method']} | "
                     f"{r['status']} | {num(r.get('objective'))} | {num(r.get('warm_start_objective'))} | "
                     f"{num(r.get('bound'))} | {gap} | {r['test_acc']:.3f} | {r['train_acc']:.3f} | {filt} | "
                     f"{r['nonzero_params']} / {r['params']} | {r['time']:.1f} | {cert} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--pairs", nargs="*", default=["0,1", "3,8"])
    ap.add_argument("--sizes", nargs="*", type=int, default=[20, 40, 80])
    ap.add_argument("--archs", nargs="*", default=list(ARCHS), help="CNN architectures (mipnet architecture text)")
    ap.add_argument("--no-naive", action="store_true", help="skip the naive model beside each CNN MIP")
    ap.add_argument("--out", type=Path, default=Path("bench/cnn_results.json"))
    ap.add_argument("--table", type=Path, nargs="+", default=None, help="print the markdown table of result files")
    ap.add_argument("--root-bounds", action="store_true", help="only the root LP bounds of each formulation")
    ap.add_argument("--cnn-only", action="store_true", help="skip gradient descent and the dense MIP")
    ap.add_argument("--pair-rows", action="store_true",
                    help="also the CNN MIP with the output pair rows (TrainConfig(output_pair_rows=8))")
    args = ap.parse_args(argv)
    pairs = [tuple(int(c) for c in p.split(",")) for p in args.pairs]
    if args.root_bounds:
        args.out.write_text(json.dumps(root_bounds(pairs, args.sizes, args.archs), indent=1))
        return 0
    if args.table:
        print(table(args.table))
        return 0
    run(pairs, args.sizes, args.archs, args.time_limit, args.out, naive=not args.no_naive, cnn_only=args.cnn_only,
        pair_rows=args.pair_rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
