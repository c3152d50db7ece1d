"""Simulated calibrant frames: powder rings of AgBh, LaB6 (or any d-spacings) on a detector.

The rings are Gaussian peaks in q at q_k = 2 pi / d_k over a smooth background (a q^-2 term and
a flat floor), projected through :class:`~saxs.simulate.detector.DetectorModel` (solid angle,
polarisation, flat field, tilts, gaps, beamstop, dead pixels, dark current and Poisson noise).
The d-spacings come from pyFAI's calibrant registry through :mod:`saxs.calibration` (AgBh
d_001 = 5.8380 nm, Huang, Toraya, Blanton & Wu 1993, J. Appl. Cryst. 26, 180; LaB6
a = 0.41569162 nm, NIST SRM 660c). Used by tests and benchmarks only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from saxs.errors import InputError
from saxs.geometry import Geometry
from saxs.simulate.detector import Beamstop, DetectorModel


@dataclass(frozen=True)
class CalibrantFrame:
    """One simulated calibrant frame and its truth.

    Attributes
    ----------
    image : ndarray
        Counts as the detector stores them (invalid pixels = ``dummy``).
    mask : ndarray of bool
        True on gaps, dead pixels and the beamstop (with its margin).
    geometry : Geometry
        The true geometry.
    dspacing_nm : tuple of float
        d-spacings whose rings were drawn.
    dummy : float
        Value of invalid pixels.
    """

    image: np.ndarray
    mask: np.ndarray
    geometry: Geometry
    dspacing_nm: tuple[float, ...]
    dummy: float


def eiger2_4m_gaps() -> tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]]:
    """Module gaps of an Eiger2 4M (2162 x 2068): 4 x 2 modules of 514 x 1030 pixels."""
    rows = tuple((514 * k + 37 * (k - 1), 514 * k + 37 * k) for k in (1, 2, 3))
    cols = ((1030, 1038),)
    return rows, cols


def _ring_profile(q: np.ndarray, dspacing_nm: Sequence[float], fwhm_nm: float,
                  heights: Sequence[float]) -> np.ndarray:
    sigma = fwhm_nm / (2 * np.sqrt(2 * np.log(2)))
    out = np.zeros_like(q)
    for d, h in zip(dspacing_nm, heights, strict=True):
        qk = 2 * np.pi / d
        if qk - 6 * sigma > q.max() or qk + 6 * sigma < q.min():
            continue
        out += h * np.exp(-0.5 * ((q - qk) / sigma) ** 2)
    return out


def simulate_calibrant(geometry: Geometry, calibrant: str | Sequence[str] = "AgBh", *,
                       dspacing_nm: Sequence[float] | None = None, fwhm_nm: float = 0.03,
                       peak_counts: float = 300.0, background_counts: float = 5.0,
                       gap_rows: Sequence[tuple[int, int]] = (),
                       gap_cols: Sequence[tuple[int, int]] = (),
                       beamstop: Beamstop | None = None,
                       satellite: tuple[float, float] | None = None,
                       seed: int = 0) -> CalibrantFrame:
    """Simulate one frame of a powder calibrant.

    Parameters
    ----------
    geometry : Geometry
        The true geometry (tilts, beam centre on or off the detector).
    calibrant : str or sequence of str
        Calibrant name(s) in pyFAI's registry ("AgBh", "LaB6", ...); several names put all
        their rings in the frame.
    dspacing_nm : sequence of float, optional
        Use these d-spacings instead of the registry's.
    fwhm_nm : float
        Ring width in q (1/nm).
    peak_counts, background_counts : float
        Counts of the strongest ring's maximum and of the flat background, per pixel at normal
        incidence. Ring heights fall as 1 / order^1.2 for lamellar AgBh and as 1 / (1 + k/8)
        for the others (k = ring index): enough to be realistic, not a structure factor.
    gap_rows, gap_cols : sequence of (start, stop)
        Insensitive module gaps.
    beamstop : Beamstop or None
        Drawn on the PONI (only when it lies on the detector).
    satellite : (ratio, height), optional
        A second phase beside the calibrant: every ring k gets a companion at q_k x (1 +
        ratio), ``height`` times as high (the real silver behenate frames of the shared data
        show one at ratio 0.0173, about half as strong). Not in ``dspacing_nm`` of the result.
    seed : int
        Seed of the Poisson noise and the detector imperfections.
    """
    from saxs.calibration import (  # noqa: PLC0415
        calibrant_dspacing_nm,
        split_calibrant_names,
    )

    names = split_calibrant_names(calibrant)
    if not names and dspacing_nm is None:
        raise InputError("simulate_calibrant needs a calibrant name or dspacing_nm")
    if peak_counts <= 0 or background_counts < 0 or fwhm_nm <= 0:
        raise InputError("peak_counts and fwhm_nm must be > 0 and background_counts >= 0")
    detector = DetectorModel(geometry=geometry, gap_rows=tuple(gap_rows),
                             gap_cols=tuple(gap_cols), beamstop=beamstop,
                             dark_mean_counts=0.5, dark_sigma_counts=0.1, seed=seed)
    q = detector.q_nm
    response = detector.response() / detector.solid_angle_sr.max()
    scattering = np.full(q.shape, float(background_counts))
    scattering += background_counts * 4.0 / np.maximum(q, 0.05) ** 2
    drawn: list[float] = []
    if dspacing_nm is not None:
        ds = [float(d) for d in dspacing_nm]
        scattering += _ring_profile(q, ds, fwhm_nm, [peak_counts] * len(ds))
        drawn.extend(ds)
    else:
        for name in names:
            ds = list(calibrant_dspacing_nm(name))
            lamellar = np.allclose(np.array(ds[0]) / np.array(ds[:4]), np.arange(1, 5),
                                   rtol=1e-3)
            k = np.arange(len(ds))
            heights = peak_counts * ((k + 1.0) ** -1.2 if lamellar else 1.0 / (1.0 + k / 8.0))
            scattering += _ring_profile(q, ds, fwhm_nm, heights)
            if satellite is not None:
                scattering += _ring_profile(q, [d / (1 + satellite[0]) for d in ds], fwhm_nm,
                                            heights * satellite[1])
            drawn.extend(ds)
    rng = np.random.default_rng(seed)
    image = detector.expose(scattering * response, rng)
    mask = detector.gap_mask | detector.dead_pixels | detector.beamstop_mask
    return CalibrantFrame(image=image, mask=mask, geometry=geometry,
                          dspacing_nm=tuple(sorted(set(drawn), reverse=True)),
                          dummy=float(detector.dummy))
