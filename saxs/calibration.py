"""Geometry calibration from a calibrant frame, headless (``saxs.calibrate``).

The module is pyFAI's calibration adapter (DESIGN.md §1): pyFAI's calibrant registry gives the
d-spacings, its ``SingleGeometry.extract_cp`` (massif peak picking in a band around each
expected ring) gives the control points and its ``GeometryRefinement.refine3`` refines
distance, PONI and tilts. What pyFAI does not do headless is added here:

1. A first guess from the image alone (wavelength and pixel size known): the beam centre by
   gradient voting (on a log image, every steep pixel of a ring or of the small-angle
   scattering votes along its gradient line; the lines meet at the ring centre, on or off the
   detector; coarse on a binned image, then fine in a window), then the radial profile around
   it, its peaks (asymmetric least-squares baseline, 5 sigma) and the distance that indexes the
   most of them on the calibrant's rings (``r = D tan 2theta_k / pixel``), with rings that the
   assignment predicts inside the observed range but are absent counted against it.
2. The choice of rings: only rings that stand 5 sigma above the background of a 1-D
   integration with the current geometry get control points; points whose residual exceeds
   4 robust standard deviations are dropped; extraction and refinement alternate until the
   geometry stops moving (first with the tilts fixed).
3. Uncertainties: from the Jacobian J of the 2theta residuals at the optimum (central
   differences of pyFAI's ``tth``), covariance = s^2 (J^T J)^-1 with s^2 = sum r^2 / (n - p),
   i.e. the residual scatter taken as the point error. Control points of one ring are treated
   as independent; the closed-loop tests check that the truth lies within 3 sigma.

At small angles the wavelength and the distance are degenerate (rings fix tan 2theta / lambda
~ q): a wrong wavelength is caught only when the rings' spacing stops matching the calibrant
(wide angles, or an error of a factor like Angstrom vs nm); q itself stays right.

Literature d-spacings come from pyFAI's registry: AgBh d_001 = 5.8380 nm (Huang, Toraya,
Blanton & Wu 1993, J. Appl. Cryst. 26, 180), LaB6 a = 0.4156826 nm in pyFAI's file (NIST SRM
660 series).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pyFAI import version as _pyfai_version
from pyFAI.calibrant import CALIBRANT_FACTORY, Calibrant
from pyFAI.detectors import Detector
from pyFAI.goniometer import SingleGeometry
from scipy import ndimage
from scipy.optimize import least_squares
from scipy.signal import find_peaks

from saxs.errors import InputError
from saxs.geometry import Geometry

log = logging.getLogger(__name__)

#: geometry parameters that can be refined, in pyFAI's order
PARAMETERS = ("dist", "poni1", "poni2", "rot1", "rot2", "rot3")
#: names used in :class:`Calibration` for each pyFAI parameter
_FIELD = {"dist": "distance_m", "poni1": "poni1_m", "poni2": "poni2_m", "rot1": "rot1_rad",
          "rot2": "rot2_rad", "rot3": "rot3_rad"}
#: a ring is used when its peak stands this many sigma above the background
RING_SIGNIFICANCE = 5.0
#: control points farther than this many robust sigma from their ring are dropped
CLIP_SIGMA = 4.0
#: a radial-profile peak must exceed its background by this fraction to count as a ring
MIN_RELATIVE_HEIGHT = 0.1
#: the strongest radial-profile peaks used for the first guess
STRONG_PEAKS = 8
#: largest RMS radial residual (pixels) that still counts as rings matching the calibrant
MAX_RMS_PX = 1.5


# calibrants --------------------------------------------------------------------------------
def known_calibrants() -> list[str]:
    """Names of pyFAI's registered calibrants."""
    return sorted(CALIBRANT_FACTORY.keys(), key=str.lower)


def _registry_name(name: str) -> str:
    lookup = {k.lower(): k for k in CALIBRANT_FACTORY.keys()}  # noqa: SIM118 (not iterable)
    key = lookup.get(str(name).strip().lower())
    if key is None:
        raise InputError(f"calibrant {name!r} is not known; known calibrants: "
                         f"{', '.join(known_calibrants())} (or give dspacing_nm=[...])")
    return key


def calibrant_dspacing_nm(name: str) -> tuple[float, ...]:
    """d-spacings (nm, decreasing, unique) of a calibrant in pyFAI's registry."""
    cal = CALIBRANT_FACTORY(_registry_name(name))
    return tuple(sorted({round(d / 10.0, 12) for d in cal.dspacing}, reverse=True))


def split_calibrant_names(calibrant: str | Sequence[str]) -> list[str]:
    """``"AgBh+LaB6"`` (or a list) -> ["AgBh", "LaB6"]."""
    if isinstance(calibrant, str):
        return [n for n in calibrant.replace(",", "+").split("+") if n.strip()]
    return [str(n) for n in calibrant]


def _dspacings(calibrant: str | Sequence[str] | None,
               dspacing_nm: Sequence[float] | None) -> tuple[str, tuple[float, ...]]:
    """(label, unique decreasing d-spacings in nm) of one or several calibrants."""
    if dspacing_nm is not None:
        values = [float(d) for d in np.atleast_1d(dspacing_nm)]
        if not values or not all(math.isfinite(d) and d > 0 for d in values):
            raise InputError(f"dspacing_nm must be positive numbers (nm), got {dspacing_nm!r}")
        return "user d-spacings", tuple(sorted(set(values), reverse=True))
    names = split_calibrant_names(calibrant or "")
    if not names:
        raise InputError("give a calibrant name (e.g. 'AgBh') or dspacing_nm=[...]")
    registry = [_registry_name(n) for n in names]
    values: set[float] = set()
    for name in registry:
        values.update(calibrant_dspacing_nm(name))
    return "+".join(registry), tuple(sorted(values, reverse=True))


