"""The stack accumulation kernels against their numpy twins (1e-12)."""

from __future__ import annotations

import numpy as np
import pytest

from saxs_kernels.stack import accumulate_frames, new_state, reject_maxima
from tests import naive


@pytest.mark.parametrize("dtype", [np.int32, np.uint16, np.float32, np.float64])
def test_accumulate_matches_naive(dtype):
    rng = np.random.default_rng(4)
    nframes, npix = 7, 300
    frames = rng.poisson(200, (nframes, npix)).astype(dtype)
    frames[2, 5] = frames[4, 7] = 65000 if dtype == np.uint16 else -10
    dummy = 65000.0 if dtype == np.uint16 else -10.0
    monitors = rng.uniform(0.9e5, 1.1e5, nframes)
    dark = rng.uniform(1, 3, npix)
    valid = rng.random(npix) > 0.1
    state = new_state(npix, nframes)
    # two chunks, like the streamed pass
    for sl in (slice(0, 4), slice(4, 7)):
        ids = np.arange(nframes)[sl]
        accumulate_frames(frames[sl], ids, monitors[sl], dark, valid, True, dummy, 0.1, 1, *state)
    expected = naive.accumulate_frames(frames, monitors, dark, valid, dummy, 0.1)
    for got, want in zip(state, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_removing_a_frame_equals_never_adding_it():
    rng = np.random.default_rng(5)
    frames = rng.poisson(100, (5, 50)).astype(np.int32)
    monitors = rng.uniform(1, 2, 5)
    dark, valid = np.ones(50), np.ones(50, bool)
    state = new_state(50, 5)
    accumulate_frames(frames, np.arange(5), monitors, dark, valid, False, 0.0, 0.0, 1, *state)
    accumulate_frames(frames[[3]], np.array([3]), monitors[[3]], dark, valid, False, 0.0, 0.0,
                      -1, *state)
    keep = [0, 1, 2, 4]
    want = naive.accumulate_frames(frames[keep], monitors[keep], dark, valid, None, 0.0)
    for got, ref in zip(state[:5], want[:5], strict=True):
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-9)


def test_reject_maxima_matches_naive_and_removes_zingers():
    rng = np.random.default_rng(6)
    nframes, npix = 6, 400
    frames = rng.poisson(150, (nframes, npix)).astype(np.int32)
    zinger_pixels = [10, 99, 250]
    for p, k in zip(zinger_pixels, [0, 3, 5], strict=True):
        frames[k, p] += 3000
    monitors = rng.uniform(0.95, 1.05, nframes)
    dark, valid = np.full(npix, 2.0), np.ones(npix, bool)
    state = new_state(npix, nframes)
    accumulate_frames(frames, np.arange(nframes), monitors, dark, valid, False, 0.0, 0.0, 1, *state)
    n, _, _, x_sum, _, x_max, k_max = (s.copy() for s in state[:7])
    want = naive.reject_maxima(8.0, monitors, dark, n, x_sum, x_max, k_max)
    rejected = np.zeros(npix, bool)
    reject_maxima(8.0, monitors, dark, np.zeros(nframes, bool), *state[:7], rejected)
    np.testing.assert_array_equal(rejected, want)
    assert set(np.flatnonzero(rejected)) == set(zinger_pixels)
    clean = frames.copy()
    for p, k in zip(zinger_pixels, [0, 3, 5], strict=True):
        clean[k, p] -= 3000
    n_after = state[0]
    assert np.all(n_after[zinger_pixels] == nframes - 1)
    others = np.setdiff1d(np.arange(npix), zinger_pixels)
    np.testing.assert_allclose(state[1][others], clean[:, others].sum(axis=0), rtol=1e-12)


def test_results_do_not_depend_on_thread_count_or_chunking():
    import numba

    rng = np.random.default_rng(8)
    frames = rng.poisson(80, (9, 40000)).astype(np.uint32)
    monitors, dark, valid = rng.uniform(1, 2, 9), rng.uniform(0, 1, 40000), np.ones(40000, bool)
    results = []
    for threads, chunks in ((1, [slice(0, 9)]), (2, [slice(0, 2), slice(2, 7), slice(7, 9)])):
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        state = new_state(40000, 9)
        for sl in chunks:
            accumulate_frames(frames[sl], np.arange(9)[sl], monitors[sl], dark, valid, False,
                              0.0, 0.0, 1, *state)
        results.append(state)
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    # per-pixel sums identical bit for bit, frame totals too (fixed block order)
    for a, b in zip(results[0], results[1], strict=True):
        np.testing.assert_array_equal(a, b)
