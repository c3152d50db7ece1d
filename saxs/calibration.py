"""Geometry calibration from a calibrant frame, headless (``saxs.calibrate``).

pyFAI does the ring work, its objects made by ``saxs/azimuthal.py`` (the one module that
imports pyFAI, DESIGN.md §1): pyFAI's calibrant registry gives the d-spacings,
its ``SingleGeometry.extract_cp`` (massif peak picking in a band around each expected ring)
finds the rings, its ``GeometryRefinement.refine3`` and ``Geometry.tth`` refine and evaluate
distance, PONI and tilts. What pyFAI does not do headless is added:

1. A first guess from the image alone (:mod:`saxs.calibration_guess`): the beam centre by
   gradient voting and the distance that indexes the radial-profile peaks on the rings.
2. A coarse stage (pyFAI's massif and refinement) on an image binned to about
   ``COARSE_SIZE_PX`` pixels: rings that stand 5 sigma above the background of a 1-D
   integration get control points, points beyond 4 robust sigma are dropped, extraction and
   refinement alternate (the tilts free from the second pass on) until the geometry is still.
3. A fine stage on the full image (:mod:`saxs.calibration_profile`): each ring's position
   is measured in azimuthal sectors by fitting the ring's own profile shape, each point with
   its standard uncertainty; a weighted least squares of pyFAI's ``tth`` residuals refines
   the geometry, and extraction and refinement alternate until the geometry is still. A
   ring can be a doublet (a second phase beside the calibrant, as on the real AgBh frames):
   the calibrant's reflection is then the component with the larger share of the area over
   all rings; rings on which the doublet is merged get a free 2theta offset each (they fix
   the centre and tilts, not the distance).
4. Tilts the rings do not determine (few rings, short arcs: a standard uncertainty above
   ``MAX_TILT_SIGMA_DEG``) are fixed at zero, the fit is repeated and the result says so.
5. Uncertainties: the covariance (J^T W J)^-1 of the weighted residuals, scaled by the reduced
   chi^2 when it exceeds 1, with all correlations (PONI and tilts are strongly correlated at
   small angles); then the spread of a bootstrap over whole rings (each ring's points resampled
   as a block), which carries what the rings share and the point errors miss, when it is
   larger. Reported correlations come from the same covariance.

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
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from scipy import ndimage
from scipy.optimize import least_squares

from saxs import azimuthal
from saxs.calibration_guess import RING_SIGNIFICANCE, binned, first_guess
from saxs.calibration_input import CalibrationInput, load_input, starting_values
from saxs.calibration_profile import SectorPoints, sector_control_points
from saxs.calibration_result import Calibration, RingFit
from saxs.errors import InputError
from saxs.geometry import Geometry

__all__ = ["PARAMETERS", "Calibration", "RingFit", "calibrant_dspacing_nm", "calibrate",
           "known_calibrants", "split_calibrant_names"]

log = logging.getLogger(__name__)

#: geometry parameters that can be refined, in pyFAI's order
PARAMETERS = azimuthal.GEOMETRY_PARAMETERS
#: names used in :class:`Calibration` for each pyFAI parameter
_FIELD = {"dist": "distance_m", "poni1": "poni1_m", "poni2": "poni2_m", "rot1": "rot1_rad",
          "rot2": "rot2_rad", "rot3": "rot3_rad"}
#: control points farther than this many robust sigma from their ring are dropped
CLIP_SIGMA = 4.0
#: largest robust RMS radial residual (pixels of the coarse image) that still counts as
#: rings matching the calibrant
MAX_RMS_PX = 1.5
#: the coarse stage works on the image binned to about this many pixels along its longer side
COARSE_SIZE_PX = 800
#: a free tilt whose standard uncertainty exceeds this is not determined by the rings: the
#: tilts are then fixed at zero (a tilt of this size moves q by less than tan(2theta) x
#: 0.5 %, i.e. < 0.05 % over a SAXS detector's 2theta < 6 deg)
MAX_TILT_SIGMA_DEG = 0.3
#: passes of the fine stage (sector profiles and weighted refinement) at most, and the
#: largest move (pixels at the detector) that counts as still: well below the uncertainties
FINE_PASSES = 5
FINE_STILL_PX = 0.01
#: bootstrap resamples of the rings for the uncertainties (at least 4 rings needed)
BOOTSTRAP = 200
#: scale of each parameter for the least-squares solver (m, m, m, rad, rad, rad)
_SCALE = {"dist": 1e-3, "poni1": 1e-5, "poni2": 1e-5, "rot1": 1e-4, "rot2": 1e-4, "rot3": 1e-4}


# calibrants --------------------------------------------------------------------------------
def known_calibrants() -> list[str]:
    """Names of pyFAI's registered calibrants."""
    return sorted(azimuthal.registered_calibrants(), key=str.lower)


