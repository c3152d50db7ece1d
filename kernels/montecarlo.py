"""The McSAS Monte Carlo chain for any particle shape, compiled whole (Bressler et al. 2015,
J. Appl. Cryst. 48, 962; the algorithm as McSAS3 implements it, MCSAS3.md §1-2).

Model: I(q) = A * M(q) + b [+ c (q_min / q)^4, optional, c >= 0] with
M(q) = sum_c K_c(q), K_c(q) = V(s_c) P(q, s_c) (nm^3), one equal volume share per contribution.
A step replaces contribution c = step mod n (cycled) by
a fresh size, refits (A, b) by weighted linear least squares in closed form and keeps the
change only if chi^2 decreases (greedy). chi^2_r = sum w (I - A M - b)^2 / N, w = 1/sigma^2.

K(q_i, s) comes from a table precomputed for the fitted q on a uniform grid in ln s
(``table[k, i]`` = K(q_i, s_k), ln s_k = ln_s0 + k h) by 4-point (cubic) Lagrange
interpolation in ln s (:func:`table_contribution`); the table and its interpolation error are
built and checked by ``saxs.models.table``. A step costs the same for every shape.

Per step the cost is O(n_q): one new K_c (4 n_q multiply-adds), the sums
S_M = sum w M, S_MM = sum w M^2, S_MI = sum w M I for the trial model, and chi^2 from the
sums in O(1) (with the q^-4 term, S_p, S_pp, S_pI and S_Mp as well):

    chi^2 = S_II - 2 A S_MI - 2 b S_I + A^2 S_MM + 2 A b S_M + b^2 S_1

(A, b) minimise that quadratic over A >= 0 and b in [b_lo, b_hi]: the interior solution if
feasible, else the best of the boundary candidates (exact for a convex quadratic on a box).

Randomness: each repetition owns a xorshift64* generator (Vigna 2016, ACM TOMS 42, 30)
seeded through splitmix64 from ``seed + r``, so results are bit-identical whatever the
number of threads.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from saxs_kernels.arrays import readonly
from saxs_kernels.threads import run_ranges

_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


@njit(cache=True)
def splitmix64(x):
    """One splitmix64 output for the 64-bit input ``x`` (seeding)."""
    z = np.uint64(x) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True)
def next_uniform(state):
    """Advance the xorshift64* ``state`` (1-element uint64 array); uniform double in [0, 1)."""
    x = state[0]
    x ^= x >> np.uint64(12)
    x ^= x << np.uint64(25)
    x ^= x >> np.uint64(27)
    state[0] = x
    r = x * np.uint64(2685821657736338717)
    return float(r >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True)
def draw_radius(state, r_min, r_max, log_random):
    """A radius uniform (or log-uniform) in [r_min, r_max]."""
    u = next_uniform(state)
    if log_random:
        return math.exp(math.log(r_min) + u * (math.log(r_max) - math.log(r_min)))
    return r_min + u * (r_max - r_min)


@njit(cache=True)
def lagrange_weights(u):
    """Node index k and the 4 cubic Lagrange weights at t = u - k for nodes k-1 .. k+2.

    ``u`` is the position in grid steps; the caller keeps 1 <= k <= n - 3.
    """
    k = math.floor(u)
    t = u - k
    tm1 = t - 1.0
    tm2 = t - 2.0
    tp1 = t + 1.0
    return (k, -t * tm1 * tm2 / 6.0, tp1 * tm1 * tm2 / 2.0, -tp1 * t * tm2 / 2.0,
            tp1 * t * tm1 / 6.0)


@njit(cache=True)
def table_contribution(table, ln_s0, inv_h, size, out):
    """out[i] = K(q_i, size) by cubic Lagrange interpolation of ``table`` in ln s.

    ``table`` (n_s, n_q), ln s_k = ln_s0 + k / inv_h; ``size`` must lie in
    [s_1, s_(n-2)] (the table builder pads one node below and two above the drawn range).
    """
    u = (math.log(size) - ln_s0) * inv_h
    k, w0, w1, w2, w3 = lagrange_weights(u)
    k = min(max(k, 1), table.shape[0] - 3)
    t0 = table[k - 1]
    t1 = table[k]
    t2 = table[k + 1]
    t3 = table[k + 2]
    for i in range(out.size):
        out[i] = w0 * t0[i] + w1 * t1[i] + w2 * t2[i] + w3 * t3[i]


@njit(cache=True)
def chi2_from_sums(a, b, s1, si, sii, sm, smm, smi):
    """sum w (I - a M - b)^2 from the weighted sums."""
    return sii - 2 * a * smi - 2 * b * si + a * a * smm + 2 * a * b * sm + b * b * s1


@njit(cache=True)
def solve_scale_background(s1, si, sii, sm, smm, smi, b_lo, b_hi):
    """(A, b, chi^2) minimising chi^2 over A >= 0, b_lo <= b <= b_hi (closed form)."""
    best_a, best_b, best = 0.0, 0.0, np.inf
    det = smm * s1 - sm * sm
    if det > 0:  # interior
        a = (smi * s1 - sm * si) / det
        b = (smm * si - sm * smi) / det
        if a >= 0 and b_lo <= b <= b_hi:
            return a, b, chi2_from_sums(a, b, s1, si, sii, sm, smm, smi)
    for k in range(2):  # b on a bound, A optimal and >= 0
        b = b_lo if k == 0 else b_hi
        a = max((smi - b * sm) / smm, 0.0) if smm > 0 else 0.0
        c = chi2_from_sums(a, b, s1, si, sii, sm, smm, smi)
        if c < best:
            best_a, best_b, best = a, b, c
    b = min(max(si / s1, b_lo), b_hi)  # A = 0
    c = chi2_from_sums(0.0, b, s1, si, sii, sm, smm, smi)
    if c < best:
        best_a, best_b, best = 0.0, b, c
    return best_a, best_b, best


@njit(cache=True)
def _solve_small(a, b, out):
    """Solve a x = b (n <= 3) by Gaussian elimination with partial pivoting into ``out``
    (``a`` and ``b`` are overwritten); False when det(a) is 0 to within 1e-300. (numpy's
    solver in numba compiles LAPACK bindings and their error messages: seconds.)"""
    n = b.size
    det = 1.0
    for col in range(n):
        pivot = col
        for row in range(col + 1, n):
            if abs(a[row, col]) > abs(a[pivot, col]):
                pivot = row
        if pivot != col:
            det = -det
            for k in range(n):
                a[col, k], a[pivot, k] = a[pivot, k], a[col, k]
            b[col], b[pivot] = b[pivot], b[col]
        det *= a[col, col]
        if a[col, col] == 0.0:
            return False
        for row in range(col + 1, n):
            factor = a[row, col] / a[col, col]
            for k in range(col, n):
                a[row, k] -= factor * a[col, k]
            b[row] -= factor * b[col]
    if abs(det) <= 1e-300:
        return False
    for row in range(n - 1, -1, -1):
        value = b[row]
        for k in range(row + 1, n):
            value -= a[row, k] * out[k]
        out[row] = value / a[row, row]
    return True


@njit(cache=True)
def solve_bounded(gram, rhs, sii, lower, upper):
    """Minimise sii - 2 rhs.x + x.G.x over lower <= x <= upper (n <= 3), exactly.

    Every pattern of active bounds is tried (each variable free, at its lower or at its upper
    bound; infinite bounds are never active): the reduced normal equations are solved, the
    feasible solutions compared. For a convex quadratic the best feasible stationary point of
    some pattern is the constrained minimum (KKT). Returns (x, chi^2).
    """
    n = rhs.size
    best = np.inf
    best_x = np.zeros(n)
    x = np.empty(n)
    states = np.empty(n, dtype=np.int64)
    for code in range(3**n):
        rest = code
        ok = True
        for k in range(n):
            states[k] = rest % 3  # 0 free, 1 lower, 2 upper
            rest //= 3
            if states[k] == 1 and not np.isfinite(lower[k]):
                ok = False
            if states[k] == 2 and not np.isfinite(upper[k]):
                ok = False
            if states[k] == 0 and lower[k] == upper[k]:
                ok = False
        if not ok:
            continue
        free = np.empty(n, dtype=np.int64)
        n_free = 0
        for k in range(n):
            if states[k] == 0:
                free[n_free] = k
                n_free += 1
            else:
                x[k] = lower[k] if states[k] == 1 else upper[k]
        if n_free:
            a = np.empty((n_free, n_free))
            b = np.empty(n_free)
            for i in range(n_free):
                b[i] = rhs[free[i]]
                for j in range(n):
                    if states[j] != 0:
                        b[i] -= gram[free[i], j] * x[j]
                for j in range(n_free):
                    a[i, j] = gram[free[i], free[j]]
            sol = np.empty(n_free)
            if not _solve_small(a, b, sol):
                continue
            for i in range(n_free):
                x[free[i]] = sol[i]
                if sol[i] < lower[free[i]] or sol[i] > upper[free[i]]:
                    ok = False
            if not ok:
                continue
        value = sii
        for i in range(n):
            value -= 2 * rhs[i] * x[i]
            for j in range(n):
                value += x[i] * gram[i, j] * x[j]
        if value < best:
            best = value
            for i in range(n):  # a loop: an array slice assignment compiles for seconds
                best_x[i] = x[i]
    return best_x, best


@njit(cache=True)
def _fit(s1, si, sii, sm, smm, smi, sp, spp, spi, smp, b_lo, b_hi, porod):
    """(A, b, c, chi^2): closed form for (A, b); with the q^-4 term the 3-variable solver."""
    if not porod:
        a, b, chi2 = solve_scale_background(s1, si, sii, sm, smm, smi, b_lo, b_hi)
        return a, b, 0.0, chi2
    gram = np.array([[smm, sm, smp], [sm, s1, sp], [smp, sp, spp]])
    rhs = np.array([smi, si, spi])
    lower = np.array([0.0, b_lo, 0.0])
    upper = np.array([np.inf, b_hi, np.inf])
    x, chi2 = solve_bounded(gram, rhs, sii, lower, upper)
    return x[0], x[1], x[2], chi2


#: The columns of a repetition's statistics row, in order (the kernels write them by these
#: indices; :class:`ChainStats` gives them back by name).
STATS = ("scale", "background", "chi2_r", "steps", "accepted", "converged", "porod")
SCALE, BACKGROUND, CHI2_R, STEPS, ACCEPTED, CONVERGED, POROD = range(len(STATS))


class ChainStats(NamedTuple):
    """Per repetition: scale A, background b, final chi2_r, steps tried, steps accepted,
    whether chi2_r reached the criterion, Porod coefficient c."""

    scale: np.ndarray
    background: np.ndarray
    chi2_r: np.ndarray
    steps: np.ndarray
    accepted: np.ndarray
    converged: np.ndarray
    porod: np.ndarray

    @classmethod
    def from_rows(cls, stats: np.ndarray) -> ChainStats:
        """From the kernels' (n_rep, len(STATS)) rows."""
        return cls(scale=stats[:, SCALE].copy(), background=stats[:, BACKGROUND].copy(),
                   chi2_r=stats[:, CHI2_R].copy(), steps=stats[:, STEPS].astype(np.int64),
                   accepted=stats[:, ACCEPTED].astype(np.int64),
                   converged=stats[:, CONVERGED] > 0.5, porod=stats[:, POROD].copy())