def _pyfai_calibrant(dspacing_nm: Sequence[float], wavelength_m: float) -> Calibrant:
    return Calibrant(dspacing=[10.0 * d for d in dspacing_nm], wavelength=wavelength_m)


def _two_theta(dspacing_nm: Sequence[float], wavelength_m: float) -> np.ndarray:
    """2theta (rad) of each d-spacing; NaN where lambda / 2d > 1."""
    s = wavelength_m * 1e9 / (2.0 * np.asarray(dspacing_nm))
    with np.errstate(invalid="ignore"):
        return np.where(s < 1, 2.0 * np.arcsin(np.minimum(s, 1)), np.nan)


# result ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RingFit:
    """One calibrant ring used in the refinement.

    ``residual_q_nm`` is the mean of q(control point) - q(ring) over its points (1/nm),
    ``rms_q_nm`` their RMS about the expected q.
    """

    index: int
    dspacing_nm: float
    q_nm: float
    n_points: int
    residual_q_nm: float
    rms_q_nm: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {k: getattr(self, k) for k in ("index", "dspacing_nm", "q_nm", "n_points",
                                              "residual_q_nm", "rms_q_nm")}


@dataclass(frozen=True, eq=False)
class Calibration:
    """A refined geometry from a calibrant frame.

    Attributes
    ----------
    geometry : Geometry
        The refined geometry (wavelength and pixel sizes as given).
    uncertainty : dict
        One standard uncertainty per refined parameter, keyed like the Geometry fields
        (``distance_m``, ``poni1_m``, ``poni2_m``, ``rot1_rad``, ``rot2_rad``, ``rot3_rad``);
        fixed parameters are absent.
    fixed : tuple of str
        Parameters held fixed (pyFAI names: dist, poni1, poni2, rot1, rot2, rot3).
    rings : tuple of RingFit
        The rings used, their number of control points and residuals in q.
    control_points : ndarray
        (n, 3): row, column (pixel coordinates as pyFAI uses them) and ring index.
    calibrant : str
        Calibrant name(s).
    dspacing_nm : tuple of float
        All d-spacings of the calibrant(s), decreasing (ring index = position).
    beam_center_px : (float, float)
        Where the direct beam meets the detector (row, column), pixels.
    rms_residual_px : float
        RMS radial residual of the control points, pixels.
    profile_q_nm, profile_intensity : ndarray
        The 1-D azimuthal average with the refined geometry (for the diagnostic plot).
    image, mask : ndarray
        The calibrant image and the mask used (not written by :meth:`to_dict`).
    source : str
        Where the image came from.
    initial_guess : dict
        The starting geometry (and how it was obtained).
    """

    geometry: Geometry
    uncertainty: dict[str, float]
    fixed: tuple[str, ...]
    rings: tuple[RingFit, ...]
    control_points: np.ndarray
    calibrant: str
    dspacing_nm: tuple[float, ...]
    beam_center_px: tuple[float, float]
    rms_residual_px: float
    profile_q_nm: np.ndarray
    profile_intensity: np.ndarray
    image: np.ndarray = field(repr=False)
    mask: np.ndarray = field(repr=False)
    source: str = ""
    mask_source: str = ""
    initial_guess: dict[str, Any] = field(default_factory=dict)

    def write_poni(self, path: str | os.PathLike, overwrite: bool = False) -> Path:
        """Write the refined geometry as a pyFAI PONI file (atomic, kept unless ``overwrite``)."""
        return self.geometry.to_poni(path, overwrite=overwrite)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready provenance summary (no image)."""
        g = self.geometry
        return {
            "action": "calibrate",
            "source": self.source,
            "mask": self.mask_source,
            "calibrant": self.calibrant,
            "geometry": {"distance_m": g.distance_m, "poni1_m": g.poni1_m, "poni2_m": g.poni2_m,
                         "rot1_rad": g.rot1_rad, "rot2_rad": g.rot2_rad, "rot3_rad": g.rot3_rad,
                         "pixel1_m": g.pixel1_m, "pixel2_m": g.pixel2_m,
                         "wavelength_m": g.wavelength_m, "shape": list(g.shape)},
            "uncertainty": dict(self.uncertainty),
            "fixed": list(self.fixed),
            "beam_center_px": list(self.beam_center_px),
            "rms_residual_px": self.rms_residual_px,
            "rings": [r.to_dict() for r in self.rings],
            "n_control_points": int(self.control_points.shape[0]),
            "initial_guess": dict(self.initial_guess),
            "pyfai_version": _pyfai_version,
            "uncertainty_method": "s^2 (J^T J)^-1 of the 2theta residuals, s^2 = RSS / (n - p)",
        }

    def report(self) -> str:
        """The refined geometry with uncertainties, and the residual per ring (text)."""
        g, u = self.geometry, self.uncertainty

        def line(label: str, key: str, value: float, scale: float, unit: str) -> str:
            err = u.get(key)
            text = f"+- {err * scale:.3g}" if err is not None else "(fixed)"
            return f"  {label:<10} {value * scale:12.5f} {text} {unit}"

        rows = [(f"calibrant {self.calibrant}, wavelength {g.wavelength_m * 1e9:.6g} nm, "
                f"pixel {g.pixel1_m * 1e6:.4g} x {g.pixel2_m * 1e6:.4g} um, shape {g.shape}"),
                line("distance", "distance_m", g.distance_m, 1e3, "mm"),
                line("poni1", "poni1_m", g.poni1_m, 1e3, "mm"),
                line("poni2", "poni2_m", g.poni2_m, 1e3, "mm"),
                line("rot1", "rot1_rad", g.rot1_rad, 180 / math.pi, "deg"),
                line("rot2", "rot2_rad", g.rot2_rad, 180 / math.pi, "deg"),
                line("rot3", "rot3_rad", g.rot3_rad, 180 / math.pi, "deg"),
                (f"  beam centre (row, column) = ({self.beam_center_px[0]:.2f}, "
                f"{self.beam_center_px[1]:.2f}) px"),
                (f"  {self.control_points.shape[0]} control points on {len(self.rings)} rings, "
                f"RMS radial residual {self.rms_residual_px:.3f} px"),
                "  ring  d (nm)     q (1/nm)   points  mean dq (1/nm)  rms dq (1/nm)"]
        rows += [f"  {r.index:4d}  {r.dspacing_nm:9.5f}  {r.q_nm:9.5f}  {r.n_points:6d}  "
                 f"{r.residual_q_nm:+.3e}      {r.rms_q_nm:.3e}" for r in self.rings]
        return "\n".join(rows)


# input -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Input:
    image: np.ndarray
    mask: np.ndarray
    wavelength_m: float | None
    pixel_m: tuple[float, float] | None
    header_geometry: Geometry | None
    source: str
    mask_source: str


def _load(frames_or_image: Any, mask: Any) -> _Input:
    """The image (mean of the frames), its mask and what the file says about the geometry."""
    from saxs.frames import FrameStack  # noqa: PLC0415

    source = ""
    header_geometry = None
    invalid = None
    if isinstance(frames_or_image, str | os.PathLike):
        from saxs.io.frames import read_frames  # noqa: PLC0415

        source = os.fspath(frames_or_image)
        frames_or_image = read_frames(frames_or_image, require_geometry=False, scalers=None)
    if isinstance(frames_or_image, FrameStack):
        stack = frames_or_image
        source = source or stack.describe()
        header_geometry = stack.geometry
        data = np.asarray(stack[:], dtype=np.float64)
        if stack.dummy is not None:
            bad = np.abs(data - float(stack.dummy)) <= float(stack.delta_dummy)
            invalid = bad.any(axis=0)
        image = data.mean(axis=0)
    else:
        image = np.array(frames_or_image, dtype=np.float64)
        if image.ndim == 3:
            image = image.mean(axis=0)
        source = source or "array"
    if image.ndim != 2 or min(image.shape) < 16:
        raise InputError(f"{source}: calibrate needs a 2-D image of at least 16 x 16 pixels, "
                         f"got shape {image.shape}")
    bad = ~np.isfinite(image)
    if invalid is not None:
        bad |= invalid
    mask_source = ""
    if mask is not None:
        if isinstance(mask, str | os.PathLike):
            from saxs.io.calib import read_mask  # noqa: PLC0415

            mask_source = os.fspath(mask)
            user = read_mask(mask, image.shape)
        else:
            user = np.asarray(mask, dtype=bool)
            mask_source = "array"
            if user.shape != image.shape:
                raise InputError(f"mask shape {user.shape} differs from the image shape "
                                 f"{image.shape}; give a mask of the frame's shape")
        bad |= user
    image = np.where(bad, 0.0, image)
    if bad.mean() > 0.95:
        raise InputError(f"{source}: {bad.mean():.0%} of the pixels are masked; check the mask "
                         "(True = masked) and the Dummy value")
    return _Input(image, bad, None, None, header_geometry, source, mask_source)


def _starting_values(inp: _Input, wavelength_nm, energy_kev, pixel_size_m, geometry):
    wavelength_m = None
    if wavelength_nm is not None and energy_kev is not None:
        raise InputError("give either wavelength_nm or energy_kev, not both")
    if wavelength_nm is not None:
        wavelength_m = float(wavelength_nm) * 1e-9
    elif energy_kev is not None:
        from saxs.units import energy_kev_to_wavelength_m  # noqa: PLC0415

        wavelength_m = energy_kev_to_wavelength_m(float(energy_kev))
    elif geometry is not None:
        wavelength_m = geometry.wavelength_m
    elif inp.header_geometry is not None:
        wavelength_m = inp.header_geometry.wavelength_m
    if wavelength_m is None or not (math.isfinite(wavelength_m) and 1e-12 < wavelength_m < 1e-8):
        raise InputError(f"{inp.source}: no usable wavelength ({wavelength_m!r} m); give "
                         "wavelength_nm= (or -w in Angstrom / -e in keV on the command line)")
    if pixel_size_m is not None:
        sizes = np.atleast_1d(np.asarray(pixel_size_m, dtype=float))
        pixel = (float(sizes[0]), float(sizes[-1]))
    elif geometry is not None:
        pixel = (geometry.pixel1_m, geometry.pixel2_m)
    elif inp.header_geometry is not None:
        pixel = (inp.header_geometry.pixel1_m, inp.header_geometry.pixel2_m)
    else:
        raise InputError(f"{inp.source}: no pixel size; give pixel_size_m= (or --pixel in um)")
    if not all(math.isfinite(p) and 1e-7 < p < 1e-2 for p in pixel):
        raise InputError(f"pixel size {pixel} m is not plausible; give it in m (e.g. 172e-6)")
    return wavelength_m, pixel


# first guess -------------------------------------------------------------------------------
def _binned(image: np.ndarray, mask: np.ndarray, factor: int):
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


def _vote(g0, g1, usable, rng, window=None, n_max=6000):  # noqa: PLR0917
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
    binned, bmask = _binned(image, mask, coarse)
    g0, g1, usable = _log_gradients(binned, bmask, 1.5)
    best = _vote(g0, g1, usable, rng)
    if best is None:
        raise InputError("too few usable pixels to find the ring centre; check the mask")
    centre = ((best[0] + 0.5) * coarse, (best[1] + 0.5) * coarse)
    fine = max(1, math.ceil(max(image.shape) / 1024))
    if fine < coarse:
        binned, bmask = _binned(image, mask, fine)
        g0, g1, usable = _log_gradients(binned, bmask, 1.0)
        window = ((centre[0] / fine, centre[1] / fine), 3.0 * coarse / fine + 4)
        best = _vote(g0, g1, usable, rng, window=window, n_max=20000)
        if best is not None:
            centre = ((best[0] + 0.5) * fine, (best[1] + 0.5) * fine)
    return centre


def radial_peaks(image: np.ndarray, mask: np.ndarray, centre: tuple[float, float],
                 min_significance: float = RING_SIGNIFICANCE):
    """Peaks of the radial profile around ``centre``.

    Returns (radii_px, significance, r_range) where r_range is the range of radii with enough
    valid pixels to see a ring.
    """
    from saxs.bragg import smooth_background  # noqa: PLC0415

    valid = ~mask
    rows, cols = np.nonzero(valid)
    values = image[valid]
    r = np.hypot(rows + 0.5 - centre[0], cols + 0.5 - centre[1])
    index = r.astype(np.int64)
    n = np.bincount(index)
    total = np.bincount(index, values, minlength=n.size)
    squares = np.bincount(index, values * values, minlength=n.size)
    ok = n >= 8
    mean = np.where(ok, total / np.maximum(n, 1), 0.0)
    var = np.where(ok, squares / np.maximum(n, 1) - mean**2, 0.0)
    err = np.sqrt(np.maximum(var, 1e-12) / np.maximum(n, 1))
    good = np.flatnonzero(ok)
    if good.size < 30:
        return np.zeros(0), np.zeros(0), (0.0, 0.0)
    radius = good + 0.5
    prof, perr = mean[good], err[good]
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


def _assign(radii_px, strength, tth, pixel_m, r_range, distance_guess=None):  # noqa: PLR0917
    """Distance that indexes the most radial peaks, and the (peak, ring) pairs it matches.

    Only the strongest peaks vote (smeared outer rings of a tilted detector make weak bumps);
    a hypothesis scores one per peak it indexes and loses one half per ring it predicts
    inside the range of those peaks that is absent.
    """
    finite = np.flatnonzero(np.isfinite(tth) & (tth < np.radians(85)))
    if radii_px.size == 0 or finite.size == 0:
        return None
    strong = np.sort(np.argsort(strength)[::-1][:STRONG_PEAKS])
    radii_px, strength = radii_px[strong], strength[strong]
    tan = np.tan(tth[finite])
    best = None
    for i in np.argsort(strength)[::-1][:6]:
        for k in range(min(finite.size, 25)):
            dist = radii_px[i] * pixel_m / tan[k]
            if not 0.01 < dist < 100.0:
                continue
            pred = dist * tan / pixel_m
            tol = np.maximum(3.0, 0.04 * pred)
            matched: dict[int, int] = {}
            for j, r in enumerate(radii_px):
                m = int(np.argmin(np.abs(pred - r)))
                if abs(pred[m] - r) <= tol[m] and (m not in matched or strength[j] >
                                                    strength[matched[m]]):
                    matched[m] = j
            expected = (pred >= r_range[0] + 3) & (pred <= radii_px.max() + 3)
            missed = max(int(np.sum(expected)) - len(matched), 0)
            score = len(matched) - 0.5 * missed
            if distance_guess is not None:
                score -= 2.0 * abs(math.log(dist / distance_guess))
            if best is None or score > best[0] + 1e-9:
                pairs = sorted((j, int(finite[m])) for m, j in matched.items())
                best = (score, pairs, missed)
    if best is None:
        return None
    _, pairs, missed = best
    r = np.array([radii_px[j] for j, _ in pairs]) * pixel_m
    t = np.tan(tth[[k for _, k in pairs]])
    dist = float(np.sum(r * t) / np.sum(t * t))
    return dist, [(float(radii_px[j]), k) for j, k in pairs], missed, radii_px


# refinement with pyFAI ---------------------------------------------------------------------
class _NumpySeed:
    """pyFAI's massif shuffles with the global numpy generator: seed it, then restore it."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def __enter__(self):
        # pyFAI uses the legacy global generator, so only it can be seeded
        self.state = np.random.get_state()  # noqa: NPY002
        np.random.seed(self.seed)  # noqa: NPY002

    def __exit__(self, *exc):
        np.random.set_state(self.state)  # noqa: NPY002