def _registry_name(name: str) -> str:
    lookup = {k.lower(): k for k in azimuthal.registered_calibrants()}
    key = lookup.get(str(name).strip().lower())
    if key is None:
        raise InputError(f"calibrant {name!r} is not known; known calibrants: "
                         f"{', '.join(known_calibrants())} (or give dspacing_nm=[...])")
    return key


def calibrant_dspacing_nm(name: str) -> tuple[float, ...]:
    """d-spacings (nm, decreasing, unique) of a calibrant in pyFAI's registry."""
    values = azimuthal.registered_dspacing_nm(_registry_name(name))
    return tuple(sorted({round(d, 12) for d in values}, reverse=True))


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


def _two_theta(dspacing_nm: Sequence[float], wavelength_m: float) -> np.ndarray:
    """2theta (rad) of each d-spacing; NaN where lambda / 2d > 1."""
    s = wavelength_m * 1e9 / (2.0 * np.asarray(dspacing_nm))
    with np.errstate(invalid="ignore"):
        return np.where(s < 1, 2.0 * np.arcsin(np.minimum(s, 1)), np.nan)


# the problem -------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Problem:
    """What every stage of one calibration needs."""

    inp: CalibrationInput
    label: str
    dspacings: tuple[float, ...]
    tth: np.ndarray
    wavelength_m: float
    pixel: tuple[float, float]
    fixed: tuple[str, ...]
    max_rings: int
    pts_per_deg: float
    seed: int
    _integrators: dict[int, Any] = field(default_factory=dict, repr=False)

    @property
    def free(self) -> list[str]:
        return [k for k in PARAMETERS if k not in self.fixed]

    @property
    def shape(self) -> tuple[int, int]:
        return self.inp.image.shape

    def calibrant(self):
        return azimuthal.calibrant(self.dspacings, self.wavelength_m)

    def integrator(self, params: dict[str, float]):
        """pyFAI's integrator at ``params`` (one object, moved: a new one costs 0.03-0.1 s)."""
        ai = self._integrators.get(1)
        if ai is None:
            ai = azimuthal.movable_integrator(self.pixel, self.shape, self.wavelength_m)
            self._integrators[1] = ai
        ai.set_param([float(params[k]) for k in PARAMETERS])
        return ai


@dataclass(frozen=True)
class _Fit:
    """A refined geometry, its control points (row, col, ring) and their 2theta errors."""

    params: dict[str, float]
    free: list[str]
    points: np.ndarray
    sigma_rad: np.ndarray
    doublets: tuple[int, ...] = ()
    notes: tuple[str, ...] = ()
    floating: tuple[int, ...] = ()

    @property
    def geometry_free(self) -> list[str]:
        return [k for k in self.free if k in PARAMETERS]


def _fix_names(fix: Sequence[str]) -> tuple[str, ...]:
    names = {str(f).strip().lower() for f in fix if str(f).strip()}
    unknown = sorted(names - set(PARAMETERS))
    if unknown:
        raise InputError(f"cannot fix {', '.join(unknown)}: parameters are "
                         f"{', '.join(PARAMETERS)}")
    return tuple(k for k in PARAMETERS if k in names)


def _rings_needed(free: list[str]) -> int:
    """Rings needed for the free parameters: one fixes centre and distance, tilts need two."""
    return 2 if ("rot1" in free or "rot2" in free) else 1


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
        which rings cannot determine). Free tilts that the rings do not determine are fixed
        at zero as well (``Calibration.notes`` says so).
    dspacing_nm : sequence of float, optional
        d-spacings (nm) to use instead of a registered calibrant.
    max_rings : int
        Use at most this many rings (the lowest-angle ones that are seen).
    pts_per_deg : float
        Control points per degree of azimuth on each ring in the coarse stage (pyFAI's
        ``extract_cp``).
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
    problem, start, guess_info = _prepare(
        frames_or_image, calibrant, wavelength_nm=wavelength_nm, energy_kev=energy_kev,
        pixel_size_m=pixel_size_m, geometry=geometry, distance_m=distance_m, mask=mask, fix=fix,
        dspacing_nm=dspacing_nm, max_rings=max_rings, pts_per_deg=pts_per_deg, seed=seed)
    coarse = _coarse_stage(problem, start)
    fine = _fine_stage(problem, coarse)
    return _result(problem, fine, guess_info)


