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
Deterministic: each per-pixel sum adds its frames in stack order, and each frame total is
summed per tile of pixels, then over tiles in tile order, whatever the number of threads and
the chunking. The kernels release the GIL, so the next frames can be read while they run.

Integer frames are added four at a time: each pixel's sums are loaded and stored once for the
four frames (a quarter of the memory traffic), with the same additions in the same order. That
loop must not be compiled with reassociation, which could reorder those additions, so it holds
no floating-point reduction: a frame's total is its exact integer sum of counts, minus the
summed dark of its contributing pixels (computed per tile apart).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit, types
from numba.extending import overload

from saxs_kernels.arrays import readonly
from saxs_kernels.bitshuffle import decode_blocks, tile_blocks
from saxs_kernels.threads import run_ranges

#: Pixels per tile (the unit the kernels' threads share out). A tile's running sums (~200 kB)
#: stay in the core's cache while the chunk's frames are added; frame totals are summed per
#: tile, then over tiles in tile order, so results do not depend on the number of threads.
TILE = 4096

#: Frames added together by :func:`_add_four`.
GROUP = 4

#: For loops whose only reductions are per-tile sums over pixels (one addition per pixel and
#: call): reassociation lets LLVM vectorise them and cannot reorder a per-pixel sum.
_FASTMATH = {"reassoc", "nsz", "contract"}

#: For :func:`_add_four`: contractions into fused multiply-adds and no signed zeros, but no
#: reassociation (its per-pixel sums take four additions in a row).
_NO_REORDER = {"nsz", "contract"}


def _integer_values(array):  # pragma: no cover - replaced by the overload in compiled code
    return array.dtype.kind in "iu"


@overload(_integer_values)
def _integer_values_compiled(array):
    integer = isinstance(array.dtype, types.Integer)
    return lambda array: integer  # noqa: ARG005 - the signature of _integer_values


@njit(cache=True, nogil=True)
def _reset_state(n, raw_sum, mon_sum, x_sum, x2_sum, x_max, k_max):
    """Set the per-pixel running sums to their starting values, in place: zero sums and
    counts, x_max -inf, k_max -1 (no value)."""
    n[:] = 0
    raw_sum[:] = 0.0
    mon_sum[:] = 0.0
    x_sum[:] = 0.0
    x2_sum[:] = 0.0
    x_max[:] = -np.inf
    k_max[:] = -1


class StackState(NamedTuple):
    """The per-pixel running sums of a stack, in the kernels' argument order (pass
    ``*state``): frames counted, summed counts, summed monitor, summed and squared normalised
    signal x, the largest x and its frame."""

    n: np.ndarray
    raw_sum: np.ndarray
    mon_sum: np.ndarray
    x_sum: np.ndarray
    x2_sum: np.ndarray
    x_max: np.ndarray
    k_max: np.ndarray


def pixel_state(npix: int) -> StackState:
    """Running sums for ``npix`` pixels at their starting values."""
    state = StackState(np.empty(npix, np.int32), np.empty(npix), np.empty(npix),
                       np.empty(npix), np.empty(npix), np.empty(npix), np.empty(npix, np.int32))
    return reset_state(state)


def reset_state(state: StackState) -> StackState:
    """``state`` set to its starting values (in place; see :func:`_reset_state`)."""
    _reset_state(*state)
    return state


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _add_frame(row, dark, valid, use_dummy, dummy, delta_dummy, inv, mon, frame_id, n, raw_sum,
               mon_sum, x_sum, x2_sum, x_max, k_max):
    """Add one frame to the sums of one tile; returns the frame's summed signal and count.

    Branch-free (selects and 0/1 weights) so that LLVM vectorises the loop.
    """
    total = 0.0
    count = 0
    kid = np.int32(frame_id)
    for i in range(row.size):
        raw = float(row[i])
        ok = valid[i] & ((not use_dummy) | (abs(raw - dummy) > delta_dummy))
        w = np.float64(ok)
        signal = (raw - dark[i]) * w
        x = signal * inv
        n[i] += np.int32(ok)
        raw_sum[i] += raw * w
        mon_sum[i] += mon * w
        x_sum[i] += x
        x2_sum[i] += x * x
        total += signal
        count += np.int64(ok)
        previous = x_max[i]
        higher = ok & (x > previous)
        x_max[i] = x if higher else previous
        k_max[i] = kid if higher else k_max[i]
    return total, count


