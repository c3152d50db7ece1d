"""Control points from azimuthal-sector profiles of each ring (the fine stage of calibration).

pyFAI's massif peak picking (``SingleGeometry.extract_cp``) climbs to the local maxima of the
image: one point per maximum, at pixel precision refined by a 3 x 3 quadratic. That is the
right tool to find the rings, but two things limit it as a position measurement:

* a ring whose profile is not one symmetric peak (the real silver behenate frames show each
  order as a doublet, a weaker reflection about 1.5 % higher in q beside the main one) has its
  maxima pulled toward the shoulder while the orders are merged and split between both
  components once they are resolved;
* the points carry no uncertainty, so the refinement cannot weight them.

Here each ring is cut into azimuthal sectors; in each sector the pixels near the ring are
binned in 2theta (offset from the ring's expected 2theta under the current geometry; the
abscissa of a bin is the mean offset of its pixels). The ring's shape is fitted once on the
sum of its sectors: one pseudo-Voigt on a quadratic background, or two when the data ask for
it clearly (Bayesian information criterion lower by more than 10, "very strong" evidence in
Kass & Raftery 1995, J. Am. Stat. Assoc. 90, 773), the two of similar widths and resolved.
A second reflection at a common q ratio on several rings is one property of the sample: its
ratio, measured where resolved, is imposed where it merges, and the component taken as the
calibrant's is the same on every ring (the larger share of the area). Every sector is then
fitted with that fixed shape, a free shift, a free height and a quadratic background (a grid
in the shift with the linear parameters solved exactly, then a parabola through the minimum
of chi^2); the shift's standard uncertainty comes from the curvature of chi^2 (Delta chi^2 =
1), scaled by the sector's reduced chi^2 when it exceeds 1. The control point is the pixel
position where the sector's central azimuth meets the measured 2theta, from a quadratic
regression of the row and column of the sector's pixels on (2theta, chi), so no convention of
pyFAI's chi is needed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import least_squares

#: bins of the ring profile per pixel-equivalent of 2theta
BINS_PER_PIXEL = 4.0
#: target arc length of a sector, pixels; and the limits of the number of sectors per ring
SECTOR_ARC_PX = 16.0
MIN_SECTORS, MAX_SECTORS = 12, 90
#: half width of the band around a ring: this fraction of the distance to the next ring,
#: at most MAX_HALF_WIDTH_PX pixels (a straight background must describe it)
BAND_FRACTION, MAX_HALF_WIDTH_PX = 0.4, 25.0
#: a ring's summed profile must stand this many standard uncertainties above its background
RING_SIGNIFICANCE = 5.0
#: a sector's peak must stand this many standard uncertainties above zero
SECTOR_SIGNIFICANCE = 3.0
#: a second component is kept when it lowers the BIC by more than this (Kass & Raftery 1995)
BIC_STRONG = 10.0
#: ... and its FWHM is within this factor of the first one's
MAX_WIDTH_RATIO = 2.0
#: ... and the two are separated by at least this fraction of the wider FWHM
MIN_SEPARATION = 0.5


@dataclass(frozen=True)
class RingShape:
    """Shape of one ring's radial profile: pseudo-Voigt components of a common Lorentzian
    fraction, centres (rad, offset from the ring's expected 2theta, increasing), areas and
    FWHMs (rad); ``reference`` is the component taken as the calibrant's reflection."""

    centres: tuple[float, ...]
    areas: tuple[float, ...]
    fwhms: tuple[float, ...]
    eta: float
    reference: int = 0

    @property
    def centre(self) -> float:
        return self.centres[self.reference]

    @property
    def doublet(self) -> bool:
        return len(self.centres) > 1

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """The profile with the reference component at x = 0."""
        out = np.zeros_like(x, dtype=np.float64)
        for c, area, fwhm in zip(self.centres, self.areas, self.fwhms, strict=True):
            out += area * _pseudo_voigt(x - (c - self.centre), fwhm, self.eta)
        return out


@dataclass(frozen=True)
class SectorPoints:
    """Control points measured on sector profiles: (row, col, ring), sigma (rad of 2theta).

    ``floating``: rings whose absolute position is not known (a merged doublet when other
    rings show the doublet resolved: the blob's centre is not the calibrant's reflection);
    their points fix the centre and the tilts, not the distance.
    """

    points: np.ndarray
    sigma_rad: np.ndarray
    shapes: dict[int, RingShape]

    @property
    def floating(self) -> tuple[int, ...]:
        if not any(s.doublet for s in self.shapes.values()):
            return ()
        return tuple(sorted(k for k, s in self.shapes.items() if not s.doublet))


def _pseudo_voigt(x: np.ndarray, fwhm: float, eta: float) -> np.ndarray:
    """Unit-area pseudo-Voigt of full width ``fwhm`` and Lorentzian fraction ``eta``."""
    sigma = fwhm / (2.0 * math.sqrt(2.0 * math.log(2.0)))
    gauss = np.exp(-0.5 * (x / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
    gamma = fwhm / 2.0
    lorentz = gamma / (math.pi * (x * x + gamma * gamma))
    return eta * lorentz + (1.0 - eta) * gauss


@dataclass(frozen=True)
class _Band:
    """Pixels near one ring, binned by sector and 2theta offset."""

    ring: int
    x: np.ndarray            # bin centres, rad offset from the ring
    xcell: np.ndarray        # (sectors, bins) mean offset of the pixels in each cell
    n: np.ndarray            # (sectors, bins) pixel counts
    mean: np.ndarray         # (sectors, bins)
    var_pix: np.ndarray      # (bins,) pooled within-cell pixel variance
    sector_chi: np.ndarray   # (sectors,)
    moments: np.ndarray      # (sectors, 6, 6) normal matrix of the position regression
    rhs: np.ndarray          # (sectors, 6, 2)
    scale: np.ndarray        # (2,) the (2theta, chi) scale of the regression variables


def ring_bands(image: np.ndarray, valid: np.ndarray, *, tth_px: np.ndarray,
               chi_px: np.ndarray, tth: np.ndarray, rings: list[int],
               pixel_rad: float) -> list[_Band]:
    """Bin the valid pixels near each ring by sector and 2theta offset.

    ``tth_px`` and ``chi_px`` are the pixel centres' 2theta and chi (rad) under the current
    geometry, ``pixel_rad`` the 2theta subtended by one pixel near the rings.
    """
    rows, cols = np.nonzero(valid)
    t = tth_px[valid]
    c = chi_px[valid]
    v = image[valid]
    bands = []
    finite = np.flatnonzero(np.isfinite(tth))
    for k in rings:
        others = tth[finite[finite != k]]
        gap = np.min(np.abs(others - tth[k])) if others.size else tth[k]
        half = min(BAND_FRACTION * gap, MAX_HALF_WIDTH_PX * pixel_rad)
        sel = np.flatnonzero(np.abs(t - tth[k]) < half)
        if sel.size < 50:
            continue
        # positions in pyFAI's pixel coordinates (pixel i spans i - 0.5 ... i + 0.5)
        band = _bin_band(k, dx=t[sel] - tth[k], chi=c[sel], values=v[sel], rows=rows[sel],
                         cols=cols[sel], half=half, pixel_rad=pixel_rad, tth_k=tth[k])
        if band is not None:
            bands.append(band)
    return bands


def _bin_band(k, *, dx, chi, values, rows, cols, half, pixel_rad, tth_k):
    width = pixel_rad / BINS_PER_PIXEL
    n_bins = max(int(2 * half / width), 8)
    radius_px = math.tan(tth_k) / math.tan(pixel_rad) if pixel_rad > 0 else 100.0
    n_sec = int(np.clip(round(2 * math.pi * radius_px / SECTOR_ARC_PX), MIN_SECTORS,
                        MAX_SECTORS))
    sec = np.minimum(((chi + math.pi) / (2 * math.pi) * n_sec).astype(np.int64), n_sec - 1)
    b = np.clip(((dx + half) / (2 * half) * n_bins).astype(np.int64), 0, n_bins - 1)
    cell = sec * n_bins + b
    size = n_sec * n_bins
    n = np.bincount(cell, minlength=size).astype(np.float64)
    s1 = np.bincount(cell, values, minlength=size)
    s2 = np.bincount(cell, values * values, minlength=size)
    mean = s1 / np.maximum(n, 1)
    within = np.maximum(s2 - n * mean * mean, 0.0).reshape(n_sec, n_bins).sum(axis=0)
    dof = np.maximum(n - 1, 0).reshape(n_sec, n_bins).sum(axis=0)
    var_pix = within / np.maximum(dof, 1)
    positive = var_pix[dof > 0]
    floor = max(float(np.median(positive)) * 1e-3, 1e-12) if positive.size else 1.0
    var_pix = np.where(dof > 0, np.maximum(var_pix, floor), np.inf)
    sector_chi = -math.pi + (np.arange(n_sec) + 0.5) * 2 * math.pi / n_sec
    moments, rhs, scale = _position_moments(sec, n_sec, dx=dx, dchi=chi - sector_chi[sec],
                                            rows=rows, cols=cols, half=half)
    x = -half + (np.arange(n_bins) + 0.5) * (2 * half / n_bins)
    # the pixels' own mean offset in each cell, not the bin centre: pixel centres sample a
    # small ring unevenly, and a bin-centre abscissa would move the fitted peak
    xcell = np.where(n > 0, np.bincount(cell, dx, minlength=size) / np.maximum(n, 1),
                     np.tile(x, n_sec)).reshape(n_sec, n_bins)
    return _Band(k, x, xcell, n.reshape(n_sec, n_bins), mean.reshape(n_sec, n_bins), var_pix,
                 sector_chi, moments, rhs, scale)


def _position_moments(sec, n_sec, *, dx, dchi, rows, cols, half):
    """Normal equations of row, col ~ quadratic in (2theta offset, chi offset) per sector."""
    dchi = (dchi + math.pi) % (2 * math.pi) - math.pi
    scale = np.array([half, max(float(np.max(np.abs(dchi))), 1e-6)])
    u, w = dx / scale[0], dchi / scale[1]
    basis = np.stack([np.ones_like(u), u, w, u * u, u * w, w * w], axis=1)
    moments = np.empty((n_sec, 6, 6))
    rhs = np.empty((n_sec, 6, 2))
    for i in range(6):
        for j in range(i, 6):
            moments[:, i, j] = moments[:, j, i] = np.bincount(
                sec, basis[:, i] * basis[:, j], minlength=n_sec)
        rhs[:, i, 0] = np.bincount(sec, basis[:, i] * rows, minlength=n_sec)
        rhs[:, i, 1] = np.bincount(sec, basis[:, i] * cols, minlength=n_sec)
    return moments, rhs, scale


def _band_profile(band: _Band):
    """The ring's profile summed over its sectors: (x, mean, error) where pixels exist."""
    n = band.n.sum(axis=0)
    ok = n > 0
    y = (band.mean * band.n).sum(axis=0)[ok] / n[ok]
    x = (band.xcell * band.n).sum(axis=0)[ok] / n[ok]
    return x, y, np.sqrt(band.var_pix[ok] / n[ok])


@dataclass(frozen=True)
class _ShapeFit:
    shape: RingShape
    chi2: float
    n_par: int
    significance: float    # of the weakest component's area
    start: np.ndarray      # the fitted parameters (a start for the next model)

    def bic(self, n_points: int) -> float:
        return self.chi2 + self.n_par * math.log(n_points)


def _model(p, x, count, satellite):
    """Components on a quadratic background; parameters [c1, log fwhm1, logit eta, a1,
    b0, b1, b2] + ([c2, a2, log fwhm2] free, or [a2] at c1 + satellite with fwhm1)."""
    fwhm, eta = math.exp(p[1]), 1 / (1 + math.exp(-p[2]))
    out = p[3] * _pseudo_voigt(x - p[0], fwhm, eta) + p[4] + p[5] * x + p[6] * x * x
    if count == 2 and satellite is not None:
        out = out + p[7] * _pseudo_voigt(x - p[0] - satellite, fwhm, eta)
    elif count == 2:
        out = out + p[8] * _pseudo_voigt(x - p[7], math.exp(p[9]), eta)
    return out


def _start(x, y, e, previous, satellite):
    if previous is None:
        base = np.polyfit(x, y, 1, w=1 / e)
        excess = y - np.polyval(base, x)
        top = int(np.argmax(excess))
        height = max(float(excess[top]), 1e-12)
        # the run of points above half the maximum around the top
        above = excess >= 0.5 * height
        lo = top - np.argmin(above[top::-1]) if not above[:top + 1].all() else 0
        hi = top + np.argmin(above[top:]) if not above[top:].all() else x.size - 1
        fwhm0 = max(float(x[hi] - x[lo]), 2 * (x[1] - x[0]))
        return [x[top], math.log(fwhm0), 0.0, height * fwhm0, base[1], base[0], 0.0]
    p = previous.start
    w0 = math.exp(p[1])
    if satellite is not None:
        return [p[0] - 0.3 * satellite, p[1], p[2], 0.7 * p[3], *p[4:7], 0.3 * p[3]]
    return [p[0] - 0.3 * w0, math.log(0.7 * w0), p[2], 0.7 * p[3], *p[4:7], p[0] + 0.5 * w0,
            0.3 * p[3], math.log(0.7 * w0)]


def _fit_components(x, y, e, count, *, previous=None, satellite=None) -> _ShapeFit | None:
    """Least squares of ``count`` pseudo-Voigts (common FWHM, eta) on a quadratic
    background; with ``satellite`` the second one sits that far (rad) above the first."""
    step, span = x[1] - x[0], x[-1] - x[0]
    free_second = count == 2 and satellite is None
    lower = [x[0], math.log(step / 4), -8, 0, -np.inf, -np.inf, -np.inf]
    upper = [x[-1], math.log(span), 8, np.inf, np.inf, np.inf, np.inf]
    if count == 2:
        lower += [x[0], 0, math.log(step / 4)] if free_second else [0]
        upper += [x[-1], np.inf, math.log(span)] if free_second else [np.inf]
    p0 = np.clip(np.asarray(_start(x, y, e, previous, satellite), dtype=float),
                 np.array(lower) + 1e-12, np.array(upper) - 1e-12)
    try:
        fit = least_squares(lambda p: (_model(p, x, count, satellite) - y) / e, p0,
                            bounds=(lower, upper), x_scale="jac", max_nfev=400)
    except ValueError:
        return None
    p = fit.x
    chi2 = float(fit.fun @ fit.fun)
    cov = np.linalg.pinv(fit.jac.T @ fit.jac) * max(chi2 / max(x.size - p.size, 1), 1.0)
    comps = [(p[0], p[3], math.sqrt(max(cov[3, 3], 0)), math.exp(p[1]))]
    if count == 2 and satellite is not None:
        comps.append((p[0] + satellite, p[7], math.sqrt(max(cov[7, 7], 0)), math.exp(p[1])))
    elif count == 2:
        comps.append((p[7], p[8], math.sqrt(max(cov[8, 8], 0)), math.exp(p[9])))
    comps.sort()
    shape = RingShape(centres=tuple(c[0] for c in comps), areas=tuple(c[1] for c in comps),
                      fwhms=tuple(c[3] for c in comps), eta=1 / (1 + math.exp(-p[2])))
    significance = min(c[1] / max(c[2], 1e-300) for c in comps)
    return _ShapeFit(shape, chi2, p.size, significance, p)


def _better_doublet(single: _ShapeFit, double: _ShapeFit | None, n_points: int,
                    free: bool) -> bool:
    """A second reflection: much better by the BIC, significant, of a width like the first
    (two reflections of one order have similar widths; a broad second component describes
    a tail or the background, not a reflection) and resolved (separated by at least
    MIN_SEPARATION of the wider FWHM: closer components trade position for width and area,
    their centres mean little); the last two only for a freely placed second component."""
    if double is None:
        return False
    widths, centres = double.shape.fwhms, double.shape.centres
    better = (single.bic(n_points) - double.bic(n_points) > BIC_STRONG
              and double.significance >= RING_SIGNIFICANCE)
    if not free:
        return better
    return (better and max(widths) <= MAX_WIDTH_RATIO * min(widths)
            and centres[-1] - centres[0] >= MIN_SEPARATION * max(widths))


def fit_ring_shape(band: _Band, allow_doublet: bool,
                   satellite: float | None = None) -> RingShape | None:
    """Shape of the ring from the sum of its sectors (one or two pseudo-Voigt components).

    ``satellite``: a second component's offset above the first (rad), known from other
    rings; then only its area is fitted.
    """
    x, y, e = _band_profile(band)
    if x.size < 10:
        return None
    single = _fit_components(x, y, e, 1)
    if single is None:
        return None
    if allow_doublet:
        double = _fit_components(x, y, e, 2, previous=single, satellite=satellite)
        if _better_doublet(single, double, x.size, free=satellite is None):
            return double.shape
    return single.shape if single.significance >= RING_SIGNIFICANCE else None


def sector_shifts(band: _Band, shape: RingShape):
    """Shift (rad), its standard uncertainty and the significance of each sector's peak."""
    w = np.where(band.n > 0, band.n / band.var_pix[None, :], 0.0)
    x, y = band.xcell, band.mean
    span = band.x[-1] - band.x[0]
    step = BINS_PER_PIXEL * (band.x[1] - band.x[0])     # one pixel, then 1/8 of one
    coarse = np.arange(-0.25 * span, 0.25 * span + step / 2, step)
    chi2, _ = _chi2_grid(x, y, w, shape, coarse)
    best = coarse[np.argmin(chi2, axis=1)]
    fine = np.linspace(-1.5 * step, 1.5 * step, 25)
    grid = best[:, None] + fine[None, :]
    chi2, amp = _chi2_grid(x, y, w, shape, grid)
    j = np.clip(np.argmin(chi2, axis=1), 1, fine.size - 2)
    rows = np.arange(chi2.shape[0])
    c_m, c_0, c_p = chi2[rows, j - 1], chi2[rows, j], chi2[rows, j + 1]
    h = fine[1] - fine[0]
    curv = (c_p - 2 * c_0 + c_m) / (h * h)
    delta = np.where(curv > 0, -0.5 * h * (c_p - c_m) / np.maximum(curv * h * h, 1e-300), 0.0)
    shift = grid[rows, j] + np.clip(delta / h, -1, 1) * h
    dof = np.maximum((w > 0).sum(axis=1) - 5, 1)
    scale = np.maximum(c_0 / dof, 1.0)
    sigma = np.where(curv > 0, np.sqrt(2.0 / np.maximum(curv, 1e-300) * scale), np.inf)
    a, a_err = amp[rows, j, 0], amp[rows, j, 1]
    significance = np.where(a_err > 0, a / np.maximum(a_err, 1e-300), 0.0)
    edge = np.abs(shift) > 0.25 * span
    significance = np.where(edge | ((w > 0).sum(axis=1) < 8), 0.0, significance)
    return shift, sigma, significance


def _chi2_grid(x, y, w, shape, shifts):
    """chi^2 of a * shape(x - s) + quadratic background per sector and shift (the linear
    parameters solved exactly), and the amplitude with its standard uncertainty."""
    shifts = np.broadcast_to(shifts, (y.shape[0], np.shape(shifts)[-1]))
    f = shape(x[:, None, :] - shifts[:, :, None])              # (sec, grid, bins)
    u = (x / max(float(np.max(np.abs(x))), 1e-300))[:, None, :]
    basis = [f] + [np.broadcast_to(u**k, f.shape) for k in range(3)]
    ww = w[:, None, :]
    yy = y[:, None, :]
    m = len(basis)
    mat = np.empty((*f.shape[:2], m, m))
    vec = np.empty((*f.shape[:2], m))
    for i in range(m):
        vec[..., i] = np.sum(ww * basis[i] * yy, axis=2)
        for j in range(i, m):
            mat[..., i, j] = mat[..., j, i] = np.sum(ww * basis[i] * basis[j], axis=2)
    trace = np.trace(mat, axis1=2, axis2=3)[..., None, None]
    empty = trace <= 0   # a sector without valid pixels: solved as identity, significance 0
    mat = np.where(empty, np.eye(m), mat + np.eye(m) * 1e-12 * trace)
    inverse = np.linalg.inv(mat)
    coef = np.einsum("...ij,...j->...i", inverse, vec)
    chi2 = np.sum(ww * yy * yy, axis=2) - np.sum(coef * vec, axis=2)
    amp = np.stack([coef[..., 0], np.sqrt(np.maximum(inverse[..., 0, 0], 0.0))], axis=-1)
    return chi2, amp


def sector_positions(band: _Band, shift: np.ndarray) -> np.ndarray:
    """(row, col) where each sector's central azimuth meets 2theta_ring + shift."""
    u = shift / band.scale[0]
    basis = np.stack([np.ones_like(u), u, np.zeros_like(u), u * u, np.zeros_like(u),
                      np.zeros_like(u)], axis=1)
    out = np.full((shift.size, 2), np.nan)
    for s in range(shift.size):
        m = band.moments[s]
        if m[0, 0] < 12 or np.linalg.cond(m) > 1e12:
            continue
        coef = np.linalg.solve(m, band.rhs[s])
        out[s] = basis[s] @ coef
    return out


def _satellite_ratio(shapes: dict[int, RingShape], tth: np.ndarray) -> float | None:
    """q_high / q_low - 1 common to the rings' doublets: the median of those within 20 % of
    the median, when they are at least half of the doublets (else None)."""
    ratios = np.array([math.sin((tth[k] + s.centres[1]) / 2)
                       / math.sin((tth[k] + s.centres[0]) / 2) - 1
                       for k, s in shapes.items() if s.doublet])
    if ratios.size == 0:
        return None
    median = float(np.median(ratios))
    agree = ratios[np.abs(ratios - median) <= 0.2 * median]
    return float(np.median(agree)) if 2 * agree.size >= ratios.size else None


def _agrees(shape: RingShape, tth_k: float, ratio: float) -> bool:
    own = math.sin((tth_k + shape.centres[1]) / 2) / math.sin((tth_k + shape.centres[0]) / 2) - 1
    return abs(own - ratio) <= 0.2 * ratio


def _ring_shapes(bands: list[_Band], tth: np.ndarray, allow_doublet: bool):
    """Every ring's shape, the doublet treated as one property of the sample.

    A second reflection at a fixed ratio of q beside every calibrant ring (a second phase,
    as on the real silver behenate frames) is resolved on the outer rings and merged on the
    inner ones: its ratio, measured where resolved, is imposed where it is merged (only the
    heights are fitted there, the doublet kept if the BIC says so). The component taken as
    the calibrant's is the same on every ring: the one with the larger share of the area,
    summed over the doublet rings.
    """
    shapes = {b.ring: fit_ring_shape(b, allow_doublet) for b in bands}
    shapes = {k: s for k, s in shapes.items() if s is not None}
    ratio = _satellite_ratio(shapes, tth) if allow_doublet else None
    if ratio is None:   # no doublet, or doublets that disagree: single peaks everywhere
        return {b.ring: fit_ring_shape(b, False) if shapes[b.ring].doublet else shapes[b.ring]
                for b in bands if b.ring in shapes}
    for band in bands:
        shape = shapes.get(band.ring)
        if shape is None or (shape.doublet and _agrees(shape, tth[band.ring], ratio)):
            continue
        if shape.doublet:   # a doublet at another ratio: its single-peak fit is the blob
            shape = fit_ring_shape(band, False)
        # the merged blob sits between the two: its lower component about half the
        # separation below it (only the separation, which hardly depends on it, is used)
        blob = tth[band.ring] + shape.centre
        low = blob - 0.5 * ratio * blob
        offset = 2 * math.asin(min((1 + ratio) * math.sin(low / 2), 1.0)) - low
        refit = fit_ring_shape(band, True, satellite=offset)
        if refit is not None:
            shapes[band.ring] = refit
    share = np.mean([s.areas[0] / sum(s.areas) for s in shapes.values() if s.doublet])
    reference = 0 if share >= 0.5 else 1
    return {k: replace(s, reference=reference) if s.doublet else s for k, s in shapes.items()}


def sector_control_points(image: np.ndarray, valid: np.ndarray, *, tth_px: np.ndarray,
                          chi_px: np.ndarray, tth: np.ndarray, rings: list[int],
                          pixel_rad: float, allow_doublet: bool,
                          shapes: dict[int, RingShape] | None = None) -> SectorPoints:
    """Control points (row, col, ring) with 2theta uncertainties from sector profiles.

    ``shapes``: the rings' shapes from a previous pass, used as they are (a pass that only
    confirms a still geometry need not refit them).
    """
    bands = ring_bands(image, valid, tth_px=tth_px, chi_px=chi_px, tth=tth, rings=rings,
                       pixel_rad=pixel_rad)
    if shapes is None:
        shapes = _ring_shapes(bands, tth, allow_doublet)
    points, sigmas, used = [], [], {}
    for band in bands:
        shape = shapes.get(band.ring)
        if shape is None:
            continue
        shift, sigma, significance = sector_shifts(band, shape)
        pos = sector_positions(band, shift)
        keep = (significance >= SECTOR_SIGNIFICANCE) & np.isfinite(sigma) & np.isfinite(
            pos[:, 0])
        if keep.sum() < 3:
            continue
        used[band.ring] = shape
        points.append(np.column_stack([pos[keep], np.full(keep.sum(), band.ring, float)]))
        sigmas.append(sigma[keep])
    if not points:
        return SectorPoints(np.zeros((0, 3)), np.zeros(0), {})
    return SectorPoints(np.concatenate(points), np.concatenate(sigmas), used)