def pyfai_refinement(frames_or_image: Any, calibrant: str | Sequence[str] = "AgBh", *,
                     wavelength_nm: float | None = None,
                     pixel_size_m: float | Sequence[float] | None = None, mask: Any = None,
                     fix: Sequence[str] = ("rot3",), max_rings: int = 40, seed: int = 0
                     ) -> tuple[Geometry, int]:
    """pyFAI's own path alone, as a reference for :func:`calibrate`: the same first guess,
    then pyFAI's massif control points on the full-resolution image and its ``refine3``,
    alternating until the geometry is still; no binning, no sector profiles, no weighted
    fine stage, no uncertainties. Returns the geometry and the number of control points."""
    problem, start, _ = _prepare(frames_or_image, calibrant, wavelength_nm=wavelength_nm,
                                 pixel_size_m=pixel_size_m, mask=mask, fix=fix,
                                 max_rings=max_rings, seed=seed)
    fit = _coarse_stage(problem, start, factor=1)
    return _geometry(problem, fit.params), int(fit.points.shape[0])


def _prepare(frames_or_image: Any, calibrant: str | Sequence[str], *,
             wavelength_nm: float | None = None, energy_kev: float | None = None,
             pixel_size_m: float | Sequence[float] | None = None,
             geometry: Geometry | None = None, distance_m: float | None = None,
             mask: Any = None, fix: Sequence[str] = ("rot3",),
             dspacing_nm: Sequence[float] | None = None, max_rings: int = 40,
             pts_per_deg: float = 1.0, seed: int = 0
             ) -> tuple[_Problem, dict[str, float], dict[str, Any]]:
    """The checked problem (image, mask, calibrant, wavelength, pixel, free parameters) and
    the starting geometry with how it was obtained (see :func:`calibrate`'s parameters)."""
    if distance_m is not None and not (math.isfinite(distance_m) and distance_m > 0):
        raise InputError(f"distance guess {distance_m!r} m must be positive")
    label, dspacings = _dspacings(calibrant, dspacing_nm)
    fixed = _fix_names(fix)
    inp = load_input(frames_or_image, mask)
    wavelength_m, pixel = starting_values(inp, wavelength_nm=wavelength_nm,
                                          energy_kev=energy_kev, pixel_size_m=pixel_size_m,
                                          geometry=geometry)
    problem = _problem(inp, label, dspacings, wavelength_m=wavelength_m, pixel=pixel,
                       fixed=fixed, max_rings=max_rings, pts_per_deg=pts_per_deg,
                       seed=seed)
    start, guess_info = _start(problem, geometry, distance_m)
    return problem, start, guess_info


def _geometry(problem: _Problem, p: dict[str, float]) -> Geometry:
    return Geometry(distance_m=p["dist"], poni1_m=p["poni1"], poni2_m=p["poni2"],
                    pixel1_m=problem.pixel[0], pixel2_m=problem.pixel[1],
                    wavelength_m=problem.wavelength_m, shape=problem.shape,
                    rot1_rad=p["rot1"], rot2_rad=p["rot2"], rot3_rad=p["rot3"])


def _problem(inp: CalibrationInput, label: str, dspacings, *, wavelength_m: float,
             pixel: tuple[float, float], fixed: tuple[str, ...], max_rings: int,
             pts_per_deg: float, seed: int) -> _Problem:
    tth = _two_theta(dspacings, wavelength_m)
    if not np.isfinite(tth).any():
        raise InputError(f"{inp.source}: no {label} reflection exists at wavelength "
                         f"{wavelength_m * 1e9:.5g} nm (lambda > 2d); check the wavelength")
    return _Problem(inp, label, tuple(dspacings), tth, wavelength_m, pixel, fixed,
                    int(max_rings), float(pts_per_deg), int(seed))


def _start(problem: _Problem, geometry: Geometry | None, distance_m: float | None):
    """(starting parameters, how they were obtained): the given geometry or the guess."""
    if geometry is None:
        start, info = first_guess(problem.inp, problem.tth, pixel=problem.pixel,
                                  distance_m=distance_m, label=problem.label,
                                  wavelength_m=problem.wavelength_m, seed=problem.seed)
        log.info("first guess: %s", info)
        return start, info
    start = {"dist": geometry.distance_m, "poni1": geometry.poni1_m,
             "poni2": geometry.poni2_m, "rot1": geometry.rot1_rad,
             "rot2": geometry.rot2_rad, "rot3": geometry.rot3_rad}
    if distance_m is not None:
        start["dist"] = float(distance_m)
    return start, {"method": "given geometry", **start}