@njit(cache=True, nogil=True, fastmath=_NO_REORDER)
def _add_four(row0, row1, row2, row3, used, dark, valid, use_dummy, dummy, delta_dummy, inv,
              mon, ids, n, raw_sum, mon_sum, x_sum, x2_sum, x_max, k_max):
    """Add the first ``used`` (1-4) of four integer frames, in order, to the sums of one tile.

    ``inv``, ``mon``, ``ids``: 1/I1, I1 and frame index of the four (unused entries must be
    finite). An unused frame adds exact zeros. Returns the integer sums of the counts of the
    contributing pixels and their numbers, per frame.
    """
    s0 = s1 = s2 = s3 = np.int64(0)
    c0 = c1 = c2 = c3 = np.int32(0)
    use1 = used > 1
    use2 = used > 2
    use3 = used > 3
    i0, i1, i2, i3 = inv[0], inv[1], inv[2], inv[3]
    m0, m1, m2, m3 = mon[0], mon[1], mon[2], mon[3]
    k0, k1, k2, k3 = np.int32(ids[0]), np.int32(ids[1]), np.int32(ids[2]), np.int32(ids[3])
    for i in range(row0.size):
        static = valid[i]
        d = dark[i]
        r0, r1, r2, r3 = float(row0[i]), float(row1[i]), float(row2[i]), float(row3[i])
        ok0 = static & ((not use_dummy) | (abs(r0 - dummy) > delta_dummy))
        ok1 = static & use1 & ((not use_dummy) | (abs(r1 - dummy) > delta_dummy))
        ok2 = static & use2 & ((not use_dummy) | (abs(r2 - dummy) > delta_dummy))
        ok3 = static & use3 & ((not use_dummy) | (abs(r3 - dummy) > delta_dummy))
        x0 = (r0 - d) * i0 if ok0 else 0.0
        x1 = (r1 - d) * i1 if ok1 else 0.0
        x2 = (r2 - d) * i2 if ok2 else 0.0
        x3 = (r3 - d) * i3 if ok3 else 0.0
        n[i] += np.int32(ok0) + np.int32(ok1) + np.int32(ok2) + np.int32(ok3)
        raw_sum[i] = ((((raw_sum[i] + (r0 if ok0 else 0.0)) + (r1 if ok1 else 0.0))
                       + (r2 if ok2 else 0.0)) + (r3 if ok3 else 0.0))
        mon_sum[i] = ((((mon_sum[i] + (m0 if ok0 else 0.0)) + (m1 if ok1 else 0.0))
                       + (m2 if ok2 else 0.0)) + (m3 if ok3 else 0.0))
        x_sum[i] = (((x_sum[i] + x0) + x1) + x2) + x3
        x2_sum[i] = (((x2_sum[i] + x0 * x0) + x1 * x1) + x2 * x2) + x3 * x3
        s0 += np.int64(row0[i]) if ok0 else np.int64(0)
        s1 += np.int64(row1[i]) if ok1 else np.int64(0)
        s2 += np.int64(row2[i]) if ok2 else np.int64(0)
        s3 += np.int64(row3[i]) if ok3 else np.int64(0)
        c0 += np.int32(ok0)
        c1 += np.int32(ok1)
        c2 += np.int32(ok2)
        c3 += np.int32(ok3)
        best = x_max[i]
        best_k = k_max[i]
        higher = ok0 & (x0 > best)
        best = x0 if higher else best
        best_k = k0 if higher else best_k
        higher = ok1 & (x1 > best)
        best = x1 if higher else best
        best_k = k1 if higher else best_k
        higher = ok2 & (x2 > best)
        best = x2 if higher else best
        best_k = k2 if higher else best_k
        higher = ok3 & (x3 > best)
        x_max[i] = x3 if higher else best
        k_max[i] = k3 if higher else best_k
    return (s0, s1, s2, s3), (c0, c1, c2, c3)


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _dark_where_valid(row, dark, valid, dummy, delta_dummy):
    """Summed dark of the pixels valid in this frame (statically valid, not dummy)."""
    total = 0.0
    for i in range(row.size):
        ok = valid[i] & (abs(float(row[i]) - dummy) > delta_dummy)
        total += dark[i] * np.float64(ok)
    return total


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _static_dark(dark, valid):
    """Summed dark and number of the statically valid pixels of a tile."""
    total = 0.0
    count = 0
    for i in range(dark.size):
        total += dark[i] * np.float64(valid[i])
        count += np.int64(valid[i])
    return total, count


