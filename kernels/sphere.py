"""Scattering of homogeneous spheres: amplitude, form factor and polydisperse sums.

The normalised amplitude of a homogeneous sphere of radius R at scattering vector q is

    F(x) = 3 (sin x - x cos x) / x^3,   x = q R,   F(0) = 1,

and its form factor is P(x) = F(x)^2 (Rayleigh, Lord (1911), Proc. R. Soc. A 84, 25;
Guinier, A. & Fournet, G. (1955), *Small-Angle Scattering of X-Rays*, Wiley; SasView's
``sphere`` model uses the same expression).

Numerics.  In the closed form, ``sin x`` and ``x cos x`` are both close to ``x`` while their
difference is ``x^3 / 3``: the rounding error of the difference is amplified by ~3/x^2
(measured: 2e-13 relative at x = 0.05, 5e-14 at 0.1, 2e-15 at 0.5, < 7e-16 for x >= 1).
Below ``TAYLOR_THRESHOLD = 1.0`` the kernels therefore use the Maclaurin series

    F(x) = sum_{j>=0} (-1)^j 6 (j + 1) x^(2j) / (2j + 3)!
         = 1 - x^2/10 + x^4/280 - x^6/15120 + x^8/1330560 - ...

truncated after ``TAYLOR_TERMS = 9`` terms (j = 0..8). The first omitted term is
60 x^18 / 21! <= 1.2e-18 for |x| < 1, and the series alternates with terms decreasing from 1,
so its rounding error is a few ulp. Accuracy of ``sphere_amplitude`` (float64, measured against
an extended-precision evaluation on 1e6 random points in [1e-6, 200]): absolute error
< 1e-15 * min(1, 3/x^2) everywhere (min(1, 3/x^2) is the envelope of |F|), hence relative error
< 1e-15 for |x| <= 4.4, before the first zero of F (x0 = 4.493409457909064). Within a distance d
of a zero x0 of F the relative error grows as ~1e-16 / d: that is the conditioning of F there
(sin x and x cos x cancel), not a property of the method. Valid for any finite x (F is even);
non-finite x gives NaN.

All kernels take 1-D, C-contiguous float64 arrays (validated by the caller), never allocate
arrays of size n_q * n_r, and are deterministic (fixed summation order, no threads).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

#: Below this |x| the amplitude uses the Maclaurin series instead of the closed form.
TAYLOR_THRESHOLD = 1.0
#: Number of series terms used below ``TAYLOR_THRESHOLD`` (j = 0 .. TAYLOR_TERMS - 1).
TAYLOR_TERMS = 9

# Series coefficients c_j = (-1)^j 6 (j + 1) / (2j + 3)!, in powers of y = x^2.
_C0 = 1.0
_C1 = -6.0 * 2.0 / math.factorial(5)
_C2 = 6.0 * 3.0 / math.factorial(7)
_C3 = -6.0 * 4.0 / math.factorial(9)
_C4 = 6.0 * 5.0 / math.factorial(11)
_C5 = -6.0 * 6.0 / math.factorial(13)
_C6 = 6.0 * 7.0 / math.factorial(15)
_C7 = -6.0 * 8.0 / math.factorial(17)
_C8 = 6.0 * 9.0 / math.factorial(19)

_FOUR_THIRDS_PI = 4.0 / 3.0 * math.pi


@njit(cache=True)
def sphere_amplitude_scalar(x: float) -> float:
    """Sphere amplitude F(x) = 3 (sin x - x cos x) / x^3 for one float (see module docstring).

    Series below |x| = 1 (9 terms, truncation < 1.2e-18), closed form above; absolute error
    < 1e-15 * min(1, 3/x^2), relative error < 1e-15 for |x| <= 4.4.
    """
    ax = abs(x)
    if ax < TAYLOR_THRESHOLD:
        y = x * x
        return _C0 + y * (_C1 + y * (_C2 + y * (_C3 + y * (_C4 + y * (
            _C5 + y * (_C6 + y * (_C7 + y * _C8)))))))
    return 3.0 * (math.sin(ax) - ax * math.cos(ax)) / (ax * ax * ax)


@njit(cache=True)
def sphere_amplitude_into(x: np.ndarray, out: np.ndarray) -> None:
    """Write F(x) = 3 (sin x - x cos x) / x^3 element-wise into ``out`` (same length as ``x``).

    Accuracy as :func:`sphere_amplitude_scalar`.
    """
    for i in range(x.shape[0]):
        out[i] = sphere_amplitude_scalar(x[i])


@njit(cache=True)
def sphere_amplitude(x: np.ndarray) -> np.ndarray:
    """Sphere amplitude F(x) = 3 (sin x - x cos x) / x^3 of a 1-D float64 array, F(0) = 1.

    Parameters
    ----------
    x : ndarray of float64, 1-D
        Reduced scattering vector q R (dimensionless); any finite value (F is even).

    Returns
    -------
    ndarray of float64
        F(x). Absolute error < 1e-15 * min(1, 3/x^2); relative error < 1e-15 for |x| <= 4.4
        (the first zero of F is at 4.4934). Series (9 terms) below |x| = 1, closed form above.
    """
    out = np.empty(x.shape[0], dtype=np.float64)
    sphere_amplitude_into(x, out)
    return out


@njit(cache=True)
def sphere_form_factor_into(x: np.ndarray, out: np.ndarray) -> None:
    """Write the sphere form factor P(x) = F(x)^2 element-wise into ``out``.

    Absolute error < 2e-15 * min(1, 9/x^4); relative error < 2e-15 for |x| <= 4.4.
    """
    for i in range(x.shape[0]):
        f = sphere_amplitude_scalar(x[i])
        out[i] = f * f


@njit(cache=True)
def sphere_form_factor(x: np.ndarray) -> np.ndarray:
    """Sphere form factor P(x) = [3 (sin x - x cos x) / x^3]^2 of a 1-D float64 array, P(0) = 1.

    Parameters
    ----------
    x : ndarray of float64, 1-D
        Reduced scattering vector q R.

    Returns
    -------
    ndarray of float64
        P(x). Absolute error < 2e-15 * min(1, 9/x^4) (the envelope of P); relative error
        < 2e-15 for |x| <= 4.4.
    """
    out = np.empty(x.shape[0], dtype=np.float64)
    sphere_form_factor_into(x, out)
    return out


@njit(cache=True)
def polydisperse_sphere_intensity_into(q_nm: np.ndarray, radius_nm: np.ndarray,
                                       volume_weight: np.ndarray, out: np.ndarray) -> None:
    """Overwrite ``out[i]`` with sum_j w_j V_j P(q_i R_j), V_j = 4/3 pi R_j^3 in nm^3.

    Same parameters as :func:`polydisperse_sphere_intensity`; ``out`` has the length of ``q_nm``.
    Cost O(n_q n_r) with O(1) extra memory; the sum over j runs in index order.
    """
    n_r = radius_nm.shape[0]
    for i in range(q_nm.shape[0]):
        q = q_nm[i]
        total = 0.0
        for j in range(n_r):
            r = radius_nm[j]
            f = sphere_amplitude_scalar(q * r)
            total += volume_weight[j] * (_FOUR_THIRDS_PI * r * r * r) * (f * f)
        out[i] = total


@njit(cache=True)
def polydisperse_sphere_intensity(q_nm: np.ndarray, radius_nm: np.ndarray,
                                  volume_weight: np.ndarray) -> np.ndarray:
    """Volume-weighted sum of sphere form factors: I_i = sum_j w_j V_j P(q_i R_j).

    For a population with volume fraction phi and contrast drho, the absolute intensity is
    ``phi * drho**2 * 1e-21 * I`` (1/cm, with drho in 1/cm^2; 1e-21 converts nm^3 to cm^3), when
    ``w_j`` are quadrature weights times the normalised volume-weighted radius density.

    Parameters
    ----------
    q_nm : ndarray of float64, 1-D
        Scattering vector, 1/nm.
    radius_nm : ndarray of float64, 1-D
        Sphere radii R_j, nm.
    volume_weight : ndarray of float64, 1-D, same length as ``radius_nm``
        Weights w_j (for a normalised distribution they sum to 1; any real values accepted,
        e.g. volume fractions of Monte Carlo contributions).

    Returns
    -------
    ndarray of float64, length of ``q_nm``
        sum_j w_j V_j P(q R_j) in nm^3 (times the units of w). Each term carries the error of
        :func:`sphere_form_factor`; the sum adds rounding of order n_r ulp at most.
    """
    out = np.empty(q_nm.shape[0], dtype=np.float64)
    polydisperse_sphere_intensity_into(q_nm, radius_nm, volume_weight, out)
    return out


@njit(cache=True)
def add_sphere_intensity(q_nm: np.ndarray, radius_nm: float, weight: float,
                         out: np.ndarray) -> None:
    """Add one sphere's term in place: ``out[i] += weight * V * P(q_i R)``, V = 4/3 pi R^3 nm^3.

    For incremental model updates (e.g. a Monte Carlo step replacing one contribution: add
    the new radius with +w and the old with -w). Accuracy of each term as
    :func:`sphere_form_factor`; repeated add/remove accumulates rounding of order 1 ulp of
    ``out`` per call, so long chains should recompute the sum now and then.
    """
    scale = weight * (_FOUR_THIRDS_PI * radius_nm * radius_nm * radius_nm)
    for i in range(q_nm.shape[0]):
        f = sphere_amplitude_scalar(q_nm[i] * radius_nm)
        out[i] += scale * (f * f)