# coarse stage: pyFAI's massif and refinement on a binned image -----------------------------
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


@dataclass
class _Coarse:
    """State of the coarse stage: the binned image and pyFAI's objects on it."""

    problem: _Problem
    factor: int
    image: np.ndarray
    mask: np.ndarray
    climb: np.ndarray
    sg: Any = None

    @classmethod
    def build(cls, problem: _Problem, factor: int | None = None) -> _Coarse:
        if factor is None:
            factor = max(1, round(max(problem.shape) / COARSE_SIZE_PX))
        if factor > 1:
            image, mask = binned(problem.inp.image, problem.inp.mask, factor)
        else:
            image, mask = problem.inp.image, problem.inp.mask
        return cls(problem, factor, image, mask, ring_image(image, mask))

    def single_geometry(self, params: dict[str, float]):
        """pyFAI's ring picker (SingleGeometry) at ``params`` (one object for all passes:
        its massif is built once)."""
        if self.sg is None:
            pixel = (self.problem.pixel[0] * self.factor, self.problem.pixel[1] * self.factor)
            self.sg = azimuthal.ring_picker(self.climb, self.mask, pixel,
                                            self.problem.calibrant(), params=params,
                                            wavelength_m=self.problem.wavelength_m)
        self.sg.geometry_refinement.set_param([float(params[k]) for k in PARAMETERS])
        return self.sg


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


def _tth_profile(image: np.ndarray, valid: np.ndarray, ttha: np.ndarray):
    """1-D mean profile in 2theta (rad): centres, means and errors of the means."""
    tmin, tmax = float(ttha[valid].min()), float(ttha[valid].max())
    npt = int(min(4000, max(200, np.hypot(*image.shape))))
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
    return centres[ok], mean[ok], err[ok]


def _visible_rings(x: np.ndarray, y: np.ndarray, e: np.ndarray, tth: np.ndarray,
                   window_frac: float = 0.25) -> list[int]:
    """Indices of the rings that stand out of a 1-D profile (2theta rad, mean, error)."""
    from saxs.bragg import smooth_background  # noqa: PLC0415

    if x.size < 30:
        return []
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
    return seen


def _extract(sg, rings: list[int], pts_per_deg: float, seed: int) -> np.ndarray:
    with _NumpySeed(seed):
        sg.extract_cp(max_rings=max(rings) + 1, pts_per_deg=pts_per_deg)
    data = sg.geometry_refinement.data
    if data is None or len(data) == 0:
        return np.zeros((0, 3))
    data = np.asarray(data, dtype=np.float64)[:, :3]
    return data[np.isin(data[:, 2].astype(int), rings)]


def _offset_key(ring: int) -> str:
    """Name of a floating ring's unknown 2theta offset among the refined parameters."""
    return f"offset{ring}"


def _residuals(geo, params: dict[str, float], data: np.ndarray, tth: np.ndarray) -> np.ndarray:
    """2theta of the control points under ``params`` (pyFAI's tth) minus their ring's 2theta
    (plus the ring's own offset when it floats)."""
    p6 = [params[k] for k in PARAMETERS]
    rings = data[:, 2].astype(int)
    res = geo.tth(data[:, 0], data[:, 1], p6) - tth[rings]
    for key, value in params.items():
        if key.startswith("offset"):
            res = res - value * (rings == int(key[len("offset"):]))
    return res


def _clip(geo, params, data, tth) -> np.ndarray:
    """Drop points farther than CLIP_SIGMA robust sigma from their ring's median residual."""
    res = _residuals(geo, params, data, tth)
    keep = np.ones(res.size, dtype=bool)
    rings = data[:, 2].astype(int)
    spread = 1.4826 * np.median(np.abs(res - np.median(res)))
    for k in np.unique(rings):
        sel = rings == k
        med = np.median(res[sel])
        keep[sel] = np.abs(res[sel] - med) <= CLIP_SIGMA * max(spread, 1e-12) + 1e-12
    return data[keep]