def _geometry_dict(params: dict[str, float], wavelength_m: float) -> dict[str, float]:
    return {**{k: float(params[k]) for k in PARAMETERS}, "wavelength": wavelength_m}


def _single_geometry(image, detector, calibrant, params, wavelength_m, massif=None):  # noqa: PLR0917
    sg = SingleGeometry("calibration", image=image, calibrant=calibrant, detector=detector,
                        geometry=_geometry_dict(params, wavelength_m))
    # pyFAI runs the garbage collector on every parameter change unless told not to: with a
    # large heap that is 0.1 s a time, and the refinement changes parameters hundreds of times
    sg.geometry_refinement.auto_gc = False
    if massif is not None:
        sg.massif = massif
    return sg


def _visible_rings(sg: SingleGeometry, image, mask, tth, window_frac=0.25):
    """Indices of the rings that stand out of a 1-D integration with the current geometry."""
    from saxs.bragg import smooth_background  # noqa: PLC0415

    ai = sg.get_ai()
    shape = image.shape
    ttha = ai.center_array(shape, unit="2th_rad", scale=False)
    valid = ~mask
    tmin, tmax = float(ttha[valid].min()), float(ttha[valid].max())
    npt = int(min(4000, max(200, np.hypot(*shape))))
    edges = np.linspace(tmin, tmax, npt + 1)
    index = np.clip(np.searchsorted(edges, ttha[valid]) - 1, 0, npt - 1)
    values = image[valid]
    n = np.bincount(index, minlength=npt)
    total = np.bincount(index, values, minlength=npt)
    squares = np.bincount(index, values * values, minlength=npt)
    ok = n >= 8
    centres = 0.5 * (edges[1:] + edges[:-1])
    mean = total / np.maximum(n, 1)
    err = np.sqrt(np.maximum(squares / np.maximum(n, 1) - mean**2, 1e-12) / np.maximum(n, 1))
    x, y, e = centres[ok], mean[ok], err[ok]
    if x.size < 30:
        return [], (x, y)
    positive = y - min(y.min(), 0.0) + 1e-9
    base = smooth_background(positive, smoothness=1e3)
    summed = np.convolve(positive - base, np.ones(3), "same") / np.sqrt(
        np.convolve(e**2, np.ones(3), "same"))
    sig = np.maximum((positive - base) / np.maximum(e, 1e-300), summed)
    seen = []
    finite = np.isfinite(tth)
    for k in np.flatnonzero(finite):
        if not x[0] < tth[k] < x[-1]:
            continue
        neighbours = tth[finite & (np.arange(tth.size) != k)]
        spacing = np.min(np.abs(neighbours - tth[k])) if neighbours.size else tth[k]
        half = max(window_frac * spacing, 2.0 * (x[1] - x[0]))
        near = np.abs(x - tth[k]) <= half
        if near.any() and sig[near].max() >= RING_SIGNIFICANCE:
            seen.append(int(k))
    return seen, (x, y)


