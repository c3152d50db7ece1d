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
per-frame totals are then left as they were. A pixel is "dummy" in a frame if
abs(raw - dummy) <= delta_dummy (ID02.md §1.3).
Float64 throughout; frames may be any integer or float type. Deterministic: fixed summation
order whatever the number of threads. The kernels release the GIL, so the next frames can be
read while they run.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

#: Pixels per block of the parallel loop; frame totals are summed per block, then over blocks
#: in block order, so results do not depend on the number of threads.
BLOCK = 16384


@njit(cache=True, parallel=True, nogil=True)
def accumulate_frames(frames, frame_ids, monitors, dark, valid, use_dummy, dummy, delta_dummy,
                      sign, n, raw_sum, mon_sum, x_sum, x2_sum, x_max, k_max, frame_sum,
                      frame_n):
    """Add (``sign = 1``) or remove (``sign = -1``) frames to the running sums in place.

    Pixels are the outer loop (blocks in parallel) and the chunk's frames the inner one, so each
    pixel's sums stay in registers across the chunk and each pixel adds its frames in stack
    order: the sums are the same whatever the chunking and the number of threads.

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
    n_blocks = (npix + BLOCK - 1) // BLOCK
    part_sum = np.zeros((n_blocks, m))
    part_n = np.zeros((n_blocks, m), dtype=np.int64)
    inv = 1.0 / monitors
    for b in prange(n_blocks):
        for i in range(b * BLOCK, min(npix, (b + 1) * BLOCK)):
            if not valid[i]:
                continue
            d = dark[i]
            c_n, c_raw, c_mon, c_x, c_x2 = n[i], raw_sum[i], mon_sum[i], x_sum[i], x2_sum[i]
            c_max, c_k = x_max[i], k_max[i]
            for j in range(m):
                raw = float(frames[j, i])
                if use_dummy and abs(raw - dummy) <= delta_dummy:
                    continue
                signal = raw - d
                x = signal * inv[j]
                c_n += sign
                c_raw += sign * raw
                c_mon += sign * monitors[j]
                c_x += sign * x
                c_x2 += sign * x * x
                if sign > 0:
                    part_sum[b, j] += signal
                    part_n[b, j] += 1
                    if c_k < 0 or x > c_max:
                        c_max = x
                        c_k = frame_ids[j]
            n[i], raw_sum[i], mon_sum[i], x_sum[i], x2_sum[i] = c_n, c_raw, c_mon, c_x, c_x2
            x_max[i], k_max[i] = c_max, c_k
    if sign > 0:
        for j in range(m):
            for b in range(n_blocks):
                frame_sum[frame_ids[j]] += part_sum[b, j]
                frame_n[frame_ids[j]] += part_n[b, j]


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