@njit(cache=True, nogil=True)
def _add_tile(frames, m, first, last, dark, valid, static, use_dummy, dummy, delta_dummy, inv,
              mon, ids, n, raw_sum, mon_sum, x_sum, x2_sum, x_max, k_max, totals, counts):
    """Add frames ``frames[:m, first:last]`` (one tile; C-contiguous rows, so that the loops
    vectorise) in order; frame j's summed signal and count go to ``totals[j]``, ``counts[j]``.
    ``inv``, ``mon`` and ``ids`` have ``m + GROUP - 1`` entries (finite padding); ``static``
    is the tile's summed dark and number of valid pixels (:func:`_static_dark`)."""
    if not _integer_values(frames):
        for j in range(m):
            totals[j], counts[j] = _add_frame(
                frames[j, first:last], dark, valid, use_dummy, dummy, delta_dummy, inv[j], mon[j],
                ids[j], n, raw_sum, mon_sum, x_sum, x2_sum, x_max, k_max)
        return
    dark_static, n_static = static
    for j in range(0, m, GROUP):
        used = min(GROUP, m - j)
        rows = (frames[j, first:last], frames[min(j + 1, m - 1), first:last],
                frames[min(j + 2, m - 1), first:last], frames[min(j + 3, m - 1), first:last])
        sums, numbers = _add_four(rows[0], rows[1], rows[2], rows[3], used, dark, valid,
                                  use_dummy, dummy, delta_dummy, inv[j:j + GROUP],
                                  mon[j:j + GROUP], ids[j:j + GROUP], n, raw_sum, mon_sum,
                                  x_sum, x2_sum, x_max, k_max)
        for f in range(used):
            dark_ok = dark_static
            if numbers[f] != n_static:  # pixels that are dummy in this frame (rare)
                dark_ok = _dark_where_valid(rows[f], dark, valid, dummy, delta_dummy)
            totals[j + f] = float(sums[f]) - dark_ok
            counts[j + f] = numbers[f]


@njit(cache=True, nogil=True)
def _padded(values):
    out = np.ones(values.size + GROUP - 1, dtype=values.dtype)
    for i in range(values.size):  # a loop: an array slice assignment compiles for seconds
        out[i] = values[i]
    return out


@njit(cache=True, nogil=True)
def _chunk_arrays(monitors, frame_ids, n_tiles):
    """Per-tile frame totals and counts (zero), and 1/I1, I1 and frame indices padded for
    :func:`_add_four`."""
    m = monitors.size
    return (np.zeros((n_tiles, m)), np.zeros((n_tiles, m), dtype=np.int64),
            _padded(1.0 / monitors), _padded(monitors), _padded(frame_ids))


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


@njit(cache=True, nogil=True)
def _add_parts(frame_ids, part_sum, part_n, frame_sum, frame_n):
    for j in range(frame_ids.size):
        for t in range(part_sum.shape[0]):
            frame_sum[frame_ids[j]] += part_sum[t, j]
            frame_n[frame_ids[j]] += part_n[t, j]


