"""Form-factor tables for the Monte Carlo: K(q_i, s) on a dense log grid of sizes.

The Monte Carlo evaluates K(q, s) = V(s) P(q, s) (see :mod:`saxs.models.formfactor`) at every
fitted q for every size it draws. Rather than evaluating the form factor at each step (sin and
cos at every q for a sphere, an orientation average for a cylinder), it is computed once per
(shape, q, size range) on a uniform grid in ln s, and interpolated inside the compiled chain by
4-point (cubic) Lagrange interpolation in ln s (``saxs_kernels.montecarlo``), so every shape
runs at the same speed.

Accuracy. K oscillates in ln s with a local frequency of about q D(s) (D: the particle's largest
dimension). The grid starts at h = ``PHASE_STEP`` / (q_max 2 s_max) and is checked at the
midpoints of its intervals (where cubic interpolation errs most), against direct evaluation, at
every q: the error is measured relative to the *local envelope* of K, the largest |K| within
one oscillation period (pi / (q D) in ln s) around the point, because K itself passes through
zeros (a sphere's P at qR = 4.49, 7.73...) where no relative error is defined. Until the
largest such error is below ``TOLERANCE`` (1e-5, ten times below the 1e-4 required), the step is
halved (the midpoints just computed become nodes). The measured error is kept in
:attr:`FormFactorTable.max_error`. Cubic interpolation's error scales as (h q D)^4 / 43, so a
finer grid is rarely needed beyond the first halving.

Memory: n_s x n_q float64; a table larger than ``MAX_TABLE_BYTES`` is refused with advice.
Tables are cached (the last ``CACHE_SIZE`` per process), so a series of curves on the same q
builds each table once.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from saxs.errors import InputError
from saxs.models.formfactor import FormFactor
from saxs.models.registry import form_factor

#: Target of the interpolation error relative to the local envelope of K.
TOLERANCE = 1e-5
#: Initial grid step in phase: h = PHASE_STEP / (q_max * 2 * s_max).
PHASE_STEP = 0.15
#: Coarsest grid step in ln s.
MAX_STEP = 0.02
#: Largest table, bytes.
MAX_TABLE_BYTES = 600 * 2**20
#: Refinements before giving up.
MAX_REFINEMENTS = 6
#: Intervals checked per refinement round (all of them when there are fewer).
CHECKED_INTERVALS = 400
CACHE_SIZE = 8


@dataclass(frozen=True, eq=False)
class FormFactorTable:
    """K(q_i, s_k) (nm^3) of one shape on a log grid of sizes, for cubic interpolation in ln s.

    Attributes
    ----------
    form : FormFactor
    q : ndarray (n_q,)
        The q values, 1/nm.
    values : ndarray (n_s, n_q)
        K(q_i, s_k), C-contiguous, read-only.
    ln_s0, step : float
        ln s_k = ln_s0 + k step.
    size_range_nm : (float, float)
        Sizes that may be interpolated (one node of margin below, two above).
    max_error : float
        Largest interpolation error at the checked midpoints, relative to the local envelope.
    build_seconds : float
        Wall time spent building (form-factor evaluations and checks).
    """

    form: FormFactor
    q: np.ndarray
    values: np.ndarray
    ln_s0: float
    step: float
    size_range_nm: tuple[float, float]
    max_error: float
    build_seconds: float

    @property
    def sizes_nm(self) -> np.ndarray:
        """The grid sizes s_k, nm."""
        return np.exp(self.ln_s0 + self.step * np.arange(self.values.shape[0]))

    def interpolate(self, size_nm: np.ndarray) -> np.ndarray:
        """K(q_i, s) at sizes inside ``size_range_nm`` by the chain's interpolation, (n, n_q)."""
        sizes = np.atleast_1d(np.asarray(size_nm, dtype=np.float64))
        lo, hi = self.size_range_nm
        if sizes.size and (sizes.min() < lo * (1 - 1e-12) or sizes.max() > hi * (1 + 1e-12)):
            raise InputError(f"{self.form.label}: sizes {sizes.min():.4g}..{sizes.max():.4g} nm "
                             f"outside the table's {lo:.4g}..{hi:.4g} nm")
        return _interpolate(self.values, self.ln_s0, self.step, sizes)


