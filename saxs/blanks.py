"""Blank subtraction, thickness division and absolute scaling of reduced curves.

Curves from :class:`~saxs.reducer.Reducer` are normalised by the transmitted flux I1, so the
sample transmission is already divided out (I1 = I0 T; ID02.md §3.4). With a displaced solvent
volume fraction v (Pauw et al. 2017, §3.xviii and appendix B)::

    I = I_sample - v * scale * I_blank,     sigma^2 = sigma_s^2 + (v * scale * sigma_b)^2

Two-step case, in the same Kapton cell: the empty cell is subtracted from both the sample and
the solvent, then the solvent from the sample (:func:`subtract_blanks`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from saxs.curve import Curve
from saxs.errors import InputError


def _name(curve: Curve) -> str:
    return str(curve.metadata.get("sample") or curve.metadata.get("source") or "curve")


def _on_sample_grid(sample: Curve, blank: Curve, interpolate: bool,
                    rtol: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Blank intensity and sigma on the sample's q, and which sample points they cover."""
    same = sample.q.size == blank.q.size and np.allclose(sample.q, blank.q, rtol=rtol, atol=0)
    if same:
        return blank.intensity, blank.sigma, np.ones(sample.q.size, dtype=bool)
    if not interpolate:
        raise InputError(
            f"q grids differ: {_name(sample)} has {sample.q.size} points "
            f"({sample.q[0]:.5g}..{sample.q[-1]:.5g} 1/nm), blank {_name(blank)} has "
            f"{blank.q.size} ({blank.q[0]:.5g}..{blank.q[-1]:.5g}); reduce both with the same "
            "Reducer, or pass interpolate=True")
    inside = (sample.q >= blank.q[0]) & (sample.q <= blank.q[-1])
    if not inside.any():
        raise InputError(f"the q ranges of {_name(sample)} and {_name(blank)} do not overlap")
    intensity = np.interp(sample.q, blank.q, blank.intensity)
    sigma = np.interp(sample.q, blank.q, blank.sigma)  # not reduced by interpolation: kept safe
    return intensity, sigma, inside


def subtract(sample: Curve, blank: Curve, solvent_volume_fraction: float = 1.0,
             scale: float = 1.0, *, interpolate: bool = False, rtol: float = 1e-9) -> Curve:
    """Subtract ``solvent_volume_fraction * scale * blank`` from ``sample``.

    Parameters
    ----------
    sample, blank : Curve
        Both normalised by the transmitted flux, in the same intensity unit.
    solvent_volume_fraction : float
        Fraction of the sample volume that is solvent (displaced-volume factor, 0 < v <= 1).
    scale : float
        Extra factor on the blank (e.g. a thickness ratio), > 0.
    interpolate : bool
        Allow different q grids: the blank is interpolated linearly onto the sample's q, and
        points outside the blank's range are dropped.
    """
    if not 0 < solvent_volume_fraction <= 1:
        raise InputError(f"solvent_volume_fraction must be in (0, 1], got "
                         f"{solvent_volume_fraction}")
    if not (np.isfinite(scale) and scale > 0):
        raise InputError(f"scale must be a positive number, got {scale}")
    if sample.intensity_unit != blank.intensity_unit:
        raise InputError(f"{_name(sample)} is in {sample.intensity_unit!r}, blank "
                         f"{_name(blank)} in {blank.intensity_unit!r}: bring them to one unit")
    b_int, b_sig, keep = _on_sample_grid(sample, blank, interpolate, rtol)
    factor = solvent_volume_fraction * scale
    intensity = sample.intensity - factor * b_int
    sigma = np.hypot(sample.sigma, factor * b_sig)
    meta = {**sample.metadata, "blank": _name(blank),
            "solvent_volume_fraction": solvent_volume_fraction, "blank_scale": scale}
    dq = None if sample.q_resolution is None else sample.q_resolution[keep]
    out = Curve(q=sample.q[keep], intensity=intensity[keep], sigma=sigma[keep],
                intensity_unit=sample.intensity_unit, metadata=meta,
                provenance=sample.provenance, q_resolution=dq)
    return out.with_step("subtract", blank=_name(blank),
                         solvent_volume_fraction=solvent_volume_fraction, scale=scale,
                         interpolated=not bool(keep.all()) or interpolate,
                         blank_provenance=[s.to_dict() for s in blank.provenance])


