"""The calibration images a reduction uses: mask, dark and flat of one frame shape.

A data object: :func:`saxs.io.calib.read_calibration` builds it from files (EDF, HDF5, any
fabio image; ID02 mask conventions, binning), :meth:`CalibrationImages.from_arrays` from
arrays or numbers; processing (:class:`saxs.Reducer`) receives it and never opens a file.
(Not to be confused with :mod:`saxs.calibration`, the refinement of the geometry.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from saxs.errors import InputError


def _frozen(array: np.ndarray) -> np.ndarray:
    array = np.ascontiguousarray(array)
    if array.flags.writeable:
        array = array.copy()
        array.flags.writeable = False
    return array


def describe(value) -> str | None:
    """How a calibration input is recorded in provenance: its path, ``array (shape)``, the
    number, or the items of a sequence joined by commas."""
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        return f"array {value.shape}"
    if isinstance(value, str | int | float) or hasattr(value, "__fspath__"):
        return str(value)
    return ", ".join(str(describe(v)) for v in value)


@dataclass(frozen=True, eq=False)
class CalibrationImages:
    """Mask, dark and flat field of one frame shape (arrays read-only).

    Parameters
    ----------
    mask : (rows, cols) bool
        True = masked (gaps, beamstop, bad pixels).
    dark : (rows, cols) float64
        Dark counts per frame.
    flat : (rows, cols) float64
        Flat field (a per-pixel efficiency, divided out); 0 marks a pixel without a valid
        flat value, which the reduction masks.
    sources : mapping
        What each came from (file names, ``array (shape)``, numbers), for provenance.
    """

    mask: np.ndarray
    dark: np.ndarray
    flat: np.ndarray
    sources: Mapping[str, str | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        mask = np.asarray(self.mask)
        dark = np.asarray(self.dark, dtype=np.float64)
        flat = np.asarray(self.flat, dtype=np.float64)
        if mask.ndim != 2 or dark.shape != mask.shape or flat.shape != mask.shape:
            raise InputError(f"calibration images must share one 2-D shape: mask {mask.shape}, "
                             f"dark {dark.shape}, flat {flat.shape}")
        for name, array in (("dark", dark), ("flat", flat)):
            if not np.all(np.isfinite(array)):
                raise InputError(f"{name} {self.sources.get(name) or 'array'} holds NaN or "
                                 "infinite pixels")
        _plausible(mask.astype(bool, copy=False), dark, flat, self.sources)
        object.__setattr__(self, "mask", _frozen(mask.astype(bool, copy=False)))
        object.__setattr__(self, "dark", _frozen(dark))
        object.__setattr__(self, "flat", _frozen(flat))
        object.__setattr__(self, "sources", dict(self.sources))

    @property
    def shape(self) -> tuple[int, int]:
        """The frame shape (rows, cols)."""
        return tuple(self.mask.shape)

    @property
    def valid(self) -> np.ndarray:
        """Pixels a reduction may use: not masked and with a positive flat value."""
        return ~self.mask & (self.flat > 0)

    @classmethod
    def from_arrays(cls, shape: tuple[int, int], *, mask=None, dark=None,
                    flat=None) -> CalibrationImages:
        """From arrays, numbers or None (no mask, dark 0, flat 1); ``mask`` may be a sequence
        of arrays, combined. Files go through :func:`saxs.io.calib.read_calibration`."""
        shape = tuple(int(s) for s in shape)
        return cls(mask=combined_mask(mask, shape, lambda item: _array(item, shape, "mask")),
                   dark=image_or_number(dark, shape, "dark", 0.0),
                   flat=image_or_number(flat, shape, "flat", 1.0),
                   sources={"mask": describe(mask), "dark": describe(dark),
                            "flat": describe(flat)})


#: Largest dark value a counting detector gives (a 32-bit counter); more means a file read
#: with the wrong byte order or data type.
MAX_DARK_COUNTS = 2.0**32
#: Largest ratio between the 99th and 1st percentiles of a flat's valid pixels: a detector
#: efficiency varies by per cents to tens of per cents, not by orders of magnitude.
MAX_FLAT_SPREAD = 100.0


def _plausible(mask: np.ndarray, dark: np.ndarray, flat: np.ndarray, sources) -> None:
    """Refuse calibration images that cannot be right (one-line errors naming the file)."""
    def name(what: str) -> str:
        return f"{what} {sources.get(what) or 'array'}"

    if mask.all():
        raise InputError(f"{name('mask')} masks every pixel (no valid pixel left); check its "
                         "convention (True or non-zero = masked) and its Dummy value")
    valid = ~mask
    if np.abs(dark[valid]).max(initial=0.0) > MAX_DARK_COUNTS:
        raise InputError(f"{name('dark')}: values up to {np.abs(dark[valid]).max():.3g} are no "
                         "detector counts (wrong byte order or data type?); check the file")
    use = flat[valid]
    if use.size and (use < 0).any():
        raise InputError(f"{name('flat')}: {np.count_nonzero(use < 0)} unmasked pixels are "
                         "negative; a flat field is an efficiency > 0")
    positive = use[use > 0]
    if use.size and positive.size < 0.5 * use.size:
        raise InputError(f"{name('flat')}: {100 * (1 - positive.size / use.size):.0f} % of the "
                         "unmasked pixels are 0; check the file or mask those pixels")
    if positive.size > 1:
        low, high = np.percentile(positive, [1, 99])
        if high > MAX_FLAT_SPREAD * low:
            raise InputError(f"{name('flat')}: values from {low:.3g} to {high:.3g} (1st to "
                             "99th percentile); a flat field varies by per cents, not orders "
                             "of magnitude (wrong byte order or data type?)")


def _array(value, shape: tuple[int, int], what: str) -> np.ndarray:
    if not isinstance(value, np.ndarray):
        raise InputError(f"{what} {value!r}: give an array here (files are read by "
                         "saxs.io.calib.read_calibration, or pass paths to saxs.Reducer)")
    if value.shape != shape:
        raise InputError(f"{what} array has shape {value.shape}, the frames {shape}")
    return value


def combined_mask(mask, shape: tuple[int, int], load) -> np.ndarray:
    """The OR of ``mask`` (None, one item or a sequence of items), each made an array by
    ``load(item)``."""
    if mask is None:
        return np.zeros(shape, dtype=bool)
    items = mask if isinstance(mask, Sequence) and not isinstance(mask, str | bytes) else [mask]
    combined = np.zeros(shape, dtype=bool)
    for item in items:
        combined |= np.asarray(load(item)).astype(bool)
    return combined


def image_or_number(value, shape: tuple[int, int], what: str, default: float,
                    load=None) -> np.ndarray:
    """A float64 image of ``shape`` from None (``default``), a number, an array, or anything
    ``load`` turns into an array."""
    if value is None:
        return np.full(shape, default)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return np.full(shape, float(value))
    if isinstance(value, np.ndarray) or load is None:
        return np.asarray(_array(value, shape, what), dtype=np.float64)
    return np.asarray(load(value), dtype=np.float64)
