"""The branch and bound on worker processes (``BabOptions.threads`` > 1): the same answers as one process, the
exact MIP leaves decided by the search's owner, an undecided leaf never turned into a proof, resumable."""

import multiprocessing
import pickle
import subprocess
import sys

import numpy as np
import pytest

from mipnet import verify
from mipnet.clock import Clock
from mipnet.io import parse_vnnlib
from mipnet.verify.bab import BabOptions, Branching, DisjunctSearch, _Pool
from mipnet.verify.falsify import point_in_region


@pytest.fixture
def parallel_runs(monkeypatch):
    """Counts the searches that went parallel (in this process: the workers never call it)."""
    calls = []
    original = DisjunctSearch._search_parallel

    def spy(self, *args, **kwargs):
        calls.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(DisjunctSearch, "_search_parallel", spy)
    return calls


def _search(net, d, branching, threads, **kw):
    opts = BabOptions(branching=branching, threads=threads, parallel_after=0.0, batch=8, **kw)
    lo, hi = d.box()
    return DisjunctSearch(net, d, lo, hi, opts)


@pytest.mark.parametrize("branching", [Branching.INPUT, Branching.RELU])
def test_parallel_search_proves_what_one_process_proves(dense_net, below_minimum, parallel_runs, branching):
    net = dense_net([3, 12, 12, 2], seed=3)
    d = below_minimum(net, -np.ones(3), np.ones(3), gap=0.01)
    one = _search(net, d, branching, 1, mip_threshold=0).run(Clock(120))
    two = _search(net, d, branching, 2, mip_threshold=0).run(Clock(120))
    assert parallel_runs, "the search never went parallel"
    assert one[0] == two[0] == "holds"
    assert two[2]["subproblems"] > 1


@pytest.mark.parametrize(("branching", "seed"), [(Branching.INPUT, 5), (Branching.RELU, 3)])
def test_parallel_counterexample_is_real(dense_net, parallel_runs, branching, seed):
    net = dense_net([4, 20, 20, 2], seed=seed)
    exact = verify.output_bounds(net, -np.ones(4), np.ones(4), time_limit=60)
    c = float(exact.lower[0]) + 1e-4            # a sliver of the box: found by the search, not by the first screen
    head = "".join(f"(declare-const X_{i} Real)\n" for i in range(4)) + "(declare-const Y_0 Real)" \
        "(declare-const Y_1 Real)\n"
    box = "".join(f"(assert (>= X_{i} -1)) (assert (<= X_{i} 1))\n" for i in range(4))
    d = parse_vnnlib(head + box + f"(assert (<= Y_0 {c!r}))\n").disjuncts[0]
    status, found, stats = _search(net, d, branching, 2, mip_threshold=0).run(Clock(120))
    assert status == "violated"
    assert stats["batches"] > 1           # after the first batch the search is parallel: a worker found it
    x, y = found
    assert point_in_region(net, d, x, -np.ones(4), np.ones(4)) is not None
    np.testing.assert_array_equal(y, net.forward(x[None])[0])


def test_workers_hand_mip_leaves_to_the_owner(dense_net, below_minimum, parallel_runs):
    net = dense_net([3, 12, 12, 2], seed=3)
    d = below_minimum(net, -np.ones(3), np.ones(3), gap=0.01)
    decided = []

    def leaf(lo, hi, pre, splits, answer="holds"):
        decided.append((lo, hi))
        return answer, None

    lo, hi = d.box()
    opts = BabOptions(branching=Branching.RELU, threads=2, parallel_after=0.0, batch=8, mip_threshold=100)
    status, _, stats = DisjunctSearch(net, d, lo, hi, opts, mip_leaf=leaf).run(Clock(120))
    assert status == "holds" and decided and stats["mip_leaves"] == len(decided)
    # the same search whose leaf cannot decide: never "holds"
    undecided = DisjunctSearch(net, d, lo, hi, opts, mip_leaf=lambda *a: ("unknown", None))
    assert undecided.run(Clock(120))[0] == "unknown"


