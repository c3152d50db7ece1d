"""Bragg peaks over smooth scattering: finding, fitting, indexing (``saxs.find_bragg_peaks``).

1. Background: an asymmetric least-squares baseline of log I (Eilers & Boelens 2005, "Baseline
   correction with asymmetric least squares smoothing"): a smooth curve that follows the data
   from below, so peaks stand out of it.
2. Candidates: local maxima of the excess over the background summed over windows of 3 to 17
   points, divided by its propagated error (a matched filter: a peak a few points wide whose
   points are each within their noise is still found), above ``min_significance``; the 20
   strongest are fitted.
3. Fit: each candidate with a pseudo-Voigt plus a linear local background (scipy) over +-3 FWHM;
   position, FWHM and area with standard errors; significance = area / its error. A Bragg peak
   of an ordered phase is narrow: peaks wider than ``max_relative_fwhm`` x q are reported as
   broad correlation peaks, not Bragg peaks.
4. Indexing: each of the strongest Bragg peaks is tried as the first order of lamellar
   (1 : 2 : 3 ...), 2-D hexagonal (1 : sqrt3 : 2 : sqrt7 : 3 ...) and the cubic Pn3m, Ia3d and
   Im3m sequences (sqrt of the allowed h^2 + k^2 + l^2; e.g. Kaasgaard & Drummond 2006, PCCP 8,
   4957). Every reflection the phase predicts is looked up among the peaks found (within
   ``tolerance`` or 3 sigma of the position); for the three lowest reflections a weak peak is
   also looked for at the predicted position with a local test (the summed excess over a
   straight line through two side bands, centred within the tolerance, windows holding a peak
   already found left out) and kept above ``confirm_significance`` sigma: a few predicted
   positions instead of a scan of the whole curve, so a lower threshold keeps false alarms
   rare: a simulated single peak over noise (1 to 4 % per point) was given a phase in 3 of
   60 curves (5 %; it stays "unindexed" otherwise), while a second order of a few sigma per
   point was confirmed in 60 of 60. Each account is a
   :class:`PhaseEvidence`; the best (explained minus missing reflections, then the smallest
   misfit) is assigned when its score reaches :data:`MIN_PHASE_SCORE`, else the peaks are
   "unindexed". Peaks the phase does not explain are ``extra_peaks`` (a coexisting phase).
   Significant maxima of I(q) wider than ``max_relative_fwhm`` x q are ``broad_peaks``.
5. d-spacing: d = 2 pi / q_1 with q_1 from a weighted fit of q_n = q_1 x ratio_n over the
   indexed peaks (for hexagonal phases d is d_10 and the lattice parameter a = 2 d / sqrt 3);
   its error is the larger of the propagated one and the scatter between the orders.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from scipy import sparse
from scipy.ndimage import gaussian_filter1d
from scipy.optimize import OptimizeWarning, curve_fit
from scipy.signal import find_peaks
from scipy.sparse.linalg import spsolve

from saxs.curve import Curve, fields_dict
from saxs.errors import InputError


def _sqrt_sequence(values: list[int]) -> tuple[float, ...]:
    base = math.sqrt(values[0])
    return tuple(math.sqrt(v) / base for v in values)


#: At most this many candidates are fitted, strongest first.
MAX_CANDIDATES = 20
#: A phase is assigned when it explains at least this many more reflections than it leaves
#: out (below its highest explained one): 1 : sqrt3 is hexagonal, 1 : 2 lamellar.
MIN_PHASE_SCORE = 2
#: Relative tolerance of the indexing ratios. Reflections of one lattice are in exact ratios;
#: what remains is the peak-fit error (covered by 3 sigma) and systematic shifts of fitted peak
#: positions (smearing, asymmetric peaks, a non-linear q scale), a few 0.1 %: published
#: hexagonal indexations of the Giess et al. 2022 LLC patterns give q_sqrt3 / q_1 = 1.7315 to
#: 1.7406 against sqrt 3 = 1.7321 (0.5 % at most). A 1.5 % tolerance would index any two peaks
#: 1.40 apart as sqrt 2 (cubic), whatever their errors.
DEFAULT_TOLERANCE = 0.007
#: Phases are tried with each of this many strongest Bragg peaks as their first order.
MAX_FIRST_ORDERS = 4

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


@dataclass(frozen=True)
class PhaseEvidence:
    """How well one phase explains the Bragg peaks of a curve, from one first-order peak.

    ``peaks[k]`` sits at ``ratios[k]`` x the first order (a peak found in the curve, or one
    fitted where the phase predicts it and confirmed); ``missing`` are the allowed ratios below
    the highest explained one where no peak is seen. ``misfit`` is the rms relative deviation of
    q_n / q_1 from the ratios.
    """

    phase: str
    ratios: tuple[float, ...]
    peaks: tuple[Peak, ...]
    missing: tuple[float, ...]
    misfit: float

    @property
    def score(self) -> tuple[int, float]:
        """(explained minus missing reflections, -misfit): larger is better."""
        return (len(self.peaks) - len(self.missing), -self.misfit)

    def describe(self) -> str:
        """E.g. "hexagonal: 1 (12.3 sigma), 1.732 (4.1 sigma); missing 2"."""
        orders = ", ".join(f"{r:.4g} ({p.significance:.1f} sigma)"
                           for r, p in zip(self.ratios, self.peaks, strict=True))
        missing = f"; missing {', '.join(f'{r:.4g}' for r in self.missing)}" if self.missing else ""
        return f"{self.phase}: {orders}{missing}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: phase, ratios, q and significance of each order, missing ratios."""
        return {"phase": self.phase, "ratios": list(self.ratios),
                "q_nm": [p.q for p in self.peaks],
                "significance": [p.significance for p in self.peaks],
                "missing": list(self.missing), "misfit": self.misfit}


