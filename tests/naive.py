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
