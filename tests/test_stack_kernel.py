"""The stack accumulation kernels against their numpy twins (1e-12)."""

from __future__ import annotations

import numpy as np
import pytest

from saxs_kernels.stack import (
    FrameTotals,
    PixelSettings,
    StackState,
    add_frames,
    add_stored,
    pixel_state,
    reject_zingers,
)
from tests import naive


def new_state(npix, nframes):
    """The nine arrays the naive twins return: the :class:`StackState` fields at their starting
    values, then the frame totals and valid-pixel counts (zero)."""
    return (*pixel_state(npix), *FrameTotals.zeros(nframes))


def _add(frames, ids, monitors, dark, valid, use_dummy, dummy, delta_dummy, sign, state):
    """:func:`add_frames` on the nine arrays of :func:`new_state` (updated in place)."""
    add_frames(frames, ids, monitors, PixelSettings(dark, valid, use_dummy, dummy, delta_dummy),
               StackState(*state[:7]), FrameTotals(*state[7:9]), sign=sign)

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
        _add(frames[sl], ids, monitors[sl], dark, valid, True, dummy, 0.1, 1, state)
    expected = naive.accumulate_frames(frames, monitors, dark, valid, dummy, 0.1)
    for got, want in zip(state, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_removing_a_frame_equals_never_adding_it():
    rng = np.random.default_rng(5)
    frames = rng.poisson(100, (5, 50)).astype(np.int32)
    monitors = rng.uniform(1, 2, 5)
    dark, valid = np.ones(50), np.ones(50, bool)
    state = new_state(50, 5)
    _add(frames, np.arange(5), monitors, dark, valid, False, 0.0, 0.0, 1, state)
    _add(frames[[3]], np.array([3]), monitors[[3]], dark, valid, False, 0.0, 0.0, -1, state)
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
    _add(frames, np.arange(nframes), monitors, dark, valid, False, 0.0, 0.0, 1, state)
    n, _, _, x_sum, _, x_max, k_max = (s.copy() for s in state[:7])
    want = naive.reject_maxima(8.0, monitors, dark, n, x_sum, x_max, k_max)
    rejected = reject_zingers(8.0, monitors, dark, np.zeros(nframes, bool),
                              StackState(*state[:7]))
    np.testing.assert_array_equal(rejected, want)
    assert set(np.flatnonzero(rejected)) == set(zinger_pixels)
    clean = frames.copy()
    for p, k in zip(zinger_pixels, [0, 3, 5], strict=True):
        clean[k, p] -= 3000
    n_after = state[0]
    assert np.all(n_after[zinger_pixels] == nframes - 1)
    others = np.setdiff1d(np.arange(npix), zinger_pixels)
    np.testing.assert_allclose(state[1][others], clean[:, others].sum(axis=0), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.uint32, np.float32])
def test_results_do_not_depend_on_thread_count_or_chunking(dtype):
    """Integer frames go through the four-at-a-time loop, float frames one at a time; either
    way, and with frames that hold dummies, the sums are the same bit for bit."""
    import numba

    rng = np.random.default_rng(8)
    frames = rng.poisson(80, (9, 40000)).astype(dtype)
    frames[[1, 4, 8], [5, 77, 39999]] = 9999  # dummies
    monitors, dark, valid = rng.uniform(1, 2, 9), rng.uniform(0, 1, 40000), np.ones(40000, bool)
    results = []
    for threads, chunks in ((1, [slice(0, 9)]),
                            (2, [slice(0, 2), slice(2, 7), slice(7, 9)]),
                            (2, [slice(k, k + 1) for k in range(9)])):
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        state = new_state(40000, 9)
        for sl in chunks:
            _add(frames[sl], np.arange(9)[sl], monitors[sl], dark, valid, True, 9999.0, 0.5, 1,
                 state)
        results.append(state)
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    assert results[0][0][5] == 8  # the dummy was left out
    # per-pixel sums identical bit for bit, frame totals too (fixed block order)
    for other in results[1:]:
        for a, b in zip(results[0], other, strict=True):
            np.testing.assert_array_equal(a, b)


