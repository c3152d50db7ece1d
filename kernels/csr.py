"""Per-frame azimuthal integration of batches of frames with one sparse matrix.

The integration matrix is pyFAI's CSR matrix (rows = q bins, columns = pixels, coefficients
c_bi: 1 for the bin of the pixel centre without pixel splitting, the overlap fractions with
bounding-box splitting). The kernels use it pixel-major (:func:`pixel_major`) so that a tile of
pixels, decoded or read once, is scattered into the bins of every frame of a batch while it is
in the core's cache. Per frame f and bin b (pyFAI ``integrate1d`` with the "poisson" error
model, ``engines/preproc.py`` and ``CSR_engine.py``)::

    signal[f, b]   = sum_i c_bi (raw_fi - dark_i)
    variance[f, b] = sum_i c_bi^2 max(1, raw_fi)          (pyFAI's Cython engine: the dark
                                                           adds no variance)
    norm[b]        = sum_i c_bi flat_i pol_i omega_i       (shared by all frames)
    count[b]       = sum_i c_bi

over the pixels i of the matrix (the static mask is already out of it) that are valid in frame
f: a raw value within ``delta_dummy`` of ``dummy`` leaves pixel i out of that frame, and its
share of ``norm`` and ``count`` is recorded in ``lost_norm``/``lost_count``, so that frame f's
normalisation is ``monitor_f * (norm - lost_norm[f])`` (pyFAI's normalization_factor times its
sum). The caller forms I = signal / normalisation and sigma = sqrt(variance) / normalisation.
Sums are float64 (pyFAI sums float32 preprocessed values in float64: the two agree to ~1e-7).

What the kernels add per pixel and frame is the raw value, r[f, b] = sum_i c_bi raw_fi, and the
excess of the variance term over it, e[f, b] = sum_i (c_bi^2 max(1, raw_fi) - c_bi raw_fi),
which is zero for an unsplit pixel (c = 1) with at least one count: most pixels of a frame
then need one addition, not two. The dark enters once per batch, D[b] = sum_i c_bi dark_i,
and signal = r - D, variance = r + e (a pixel left out of frame f adds c_bi dark_i to r and
takes it from e, which cancels it in both).

Determinism: the pixels are cut into :data:`SEGMENTS` fixed ranges of whole tiles; each
segment is summed in pixel order into its own partial sums, and the partial sums are added in
segment order. Results do not depend on the number of threads.

Frame-to-frame zinger flags (never applied to the sums): pixel i of frame f is a zinger
candidate when its counts exceed the expectation from its neighbouring frames,
e = dark + M_f / 2 (x_{f-1} + x_{f+1}) with x = (raw - dark) / M, by more than
``threshold * sqrt(max(e, 1))`` (one neighbour at the ends of the stack). The kernels count
them per frame; the two frames before a batch are carried in ``carry`` arrays so that batches
need not overlap. A pixel whose counts over the batch cannot reach the threshold (from its
smallest and largest value and the spread of the monitors) is not tested further.

Layout: a tile of pixels is held pixel-major (``buffer[pixel, frame]``: the values of one pixel
in all frames of the batch are contiguous), so that the frame loops vectorise and consecutive
pixels of one bin add into m independent sums. Compressed frames are decoded a few at a time
and transposed into it while in the level-1 cache.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from saxs_kernels.arrays import readonly
from saxs_kernels.bitshuffle import decode_blocks, tile_blocks
from saxs_kernels.threads import run_ranges

#: Fixed number of pixel ranges summed apart (the order of the sums is that of the pixels in a
#: range, then of the ranges, whatever the number of threads).
SEGMENTS = 16

#: Pixels per tile (a multiple of the bitshuffle block for compressed frames).
TILE = 2048

#: Frames decoded together before they are written pixel-major into the tile buffer, and the
#: padding of their rows (so that rows read together do not share level-1 cache sets).
TRANSPOSE = 8
ROW_PAD = 16



@njit(cache=True, nogil=True)
def pixel_major(indptr, indices, data, npix):
    """The CSR matrix (rows = bins) as pixel-major lists: ``ptr`` (npix + 1, int64), and per
    entry its bin ``rows`` (int32, increasing within a pixel) and coefficient ``coefs``
    (float64). A counting sort: entries of one pixel keep the order of their rows."""
    nnz = indices.size
    ptr = np.zeros(npix + 1, np.int64)
    for k in range(nnz):
        ptr[indices[k] + 1] += 1
    for p in range(npix):
        ptr[p + 1] += ptr[p]
    fill = ptr[:-1].copy()
    rows = np.empty(nnz, np.int32)
    coefs = np.empty(nnz, np.float64)
    for r in range(indptr.size - 1):
        for k in range(indptr[r], indptr[r + 1]):
            p = indices[k]
            j = fill[p]
            rows[j] = r
            coefs[j] = data[k]
            fill[p] = j + 1
    return ptr, rows, coefs


@njit(cache=True, nogil=True)
def shared_sums(ptr, rows, coefs, norm, n_bins):
    """Per bin: sum_i c_bi norm_i and sum_i c_bi, in pixel order (the frame-independent part)."""
    norm_sum = np.zeros(n_bins)
    count = np.zeros(n_bins)
    for p in range(ptr.size - 1):
        for k in range(ptr[p], ptr[p + 1]):
            norm_sum[rows[k]] += coefs[k] * norm[p]
            count[rows[k]] += coefs[k]
    return norm_sum, count


@njit(cache=True, nogil=True)
def _is_dummy(raw, use_dummy, dummy, delta_dummy):
    return use_dummy & (abs(raw - dummy) <= delta_dummy)


@njit(cache=True, nogil=True)
def _all_valid(values, use_dummy, dummy, delta_dummy):
    """True if no value is dummy or non-finite (branch-free, vectorised)."""
    clean = True
    for k in range(values.size):
        raw = float(values[k])
        clean &= np.isfinite(raw) & ~_is_dummy(raw, use_dummy, dummy, delta_dummy)
    return clean


@njit(cache=True, nogil=True)
def _pixel_slow(values, m, k0, k1, rows, coefs, d, norm_i, use_dummy, dummy, delta_dummy,
                raw_sum, excess, lost_norm, lost_count, lost_any, counts):
    """One pixel of m frames (``values[2:m + 2]``), some of them dummy or non-finite there."""
    for f in range(m):
        raw = float(values[f + 2])
        dummy_here = _is_dummy(raw, use_dummy, dummy, delta_dummy)
        if dummy_here or not np.isfinite(raw):
            if dummy_here:
                counts[0, f + 2] += 1
                lost_any[f] = True
            else:
                counts[1, f + 2] += 1
            for k in range(k0, k1):
                c = coefs[k]
                raw_sum[rows[k], f] += c * d  # cancels its share of the batch's dark sum
                excess[rows[k], f] -= c * d
                if dummy_here:
                    lost_norm[rows[k], f] += c * norm_i
                    lost_count[rows[k], f] += c
            continue
        for k in range(k0, k1):
            c = coefs[k]
            raw_sum[rows[k], f] += c * raw
            excess[rows[k], f] += c * c * max(1.0, raw) - c * raw


@njit(cache=True, nogil=True)
def _zinger_slow(values, m, first_t, d, use_dummy, dummy, delta_dummy, monitors, limit,
                 counts):
    """Zinger test of buffer frames t = max(1, first_t)..m of one pixel whose values include
    dummies or non-finite values (those are not tested, nor used as neighbours)."""
    for t in range(max(1, first_t), m + 1):
        raw = float(values[t])
        hi = float(values[t + 1])
        has_left = t - 1 >= first_t
        lo = float(values[t - 1]) if has_left else hi
        if (_is_dummy(raw, use_dummy, dummy, delta_dummy) or _is_dummy(hi, use_dummy, dummy,
                                                                       delta_dummy)
                or _is_dummy(lo, use_dummy, dummy, delta_dummy)
                or not (np.isfinite(raw) and np.isfinite(lo) and np.isfinite(hi))):
            continue
        if has_left:
            x = 0.5 * ((lo - d) / monitors[t - 1] + (hi - d) / monitors[t + 1])
        else:
            x = (hi - d) / monitors[t + 1]
        expected = d + monitors[t] * x
        excess = raw - expected
        if excess > 0.0 and excess * excess > limit * max(expected, 1.0):
            counts[2, t] += 1


@njit(cache=True, nogil=True)
def _zinger_clean(xs, m, first_t, d, monitors, limit, hits):
    """Zinger test of buffer frames t = max(1, first_t)..m of one pixel valid in all of them,
    on its flux-normalised values ``xs[t] = (raw_t - dark) / M_t`` (branch-free; the frame
    loop runs over offset views so that it vectorises)."""
    start = max(1, first_t)
    if start == first_t:  # the first tested frame has no frame before it: right only
        t = start
        excess = monitors[t] * (xs[t] - xs[t + 1])
        expected = d + monitors[t] * xs[t + 1]
        hits[t] += np.int64((excess > 0.0) & (excess * excess > limit * max(expected, 1.0)))
        start += 1
    n = m + 1 - start
    left = xs[start - 1:m]
    centre = xs[start:m + 1]
    right = xs[start + 1:m + 2]
    mon = monitors[start:m + 1]
    out = hits[start:m + 1]
    for k in range(n):
        around = 0.5 * (left[k] + right[k])
        excess = mon[k] * (centre[k] - around)
        expected = d + mon[k] * around
        floor = expected if expected > 1.0 else 1.0
        out[k] += np.int64(excess * abs(excess) > limit * floor)


@njit(cache=True, nogil=True)
def _extremes(values):
    """Smallest and largest of ``values`` (in their own type: the loop vectorises)."""
    lo = values[0]
    hi = values[0]
    for k in range(values.size):
        v = values[k]
        lo = v if v < lo else lo
        hi = v if v > hi else hi
    return float(lo), float(hi)


@njit(cache=True, nogil=True)
def _may_hold_zinger(lo, hi, d, rho, limit):
    """False when no frame of a pixel can pass the zinger test: a necessary condition from the
    pixel's extreme counts (lo, hi) over the buffer and the monitors' spread
    rho = min M / max M. Every expectation e_t is at least e_low = d + rho (lo - d) (lo >= d)
    or d + (lo - d) / rho (lo < d), and hi - e - threshold sqrt(max(e, 1)) decreases with e,
    so no frame passes when hi - e_low <= threshold sqrt(max(e_low, 1)) (with a margin for
    rounding). Most pixels stop here."""
    low = lo - d
    e_low = d + (rho * low if low >= 0.0 else low / rho)
    gap = (hi - e_low) * 1.000001 + 1e-6
    return gap > 0.0 and gap * gap > limit * max(e_low, 1.0)


@njit(cache=True, nogil=True)
def _tile_frames(buffer, m, n_carried, first, last, ptr, rows, coefs, dark, norm, integer,
                 use_dummy, dummy, delta_dummy, monitors, inv_monitors, rho, threshold, xs,
                 extremes, dark_sum, raw_sum, excess, lost_norm, lost_count, lost_any, counts):
    """Integrate the m frames of one tile, held pixel-major in ``buffer[j, 2:m + 2]`` (columns
    0 and 1: the two frames before, ``n_carried`` of them real), and test frames 1..m of the
    buffer for zingers.

    The m values of a pixel and the m sums of a bin (``raw_sum[b, :m]``) are contiguous, so
    the frame loop vectorises and the additions of consecutive pixels into the same bin are m
    independent chains. ``integer``: the frames hold integers (no value is non-finite, and a
    pixel whose extremes do not bracket the dummy holds no dummy). ``monitors`` and
    ``inv_monitors`` (1 / M) have m + 2 entries (the carried frames first), ``rho`` = min / max
    of the real frames' monitors; ``xs`` is scratch of m + 2, ``extremes`` of (tile, 3);
    ``counts[:, t]`` (t = buffer column) gathers dummy, non-finite and zinger pixels.
    """
    test = threshold > 0.0 and m + n_carried >= 2
    first_t = 2 - n_carried
    for i in range(first, last):
        k0 = ptr[i]
        k1 = ptr[i + 1]
        if k0 == k1:
            continue
        values = buffer[i - first]
        d = dark[i]
        for k in range(k0, k1):
            dark_sum[rows[k]] += coefs[k] * d
        lo, hi = _extremes(values[first_t:m + 2])
        clean = integer and not (use_dummy and lo <= dummy + delta_dummy
                                 and hi >= dummy - delta_dummy)
        if not clean:
            clean = _all_valid(values[first_t:m + 2], use_dummy, dummy, delta_dummy)
        extremes[i - first, 0] = lo
        extremes[i - first, 1] = hi
        extremes[i - first, 2] = 1.0 if clean else 0.0
        if not clean:
            _pixel_slow(values, m, k0, k1, rows, coefs, d, norm[i], use_dummy, dummy,
                        delta_dummy, raw_sum, excess, lost_norm, lost_count, lost_any, counts)
            continue
        frame_values = values[2:m + 2]
        if k1 - k0 == 1 and coefs[k0] == 1.0:  # no pixel splitting: one bin, weight 1
            r_row = raw_sum[rows[k0]]
            if lo >= 1.0:  # c^2 max(1, raw) = c raw: nothing in excess
                for f in range(m):
                    r_row[f] += frame_values[f]
            else:
                e_row = excess[rows[k0]]
                for f in range(m):
                    raw = float(frame_values[f])
                    r_row[f] += raw
                    e_row[f] += max(0.0, 1.0 - raw)
        else:
            for k in range(k0, k1):
                c = coefs[k]
                c2 = c * c
                r_row = raw_sum[rows[k]]
                e_row = excess[rows[k]]
                for f in range(m):
                    raw = float(frame_values[f])
                    r_row[f] += c * raw
                    e_row[f] += c2 * max(1.0, raw) - c * raw
    if test:
        _tile_zingers(buffer, m, first_t, first, last, ptr, dark, use_dummy, dummy, delta_dummy,
                      monitors, inv_monitors, rho, threshold * threshold, xs, extremes, counts)


@njit(cache=True, nogil=True)
def _tile_zingers(buffer, m, first_t, first, last, ptr, dark, use_dummy, dummy, delta_dummy,
                  monitors, inv_monitors, rho, limit, xs, extremes, counts):
    """The zinger test of one tile's pixels (after their integration, in a loop of its own):
    a cheap necessary condition first (:func:`_may_hold_zinger`, on the extremes and validity
    found by the integration), then the test."""
    for i in range(first, last):
        if ptr[i] == ptr[i + 1]:
            continue
        d = dark[i]
        row = extremes[i - first]
        if not _may_hold_zinger(row[0], row[1], d, rho, limit):
            continue
        values = buffer[i - first]
        if row[2] == 0.0:
            _zinger_slow(values, m, first_t, d, use_dummy, dummy, delta_dummy, monitors,
                         limit, counts)
            continue
        for t in range(first_t, m + 2):
            xs[t] = (float(values[t]) - d) * inv_monitors[t]
        _zinger_clean(xs, m, first_t, d, monitors, limit, counts[2])


@njit(cache=True, nogil=True)
def _segment_bounds(n_tiles, s):
    return (s * n_tiles) // SEGMENTS, ((s + 1) * n_tiles) // SEGMENTS


@njit(cache=True, nogil=True)
def _holds_integers(array):
    """True for an integer array (a half does not survive in its type)."""
    probe = np.empty(1, array.dtype)
    probe[0] = 0.5
    return probe[0] == 0


@njit(cache=True, nogil=True)
def _reduce_segments(part_dark, part_signal, part_variance, part_lost_norm, part_lost_count,
                     lost_any, part_counts, signal, variance, lost_norm, lost_count, counts):
    """Add the per-segment sums (bins x frames) in segment order into the outputs (frames x
    bins; filled, not added to): signal = raw sum - dark sum, variance = raw sum + excess.
    Serial: SEGMENTS x bins x frames additions, ~1 ms (a parallel loop cost seconds of
    compilation on a first run)."""
    m, n_bins = signal.shape
    dark_sum = np.zeros(n_bins)
    for b in range(n_bins):
        for g in range(SEGMENTS):
            dark_sum[b] += part_dark[g, b]
    for f in range(m):
        for b in range(n_bins):
            s = 0.0
            v = 0.0
            ln = 0.0
            lc = 0.0
            for g in range(SEGMENTS):
                s += part_signal[g, b, f]
                v += part_variance[g, b, f]
                if lost_any[g, f]:
                    ln += part_lost_norm[g, b, f]
                    lc += part_lost_count[g, b, f]
            signal[f, b] = s - dark_sum[b]
            variance[f, b] = s + v
            lost_norm[f, b] = ln
            lost_count[f, b] = lc
    for j in range(counts.shape[0]):
        for t in range(counts.shape[1]):
            total = 0
            for g in range(SEGMENTS):
                total += part_counts[g, j, t]
            counts[j, t] = total


@njit(cache=True, nogil=True)
def _start_segment(g, part_dark, part_signal, part_variance, part_lost_norm, part_lost_count,
                   lost_any, part_counts):
    part_dark[g] = 0.0
    part_signal[g] = 0.0
    part_variance[g] = 0.0
    part_lost_norm[g] = 0.0
    part_lost_count[g] = 0.0
    lost_any[g] = False
    part_counts[g] = 0


@njit(cache=True, nogil=True)
def _transpose_into(decoded, group, n, buffer, column):
    """``buffer[j, column + f] = decoded[f, j]`` for f < group, j < n: a few decoded rows (in
    the level-1 cache, their starts apart by :data:`ROW_PAD`) into the pixel-major buffer."""
    for j in range(n):
        out = buffer[j, column:column + group]
        for f in range(group):
            out[f] = decoded[f, j]


@njit(cache=True, nogil=True)
def _load_carry(buffer, carry, lo, hi):
    for j in range(hi - lo):
        buffer[j, 0] = carry[0, lo + j]
        buffer[j, 1] = carry[1, lo + j]


@njit(cache=True, nogil=True)
def _store_carry(buffer, carry, m, lo, hi):
    for j in range(hi - lo):
        carry[0, lo + j] = buffer[j, m]
        carry[1, lo + j] = buffer[j, m + 1]


@njit(cache=True, nogil=True)
def _integrate_frames(g0, g1, frames, carry, n_carried, monitors, ptr, rows, coefs, dark, norm,
                      use_dummy, dummy, delta_dummy, threshold, part_dark, part_signal,
                      part_variance, part_lost_norm, part_lost_count, lost_any, part_counts):
    """Integrate m frames (decoded, shape (m, npix), any numeric type) into the per-segment
    sums of the segments ``g0..g1-1`` (the kernel behind :func:`integrate_pass`, which runs
    ranges of segments on its threads and adds the segments up with
    :func:`_reduce_segments`).

    Parameters
    ----------
    frames : (m, npix) array
    carry : (2, npix) array of the frames' type
        The two frames before these (oldest first), ``n_carried`` (0-2) of them real; replaced
        by the last two frames on return (for the next batch's zinger test).
    monitors : (m + 2,) float64
        Monitor of the carried frames then of the m frames (> 0; unused entries finite).
    ptr, rows, coefs : the pixel-major matrix (:func:`pixel_major`), n_bins rows.
    dark, norm : (npix,) float64
        Dark counts and flat * polarisation * relative solid angle per pixel.
    use_dummy, dummy, delta_dummy : the dynamic mask test.
    threshold : float
        Zinger threshold in Poisson standard deviations (<= 0: no test).
    part_* : per-segment work arrays: part_dark (SEGMENTS, n_bins), part_signal ...
        (SEGMENTS, n_bins, >= m) float64, lost_any (SEGMENTS, >= m) bool, part_counts
        (SEGMENTS, 3, >= m + 2) int64; the rows of these segments are overwritten.
        part_counts holds per buffer frame (carried frames first) the dummy, non-finite and
        zinger pixels. The zinger row is final for buffer frames 1..m (frame m - 1 of this
        batch is tested with the next batch, or by :func:`last_frame_zingers`).
    """
    m, npix = frames.shape
    n_tiles = (npix + TILE - 1) // TILE
    inv_monitors = 1.0 / monitors
    rho = monitors[2 - n_carried:].min() / monitors[2 - n_carried:].max()
    integer = _holds_integers(frames)
    for g in range(g0, g1):
        _start_segment(g, part_dark, part_signal, part_variance, part_lost_norm,
                       part_lost_count, lost_any, part_counts)
        t0, t1 = _segment_bounds(n_tiles, g)
        buffer = np.empty((TILE, m + 2), frames.dtype)
        xs = np.empty(m + 2)
        extremes = np.empty((TILE, 3))
        for t in range(t0, t1):
            lo = t * TILE
            hi = min(npix, lo + TILE)
            _load_carry(buffer, carry, lo, hi)
            for f in range(m):
                for j in range(hi - lo):
                    buffer[j, f + 2] = frames[f, lo + j]
            _tile_frames(buffer, m, n_carried, lo, hi, ptr, rows, coefs, dark, norm, integer,
                         use_dummy, dummy, delta_dummy, monitors, inv_monitors, rho, threshold,
                         xs, extremes, part_dark[g], part_signal[g], part_variance[g],
                         part_lost_norm[g], part_lost_count[g], lost_any[g], part_counts[g])
            _store_carry(buffer, carry, m, lo, hi)


@njit(cache=True, nogil=True)
def _integrate_compressed(g0, g1, lz4, untranspose, payload, offsets, block_elems, carry,
                          n_carried, monitors, ptr, rows, coefs, dark, norm, use_dummy, dummy,
                          delta_dummy, threshold, part_dark, part_signal, part_variance,
                          part_lost_norm, part_lost_count, lost_any, part_counts, failed):
    """:func:`_integrate_frames` on bitshuffle-LZ4 frames decoded tile by tile in the kernel
    (:func:`saxs_kernels.bitshuffle.decode_blocks`): no decoded frame goes through memory.

    ``payload``, ``offsets`` (m, n_blocks), ``block_elems``: the frames as stored
    (:func:`saxs_kernels.bitshuffle.block_offsets`); ``carry`` has the frames' type. Tiles are
    whole blocks (:func:`saxs_kernels.bitshuffle.tile_blocks`). ``failed[f]`` is set for a
    frame whose blocks do not decode (its sums are then incomplete: the caller must raise).
    """
    m = offsets.shape[0]
    npix = carry.shape[1]
    itemsize = carry.itemsize
    per_tile, tile = tile_blocks(block_elems, TILE)
    n_tiles = (npix + tile - 1) // tile
    inv_monitors = 1.0 / monitors
    rho = monitors[2 - n_carried:].min() / monitors[2 - n_carried:].max()
    integer = _holds_integers(carry)
    for g in range(g0, g1):
        _start_segment(g, part_dark, part_signal, part_variance, part_lost_norm,
                       part_lost_count, lost_any, part_counts)
        t0, t1 = _segment_bounds(n_tiles, g)
        buffer = np.empty((tile, m + 2), carry.dtype)
        decoded = np.empty((TRANSPOSE, tile + ROW_PAD), carry.dtype)
        xs = np.empty(m + 2)
        extremes = np.empty((tile, 3))
        scratch = np.empty(block_elems * itemsize, np.uint8)
        for t in range(t0, t1):
            lo = t * tile
            hi = min(npix, lo + tile)
            b0 = t * per_tile
            b1 = b0 + (hi - lo + block_elems - 1) // block_elems
            _load_carry(buffer, carry, lo, hi)
            for f0 in range(0, m, TRANSPOSE):
                group = min(TRANSPOSE, m - f0)
                for f in range(group):
                    if not decode_blocks(lz4, untranspose, payload, offsets[f0 + f], b0, b1,
                                         npix, block_elems, itemsize, scratch, decoded[f]):
                        failed[f0 + f] = True
                _transpose_into(decoded, group, hi - lo, buffer, f0 + 2)
            _tile_frames(buffer, m, n_carried, lo, hi, ptr, rows, coefs, dark, norm, integer,
                         use_dummy, dummy, delta_dummy, monitors, inv_monitors, rho, threshold,
                         xs, extremes, part_dark[g], part_signal[g], part_variance[g],
                         part_lost_norm[g], part_lost_count[g], lost_any[g], part_counts[g])
            _store_carry(buffer, carry, m, lo, hi)


@njit(cache=True, nogil=True)
def _zingers_of_last(carry, ptr, dark, use_dummy, dummy, delta_dummy, mon_before, mon_last,
                     threshold):
    """Zinger pixels of the last frame of a stack (``carry[1]``), against the frame before it
    (``carry[0]``) only (serial: one frame, once per stack)."""
    npix = carry.shape[1]
    n_tiles = (npix + TILE - 1) // TILE
    found = np.zeros(n_tiles, np.int64)
    limit = threshold * threshold
    for t in range(n_tiles):
        for i in range(t * TILE, min(npix, (t + 1) * TILE)):
            if ptr[i] == ptr[i + 1]:
                continue
            raw = float(carry[1, i])
            lo = float(carry[0, i])
            if (_is_dummy(raw, use_dummy, dummy, delta_dummy)
                    or _is_dummy(lo, use_dummy, dummy, delta_dummy)
                    or not (np.isfinite(raw) and np.isfinite(lo))):
                continue
            expected = dark[i] + mon_last * (lo - dark[i]) / mon_before
            excess = raw - expected
            if excess > 0.0 and excess * excess > limit * max(expected, 1.0):
                found[t] += 1
    return found.sum()


# ----------------------------------------------------------------- the kernels' interface


class PixelCorrections(NamedTuple):
    """What every frame of a stack shares: the pixel-major matrix (:func:`pixel_major`),
    dark and flat * polarisation * solid angle per pixel, the dummy test, the zinger threshold
    (Poisson sigmas, <= 0: no test)."""

    ptr: np.ndarray
    rows: np.ndarray
    coefs: np.ndarray
    dark: np.ndarray
    norm: np.ndarray
    use_dummy: bool
    dummy: float
    delta_dummy: float
    threshold: float


class PassWork(NamedTuple):
    """Per-segment work arrays for passes of up to m frames (:func:`pass_work`)."""

    signal: np.ndarray
    variance: np.ndarray
    lost_norm: np.ndarray
    lost_count: np.ndarray
    lost_any: np.ndarray
    counts: np.ndarray


class PassSums(NamedTuple):
    """Per frame of a pass and bin: signal, variance, normalisation and pixel count lost to
    dummies; ``counts`` (3, m + 2): dummy, non-finite and zinger pixels per buffer frame (the
    two carried frames first); ``failed``: frames that did not decode."""

    signal: np.ndarray
    variance: np.ndarray
    lost_norm: np.ndarray
    lost_count: np.ndarray
    counts: np.ndarray
    failed: np.ndarray


def pass_work(m: int, n_bins: int) -> PassWork:
    """Work arrays for passes of up to ``m`` frames into ``n_bins`` bins."""
    parts = [np.zeros((SEGMENTS, n_bins, m)) for _ in range(4)]
    return PassWork(*parts, np.zeros((SEGMENTS, m), dtype=bool),
                    np.zeros((SEGMENTS, 3, m + 2), dtype=np.int64))


def integrate_pass(frames, carry: np.ndarray, n_carried: int, monitors: np.ndarray,
                   pixels: PixelCorrections, work: PassWork) -> PassSums:
    """Integrate one pass of m frames: ``frames`` decoded, an (m, npix) array, or stored
    bitshuffle-LZ4 (an object with ``decoder``, ``payload``, ``offsets``, ``block_elems``:
    :class:`saxs.frames.CompressedFrames`), decoded tile by tile in the kernel.

    ``carry`` (2, npix) holds the two frames before (``n_carried`` of them real) and is
    replaced by the last two; ``monitors`` has m + 2 entries (the carried frames first). The
    zinger counts are final for buffer frames 1..m (see :func:`_integrate_frames`)."""
    compressed = hasattr(frames, "payload")
    m = frames.offsets.shape[0] if compressed else frames.shape[0]
    n_bins = work.signal.shape[1]
    sums = PassSums(*(np.empty((m, n_bins)) for _ in range(4)),
                    np.zeros((3, m + 2), dtype=np.int64), np.zeros(m, dtype=bool))
    pixels = pixels._replace(**{name: readonly(getattr(pixels, name))
                                for name in ("ptr", "rows", "coefs", "dark", "norm")})
    part_dark = np.empty((SEGMENTS, n_bins))
    common = (carry, int(n_carried), readonly(monitors, np.float64), *pixels, part_dark, *work)
    if compressed:
        run_ranges(_integrate_compressed, SEGMENTS, *frames.decoder, readonly(frames.payload),
                   readonly(frames.offsets), frames.block_elems, *common, sums.failed)
    else:
        run_ranges(_integrate_frames, SEGMENTS, readonly(frames), *common)
    _reduce_segments(part_dark, *work, *sums[:5])
    return sums


def last_frame_zingers(carry: np.ndarray, monitors: tuple[float, float],
                       pixels: PixelCorrections) -> int:
    """Zinger pixels of a stack's last frame (``carry[1]``, left by the last
    :func:`integrate_pass`) against the frame before it (``carry[0]``); ``monitors``: theirs
    (before, last). 0 when ``pixels`` sets no zinger test."""
    if pixels.threshold <= 0:
        return 0
    return int(_zingers_of_last(carry, readonly(pixels.ptr), readonly(pixels.dark),
                                pixels.use_dummy, pixels.dummy, pixels.delta_dummy,
                                float(monitors[0]), float(monitors[1]), float(pixels.threshold)))
