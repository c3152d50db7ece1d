"""The one module of ``saxs`` that speaks pyFAI (DESIGN.md §1).

Everything pyFAI is asked for goes through here, and comes back as this package's own small
objects: the integrator of a :class:`~saxs.geometry.Geometry` (one per geometry, cached, so
its look-up tables are built once across frames and files), PONI files (as plain geometry
parameters), the sparse integration matrix of a geometry (:class:`SparseMatrix`), the
per-pixel correction arrays (q, solid angle, polarisation) and 1-D / 2-D integrations
(:class:`Integration1D`, :class:`Integration2D`). No other module passes pyFAI keywords or
reads pyFAI result attributes, and this module does not import :mod:`saxs.geometry` (a
geometry is used through its attributes), so that the geometry <-> adapter arrow goes one way.

The calibration (:mod:`saxs.calibration`) gets its pyFAI objects here too: the calibrant
registry, a calibrant of given d-spacings, an integrator it moves while refining, and the
massif ring picker (pyFAI's ``SingleGeometry``) with its geometry refinement. It drives them
through their methods; it imports no pyFAI module itself.

Units: q in 1/nm (pyFAI unit ``q_nm^-1``), azimuth (pyFAI "chi") in degrees at the edges.
"""

from __future__ import annotations

import functools
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from zlib import crc32

import numpy as np
from pyFAI import load as _pyfai_load
from pyFAI import units as _units
from pyFAI import version as _pyfai_version
from pyFAI.calibrant import CALIBRANT_FACTORY, Calibrant
from pyFAI.detectors import Detector
from pyFAI.goniometer import SingleGeometry
from pyFAI.integrator.azimuthal import AzimuthalIntegrator

from saxs.errors import InputError


class Geometry(Protocol):
    """What this module reads of a geometry (:class:`saxs.geometry.Geometry` is one; it must be
    hashable, integrators are cached per geometry). Lengths in m, angles in rad."""

    shape: tuple[int, int]
    pixel1_m: float
    pixel2_m: float
    distance_m: float
    poni1_m: float
    poni2_m: float
    rot1_rad: float
    rot2_rad: float
    rot3_rad: float
    wavelength_m: float

    def __hash__(self) -> int: ...

#: The radial unit of every integration (q in 1/nm).
UNIT = "q_nm^-1"

#: Pixel-splitting schemes of the sparse matrix: pyFAI's "no", "bbox" and "full".
SPLITS = ("no", "bbox", "full")
#: pyFAI's 1-D integration algorithms and implementations an integration may name.
ALGORITHMS = ("histogram", "csr", "csc", "lut")
IMPLEMENTATIONS = ("cython", "python")


def check_method(method) -> tuple[str, str, str]:
    """A pyFAI method (pixel splitting, algorithm, implementation) as a sequence or as text
    "split,algo,impl", checked; a split alone means (split, "csr", "cython")."""
    parts = tuple(str(p).strip().lower() for p in (method.split(",") if isinstance(method, str)
                                                    else method))
    if len(parts) == 1:
        parts = (*parts, "csr", "cython")
    if (len(parts) != 3 or parts[0] not in SPLITS or parts[1] not in ALGORITHMS
            or parts[2] not in IMPLEMENTATIONS):
        raise InputError(f"integration method {method!r}: give the pixel splitting "
                         f"({', '.join(SPLITS)}), optionally with the algorithm "
                         f"({', '.join(ALGORITHMS)}) and implementation "
                         f"({', '.join(IMPLEMENTATIONS)}), e.g. bbox,csr,cython")
    return parts


