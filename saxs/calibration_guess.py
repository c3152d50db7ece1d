"""First guess of a calibration from the image alone (wavelength and pixel size known).

1. The beam centre by gradient voting: on a log image every steep pixel of a ring (or of the
   small-angle scattering) votes along its gradient line; the lines meet at the ring centre,
   on or off the detector. Coarse on a binned image, then fine in a window.
2. The radial profile around that centre and its peaks (asymmetric least-squares baseline,
   5 sigma and 10 % above it).
3. The distance that indexes the peaks on the calibrant's rings (``r = D tan 2theta_k /
   pixel``). Each hypothesis (one of the strongest peaks is ring k) is scored by two
   fractions: the share of the strong peaks' significance that its rings explain, and the
   share of its rings inside the observed range that are seen. Their product prefers the
   hypothesis that explains the strong rings without predicting absent ones: sub-multiples
   of the distance predict absent rings, super-multiples leave strong rings unexplained.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage
from scipy.signal import find_peaks

from saxs.calibration_input import CalibrationInput
from saxs.errors import InputError

#: a ring is used when its peak stands this many sigma above the background
RING_SIGNIFICANCE = 5.0
#: a radial-profile peak must exceed its background by this fraction to count as a ring
MIN_RELATIVE_HEIGHT = 0.1
#: the strongest radial-profile peaks used for the first guess
STRONG_PEAKS = 8
#: a peak matches a predicted ring within this fraction of its radius (tilts of a few
#: degrees stretch the radii seen around the beam centre by a few per cent) or 3 pixels
MATCH_TOLERANCE = 0.04


# centre ------------------------------------------------------------------------------------
def binned(image: np.ndarray, mask: np.ndarray, factor: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean of the valid pixels in factor x factor blocks, and the blocks under half valid."""
    rows, cols = (s // factor * factor for s in image.shape)
    valid = ~mask[:rows, :cols]
    shape4 = (rows // factor, factor, cols // factor, factor)
    total = np.where(valid, image[:rows, :cols], 0.0).reshape(shape4).sum(axis=(1, 3))
    count = valid.reshape(shape4).sum(axis=(1, 3))
    return total / np.maximum(count, 1), count < 0.5 * factor * factor


def _log_gradients(image: np.ndarray, mask: np.ndarray, smooth_px: float):
    valid = ~mask
    floor = np.percentile(image[valid], 1) if valid.any() else 0.0
    logimg = np.log1p(np.clip(image - floor, 0, None)) * valid
    weight = ndimage.gaussian_filter(valid.astype(float), smooth_px)
    smooth = ndimage.gaussian_filter(logimg, smooth_px) / np.maximum(weight, 1e-6)
    g0, g1 = np.gradient(smooth)
    usable = ~ndimage.binary_dilation(mask, iterations=int(2 * smooth_px) + 2)
    usable[:2, :] = usable[-2:, :] = usable[:, :2] = usable[:, -2:] = False
    return g0, g1, usable


def _vote(g0, g1, usable, rng, *, window=None, n_max=6000):
    """Accumulate lines along the gradients; return the best point (row, col) in this grid."""
    mag = np.hypot(g0, g1)
    cand = np.flatnonzero(usable.ravel() & (mag.ravel() > 0))
    if cand.size < 20:
        return None
    cut = np.percentile(mag.ravel()[cand], 80)
    cand = cand[mag.ravel()[cand] >= cut]
    if cand.size > n_max:
        cand = rng.choice(cand, n_max, replace=False)
    rows, cols = np.unravel_index(cand, g0.shape)
    u0, u1 = g0.ravel()[cand] / mag.ravel()[cand], g1.ravel()[cand] / mag.ravel()[cand]
    h, w = g0.shape
    if window is None:
        lo0, lo1, n0, n1 = -h, -w, 3 * h, 3 * w
        t = np.arange(-1.5 * (n0 + n1), 1.5 * (n0 + n1), 1.0)
        t_rows = np.broadcast_to(t, (cand.size, t.size))
    else:
        (c0, c1), half = window
        lo0, lo1, n0, n1 = int(c0 - half), int(c1 - half), int(2 * half), int(2 * half)
        t0 = (c0 - rows) * u0 + (c1 - cols) * u1
        t_rows = t0[:, None] + np.arange(-1.5 * half, 1.5 * half, 0.5)[None, :]
    p0 = np.floor(rows[:, None] + 0.5 + t_rows * u0[:, None] - lo0).astype(np.int64)
    p1 = np.floor(cols[:, None] + 0.5 + t_rows * u1[:, None] - lo1).astype(np.int64)
    inside = (p0 >= 0) & (p0 < n0) & (p1 >= 0) & (p1 < n1)
    acc = np.bincount((p0[inside] * n1 + p1[inside]), minlength=n0 * n1).reshape(n0, n1)
    acc = ndimage.gaussian_filter(acc.astype(float), 1.5)
    best = np.unravel_index(int(np.argmax(acc)), acc.shape)
    return best[0] + lo0, best[1] + lo1


def guess_center(image: np.ndarray, mask: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """Centre of the rings (row, col in pixel-edge coordinates) by gradient voting.

    Works for centres up to one detector size outside the image. Coarse on an image binned
    to ~256 pixels, then on one binned to ~1024 in a window around the coarse answer.
    """
    rng = np.random.default_rng(seed)
    coarse = max(1, math.ceil(max(image.shape) / 256))
    small, small_mask = binned(image, mask, coarse)
    g0, g1, usable = _log_gradients(small, small_mask, 1.5)
    best = _vote(g0, g1, usable, rng)
    if best is None:
        raise InputError("too few usable pixels to find the ring centre; check the mask")
    centre = ((best[0] + 0.5) * coarse, (best[1] + 0.5) * coarse)
    fine = max(1, math.ceil(max(image.shape) / 1024))
    if fine < coarse:
        small, small_mask = binned(image, mask, fine)
        g0, g1, usable = _log_gradients(small, small_mask, 1.0)
        window = ((centre[0] / fine, centre[1] / fine), 3.0 * coarse / fine + 4)
        best = _vote(g0, g1, usable, rng, window=window, n_max=20000)
        if best is not None:
            centre = ((best[0] + 0.5) * fine, (best[1] + 0.5) * fine)
    return centre


# radial profile ----------------------------------------------------------------------------
def _radial_profile(image, mask, centre):
    valid = ~mask
    rows, cols = np.nonzero(valid)
    values = image[valid]
    index = np.hypot(rows + 0.5 - centre[0], cols + 0.5 - centre[1]).astype(np.int64)
    n = np.bincount(index)
    total = np.bincount(index, values, minlength=n.size)
    squares = np.bincount(index, values * values, minlength=n.size)
    ok = n >= 8
    mean = np.where(ok, total / np.maximum(n, 1), 0.0)
    var = np.where(ok, squares / np.maximum(n, 1) - mean**2, 0.0)
    err = np.sqrt(np.maximum(var, 1e-12) / np.maximum(n, 1))
    good = np.flatnonzero(ok)
    return good + 0.5, mean[good], err[good]


def radial_peaks(image: np.ndarray, mask: np.ndarray, centre: tuple[float, float],
                 min_significance: float = RING_SIGNIFICANCE):
    """Peaks of the radial profile around ``centre``.

    Returns (radii_px, significance, r_range) where r_range is the range of radii with enough
    valid pixels to see a ring.
    """
    from saxs.bragg import smooth_background  # noqa: PLC0415

    radius, prof, perr = _radial_profile(image, mask, centre)
    if radius.size < 30:
        return np.zeros(0), np.zeros(0), (0.0, 0.0)
    positive = prof - min(prof.min(), 0.0) + 1e-9
    base = smooth_background(positive, smoothness=1e3)
    excess = (positive - base) / np.maximum(perr, 1e-12 * positive.max())
    # 3-point sums: a ring a few pixels wide whose pixels are each within the noise still shows
    summed = np.convolve(positive - base, np.ones(3), "same") / np.sqrt(
        np.convolve(perr**2, np.ones(3), "same"))
    significance = np.maximum(excess, summed)
    peaks, _ = find_peaks(significance, height=min_significance, distance=3)
    # rings stand out of the background by a fraction, not only by many sigma (the steep
    # small-angle scattering near the beam leaves bumps that are significant but shallow)
    relative = (positive - base) / base
    # below 10 px: the direct beam and the beamstop's edge
    peaks = peaks[(radius[peaks] >= 10) & (relative[peaks] >= MIN_RELATIVE_HEIGHT)]
    # a ring of a tilted detector seen around its beam centre can split into close bumps
    kept: list[int] = []
    for p in peaks[np.argsort(significance[peaks])[::-1]]:
        if all(abs(radius[p] - radius[k]) > max(3.0, 0.03 * radius[p]) for k in kept):
            kept.append(int(p))
    peaks = np.sort(np.array(kept, dtype=int))
    return radius[peaks], significance[peaks], (float(radius[0]), float(radius[-1]))


# indexing ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Assignment:
    """A distance hypothesis: the distance (m), (radius px, ring) pairs, rings missed, score."""

    distance_m: float
    pairs: tuple[tuple[float, int], ...]
    missed: int
    score: float


def _score(pred, radii, strength, strong, r_low):
    """(score, matched {ring: peak}, missed) of predicted radii against the observed peaks."""
    tol = np.maximum(3.0, MATCH_TOLERANCE * pred)
    near = np.abs(pred[:, None] - radii[None, :]) <= tol[:, None]     # (rings, peaks)
    top = radii[strong].max() + 3.0
    in_range = (pred >= r_low + 3.0) & (pred <= top)
    seen = near.any(axis=1) & in_range
    hit = seen.sum() / max(int(in_range.sum()), 1)
    explained = strength[strong][near[:, strong].any(axis=0)].sum() / strength[strong].sum()
    matched = {}
    for m in np.flatnonzero(seen):
        cand = np.flatnonzero(near[m])
        matched[int(m)] = int(cand[np.argmax(strength[cand])])
    return explained * hit, matched, int(in_range.sum() - seen.sum())


def assign(radii_px: np.ndarray, strength: np.ndarray, tth: np.ndarray, pixel_m: float, *,
           r_range: tuple[float, float], distance_guess: float | None = None
           ) -> Assignment | None:
    """The distance hypothesis that best indexes the radial peaks on the calibrant's rings."""
    finite = np.flatnonzero(np.isfinite(tth) & (tth < np.radians(85)))
    if radii_px.size == 0 or finite.size == 0:
        return None
    strong = np.argsort(strength)[::-1][:STRONG_PEAKS]
    tan = np.tan(tth[finite])
    best = None
    for i in strong[:6]:
        for k in range(min(finite.size, 25)):
            dist = radii_px[i] * pixel_m / tan[k]
            if not 0.01 < dist < 100.0:
                continue
            score, matched, missed = _score(dist * tan / pixel_m, radii_px, strength, strong,
                                            r_range[0])
            if distance_guess is not None:
                score -= 0.5 * abs(math.log(dist / distance_guess))
            if best is None or score > best[0] + 1e-9:
                best = (score, matched, missed)
    if best is None or not best[1]:
        return None
    score, matched, missed = best
    rings = sorted(matched)
    r = np.array([radii_px[matched[m]] for m in rings]) * pixel_m
    t = tan[rings]
    pairs = tuple((float(radii_px[matched[m]]), int(finite[m])) for m in rings)
    return Assignment(float(np.sum(r * t) / np.sum(t * t)), pairs, missed, float(score))


def first_guess(inp: CalibrationInput, tth: np.ndarray, *, pixel: tuple[float, float],
                distance_m: float | None, label: str, wavelength_m: float,
                seed: int) -> tuple[dict[str, float], dict[str, Any]]:
    """(starting parameters in pyFAI's names, provenance of the guess) from the image."""
    centre = guess_center(inp.image, inp.mask, seed)
    radii, strength, r_range = radial_peaks(inp.image, inp.mask, centre)
    where = f"({centre[0]:.0f}, {centre[1]:.0f})"
    if radii.size == 0:
        raise InputError(f"{inp.source}: no calibrant ring found (no peak of the radial profile "
                         f"around the guessed centre {where} px stands {RING_SIGNIFICANCE:g} "
                         "sigma above the background); check that the frame shows rings and "
                         "the mask, or give a starting geometry (--distance, a PONI)")
    found = assign(radii, strength, tth, math.sqrt(pixel[0] * pixel[1]), r_range=r_range,
                   distance_guess=distance_m)
    strong = np.sort(radii[np.argsort(strength)[::-1][:STRONG_PEAKS]])
    needed = 1 if strong.size == 1 else 2
    if found is None or len(found.pairs) < needed:
        n_ok = 0 if found is None else len(found.pairs)
        radii_text = ", ".join(f"{r:.0f}" for r in strong)
        raise InputError(f"{inp.source}: the strongest rings found (radii {radii_text} px "
                         f"around {where}) do not match {label} at wavelength "
                         f"{wavelength_m * 1e9:.5g} nm (at best {n_ok} of {strong.size} index); "
                         "check the wavelength or energy (Angstrom vs nm) and the calibrant name")
    start = {"dist": found.distance_m, "poni1": centre[0] * pixel[0],
             "poni2": centre[1] * pixel[1], "rot1": 0.0, "rot2": 0.0, "rot3": 0.0}
    info = {"method": "automatic (gradient voting centre, radial-profile ring indexing)",
            "center_px": [float(centre[0]), float(centre[1])], "dist": found.distance_m,
            "rings_indexed": [k for _, k in found.pairs],
            "radial_peaks_px": [r for r, _ in found.pairs], "missed_rings": found.missed,
            "score": found.score}
    return start, info
