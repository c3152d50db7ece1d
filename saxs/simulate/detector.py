"""Projection of absolute scattering onto a detector: counts per pixel per frame.

Expected counts in pixel *i* of frame *k* (Pauw 2013, J. Phys.: Condens. Matter 25, 383201,
eq. for the detected intensity; the same terms ID02 divides out, ID02.md §3.1)::

    E_ik = Phi_k t_k T_k Omega_i P_i eps_i * sum_layers d_l dSigma_l/dOmega(q_i) + dark_i

Phi_k: incident flux (photons/s), t_k: exposure time, T_k: transmission of everything in the
beam, Omega_i: absolute pixel solid angle, P_i: polarisation factor, eps_i: pixel efficiency
(the flat field), d_l: thickness of each scattering layer (sample, windows) in cm and
dSigma_l/dOmega its differential cross-section per volume in 1/cm. Counts are Poisson around
E; the transmitted-flux monitor is I1 = g1 Phi_k t_k T_k and the incident one I0 = g0 Phi_k t_k.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from saxs.azimuthal import polarization, q_array_nm, solid_angle_sr
from saxs.errors import InputError
from saxs.geometry import Geometry


@dataclass(frozen=True)
class Beamstop:
    """A round beamstop on the beam centre with an arm to one edge.

    ``transmission`` is the fraction of the scattering that passes (the shadow still shows a
    little); the mask file written with it is ``margin_px`` wider.
    """

    radius_px: float = 8.0
    arm_width_px: float = 4.0
    arm_direction: str = "up"
    transmission: float = 1e-3
    margin_px: float = 2.0

    def shadow(self, shape: tuple[int, int], center_rc: tuple[float, float],
               grow: float = 0.0) -> np.ndarray:
        """Boolean image of the pixels behind the beamstop (``grow`` px wider)."""
        rows, cols = np.indices(shape, dtype=np.float64)
        rows += 0.5
        cols += 0.5
        r0, c0 = center_rc
        disc = (rows - r0) ** 2 + (cols - c0) ** 2 <= (self.radius_px + grow) ** 2
        half = self.arm_width_px / 2 + grow
        directions = {"up": (np.abs(cols - c0) <= half) & (rows <= r0),
                      "down": (np.abs(cols - c0) <= half) & (rows >= r0),
                      "left": (np.abs(rows - r0) <= half) & (cols <= c0),
                      "right": (np.abs(rows - r0) <= half) & (cols >= c0)}
        if self.arm_direction not in directions:
            raise InputError(f"beamstop arm_direction {self.arm_direction!r} is not one of "
                             f"{sorted(directions)}")
        return disc | directions[self.arm_direction]


@dataclass(frozen=True)
class DetectorModel:
    """A pixel detector in a geometry, with its imperfections.

    Parameters
    ----------
    geometry : Geometry
        Distance, PONI, pixel size, wavelength, frame shape.
    gap_rows, gap_cols : sequence of (start, stop)
        Insensitive rows/columns between modules (half-open pixel ranges).
    beamstop : Beamstop or None
    dead_pixel_fraction : float
        Fraction of pixels that report the invalid value.
    flat_smooth_amplitude, flat_pixel_sigma : float
        Large-scale and pixel-to-pixel relative variation of the efficiency.
    dark_mean_counts, dark_sigma_counts : float
        Dark counts per pixel per frame: mean and pixel-to-pixel spread.
    dtype : str
        Stored pixel type ("int32", "uint32", "uint16").
    dummy : float or None
        Value of invalid pixels; None -> -10 for signed types, the type's maximum otherwise.
    polarization_factor : float
        pyFAI polarisation factor of the beam (0.99: horizontal, ESRF).
    """

    geometry: Geometry
    gap_rows: Sequence[tuple[int, int]] = ()
    gap_cols: Sequence[tuple[int, int]] = ()
    beamstop: Beamstop | None = field(default_factory=Beamstop)
    dead_pixel_fraction: float = 1e-4
    flat_smooth_amplitude: float = 0.03
    flat_pixel_sigma: float = 0.01
    dark_mean_counts: float = 2.0
    dark_sigma_counts: float = 0.5
    dtype: str = "int32"
    dummy: float | None = None
    polarization_factor: float = 0.99
    seed: int = 0

    def __post_init__(self) -> None:
        if self.dtype not in ("int32", "uint32", "uint16"):
            raise InputError(f"detector dtype {self.dtype!r} must be int32, uint32 or uint16")
        if not 0 <= self.dead_pixel_fraction < 0.5:
            raise InputError(f"dead_pixel_fraction {self.dead_pixel_fraction} must be in [0, 0.5)")
        if self.dark_mean_counts < 0 or self.dark_sigma_counts < 0:
            raise InputError("dark_mean_counts and dark_sigma_counts must be >= 0")
        info = np.iinfo(self.dtype)
        dummy = self.dummy
        if dummy is None:
            dummy = -10 if info.min < 0 else info.max
        if not info.min <= dummy <= info.max:
            raise InputError(f"dummy {dummy} does not fit the detector dtype {self.dtype}")
        object.__setattr__(self, "dummy", float(dummy))

    @property
    def shape(self) -> tuple[int, int]:
        """Frame shape (rows, columns)."""
        return self.geometry.shape

    @cached_property
    def _rng_static(self) -> np.random.Generator:
        return np.random.default_rng([self.seed, 0x5A45])

    @cached_property
    def q_nm(self) -> np.ndarray:
        """q of each pixel centre, 1/nm."""
        return q_array_nm(self.geometry)

    @cached_property
    def solid_angle_sr(self) -> np.ndarray:
        """Absolute pixel solid angle, sr."""
        return solid_angle_sr(self.geometry)

    @cached_property
    def polarization(self) -> np.ndarray:
        """Polarisation factor per pixel."""
        return polarization(self.geometry, self.polarization_factor)

    @cached_property
    def gap_mask(self) -> np.ndarray:
        """True on the insensitive gaps between modules."""
        mask = np.zeros(self.shape, dtype=bool)
        for start, stop in self.gap_rows:
            mask[start:stop, :] = True
        for start, stop in self.gap_cols:
            mask[:, start:stop] = True
        return mask

    @cached_property
    def dead_pixels(self) -> np.ndarray:
        """True on dead pixels (they report ``dummy``)."""
        return self._rng_static.random(self.shape) < self.dead_pixel_fraction

    @cached_property
    def flat(self) -> np.ndarray:
        """Pixel efficiency (mean ~1): a smooth large-scale shape times pixel noise."""
        rows, cols = np.indices(self.shape, dtype=np.float64)
        u = 2 * rows / self.shape[0] - 1
        v = 2 * cols / self.shape[1] - 1
        smooth = 1 + self.flat_smooth_amplitude * (0.6 * u * v + 0.4 * (u**2 - v**2))
        noise = 1 + self.flat_pixel_sigma * self._rng_static.standard_normal(self.shape)
        return np.clip(smooth * noise, 0.5, 1.5)

    @cached_property
    def dark(self) -> np.ndarray:
        """Expected dark counts per pixel per frame."""
        spread = self.dark_sigma_counts * self._rng_static.standard_normal(self.shape)
        return np.clip(self.dark_mean_counts + spread, 0.0, None)

    def _center_rc(self) -> tuple[float, float]:
        # the direct beam hits the PONI when there is no tilt
        return self.geometry.center_2_px, self.geometry.center_1_px

    @cached_property
    def beamstop_shadow(self) -> np.ndarray:
        """True where the beamstop shadows the detector."""
        if self.beamstop is None:
            return np.zeros(self.shape, dtype=bool)
        return self.beamstop.shadow(self.shape, self._center_rc())

    @cached_property
    def beamstop_mask(self) -> np.ndarray:
        """The beamstop mask file's content: the shadow and a margin."""
        if self.beamstop is None:
            return np.zeros(self.shape, dtype=bool)
        return self.beamstop.shadow(self.shape, self._center_rc(), self.beamstop.margin_px)

    def response(self) -> np.ndarray:
        """Omega * P * eps * beamstop transmission: counts per (photon/s * s * 1/cm * cm)."""
        stop = np.where(self.beamstop_shadow, self.beamstop.transmission if self.beamstop else 1,
                        1.0)
        return self.solid_angle_sr * self.polarization * self.flat * stop

    def expose(self, expected_counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One frame: Poisson counts around ``expected_counts`` + dark, invalid pixels marked."""
        counts = rng.poisson(expected_counts + self.dark).astype(np.float64)
        info = np.iinfo(self.dtype)
        valid_max = info.max - 1 if self.dummy == info.max else info.max
        counts = np.minimum(counts, valid_max)  # saturation
        counts[self.gap_mask | self.dead_pixels] = self.dummy
        return counts.astype(self.dtype)

    def dark_frames(self, n_frames: int, rng: np.random.Generator) -> np.ndarray:
        """``n_frames`` dark frames (no beam)."""
        return np.stack([self.expose(np.zeros(self.shape), rng) for _ in range(n_frames)])

