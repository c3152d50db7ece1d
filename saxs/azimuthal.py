"""The one module of ``saxs`` that imports pyFAI.

It turns a :class:`~saxs.geometry.Geometry` into a pyFAI ``AzimuthalIntegrator`` (one per
geometry, cached, so its look-up tables are built once across frames and files), reads and
writes PONI files, and gives the per-pixel arrays (q, absolute solid angle, polarisation) that
the simulator and the reducer share.
"""

from __future__ import annotations

import functools
import os
import tempfile
import threading
from pathlib import Path

import numpy as np
from pyFAI import load as _pyfai_load
from pyFAI.detectors import Detector
from pyFAI.integrator.azimuthal import AzimuthalIntegrator

from saxs.errors import InputError
from saxs.geometry import Geometry


@functools.lru_cache(maxsize=16)
def integrator_for(geometry: Geometry,
                   role: str = "integrate") -> AzimuthalIntegrator:  # noqa: ARG001 (cache key)
    """The pyFAI integrator of ``geometry``: a generic detector, as ESRF builds it (ID02.md §4).

    A generic ``Detector`` carries no default dummy values (Eiger classes would mask every
    value in [-3.5, -0.5], pyFAI issue #2588). The result is cached: do not change it.
    ``role`` keeps separate instances for integration and for the per-pixel arrays below:
    pyFAI caches position arrays inside the integrator, and which call fills that cache first
    changes the q bin edges in the 7th digit, so a reduction must not depend on whether the
    simulator (or anything else) asked for pixel arrays earlier in the process.
    """
    detector = Detector(pixel1=geometry.pixel1_m, pixel2=geometry.pixel2_m,
                        max_shape=geometry.shape)
    integrator = AzimuthalIntegrator(
        dist=geometry.distance_m, poni1=geometry.poni1_m, poni2=geometry.poni2_m,
        rot1=geometry.rot1_rad, rot2=geometry.rot2_rad, rot3=geometry.rot3_rad,
        wavelength=geometry.wavelength_m, detector=detector,
    )
    integrator.saxs_lock = threading.Lock()  # see integrator_lock: it lives with the integrator
    return integrator


def integrator_lock(integrator: AzimuthalIntegrator) -> threading.Lock:
    """The lock made with ``integrator`` by :func:`integrator_for`: threads that share one take
    turns to integrate (a pyFAI integrator keeps per-call state and is not safe for concurrent
    calls)."""
    return integrator.saxs_lock


def geometry_from_poni(path: Path, shape: tuple[int, int] | None = None) -> Geometry:
    """Read a PONI file with pyFAI (named detectors included) into a :class:`Geometry`."""
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
    return Geometry(
        distance_m=ai.dist, poni1_m=ai.poni1, poni2_m=ai.poni2,
        pixel1_m=ai.detector.pixel1, pixel2_m=ai.detector.pixel2,
        wavelength_m=ai.wavelength, shape=shape,
        rot1_rad=ai.rot1, rot2_rad=ai.rot2, rot3_rad=ai.rot3, binning=binning,
    )


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


def q_array_nm(geometry: Geometry) -> np.ndarray:
    """q at each pixel centre, 1/nm, shape ``geometry.shape`` (float64)."""
    return np.asarray(integrator_for(geometry, "arrays").qArray(geometry.shape), dtype=np.float64)


def solid_angle_sr(geometry: Geometry) -> np.ndarray:
    """Absolute solid angle of each pixel, sr (pyFAI: Omega_rel * p1 p2 / d^2)."""
    ai = integrator_for(geometry, "arrays")
    return np.asarray(ai.solidAngleArray(geometry.shape, absolute=True), dtype=np.float64)


def polarization(geometry: Geometry, factor: float, axis_offset_rad: float = 0.0) -> np.ndarray:
    """pyFAI polarisation factor per pixel (1 = no polarisation loss)."""
    if not -1.0 <= factor <= 1.0:
        raise InputError(f"polarization factor must be in [-1, 1], got {factor}")
    ai = integrator_for(geometry, "arrays")
    pol = ai.polarization(geometry.shape, factor=factor, axis_offset=axis_offset_rad)
    return np.asarray(pol, dtype=np.float64)
