"""VNN-LIB reader at scale (issue 13): parse time and peak memory of the streaming reader against the old dense one.

Generates VNN-LIB 1.0 files of about 1, 10 and 100 MB in the shapes of VNN-COMP 2021-2023 properties, in a temporary
directory (deleted at the end), and reads each one in a fresh subprocess with each reader:

- ``robust``: an L-infinity ball over many inputs (one ``(assert (<= X_i c))`` line per bound) and a 10-way output
  disjunction ``(assert (or (and (>= Y_j Y_label)) ...))`` (CIFAR / MNIST / TinyImageNet robustness);
- ``or-terms``: one top-level ``(assert (or (and box... output...) ...))`` of many box-and-output terms over a few
  inputs (nn4sys, and many files written by VNN-COMP property generators);
- ``gz``: the ``or-terms`` file gzip-compressed;
- ``robust-3072``: once, the ``robust`` shape over 3,072 inputs (a CIFAR-10 property, about 0.34 MB).

The new reader is ``mipnet.io.vnnlib.load_vnnlib`` of the working tree; the old one is ``src/mipnet/io/vnnlib.py``
at commit ``b2a6fbe`` (``git show``), run with ``RLIMIT_AS`` = 4 GB and a 300 s timeout so it cannot take the
machine down. Peak memory is the subprocess's ``ru_maxrss`` minus that of the same subprocess after its imports.
Also: wall time of ``mipnet --help`` and ``mipnet verify --help`` (best of 5), for this tree and for the commit of
``main`` it branched from (``git merge-base HEAD main``).

Run: ``python bench/bench_vnnlib.py [--sizes 1,10,100] [--json out.json]`` (about 10 minutes with 100 MB).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
OLD_COMMIT = "b2a6fbe"


# ------------------------------------------------------------------------------------------------ files
def write_robust(path: Path, n_inputs: int, n_classes: int = 10, label: int = 0, seed: int = 0) -> None:
    """An L-infinity robustness property: the box asserts, then the output disjunction (VNN-COMP layout)."""
    rng = np.random.default_rng(seed)
    centre = rng.uniform(0, 1, n_inputs).tolist()
    eps = 2.0 / 255
    with open(path, "w") as f:
        f.write(f"; robustness of a random point, {n_inputs} inputs, label {label}\n")
        for i in range(n_inputs):
            f.write(f"(declare-const X_{i} Real)\n")
        for j in range(n_classes):
            f.write(f"(declare-const Y_{j} Real)\n")
        for i in range(n_inputs):
            f.write(f"(assert (<= X_{i} {centre[i] + eps!r}))\n(assert (>= X_{i} {centre[i] - eps!r}))\n")
        f.write("(assert (or\n")
        for j in range(n_classes):
            if j != label:
                f.write(f"    (and (>= Y_{j} Y_{label}))\n")
        f.write("))\n")


def write_or_terms(path: Path, n_terms: int, n_inputs: int = 2, n_outputs: int = 2, seed: int = 0) -> None:
    """A top-level ``or`` of box-and-output terms (nn4sys layout)."""
    rng = np.random.default_rng(seed)
    with open(path, "w") as f:
        for i in range(n_inputs):
            f.write(f"(declare-const X_{i} Real)\n")
        for j in range(n_outputs):
            f.write(f"(declare-const Y_{j} Real)\n")
        f.write("(assert (or\n")
        for start in range(0, n_terms, 4096):
            k = min(4096, n_terms - start)
            lo = rng.uniform(-1, 1, (k, n_inputs)).tolist()
            ylo = rng.uniform(-1, 1, k).tolist()
            lines = []
            for t in range(k):
                box = " ".join(f"(>= X_{i} {lo[t][i]!r}) (<= X_{i} {lo[t][i] + 0.01!r})" for i in range(n_inputs))
                lines.append(f"    (and {box} (>= Y_0 {ylo[t]!r}) (<= Y_0 {ylo[t] + 0.5!r}))\n")
            f.write("".join(lines))
        f.write("))\n")


def make_files(tmp: Path, mb: int) -> list[tuple[str, Path]]:
    """The files of one size class: about ``mb`` MB each."""
    robust = tmp / f"robust_{mb}mb.vnnlib"
    write_robust(robust, n_inputs=max(1, int(mb * 1e6 / 109)))
    terms = tmp / f"or_terms_{mb}mb.vnnlib"
    write_or_terms(terms, n_terms=max(1, int(mb * 1e6 / 182)))
    gz = tmp / f"or_terms_{mb}mb.vnnlib.gz"
    with open(terms, "rb") as src, gzip.open(gz, "wb", compresslevel=6) as dst:
        shutil.copyfileobj(src, dst)
    return [("robust", robust), ("or-terms", terms), ("gz", gz)]


# ------------------------------------------------------------------------------------------------ readers
CHILD = r"""
import json, resource, sys, time
kind, path, old = sys.argv[1], sys.argv[2], sys.argv[3]
if kind == "old":
    sys.path.insert(0, old)
    import old_vnnlib as mod
