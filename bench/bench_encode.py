"""Binaries of the verification MIP of a conv-max-pool network, split into ReLU and max-pool binaries (issue 9).

A digits image (scikit-learn, 8x8 scaled to [0, 1]), an L-infinity box of radius ``eps`` around it, and a
``conv(3,k=3)-maxpool(2)-flatten-dense(2)`` network with seeded random weights; neuron bounds by LP tightening, then
the MIP. Runs against whichever mipnet is on ``PYTHONPATH`` (the shared encoder, or the code before it), so that
two checkouts can be compared in one run:

    PYTHONPATH=src python bench/bench_encode.py [--eps 0.05] [--seeds 5]
"""

from __future__ import annotations

import argparse

import numpy as np
from sklearn.datasets import load_digits

from mipnet import Conv2D, Dense, Flatten, MaxPool2D, Network

try:  # the shared encoder
    from mipnet.encode import compute_bounds, encode_network

    def verification_binaries(net: Network, lo: np.ndarray, hi: np.ndarray) -> tuple[int, int]:
        lb = compute_bounds(net, lo, hi, "lp")
        return encode_network(net, lb).n_binaries, lb.unstable(net)
except ImportError:  # before issue 9
    from mipnet.verify.bounds import compute_bounds
    from mipnet.verify.encoding import encode

    def verification_binaries(net: Network, lo: np.ndarray, hi: np.ndarray) -> tuple[int, int]:
        lb = compute_bounds(net, lo, hi, "lp")
        return encode(net, lb).n_binaries, lb.unstable(net)


def network(seed: int) -> Network:
    rng = np.random.default_rng(seed)
    return Network([Conv2D(3, 3, weight=rng.normal(size=(3, 1, 3, 3)) / 3, bias=rng.normal(size=3) * 0.1),
                    MaxPool2D(2), Flatten(), Dense(2, weight=rng.normal(size=(2, 27)) / 5, bias=np.zeros(2))],
                   (1, 8, 8))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--eps", type=float, default=0.05)
    ap.add_argument("--seeds", type=int, default=5)
    args = ap.parse_args()
    x = load_digits().images[0].reshape(-1) / 16.0
    lo, hi = np.clip(x - args.eps, 0, 1), np.clip(x + args.eps, 0, 1)
    total = {"binaries": 0, "relu": 0}
    print("seed  binaries  relu  maxpool")
    for seed in range(args.seeds):
        n_bin, n_relu = verification_binaries(network(seed), lo, hi)
        total["binaries"] += n_bin
        total["relu"] += n_relu
        print(f"{seed:4d}  {n_bin:8d}  {n_relu:4d}  {n_bin - n_relu:7d}")
    print(f"total {total['binaries']:8d}  {total['relu']:4d}  {total['binaries'] - total['relu']:7d}")


if __name__ == "__main__":
    main()