@functools.lru_cache(maxsize=16)
def integrator_for(geometry: Geometry,
                   role: str = "integrate") -> AzimuthalIntegrator:
    """The pyFAI integrator of ``geometry``: a generic detector, as ESRF builds it (ID02.md §4).

    A generic ``Detector`` carries no default dummy values (Eiger classes would mask every
    value in [-3.5, -0.5], pyFAI issue #2588). The result is cached: do not change it.
    ``role`` keeps separate instances for integration and for the per-pixel arrays below:
    pyFAI caches position arrays inside the integrator, and which call fills that cache first
    changes the q bin edges in the 7th digit, so a reduction must not depend on whether the
    simulator (or anything else) asked for pixel arrays earlier in the process. The role
    ``"chi-disc-0"`` has pyFAI's azimuth discontinuity at 0 deg instead of 180 deg (sectors
    across 180 deg).
    """
    detector = Detector(pixel1=geometry.pixel1_m, pixel2=geometry.pixel2_m,
                        max_shape=geometry.shape)
    integrator = AzimuthalIntegrator(
        dist=geometry.distance_m, poni1=geometry.poni1_m, poni2=geometry.poni2_m,
        rot1=geometry.rot1_rad, rot2=geometry.rot2_rad, rot3=geometry.rot3_rad,
        wavelength=geometry.wavelength_m, detector=detector,
    )
    if role == "chi-disc-0":
        integrator.setChiDiscAtZero()
    integrator.saxs_lock = threading.Lock()  # see integrator_lock: it lives with the integrator
    return integrator


def integrator_lock(integrator: AzimuthalIntegrator) -> threading.Lock:
    """The lock made with ``integrator`` by :func:`integrator_for`: threads that share one take
    turns to integrate (a pyFAI integrator keeps per-call state and is not safe for concurrent
    calls)."""
    return integrator.saxs_lock


# PONI files ---------------------------------------------------------------------------------

def read_poni(path: Path, shape: tuple[int, int] | None = None) -> dict:
    """Read a PONI file with pyFAI (named detectors included): the keyword arguments of
    :class:`~saxs.geometry.Geometry` (lengths in m, angles in rad)."""
    if not path.is_file():
        raise InputError(f"{path}: PONI file not found")
    try:
        ai = _pyfai_load(str(path))
    except Exception as exc:  # pyFAI raises many types for a bad file
        raise InputError(f"{path}: not a readable PONI file ({type(exc).__name__}: {exc})") from exc
    if ai.wavelength is None or not ai.wavelength > 0:
        raise InputError(f"{path}: the PONI file has no Wavelength; add a 'Wavelength:' line in m")
    detector_shape = ai.detector.max_shape
    if shape is None:
        if detector_shape is None:
            raise InputError(f"{path}: the PONI file does not give the detector shape; pass "
                             "shape=(rows, columns)")
        shape = tuple(int(s) for s in detector_shape)
    binning = tuple(int(b) for b in getattr(ai.detector, "binning", (1, 1)) or (1, 1))
    return {"distance_m": ai.dist, "poni1_m": ai.poni1, "poni2_m": ai.poni2,
            "pixel1_m": ai.detector.pixel1, "pixel2_m": ai.detector.pixel2,
            "wavelength_m": ai.wavelength, "shape": tuple(shape), "rot1_rad": ai.rot1,
            "rot2_rad": ai.rot2, "rot3_rad": ai.rot3, "binning": binning}