@dataclass(frozen=True, eq=False)
class BraggFindings:
    """Bragg peaks of one curve and the phase they index.

    ``phase`` is "lamellar", "hexagonal", "cubic ...", "unindexed" (Bragg peaks that no sequence
    fits, or a single one) or "none" (no significant narrow peak). ``peaks`` are the indexed
    Bragg peaks (all of them when unindexed); ``extra_peaks`` are Bragg peaks the phase does not
    explain (a coexisting phase); ``broad_peaks`` holds significant peaks too wide to be Bragg
    peaks (a disordered phase's correlation peak). ``evidence`` is every phase's account of the
    peaks from each strong peak as first order (:class:`PhaseEvidence`, best first): what each
    phase would explain, so that a reader (or :func:`saxs.follow_bragg`) sees how clear the
    choice was. ``assigned_by`` is "neighbours" when :func:`saxs.follow_bragg` chose the phase
    of the neighbouring samples for ambiguous evidence.
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
    evidence: tuple[PhaseEvidence, ...] = ()
    assigned_by: str = "peaks"  # or "neighbours" (saxs.follow_bragg, ambiguous evidence)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: every field but the background array."""
        return fields_dict(self, skip=("background",))


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


#: sigma of the Gaussian part of the pseudo-Voigt with the same FWHM as its Lorentzian part
#: (the pseudo-Voigt as lmfit's PseudoVoigtModel defines it: FWHM = 2 sigma).
_GAUSS_SIGMA = 1.0 / math.sqrt(2.0 * math.log(2.0))


def _unit_profiles(x, center, sigma):
    """x - center, and the unit-area Gaussian and Lorentzian of FWHM 2 ``sigma`` at x."""
    sg = sigma * _GAUSS_SIGMA
    u = x - center
    gauss = np.exp(-0.5 * (u / sg) ** 2) / (sg * math.sqrt(2.0 * math.pi))
    lorentz = 1.0 / (math.pi * sigma * (1.0 + (u / sigma) ** 2))
    return u, gauss, lorentz


