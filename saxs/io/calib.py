"""Calibration images: mask, dark and flat (EDF or HDF5), brought to the data's binning.

Conventions (ID02.md §2.1):

* mask: True = masked. Two conventions coexist at ESRF: dahu masks a pixel where
  ``abs(mask - Dummy) <= DDummy`` with Dummy from the mask file's own header; ewoksid02 masks
  every non-zero pixel. ``convention="auto"`` uses the first when the header has a non-zero
  Dummy that some pixels equal, the second otherwise.
* flat: a per-pixel efficiency multiplier used as a divisor; Dummy pixels and values <= 0 come
  back as 0, which the reducer masks (as ewoksid02 does).
* dark: counts per frame; a stack is combined by mean or median.

Binning follows the ratio of ``BSize`` keys (or of the shapes): masks are OR-ed when binned
down and repeated when expanded; darks are summed (hardware binning adds charge) and split;
flats are averaged and repeated.

:func:`read_calibration` loads all three into one :class:`saxs.calibration_images.
CalibrationImages`, the object a reduction receives.
"""

from __future__ import annotations

import logging
import os

import numpy as np

from saxs.calibration_images import (
    CalibrationImages,
    combined_mask,
    describe,
    image_or_number,
)
from saxs.errors import InputError
from saxs.io.frames import ImageFile, read_images

log = logging.getLogger(__name__)

MASK_CONVENTIONS = ("auto", "nonzero", "dummy")


def _binning_of(stack: ImageFile) -> tuple[int, int]:
    header = stack.header
    return (header.integer("BSize_2", default=1), header.integer("BSize_1", default=1))