def test_parallel_search_resumes(dense_net, parallel_runs):
    net = dense_net([4, 20, 20, 2], seed=5)
    exact = verify.output_bounds(net, -np.ones(4), np.ones(4), time_limit=60)
    head = "".join(f"(declare-const X_{i} Real)\n" for i in range(4)) + "(declare-const Y_0 Real)" \
        "(declare-const Y_1 Real)\n"
    box = "".join(f"(assert (>= X_{i} -1)) (assert (<= X_{i} 1))\n" for i in range(4))
    # within the exact MIP's tolerance of the minimum, and empty (the exact MIP and one process prove it)
    d = parse_vnnlib(head + box + f"(assert (<= Y_0 {float(exact.lower[0]) + 1e-5!r}))\n").disjuncts[0]
    search = _search(net, d, Branching.INPUT, 2, mip_threshold=0)
    answers = [search.run(Clock(0.02))[0]]
    while answers[-1] == "unknown" and len(answers) < 500:
        answers.append(search.run(Clock(0.05))[0])
    assert answers[-1] == "holds"
    assert _search(net, d, Branching.INPUT, 1, mip_threshold=0).run(Clock(120))[0] == "holds"


def test_pool_parts_deal_every_subproblem_once():
    rng = np.random.default_rng(0)
    lo = rng.uniform(-1, 0, (11, 3))
    pool = _Pool(lo, lo + 1, [None, np.zeros((11, 4), np.int8)], rng.uniform(-1, 0, 11))
    parts = pool.parts(3)
    assert [len(p) for p in parts] == [4, 4, 3]
    np.testing.assert_array_equal(np.sort(np.concatenate([p.score for p in parts])), np.sort(pool.score))
    assert all(p.splits[0] is None and p.splits[1].shape == (len(p), 4) for p in parts)
    assert min(parts[0].score) == min(pool.score)       # the hardest goes to the first part
    assert len(_Pool(lo[:1], lo[:1] + 1, [None], np.zeros(1)).parts(3)) == 1


def test_an_interrupted_search_starts_afresh(dense_net, below_minimum, monkeypatch):
    net = dense_net([3, 12, 12, 2], seed=3)
    d = below_minimum(net, -np.ones(3), np.ones(3), gap=0.01)
    search = _search(net, d, Branching.INPUT, 1, mip_threshold=0)
    real = search._split_inputs
    calls = []

    def interrupted(pool):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt      # the batch taken from the pool is in flight
        return real(pool)

    monkeypatch.setattr(search, "_split_inputs", interrupted)
    with pytest.raises(KeyboardInterrupt):
        search.run(Clock(60))
    assert search._resume.lost
    monkeypatch.setattr(search, "_split_inputs", real)
    assert search.run(Clock(60))[0] == "holds"


def _decide_in_a_daemon(net, d):
    return _search(net, d, Branching.INPUT, 2, mip_threshold=0).run(Clock(60))[0]


def test_a_daemonic_process_searches_alone(dense_net, below_minimum):
    # a daemonic worker (multiprocessing.Pool) may start no processes of its own: threads=2 there searches alone
    net = dense_net([3, 12, 12, 2], seed=3)
    d = below_minimum(net, -np.ones(3), np.ones(3), gap=0.01)
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        assert pool.apply_async(_decide_in_a_daemon, (net, d)).get(timeout=120) == "holds"


NESTED = """
import multiprocessing, pickle, sys
from concurrent.futures import ProcessPoolExecutor
from mipnet import verify
from mipnet.verify.bab import BabOptions
if __name__ == "__main__":
    with open(sys.argv[1], "rb") as fh:
        net, prop = pickle.load(fh)
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        r = pool.submit(verify.check_property, net, prop, time_limit=60, threads=2, samples=1,
                        bab=BabOptions(threads=2, parallel_after=0.0, batch=8, mip_threshold=0)).result()
    print(r.status)
"""


def test_a_parallel_search_inside_a_pool_worker_ends_and_lets_it_exit(dense_net, below_minimum, tmp_path):
    # the worker's own workers are shut down when it exits (a ProcessPoolExecutor worker is not daemonic and joins
    # its children at exit: without the shut-down it waited for ours forever)
    net = dense_net([3, 12, 12, 2], seed=3)
    d = below_minimum(net, -np.ones(3), np.ones(3), gap=0.01)
    head = "".join(f"(declare-const X_{i} Real)\n" for i in range(3)) + "(declare-const Y_0 Real)" \
        "(declare-const Y_1 Real)\n"
    box = "".join(f"(assert (>= X_{i} -1)) (assert (<= X_{i} 1))\n" for i in range(3))
    bound = float(d.b[-1])
    prop = parse_vnnlib(head + box + f"(assert (<= Y_0 {bound!r}))\n")
    (tmp_path / "case.pkl").write_bytes(pickle.dumps((net, prop)))
    (tmp_path / "nested.py").write_text(NESTED)
    out = subprocess.run([sys.executable, str(tmp_path / "nested.py"), str(tmp_path / "case.pkl")],
                         capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-1] == "holds"