def _refine_once(gr, data, params, free: list[str]) -> dict[str, float]:
    """pyFAI's refine3 (SLSQP), then a trust-region least squares of the same residuals.

    ``refine3`` minimises the sum of squares with SLSQP and finite-difference gradients; at
    small angles, where the tilts and the PONI are strongly correlated, it stops early (the
    closed-loop test of a 4M detector at 1 m left the PONI 30 pixels off).
    """
    gr.data = data
    gr.set_param([params[k] for k in PARAMETERS])
    # refinement bounds: generous around the start (pyFAI's defaults are absolute)
    gr.dist_min, gr.dist_max = 0.2 * params["dist"], 5.0 * params["dist"]
    for name in ("rot1", "rot2", "rot3"):
        setattr(gr, f"{name}_min", -0.6)
        setattr(gr, f"{name}_max", 0.6)
    gr.refine3(fix=["wavelength"] + [k for k in PARAMETERS if k not in free])
    refined = {k: float(getattr(gr, k)) for k in PARAMETERS}
    tth = np.asarray(gr.calibrant.get_2th(), dtype=np.float64)
    polished = _least_squares(gr, refined, free, data=data, tth=tth,
                              sigma=np.ones(data.shape[0]))
    gr.set_param([polished[k] for k in PARAMETERS])
    return polished


def _least_squares(geo, params, free, *, data, tth, sigma) -> dict[str, float]:
    """Weighted least squares of the 2theta residuals over the ``free`` parameters."""
    if not free:
        return dict(params)

    def residuals(x: np.ndarray) -> np.ndarray:
        trial = {**params, **dict(zip(free, x, strict=True))}
        return _residuals(geo, trial, data, tth) / sigma

    start = np.array([params[k] for k in free])
    scale = [_SCALE.get(k, 1e-5) for k in free]
    result = least_squares(residuals, start, x_scale=scale, method="trf",
                           xtol=1e-12, ftol=1e-12, gtol=1e-12, max_nfev=200)
    r0 = residuals(start)
    if float(result.fun @ result.fun) > float(r0 @ r0):
        return dict(params)
    return {**params, **dict(zip(free, (float(v) for v in result.x), strict=True))}


def _coarse_pass(state: _Coarse, params, limit: int, iteration: int):
    """One extraction and refinement; None when too few rings are seen."""
    problem = state.problem
    sg = state.single_geometry(params)
    valid = ~state.mask
    ttha = sg.geometry_refinement.center_array(state.image.shape, unit="2th_rad",
                                               scale=False)
    seen = _visible_rings(*_tth_profile(state.image, valid, ttha), problem.tth)
    if not seen:
        return None
    data = _extract(sg, seen[:min(limit, problem.max_rings)], problem.pts_per_deg,
                    problem.seed + iteration)
    rings = sorted({int(r) for r in data[:, 2]})
    if len(rings) < min(_rings_needed(problem.free), len(seen)) or not rings:
        return None
    gr = sg.geometry_refinement
    free = problem.free if iteration > 0 and len(rings) >= 2 else [
        k for k in problem.free if k not in ("rot1", "rot2")]
    params = _refine_once(gr, data, params, free)
    kept = _clip(gr, params, data, problem.tth)
    if kept.shape[0] < data.shape[0]:
        data = kept
        params = _refine_once(gr, data, params, free)
    return params, data, rings, free, gr


def _coarse_stage(problem: _Problem, start: dict[str, float], factor: int | None = None
                  ) -> _Fit:
    """Rings found by pyFAI's massif on the binned image (``factor``: the binning, default
    about :data:`COARSE_SIZE_PX` pixels across), refined until the geometry is still."""
    state = _Coarse.build(problem, factor)
    params, best = dict(start), None
    # rings are added in steps (tilts smear the outer ones until they are refined)
    limits = [3, 6, 12] + [problem.max_rings] * 4
    for iteration, limit in enumerate(limits):
        step = _coarse_pass(state, params, limit, iteration)
        if step is None:
            break
        previous, (params, data, rings, free, gr) = params, step
        best = (params, data, rings, free, gr)
        # the fine stage takes over from here: a tenth of a coarse pixel is still enough
        moved = _moved_px(problem, previous, params) / state.factor
        if limit >= problem.max_rings and free == problem.free and moved < 0.1:
            break
    _check_rings(problem, [] if best is None else best[2], problem.free)
    params, data, rings, free, gr = best
    pixel = math.sqrt(problem.pixel[0] * problem.pixel[1]) * state.factor
    # robust (median-based) RMS: weak, noisy rings give the massif stray points
    rms_px = _rms_radial_px(gr, params, data, problem.tth, pixel, robust=True)
    if rms_px > MAX_RMS_PX:
        raise InputError(f"{problem.inp.source}: the rings do not match {problem.label} at "
                         f"wavelength {problem.wavelength_m * 1e9:.5g} nm (robust RMS radial "
                         f"misfit {rms_px:.2f} px after refinement); check the wavelength or "
                         "energy and the calibrant")
    # back to full-resolution pixel coordinates (pixel i of the binned image spans
    # full-resolution pixels factor*i ... factor*i + factor - 1)
    full = data.copy()
    full[:, :2] = (data[:, :2] + 0.5) * state.factor - 0.5
    return _Fit(params, free, full, np.full(full.shape[0], np.nan))


