"""Monotone models (issue 11): unconstrained, by construction (weight signs) and the certified loop, side by side.

Two cases, same architecture and split for the three models:

* breast cancer (scikit-learn), classification, hinge + L1, monotone *increasing* in "worst radius" (a larger tumour
  is not less likely malignant: the positive class here is malignant), N training rows, the rest for test;
* a synthetic regression with a known monotone truth ``y = x0 + 0.3 sin(3 x0) + 0.3 x1^2 + noise`` (increasing in
  x0: the derivative ``1 + 0.9 cos(3 x0)`` is at least 0.1; the noise is not), absolute error + L1;
* diabetes (scikit-learn, bundled), regression of the standardised disease progression from the ten features scaled
  to [-1, 1], absolute error + L1, 100 training rows, 3 hidden units, monotone *increasing* in ``s1`` (serum total
  cholesterol; its marginal correlation with the target is +0.21). ``s1`` and ``s2`` are nearly collinear, and a
  fit may use them with opposite signs (as least squares does): here the unconstrained network is *not* monotone
  in ``s1`` (the verifier returns a re-checked counterexample), so the loop has something to repair.

The region is the training data's bounding box. Reports test score, rounds to certification, total time and the
lower/upper bound gap of the constrained problem.

    PYTHONPATH=src python bench/bench_constraints.py [--n 60] [--hidden 2] [--time-limit 60]
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.preprocessing import MinMaxScaler

from mipnet import MIPNetClassifier, MIPNetRegressor
from mipnet import constraints as C


def breast_cancer(n: int, seed: int) -> tuple:
    d = load_breast_cancer()
    X = MinMaxScaler((-1, 1)).fit_transform(d.data)
    y = 1 - d.target                      # 1 = malignant
    k = list(d.feature_names).index("worst radius")
    idx = np.random.default_rng(seed).permutation(len(X))
    cols = [k] + [j for j in (0, 1, 20, 21, 27) if j != k][:4]   # the size feature and four others
    X = X[:, cols]
    return X[idx[:n]], y[idx[:n]], X[idx[n:]], y[idx[n:]], 0


def synthetic(n: int, seed: int) -> tuple:
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (n + 400, 2))
    y = X[:, 0] + 0.3 * np.sin(3 * X[:, 0]) + 0.3 * X[:, 1] ** 2 + rng.normal(0, 0.05, len(X))
    return X[:n], y[:n], X[n:], y[n:], 0


def diabetes(n: int, seed: int) -> tuple:
    from sklearn.datasets import load_diabetes

    d = load_diabetes()
    X = MinMaxScaler((-1, 1)).fit_transform(d.data)
    y = (d.target - d.target.mean()) / d.target.std()
    idx = np.random.default_rng(seed).permutation(len(X))
    k = list(d.feature_names).index("s1")
    return X[idx[:n]], y[idx[:n]], X[idx[n:]], y[idx[n:]], k


def run(make, Xtr, ytr, Xte, yte, feature, classify: bool) -> list[dict]:
    region = (Xtr.min(0), Xtr.max(0))
    rows = []
    for name, cons in (("unconstrained", []),
                       ("sign (by construction)", [C.Monotone(feature, mode=C.MonotoneMode.SIGN)]),
                       ("certified loop", [C.Monotone(feature)])):
        t0 = time.perf_counter()
        est = make(cons, region).fit(Xtr, ytr)
        t = time.perf_counter() - t0
        rep = est.report_
        score = est.score(Xte, yte) if classify else float(np.mean(np.abs(est.predict(Xte) - yte)))
        cert = rep.certified[0]["status"] if rep.certified else "-"
        if not cons:   # is the unconstrained network monotone anyway? ask the verifier
            from mipnet import verify
            v = verify.monotonicity(est.network_, feature, *region, time_limit=60)
            cert = f"(verifier: {v.status}" + (f"; {v.note}" if v.status == "violated" else "") + ")"
        b = rep.bounds_constrained or {}
        gap = "-"
        if b and np.isfinite(b.get("upper", np.inf)) and np.isfinite(b.get("lower", -np.inf)):
            gap = f"{(b['upper'] - b['lower']) / max(abs(b['upper']), 1e-12):.1%}"
        rows.append({"model": name, "score": score, "status": rep.status, "monotone": cert,
                     "rounds": len(rep.rounds) if rep.rounds else "-", "time": t, "gap": gap,
                     "objective": rep.objective})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=60)
    ap.add_argument("--hidden", type=int, default=2)
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", choices=["breast", "synthetic", "diabetes"], action="append",
                    help="run only these cases (repeatable; default all)")
    args = ap.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}; N={args.n}, "
          f"H={args.hidden}, {args.time_limit:g} s per fit")
    cases = [("breast", "breast cancer, monotone in worst radius (test accuracy)", breast_cancer, True, args.n,
              args.hidden),
             ("synthetic", "synthetic regression, monotone in x0 (test MAE)", synthetic, False, args.n, args.hidden),
             ("diabetes", "diabetes, monotone in s1 (test MAE; 100 rows, 3 hidden units)", diabetes, False, 100, 3)]
    for key, title, data, classify, n, hidden in cases:
        if args.only and key not in args.only:
            continue
        Xtr, ytr, Xte, yte, feature = data(n, args.seed)
        if classify:
            def make(cons, region, hidden=hidden):
                return MIPNetClassifier(hidden=(hidden,), l1=0.01, weights=["continuous", "ternary"],
                                        time_limit=args.time_limit, constraints=cons, region=region)
        else:
            def make(cons, region, hidden=hidden):
                return MIPNetRegressor(hidden=(hidden,), loss="absolute", l1=0.01,
                                       weights=["continuous", "ternary"], time_limit=args.time_limit,
                                       constraints=cons, region=region)
        print(f"\n{title}\n\n| model | test score | MIP status | monotone | rounds | time | bound gap | objective |")
        print("|---|---|---|---|---|---|---|---|")
        for r in run(make, Xtr, ytr, Xte, yte, feature, classify):
            print(f"| {r['model']} | {r['score']:.4f} | {r['status']} | {r['monotone']} | {r['rounds']} | "
                  f"{r['time']:.1f} s | {r['gap']} | {r['objective']:.6g} |")


if __name__ == "__main__":
    main()