def _weights(u: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    k = np.clip(np.floor(u).astype(np.int64), 1, n - 3)
    t = u - k
    w = np.stack([-t * (t - 1) * (t - 2) / 6, (t + 1) * (t - 1) * (t - 2) / 2,
                  -(t + 1) * t * (t - 2) / 2, (t + 1) * t * (t - 1) / 6], axis=1)
    return k, w


def _interpolate(values: np.ndarray, ln_s0: float, step: float, sizes: np.ndarray) -> np.ndarray:
    k, w = _weights((np.log(sizes) - ln_s0) / step, values.shape[0])
    out = np.zeros((sizes.size, values.shape[1]))
    for j in range(4):
        out += w[:, j, None] * values[k + j - 1]
    return out


def _envelope(values: np.ndarray, q: np.ndarray, extent: float, step: float) -> np.ndarray:
    """max |K| over +-1 oscillation period (pi / (q D) in ln s) along the size axis."""
    from scipy.ndimage import maximum_filter1d  # noqa: PLC0415  (import cost)

    out = np.empty_like(values)
    magnitude = np.abs(values)
    for i, qi in enumerate(q):
        half = math.pi / max(qi * extent, 1e-300) / step
        width = int(min(2 * math.ceil(half) + 1, 2 * values.shape[0] + 1))
        out[:, i] = maximum_filter1d(magnitude[:, i], size=max(width, 3), mode="nearest")
    return out


def _evaluate(form: FormFactor, q: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    values = form.intensity(q, sizes)
    if not np.all(np.isfinite(values)):
        raise InputError(f"{form.label}: the form factor is not finite for some sizes in "
                         f"{sizes.min():.4g}..{sizes.max():.4g} nm; check its parameters")
    return values


def _check(form, q, values, *, ln_s0, step, rng) -> tuple[float, np.ndarray, np.ndarray]:
    """Largest midpoint error relative to the local envelope, and the midpoints computed."""
    n = values.shape[0]
    intervals = np.arange(1, n - 2)
    if intervals.size > CHECKED_INTERVALS:
        intervals = np.unique(np.concatenate([
            np.linspace(1, n - 3, CHECKED_INTERVALS // 2).astype(np.int64),
            rng.choice(intervals, CHECKED_INTERVALS // 2, replace=False)]))
    mid_ln = ln_s0 + step * (intervals + 0.5)
    direct = _evaluate(form, q, np.exp(mid_ln))
    approx = _interpolate(values, ln_s0, step, np.exp(mid_ln))
    extent = float(form.max_dimension_nm(math.exp(ln_s0 + step * (n - 1)))[0])
    envelope = _envelope(values, q, extent, step)
    scale = np.maximum(np.maximum(envelope[intervals], envelope[intervals + 1]), 1e-300)
    error = float(np.max(np.abs(direct - approx) / scale)) if intervals.size else 0.0
    return error, intervals, direct


def _build(form: FormFactor, q: np.ndarray, size_min: float, size_max: float,
           tolerance: float) -> FormFactorTable:
    start = time.perf_counter()
    extent = float(form.max_dimension_nm(size_max)[0])
    step = min(MAX_STEP, PHASE_STEP / max(float(q.max()) * max(extent, 2 * size_max), 1e-12))
    ln_lo, ln_hi = math.log(size_min), math.log(size_max)
    n = math.ceil((ln_hi - ln_lo) / step) + 4
    ln_s0 = ln_lo - step
    _check_size(form, n, q.size)
    values = _evaluate(form, q, np.exp(ln_s0 + step * np.arange(n)))
    rng = np.random.default_rng(0)
    for _ in range(MAX_REFINEMENTS + 1):
        error, _, _ = _check(form, q, values, ln_s0=ln_s0, step=step, rng=rng)
        if error <= tolerance:
            break
        _check_size(form, 2 * n - 1, q.size)
        mids = _evaluate(form, q, np.exp(ln_s0 + step * (np.arange(n - 1) + 0.5)))
        finer = np.empty((2 * n - 1, q.size))
        finer[0::2], finer[1::2] = values, mids
        values, step, n = finer, step / 2, 2 * n - 1
    else:
        raise InputError(f"{form.label}: the form-factor table did not reach an interpolation "
                         f"error of {tolerance:g} (got {error:.2g}); narrow the size range")
    values = np.ascontiguousarray(values)
    values.flags.writeable = False
    q = q.copy()
    q.flags.writeable = False
    return FormFactorTable(form=form, q=q, values=values, ln_s0=ln_s0, step=step,
                           size_range_nm=(math.exp(ln_s0 + step), math.exp(ln_s0 + step * (n - 3))),
                           max_error=error, build_seconds=time.perf_counter() - start)


def _check_size(form: FormFactor, n_sizes: int, n_q: int) -> None:
    if n_sizes * n_q * 8 > MAX_TABLE_BYTES:
        raise InputError(f"{form.label}: a form-factor table of {n_sizes} sizes x {n_q} q values "
                         f"would exceed {MAX_TABLE_BYTES // 2**20} MB; narrow the size range or "
                         "rebin the curve (MCConfig.rebin)")


_CACHE: OrderedDict[tuple, FormFactorTable] = OrderedDict()
_LOCK = threading.Lock()


def form_factor_table(form: FormFactor | str, q_nm: np.ndarray, size_range_nm: tuple[float, float],
                      tolerance: float = TOLERANCE) -> FormFactorTable:
    """The table of ``form`` at ``q_nm`` covering ``size_range_nm`` (cached per process).

    Parameters
    ----------
    form : FormFactor or str
    q_nm : ndarray
        The fitted q, 1/nm (> 0).
    size_range_nm : (float, float)
        Sizes the chain may draw, nm.
    tolerance : float
        Largest interpolation error relative to the local envelope of K (module docstring).
    """
    form = form_factor(form)
    q = np.ascontiguousarray(np.asarray(q_nm, dtype=np.float64))
    lo, hi = (float(v) for v in size_range_nm)
    if q.ndim != 1 or q.size == 0 or not np.all(np.isfinite(q)) or np.any(q <= 0):
        raise InputError("form_factor_table: q must be a non-empty 1-D array of values > 0")
    if not 0 < lo < hi or not math.isfinite(hi):
        raise InputError(f"form_factor_table: size range must satisfy 0 < min < max, got "
                         f"{size_range_nm}")
    key = (form.key, q.tobytes(), lo, hi, tolerance)
    with _LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    table = _build(form, q, lo, hi, tolerance)
    with _LOCK:
        _CACHE[key] = table
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    return table