@njit(cache=True, nogil=True)
def _accumulate_frames(t0, t1, frames, dark, valid, use_dummy, dummy, delta_dummy, n,
                       raw_sum, mon_sum, x_sum, x2_sum, x_max, k_max, part_sum, part_n, inv, mon,
                       ids):
    """Add frames to the running sums of the pixel tiles ``t0..t1-1`` in place
    (:func:`add_frames` runs ranges of tiles on its threads).

    Within a tile the chunk's frames are added in stack order, so each pixel's sums are the
    same whatever the chunking and the number of threads. Each tile's per-frame totals go to
    its row of ``part_sum`` / ``part_n`` (from :func:`_chunk_arrays`, with ``inv``, ``mon``,
    ``ids``), added up by :func:`_add_parts`.
    The state comes from :func:`pixel_state` (n and k_max int32, x_max starting at -inf).

    Parameters
    ----------
    frames : (m, P) array
        m frames, flattened to P pixels.
    inv, mon, ids : (m + GROUP - 1,)
        1 / I1, I1 (> 0, checked by the caller) and index in the stack (for ``k_max``) of each
        frame, padded (:func:`_chunk_arrays`).
    dark : (P,) float64
    valid : (P,) bool
        Static validity (mask, flat > 0).
    use_dummy, dummy, delta_dummy : bool, float, float
        Dummy test of each raw value.
    """
    m, npix = frames.shape
    for t in range(t0, t1):
        lo = t * TILE
        hi = min(npix, lo + TILE)
        static = _static_dark(dark[lo:hi], valid[lo:hi])
        _add_tile(frames, m, lo, hi, dark[lo:hi], valid[lo:hi], static, use_dummy, dummy,
                  delta_dummy, inv, mon, ids, n[lo:hi], raw_sum[lo:hi], mon_sum[lo:hi],
                  x_sum[lo:hi], x2_sum[lo:hi], x_max[lo:hi], k_max[lo:hi], part_sum[t],
                  part_n[t])


@njit(cache=True, nogil=True)
def _remove_frames(t0, t1, frames, dark, valid, use_dummy, dummy, delta_dummy, n, raw_sum,
                   mon_sum, x_sum, x2_sum, inv, mon):
    """Take frames (m, P) out of the running sums of the pixel tiles ``t0..t1-1`` in place
    (the per-frame totals are not changed; ``x_max`` and ``k_max`` are left as they were). A
    kernel of its own: a rejected frame needs only this, and it compiles in a fraction of the
    time of :func:`_accumulate_frames`."""
    m, npix = frames.shape
    for t in range(t0, t1):
        lo = t * TILE
        hi = min(npix, lo + TILE)
        for j in range(m):
            _remove_frame(frames[j, lo:hi], dark[lo:hi], valid[lo:hi], use_dummy, dummy,
                          delta_dummy, inv[j], mon[j], n[lo:hi], raw_sum[lo:hi],
                          mon_sum[lo:hi], x_sum[lo:hi], x2_sum[lo:hi])


@njit(cache=True, nogil=True)
def _accumulate_compressed(t0, t1, lz4, untranspose, payload, offsets, block_elems, like,
                           dark, valid, use_dummy, dummy, delta_dummy, reset, n, raw_sum,
                           mon_sum, x_sum, x2_sum, x_max, k_max, part_sum, part_n, inv, mon, ids,
                           failed):
    """:func:`_accumulate_frames` on bitshuffle-LZ4 frames, decoded in the kernel, for the
    tiles ``t0..t1-1`` (tiles of whole blocks: :func:`saxs_kernels.bitshuffle.tile_blocks`).

    Each tile of whole blocks is decoded, four frames at a time, into a buffer of four tiles
    (:func:`saxs_kernels.bitshuffle.decode_blocks`) and added while it is in the core's cache:
    the decoded frames never go through memory. The sums are the same, bit for bit, as
    :func:`_accumulate_frames` on the decoded frames.

    Parameters
    ----------
    lz4, untranspose : int
        Addresses of ``LZ4_decompress_safe`` and ``bshuf_untrans_bit_elem``.
    payload : (bytes,) uint8
        The chunks of the m frames.
    offsets : (m, n_blocks) int64
        Block positions (:func:`saxs_kernels.bitshuffle.block_offsets`).
    block_elems : int
        Values per block (a multiple of 8).
    like : (0,) array
        An array of the frames' type.
    reset : bool
        Start the sums from their starting values (the first chunk of a stack) instead of
        adding to them.
    failed : (m,) bool
        Set for a frame whose blocks do not decode (then nothing is added for its group).
    """
    m = offsets.shape[0]
    npix = n.size
    itemsize = like.itemsize
    per_tile, tile = tile_blocks(block_elems, TILE)
    for t in range(t0, t1):
        lo = t * tile
        hi = min(npix, lo + tile)
        b0 = t * per_tile
        b1 = b0 + (hi - lo + block_elems - 1) // block_elems
        if reset:
            _reset_state(n[lo:hi], raw_sum[lo:hi], mon_sum[lo:hi], x_sum[lo:hi], x2_sum[lo:hi],
                        x_max[lo:hi], k_max[lo:hi])
        static = _static_dark(dark[lo:hi], valid[lo:hi])
        buffer = np.empty((GROUP, tile), like.dtype)
        scratch = np.empty(block_elems * itemsize, np.uint8)
        for j in range(0, m, GROUP):
            used = min(GROUP, m - j)
            decoded = True
            for f in range(used):
                if not decode_blocks(lz4, untranspose, payload, offsets[j + f], b0, b1, npix,
                                     block_elems, itemsize, scratch, buffer[f]):
                    failed[j + f] = True
                    decoded = False
            if decoded:
                _add_tile(buffer, used, 0, hi - lo, dark[lo:hi], valid[lo:hi], static,
                          use_dummy, dummy, delta_dummy, inv[j:], mon[j:], ids[j:], n[lo:hi],
                          raw_sum[lo:hi], mon_sum[lo:hi], x_sum[lo:hi], x2_sum[lo:hi],
                          x_max[lo:hi], k_max[lo:hi], part_sum[t, j:], part_n[t, j:])