@njit(cache=True)
def _run_chain(table, ln_s0, inv_h, intensity, weight, r_min, r_max, log_random, n_contrib,
               max_iter, conv_crit, b_lo, b_hi, seed, porod, porod_term, radii, model, stats):
    """One repetition, in place: ``radii`` (n_contrib) = the sizes, ``model`` (n_q) = final
    M(q), ``stats`` = the row of :data:`STATS`; with ``porod`` the model has an extra
    c * porod_term (c >= 0). K comes from ``table`` (see :func:`table_contribution`)."""
    n_q = intensity.size
    state = np.empty(1, dtype=np.uint64)
    state[0] = splitmix64(np.uint64(seed)) | np.uint64(1)
    parts = np.empty((n_contrib, n_q))
    model[:] = 0.0
    for c in range(n_contrib):
        radii[c] = draw_radius(state, r_min, r_max, log_random)
        table_contribution(table, ln_s0, inv_h, radii[c], parts[c])
        for i in range(n_q):
            model[i] += parts[c, i]
    s1 = si = sii = sm = smm = smi = sp = spp = spi = smp = 0.0
    for i in range(n_q):
        w = weight[i]
        s1 += w
        si += w * intensity[i]
        sii += w * intensity[i] * intensity[i]
        sm += w * model[i]
        smm += w * model[i] * model[i]
        smi += w * model[i] * intensity[i]
        if porod:
            sp += w * porod_term[i]
            spp += w * porod_term[i] * porod_term[i]
            spi += w * porod_term[i] * intensity[i]
            smp += w * model[i] * porod_term[i]
    a, b, cp, chi2 = _fit(s1, si, sii, sm, smm, smi, sp, spp, spi, smp, b_lo, b_hi, porod)
    trial = np.empty(n_q)
    new_part = np.empty(n_q)
    steps = 0
    accepted = 0
    while chi2 / n_q > conv_crit and steps < max_iter:
        c = steps % n_contrib
        steps += 1
        radius = draw_radius(state, r_min, r_max, log_random)
        table_contribution(table, ln_s0, inv_h, radius, new_part)
        t_sm = t_smm = t_smi = t_smp = 0.0
        for i in range(n_q):
            m = model[i] - parts[c, i] + new_part[i]
            trial[i] = m
            w = weight[i]
            t_sm += w * m
            t_smm += w * m * m
            t_smi += w * m * intensity[i]
            if porod:
                t_smp += w * m * porod_term[i]
        t_a, t_b, t_c, t_chi2 = _fit(s1, si, sii, t_sm, t_smm, t_smi, sp, spp, spi, t_smp,
                                     b_lo, b_hi, porod)
        if t_chi2 < chi2:
            accepted += 1
            a, b, cp, chi2 = t_a, t_b, t_c, t_chi2
            radii[c] = radius
            sm, smm, smi, smp = t_sm, t_smm, t_smi, t_smp
            for i in range(n_q):
                model[i] = trial[i]
                parts[c, i] = new_part[i]
    stats[SCALE], stats[BACKGROUND], stats[CHI2_R] = a, b, chi2 / n_q
    stats[STEPS], stats[ACCEPTED] = steps, accepted
    stats[CONVERGED] = 1.0 if chi2 / n_q <= conv_crit else 0.0
    stats[POROD] = cp


