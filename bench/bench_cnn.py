"""CNN training benchmark (issue 3): MIP-trained small CNN with filter pruning vs gradient descent vs a dense MIP.

Data: scikit-learn digits (8x8), two classes at a time, N training images, the rest of the two classes held out.
For each (pair, N):

* ``mip-cnn``   conv(3,k=3)-maxpool(2)-flatten-dense(1), hinge loss, continuous first layer, grid(3) output layer
                (``weights="auto"`` for a CNN),
                filter gates (penalty 0.01) and L1 0.001, trained by :func:`mipnet.train.trainer.train_network`
                (HiGHS, one thread, time limit per run) from the projected gradient warm start;
* ``gd-cnn``    the same architecture trained by full-batch Adam on the hinge loss (PyTorch when installed, else
                the numpy trainer used for the warm start), no projection, no pruning;
* ``mip-dense`` flatten-dense(2)-dense(1) by MIP (continuous first layer, sign output layer), same loss and
                penalties (neuron penalty instead of filters).

Run (manual, not a test)::

    PYTHONPATH=src python bench/bench_cnn.py --time-limit 60 --out bench/cnn_results.json
    PYTHONPATH=src python bench/bench_cnn.py --table bench/cnn_results.json   # markdown table (several files ok)

``--pairs 0,1`` / ``--sizes 20`` restrict the grid (two processes can split the pairs on two cores).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from mipnet.arch import parse_architecture
from mipnet.network import Network
from mipnet.solvers import SolveOptions
from mipnet.train.config import TrainConfig
from mipnet.train.losses import Hinge
from mipnet.train.trainer import train_network
from mipnet.train.warmstart_cnn import gradient_train_layers

CNN = "conv(3,k=3)-maxpool(2)-flatten-dense(1)"
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
    return float(np.mean((net.forward(X)[:, 0] > 0).astype(int) == y))


def gd_cnn(X, y, Xt, yt, seed: int = 0) -> dict:
    """The same architecture by gradient descent on the hinge loss (PyTorch if importable, else numpy)."""
    t0 = time.perf_counter()
    template = Network(parse_architecture(CNN), (1, 8, 8))
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        torch.manual_seed(seed)
        nn = torch.nn
        model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(27, 1)).double()
        opt = torch.optim.Adam(model.parameters(), lr=0.02)
        xt, s = torch.tensor(X), torch.tensor(np.where(y == 1, 1.0, -1.0))
        for _ in range(600):
            opt.zero_grad()
            loss = torch.clamp(1 - s * model(xt)[:, 0], min=0).mean()
            loss.backward()
            opt.step()
        params = [(m.weight.detach().numpy().reshape(m.weight.shape[0], -1), m.bias.detach().numpy())
                  for m in model if hasattr(m, "weight")]
        engine = f"torch {torch.__version__}"
    else:
        params = gradient_train_layers(template, X.reshape(len(X), -1), y, Hinge(), TrainConfig(), seed=seed,
                                       epochs=600)
        engine = "numpy"
    for layer, (W, b) in zip(template.affine_layers(), params):
        tail = (layer.in_shape[0], *layer.kernel) if hasattr(layer, "kernel") else (layer.in_shape[0],)
        layer.weight, layer.bias = W.reshape((layer.out_shape[0], *tail)), b
    return {"method": "gd-cnn", "engine": engine, "train_acc": accuracy(template, X, y),
            "test_acc": accuracy(template, Xt, yt), "nonzero_params": template.n_parameters(True),
            "params": template.n_parameters(), "active_filters": int((np.abs(params[0][0]).sum(1) > 0).sum()),
            "time": time.perf_counter() - t0, "gap": None, "status": "-", "certificate": None}


def mip(arch: str, X, y, Xt, yt, time_limit: float, conv: bool) -> dict:
    template = Network(parse_architecture(arch), (1, 8, 8))
    config = TrainConfig(l1=0.001, filter_penalty=0.01 if conv else 0.0, neuron_penalty=0.0 if conv else 0.01)
    net, rep = train_network(template, X, y, Hinge(), config, options=SolveOptions(time_limit=time_limit))
    s = rep.sparsity
    return {"method": "mip-cnn" if conv else "mip-dense", "train_acc": accuracy(net, X, y),
            "test_acc": accuracy(net, Xt, yt), "nonzero_params": net.n_parameters(True), "params": net.n_parameters(),
            "active_filters": s["active_filters"][0] if conv else None, "active_units": s["active_units"],
            "time": rep.total_time, "solve_time": rep.solve_time, "gap": rep.gap, "status": rep.status,
            "objective": rep.objective, "bound": rep.bound, "warm_start_objective": rep.warm_start_objective,
            "certificate": rep.certificate["ok"], "mip_size": rep.mip_size}


def run(pairs, sizes, time_limit: float, out: Path) -> None:
    results = json.loads(out.read_text()) if out.exists() else []
    for pair in pairs:
        for n in sizes:
            X, y, Xt, yt = load_pair(pair, n)
            for res in (gd_cnn(X, y, Xt, yt), mip(CNN, X, y, Xt, yt, time_limit, True),
                        mip(DENSE, X, y, Xt, yt, time_limit, False)):
                res.update(pair=list(pair), n=n, n_test=len(yt), time_limit=time_limit)
                results = [r for r in results if (r["pair"], r["n"], r["method"]) != (list(pair), n, res["method"])]
                results.append(res)
                out.write_text(json.dumps(results, indent=1, default=float))
                print(json.dumps(res, default=float), flush=True)


def table(paths: list[Path]) -> str:
    rows = sorted((r for p in paths for r in json.loads(p.read_text())), key=lambda r: (r["pair"], r["n"], r["method"]))
    lines = ["| pair | N | method | test acc | train acc | active filters | nonzero / params | time (s) | gap | "
             "certificate |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        gap = "-" if r["gap"] is None else f"{100 * r['gap']:.0f}%"
        filt = "-" if r["active_filters"] is None else f"{r['active_filters']}/3"
        cert = "-" if r["certificate"] is None else ("OK" if r["certificate"] else "FAILED")
        lines.append(f"| {r['pair'][0]} vs {r['pair'][1]} | {r['n']} | {r['method']} | {r['test_acc']:.3f} | "
                     f"{r['train_acc']:.3f} | {filt} | {r['nonzero_params']} / {r['params']} | {r['time']:.1f} | "
                     f"{gap} | {cert} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--pairs", nargs="*", default=["0,1", "3,8"])
    ap.add_argument("--sizes", nargs="*", type=int, default=[20, 40, 80])
    ap.add_argument("--out", type=Path, default=Path("bench/cnn_results.json"))
    ap.add_argument("--table", type=Path, nargs="+", default=None, help="print the markdown table of result files")
    args = ap.parse_args(argv)
    if args.table:
        print(table(args.table))
        return 0
    pairs = [tuple(int(c) for c in p.split(",")) for p in args.pairs]
    run(pairs, args.sizes, args.time_limit, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
