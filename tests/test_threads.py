"""The kernels' thread pool (saxs_kernels.threads): every item once, errors raised."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from saxs_kernels.threads import run_ranges


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize(("n_items", "per_range"), [(1, 1), (7, 1), (100, 1), (1000, 64),
                                                    (5, 64), (0, 1)])
def test_ranges_cover_every_item_once(threads, n_items, per_range):
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        seen = np.zeros(n_items, dtype=np.int64)
        sizes = []

        def count(lo, hi, out):
            out[lo:hi] += 1
            sizes.append(hi - lo)

        run_ranges(count, n_items, seen, per_range=per_range)
        assert (seen == 1).all()
        assert sum(sizes) == n_items
        # ranges are at least per_range long unless fewer items remain
        assert all(size >= min(per_range, n_items) for size in sizes if n_items)
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)


def test_an_error_in_a_range_is_raised():
    def fail_at_five(lo, hi):
        if lo <= 5 < hi:
            raise ValueError("item 5")

    with pytest.raises(ValueError, match="item 5"):
        run_ranges(fail_at_five, 20)