def ring_image(image: np.ndarray, mask: np.ndarray, smooth_px: float = 1.0,
               background_px: float = 10.0) -> np.ndarray:
    """The image pyFAI's peak picking climbs on: smoothed, its slow background removed.

    A ring a pixel wide in Poisson noise, or the steep small-angle scattering at the edge of
    the beamstop mask, gives the massif's hill climbing local maxima off the ring; a light
    Gaussian smoothing (normalised over the valid pixels, so masks do not bleed in) and the
    subtraction of a wide one leave the rings as the only ridges. Both are symmetric, so they
    do not move a ring.
    """
    valid = (~mask).astype(np.float64)
    data = image * valid

    def blur(sigma: float) -> np.ndarray:
        return ndimage.gaussian_filter(data, sigma) / np.maximum(
            ndimage.gaussian_filter(valid, sigma), 1e-6)

    out = np.clip(blur(smooth_px) - blur(background_px), 0.0, None)
    out[mask] = 0.0
    return out


def _extract(sg: SingleGeometry, rings: list[int], pts_per_deg: float, seed: int) -> np.ndarray:
    with _NumpySeed(seed):
        sg.extract_cp(max_rings=max(rings) + 1, pts_per_deg=pts_per_deg)
    data = sg.geometry_refinement.data
    if data is None or len(data) == 0:
        return np.zeros((0, 3))
    data = np.asarray(data, dtype=np.float64)[:, :3]
    return data[np.isin(data[:, 2].astype(int), rings)]


