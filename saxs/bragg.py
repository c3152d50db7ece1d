"""Bragg peaks over smooth scattering: finding, fitting, indexing (``saxs.find_bragg_peaks``).

1. Background: an asymmetric least-squares baseline of log I (Eilers & Boelens 2005, "Baseline
   correction with asymmetric least squares smoothing"): a smooth curve that follows the data
   from below, so peaks stand out of it.
2. Candidates: local maxima of the excess over the background summed over windows of 3 to 17
   points, divided by its propagated error (a matched filter: a peak a few points wide whose
   points are each within their noise is still found), above ``min_significance``; the 20
   strongest are fitted.
3. Fit: each candidate with a pseudo-Voigt plus a linear local background (lmfit) over +-3 FWHM;
   position, FWHM and area with standard errors; significance = area / its error. A Bragg peak
   of an ordered phase is narrow: peaks wider than ``max_relative_fwhm`` x q are reported as
   broad correlation peaks, not Bragg peaks.
4. Indexing: the ratios q_n / q_1 against lamellar (1 : 2 : 3 ...), 2-D hexagonal
   (1 : sqrt3 : 2 : sqrt7 : 3 ...) and the cubic Pn3m, Ia3d and Im3m sequences (sqrt of the
   allowed h^2 + k^2 + l^2; e.g. Kaasgaard & Drummond 2006, PCCP 8, 4957). A phase indexes the
   set if every peak matches an allowed ratio within its tolerance and the first peak is the
   first allowed reflection; with one peak the set is "unindexed".
4b. When no phase explains every peak, each peak in turn is tried as the first order of each
   phase: the reflections the phase predicts are looked up among the peaks found, or (for the
   three lowest reflections) fitted at the predicted position and kept if significant at
   ``confirm_significance`` (a few predicted positions instead of a scan of the whole curve, so
   a lower threshold keeps the same false-alarm rate: at 3.5 sigma, < 1 % over the ~30
   positions tried). The phase with the most
   explained peaks minus left-out allowed reflections wins (then the smallest ratio misfit);
   peaks it does not explain are reported as ``extra_peaks`` (a coexisting phase).
5. d-spacing: d = 2 pi / q_1 with q_1 from a weighted fit of q_n = q_1 x ratio_n over the
   indexed peaks (for hexagonal phases d is d_10 and the lattice parameter a = 2 d / sqrt 3);
   its error is the larger of the propagated one and the scatter between the orders.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import lmfit
import numpy as np
from scipy import sparse
from scipy.signal import find_peaks
from scipy.sparse.linalg import spsolve

from saxs.curve import Curve
from saxs.errors import InputError


def _sqrt_sequence(values: list[int]) -> tuple[float, ...]:
    base = math.sqrt(values[0])
    return tuple(math.sqrt(v) / base for v in values)


#: At most this many candidates are fitted, strongest first.
MAX_CANDIDATES = 20

PHASES: dict[str, tuple[float, ...]] = {
    "lamellar": tuple(float(n) for n in range(1, 7)),
    "hexagonal": _sqrt_sequence([1, 3, 4, 7, 9, 12, 13]),
    "cubic Pn3m": _sqrt_sequence([2, 3, 4, 6, 8, 9, 10, 11]),
    "cubic Ia3d": _sqrt_sequence([6, 8, 14, 16, 20, 22, 24, 26]),
    "cubic Im3m": _sqrt_sequence([2, 4, 6, 8, 10, 12, 14, 16]),
}


@dataclass(frozen=True)
class Peak:
    """One fitted peak (q, FWHM in 1/nm; area in intensity x 1/nm)."""

    q: float
    q_err: float
    fwhm: float
    fwhm_err: float
    area: float
    area_err: float
    height: float
    significance: float
    bragg: bool

    @property
    def d_nm(self) -> float:
        """2 pi / q."""
        return 2 * math.pi / self.q


@dataclass(frozen=True, eq=False)
class BraggFindings:
    """Bragg peaks of one curve and the phase they index.

    ``phase`` is "lamellar", "hexagonal", "cubic ...", "unindexed" (Bragg peaks that no sequence
    fits, or a single one) or "none" (no significant narrow peak). ``peaks`` are the indexed
    Bragg peaks (all of them when unindexed); ``extra_peaks`` are Bragg peaks the phase does not
    explain (a coexisting phase); ``broad_peaks`` holds significant peaks too wide to be Bragg
    peaks (a disordered phase's correlation peak).
    """

    peaks: tuple[Peak, ...]
    phase: str
    d_spacing_nm: float | None
    d_spacing_err_nm: float | None
    miller_ratios: tuple[float, ...] = ()
    broad_peaks: tuple[Peak, ...] = ()
    background: np.ndarray = field(default_factory=lambda: np.zeros(0))
    sample: str = ""
    extra_peaks: tuple[Peak, ...] = ()


def smooth_background(intensity: np.ndarray, smoothness: float = 1e4,
                      asymmetry: float = 0.01, iterations: int = 12) -> np.ndarray:
    """Asymmetric least-squares baseline of log I (Eilers & Boelens 2005) on the point index."""
    floor = np.max(intensity) * 1e-12 if np.max(intensity) > 0 else 1e-30
    y = np.log(np.maximum(intensity, floor))
    n = y.size
    diff = sparse.diags([1.0, -2.0, 1.0], [0, 1, 2], shape=(n - 2, n))
    penalty = smoothness * (diff.T @ diff)
    w = np.ones(n)
    z = y
    for _ in range(iterations):
        z = spsolve(sparse.csc_matrix(sparse.diags(w) + penalty), w * y)
        w = np.where(y > z, asymmetry, 1 - asymmetry)
    return np.exp(z)


def _fit_peak(q, intensity, sigma, center, width) -> Peak | None:
    window = np.abs(q - center) <= 3 * max(width, 2 * np.median(np.diff(q)))
    if window.sum() < 6:
        return None
    model = lmfit.models.PseudoVoigtModel() + lmfit.models.LinearModel()
    qw, iw, sw = q[window], intensity[window], sigma[window]
    params = model.make_params(center=center, sigma=width / 2, amplitude=max(
        (iw.max() - iw.min()) * width, 1e-30), fraction=0.5, slope=0.0, intercept=iw.min())
    params["center"].set(min=qw[0], max=qw[-1])
    params["sigma"].set(min=np.median(np.diff(q)) / 4, max=qw[-1] - qw[0])
    params["amplitude"].set(min=0)
    try:
        result = model.fit(iw, params, x=qw, weights=1 / sw)
    except (ValueError, TypeError):
        return None
    p = result.params
    if p["center"].stderr is None or p["amplitude"].stderr is None or p["amplitude"].stderr <= 0:
        return None
    fwhm = p["fwhm"].value
    return Peak(q=p["center"].value, q_err=p["center"].stderr, fwhm=fwhm,
                fwhm_err=p["fwhm"].stderr or math.nan, area=p["amplitude"].value,
                area_err=p["amplitude"].stderr, height=p["height"].value,
                significance=p["amplitude"].value / p["amplitude"].stderr, bragg=False)


def _window_significance(excess: np.ndarray, sigma: np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Best significance of the summed excess over centred windows, and that window's width."""
    csum = np.concatenate([[0.0], np.cumsum(excess)])
    cvar = np.concatenate([[0.0], np.cumsum(sigma**2)])
    n = excess.size
    best = np.full(n, -np.inf)
    width = np.ones(n)
    index = np.arange(n)
    for half in (1, 2, 4, 8):
        lo = np.clip(index - half, 0, n)
        hi = np.clip(index + half + 1, 0, n)
        sig = (csum[hi] - csum[lo]) / np.sqrt(cvar[hi] - cvar[lo])
        better = sig > best
        best[better] = sig[better]
        width[better] = 2 * half + 1
    return best, width


def index_peaks(positions: np.ndarray, errors: np.ndarray, tolerance: float = 0.015
                ) -> tuple[str, tuple[float, ...]]:
    """The phase whose sequence matches every peak (relative ``tolerance`` or 3 sigma).

    A sequence must leave out fewer allowed reflections (below the highest observed one) than
    it explains. When several match, the one that leaves out the fewest wins (hexagonal
    1 : sqrt3 rather than Pn3m sqrt2 : sqrt6), then the order of :data:`PHASES`.
    """
    if positions.size < 2:
        return "unindexed", ()
    ratios = positions / positions[0]
    best: tuple[int, str, tuple[float, ...]] | None = None
    for name, sequence in PHASES.items():
        seq = np.array(sequence)
        matched = []
        for r, err in zip(ratios, errors / positions[0], strict=True):
            k = int(np.argmin(np.abs(seq - r)))
            if abs(seq[k] - r) > max(tolerance * r, 3 * err):
                break
            matched.append(k)
        else:
            skipped = max(matched) + 1 - len(matched)
            # a phase is credible only if it leaves out fewer reflections than it explains
            credible = len(set(matched)) == len(matched) and skipped < len(matched)
            if credible and (best is None or skipped < best[0]):
                    best = (skipped, name, tuple(float(seq[k]) for k in matched))
    return (best[1], best[2]) if best else ("unindexed", ())


def _predicted(data: tuple, first: Peak, ratio: float, found: list[Peak],
               options: dict) -> Peak | None:
    """The peak at ``first.q * ratio``: a found one, or one fitted there and confirmed.

    Only positions where the matched-filter significance already reaches
    ``confirm_significance`` are fitted (cheap, and a fit needs that much signal anyway).
    """
    q, intensity, sigma, window_sig = data
    target = first.q * ratio
    tol = options["tolerance"] * target
    near = [p for p in found if p is not first and abs(p.q - target) <= max(tol, 3 * p.q_err)]
    if near:
        return min(near, key=lambda p: abs(p.q - target))
    around = np.abs(q - target) <= tol
    if (not options["fit"] or not around.any()
            or window_sig[around].max() < options["confirm_significance"]):
        return None
    cache = options["fits"]
    key = round(target, 4)
    if key not in cache:
        cache[key] = _fit_peak(q, intensity, sigma, target, first.fwhm)
    peak = cache[key]
    if (peak is None or abs(peak.q - target) > tol or peak.significance
            < options["confirm_significance"]
            or peak.fwhm / peak.q > options["max_relative_fwhm"]):
        return None
    return replace(peak, bragg=True)


def _index_subset(data: tuple, found: list[Peak], options: dict):
    """Best phase explaining a subset of the peaks (module docstring, step 4b), or None."""
    q = data[0]
    best = None
    for first in found:
        for name, sequence in PHASES.items():
            members, ratios, skipped, misfit = [first], [1.0], 0, 0.0
            for order, ratio in enumerate(sequence[1:], start=2):
                if first.q * ratio > q[-1]:
                    break
                # fits only at the three lowest reflections: ~30 positions in all
                peak = _predicted(data, first, ratio, found, {**options, "fit": order <= 3})
                if peak is None:
                    skipped += 1
                    continue
                members.append(peak)
                ratios.append(ratio)
                misfit += (peak.q / first.q / ratio - 1) ** 2
            # trailing misses beyond the last explained reflection do not count
            skipped = sum(1 for r in sequence[1:] if r < ratios[-1]) - (len(ratios) - 1)
            if len(members) < 2 or len({id(m) for m in members}) < len(members):
                continue
            key = (len(members) - skipped, -misfit)
            if best is None or key > best[0]:
                best = (key, name, members, ratios)
    if best is None or best[0][0] < 2:
        return None
    _, name, members, ratios = best
    return name, members, tuple(ratios)


def find_bragg_peaks(curve: Curve, *, min_significance: float = 5.0,
                     max_relative_fwhm: float = 0.1, q_range_nm: tuple[float, float] | None = None,
                     tolerance: float = 0.015, confirm_significance: float = 3.5
                     ) -> BraggFindings:
    """Find, fit and index the Bragg peaks of ``curve``.

    Parameters
    ----------
    min_significance : float
        A peak counts if its fitted area exceeds this many standard errors (and its height
        over the background this many sigma).
    max_relative_fwhm : float
        Narrower peaks (FWHM / q) are Bragg peaks, wider ones broad correlation peaks.
    q_range_nm : (float, float), optional
        Where to look.
    tolerance : float
        Relative tolerance of the indexing ratios.
    confirm_significance : float
        Threshold for a reflection fitted at a position a phase predicts (step 4b).
    """
    data = curve.select(*q_range_nm) if q_range_nm else curve
    if len(data) < 20:
        raise InputError(f"{curve.metadata.get('sample', 'curve')}: {len(data)} points; "
                         "find_bragg_peaks needs at least 20")
    q, intensity, sigma = data.q, data.intensity, data.sigma
    background = smooth_background(intensity)
    significance, width_pts = _window_significance(intensity - background, sigma)
    step = float(np.median(np.diff(q)))
    candidates, _ = find_peaks(significance, height=min_significance)
    candidates = candidates[np.argsort(significance[candidates])[::-1]][:MAX_CANDIDATES]
    found: list[Peak] = []
    for index in candidates:
        if any(abs(q[index] - other.q) < other.fwhm for other in found):
            continue
        peak = _fit_peak(q, intensity, sigma, q[index], 0.5 * width_pts[index] * step)
        if peak is None or peak.significance < min_significance:
            continue
        if any(abs(peak.q - other.q) < 0.5 * max(peak.fwhm, other.fwhm) for other in found):
            continue
        is_bragg = peak.fwhm / peak.q <= max_relative_fwhm
        found.append(replace(peak, bragg=is_bragg))
    bragg = sorted((p for p in found if p.bragg), key=lambda p: p.q)
    broad = tuple(sorted((p for p in found if not p.bragg), key=lambda p: p.q))
    sample = str(curve.metadata.get("sample", ""))
    if not bragg:
        return BraggFindings((), "none", None, None, (), broad, background, sample)
    positions = np.array([p.q for p in bragg])
    errors = np.array([p.q_err for p in bragg])
    phase, ratios = index_peaks(positions, errors, tolerance)
    extra: tuple[Peak, ...] = ()
    if phase == "unindexed":
        options = {"tolerance": tolerance, "confirm_significance": confirm_significance,
                   "max_relative_fwhm": max_relative_fwhm, "fits": {}}
        subset = _index_subset((q, intensity, sigma, significance), bragg, options)
        if subset is not None:
            phase, members, ratios = subset
            extra = tuple(p for p in bragg if all(p is not m for m in members))
            bragg = members
            positions = np.array([p.q for p in bragg])
            errors = np.array([p.q_err for p in bragg])
    if phase == "unindexed":
        q1, q1_err = positions[0], errors[0]
    else:
        estimates = positions / np.array(ratios)
        w = (np.array(ratios) / errors) ** 2
        q1 = float(np.sum(w * estimates) / np.sum(w))
        # the larger of the propagated error and the scatter between the orders
        scatter = float(np.std(estimates, ddof=1) / math.sqrt(estimates.size))
        q1_err = max(float(1 / math.sqrt(np.sum(w))), scatter)
    d = 2 * math.pi / q1
    return BraggFindings(tuple(bragg), phase, d, d * q1_err / q1, ratios, broad, background,
                         sample, extra)