@njit(cache=True, nogil=True)
def _reject_maxima(i0, i1, threshold, monitors, dark, excluded, n, raw_sum, mon_sum, x_sum,
                   x2_sum, x_max, k_max, rejected):
    """Remove each pixel's largest value where it is a high outlier (a zinger), in place, for
    the pixels ``i0..i1-1``.

    The expectation without the maximum is mu = (x_sum - x_max) / (n - 1); in counts, the frame
    of the maximum expected c = mu * I1 + dark. The maximum is rejected if its counts exceed c
    by more than ``threshold * sqrt(max(c, 1))`` (Poisson). Needs n >= 2; pixels whose maximum
    lies in an ``excluded`` frame (already removed) are not tested. At most one value per pixel
    is rejected. ``rejected`` (P,) bool is set where a value was removed.
    """
    for i in range(i0, i1):
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


@njit(cache=True, nogil=True)
def _integration_arrays(i0, i1, n, raw_sum, mon_sum, x_sum, x2_sum, dark, flat, valid,
                        monitor_total, no_data, data, dark_sum, flat_eff, var_frames):
    """Per-pixel pyFAI inputs of the summed stack for the pixels ``i0..i1-1``, in one pass
    (outputs filled in place).

    data = raw_sum, or ``no_data`` where no frame contributed or the pixel is statically invalid
    (pyFAI's dummy value: the static mask then stays the same from stack to stack, and pyFAI
    keeps its sparse matrix, which it rebuilds for every new mask); dark_sum = n dark;
    flat_eff = flat * mon_sum / monitor_total (1 where no data); var_frames = mon_sum^2 s^2 / n,
    with s^2 the unbiased frame-to-frame variance of the normalised signal (0 for fewer than 2
    frames). The float outputs may be float32, the type pyFAI's Cython and OpenCL engines
    convert their inputs to (the same rounding, done here on the kernels' threads).
    """
    for i in range(i0, i1):
        count = n[i]
        contributes = count > 0 and valid[i]
        data[i] = raw_sum[i] if contributes else no_data
        dark_sum[i] = count * dark[i]
        flat_eff[i] = flat[i] * mon_sum[i] / monitor_total if contributes else 1.0
        spread = 0.0
        if count >= 2:
            spread = max((x2_sum[i] - x_sum[i] * x_sum[i] / count) / (count - 1), 0.0)
        var_frames[i] = mon_sum[i] * mon_sum[i] * spread / max(count, 1)


# ----------------------------------------------------------------- the kernels' interface


class PixelSettings(NamedTuple):
    """What every frame of a stack shares, per pixel: the dark counts and the static
    validity (float64 and bool, flattened), and the dummy test of each raw value."""

    dark: np.ndarray
    valid: np.ndarray
    use_dummy: bool
    dummy: float
    delta_dummy: float


class FrameTotals(NamedTuple):
    """Per frame of the stack: summed dark-subtracted counts and valid pixels."""

    total: np.ndarray
    pixels: np.ndarray

    @classmethod
    def zeros(cls, n_frames: int) -> FrameTotals:
        """Totals of ``n_frames`` frames, all zero."""
        return cls(np.zeros(n_frames), np.zeros(n_frames, np.int64))


def _settings(pixels: PixelSettings) -> PixelSettings:
    """``pixels`` with its arrays as the kernels take them (read-only float64 and bool)."""
    return pixels._replace(dark=readonly(pixels.dark, np.float64),
                           valid=readonly(pixels.valid, np.bool_))