def _residuals(gr, params: dict[str, float], data: np.ndarray, tth: np.ndarray) -> np.ndarray:
    p6 = [params[k] for k in PARAMETERS]
    return gr.tth(data[:, 0], data[:, 1], p6) - tth[data[:, 2].astype(int)]


def _clip(gr, params, data, tth) -> np.ndarray:
    """Drop points farther than CLIP_SIGMA robust sigma from their ring's median residual."""
    res = _residuals(gr, params, data, tth)
    keep = np.ones(res.size, dtype=bool)
    rings = data[:, 2].astype(int)
    spread = 1.4826 * np.median(np.abs(res - np.median(res)))
    for k in np.unique(rings):
        sel = rings == k
        med = np.median(res[sel])
        keep[sel] = np.abs(res[sel] - med) <= CLIP_SIGMA * max(spread, 1e-12) + 1e-12
    return data[keep]


def _refine_once(gr, data, params, free: list[str]) -> dict[str, float]:
    gr.data = data
    gr.set_param([params[k] for k in PARAMETERS])
    fix = ["wavelength"] + [k for k in PARAMETERS if k not in free]
    # refinement bounds: generous around the start (pyFAI's defaults are absolute)
    gr.dist_min, gr.dist_max = 0.2 * params["dist"], 5.0 * params["dist"]
    for name in ("rot1", "rot2", "rot3"):
        setattr(gr, f"{name}_min", -0.6)
        setattr(gr, f"{name}_max", 0.6)
    gr.refine3(fix=fix)
    refined = {k: float(getattr(gr, k)) for k in PARAMETERS}
    return _polish(gr, refined, data, free)