def _check_rings(problem: _Problem, rings: Sequence[int], free: list[str]) -> None:
    needed = _rings_needed(free)
    if len(rings) >= needed:
        return
    found = ", ".join(f"{k} (d = {problem.dspacings[k]:.4g} nm)" for k in rings) or "none"
    raise InputError(f"{problem.inp.source}: {len(rings)} usable {problem.label} ring(s) found "
                     f"({found}); refining {', '.join(free)} needs at least {needed}: try --fix "
                     "rot1,rot2, a shorter distance or longer exposure, a --distance guess, or "
                     "check the mask and wavelength")


def _rms_radial_px(geo, params, data, tth, pixel_m, *, robust: bool = False) -> float:
    """RMS radial residual of the points in pixels (1.4826 x the median absolute one when
    ``robust``)."""
    res = _residuals(geo, params, data, tth)
    t = tth[data[:, 2].astype(int)]
    radial = params["dist"] * res / np.cos(t) ** 2 / pixel_m
    if robust:
        return float(1.4826 * np.median(np.abs(radial)))
    return float(np.sqrt(np.mean(radial**2)))


# fine stage: sector profiles on the full image, weighted refinement --------------------------
def _sector_pass(problem: _Problem, params: dict[str, float], allow_doublet: bool,
                 shapes=None):
    """Control points from the sector profiles of every ring inside the detector."""
    ai = problem.integrator(params)
    tth_px = ai.center_array(problem.shape, unit="2th_rad", scale=False)
    chi_px = ai.center_array(problem.shape, unit="chi_rad", scale=False)
    valid = ~problem.inp.mask
    lo, hi = float(tth_px[valid].min()), float(tth_px[valid].max())
    rings = [int(k) for k in np.flatnonzero(np.isfinite(problem.tth))
             if lo < problem.tth[k] < hi][:problem.max_rings]
    pixel_rad = math.sqrt(problem.pixel[0] * problem.pixel[1]) / params["dist"]
    points = sector_control_points(problem.inp.image, valid, tth_px=tth_px, chi_px=chi_px,
                                   tth=problem.tth, rings=rings, pixel_rad=pixel_rad,
                                   allow_doublet=allow_doublet, shapes=shapes)
    return points, ai


def _weighted_refit(ai, problem: _Problem, params, free, points: SectorPoints):
    """Weighted refinement; points beyond CLIP_SIGMA robust sigma dropped and refitted.

    Floating rings get a free 2theta offset each (``offset<k>`` in the parameters).
    """
    data, sigma = points.points, points.sigma_rad
    params = {k: v for k, v in params.items() if k in PARAMETERS}
    offsets = [_offset_key(k) for k in points.floating]
    params.update(dict.fromkeys(offsets, 0.0))
    free = [*free, *offsets]
    params = _least_squares(ai, params, free, data=data, tth=problem.tth, sigma=sigma)
    z = _residuals(ai, params, data, problem.tth) / sigma
    spread = 1.4826 * np.median(np.abs(z - np.median(z)))
    keep = np.abs(z - np.median(z)) <= CLIP_SIGMA * max(spread, 1.0)
    if not keep.all():
        data, sigma = data[keep], sigma[keep]
        params = _least_squares(ai, params, free, data=data, tth=problem.tth, sigma=sigma)
    return params, free, data, sigma


def _moved_px(problem: _Problem, before: dict[str, float], after: dict[str, float]) -> float:
    """How far the geometry moved, in pixels at the detector (distance, PONI and tilts)."""
    pixel = math.sqrt(problem.pixel[0] * problem.pixel[1])
    dist = after["dist"]
    return max(abs(after["dist"] - before["dist"]) * 0.05,
               abs(after["poni1"] - before["poni1"]), abs(after["poni2"] - before["poni2"]),
               dist * abs(after["rot1"] - before["rot1"]),
               dist * abs(after["rot2"] - before["rot2"])) / pixel