def subtract_blanks(sample: Curve, solvent: Curve, empty_cell: Curve | None = None, *,
                    solvent_volume_fraction: float = 1.0, interpolate: bool = False) -> Curve:
    """Two-step subtraction: empty cell from sample and solvent, then solvent from sample."""
    if empty_cell is None:
        return subtract(sample, solvent, solvent_volume_fraction, interpolate=interpolate)
    sample_in_cell = subtract(sample, empty_cell, interpolate=interpolate)
    solvent_in_cell = subtract(solvent, empty_cell, interpolate=interpolate)
    return subtract(sample_in_cell, solvent_in_cell, solvent_volume_fraction,
                    interpolate=interpolate)


def divide_thickness(curve: Curve, thickness_cm: float) -> Curve:
    """I / d: from per-sample to per-cm (1/cm when the curve is otherwise absolute)."""
    if not (np.isfinite(thickness_cm) and thickness_cm > 0):
        raise InputError(f"thickness_cm must be > 0, got {thickness_cm}")
    out = curve.replace(intensity=curve.intensity / thickness_cm,
                        sigma=curve.sigma / thickness_cm,
                        metadata={**curve.metadata, "thickness_cm": thickness_cm})
    return out.with_step("divide_thickness", thickness_cm=thickness_cm)


@dataclass(frozen=True)
class ScaleFactor:
    """Absolute-scale factor (certified / measured) with its standard uncertainty."""

    factor: float
    sigma: float
    n_points: int
    q_range_nm: tuple[float, float]


def absolute_scale_factor(measured: Curve, certified: Curve, thickness_cm: float,
                          q_range_nm: tuple[float, float] | None = None) -> ScaleFactor:
    """Factor that brings a measured glassy-carbon curve onto its certified one.

    ``measured`` is the reduced standard (any unit), divided here by ``thickness_cm``;
    ``certified`` the certificate curve in 1/cm (e.g. NIST SRM 3600, Allen et al. 2017,
    J. Appl. Cryst. 50, 462). The factor is the inverse-variance weighted mean of
    certified / (measured / d) over the common q range; its uncertainty is the larger of the
    propagated one and the scatter of the ratios (standard error).
    """
    per_cm = divide_thickness(measured, thickness_cm)
    lo = max(per_cm.q[0], certified.q[0])
    hi = min(per_cm.q[-1], certified.q[-1])
    if q_range_nm is not None:
        lo, hi = max(lo, q_range_nm[0]), min(hi, q_range_nm[1])
    sel = (certified.q >= lo) & (certified.q <= hi)
    if sel.sum() < 3:
        raise InputError(f"the measured standard ({per_cm.q[0]:.4g}..{per_cm.q[-1]:.4g} 1/nm) "
                         f"and the certified curve ({certified.q[0]:.4g}..{certified.q[-1]:.4g}) "
                         "share fewer than 3 q points")
    q = certified.q[sel]
    m = np.interp(q, per_cm.q, per_cm.intensity)
    m_sig = np.interp(q, per_cm.q, per_cm.sigma)
    if np.any(m <= 0):
        raise InputError("the measured standard is not positive over the common q range")
    ratio = certified.intensity[sel] / m
    r_sig = ratio * np.hypot(certified.sigma[sel] / certified.intensity[sel], m_sig / m)
    w = 1 / r_sig**2
    factor = float(np.sum(w * ratio) / np.sum(w))
    propagated = float(1 / np.sqrt(np.sum(w)))
    scatter = float(np.std(ratio, ddof=1) / np.sqrt(ratio.size))
    return ScaleFactor(factor, max(propagated, scatter), int(ratio.size), (float(lo), float(hi)))


def apply_scale(curve: Curve, scale: ScaleFactor) -> Curve:
    """Multiply a thickness-divided curve by an absolute-scale factor: the result is in 1/cm.

    Divide by the sample thickness first (:func:`divide_thickness`), as the factor was made
    from the standard divided by its own thickness.
    """
    sigma = np.hypot(curve.sigma * scale.factor, curve.intensity * scale.sigma)
    out = curve.replace(intensity=curve.intensity * scale.factor, sigma=sigma,
                        intensity_unit="1/cm",
                        metadata={**curve.metadata, "absolute_scale_factor": scale.factor})
    return out.with_step("absolute_scale", factor=scale.factor, sigma=scale.sigma)
