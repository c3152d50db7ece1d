"""Curves of a time-resolved stack: one I(q) per frame (or per group of frames), one q grid."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from saxs.curve import Curve, Step
from saxs.errors import InputError


def _readonly(values, dtype, name: str, ndim: int) -> np.ndarray:
    array = np.array(values, dtype=dtype, copy=True, order="C")
    if array.ndim != ndim:
        raise InputError(f"FrameCurves.{name} must be {ndim}-D, got shape {array.shape}")
    array.flags.writeable = False
    return array


@dataclass(frozen=True, eq=False)
class FrameCurves:
    """I(q) of each frame (or group of ``bin_frames`` frames) of one stack, on one q grid.

    Parameters
    ----------
    q : (n_q,) float64
        Bin centres, 1/nm (all bins, empty ones included).
    intensity, sigma : (n, n_q) float64
        Normalised intensity and its standard error per curve; NaN in empty bins.
    count : (n, n_q) float64
        Pixels (splitting-weighted) in each bin of each curve, averaged over its frames.
    frame_range : (n, 2) int64
        First and one-past-last frame (stack positions) of each curve.
    time_s : (n,) float64 or None
        Start time of each curve's first frame, s from the first frame of the stack.
    monitor : (n,) float64
        Summed monitor of each curve's frames (the normalisation's per-frame factor).
    frame_flags : mapping of (n_frames,) arrays
        Per frame of the stack, never applied to the curves: ``zinger_pixels`` (pixels well
        above both neighbouring frames), ``dummy_pixels``, ``total_ratio`` (flux-normalised
        frame total over the running median of its neighbours) and ``total_outlier`` (True
        where that ratio is off by more than the threshold: a bubble, a beam drop).
    azimuth_range_deg : (lo, hi) or None
        The sector integrated (None: the whole ring).
    intensity_unit : str
    metadata : mapping
    provenance : tuple of Step
    """

    q: np.ndarray
    intensity: np.ndarray
    sigma: np.ndarray
    count: np.ndarray
    frame_range: np.ndarray
    time_s: np.ndarray | None
    monitor: np.ndarray
    frame_flags: Mapping[str, np.ndarray] = field(default_factory=dict)
    azimuth_range_deg: tuple[float, float] | None = None
    intensity_unit: str = "arb"
    metadata: Mapping[str, Any] = field(default_factory=dict)
    provenance: tuple[Step, ...] = ()

    def __post_init__(self) -> None:
        q = _readonly(self.q, np.float64, "q", 1)
        object.__setattr__(self, "q", q)
        for name in ("intensity", "sigma", "count"):
            array = _readonly(getattr(self, name), np.float64, name, 2)
            if array.shape[1] != q.size or array.shape[0] != np.shape(self.frame_range)[0]:
                raise InputError(f"FrameCurves.{name} has shape {array.shape}, expected "
                                 f"({np.shape(self.frame_range)[0]}, {q.size})")
            object.__setattr__(self, name, array)
        n = self.intensity.shape[0]
        object.__setattr__(self, "frame_range",
                           _readonly(self.frame_range, np.int64, "frame_range", 2))
        object.__setattr__(self, "monitor", _readonly(self.monitor, np.float64, "monitor", 1))
        if self.time_s is not None:
            object.__setattr__(self, "time_s", _readonly(self.time_s, np.float64, "time_s", 1))
        for name in ("monitor", "time_s"):
            value = getattr(self, name)
            if value is not None and value.size != n:
                raise InputError(f"FrameCurves.{name} has {value.size} values for {n} curves")
        flags = {}
        for key, value in dict(self.frame_flags).items():
            array = np.array(value, copy=True)
            array.flags.writeable = False
            flags[key] = array
        object.__setattr__(self, "frame_flags", flags)
        object.__setattr__(self, "metadata", dict(self.metadata))
        object.__setattr__(self, "provenance", tuple(self.provenance))

    def __len__(self) -> int:
        return int(self.intensity.shape[0])

    @property
    def bin_frames(self) -> int:
        """Frames per curve (the last curve may hold fewer)."""
        return int(self.frame_range[0, 1] - self.frame_range[0, 0]) if len(self) else 0

    def curve(self, k: int) -> Curve:
        """Curve k as a :class:`~saxs.curve.Curve` (its empty bins left out)."""
        if not -len(self) <= k < len(self):
            raise IndexError(f"curve {k} out of range ({len(self)} curves)")
        k %= len(self)
        intensity, sigma = self.intensity[k], self.sigma[k]
        keep = (self.count[k] > 0) & np.isfinite(intensity) & np.isfinite(sigma) & (sigma > 0)
        if not keep.any():
            raise InputError(f"{self.metadata.get('source', 'stack')}: curve {k} has no q bin "
                             "with a valid pixel")
        first, last = (int(v) for v in self.frame_range[k])
        metadata = {**self.metadata, "frame": first, "frames_used": list(range(first, last)),
                    "monitor": float(self.monitor[k]),
                    "time_s": None if self.time_s is None else float(self.time_s[k])}
        return Curve(q=self.q[keep], intensity=intensity[keep], sigma=sigma[keep],
                     intensity_unit=self.intensity_unit, metadata=metadata,
                     provenance=self.provenance)