def _factors(shape: tuple[int, int], target: tuple[int, int], what: str,
             name: str) -> tuple[tuple[int, int], bool]:
    """Integer (rows, cols) factors between two shapes, and whether to bin down."""
    if shape == target:
        return (1, 1), True
    down = all(s % t == 0 for s, t in zip(shape, target, strict=True))
    up = all(t % s == 0 for s, t in zip(shape, target, strict=True))
    if down:
        return (shape[0] // target[0], shape[1] // target[1]), True
    if up:
        return (target[0] // shape[0], target[1] // shape[1]), False
    raise InputError(f"{name}: {what} of shape {shape} does not fit frames of shape {target} "
                     "(neither is an integer binning of the other); use the file made for "
                     "this detector and binning")


def rebin(image: np.ndarray, target: tuple[int, int], how: str, name: str = "image",
          what: str = "calibration image") -> np.ndarray:
    """Bring ``image`` to ``target`` shape by integer binning.

    ``how``: "sum" (counts), "mean" (efficiencies) or "any" (masks).
    """
    (f1, f2), down = _factors(tuple(image.shape), tuple(target), what, name)
    if (f1, f2) == (1, 1):
        return image
    if down:
        blocks = image.reshape(target[0], f1, target[1], f2)
        if how == "any":
            return blocks.any(axis=(1, 3))
        reduced = blocks.sum(axis=(1, 3), dtype=np.float64)
        return reduced / (f1 * f2) if how == "mean" else reduced
    expanded = np.repeat(np.repeat(image, f1, axis=0), f2, axis=1)
    return expanded / (f1 * f2) if how == "sum" else expanded


def _check_binning(stack: ImageFile, shape: tuple[int, int], binning, what: str) -> None:
    if binning is None:
        return
    own = _binning_of(stack)
    expected = tuple(s * o // b for s, o, b in zip(stack.frame_shape, own, binning, strict=True))
    if expected != tuple(shape):
        raise InputError(f"{stack.describe()}: {what} has binning {own[::-1]} (BSize_1, BSize_2) "
                         f"and shape {stack.frame_shape}; at the data binning {binning[::-1]} it "
                         f"would be {expected}, but the frames are {tuple(shape)}")


def _load(path: str | os.PathLike, what: str) -> ImageFile:
    stack = read_images(path)
    if len(stack) == 0:
        raise InputError(f"{stack.describe()}: the {what} file holds no image")
    return stack


def read_mask(path: str | os.PathLike, shape: tuple[int, int] | None = None, *,
              binning: tuple[int, int] | None = None, convention: str = "auto") -> np.ndarray:
    """Read a mask file as a boolean array (True = masked) of ``shape``.

    Parameters
    ----------
    path : path
        EDF, HDF5 (``file.h5::/path``) or any fabio image.
    shape : tuple, optional
        Frame shape to bring the mask to; default: the mask's own shape.
    binning : tuple, optional
        The data's (BSize_2, BSize_1), checked against the mask's own BSize keys.
    convention : {"auto", "nonzero", "dummy"}
        See the module docstring.
    """
    if convention not in MASK_CONVENTIONS:
        raise InputError(f"mask convention {convention!r} is not one of {MASK_CONVENTIONS}")
    stack = _load(path, "mask")
    image = np.asarray(stack.images[0])
    dummy, ddummy = stack.dummy, stack.delta_dummy
    by_dummy = dummy is not None and bool(np.any(np.abs(image - dummy) <= ddummy))
    if convention == "dummy" and dummy is None:
        raise InputError(f"{stack.describe()}: convention 'dummy' needs a non-zero Dummy key in "
                         "the mask header")
    use_dummy = convention == "dummy" or (convention == "auto" and by_dummy)
    mask = np.abs(image - dummy) <= ddummy if use_dummy else image != 0
    log.debug("mask %s read with the %s convention", path, "dummy" if use_dummy else "nonzero")
    if shape is None:
        return mask
    _check_binning(stack, shape, binning, "the mask")
    return rebin(mask, shape, "any", stack.describe(), "the mask")


def read_dark(path: str | os.PathLike, shape: tuple[int, int] | None = None, *,
              binning: tuple[int, int] | None = None, combine: str = "mean") -> np.ndarray:
    """Read a dark image (or combine a dark stack by "mean" or "median"), float64 counts."""
    if combine not in ("mean", "median"):
        raise InputError(f"dark combine {combine!r} must be 'mean' or 'median'")
    stack = _load(path, "dark")
    frames = np.asarray(stack.images, dtype=np.float64)
    dark = frames.mean(axis=0) if combine == "mean" else np.median(frames, axis=0)
    if not np.all(np.isfinite(dark)):
        raise InputError(f"{stack.describe()}: the dark holds NaN or infinite pixels")
    if shape is None:
        return dark
    _check_binning(stack, shape, binning, "the dark")
    return rebin(dark, shape, "sum", stack.describe(), "the dark")


def read_flat(path: str | os.PathLike, shape: tuple[int, int] | None = None, *,
              binning: tuple[int, int] | None = None) -> np.ndarray:
    """Read a flat field (a stack is combined by median); invalid pixels come back as 0."""
    stack = _load(path, "flat")
    frames = np.asarray(stack.images, dtype=np.float64)
    flat = frames[0] if len(stack) == 1 else np.median(frames, axis=0)
    invalid = ~np.isfinite(flat) | (flat <= 0)
    if stack.dummy is not None:
        invalid |= np.abs(flat - stack.dummy) <= stack.delta_dummy
    flat = np.where(invalid, 0.0, flat)
    if invalid.all():
        raise InputError(f"{stack.describe()}: the flat field has no valid pixel")
    if shape is None:
        return flat
    _check_binning(stack, shape, binning, "the flat")
    binned = rebin(flat, shape, "mean", stack.describe(), "the flat")
    bad = rebin(invalid, shape, "any", stack.describe(), "the flat")
    return np.where(bad, 0.0, binned)


def read_calibration(shape: tuple[int, int], *, mask=None, dark=None, flat=None,
                     binning: tuple[int, int] | None = None,
                     mask_convention: str = "auto") -> CalibrationImages:
    """Load the calibration images of a reduction into one :class:`CalibrationImages`.

    Parameters
    ----------
    shape : tuple
        The frames' shape (rows, cols); files of another binning are brought to it.
    mask : path, array, or a sequence of them, optional
        Masks (True or non-zero = masked; ``mask_convention`` for files), combined.
    dark, flat : path, array or number, optional
        Dark counts per frame (default 0) and flat field (default 1).
    binning : tuple, optional
        The data's (BSize_2, BSize_1), checked against the files' own BSize keys.
    """
    shape = tuple(int(s) for s in shape)

    def load_mask(item):
        if isinstance(item, np.ndarray):
            if item.shape != shape:
                raise InputError(f"mask array has shape {item.shape}, the frames {shape}")
            return item
        return read_mask(item, shape, binning=binning, convention=mask_convention)

    return CalibrationImages(
        mask=combined_mask(mask, shape, load_mask),
        dark=image_or_number(dark, shape, "dark", 0.0,
                             lambda p: read_dark(p, shape, binning=binning)),
        flat=image_or_number(flat, shape, "flat", 1.0,
                             lambda p: read_flat(p, shape, binning=binning)),
        sources={"mask": describe(mask), "dark": describe(dark), "flat": describe(flat)})