# Bitshuffle-LZ4 frames decoded inside the kernel ---------------------------------------------

def _bitshuffle_chunks(frames, block_elems):
    """Frames as the HDF5 bitshuffle filter stores them: header, then the LZ4 blocks."""
    import struct

    import bitshuffle

    chunks = [struct.pack(">QI", f.nbytes, block_elems * f.itemsize)
              + bitshuffle.compress_lz4(np.ascontiguousarray(f), block_elems).tobytes()
              for f in frames]
    sizes = np.array([len(c) for c in chunks], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    return np.frombuffer(b"".join(chunks), dtype=np.uint8).copy(), starts, sizes


def _block_offsets(payload, starts, sizes, npix, itemsize, block_elems):
    from saxs_kernels.bitshuffle import block_offsets

    return block_offsets(payload, starts, sizes, n_values=npix, itemsize=itemsize,
                         block_elems=block_elems)


@pytest.mark.parametrize(("dtype", "npix", "block_elems"), [
    (np.uint32, 10003, 2048),   # last block partial, 3 values stored uncompressed
    (np.uint16, 9001, 4096),
    (np.int32, 3 * 4096, 512),  # several blocks per tile
    (np.uint8, 77, 16),
    (np.uint32, 5, 8),          # no compressed block at all
])
def test_compressed_accumulation_equals_decoded_frames(dtype, npix, block_elems):
    from saxs.frames import CompressedFrames
    from saxs_kernels.bitshuffle_lib import BLOCK_DECODER

    assert BLOCK_DECODER is not None, "bitshuffle's block functions must be exported"
    rng = np.random.default_rng(12)
    nframes = 7
    frames = rng.poisson(30, (nframes, npix)).astype(dtype)
    frames[2, 1] = frames[5, npix - 1] = 7  # dummies
    monitors = rng.uniform(1, 2, nframes)
    dark, valid = rng.uniform(0, 2, npix), rng.random(npix) > 0.1
    payload, starts, sizes = _bitshuffle_chunks(frames, block_elems)
    offsets, bad = _block_offsets(payload, starts, sizes, npix, frames.itemsize, block_elems)
    assert bad == -1
    want = new_state(npix, nframes)
    _add(frames, np.arange(nframes), monitors, dark, valid, True, 7.0, 0.1, 1, want)
    got = new_state(npix, nframes)
    for array in got[:7]:  # garbage: the first chunk must start the sums afresh
        array[...] = 3
    pixels = PixelSettings(dark, valid, True, 7.0, 0.1)
    for k, sl in enumerate((slice(0, 3), slice(3, 7))):
        stored = CompressedFrames(payload, offsets[sl], block_elems, BLOCK_DECODER)
        failed = add_stored(stored, np.empty(0, dtype), np.arange(nframes)[sl], monitors[sl],
                            pixels, StackState(*got[:7]), FrameTotals(*got[7:9]), reset=k == 0)
        assert not failed.any()
    for a, b in zip(want, got, strict=True):
        np.testing.assert_array_equal(a, b)


def test_damaged_compressed_frames_are_found():
    from saxs.frames import CompressedFrames
    from saxs_kernels.bitshuffle import HEADER_BYTES
    from saxs_kernels.bitshuffle_lib import BLOCK_DECODER

    rng = np.random.default_rng(13)
    npix, block = 5000, 1024
    frames = rng.poisson(50, (3, npix)).astype(np.uint32)
    payload, starts, sizes = _bitshuffle_chunks(frames, block)
    # a chunk cut short: its blocks run past its end
    assert _block_offsets(payload, starts, sizes - 1, npix, 4, block)[1] == 0
    # a chunk with bytes left over after its blocks
    longer = sizes.copy()
    longer[1] += 1
    assert _block_offsets(payload, starts, longer, npix, 4, block)[1] == 1
    # LZ4 data that does not decode (the block sizes still add up)
    offsets, bad = _block_offsets(payload, starts, sizes, npix, 4, block)
    assert bad == -1
    first_block = starts[2] + HEADER_BYTES
    assert offsets[2, 0] == first_block
    payload[first_block + 4:offsets[2, 1]] = 0xFF
    state = new_state(npix, 3)
    failed = add_stored(CompressedFrames(payload, offsets, block, BLOCK_DECODER),
                        np.empty(0, np.uint32), np.arange(3), np.ones(3),
                        PixelSettings(np.zeros(npix), np.ones(npix, bool), False, 0.0, 0.0),
                        StackState(*state[:7]), FrameTotals(*state[7:9]), reset=True)
    np.testing.assert_array_equal(failed, [False, False, True])


# Per-frame integration with a sparse matrix (saxs_kernels.csr) -------------------------------

def _random_csr(rng, n_bins, npix, per_pixel=2):
    """A CSR matrix where most pixels go to 1-2 bins with random weights, some to none."""
    rows, cols, vals = [], [], []
    for p in range(npix):
        if rng.random() < 0.1:
            continue
        first = rng.integers(0, n_bins - per_pixel)
        for j in range(rng.integers(1, per_pixel + 1)):
            rows.append(first + j)
            cols.append(p)
            vals.append(rng.uniform(0.2, 1.0))
    order = np.lexsort((cols, rows))
    rows, cols, vals = (np.asarray(a)[order] for a in (rows, cols, vals))
    indptr = np.searchsorted(rows, np.arange(n_bins + 1)).astype(np.int32)
    return indptr, cols.astype(np.int32), vals.astype(np.float32)


def _run_csr(frames, indptr, indices, data, dark, norm, monitors, dummy, threshold, pass_size,
             compressed=False):
    from saxs.frames import CompressedFrames
    from saxs_kernels.bitshuffle_lib import BLOCK_DECODER
    from saxs_kernels.csr import (
        PixelCorrections,
        integrate_pass,
        last_frame_zingers,
        pass_work,
        pixel_major,
    )

    n, npix = frames.shape
    nb = indptr.size - 1
    ptr, rows, coefs = pixel_major(indptr.astype(np.int64), indices.astype(np.int64),
                                   data.astype(np.float64), npix)
    m = pass_size
    work = pass_work(m, nb)
    carry = np.zeros((2, npix), frames.dtype)
    out = [np.zeros((n, nb)) for _ in range(4)]
    counts = np.zeros((3, n), np.int64)
    carried, carried_mon = 0, np.ones(2)
    use_dummy = dummy is not None
    pixels = PixelCorrections(ptr, rows, coefs, dark, norm, use_dummy, float(dummy or 0.0), 0.5,
                              threshold)
    for start in range(0, n, m):
        ids = np.arange(start, min(n, start + m))
        k = ids.size
        mon = np.concatenate([carried_mon, monitors[ids]])
        if compressed:
            payload, starts, sizes = _bitshuffle_chunks(frames[ids], 512)
            offsets, bad = _block_offsets(payload, starts, sizes, npix, frames.itemsize, 512)
            assert bad == -1
            chunk = CompressedFrames(payload, offsets, 512, BLOCK_DECODER)
        else:
            chunk = frames[ids]
        res = integrate_pass(chunk, carry, carried, mon, pixels, work)
        assert not res.failed.any()
        for total, part in zip(out, res[:4], strict=True):
            total[ids] = part
        c = res.counts
        counts[:2, ids] = c[:2, 2:]
        tested = start - 2 + np.arange(1, k + 1)
        keep = tested >= 0
        counts[2, tested[keep]] += c[2, 1:k + 1][keep]
        carried_mon = mon[-2:].copy()
        carried = min(2, carried + k)
    if n >= 2:
        counts[2, n - 1] += last_frame_zingers(carry, (monitors[n - 2], monitors[n - 1]), pixels)
    return out, counts, ptr


@pytest.mark.parametrize(("dtype", "pass_size", "compressed"), [
    (np.uint32, 3, False), (np.int32, 7, True), (np.float32, 2, False), (np.uint32, 20, True)])
def test_csr_integration_matches_naive(dtype, pass_size, compressed):
    rng = np.random.default_rng(31)
    n, npix, nb = 9, 5000, 40
    frames = rng.poisson(60, (n, npix)).astype(dtype)
    frames[2, [5, 900]] = 7
    frames[6, 4321] = 7  # dummies
    for f, p in ((1, 17), (4, 2500), (8, 4000)):
        frames[f, p] += 3000  # zingers (the last in the last frame)
    indptr, indices, data = _random_csr(rng, nb, npix)
    dark, norm = rng.uniform(0, 3, npix), rng.uniform(0.5, 1.5, npix)
    monitors = rng.uniform(0.9, 1.1, n)
    got, counts, ptr = _run_csr(frames, indptr, indices, data, dark, norm, monitors, 7.0, 6.0,
                                pass_size, compressed)
    (signal, variance, lost_norm, lost_count), dummies = naive.integrate_frames(
        frames, indptr, indices, data, dark, norm, 7.0, 0.5)
    for a, b in zip(got, (signal, variance, lost_norm, lost_count), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-9)
    np.testing.assert_array_equal(counts[0], dummies)
    zingers = naive.zinger_counts(frames, np.diff(ptr) > 0, dark, monitors, 6.0, 7.0, 0.5)
    np.testing.assert_array_equal(counts[2], zingers)
    assert counts[2][[1, 4, 8]].min() >= 1


def test_csr_shared_sums_and_transpose_match_naive():
    from saxs_kernels.csr import pixel_major, shared_sums

    rng = np.random.default_rng(32)
    indptr, indices, data = _random_csr(rng, 30, 2000, per_pixel=3)
    norm = rng.uniform(0.5, 1.5, 2000)
    ptr, rows, coefs = pixel_major(indptr.astype(np.int64), indices.astype(np.int64),
                                   data.astype(np.float64), 2000)
    for p in (0, 5, 1999):
        k = slice(ptr[p], ptr[p + 1])
        mask = indices == p
        np.testing.assert_array_equal(rows[k], np.repeat(np.arange(30), np.diff(indptr))[mask])
        np.testing.assert_array_equal(coefs[k], data[mask])
    norm_sum, count = shared_sums(ptr, rows, coefs, norm, 30)
    dense = naive.csr_dense(indptr, indices, data, 2000)
    np.testing.assert_allclose(norm_sum, dense @ norm, rtol=1e-12)
    np.testing.assert_allclose(count, dense.sum(axis=1), rtol=1e-12)


@pytest.mark.parametrize("out_type", [np.float64, np.float32])
def test_integration_arrays_match_naive(out_type):
    from saxs_kernels.stack import IntegrationInputs, StackState, integration_inputs

    rng = np.random.default_rng(41)
    npix = 3000
    n = rng.integers(0, 6, npix).astype(np.int32)  # 0 and 1 frames included
    mon_sum = n * rng.uniform(0.9e5, 1.1e5, npix)
    raw_sum = n * rng.uniform(0, 500, npix)
    x_sum = n * rng.uniform(0, 5e-3, npix)
    x2_sum = x_sum**2 / np.maximum(n, 1) * rng.uniform(1.0, 1.2, npix)
    dark, flat = rng.uniform(0, 3, npix), rng.uniform(0.8, 1.2, npix)
    valid = rng.random(npix) > 0.1
    outputs = IntegrationInputs(*(np.empty(npix, out_type) for _ in range(4)))
    state = StackState(n, raw_sum, mon_sum, x_sum, x2_sum, np.zeros(npix), np.zeros(npix, int))
    assert integration_inputs(state, dark, flat, valid, monitor_total=4e5, no_data=-1.0,
                              out=outputs) is outputs
    expected = naive.integration_arrays(n, raw_sum, mon_sum, x_sum, x2_sum, dark, flat, valid,
                                        4e5, -1.0)
    for got, want in zip(outputs, expected, strict=True):
        np.testing.assert_allclose(got, want.astype(out_type), rtol=1e-12 if
                                   out_type is np.float64 else 1e-7, atol=0)
    assert (outputs[0][n == 0] == -1.0).all()
    assert (outputs[3][n < 2] == 0).all()