def _fine_fit(problem: _Problem, start: _Fit, free: list[str]) -> _Fit:
    """Alternate sector extraction and weighted refinement until the geometry is still."""
    params, result, shapes = dict(start.params), None, None
    for n_pass in range(FINE_PASSES):
        # the first pass measures the rings as single peaks: the geometry from the coarse
        # stage still blurs them, and a blurred single ring can look like a doublet
        # from the third pass on the geometry only settles: the ring shapes are kept
        points, ai = _sector_pass(problem, params, allow_doublet=n_pass > 0,
                                  shapes=shapes if n_pass > 1 else None)
        shapes = points.shapes
        rings = sorted({int(r) for r in points.points[:, 2]})
        if len(rings) < _rings_needed(free):
            break
        new, fitted, data, sigma = _weighted_refit(ai, problem, params, free, points)
        doublets = tuple(k for k, s in points.shapes.items() if s.doublet)
        result = _Fit(new, fitted, data, sigma, doublets, start.notes, points.floating)
        moved, params = _moved_px(problem, params, new), new
        log.debug("fine pass %d: %d rings, %d points, moved %.4f px", n_pass, len(rings),
                  data.shape[0], moved)
        if n_pass > 0 and moved < FINE_STILL_PX:
            break
    if result is None:
        _check_rings(problem, sorted({int(r) for r in start.points[:, 2]}), free)
        raise InputError(f"{problem.inp.source}: no ring could be measured on the full image; "
                         "check the mask")
    return result


def _fine_stage(problem: _Problem, coarse: _Fit) -> _Fit:
    """The fine fit; free tilts that it leaves undetermined are fixed at zero and refitted."""
    fit = _fine_fit(problem, coarse, coarse.free)
    tilts = [k for k in ("rot1", "rot2") if k in fit.geometry_free]
    if not tilts:
        return fit
    sigma, _, _ = _covariance(problem.integrator(fit.params), problem, fit)
    limit = math.radians(MAX_TILT_SIGMA_DEG)
    if max(sigma[_FIELD[k]] for k in tilts) <= limit:
        return fit
    n_rings = len({int(r) for r in fit.points[:, 2]})
    text = ", ".join(f"{k} {math.degrees(fit.params[k]):.2f} +- "
                     f"{math.degrees(sigma[_FIELD[k]]):.2f} deg" for k in tilts)
    note = (f"tilts fixed at 0: the fit with free tilts on {n_rings} ring(s) does not determine "
            f"them ({text}; standard uncertainty above {MAX_TILT_SIGMA_DEG:g} deg)")
    log.info(note)
    centre = problem.integrator(fit.params).getFit2D()
    params = {**{k: fit.params[k] for k in PARAMETERS}, "rot1": 0.0, "rot2": 0.0,
              "dist": centre["directDist"] * 1e-3,
              "poni1": centre["centerY"] * problem.pixel[0],
              "poni2": centre["centerX"] * problem.pixel[1]}
    free = [k for k in fit.geometry_free if k not in tilts]
    start = replace(coarse, params=params, notes=(*coarse.notes, note))
    return _fine_fit(problem, start, free)


# uncertainties -------------------------------------------------------------------------------
def _jacobian(geo, problem: _Problem, fit: _Fit) -> tuple[np.ndarray, np.ndarray]:
    """Normalised residuals z = r / sigma and their Jacobian (central differences)."""
    params, data, tth = fit.params, fit.points, problem.tth
    z = _residuals(geo, params, data, tth) / fit.sigma_rad
    steps = {"dist": 1e-6 * params["dist"], "poni1": 1e-7, "poni2": 1e-7}
    jac = np.empty((z.size, len(fit.free)))
    for c, name in enumerate(fit.free):
        up, down = dict(params), dict(params)
        step = steps.get(name, 1e-6)    # rad for the tilts and the ring offsets
        up[name] += step
        down[name] -= step
        jac[:, c] = (_residuals(geo, up, data, tth) - _residuals(geo, down, data, tth)) / (
            2 * step * fit.sigma_rad)
    return z, jac


def _ring_bootstrap(z, jac, rings: np.ndarray, seed: int, needed: int) -> np.ndarray | None:
    """Covariance from resampling whole rings (one Gauss-Newton step from the optimum each)."""
    labels = np.unique(rings)
    if labels.size < 4:
        return None
    rows = [np.flatnonzero(rings == k) for k in labels]
    rng = np.random.default_rng(seed)
    steps = []
    for _ in range(BOOTSTRAP):
        pick = rng.integers(0, labels.size, labels.size)
        if np.unique(pick).size < max(needed, 2):
            continue
        sel = np.concatenate([rows[i] for i in pick])
        step, *_ = np.linalg.lstsq(jac[sel], -z[sel], rcond=None)
        steps.append(step)
    return np.cov(np.asarray(steps).T).reshape(jac.shape[1], jac.shape[1])


