"""Worker processes that let one search use more than one core: one pool per process, started once, reused.

The branch and bound (:mod:`mipnet.verify.bab`) hands parts of its open sub-problems to these workers. Threads do not
serve it: most of a batch's time goes to many small numpy operations that hold the GIL between them, and with two
threads on two cores the ACAS Xu proofs ran at 0.60-0.96 times the speed of one (bench/RESULTS.md). Processes do.

The workers are *spawned* (never forked): a forked child of a process in which HiGHS or OpenBLAS has started threads
can inherit a held lock and hang. A spawned worker imports what its tasks need once, runs numpy's BLAS on one
thread (each worker is one core's worth of work), and ignores Ctrl-C, which the process that owns the pool handles;
a pool that breaks (a worker killed) is replaced at the next request. As with any spawned worker, a script that
starts a parallel search must guard its entry point with ``if __name__ == "__main__":``.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.util
import signal
from concurrent.futures import Future, ProcessPoolExecutor

from threadpoolctl import threadpool_limits

from mipnet.errors import SettingsError

_pool: ProcessPoolExecutor | None = None
_size = 0
_finalizer_registered = False


def _start_worker() -> None:
    """Initialiser of every worker: BLAS on one thread, Ctrl-C left to the parent."""
    threadpool_limits(limits=1, user_api="blas")
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _ready() -> bool:
    """A task that only proves the worker has started (and imported this module)."""
    return True


def available() -> bool:
    """Whether this process may start workers: not in a daemonic process (a worker of ``multiprocessing`` or of a
    process pool, which may have no children), where a parallel search runs in one process instead."""
    return not multiprocessing.current_process().daemon


def workers(n: int) -> ProcessPoolExecutor:
    """The pool of ``n`` spawned worker processes, started on first use and kept for the next search (a pool of
    another size, or a broken one, is shut down and replaced)."""
    global _pool, _size
    if int(n) < 1:
        raise SettingsError(f"the number of worker processes must be at least 1, got {n}")
    broken = _pool is not None and getattr(_pool, "_broken", False)
    if _pool is None or _size != n or broken:
        discard(wait=not broken)
        _pool = ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker)
        _size = n
        _shut_down_at_exit()
    return _pool


def _shut_down_at_exit() -> None:
    """Shut the pool down when this process exits, before ``multiprocessing`` joins its children: a process that is
    itself a worker of a pool (a ``ProcessPoolExecutor``'s) would otherwise wait forever for our idle workers."""
    global _finalizer_registered
    if not _finalizer_registered:
        multiprocessing.util.Finalize(None, discard, kwargs={"wait": True}, exitpriority=100)
        _finalizer_registered = True


def warm_up(n: int) -> list[Future]:
    """Start the ``n`` workers now, in the background (they spawn on demand, one per waiting task), so that a search
    that needs them later does not wait for their start-up."""
    pool = workers(n)
    return [pool.submit(_ready) for _ in range(n)]


def discard(wait: bool = False) -> None:
    """Shut the pool down (by default without waiting: after a failed parallel search); the next request starts a
    new one."""
    global _pool, _size
    if _pool is not None:
        _pool.shutdown(wait=wait, cancel_futures=True)
    _pool, _size = None, 0
