"""Experiment geometry: distance, PONI, pixel sizes, wavelength and detector rotations.

Stored in pyFAI's conventions (axis 1 = rows = slow, axis 2 = columns = fast; lengths in m,
angles in rad). ID02/SAXS header keys use index 1 for the fast axis and 2 for the slow one, so
they swap on the way in and out (ID02.md §4)::

    poni1 = Center_2 * PSize_2      poni2 = Center_1 * PSize_1
    rot1 = DetectorRotation_2       rot2 = DetectorRotation_1       rot3 = DetectorRotation_3
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from pathlib import Path

from saxs.errors import InputError, where
from saxs.header import Header
from saxs.units import wavelength_m_to_energy_kev


def _header_float(value: float) -> str:
    """Text of a float that reads back to the same double."""
    return repr(float(value))


@dataclass(frozen=True)
class Geometry:
    """Detector geometry of one frame shape.

    Parameters
    ----------
    distance_m : float
        Sample to PONI distance (orthogonal to the detector), m.
    poni1_m, poni2_m : float
        Point of normal incidence along rows (slow) and columns (fast), m from the corner.
    pixel1_m, pixel2_m : float
        Pixel size along rows and columns of the stored (binned) image, m.
    wavelength_m : float
        X-ray wavelength, m.
    shape : tuple of int
        Frame shape (rows, columns).
    rot1_rad, rot2_rad, rot3_rad : float
        pyFAI detector rotations, rad.
    binning : tuple of int
        Binning of the stored image (rows, columns) = (BSize_2, BSize_1); used to bring
        calibration files of another binning to this one.
    """

    distance_m: float
    poni1_m: float
    poni2_m: float
    pixel1_m: float
    pixel2_m: float
    wavelength_m: float
    shape: tuple[int, int]
    rot1_rad: float = 0.0
    rot2_rad: float = 0.0
    rot3_rad: float = 0.0
    binning: tuple[int, int] = (1, 1)

    def __post_init__(self) -> None:
        for name in ("distance_m", "pixel1_m", "pixel2_m", "wavelength_m"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise InputError(f"Geometry.{name} must be a positive finite number, got {value!r}")
            object.__setattr__(self, name, float(value))
        for name in ("poni1_m", "poni2_m", "rot1_rad", "rot2_rad", "rot3_rad"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value)):
                raise InputError(f"Geometry.{name} must be a finite number, got {value!r}")
            object.__setattr__(self, name, float(value))
        shape = tuple(int(s) for s in self.shape)
        if len(shape) != 2 or min(shape) < 1:
            raise InputError(f"Geometry.shape must be (rows, columns) > 0, got {self.shape!r}")
        object.__setattr__(self, "shape", shape)
        binning = tuple(int(b) for b in self.binning)
        if len(binning) != 2 or min(binning) < 1:
            raise InputError(f"Geometry.binning must be two integers >= 1, got {self.binning!r}")
        object.__setattr__(self, "binning", binning)

    # ID02 views ---------------------------------------------------------------------------
    @property
    def center_1_px(self) -> float:
        """PONI along the fast axis in pixels (ID02 ``Center_1``)."""
        return self.poni2_m / self.pixel2_m

    @property
    def center_2_px(self) -> float:
        """PONI along the slow axis in pixels (ID02 ``Center_2``)."""
        return self.poni1_m / self.pixel1_m

    @property
    def energy_kev(self) -> float:
        """Photon energy in keV."""
        return wavelength_m_to_energy_kev(self.wavelength_m)

    @classmethod
    def from_header(cls, header: Header, shape: tuple[int, int]) -> Geometry:
        """Build the geometry from ID02 header keys (ID02.md §4).

        Negative ``SampleDistance`` and ``WaveLength`` are taken as positive, as dahu does.
        ``Rot_1/2/3`` (older names) are accepted only when zero.
        """
        distance = abs(header.number("SampleDistance", kind="length"))
        wavelength = abs(header.number("WaveLength", "Wavelength", kind="length"))
        psize_1 = header.number("PSize_1", kind="length")
        psize_2 = header.number("PSize_2", kind="length")
        center_1 = header.number("Center_1")
        center_2 = header.number("Center_2")
        for old in ("Rot_1", "Rot_2", "Rot_3"):
            if header.number(old, default=0.0) != 0.0:
                raise InputError(f"{where(header.source)}header key {old!r} is non-zero; only "
                                 "DetectorRotation_1/2/3 are supported for tilted detectors")
        bsize_1 = header.integer("BSize_1", default=1)
        bsize_2 = header.integer("BSize_2", default=1)
        try:
            return cls(
                distance_m=distance, poni1_m=center_2 * psize_2, poni2_m=center_1 * psize_1,
                pixel1_m=psize_2, pixel2_m=psize_1, wavelength_m=wavelength, shape=shape,
                rot1_rad=header.number("DetectorRotation_2", default=0.0),
                rot2_rad=header.number("DetectorRotation_1", default=0.0),
                rot3_rad=header.number("DetectorRotation_3", default=0.0),
                binning=(bsize_2, bsize_1),
            )
        except InputError as exc:
            raise InputError(f"{where(header.source)}{exc}") from None

    def to_header(self) -> dict[str, str]:
        """The ID02 header keys describing this geometry (values in m and rad, as text)."""
        return {
            "SampleDistance": _header_float(self.distance_m),
            "WaveLength": _header_float(self.wavelength_m),
            "PSize_1": _header_float(self.pixel2_m),
            "PSize_2": _header_float(self.pixel1_m),
            "Center_1": _header_float(self.center_1_px),
            "Center_2": _header_float(self.center_2_px),
            "BSize_1": str(self.binning[1]),
            "BSize_2": str(self.binning[0]),
            "DetectorRotation_1": _header_float(self.rot2_rad),
            "DetectorRotation_2": _header_float(self.rot1_rad),
            "DetectorRotation_3": _header_float(self.rot3_rad),
            "Dim_1": str(self.shape[1]),
            "Dim_2": str(self.shape[0]),
        }

    # PONI files and pyFAI (through saxs.azimuthal, which does not import this module) -----
    @classmethod
    def from_poni(cls, path: str | os.PathLike, shape: tuple[int, int] | None = None) -> Geometry:
        """Read a pyFAI PONI file. ``shape`` is needed when the file does not state one."""
        from saxs.azimuthal import read_poni  # noqa: PLC0415

        return cls(**read_poni(Path(path), shape))

    def to_poni(self, path: str | os.PathLike, overwrite: bool = False) -> Path:
        """Write a pyFAI PONI file (atomically; an existing file is kept unless ``overwrite``)."""
        from saxs.azimuthal import write_poni  # noqa: PLC0415

        return write_poni(self, Path(path), overwrite=overwrite)

    def integrator(self):
        """The pyFAI ``AzimuthalIntegrator`` of this geometry (cached: one per geometry), for
        comparisons with pyFAI itself; the package integrates through :mod:`saxs.azimuthal`."""
        from saxs.azimuthal import integrator_for  # noqa: PLC0415

        return integrator_for(self)

    def with_shape(self, shape: tuple[int, int]) -> Geometry:
        """The same geometry for another frame shape."""
        return replace(self, shape=tuple(shape))
