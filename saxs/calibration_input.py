"""The calibrant image, its mask and the known part of the geometry (input to calibration).

Pure numpy: reading goes through :mod:`saxs.io`, the refinement lives in
:mod:`saxs.calibration`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from saxs.errors import InputError
from saxs.geometry import Geometry


@dataclass(frozen=True)
class CalibrationInput:
    """The averaged calibrant image, its mask (True = masked) and where it came from."""

    image: np.ndarray
    mask: np.ndarray
    header_geometry: Geometry | None
    source: str
    mask_source: str


def _read(frames_or_image: Any) -> tuple[np.ndarray, np.ndarray | None, Geometry | None, str]:
    """(image, invalid pixels or None, header geometry or None, source)."""
    from saxs.frames import FrameStack  # noqa: PLC0415

    source = ""
    if isinstance(frames_or_image, str | os.PathLike):
        from saxs.io.frames import read_frames  # noqa: PLC0415

        source = os.fspath(frames_or_image)
        frames_or_image = read_frames(frames_or_image, require_geometry=False, scalers=None)
    if isinstance(frames_or_image, FrameStack):
        stack = frames_or_image
        data = np.asarray(stack[:], dtype=np.float64)
        invalid = None
        if stack.dummy is not None:
            invalid = (np.abs(data - float(stack.dummy)) <= float(stack.delta_dummy)).any(axis=0)
        return data.mean(axis=0), invalid, stack.geometry, source or stack.describe()
    image = np.array(frames_or_image, dtype=np.float64)
    if image.ndim == 3:
        image = image.mean(axis=0)
    return image, None, None, source or "array"


def _user_mask(mask: Any, shape: tuple[int, ...]) -> tuple[np.ndarray, str]:
    if isinstance(mask, str | os.PathLike):
        from saxs.io.calib import read_mask  # noqa: PLC0415

        return read_mask(mask, shape), os.fspath(mask)
    user = np.asarray(mask, dtype=bool)
    if user.shape != shape:
        raise InputError(f"mask shape {user.shape} differs from the image shape {shape}; give "
                         "a mask of the frame's shape")
    return user, "array"


def load_input(frames_or_image: Any, mask: Any) -> CalibrationInput:
    """The image (mean of the frames), its mask and what the file says about the geometry."""
    image, invalid, header_geometry, source = _read(frames_or_image)
    if image.ndim != 2 or min(image.shape) < 16:
        raise InputError(f"{source}: calibrate needs a 2-D image of at least 16 x 16 pixels, "
                         f"got shape {image.shape}")
    bad = ~np.isfinite(image)
    if invalid is not None:
        bad |= invalid
    mask_source = ""
    if mask is not None:
        user, mask_source = _user_mask(mask, image.shape)
        bad |= user
    image = np.where(bad, 0.0, image)
    if bad.mean() > 0.95:
        raise InputError(f"{source}: {bad.mean():.0%} of the pixels are masked; check the mask "
                         "(True = masked) and the Dummy value")
    return CalibrationInput(image, bad, header_geometry, source, mask_source)


def _wavelength_m(inp: CalibrationInput, wavelength_nm, energy_kev, geometry) -> float:
    if wavelength_nm is not None and energy_kev is not None:
        raise InputError("give either wavelength_nm or energy_kev, not both")
    wavelength_m = None
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
    return wavelength_m


def _pixel_m(inp: CalibrationInput, pixel_size_m, geometry) -> tuple[float, float]:
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
    return pixel


def starting_values(inp: CalibrationInput, *, wavelength_nm: float | None,
                    energy_kev: float | None, pixel_size_m: Any,
                    geometry: Geometry | None) -> tuple[float, tuple[float, float]]:
    """(wavelength m, (pixel1 m, pixel2 m)): given, else from the geometry, else the header."""
    return (_wavelength_m(inp, wavelength_nm, energy_kev, geometry),
            _pixel_m(inp, pixel_size_m, geometry))
