"""Simulate one measurement: a stack of frames of one cell content, with its monitors."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from saxs.errors import InputError
from saxs.simulate.detector import DetectorModel


@dataclass(frozen=True)
class Layer:
    """A scattering layer in the beam: thickness (cm) and cross-section dSigma/dOmega(q) (1/cm)."""

    name: str
    thickness_cm: float
    intensity: Callable[[np.ndarray], np.ndarray]

    def __post_init__(self) -> None:
        if not self.thickness_cm >= 0:
            raise InputError(f"layer {self.name!r}: thickness_cm must be >= 0, got "
                             f"{self.thickness_cm}")


@dataclass(frozen=True)
class Beam:
    """Incident beam and monitors.

    ``monitor_gain_i0``/``monitor_gain_i1`` are counts per photon of the incident and
    transmitted-flux diodes; ``flux_jitter`` the relative frame-to-frame flux variation.
    """

    flux_ph_s: float = 1e12
    flux_jitter: float = 0.01
    monitor_gain_i0: float = 1e-6
    monitor_gain_i1: float = 2e-6

    def __post_init__(self) -> None:
        if not (self.flux_ph_s > 0 and self.monitor_gain_i0 > 0 and self.monitor_gain_i1 > 0):
            raise InputError("beam flux_ph_s and monitor gains must be > 0")
        if not 0 <= self.flux_jitter < 0.5:
            raise InputError(f"beam flux_jitter {self.flux_jitter} must be in [0, 0.5)")


@dataclass(frozen=True)
class Outliers:
    """Frames spoiled on purpose.

    ``bubble_frames``: frames with a bubble in the beam: the scattering volume drops to
    ``bubble_scatter_factor`` and the transmission to ``bubble_transmission_factor`` times
    normal. ``zingers_per_frame``: mean number of single hot pixels per frame (cosmic rays),
    each adding ``zinger_counts`` counts.
    """

    bubble_frames: Sequence[int] = ()
    bubble_scatter_factor: float = 0.6
    bubble_transmission_factor: float = 0.9
    zingers_per_frame: float = 0.0
    zinger_counts: float = 5000.0


@dataclass(frozen=True)
class SimulatedStack:
    """Frames and monitors of one simulated measurement, and what went into them."""

    frames: np.ndarray
    i0: np.ndarray
    i1: np.ndarray
    exposure_time_s: np.ndarray
    transmission: np.ndarray
    zingers: tuple[tuple[int, int, int], ...] = field(default=())
    bubble_frames: tuple[int, ...] = ()


def simulate_stack(detector: DetectorModel, layers: Sequence[Layer], *, transmission: float,
                   n_frames: int, exposure_time_s: float, beam: Beam,
                   rng: np.random.Generator, outliers: Outliers | None = None) -> SimulatedStack:
    """Simulate ``n_frames`` frames of ``layers`` seen through ``detector``.

    Returns counts as the detector stores them, the I0/I1 monitors and the truth of what was
    spoiled (zinger pixels as (frame, row, col), bubble frames).
    """
    if n_frames < 1 or exposure_time_s <= 0:
        raise InputError(f"need n_frames >= 1 and exposure_time_s > 0, got {n_frames}, "
                         f"{exposure_time_s}")
    if not 0 < transmission <= 1:
        raise InputError(f"transmission must be in (0, 1], got {transmission}")
    outliers = outliers or Outliers()
    bad = [f for f in outliers.bubble_frames if not 0 <= f < n_frames]
    if bad:
        raise InputError(f"bubble frames {bad} are outside the stack of {n_frames} frames")
    response = detector.response()
    scattering = np.zeros(detector.shape)
    for layer in layers:
        scattering += layer.thickness_cm * layer.intensity(detector.q_nm)
    frames = np.empty((n_frames, *detector.shape), dtype=detector.dtype)
    flux = beam.flux_ph_s * (1 + beam.flux_jitter * rng.standard_normal(n_frames))
    trans = np.full(n_frames, float(transmission))
    scatter_factor = np.ones(n_frames)
    for f in outliers.bubble_frames:
        trans[f] *= outliers.bubble_transmission_factor
        scatter_factor[f] = outliers.bubble_scatter_factor
    zingers = []
    for k in range(n_frames):
        expected = flux[k] * exposure_time_s * trans[k] * scatter_factor[k] * response * scattering
        frame = detector.expose(expected, rng)
        for _ in range(rng.poisson(outliers.zingers_per_frame)):
            r, c = rng.integers(detector.shape[0]), rng.integers(detector.shape[1])
            if frame[r, c] != detector.dummy:
                frame[r, c] = min(frame[r, c] + outliers.zinger_counts,
                                  np.iinfo(detector.dtype).max - 1)
                zingers.append((k, int(r), int(c)))
        frames[k] = frame
    exposure = np.full(n_frames, float(exposure_time_s))
    i0 = beam.monitor_gain_i0 * flux * exposure
    i1 = beam.monitor_gain_i1 * flux * exposure * trans
    return SimulatedStack(frames=frames, i0=i0, i1=i1, exposure_time_s=exposure,
                          transmission=trans, zingers=tuple(zingers),
                          bubble_frames=tuple(outliers.bubble_frames))
