"""Slow, obvious numpy twins of the numba kernels (no numba), to test the kernels against.

Each twin favours clarity and precision over speed: extended precision (``np.longdouble``,
80-bit on x86-64 Linux) where cancellation matters, explicit sums, full matrices.
"""

from __future__ import annotations

import math

import numpy as np

# Series of F(x) = 3 (sin x - x cos x) / x^3: sum_j (-1)^j 6 (j + 1) x^(2j) / (2j + 3)!.
_SERIES_TERMS = 30
# Below this |x| the twin uses the series; the kernel switches at 1.0, so the two differ.
_SERIES_BELOW = 0.5


def sphere_amplitude(x):
    """F(x) = 3 (sin x - x cos x) / x^3 in extended precision, returned as float64."""
    x = np.abs(np.asarray(x, dtype=np.float64)).astype(np.longdouble)
    out = np.empty_like(x)
    small = x < _SERIES_BELOW
    y = x[small] ** 2
    series = np.zeros_like(y)
    for j in range(_SERIES_TERMS):
        coefficient = np.longdouble((-1) ** j * 6 * (j + 1)) / np.longdouble(
            math.factorial(2 * j + 3))
        series += coefficient * y**j
    out[small] = series
    big = x[~small]
    out[~small] = 3 * (np.sin(big) - big * np.cos(big)) / big**3
    return out.astype(np.float64)


def sphere_form_factor(x):
    """P(x) = F(x)^2, squared in extended precision."""
    f = sphere_amplitude(x).astype(np.longdouble)
    return (f * f).astype(np.float64)


def polydisperse_sphere_intensity(q_nm, radius_nm, volume_weight):
    """sum_j w_j (4/3 pi R_j^3) P(q R_j), with the full (n_q, n_r) matrix."""
    q = np.asarray(q_nm, dtype=np.float64)
    r = np.asarray(radius_nm, dtype=np.float64)
    w = np.asarray(volume_weight, dtype=np.float64)
    x = np.outer(q, r)
    p = sphere_form_factor(x.ravel()).reshape(x.shape).astype(np.longdouble)
    volume = np.longdouble(4) / 3 * np.pi * r.astype(np.longdouble) ** 3
    return (p * (w * volume)[None, :]).sum(axis=1).astype(np.float64)


def sphere_amplitude_envelope(x):
    """min(1, 3/x^2): the envelope of |F(x)|, the scale for absolute errors near zeros of F."""
    x = np.abs(np.asarray(x, dtype=np.float64))
    with np.errstate(divide="ignore"):
        return np.minimum(1.0, 3.0 / x**2)


def accumulate_frames(frames, monitors, dark, valid, dummy, delta_dummy):
    """Per-pixel sums over frames, written out with whole-array numpy (no running state)."""
    frames = np.asarray(frames, dtype=np.float64)
    ok = valid[None, :] & np.ones(frames.shape, dtype=bool)
    if dummy is not None:
        ok &= np.abs(frames - dummy) > delta_dummy
    x = (frames - dark[None, :]) / monitors[:, None]
    n = ok.sum(axis=0)
    raw_sum = np.where(ok, frames, 0).sum(axis=0)
    mon_sum = np.where(ok, monitors[:, None], 0).sum(axis=0)
    x_sum = np.where(ok, x, 0).sum(axis=0)
    x2_sum = np.where(ok, x**2, 0).sum(axis=0)
    masked = np.where(ok, x, -np.inf)
    k_max = np.where(n > 0, masked.argmax(axis=0), -1)
    x_max = masked.max(axis=0)  # -inf where no frame is valid
    frame_sum = np.where(ok, frames - dark[None, :], 0).sum(axis=1)
    return n, raw_sum, mon_sum, x_sum, x2_sum, x_max, k_max, frame_sum, ok.sum(axis=1)


def integration_arrays(n, raw_sum, mon_sum, x_sum, x2_sum, dark, flat, valid, monitor_total,
                       no_data):
    """pyFAI's inputs of a summed stack, whole-array numpy: data, summed dark, effective flat
    and the frame-to-frame variance of the sum."""
    contributes = (n > 0) & valid
    data = np.where(contributes, raw_sum, no_data)
    dark_sum = n * dark
    flat_eff = np.where(contributes, flat * mon_sum / monitor_total, 1.0)
    safe = np.maximum(n, 2)
    spread = np.where(n >= 2, np.maximum((x2_sum - x_sum**2 / safe) / (safe - 1), 0.0), 0.0)
    var_frames = mon_sum**2 * spread / np.maximum(n, 1)
    return data, dark_sum, flat_eff, var_frames


def reject_maxima(threshold, monitors, dark, n, x_sum, x_max, k_max):
    """Which pixels' maximum is a zinger: counts above the others' mean by threshold sigma."""
    out = np.zeros(n.shape, dtype=bool)
    for i in range(n.size):
        if n[i] < 2 or k_max[i] < 0:
            continue
        mon = monitors[k_max[i]]
        expected = (x_sum[i] - x_max[i]) / (n[i] - 1) * mon + dark[i]
        out[i] = x_max[i] * mon + dark[i] - expected > threshold * math.sqrt(max(expected, 1.0))
    return out