def write_poni(geometry: Geometry, path: Path, overwrite: bool = False) -> Path:
    """Write ``geometry`` as a PONI file through a temporary file and a rename.

    pyFAI appends to an existing file and only logs write errors, so it is given a fresh file
    and the result is read back before the rename.
    """
    if path.exists() and not overwrite:
        raise InputError(f"{path}: exists; pass overwrite=True to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    tmp = Path(tmp_name)
    try:
        tmp.unlink()
        integrator_for(geometry).write(str(tmp))
        if not tmp.is_file() or tmp.stat().st_size == 0:
            raise InputError(f"{path}: pyFAI could not write the PONI file")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


# Per-pixel arrays ---------------------------------------------------------------------------

def q_array_nm(geometry: Geometry) -> np.ndarray:
    """q at each pixel centre, 1/nm, shape ``geometry.shape`` (float64)."""
    return np.asarray(integrator_for(geometry, "arrays").qArray(geometry.shape), dtype=np.float64)


def solid_angle_sr(geometry: Geometry) -> np.ndarray:
    """Absolute solid angle of each pixel, sr (pyFAI: Omega_rel * p1 p2 / d^2)."""
    ai = integrator_for(geometry, "arrays")
    return np.asarray(ai.solidAngleArray(geometry.shape, absolute=True), dtype=np.float64)


def _check_polarization(factor: float | None) -> None:
    if factor is not None and not -1.0 <= factor <= 1.0:
        raise InputError(f"polarization factor must be in [-1, 1], got {factor}")


def polarization(geometry: Geometry, factor: float, axis_offset_rad: float = 0.0) -> np.ndarray:
    """pyFAI polarisation factor per pixel (1 = no polarisation loss)."""
    _check_polarization(factor)
    ai = integrator_for(geometry, "arrays")
    pol = ai.polarization(geometry.shape, factor=factor, axis_offset=axis_offset_rad)
    return np.asarray(pol, dtype=np.float64)


def pixel_normalization(geometry: Geometry, *, solid_angle: bool = True,
                        polarization_factor: float | None = None) -> np.ndarray:
    """The per-pixel factors pyFAI's ``integrate1d`` puts in the normalisation besides the flat
    and the normalisation factor: relative solid angle (Omega / Omega at the PONI) times the
    polarisation factor, from the integrating instance (float64 of pyFAI's float32 values)."""
    _check_polarization(polarization_factor)
    ai = integrator_for(geometry)
    with integrator_lock(ai):
        out = np.ones(geometry.shape)
        if solid_angle:
            out *= np.asarray(ai.solidAngleArray(geometry.shape, True), dtype=np.float64)
        if polarization_factor is not None:
            out *= np.asarray(ai.polarization(geometry.shape, polarization_factor),
                              dtype=np.float64)
    return out


# The sparse matrix --------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class SparseMatrix:
    """pyFAI's CSR integration matrix of one geometry, mask and q grid.

    Row b (a q bin, centre ``q_nm[b]``) holds the coefficients ``data[indptr[b]:indptr[b+1]]``
    of the pixels ``indices[...]`` (flattened row-major). Masked pixels, and pixels outside the
    azimuth range, have no entry. Arrays are read-only.
    """

    q_nm: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    n_pixels: int
    split: str
    azimuth_range_deg: tuple[float, float] | None = None

    @property
    def n_bins(self) -> int:
        """Number of q bins (rows)."""
        return int(self.indptr.size - 1)


def check_azimuth_range(azimuth_range_deg: tuple[float, float]) -> tuple[float, float]:
    """A sector (lo, hi) in degrees: both in [-180, 360], lo < hi, at most 360 wide."""
    try:
        lo, hi = (float(v) for v in azimuth_range_deg)
    except (TypeError, ValueError):
        raise InputError(f"azimuth range {azimuth_range_deg!r} must be two numbers (degrees)"
                         ) from None
    if not (np.isfinite(lo) and np.isfinite(hi)) or not -180.0 <= lo < hi <= 360.0 \
            or hi - lo > 360.0:
        raise InputError(f"azimuth range ({lo:g}, {hi:g}) deg is outside -180..360 or empty; "
                         "give (lo, hi) with -180 <= lo < hi <= 360 and hi - lo <= 360")
    return lo, hi


def _sector_role(lo: float, hi: float) -> str:
    """The integrator whose azimuth discontinuity lies outside the sector (pyFAI integrates a
    sector only within [-180, 180) or [0, 360))."""
    if hi <= 180.0 and lo >= -180.0:
        return "integrate"
    if lo >= 0.0:
        return "chi-disc-0"
    raise InputError(f"azimuth range ({lo:g}, {hi:g}) deg crosses both 0 and 180 deg; split it "
                     "into two sectors")


def sparse_matrix(geometry: Geometry, npt: int, mask: np.ndarray, *, split: str = "no",
                  azimuth_range_deg: tuple[float, float] | None = None) -> SparseMatrix:
    """The CSR matrix pyFAI's ``integrate1d(method=(split, "csr", "cython"))`` builds for
    ``geometry``, ``mask`` (True = masked) and ``npt`` bins of q, optionally for one sector.

    Built by the same call ``integrate1d`` makes (``setup_sparse_integrator``), on the same
    integrator instance, so the bins and coefficients are pyFAI's own.
    """
    if split not in SPLITS:
        raise InputError(f"pixel splitting {split!r} is not one of {SPLITS}")
    role = "integrate"
    chi_range = None
    if azimuth_range_deg is not None:
        lo, hi = check_azimuth_range(azimuth_range_deg)
        role = _sector_role(lo, hi)
        azimuth_range_deg = (lo, hi)
    ai = integrator_for(geometry, role)
    mask = np.ascontiguousarray(mask, dtype=bool)
    if mask.shape != tuple(geometry.shape):
        raise InputError(f"mask of shape {mask.shape} for frames of shape {geometry.shape}")
    with integrator_lock(ai):
        if azimuth_range_deg is not None:
            chi_range = ai.normalize_azimuth_range(azimuth_range_deg)
        engine = ai.setup_sparse_integrator(
            tuple(geometry.shape), int(npt), mask, None, chi_range, mask_checksum=crc32(mask),
            unit=_units.to_unit(UNIT), split=split, algo="CSR", empty=ai._empty, scale=False)
    data, indices, indptr = engine.lut
    scale = _units.to_unit(UNIT).scale
    arrays = [np.array(a, copy=True) for a in (np.asarray(engine.bin_centers) * scale, indptr,
                                               indices, data)]
    for array in arrays:
        array.flags.writeable = False
    return SparseMatrix(*arrays, n_pixels=int(np.prod(geometry.shape)), split=split,
                        azimuth_range_deg=azimuth_range_deg)


# Integrations -------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Integration1D:
    """One 1-D integration: q (1/nm), I, sigma (standard error) and pyFAI's per-bin sums."""

    q: np.ndarray
    intensity: np.ndarray
    sigma: np.ndarray
    count: np.ndarray
    sum_signal: np.ndarray
    sum_normalization: np.ndarray
    sum_variance: np.ndarray | None


@dataclass(frozen=True, eq=False)
class Integration2D:
    """One chi x q regrouping: ``intensity``, ``sigma`` and ``count`` of shape (n_chi, n_q)."""

    q: np.ndarray
    chi_deg: np.ndarray
    intensity: np.ndarray
    sigma: np.ndarray
    count: np.ndarray | None


def _keywords(*, mask, dark, flat, variance, error_model, polarization_factor,
              normalization_factor, dummy, delta_dummy, method, solid_angle) -> dict:
    _check_polarization(polarization_factor)
    words = {"correctSolidAngle": solid_angle, "mask": mask, "dark": dark, "flat": flat,
             "polarization_factor": polarization_factor,
             "normalization_factor": normalization_factor, "dummy": dummy,
             "delta_dummy": delta_dummy, "method": tuple(method), "unit": UNIT}
    if variance is not None:
        words["variance"] = variance
    else:
        words["error_model"] = error_model
    return words


def integrate1d(geometry: Geometry, data: np.ndarray, npt: int, *, mask=None, dark=None,
                flat=None, variance=None, error_model: str | None = "poisson",
                polarization_factor: float | None = None, normalization_factor: float = 1.0,
                dummy: float | None = None, delta_dummy: float | None = None,
                method: tuple[str, str, str] = ("bbox", "csr", "cython"),
                solid_angle: bool = True,
                azimuth_range_deg: tuple[float, float] | None = None) -> Integration1D:
    """pyFAI ``integrate1d`` of one image (q in 1/nm), under the integrator's lock.

    Per bin: I = sum c (data - dark) / (normalization_factor sum c flat P Omega_rel); the
    error model "poisson" takes max(data, 1) as the variance of each pixel, ``variance=``
    gives it explicitly; sigma = sqrt(sum c^2 var) / (normalization_factor sum c flat P
    Omega_rel) (ID02.md §5).
    """
    role = "integrate"
    if azimuth_range_deg is not None:
        azimuth_range_deg = check_azimuth_range(azimuth_range_deg)
        role = _sector_role(*azimuth_range_deg)
    ai = integrator_for(geometry, role)
    words = _keywords(mask=mask, dark=dark, flat=flat, variance=variance,
                      error_model=error_model, polarization_factor=polarization_factor,
                      normalization_factor=normalization_factor, dummy=dummy,
                      delta_dummy=delta_dummy, method=method, solid_angle=solid_angle)
    with integrator_lock(ai):
        res = ai.integrate1d(data, int(npt), azimuth_range=azimuth_range_deg, **words)
    sigma = res.sigma if res.sigma is not None else np.zeros_like(res.intensity)
    variance_sum = getattr(res, "sum_variance", None)
    return Integration1D(q=np.asarray(res.radial, dtype=np.float64),
                         intensity=np.asarray(res.intensity, dtype=np.float64),
                         sigma=np.asarray(sigma, dtype=np.float64),
                         count=np.asarray(res.count, dtype=np.float64),
                         sum_signal=np.asarray(res.sum_signal, dtype=np.float64),
                         sum_normalization=np.asarray(res.sum_normalization, dtype=np.float64),
                         sum_variance=None if variance_sum is None
                         else np.asarray(variance_sum, dtype=np.float64))


def integrate2d(geometry: Geometry, data: np.ndarray, npt: int, npt_azim: int, *, mask=None,
                dark=None, flat=None, variance=None, error_model: str | None = "poisson",
                polarization_factor: float | None = None, normalization_factor: float = 1.0,
                dummy: float | None = None, delta_dummy: float | None = None,
                method: tuple[str, str, str] = ("bbox", "csr", "cython"),
                solid_angle: bool = True) -> Integration2D:
    """pyFAI ``integrate2d_ng`` of one image to ``npt_azim`` x ``npt`` (chi x q) cells."""
    ai = integrator_for(geometry)
    words = _keywords(mask=mask, dark=dark, flat=flat, variance=variance,
                      error_model=error_model, polarization_factor=polarization_factor,
                      normalization_factor=normalization_factor, dummy=dummy,
                      delta_dummy=delta_dummy, method=method, solid_angle=solid_angle)
    with integrator_lock(ai):
        res = ai.integrate2d_ng(data, int(npt), npt_azim=int(npt_azim), **words)
    count = np.asarray(res.count, dtype=np.float64) if res.count is not None else None
    return Integration2D(q=np.asarray(res.radial, dtype=np.float64),
                         chi_deg=np.asarray(res.azimuthal, dtype=np.float64),
                         intensity=np.asarray(res.intensity, dtype=np.float64),
                         sigma=np.asarray(res.sigma, dtype=np.float64), count=count)


# Calibration objects ------------------------------------------------------------------------

#: The version of pyFAI in use (recorded with every calibration).
PYFAI_VERSION = str(_pyfai_version)
#: pyFAI's geometry parameters in its order (lengths in m, angles in rad).
GEOMETRY_PARAMETERS = ("dist", "poni1", "poni2", "rot1", "rot2", "rot3")


def registered_calibrants() -> list[str]:
    """Names in pyFAI's calibrant registry, as the registry spells them."""
    return list(CALIBRANT_FACTORY.keys())


def registered_dspacing_nm(name: str) -> list[float]:
    """d-spacings (nm) of the registry's calibrant ``name`` (spelled as the registry does)."""
    return [d / 10.0 for d in CALIBRANT_FACTORY(name).dspacing]


def calibrant(dspacing_nm, wavelength_m: float) -> Calibrant:
    """A pyFAI calibrant with these d-spacings (nm) at this wavelength (m)."""
    return Calibrant(dspacing=[10.0 * float(d) for d in dspacing_nm], wavelength=wavelength_m)


def movable_integrator(pixel_m: tuple[float, float], shape: tuple[int, int],
                       wavelength_m: float) -> AzimuthalIntegrator:
    """A pyFAI integrator for a refinement to move (``set_param`` with the six
    :data:`GEOMETRY_PARAMETERS`): pyFAI's garbage collection on every change is off (with a
    large heap it costs 0.03-0.1 s a change, and a refinement makes hundreds)."""
    detector = Detector(pixel1=pixel_m[0], pixel2=pixel_m[1], max_shape=shape)
    integrator = AzimuthalIntegrator(detector=detector, wavelength=wavelength_m)
    integrator.auto_gc = False
    return integrator


def ring_picker(image: np.ndarray, mask: np.ndarray, pixel_m: tuple[float, float],
                ring_calibrant: Calibrant, *, params: dict[str, float],
                wavelength_m: float) -> SingleGeometry:
    """pyFAI's massif peak picking (``SingleGeometry``) on ``image`` (masked pixels True),
    with its geometry refinement at ``params`` (the six :data:`GEOMETRY_PARAMETERS`) and its
    garbage collection on every parameter change off (see :func:`movable_integrator`)."""
    detector = Detector(pixel1=pixel_m[0], pixel2=pixel_m[1], max_shape=image.shape)
    detector.mask = mask.astype(np.int8)
    geometry = {**{k: float(params[k]) for k in GEOMETRY_PARAMETERS}, "wavelength": wavelength_m}
    picker = SingleGeometry("calibration", image=image, calibrant=ring_calibrant,
                            detector=detector, geometry=geometry)
    picker.geometry_refinement.auto_gc = False
    return picker