def _polish(gr, params: dict[str, float], data: np.ndarray, free: list[str]) -> dict[str, float]:
    """Finish pyFAI's SLSQP refinement with a trust-region least squares of the same residuals.

    ``refine3`` minimises the sum of squares with SLSQP and finite-difference gradients; at
    small angles, where the tilts and the PONI are strongly correlated, it stops early (the
    closed-loop test of a 4M detector at 1 m left the PONI 30 pixels off). The residuals are
    still pyFAI's (``tth`` of the control points minus the calibrant's 2theta).
    """
    tth = np.asarray(gr.calibrant.get_2th(), dtype=np.float64)
    scale = {"dist": 1e-3, "poni1": 1e-5, "poni2": 1e-5, "rot1": 1e-4, "rot2": 1e-4,
             "rot3": 1e-4}

    def residuals(x: np.ndarray) -> np.ndarray:
        trial = {**params, **dict(zip(free, x, strict=True))}
        return _residuals(gr, trial, data, tth)

    start = np.array([params[k] for k in free])
    result = least_squares(residuals, start, x_scale=[scale[k] for k in free], method="trf",
                           xtol=1e-12, ftol=1e-12, gtol=1e-12, max_nfev=200)
    if float(result.fun @ result.fun) > float(residuals(start) @ residuals(start)):
        return params
    polished = {**params, **dict(zip(free, (float(v) for v in result.x), strict=True))}
    gr.set_param([polished[k] for k in PARAMETERS])
    return polished


def _covariance(gr, params, data, tth, free: list[str]) -> tuple[dict[str, float], np.ndarray]:
    """Standard uncertainties s^2 (J^T J)^-1 from central differences of pyFAI's tth."""
    res = _residuals(gr, params, data, tth)
    steps = {"dist": 1e-6 * params["dist"], "poni1": 1e-7, "poni2": 1e-7, "rot1": 1e-6,
             "rot2": 1e-6, "rot3": 1e-6}
    jac = np.empty((res.size, len(free)))
    for c, name in enumerate(free):
        up, down = dict(params), dict(params)
        up[name] += steps[name]
        down[name] -= steps[name]
        jac[:, c] = (_residuals(gr, up, data, tth) - _residuals(gr, down, data, tth)) / (
            2 * steps[name])
    dof = max(res.size - len(free), 1)
    s2 = float(res @ res) / dof
    cov = s2 * np.linalg.pinv(jac.T @ jac)
    return {_FIELD[n]: float(math.sqrt(max(cov[i, i], 0.0))) for i, n in enumerate(free)}, cov


def _rms_radial_px(gr, params, data, tth, pixel_m) -> float:
    res = _residuals(gr, params, data, tth)
    t = tth[data[:, 2].astype(int)]
    radial = params["dist"] * res / np.cos(t) ** 2 / pixel_m
    return float(np.sqrt(np.mean(radial**2)))


def _ring_fits(gr, params, data, tth, dspacing_nm, wavelength_m) -> tuple[RingFit, ...]:  # noqa: PLR0917
    res = _residuals(gr, params, data, tth)
    rings = data[:, 2].astype(int)
    lam_nm = wavelength_m * 1e9
    out = []
    for k in np.unique(rings):
        sel = rings == k
        t_obs = tth[k] + res[sel]
        q_obs = 4 * math.pi / lam_nm * np.sin(t_obs / 2)
        q_k = 2 * math.pi / dspacing_nm[k]
        out.append(RingFit(int(k), float(dspacing_nm[k]), float(q_k), int(sel.sum()),
                           float(np.mean(q_obs - q_k)),
                           float(np.sqrt(np.mean((q_obs - q_k) ** 2)))))
    return tuple(out)


