"""Single-pass accumulation of a stack of detector frames, for averaging with outlier rejection.

For each frame k (monitor I1_k) and each pixel i that is valid in that frame (static mask off,
value not the detector's dummy), with x = (raw - dark) / I1_k the flux-normalised signal::

    n[i]       += 1                 count of frames that contributed
    raw_sum[i] += raw               summed counts (Poisson variance of the sum)
    mon_sum[i] += I1_k              summed monitor of the contributing frames
    x_sum[i]   += x,  x2_sum[i] += x^2      frame-to-frame statistics
    x_max[i], k_max[i]              largest x and its frame (zinger candidate)
    frame_sum[k] += raw - dark,  frame_n[k] += 1      per-frame totals (bubble detection)

``sign = -1`` removes frames that were accumulated before (rejected frames); x_max and the
per-frame totals are then left as they were. x_max starts at -inf and k_max at -1 (no value).
A pixel is "dummy" in a frame if abs(raw - dummy) <= delta_dummy (ID02.md §1.3).
Float64 sums, int32 counts and frame indices; frames may be any integer or float type.
Deterministic: fixed summation order whatever the number of threads and the chunking. The
kernels release the GIL, so the next frames can be read while they run.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from saxs_kernels.bitshuffle import decode_blocks

#: Pixels per tile of the parallel loop. A tile's running sums (~200 kB) stay in the core's
#: cache while the chunk's frames are added one after the other; frame totals are summed per
#: tile, then over tiles in tile order, so results do not depend on the number of threads.
TILE = 4096

#: Reassociation lets LLVM vectorise the per-tile frame total (a sum over pixels); every
#: per-pixel sum still adds its frames in stack order.
_FASTMATH = {"reassoc", "nsz", "contract"}


def reset_state(n, raw_sum, mon_sum, x_sum, x2_sum, x_max, k_max) -> None:
    """Set the per-pixel running sums to their starting values, in place: zero sums and
    counts, x_max -inf, k_max -1 (no value)."""
    for array in (n, raw_sum, mon_sum, x_sum, x2_sum):
        array.fill(0)
    x_max.fill(-np.inf)
    k_max.fill(-1)


def new_state(npix: int, nframes: int) -> tuple[np.ndarray, ...]:
    """Running sums for ``npix`` pixels and ``nframes`` frames at their starting values, in
    argument order: n, raw_sum, mon_sum, x_sum, x2_sum, x_max, k_max, frame_sum, frame_n."""
    pixels = (np.empty(npix, np.int32), np.empty(npix), np.empty(npix), np.empty(npix),
              np.empty(npix), np.empty(npix), np.empty(npix, np.int32))
    reset_state(*pixels)
    return (*pixels, np.zeros(nframes), np.zeros(nframes, np.int64))


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _add_frames(row_a, row_b, use_b, dark, valid, use_dummy, dummy, delta_dummy, inv_a, inv_b,
                mon_a, mon_b, id_a, id_b, n, raw_sum, mon_sum, x_sum, x2_sum, x_max, k_max):
    """Add frame a, then frame b if ``use_b``, to the sums of one tile; returns each frame's
    summed signal and count (0 for an unused b).

    Each pixel's sums are loaded and stored once for the two frames (half the memory traffic
    of one frame at a time), with the same additions in the same order: an unused b adds
    exact zeros. Branch-free (selects and 0/1 weights) so that LLVM vectorises the loop.
    """
    total_a = 0.0
    total_b = 0.0
    count_a = 0
    count_b = 0
    ka = np.int32(id_a)
    kb = np.int32(id_b)
    for i in range(row_a.size):
        raw_a = float(row_a[i])
        raw_b = float(row_b[i])
        static = valid[i]
        ok_a = static & ((not use_dummy) | (abs(raw_a - dummy) > delta_dummy))
        ok_b = static & use_b & ((not use_dummy) | (abs(raw_b - dummy) > delta_dummy))
        w_a = np.float64(ok_a)
        w_b = np.float64(ok_b)
        d = dark[i]
        signal_a = (raw_a - d) * w_a
        signal_b = (raw_b - d) * w_b
        x_a = signal_a * inv_a
        x_b = signal_b * inv_b
        n[i] += np.int32(ok_a) + np.int32(ok_b)
        raw_sum[i] = (raw_sum[i] + raw_a * w_a) + raw_b * w_b
        mon_sum[i] = (mon_sum[i] + mon_a * w_a) + mon_b * w_b
        x_sum[i] = (x_sum[i] + x_a) + x_b
        x2_sum[i] = (x2_sum[i] + x_a * x_a) + x_b * x_b
        total_a += signal_a
        total_b += signal_b
        count_a += np.int64(ok_a)
        count_b += np.int64(ok_b)
        best = x_max[i]
        best_k = k_max[i]
        higher = ok_a & (x_a > best)
        best = x_a if higher else best
        best_k = ka if higher else best_k
        higher = ok_b & (x_b > best)
        x_max[i] = x_b if higher else best
        k_max[i] = kb if higher else best_k
    return total_a, count_a, total_b, count_b


@njit(cache=True, nogil=True)
def _remove_frame(row, dark, valid, use_dummy, dummy, delta_dummy, inv, mon, n, raw_sum,
                  mon_sum, x_sum, x2_sum):
    for i in range(row.size):
        raw = float(row[i])
        if not valid[i] or (use_dummy and abs(raw - dummy) <= delta_dummy):
            continue
        x = (raw - dark[i]) * inv
        n[i] -= 1
        raw_sum[i] -= raw
        mon_sum[i] -= mon
        x_sum[i] -= x
        x2_sum[i] -= x * x


@njit(cache=True, parallel=True, nogil=True)
def accumulate_frames(frames, frame_ids, monitors, dark, valid, use_dummy, dummy, delta_dummy,
                      sign, n, raw_sum, mon_sum, x_sum, x2_sum, x_max, k_max, frame_sum,
                      frame_n):
    """Add (``sign = 1``) or remove (``sign = -1``) frames to the running sums in place.

    Tiles of pixels run in parallel; within a tile the chunk's frames are added in stack
    order, so each pixel's sums are the same whatever the chunking and the number of threads.
    The state comes from :func:`new_state` (n and k_max int32, x_max starting at -inf).

    Parameters
    ----------
    frames : (m, P) array
        m frames, flattened to P pixels.
    frame_ids : (m,) int64
        Index of each frame in the stack (for ``k_max``, ``frame_sum``, ``frame_n``).
    monitors : (m,) float64
        I1 of each frame (> 0, checked by the caller).
    dark : (P,) float64
    valid : (P,) bool
        Static validity (mask, flat > 0).
    use_dummy, dummy, delta_dummy : bool, float, float
        Dummy test of each raw value.
    """
    m, npix = frames.shape
    n_tiles = (npix + TILE - 1) // TILE
    part_sum = np.zeros((n_tiles, m))
    part_n = np.zeros((n_tiles, m), dtype=np.int64)
    inv = 1.0 / monitors
    for t in prange(n_tiles):
        lo = t * TILE
        hi = min(npix, lo + TILE)
        for j in range(0, m, 2 if sign > 0 else 1):
            if sign > 0:
                b = min(j + 1, m - 1)
                sum_a, n_a, sum_b, n_b = _add_frames(
                    frames[j, lo:hi], frames[b, lo:hi], b > j, dark[lo:hi], valid[lo:hi],
                    use_dummy, dummy, delta_dummy, inv[j], inv[b], monitors[j], monitors[b],
                    frame_ids[j], frame_ids[b], n[lo:hi], raw_sum[lo:hi], mon_sum[lo:hi],
                    x_sum[lo:hi], x2_sum[lo:hi], x_max[lo:hi], k_max[lo:hi])
                part_sum[t, j], part_n[t, j] = sum_a, n_a
                if b > j:
                    part_sum[t, b], part_n[t, b] = sum_b, n_b
            else:
                _remove_frame(frames[j, lo:hi], dark[lo:hi], valid[lo:hi], use_dummy, dummy,
                              delta_dummy, inv[j], monitors[j], n[lo:hi], raw_sum[lo:hi],
                              mon_sum[lo:hi], x_sum[lo:hi], x2_sum[lo:hi])
    if sign > 0:
        for j in range(m):
            for t in range(n_tiles):
                frame_sum[frame_ids[j]] += part_sum[t, j]
                frame_n[frame_ids[j]] += part_n[t, j]


@njit(cache=True, parallel=True, nogil=True)
def accumulate_compressed(lz4, untranspose, payload, offsets, block_elems, like, frame_ids,
                          monitors, dark, valid, use_dummy, dummy, delta_dummy, reset, n, raw_sum,
                          mon_sum, x_sum, x2_sum, x_max, k_max, frame_sum, frame_n, failed):
    """:func:`accumulate_frames` (``sign = 1``) on bitshuffle-LZ4 frames, decoded in the kernel.

    Each tile of whole blocks is decoded frame after frame into a buffer of the tile's size
    (:func:`saxs_kernels.bitshuffle.decode_blocks`) and added while it is in the core's cache:
    the decoded frames never go through memory. The sums are the same, bit for bit, as
    :func:`accumulate_frames` on the decoded frames.

    Parameters
    ----------
    lz4, untranspose : int
        Addresses of ``LZ4_decompress_safe`` and ``bshuf_untrans_bit_elem``.
    payload : (bytes,) uint8
        The chunks of the m frames.
    offsets : (m, n_blocks) int64
        Block positions (:func:`saxs_kernels.bitshuffle.block_table`).
    block_elems : int
        Values per block (a multiple of 8).
    like : (0,) array
        An array of the frames' type.
    reset : bool
        Start the sums from their starting values (the first chunk of a stack) instead of
        adding to them.
    failed : (m,) bool
        Set for a frame whose blocks do not decode (its tiles are not added).
    """
    m = offsets.shape[0]
    npix = n.size
    itemsize = like.itemsize
    per_tile = max(1, TILE // block_elems)
    tile = per_tile * block_elems
    n_tiles = (npix + tile - 1) // tile
    part_sum = np.zeros((n_tiles, m))
    part_n = np.zeros((n_tiles, m), dtype=np.int64)
    inv = 1.0 / monitors
    for t in prange(n_tiles):
        lo = t * tile
        hi = min(npix, lo + tile)
        b0 = t * per_tile
        b1 = b0 + (hi - lo + block_elems - 1) // block_elems
        if reset:
            n[lo:hi] = 0
            raw_sum[lo:hi] = 0.0
            mon_sum[lo:hi] = 0.0
            x_sum[lo:hi] = 0.0
            x2_sum[lo:hi] = 0.0
            x_max[lo:hi] = -np.inf
            k_max[lo:hi] = -1
        buffer = np.empty((2, tile), like.dtype)
        scratch = np.empty(block_elems * itemsize, np.uint8)
        width = hi - lo
        for j in range(0, m, 2):
            b = min(j + 1, m - 1)
            if not decode_blocks(lz4, untranspose, payload, offsets[j], b0, b1, npix,
                                 block_elems, itemsize, scratch, buffer[0]):
                failed[j] = True
                continue
            if b > j and not decode_blocks(lz4, untranspose, payload, offsets[b], b0, b1, npix,
                                           block_elems, itemsize, scratch, buffer[1]):
                failed[b] = True
                continue
            sum_a, n_a, sum_b, n_b = _add_frames(
                buffer[0, :width], buffer[1 if b > j else 0, :width], b > j, dark[lo:hi],
                valid[lo:hi], use_dummy, dummy, delta_dummy, inv[j], inv[b], monitors[j],
                monitors[b], frame_ids[j], frame_ids[b], n[lo:hi], raw_sum[lo:hi],
                mon_sum[lo:hi], x_sum[lo:hi], x2_sum[lo:hi], x_max[lo:hi], k_max[lo:hi])
            part_sum[t, j], part_n[t, j] = sum_a, n_a
            if b > j:
                part_sum[t, b], part_n[t, b] = sum_b, n_b
    for j in range(m):
        for t in range(n_tiles):
            frame_sum[frame_ids[j]] += part_sum[t, j]
            frame_n[frame_ids[j]] += part_n[t, j]


@njit(cache=True, parallel=True, nogil=True)
def reject_maxima(threshold, monitors, dark, excluded, n, raw_sum, mon_sum, x_sum, x2_sum,
                  x_max, k_max, rejected):
    """Remove each pixel's largest value where it is a high outlier (a zinger), in place.

    The expectation without the maximum is mu = (x_sum - x_max) / (n - 1); in counts, the frame
    of the maximum expected c = mu * I1 + dark. The maximum is rejected if its counts exceed c
    by more than ``threshold * sqrt(max(c, 1))`` (Poisson). Needs n >= 2; pixels whose maximum
    lies in an ``excluded`` frame (already removed) are not tested. At most one value per pixel
    is rejected. ``rejected`` (P,) bool is set where a value was removed.
    """
    npix = n.shape[0]
    for i in prange(npix):
        if n[i] < 2 or k_max[i] < 0 or excluded[k_max[i]]:
            continue
        mon = monitors[k_max[i]]
        mu = (x_sum[i] - x_max[i]) / (n[i] - 1)
        expected = mu * mon + dark[i]
        raw = x_max[i] * mon + dark[i]
        if raw - expected > threshold * np.sqrt(max(expected, 1.0)):
            n[i] -= 1
            raw_sum[i] -= raw
            mon_sum[i] -= mon
            x_sum[i] -= x_max[i]
            x2_sum[i] -= x_max[i] * x_max[i]
            rejected[i] = True


@njit(cache=True, parallel=True, nogil=True)
def integration_arrays(n, raw_sum, mon_sum, x_sum, x2_sum, dark, flat, valid, monitor_total,
                       data, dark_sum, flat_eff, mask, var_frames):
    """Per-pixel pyFAI inputs of the summed stack, in one pass (outputs filled in place).

    data = raw_sum; mask = no contributing frame or statically invalid; dark_sum = n dark;
    flat_eff = flat * mon_sum / monitor_total (1 where masked); var_frames = mon_sum^2 s^2 / n,
    with s^2 the unbiased frame-to-frame variance of the normalised signal (0 for fewer than 2
    frames). The float outputs may be float32, the type pyFAI's Cython and OpenCL engines
    convert their inputs to (the same rounding, done here in parallel).
    """
    for i in prange(n.size):
        count = n[i]
        masked = count <= 0 or not valid[i]
        mask[i] = masked
        data[i] = raw_sum[i]
        dark_sum[i] = count * dark[i]
        flat_eff[i] = 1.0 if masked else flat[i] * mon_sum[i] / monitor_total
        spread = 0.0
        if count >= 2:
            spread = max((x2_sum[i] - x_sum[i] * x_sum[i] / count) / (count - 1), 0.0)
        var_frames[i] = mon_sum[i] * mon_sum[i] * spread / max(count, 1)
