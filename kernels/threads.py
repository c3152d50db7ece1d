"""The kernels' threads: a serial ``nogil`` kernel run on ranges of its work by a thread pool.

As many threads as numba is set to use (``NUMBA_NUM_THREADS``, ``numba.set_num_threads``).
Why not numba's parallel loops: a parallel kernel compiles for seconds longer than the same
serial one (numba outlines its loop body and compiles it again as a gufunc), and a first run
spends most of its time compiling. The work is split into the same independent pieces either
way (pixel tiles, segments, repetitions), each written to its own part of the outputs, so the
results do not depend on the number of threads.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numba

#: Ranges per thread: enough that a slow range does not leave the other threads idle.
RANGES_PER_THREAD = 8

_pools: dict[int, ThreadPoolExecutor] = {}
_lock = threading.Lock()


def threads() -> int:
    """The number of threads the kernels use (numba's setting for the calling thread)."""
    return max(1, int(numba.get_num_threads()))


def _pool(n: int) -> ThreadPoolExecutor:
    with _lock:
        if n not in _pools:
            _pools[n] = ThreadPoolExecutor(n, thread_name_prefix="saxs-kernel")
        return _pools[n]


def run_ranges(kernel: Callable, n_items: int, *args, per_range: int = 1) -> None:
    """``kernel(lo, hi, *args)`` over ranges covering ``range(n_items)`` (each at least
    ``per_range`` items long unless fewer remain), on :func:`threads` threads; returns when
    every range is done and raises the first error of any."""
    n = threads()
    n_ranges = max(1, min(n * RANGES_PER_THREAD, n_items // max(per_range, 1)))
    bounds = [(k * n_items) // n_ranges for k in range(n_ranges + 1)]
    if n == 1 or n_ranges == 1:
        for lo, hi in itertools.pairwise(bounds):
            kernel(lo, hi, *args)
        return
    futures = [_pool(min(n, n_ranges)).submit(kernel, lo, hi, *args)
               for lo, hi in itertools.pairwise(bounds)]
    for future in futures:
        future.result()