# public ------------------------------------------------------------------------------------
def calibrate(frames_or_image: Any, calibrant: str | Sequence[str] = "AgBh", *,
              wavelength_nm: float | None = None, energy_kev: float | None = None,
              pixel_size_m: float | Sequence[float] | None = None,
              geometry: Geometry | None = None, distance_m: float | None = None,
              mask: Any = None, fix: Sequence[str] = ("rot3",),
              dspacing_nm: Sequence[float] | None = None, max_rings: int = 40,
              pts_per_deg: float = 1.0, seed: int = 0) -> Calibration:
    """Refine the detector geometry from a calibrant frame, without a GUI.

    Parameters
    ----------
    frames_or_image : FrameStack, path or 2-D array
        The calibrant measurement (a stack is averaged). A path is opened with
        :func:`saxs.read_frames`; its header's wavelength and pixel size are used when not
        given, its distance and centre are not (use ``geometry=frames.geometry`` to start
        there).
    calibrant : str or sequence of str
        A name in pyFAI's registry (case ignored): "AgBh", "LaB6", "Si", "CeO2", ...; several
        (``"AgBh+LaB6"`` or a list) when the frame shows several calibrants.
    wavelength_nm, energy_kev : float, optional
        The beam's wavelength (nm) or photon energy (keV); default: from ``geometry`` or the
        file header. Never refined.
    pixel_size_m : float or (float, float), optional
        Pixel size (rows, columns), m; default: from ``geometry`` or the header.
    geometry : Geometry, optional
        A starting geometry. Without it the centre and distance are guessed from the image.
    distance_m : float, optional
        A distance guess: breaks ties when the ring orders are ambiguous.
    mask : bool array or path, optional
        True = masked (gaps, beamstop, bad pixels); pixels equal to the file's Dummy are
        masked anyway.
    fix : sequence of str
        Parameters held fixed: any of dist, poni1, poni2, rot1, rot2, rot3 (default rot3,
        which rings cannot determine).
    dspacing_nm : sequence of float, optional
        d-spacings (nm) to use instead of a registered calibrant.
    max_rings : int
        Use at most this many rings (the lowest-angle ones that are seen).
    pts_per_deg : float
        Control points per degree of azimuth on each ring (pyFAI's ``extract_cp``).
    seed : int
        Seed of the random orders used by the guess and by pyFAI's peak picking.

    Returns
    -------
    Calibration

    Raises
    ------
    InputError
        Unknown calibrant, missing wavelength or pixel size, no rings, rings that do not match
        the calibrant at this wavelength, or too few rings for the free parameters.
    """
    label, dspacings = _dspacings(calibrant, dspacing_nm)
    names = {str(f).strip().lower() for f in fix if str(f).strip()}
    unknown = sorted(names - set(PARAMETERS))
    if unknown:
        raise InputError(f"cannot fix {', '.join(unknown)}: parameters are "
                         f"{', '.join(PARAMETERS)}")
    fixed = tuple(k for k in PARAMETERS if k in names)
    if distance_m is not None and not (math.isfinite(distance_m) and distance_m > 0):
        raise InputError(f"distance guess {distance_m!r} m must be positive")
    inp = _load(frames_or_image, mask)
    wavelength_m, pixel = _starting_values(inp, wavelength_nm, energy_kev, pixel_size_m,
                                           geometry)
    tth = _two_theta(dspacings, wavelength_m)
    if not np.isfinite(tth).any():
        raise InputError(f"{inp.source}: no {label} reflection exists at wavelength "
                         f"{wavelength_m * 1e9:.5g} nm (lambda > 2d); check the wavelength")
    shape = inp.image.shape
    if geometry is not None:
        start = {"dist": geometry.distance_m, "poni1": geometry.poni1_m,
                 "poni2": geometry.poni2_m, "rot1": geometry.rot1_rad,
                 "rot2": geometry.rot2_rad, "rot3": geometry.rot3_rad}
        if distance_m is not None:
            start["dist"] = float(distance_m)
        guess_info = {"method": "given geometry", **start}
    else:
        start, guess_info = _first_guess(inp, tth, pixel, distance_m, label, wavelength_m,
                                         seed)
    return _refine(inp, label, dspacings, tth, wavelength_m, pixel, start, fixed, max_rings,
                   pts_per_deg, seed, guess_info, shape)


def _first_guess(inp: _Input, tth, pixel, distance_m, label, wavelength_m, seed):  # noqa: PLR0917
    centre = guess_center(inp.image, inp.mask, seed)
    radii, strength, r_range = radial_peaks(inp.image, inp.mask, centre)
    where = f"({centre[0]:.0f}, {centre[1]:.0f})"
    if radii.size == 0:
        raise InputError(f"{inp.source}: no calibrant ring found (no peak of the radial profile "
                         f"around the guessed centre {where} px stands {RING_SIGNIFICANCE:g} "
                         "sigma above the background); check that the frame shows rings and "
                         "the mask, or give a starting geometry (--distance, a PONI)")
    pixel_mean = math.sqrt(pixel[0] * pixel[1])
    found = _assign(radii, strength, tth, pixel_mean, r_range, distance_m)
    strong = np.sort(radii[np.argsort(strength)[::-1][:STRONG_PEAKS]])
    radii_text = ", ".join(f"{r:.0f}" for r in strong)
    needed = 1 if strong.size == 1 else 2
    if found is None or len(found[1]) < needed:
        n_ok = 0 if found is None else len(found[1])
        raise InputError(f"{inp.source}: the strongest rings found (radii {radii_text} px "
                         f"around ({centre[0]:.0f}, {centre[1]:.0f})) do not match {label} at "
                         f"wavelength {wavelength_m * 1e9:.5g} nm (at best {n_ok} of "
                         f"{strong.size} index); check the wavelength or energy (Angstrom vs "
                         "nm) and the calibrant name")
    dist, pairs, missed, _ = found
    start = {"dist": dist, "poni1": centre[0] * pixel[0], "poni2": centre[1] * pixel[1],
             "rot1": 0.0, "rot2": 0.0, "rot3": 0.0}
    info = {"method": "automatic (gradient voting centre, radial-profile ring indexing)",
            "center_px": [float(centre[0]), float(centre[1])], "dist": dist,
            "rings_indexed": [k for _, k in pairs],
            "radial_peaks_px": [r for r, _ in pairs],
            "missed_rings": missed}
    log.info("first guess: centre %s px, distance %.4f m, rings %s", where, dist,
             info["rings_indexed"])
    return start, info