def _covariance(geo, problem: _Problem, fit: _Fit):
    """(standard uncertainties, correlations, method) of the free parameters."""
    z, jac = _jacobian(geo, problem, fit)
    dof = max(z.size - len(fit.free), 1)
    chi2_red = float(z @ z) / dof
    cov = np.linalg.pinv(jac.T @ jac) * max(chi2_red, 1.0)
    method = (f"covariance (J^T W J)^-1 of the weighted 2theta residuals x max(1, chi2_r = "
              f"{chi2_red:.2f})")
    boot = _ring_bootstrap(z, jac, fit.points[:, 2].astype(int), problem.seed,
                           _rings_needed(fit.geometry_free))
    variance = np.diag(cov).copy()
    if boot is not None:
        variance = np.maximum(variance, np.diag(boot))
        method += f", or the ring bootstrap ({BOOTSTRAP} resamples of whole rings) if larger"
    sigma = {_FIELD[n]: float(math.sqrt(max(variance[i], 0.0)))
             for i, n in enumerate(fit.free) if n in _FIELD}
    std = np.sqrt(np.maximum(np.diag(cov), 1e-300))
    corr = cov / np.outer(std, std)
    correlation = {f"{_FIELD[a]}/{_FIELD[b]}": float(corr[i, j])
                   for i, a in enumerate(fit.free) for j, b in enumerate(fit.free)
                   if j > i and a in _FIELD and b in _FIELD}
    return sigma, correlation, method + "; coverage factor k = 1 (standard uncertainties)"


# result --------------------------------------------------------------------------------------
def _ring_fits(geo, problem: _Problem, fit: _Fit) -> tuple[RingFit, ...]:
    geometry_only = {k: fit.params[k] for k in PARAMETERS}
    res = _residuals(geo, geometry_only, fit.points, problem.tth)
    rings = fit.points[:, 2].astype(int)
    lam_nm = problem.wavelength_m * 1e9
    out = []
    for k in np.unique(rings):
        sel = rings == k
        q_obs = 4 * math.pi / lam_nm * np.sin((problem.tth[k] + res[sel]) / 2)
        q_k = 2 * math.pi / problem.dspacings[k]
        out.append(RingFit(int(k), float(problem.dspacings[k]), float(q_k), int(sel.sum()),
                           float(np.mean(q_obs - q_k)), float(np.sqrt(np.mean((q_obs - q_k) ** 2))),
                           doublet=int(k) in fit.doublets, floating=int(k) in fit.floating))
    return tuple(out)


def _result(problem: _Problem, fit: _Fit, guess_info: dict[str, Any]) -> Calibration:
    p = fit.params
    ai = problem.integrator(p)
    uncertainty, correlation, method = _covariance(ai, problem, fit)
    geometry = _geometry(problem, p)
    fit2d = ai.getFit2D()
    ttha = ai.center_array(problem.shape, unit="2th_rad", scale=False)
    x, y, _ = _tth_profile(problem.inp.image, ~problem.inp.mask, ttha)
    pixel = math.sqrt(problem.pixel[0] * problem.pixel[1])
    image = problem.inp.image.astype(np.float32)
    image.flags.writeable = False
    return Calibration(
        geometry=geometry, uncertainty=uncertainty,
        fixed=tuple(k for k in PARAMETERS if k not in fit.geometry_free),
        rings=_ring_fits(ai, problem, fit), control_points=fit.points, calibrant=problem.label,
        dspacing_nm=problem.dspacings,
        beam_center_px=(float(fit2d["centerY"]), float(fit2d["centerX"])),
        rms_residual_px=_rms_radial_px(ai, p, fit.points, problem.tth, pixel),
        profile_q_nm=4 * math.pi / (problem.wavelength_m * 1e9) * np.sin(x / 2),
        profile_intensity=y, image=image, mask=problem.inp.mask, source=problem.inp.source,
        mask_source=problem.inp.mask_source, initial_guess=guess_info,
        correlation=correlation, notes=fit.notes, uncertainty_method=method,
        pyfai_version=azimuthal.PYFAI_VERSION)