else:
    from mipnet.io import vnnlib as mod
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def peak():
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024


if kind == "old" and path.endswith(".gz"):
    print(json.dumps({"error": "does not read .gz"}))
    sys.exit(0)
t = time.perf_counter()
try:
    prop = mod.load_vnnlib(path)
    n = len(prop.disjuncts) if kind == "old" else prop.n_disjuncts
    rows = sum(len(d.b) for d in prop.disjuncts) if kind == "old" else prop._store.n_rows
    dt = time.perf_counter() - t
    lo, hi = prop.disjuncts[n - 1].box()
except Exception as exc:
    msg = str(exc).split(": ")[-1] if "too large" in str(exc) else type(exc).__name__
    print(json.dumps({"error": msg[:100], "seconds": time.perf_counter() - t, "peak_mb": peak()}))
    sys.exit(0)
print(json.dumps({"seconds": dt, "peak_mb": peak(), "disjuncts": n, "rows": rows,
                  "box_finite": bool((lo > -1e300).all() and (hi < 1e300).all())}))
"""


def run_reader(kind: str, path: Path, old_dir: Path, timeout: float = 300.0) -> dict:
    """Parse ``path`` in a subprocess; the old reader under a 4 GB address-space limit."""
    def limit() -> None:
        if kind == "old":
            import resource

            resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))

    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    try:
        out = subprocess.run([sys.executable, "-c", CHILD, kind, str(path), str(old_dir)], capture_output=True,
                             text=True, timeout=timeout, preexec_fn=limit, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {timeout:.0f} s"}
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["?"])[-1]
        return {"error": last[:160]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def startup(src: Path, args: list[str], repeat: int = 5) -> float:
    """Best wall time of ``python -m mipnet.cli ARGS`` with ``src`` first on the path."""
    env = dict(os.environ, PYTHONPATH=str(src))
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "mipnet.cli", *args], capture_output=True, env=env, check=True)
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1,10,100", help="file sizes in MB (default 1,10,100)")
    ap.add_argument("--old-timeout", type=float, default=300.0)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    results: dict = {"python": platform.python_version(), "numpy": np.__version__, "machine": platform.machine(),
                     "cpus": os.cpu_count(), "rows": []}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    results["commit"] = commit.stdout.strip()
    with tempfile.TemporaryDirectory(prefix="bench_vnnlib_") as tmpname:
        tmp = Path(tmpname)
        old_dir = tmp / "old"
        old_dir.mkdir()
        src = subprocess.run(["git", "show", f"{OLD_COMMIT}:src/mipnet/io/vnnlib.py"], cwd=REPO,
                             capture_output=True, text=True, check=True).stdout
        (old_dir / "old_vnnlib.py").write_text(src)
        base = subprocess.run(["git", "merge-base", "HEAD", "main"], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout.strip()
        results["startup_before_commit"] = base[:7]
        old_tree = tmp / "old_tree"
        old_tree.mkdir()
        archive = subprocess.run(["git", "archive", base, "src"], cwd=REPO, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(old_tree)], input=archive, check=True)
        for label, argv in (("mipnet --help", ["--help"]), ("mipnet verify --help", ["verify", "--help"])):
            before, after = startup(old_tree / "src", argv), startup(REPO / "src", argv)
            results.setdefault("startup", []).append({"command": label, "before_s": before, "after_s": after})
            print(f"{label:24s} before ({base[:7]}) {before:6.2f} s   after {after:6.2f} s", flush=True)
        cifar = tmp / "robust_3072.vnnlib"          # the size of a CIFAR-10 property of VNN-COMP (338 KB)
        write_robust(cifar, 3072)
        groups = [[("robust-3072", cifar)]]
        groups += [lambda mb=int(mb): make_files(tmp, mb) for mb in args.sizes.split(",")]
        for group in groups:
            for shape, path in group() if callable(group) else group:
                size = path.stat().st_size / 1e6
                row = {"shape": shape, "file_mb": round(size, 2)}
                for kind in ("new", "old"):
                    r = run_reader(kind, path, old_dir, args.old_timeout)
                    row[kind] = r
                    what = (f"{r['seconds']:7.2f} s {r['peak_mb']:8.1f} MB  " if "seconds" in r else "") + (
                        f"{r['disjuncts']} disjuncts, {r['rows']} rows" if "error" not in r else r["error"])
                    print(f"{shape:9s} {size:7.2f} MB  {kind}: {what}", flush=True)
                results["rows"].append(row)
                path.unlink()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