def _refine(inp: _Input, label,  # noqa: PLR0917
            dspacings, tth, wavelength_m, pixel, start, fixed, max_rings,
            pts_per_deg, seed, guess_info, shape) -> Calibration:
    detector = Detector(pixel1=pixel[0], pixel2=pixel[1], max_shape=shape)
    detector.mask = inp.mask.astype(np.int8)
    calibrant = _pyfai_calibrant(dspacings, wavelength_m)
    free_all = [k for k in PARAMETERS if k not in fixed]
    needed = _rings_needed(free_all)
    params, massif, best = dict(start), None, None
    climb = ring_image(inp.image, inp.mask)
    # rings are added in steps (tilts smear the outer ones until they are refined)
    limits = [3, 6, 12, max_rings, max_rings, max_rings, max_rings]
    for iteration, limit in enumerate(limits):
        sg = _single_geometry(climb, detector, calibrant, params, wavelength_m, massif)
        seen, _ = _visible_rings(sg, inp.image, inp.mask, tth)
        if not seen:
            break
        data = _extract(sg, seen[:min(limit, max_rings)], pts_per_deg, seed + iteration)
        massif = sg.massif
        rings = sorted({int(r) for r in data[:, 2]})
        if len(rings) < min(needed, len(seen)) or len(rings) < 1:
            break
        gr = sg.geometry_refinement
        free = free_all if iteration > 0 and len(rings) >= 2 else [
            k for k in free_all if k not in ("rot1", "rot2")]
        previous = dict(params)
        params = _refine_once(gr, data, params, free)
        kept = _clip(gr, params, data, tth)
        if kept.shape[0] < data.shape[0]:
            data = kept
            params = _refine_once(gr, data, params, free)
        best = (sg, dict(params), data, rings)
        moved = abs(params["dist"] / previous["dist"] - 1) + math.hypot(
            params["poni1"] - previous["poni1"], params["poni2"] - previous["poni2"]) / (
            1000 * pixel[0])
        if limit >= max_rings and free == free_all and moved < 1e-5:
            break
    if best is None:
        sg, rings, data = None, [], np.zeros((0, 3))
    else:
        sg, params, data, rings = best
    if len(rings) < needed:
        found = ", ".join(f"{k} (d = {dspacings[k]:.4g} nm)" for k in rings) or "none"
        raise InputError(f"{inp.source}: {len(rings)} usable {label} ring(s) found ({found}); "
                         f"refining {', '.join(free_all)} needs at least {needed}: try --fix "
                         "rot1,rot2, a shorter distance or longer exposure, a --distance "
                         "guess, or check the mask and wavelength")
    gr = sg.geometry_refinement
    rms_px = _rms_radial_px(gr, params, data, tth, math.sqrt(pixel[0] * pixel[1]))
    if rms_px > MAX_RMS_PX:
        raise InputError(f"{inp.source}: the rings do not match {label} at wavelength "
                         f"{wavelength_m * 1e9:.5g} nm (RMS radial misfit {rms_px:.2f} px "
                         "after refinement); check the wavelength or energy and the calibrant")
    uncertainty, _ = _covariance(gr, params, data, tth, free_all)
    geometry = Geometry(distance_m=params["dist"], poni1_m=params["poni1"],
                        poni2_m=params["poni2"], pixel1_m=pixel[0], pixel2_m=pixel[1],
                        wavelength_m=wavelength_m, shape=shape, rot1_rad=params["rot1"],
                        rot2_rad=params["rot2"], rot3_rad=params["rot3"])
    ai = _single_geometry(inp.image, detector, calibrant, params, wavelength_m).get_ai()
    fit2d = ai.getFit2D()
    _, (x, y) = _visible_rings(_single_geometry(inp.image, detector, calibrant, params,
                                                wavelength_m), inp.image, inp.mask, tth)
    q_profile = 4 * math.pi / (wavelength_m * 1e9) * np.sin(np.asarray(x) / 2)
    image = inp.image.astype(np.float32)
    image.flags.writeable = False
    return Calibration(
        geometry=geometry, uncertainty=uncertainty, fixed=tuple(fixed),
        rings=_ring_fits(gr, params, data, tth, dspacings, wavelength_m),
        control_points=data, calibrant=label, dspacing_nm=tuple(dspacings),
        beam_center_px=(float(fit2d["centerY"]), float(fit2d["centerX"])),
        rms_residual_px=rms_px, profile_q_nm=q_profile, profile_intensity=np.asarray(y),
        image=image, mask=inp.mask, source=inp.source, mask_source=inp.mask_source,
        initial_guess=guess_info)


def _rings_needed(free: list[str]) -> int:
    """Rings needed for the free parameters: one fixes centre and distance, tilts need two."""
    return 2 if ("rot1" in free or "rot2" in free) else 1