def _pseudo_voigt_line(x, amplitude, center, sigma, fraction, slope, intercept):  # noqa: PLR0917 - curve_fit passes the parameters by position
    """Pseudo-Voigt of area ``amplitude`` and FWHM 2 ``sigma`` on a straight line."""
    _, gauss, lorentz = _unit_profiles(x, center, sigma)
    return amplitude * ((1.0 - fraction) * gauss + fraction * lorentz) + slope * x + intercept


def _pseudo_voigt_line_jac(x, amplitude, center, sigma, fraction, slope, intercept):  # noqa: PLR0917 - as the model, by position
    """Derivatives of :func:`_pseudo_voigt_line` by each parameter, (x.size, 6): analytic,
    so the fit needs no finite-difference evaluations (a Bragg search fits ~20 peaks)."""
    del slope, intercept  # the line's derivatives do not depend on them
    sg = sigma * _GAUSS_SIGMA
    u, gauss, lorentz = _unit_profiles(x, center, sigma)
    t2 = (u / sigma) ** 2
    d_gauss_center = gauss * u / sg**2
    d_lorentz_center = lorentz * 2.0 * u / (sigma**2 * (1.0 + t2))
    d_gauss_sigma = gauss * (u**2 / (sg**2 * sigma) - 1.0 / sigma)
    d_lorentz_sigma = -math.pi * lorentz**2 * (1.0 - t2)
    jac = np.empty((x.size, 6))
    jac[:, 0] = (1.0 - fraction) * gauss + fraction * lorentz
    jac[:, 1] = amplitude * ((1.0 - fraction) * d_gauss_center + fraction * d_lorentz_center)
    jac[:, 2] = amplitude * ((1.0 - fraction) * d_gauss_sigma + fraction * d_lorentz_sigma)
    jac[:, 3] = amplitude * (lorentz - gauss)
    jac[:, 4] = x
    jac[:, 5] = 1.0
    return jac


def _fit_peak(q, intensity, sigma, center, width) -> Peak | None:
    """Pseudo-Voigt plus a local straight line, weighted least squares over +-3 widths
    (scipy ``curve_fit``, errors scaled by the reduced chi-square)."""
    step = float(np.median(np.diff(q)))
    window = np.abs(q - center) <= 3 * max(width, 2 * step)
    if window.sum() < 6:
        return None
    qw, iw, sw = q[window], intensity[window], sigma[window]
    lower = [0.0, qw[0], step / 4, 0.0, -np.inf, -np.inf]
    upper = [np.inf, qw[-1], qw[-1] - qw[0], 1.0, np.inf, np.inf]
    start = np.clip([max((iw.max() - iw.min()) * width, 1e-30), center, width / 2, 0.5, 0.0,
                     iw.min()], lower, upper)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimizeWarning)
            values, cov = curve_fit(_pseudo_voigt_line, qw, iw, p0=start, sigma=sw,
                                    bounds=(lower, upper), x_scale="jac",
                                    jac=_pseudo_voigt_line_jac)
    except (ValueError, RuntimeError):
        return None
    errors = np.sqrt(np.diag(cov)) if np.all(np.isfinite(cov)) else np.full(6, np.nan)
    amplitude, centre, sig, fraction = values[:4]
    if not (np.isfinite(errors[0]) and np.isfinite(errors[1]) and errors[0] > 0):
        return None
    height = amplitude * ((1 - fraction) / (sig * _GAUSS_SIGMA * math.sqrt(2 * math.pi))
                          + fraction / (math.pi * sig))
    return Peak(q=float(centre), q_err=float(errors[1]), fwhm=float(2 * sig),
                fwhm_err=float(2 * errors[2]) if np.isfinite(errors[2]) else math.nan,
                area=float(amplitude), area_err=float(errors[0]), height=float(height),
                significance=float(amplitude / errors[0]), bragg=False)


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