def run_repetitions(table, *, intensity: np.ndarray, weight: np.ndarray,
                    radius_range: tuple[float, float], log_random: bool, n_contrib: int,
                    n_rep: int, max_iter: int, conv_crit: float,
                    background_bounds: tuple[float, float], seed: int,
                    porod_term: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray, ChainStats]:
    """``n_rep`` repetitions of the chain in parallel (repetition r seeded with ``seed + r``)
    on a form-factor ``table`` (``values``, ``ln_s0``, ``step``: ``saxs.models.table``).

    Returns the sizes (n_rep, n_contrib), the final model sums M(q) (n_rep, n_q) and the
    :class:`ChainStats`. ``porod_term``: fit an extra c * porod_term (c >= 0)."""
    n_q = intensity.size
    radii = np.empty((n_rep, n_contrib))
    models = np.empty((n_rep, n_q))
    stats = np.empty((n_rep, len(STATS)))
    porod = porod_term is not None
    run_ranges(_run_repetitions, n_rep, readonly(table.values), float(table.ln_s0),
               1.0 / table.step, readonly(intensity, np.float64), readonly(weight, np.float64),
               float(radius_range[0]), float(radius_range[1]), bool(log_random), int(n_contrib),
               int(max_iter), float(conv_crit), float(background_bounds[0]),
               float(background_bounds[1]), int(seed), porod,
               readonly(porod_term if porod else np.zeros(n_q), np.float64), radii, models,
               stats)
    return radii, models, ChainStats.from_rows(stats)


@njit(cache=True, nogil=True)
def _run_repetitions(r0, r1, table, ln_s0, inv_h, intensity, weight, r_min, r_max, log_random,
                     n_contrib, max_iter, conv_crit, b_lo, b_hi, seed, porod, porod_term,
                     radii, models, stats):
    """Repetitions ``r0..r1-1`` (the kernel behind :func:`run_repetitions`, which runs ranges
    of repetitions on its threads)."""
    for r in range(r0, r1):
        _run_chain(table, ln_s0, inv_h, intensity, weight, r_min, r_max, log_random, n_contrib,
                   max_iter, conv_crit, b_lo, b_hi, seed + r, porod, porod_term, radii[r],
                   models[r], stats[r])