def add_frames(frames: np.ndarray, frame_ids: np.ndarray, monitors: np.ndarray,
               pixels: PixelSettings, state: StackState, totals: FrameTotals, *,
               sign: int = 1) -> None:
    """Add (``sign`` 1) or take out (-1) decoded frames (m, P) ``frame_ids`` of the stack,
    with their monitors, to the running sums ``state`` and the frame ``totals``, in place."""
    frames = readonly(frames)
    frame_ids = readonly(frame_ids, np.int64)
    monitors = readonly(monitors, np.float64)
    n_tiles = -(-frames.shape[1] // TILE)
    if sign < 0:
        run_ranges(_remove_frames, n_tiles, frames, *_settings(pixels), *state[:5],
                   readonly(1.0 / monitors), monitors)
        return
    parts = _chunk_arrays(monitors, frame_ids, n_tiles)
    run_ranges(_accumulate_frames, n_tiles, frames, *_settings(pixels), *state, *parts)
    _add_parts(frame_ids, parts[0], parts[1], *totals)


def add_stored(stored, like: np.ndarray, frame_ids: np.ndarray, monitors: np.ndarray,
               pixels: PixelSettings, state: StackState, totals: FrameTotals, *,
               reset: bool) -> np.ndarray:
    """:func:`add_frames` for bitshuffle-LZ4 frames as stored (an object with ``decoder``,
    ``payload``, ``offsets``, ``block_elems``: :class:`saxs.frames.CompressedFrames`), decoded
    in the kernel; ``like``: an array of the frames' type; ``reset``: start the sums from
    their starting values. Returns which frames did not decode."""
    failed = np.zeros(stored.offsets.shape[0], dtype=bool)
    frame_ids = readonly(frame_ids, np.int64)
    _, tile = tile_blocks(stored.block_elems, TILE)
    n_tiles = -(-state.n.size // tile)
    parts = _chunk_arrays(readonly(monitors, np.float64), frame_ids, n_tiles)
    run_ranges(_accumulate_compressed, n_tiles, *stored.decoder, readonly(stored.payload),
               readonly(stored.offsets), stored.block_elems, readonly(like),
               *_settings(pixels), bool(reset), *state, *parts, failed)
    _add_parts(frame_ids, parts[0], parts[1], *totals)
    return failed


def reject_zingers(threshold: float, monitors: np.ndarray, dark: np.ndarray,
                   excluded: np.ndarray, state: StackState) -> np.ndarray:
    """Take each pixel's largest value out of ``state`` where it is a zinger (see
    :func:`_reject_maxima`); where one was taken out."""
    rejected = np.zeros(state.n.size, dtype=bool)
    run_ranges(_reject_maxima, rejected.size, float(threshold), readonly(monitors, np.float64),
               readonly(dark), readonly(excluded), *state, rejected, per_range=TILE)
    return rejected


class IntegrationInputs(NamedTuple):
    """pyFAI's per-pixel inputs of a summed stack (flattened, float32 or float64), filled by
    :func:`integration_inputs`: the summed raw counts (``no_data`` where no frame contributed
    or the pixel is statically invalid), the summed dark, the effective flat and the
    frame-to-frame variance of the sum."""

    data: np.ndarray
    dark_sum: np.ndarray
    flat: np.ndarray
    var_frames: np.ndarray


def integration_inputs(sums, dark: np.ndarray, flat: np.ndarray, valid: np.ndarray, *,
                       monitor_total: float, no_data: float,
                       out: IntegrationInputs) -> IntegrationInputs:
    """Fill ``out`` from the running ``sums`` (anything with the per-pixel ``n``, ``raw_sum``,
    ``mon_sum``, ``x_sum``, ``x2_sum`` of :class:`StackState`), the per-pixel ``dark``,
    ``flat`` and static validity (all flattened) and the accepted frames' summed monitor (see
    :func:`_integration_arrays`); returns ``out``."""
    run_ranges(_integration_arrays, sums.n.size, sums.n, sums.raw_sum, sums.mon_sum, sums.x_sum,
               sums.x2_sum, readonly(dark), readonly(flat), readonly(valid),
               float(monitor_total), float(no_data), *out, per_range=TILE)
    return out