def index_peaks(positions: np.ndarray, errors: np.ndarray,
                tolerance: float = DEFAULT_TOLERANCE
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


def _sideband_excess(q: np.ndarray, intensity: np.ndarray, sigma: np.ndarray, centre: int,
                     half: int) -> tuple[float, float, float]:
    """Summed excess over [centre - half, centre + half] above a straight line through the
    mean of two side bands ([-3 half, -2 half) and (2 half, 3 half] points away), its error,
    and the excess-weighted mean q. A local test: it does not lean on a global baseline."""
    n = q.size
    lo, hi = centre - half, centre + half + 1
    left = slice(max(centre - 3 * half, 0), max(centre - 2 * half, 0))
    right = slice(min(centre + 2 * half + 1, n), min(centre + 3 * half + 1, n))
    if lo < 0 or hi > n or left.stop - left.start < 1 or right.stop - right.start < 1:
        return 0.0, math.inf, float(q[centre])
    ql, qr = q[left].mean(), q[right].mean()
    il, ir = intensity[left].mean(), intensity[right].mean()
    vl = np.sum(sigma[left] ** 2) / (left.stop - left.start) ** 2
    vr = np.sum(sigma[right] ** 2) / (right.stop - right.start) ** 2
    t = (q[lo:hi] - ql) / (qr - ql)
    line = il + t * (ir - il)
    excess = intensity[lo:hi] - line
    # variance of the sum: the points' own, plus the side bands' through the line
    var = np.sum(sigma[lo:hi] ** 2) + np.sum(1 - t) ** 2 * vl + np.sum(t) ** 2 * vr
    weight = np.clip(excess, 0, None)
    centroid = float(np.sum(weight * q[lo:hi]) / np.sum(weight)) if weight.sum() > 0 else float(
        q[centre])
    return float(excess.sum()), float(math.sqrt(var)), centroid


def _confirm(data: tuple, first: Peak, target: float, tol: float, found: list[Peak],  # noqa: PLR0917
             options: dict) -> Peak | None:
    """A reflection where a phase predicts one: the best side-band excess (module docstring,
    step 4b) over the positions within the tolerance and three window widths, kept when its
    significance passes ``confirm_significance``. Windows (side bands included) that hold a
    peak already found are not used, and the excess must be centred within the tolerance."""
    q, intensity, sigma = data[0], data[1], data[2]
    around = np.flatnonzero(np.abs(q - target) <= tol)
    step = float(np.median(np.diff(q)))
    half0 = max(2, round(0.5 * first.fwhm * target / first.q / step))
    best = None
    for half in (half0, 2 * half0, 3 * half0):
        for centre in around:
            lo_q, hi_q = q[max(centre - 3 * half, 0)], q[min(centre + 3 * half, q.size - 1)]
            if any(lo_q <= p.q <= hi_q for p in found):
                continue  # that excess belongs to a peak already found
            total, err, centroid = _sideband_excess(q, intensity, sigma, int(centre), half)
            if abs(centroid - target) > tol:
                continue
            if best is None or total / err > best[0]:
                best = (total / err, total, err, centroid, half)
    if best is None or best[0] < options["confirm_significance"]:
        return None
    z, total, err, centroid, half = best
    area, area_err = total * step, err * step
    return Peak(q=centroid, q_err=step * half / max(z, 1.0), fwhm=2 * half * step,
                fwhm_err=math.nan, area=area, area_err=area_err,
                height=total / (2 * half + 1), significance=z, bragg=True)


def _predicted(data: tuple, first: Peak, ratio: float, found: list[Peak],
               options: dict) -> Peak | None:
    """The peak at ``first.q * ratio``: a found one, or one confirmed there by
    :func:`_confirm` (only when ``options["fit"]``)."""
    target = first.q * ratio
    tol = options["tolerance"] * target
    near = [p for p in found if p is not first and abs(p.q - target) <= max(tol, 3 * p.q_err)]
    if near:
        return min(near, key=lambda p: abs(p.q - target))
    if not options["fit"]:
        return None
    cache = options["fits"]
    key = (round(target, 4), round(first.fwhm, 4))
    if key not in cache:
        cache[key] = _confirm(data, first, target, tol, found, options)
    return cache[key]


def _evidence_from(data: tuple, first: Peak, name: str, found: list[Peak],
                   options: dict) -> PhaseEvidence | None:
    """What phase ``name`` explains with ``first`` as its first order."""
    sequence = PHASES[name]
    members, ratios, misfit = [first], [1.0], 0.0
    for order, ratio in enumerate(sequence[1:], start=2):
        if first.q * ratio > data[0][-1]:
            break
        # fits only at the three lowest reflections: ~30 positions in all
        peak = _predicted(data, first, ratio, found, {**options, "fit": order <= 3})
        if peak is None or any(peak is m for m in members):
            continue
        members.append(peak)
        ratios.append(ratio)
        misfit += (peak.q / first.q / ratio - 1) ** 2
    # trailing misses beyond the last explained reflection do not count
    missing = tuple(r for r in sequence[1:] if r < ratios[-1] and r not in ratios)
    return PhaseEvidence(name, tuple(ratios), tuple(members), missing,
                         math.sqrt(misfit / max(len(ratios) - 1, 1)))


def phase_evidence(data: tuple, found: list[Peak], options: dict) -> list[PhaseEvidence]:
    """Every phase's account of the peaks from each of the strongest peaks as its first order,
    best first (ties: the stronger first order first)."""
    firsts = sorted(found, key=lambda p: p.significance, reverse=True)[:MAX_FIRST_ORDERS]
    accounts = [_evidence_from(data, first, name, found, options)
                for first in firsts for name in PHASES]
    return sorted((e for e in accounts if e is not None), key=lambda e: e.score, reverse=True)


def _fitted_peaks(data: tuple, min_significance: float, max_relative_fwhm: float
                  ) -> list[Peak]:
    """Matched-filter candidates above ``min_significance``, fitted, strongest first."""
    q, intensity, sigma, significance, width_pts = data
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
        found.append(replace(peak, bragg=peak.fwhm / peak.q <= max_relative_fwhm))
    return found


def broad_peaks(curve: Curve, min_significance: float = 5.0, max_relative_fwhm: float = 0.1,
                exclude: list[Peak] | tuple[Peak, ...] = ()) -> list[Peak]:
    """Broad correlation peaks: maxima of I(q) itself wider than ``max_relative_fwhm`` x q.

    The asymmetric baseline of :func:`smooth_background` follows broad bumps, so they are looked
    for separately: local maxima of I smoothed over a Gaussian of 1 % of q (in ln q) whose
    prominence over the lower of the two minima around them exceeds ``min_significance`` x
    the smoothed curve's noise; each is fitted by :func:`_fit_peak` over its prominence base
    and kept if significant and broad. A monotonic curve (Guinier, Porod, power laws) has none.
    Peaks within the FWHM of one in ``exclude`` are skipped.
    """
    q, intensity, sigma = curve.q, curve.intensity, curve.sigma
    log_q = np.log(q)
    kernel_sd = 0.01 / max(float(np.median(np.diff(log_q))), 1e-12)  # points
    if kernel_sd * 6 >= q.size:
        return []
    smooth = gaussian_filter1d(intensity, kernel_sd, mode="nearest")
    noise = sigma / math.sqrt(2 * math.sqrt(math.pi) * kernel_sd)  # sd of a Gaussian average
    tops, props = find_peaks(smooth, prominence=0)
    found = []
    for top, base_l, base_r in zip(tops, props["left_bases"], props["right_bases"], strict=True):
        if props["prominences"][list(tops).index(top)] < min_significance * noise[top]:
            continue
        if any(abs(q[top] - p.q) < p.fwhm for p in exclude):
            continue
        peak = _fit_peak(q, intensity, sigma, float(q[top]), 0.25 * float(q[base_r] - q[base_l]))
        if (peak is not None and peak.significance >= min_significance
                and peak.fwhm / peak.q > max_relative_fwhm and q[0] < peak.q < q[-1]):
            found.append(peak)
    return found


def _q1(positions: np.ndarray, errors: np.ndarray, ratios: tuple[float, ...]
        ) -> tuple[float, float]:
    """First-order q from a weighted fit of q_n = q_1 x ratio_n, and its error (the larger of
    the propagated one and the scatter between the orders)."""
    estimates = positions / np.array(ratios)
    w = (np.array(ratios) / errors) ** 2
    q1 = float(np.sum(w * estimates) / np.sum(w))
    scatter = (float(np.std(estimates, ddof=1) / math.sqrt(estimates.size))
               if estimates.size > 1 else 0.0)
    return q1, max(float(1 / math.sqrt(np.sum(w))), scatter)


def findings_for(evidence: PhaseEvidence | None, bragg: list[Peak], *, broad=(),
                 background=None, sample: str = "", all_evidence=(),
                 assigned_by: str = "peaks") -> BraggFindings:
    """The findings that assign ``evidence``'s phase (None: "unindexed" over ``bragg``);
    Bragg peaks the phase does not explain become ``extra_peaks``."""
    background = np.zeros(0) if background is None else background
    if not bragg:
        return BraggFindings((), "none", None, None, (), tuple(broad), background, sample,
                             evidence=tuple(all_evidence))
    if evidence is None:
        peaks = tuple(sorted(bragg, key=lambda p: p.q))
        q1, q1_err, phase, ratios, extra = peaks[0].q, peaks[0].q_err, "unindexed", (), ()
    else:
        order = sorted(range(len(evidence.peaks)), key=lambda k: evidence.ratios[k])
        peaks = tuple(evidence.peaks[k] for k in order)
        ratios = tuple(evidence.ratios[k] for k in order)
        extra = tuple(sorted((p for p in bragg if all(p is not m for m in peaks)),
                             key=lambda p: p.q))
        q1, q1_err = _q1(np.array([p.q for p in peaks]), np.array([p.q_err for p in peaks]),
                         ratios)
        phase = evidence.phase
    d = 2 * math.pi / q1
    return BraggFindings(peaks, phase, d, d * q1_err / q1, ratios, tuple(broad), background,
                         sample, extra, tuple(all_evidence), assigned_by)


def find_bragg_peaks(curve: Curve, *, min_significance: float = 5.0,
                     max_relative_fwhm: float = 0.1, q_range_nm: tuple[float, float] | None = None,
                     tolerance: float = DEFAULT_TOLERANCE, confirm_significance: float = 3.5
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
        Relative tolerance of the indexing ratios (or 3 sigma of the peak position, if larger).
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
    arrays = (q, intensity, sigma, significance, width_pts)
    found = _fitted_peaks(arrays, min_significance, max_relative_fwhm)
    bragg = sorted((p for p in found if p.bragg), key=lambda p: p.q)
    broad = sorted([p for p in found if not p.bragg]
                   + broad_peaks(data, min_significance, max_relative_fwhm, exclude=found),
                   key=lambda p: p.q)
    options = {"tolerance": tolerance, "confirm_significance": confirm_significance,
               "max_relative_fwhm": max_relative_fwhm, "fits": {}}
    evidence = phase_evidence(arrays, bragg, options) if bragg else []
    chosen = evidence[0] if evidence and evidence[0].score[0] >= MIN_PHASE_SCORE else None
    return findings_for(chosen, bragg, broad=broad, background=background,
                        sample=str(curve.metadata.get("sample", "")), all_evidence=evidence)
