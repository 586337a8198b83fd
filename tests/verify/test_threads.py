"""``threads=N`` of every verification query also limits numpy's BLAS to N threads while the query runs."""

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from mipnet import verify
from mipnet.errors import SettingsError
from mipnet.io import parse_vnnlib
from mipnet.threads import blas_threads
from mipnet.verify import queries


def _blas_threads() -> set[int]:
    return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}


@pytest.fixture
def two_blas_threads():
    """BLAS at 2 threads around the test (skipped where BLAS cannot have 2)."""
    with threadpool_limits(limits=2, user_api="blas"):
        if _blas_threads() != {2}:
            pytest.skip("BLAS cannot run 2 threads here")
        yield


def test_queries_run_with_blas_limited_to_their_threads(dense_net, monkeypatch, two_blas_threads):
    net = dense_net([3, 6, 6, 2], seed=0)
    seen = []
    real = queries.sample_box

    def spy(*args, **kwargs):
        seen.append(_blas_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(queries, "sample_box", spy)
    head = "".join(f"(declare-const X_{i} Real)\n" for i in range(3))
    head += "(declare-const Y_0 Real)(declare-const Y_1 Real)\n"
    box = "(assert (and (>= X_0 -1) (<= X_0 1) (>= X_1 -1) (<= X_1 1) (>= X_2 -1) (<= X_2 1)))\n"
    # (method "mip": it samples first; the branch and bound would prove this region empty before any sampling)
    r = verify.check_property(net, parse_vnnlib(head + box + "(assert (>= Y_0 1000))\n"), time_limit=30, threads=1,
                              method="mip")
    assert r.status == "holds"
    b = verify.output_bounds(net, -np.ones(3), np.ones(3), time_limit=30, exact=False, threads=1)
    assert np.all(b.lower <= b.upper)
    assert seen == [{1}, {1}]
    assert _blas_threads() == {2}          # restored after each query


def test_threads_below_one_are_refused():
    with pytest.raises(SettingsError):
        blas_threads(0)