def solve_scale_background(model, intensity, weight, b_lo, b_hi):
    """Bounded weighted least squares for (A, b) by brute force over a fine grid refined twice.

    Independent of the kernel's closed form: scipy's bounded linear least squares.
    """
    from scipy.optimize import lsq_linear

    sw = np.sqrt(weight)
    design = np.column_stack([model * sw, sw])
    lo, hi = [0.0, b_lo], [np.inf, b_hi]
    if b_lo == b_hi:  # fixed background
        a = max(float(np.sum(weight * model * (intensity - b_lo)) / np.sum(weight * model**2)),
                0.0)
        return a, b_lo
    res = lsq_linear(design, intensity * sw, bounds=(lo, hi), method="bvls", tol=1e-15)
    return float(res.x[0]), float(res.x[1])


def table_contribution(table, ln_s0, step, size):
    """K(q, size) from a table on a uniform ln-size grid by 4-point Lagrange interpolation,
    written from the Lagrange formula (nodes k-1..k+2 around ln size)."""
    u = (np.log(size) - ln_s0) / step
    k = min(max(int(np.floor(u)), 1), table.shape[0] - 3)
    nodes = np.arange(k - 1, k + 3)
    out = np.zeros(table.shape[1])
    for j in nodes:
        weight = 1.0
        for m in nodes:
            if m != j:
                weight *= (u - m) / (j - m)
        out += weight * table[j]
    return out


def mc_chain(intensity, weight, n_contrib, n_steps, b_lo, b_hi, draw, part):
    """The McSAS greedy chain written plainly: the whole model recomputed at every step.

    ``draw()`` gives the next size (the kernel's generator, so both see the same draws) and
    ``part(size)`` its K(q). Returns the sizes and (A, b, chi2_r).
    """

    def fit(model):
        a, b = solve_scale_background(model, intensity, weight, b_lo, b_hi)
        return a, b, float(np.sum(weight * (intensity - a * model - b) ** 2))

    radii = np.array([draw() for _ in range(n_contrib)])
    a, b, chi2 = fit(sum(part(r) for r in radii))
    for step in range(n_steps):
        trial = radii.copy()
        trial[step % n_contrib] = draw()
        t = fit(sum(part(r) for r in trial))
        if t[2] < chi2:
            radii = trial
            a, b, chi2 = t
    return radii, (a, b, chi2 / intensity.size)


def csr_dense(indptr, indices, data, npix):
    """The CSR matrix (bins x pixels) as a full array."""
    matrix = np.zeros((indptr.size - 1, npix))
    for b in range(indptr.size - 1):
        for k in range(indptr[b], indptr[b + 1]):
            matrix[b, indices[k]] += data[k]
    return matrix


def integrate_frames(frames, indptr, indices, data, dark, norm, dummy, delta_dummy):
    """Per frame f and bin b, with the full matrix C and the valid pixels v_f (not dummy):
    signal = C (v_f (raw - dark)), variance = C^2 (v_f max(raw, 1)), lost_norm = C ((1 - v_f)
    norm), lost_count = C (1 - v_f); and the dummy pixels of the matrix per frame."""
    frames = np.asarray(frames, dtype=np.float64)
    matrix = csr_dense(indptr, indices, data, frames.shape[1])
    in_matrix = matrix.any(axis=0)
    out = []
    dummies = []
    for raw in frames:
        bad = np.zeros(raw.size, bool) if dummy is None else np.abs(raw - dummy) <= delta_dummy
        ok = (~bad).astype(np.float64)
        out.append((matrix @ (ok * (raw - dark)), (matrix**2) @ (ok * np.maximum(raw, 1.0)),
                    matrix @ ((1 - ok) * norm), matrix @ (1 - ok)))
        dummies.append(int((bad & in_matrix).sum()))
    return [np.array(part) for part in zip(*out, strict=True)], np.array(dummies)


def zinger_counts(frames, in_matrix, dark, monitors, threshold, dummy, delta_dummy):
    """Per frame: pixels (of the matrix, valid in the frame and its neighbours) whose counts
    exceed e = dark + M_f (x_{f-1} + x_{f+1}) / 2, x = (raw - dark) / M, by more than
    threshold sqrt(max(e, 1)); one neighbour at the ends."""
    frames = np.asarray(frames, dtype=np.float64)
    n = frames.shape[0]
    valid = np.ones(frames.shape, bool) if dummy is None else \
        np.abs(frames - dummy) > delta_dummy
    x = (frames - dark) / monitors[:, None]
    counts = np.zeros(n, dtype=np.int64)
    for f in range(n):
        near = [g for g in (f - 1, f + 1) if 0 <= g < n]
        if not near:
            continue
        ok = in_matrix & valid[f] & np.all([valid[g] for g in near], axis=0)
        expected = dark + monitors[f] * np.mean([x[g] for g in near], axis=0)
        excess = frames[f] - expected
        hit = (excess > 0) & (excess**2 > threshold**2 * np.maximum(expected, 1.0))
        counts[f] = int((hit & ok).sum())
    return counts
