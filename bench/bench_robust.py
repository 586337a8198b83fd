"""L-infinity robustness benchmark on scikit-learn's digits (issue 12, figures 2 and 3): mipnet, Marabou, NeuralSAT.

``generate`` trains three classifiers on the 8x8 digits (64 inputs scaled to [0, 1], 10 classes; PyTorch, seeded,
Adam for a fixed number of epochs, one thread), saves them as ONNX with mipnet's exporter (float32) and writes
robustness properties as VNN-LIB files in the VNN-COMP convention:

* ``dense100``  64-100-100-10 ReLU;
* ``dense256``  64-256-256-10 ReLU;
* ``cnn``       conv(4, k=3)-ReLU-maxpool(2)-flatten-dense(10) on the 1x8x8 images.

Each network is read back by mipnet (``load_onnx``) and its forward pass compared with PyTorch's and onnxruntime's
on the test set (the run stops if they differ by more than ``1e-4``); the test accuracy is that of the network read
back. For every network, ``--images`` test images it classifies correctly (a seeded choice) and every ``--eps`` give
one property: the input box ``[x - eps, x + eps]`` clipped to ``[0, 1]``, the unsafe region "some other class's
output >= the true class's output" (one disjunct per other class). ``instances.csv`` lists them in the VNN-COMP
format (``onnx,vnnlib,timeout``, paths relative to the directory); ``benchmark.json`` holds the accuracies, the
forward-pass differences and each property's image, label and eps.

``run`` decides instances with one tool or several, interleaved instance by instance (the adapters of
``bench/peers.py``, one thread each): ``mipnet`` (``mipnet.verify.check_property``, method auto), ``mipnet-mip``
(``method="mip"``), ``mipnet-2threads`` (``threads=2``: the search on two worker processes), ``marabou``
(maraboupy 2.0), ``neuralsat`` (``../shared/peers/neuralsat``), or the same
question through the Python robustness API (``api-mip``, ``api-bab``: ``mipnet.verify.robustness`` on the image,
label and eps, with ``method="mip"`` or ``"bab"``; what ``mipnet verify --robust-at`` runs). Every ``violated``
answer is re-checked with mipnet's forward pass.
mipnet runs with ``threads=1``, which also holds numpy's BLAS to one thread (``mipnet.threads``, for every query, so
``bench_verify.py`` gets it too): on this 2-core machine under load, OpenBLAS's default two threads made mipnet's
small matrix products about 45 times slower (0.24 ms against 10.9 ms for one forward pass of 65 inputs through
dense100 at load 7).
``summarize`` prints the tables of ``bench_verify.py --summarize`` (resolved, holds, violated, unknown, median times,
conflicting definite answers).

Usage (from the repository root)::

    PYTHONPATH=src python bench/bench_robust.py generate --dir bench/robust
    PYTHONPATH=src python bench/bench_robust.py run --tool mipnet --time-limit 60 --out bench/out_robust_mipnet.jsonl
    PYTHONPATH=src python bench/bench_robust.py run --tool marabou --per-net 4 --out /tmp/slice_marabou.jsonl
    PYTHONPATH=src python bench/bench_robust.py run --tool mipnet,marabou,neuralsat --time-limit 60 \
        --out bench/robust_60      # several tools in one run, interleaved instance by instance
    PYTHONPATH=src python bench/bench_robust.py summarize bench/out_robust_mipnet.jsonl ...

``--per-net N`` runs N instances per network, evenly spaced in ``instances.csv`` (so every eps is represented);
``--nets`` and ``--props`` (VNN-LIB file stems) select instances by name; ``--resume`` skips instances already in
``--out``.
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from peers import confirm, result_files, run_interleaved, run_marabou, run_mipnet, run_neuralsat, summarize

from mipnet import verify
from mipnet.io import from_torch, load_onnx, load_vnnlib, to_onnx
from mipnet.network import Network

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DIR = ROOT / "bench" / "robust"
EPS = (0.01, 0.03, 0.05, 0.08, 0.1)
FORWARD_TOL = 1e-4
TOOLS = ("mipnet", "mipnet-2threads", "mipnet-mip", "marabou", "neuralsat", "api-mip", "api-bab")


@dataclass(frozen=True)
class Arch:
    """A network of the benchmark: its name and how to build it in PyTorch."""

    name: str
    kind: str              # "dense" or "cnn"
    hidden: tuple = ()     # dense: hidden widths
    channels: int = 0      # cnn: convolution filters

    def build(self):
        import torch.nn as nn

        if self.kind == "dense":
            mods, width = [], 64
            for h in self.hidden:
                mods += [nn.Linear(width, h), nn.ReLU()]
                width = h
            return nn.Sequential(*mods, nn.Linear(width, 10))
        return nn.Sequential(nn.Conv2d(1, self.channels, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                             nn.Linear(self.channels * 3 * 3, 10))

    @property
    def input_shape(self) -> tuple:
        return (64,) if self.kind == "dense" else (1, 8, 8)


ARCHS = (Arch("dense100", "dense", hidden=(100, 100)), Arch("dense256", "dense", hidden=(256, 256)),
         Arch("cnn", "cnn", channels=4))


# ------------------------------------------------------------------------------------------------ data, training
def digits(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's digits (bundled, no download) scaled to [0, 1] (pixels are k/16, exact in float32), split
    70/30 stratified with ``seed``: (X_train, y_train, X_test, y_test), X of shape (N, 64)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    X = d.data / 16.0
    Xtr, Xte, ytr, yte = train_test_split(X, d.target, test_size=0.3, stratify=d.target, random_state=seed)
    return Xtr, ytr, Xte, yte


def train(arch: Arch, X: np.ndarray, y: np.ndarray, seed: int, epochs: int, lr: float = 2e-3, batch: int = 64):
    """Adam on the cross-entropy, mini-batches, a fixed number of epochs (deterministic on CPU, one thread)."""
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(1)
    model = arch.build()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    Xt = torch.tensor(X, dtype=torch.float32).reshape(-1, *arch.input_shape)
    yt = torch.tensor(y, dtype=torch.long)
    gen = torch.Generator().manual_seed(seed)
    loss_fn = torch.nn.CrossEntropyLoss()
    for _ in range(epochs):
        perm = torch.randperm(len(Xt), generator=gen)
        for i in range(0, len(Xt), batch):
            idx = perm[i:i + batch]
            opt.zero_grad()
            loss_fn(model(Xt[idx]), yt[idx]).backward()
            opt.step()
    return model.eval()


def export(arch: Arch, model, path: Path, X_test: np.ndarray) -> tuple[Network, dict]:
    """Save ``model`` as float32 ONNX with mipnet's exporter; read it back; compare the forward passes of the
    network read back, PyTorch and onnxruntime on ``X_test`` (raises when they differ by more than
    :data:`FORWARD_TOL`)."""
    import onnxruntime as ort
    import torch

    to_onnx(from_torch(model, arch.input_shape), path, dtype="float32")
    net = load_onnx(path)
    Xs = X_test.reshape(-1, *arch.input_shape)
    ours = net.forward(Xs)
    with torch.no_grad():
        theirs = model(torch.tensor(Xs, dtype=torch.float32)).double().numpy()
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rt = sess.run(None, {sess.get_inputs()[0].name: Xs.astype(np.float32)})[0].astype(float)
    diff = {"torch": float(np.max(np.abs(ours - theirs))), "onnxruntime": float(np.max(np.abs(ours - rt)))}
    if max(diff.values()) > FORWARD_TOL:
        raise RuntimeError(f"{path}: mipnet's forward pass differs from PyTorch / onnxruntime by {diff}")
    return net, diff


# ------------------------------------------------------------------------------------------------ properties
def robustness_vnnlib(x: np.ndarray, label: int, eps: float, n_outputs: int, comment: str = "") -> str:
    """VNN-LIB text of L-infinity robustness at ``x`` (VNN-COMP convention): the box ``[x - eps, x + eps]`` clipped
    to [0, 1]; unsafe: ``Y_j >= Y_label`` for some ``j != label`` (one disjunct per other class)."""
    lo, hi = np.clip(x - eps, 0.0, 1.0), np.clip(x + eps, 0.0, 1.0)
    lines = [f"; {comment}"] if comment else []
    lines += [f"(declare-const X_{i} Real)" for i in range(len(x))]
    lines += [f"(declare-const Y_{j} Real)" for j in range(n_outputs)]
    lines.append("; input box")
    for i in range(len(x)):
        lines.append(f"(assert (<= X_{i} {float(hi[i])!r}))")
        lines.append(f"(assert (>= X_{i} {float(lo[i])!r}))")
    lines.append(f"; unsafe: another class scores at least as high as class {label}")
    lines.append("(assert (or")
    lines += [f"    (and (>= Y_{j} Y_{label}))" for j in range(n_outputs) if j != label]
    lines.append("))")
    return "\n".join(lines) + "\n"


def generate(out_dir: Path, eps: tuple[float, ...], n_images: int, seed: int, epochs: int, timeout: float) -> None:
    (out_dir / "onnx").mkdir(parents=True, exist_ok=True)
    (out_dir / "vnnlib").mkdir(parents=True, exist_ok=True)
    Xtr, ytr, Xte, yte = digits(seed)
    meta: dict = {"seed": seed, "epochs": epochs, "eps": list(eps), "images_per_net": n_images,
                  "train_size": len(ytr), "test_size": len(yte), "python": platform.python_version(),
                  "networks": {}, "properties": {}}
    rows = []
    for k, arch in enumerate(ARCHS):
        t0 = time.perf_counter()
        model = train(arch, Xtr, ytr, seed, epochs)
        train_s = time.perf_counter() - t0
        path = out_dir / "onnx" / f"{arch.name}.onnx"
        net, diff = export(arch, model, path, Xte)
        pred = np.argmax(net.forward(Xte.reshape(-1, *arch.input_shape)), axis=1)
        acc = float(np.mean(pred == yte))
        meta["networks"][arch.name] = {"test_accuracy": acc, "train_seconds": round(train_s, 2),
                                       "max_forward_difference": diff, "input_shape": list(arch.input_shape),
                                       "layers": [layer.kind for layer in net.layers]}
        print(f"{arch.name:9s} test accuracy {acc:.4f}  ({train_s:.1f} s of Adam; forward differences {diff})",
              flush=True)
        right = np.flatnonzero(pred == yte)
        chosen = np.random.default_rng([seed, k]).choice(right, size=min(n_images, len(right)), replace=False)
        for idx in sorted(int(i) for i in chosen):
            for e in eps:
                name = f"{arch.name}_img{idx}_eps{e:g}"
                text = robustness_vnnlib(Xte[idx], int(yte[idx]), e, 10,
                                         f"digits test image {idx}, label {int(yte[idx])}, L-inf eps {e:g}, "
                                         f"network {arch.name}")
                (out_dir / "vnnlib" / f"{name}.vnnlib").write_text(text, encoding="utf-8")
                rows.append((f"onnx/{arch.name}.onnx", f"vnnlib/{name}.vnnlib", f"{timeout:g}"))
                meta["properties"][name] = {"net": arch.name, "image": idx, "label": int(yte[idx]), "eps": e}
    with open(out_dir / "instances.csv", "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)
    (out_dir / "benchmark.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    print(f"{len(rows)} instances in {out_dir / 'instances.csv'}")


# ------------------------------------------------------------------------------------------------ runner
def select(rows: list[list[str]], per_net: int | None, nets: set[str] | None, props: set[str] | None) -> list:
    """Instances by network (``nets``) and name (``props``), then ``per_net`` evenly spaced ones per network."""
    by_net: dict[str, list] = {}
    for row in rows:
        net, prop = Path(row[0]).stem, Path(row[1]).stem
        if (nets is None or net in nets) and (props is None or prop in props):
            by_net.setdefault(net, []).append(row)
    chosen = []
    for items in by_net.values():
        if per_net is not None and per_net < len(items):
            items = [items[int(i)] for i in np.unique(np.linspace(0, len(items) - 1, per_net).round())]
        chosen += items
    return chosen


def run(tools: list[str], bench_dir: Path, outs: list[Path], time_limit: float | None, per_net: int | None,
        nets: set[str] | None, props: set[str] | None, resume: bool) -> None:
    """The selected instances by every tool, interleaved instance by instance (:func:`peers.run_interleaved`)."""
    with open(bench_dir / "instances.csv", encoding="utf-8") as fh:
        rows = [r for r in csv.reader(fh) if r]
    meta = json.loads((bench_dir / "benchmark.json").read_text(encoding="utf-8"))
    cache: dict[str, Network] = {}

    def run_one(tool: str, row: list[str]) -> dict:
        onnx_rel, vnn_rel, timeout = row
        onnx, vnn = bench_dir / onnx_rel, bench_dir / vnn_rel
        name, prop_name = onnx.stem, vnn.stem
        limit = float(timeout) if time_limit is None else time_limit
        if name not in cache:
            cache[name] = load_onnx(onnx)
        net = cache[name]
        prop = load_vnnlib(vnn, net.n_inputs, net.n_outputs)
        if tool == "marabou":
            r = run_marabou(onnx, net, prop, limit)
        elif tool == "neuralsat":
            r = run_neuralsat(onnx, vnn, net, prop, limit)
        elif tool.startswith("api-"):
            r = run_robustness_api(net, meta, prop_name, limit, tool.removeprefix("api-"))
        else:
            r = run_mipnet(net, prop, limit, "mip" if tool == "mipnet-mip" else "auto",
                           threads=2 if tool == "mipnet-2threads" else 1)
        if r["status"] == "violated":     # every counterexample, whatever the tool
            r["rechecked"] = confirm(net, prop, r["x"]) is not None
        r.pop("x")
        return {"tool": tool, **meta["properties"].get(prop_name, {}), "time_limit": limit, **r,
                "net": name, "prop": prop_name}

    def describe(r: dict) -> str:
        extra = f"  sub-problems {r['subproblems']}, MIP leaves {r['mip_leaves']}" if "subproblems" in r else ""
        return f"{r['tool']:10s} {r['prop']:26s} {r['status']:8s} {r['time']:7.2f} s{extra}  {r.get('note', '')}"

    keys = ((lambda row: (Path(row[0]).stem, Path(row[1]).stem)), (lambda r: (r["net"], r["prop"])))
    run_interleaved(select(rows, per_net, nets, props), tools, outs, run_one, describe, keys if resume else None)


@functools.cache
def _test_images(seed: int) -> np.ndarray:
    return digits(seed)[2]


def run_robustness_api(net: Network, meta: dict, prop_name: str, time_limit: float, method: str) -> dict:
    """The instance asked through the Python API, ``mipnet.verify.robustness`` (what ``mipnet verify --robust-at``
    runs), with ``method`` ("mip": exact MIP per class; "bab": the branch and bound) on the image, label and eps of
    the property (the ball clipped to the domain [0, 1], the VNN-LIB file's box)."""
    info = meta["properties"][prop_name]
    x = _test_images(meta["seed"])[info["image"]].reshape(net.input_shape)
    t0 = time.perf_counter()
    res = verify.robustness(net, x, info["eps"], label=info["label"], domain=(0.0, 1.0), time_limit=time_limit,
                            method=method, threads=1)
    return {"status": str(res.status), "time": time.perf_counter() - t0,
            "x": None if res.counterexample is None else res.counterexample.reshape(-1).tolist(), "note": res.note}


def _names(value: str | None) -> set[str] | None:
    return None if value is None else set(value.split(","))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("generate", help="train the networks, write ONNX, VNN-LIB and instances.csv")
    g.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    g.add_argument("--eps", default=",".join(f"{e:g}" for e in EPS), help="comma-separated radii")
    g.add_argument("--images", type=int, default=7, help="correctly classified test images per network")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--epochs", type=int, default=30)
    g.add_argument("--timeout", type=float, default=60.0, help="the timeout column of instances.csv")
    r = sub.add_parser("run", help="decide instances with one tool")
    r.add_argument("--tool", default="mipnet",
                   help=f"a tool, or several separated by commas (run interleaved, instance by instance): "
                        f"{', '.join(TOOLS)}")
    r.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    r.add_argument("--out", type=Path, default=None,
                   help="the result file (one tool), or with several tools a folder for out_robust_<tool>.jsonl")
    r.add_argument("--time-limit", type=float, default=None, help="seconds per instance (default: instances.csv)")
    r.add_argument("--per-net", type=int, default=None)
    r.add_argument("--nets", default=None, help="comma-separated network names")
    r.add_argument("--props", default=None, help="comma-separated VNN-LIB file stems")
    r.add_argument("--resume", action="store_true")
    s = sub.add_parser("summarize", help="markdown tables from result files (the first tool is the reference)")
    s.add_argument("files", nargs="+", type=Path)
    args = ap.parse_args()
    if args.cmd == "generate":
        generate(args.dir, tuple(float(e) for e in args.eps.split(",")), args.images, args.seed, args.epochs,
                 args.timeout)
    elif args.cmd == "run":
        if not (args.dir / "instances.csv").exists():
            sys.exit(f"no instances.csv in {args.dir}: run 'generate' first")
        tools = [t.strip() for t in args.tool.split(",") if t.strip()]
        if not tools or any(t not in TOOLS for t in tools):
            ap.error(f"unknown tool in {args.tool!r}; choose from {', '.join(TOOLS)}")
        run(tools, args.dir, result_files(tools, args.out, ROOT / "bench", "out_robust_"), args.time_limit,
            args.per_net, _names(args.nets), _names(args.props), args.resume)
    else:
        print(summarize(args.files))


if __name__ == "__main__":
    main()
