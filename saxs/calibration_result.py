"""Result objects of a geometry calibration: :class:`Calibration` and :class:`RingFit`."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from saxs.geometry import Geometry


@dataclass(frozen=True)
class RingFit:
    """One calibrant ring used in the refinement.

    ``residual_q_nm`` is the mean of q(control point) - q(ring) over its points (1/nm),
    ``rms_q_nm`` their RMS about the expected q; ``doublet`` tells that the ring's profile
    showed a second reflection beside the calibrant's (the control points follow the one
    taken as the calibrant's); ``floating`` that the ring's absolute position was not used
    (the doublet merged on this ring while others resolve it): its points fixed the centre
    and tilts only, and its residual is that of the merged profile.
    """

    index: int
    dspacing_nm: float
    q_nm: float
    n_points: int
    residual_q_nm: float
    rms_q_nm: float
    doublet: bool = False
    floating: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {k: getattr(self, k) for k in ("index", "dspacing_nm", "q_nm", "n_points",
                                              "residual_q_nm", "rms_q_nm", "doublet",
                                              "floating")}


@dataclass(frozen=True, eq=False)
class Calibration:
    """A refined geometry from a calibrant frame.

    Attributes
    ----------
    geometry : Geometry
        The refined geometry (wavelength and pixel sizes as given).
    uncertainty : dict
        One standard uncertainty per refined parameter, keyed like the Geometry fields
        (``distance_m``, ``poni1_m``, ``poni2_m``, ``rot1_rad``, ``rot2_rad``, ``rot3_rad``);
        fixed parameters are absent. From the full covariance (see ``uncertainty_method``).
    fixed : tuple of str
        Parameters held fixed (pyFAI names: dist, poni1, poni2, rot1, rot2, rot3), asked for
        or fixed because the rings did not determine them (see ``notes``).
    rings : tuple of RingFit
        The rings used, their number of control points and residuals in q.
    control_points : ndarray
        (n, 3): row, column (pixel coordinates as pyFAI uses them) and ring index.
    calibrant : str
        Calibrant name(s).
    dspacing_nm : tuple of float
        All d-spacings of the calibrant(s), decreasing (ring index = position).
    beam_center_px : (float, float)
        Where the direct beam meets the detector (row, column), pixels.
    rms_residual_px : float
        RMS radial residual of the control points, pixels.
    profile_q_nm, profile_intensity : ndarray
        The 1-D azimuthal average with the refined geometry (for the diagnostic plot).
    image, mask : ndarray
        The calibrant image and the mask used (not written by :meth:`to_dict`).
    source : str
        Where the image came from.
    initial_guess : dict
        The starting geometry (and how it was obtained).
    correlation : dict
        Correlation coefficients between refined parameters, keyed "a/b" (Geometry names).
    notes : tuple of str
        Decisions the refinement took that a user should know (e.g. tilts fixed at zero).
    uncertainty_method : str
        How the uncertainties were obtained.
    pyfai_version : str
        The pyFAI whose refinement was used.
    """

    geometry: Geometry
    uncertainty: dict[str, float]
    fixed: tuple[str, ...]
    rings: tuple[RingFit, ...]
    control_points: np.ndarray
    calibrant: str
    dspacing_nm: tuple[float, ...]
    beam_center_px: tuple[float, float]
    rms_residual_px: float
    profile_q_nm: np.ndarray
    profile_intensity: np.ndarray
    image: np.ndarray = field(repr=False)
    mask: np.ndarray = field(repr=False)
    source: str = ""
    mask_source: str = ""
    initial_guess: dict[str, Any] = field(default_factory=dict)
    correlation: dict[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    uncertainty_method: str = ""
    pyfai_version: str = ""

    def write_poni(self, path: str | os.PathLike, overwrite: bool = False) -> Path:
        """Write the refined geometry as a pyFAI PONI file (atomic, kept unless ``overwrite``)."""
        return self.geometry.to_poni(path, overwrite=overwrite)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready provenance summary (no image)."""
        g = self.geometry
        return {
            "action": "calibrate",
            "source": self.source,
            "mask": self.mask_source,
            "calibrant": self.calibrant,
            "geometry": {"distance_m": g.distance_m, "poni1_m": g.poni1_m, "poni2_m": g.poni2_m,
                         "rot1_rad": g.rot1_rad, "rot2_rad": g.rot2_rad, "rot3_rad": g.rot3_rad,
                         "pixel1_m": g.pixel1_m, "pixel2_m": g.pixel2_m,
                         "wavelength_m": g.wavelength_m, "shape": list(g.shape)},
            "uncertainty": dict(self.uncertainty),
            "correlation": dict(self.correlation),
            "fixed": list(self.fixed),
            "notes": list(self.notes),
            "beam_center_px": list(self.beam_center_px),
            "rms_residual_px": self.rms_residual_px,
            "rings": [r.to_dict() for r in self.rings],
            "n_control_points": int(self.control_points.shape[0]),
            "initial_guess": dict(self.initial_guess),
            "pyfai_version": self.pyfai_version,
            "uncertainty_method": self.uncertainty_method,
        }

    def _parameter_lines(self) -> list[str]:
        g, u = self.geometry, self.uncertainty
        rows = []
        for label, key, scale, unit in (("distance", "distance_m", 1e3, "mm"),
                                        ("poni1", "poni1_m", 1e3, "mm"),
                                        ("poni2", "poni2_m", 1e3, "mm"),
                                        ("rot1", "rot1_rad", 180 / math.pi, "deg"),
                                        ("rot2", "rot2_rad", 180 / math.pi, "deg"),
                                        ("rot3", "rot3_rad", 180 / math.pi, "deg")):
            err = u.get(key)
            text = f"+- {err * scale:.3g}" if err is not None else "(fixed)"
            rows.append(f"  {label:<10} {getattr(g, key) * scale:12.5f} {text} {unit}")
        return rows

    def report(self) -> str:
        """The refined geometry with uncertainties, and the residual per ring (text)."""
        g = self.geometry
        rows = [(f"calibrant {self.calibrant}, wavelength {g.wavelength_m * 1e9:.6g} nm, "
                f"pixel {g.pixel1_m * 1e6:.4g} x {g.pixel2_m * 1e6:.4g} um, shape {g.shape}"),
                *self._parameter_lines(),
                (f"  beam centre (row, column) = ({self.beam_center_px[0]:.2f}, "
                f"{self.beam_center_px[1]:.2f}) px"),
                (f"  {self.control_points.shape[0]} control points on {len(self.rings)} rings, "
                f"RMS radial residual {self.rms_residual_px:.3f} px"),
                "  ring  d (nm)     q (1/nm)   points  mean dq (1/nm)  rms dq (1/nm)"]
        rows += [f"  {r.index:4d}  {r.dspacing_nm:9.5f}  {r.q_nm:9.5f}  {r.n_points:6d}  "
                 f"{r.residual_q_nm:+.3e}      {r.rms_q_nm:.3e}"
                 + ("  doublet: the calibrant's component used" if r.doublet else "")
                 + ("  merged doublet: centre and tilts only" if r.floating else "")
                 for r in self.rings]
        rows += [f"  note: {n}" for n in self.notes]
        if self.uncertainty_method:
            rows.append(f"  uncertainties: {self.uncertainty_method}")
        return "\n".join(rows)
