"""q calibration of 1-D curves from a standard measured on the same setup (``saxs.q_calibration``).

Labs with Kratky cameras (e.g. Anton Paar SAXSess) calibrate q with a linear correction
``q_true = slope * q_raw + offset``: the standard's Bragg peaks are located on the raw scale
with the project's peak finder (:func:`saxs.find_bragg_peaks`), each is given its order n
(lamellar standards: q_n = 2 pi n / d) and slope and offset come from a weighted straight-line
fit of the literature positions against the measured ones (with one peak only the slope is
fitted, offset = 0). Uncertainties are the fit's standard errors, scaled up by the reduced
chi-square when the peaks scatter more than their errors.

Literature d-spacings (nm):

* silver behenate (AgBh) d_001 = 5.8380 (Huang, Toraya, Blanton & Wu 1993, J. Appl. Cryst. 26,
  180);
* cholesteryl palmitate d = 5.2498 (the value the Giess et al. 2022 FAIR-SAXS workflow
  calibrates to; see ``../shared/data/real/README.md``, llc_bragg_giess2022 row);
* LaB6 a = 0.41569162 (NIST SRM 660c certificate); its 1-D peaks (h^2 + k^2 + l^2 = 1, 2, 3,
  4, 5, 6, 8, ...) are used when a 1-D curve reaches them.

A user-given d-spacing (``d_spacing_nm=``) is a lamellar standard of that period.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from saxs.curve import Curve
from saxs.errors import InputError

#: literature d-spacings of lamellar standards, nm (sources in the module docstring)
LAMELLAR_STANDARDS = {"agbh": 5.8380, "cholesteryl_palmitate": 5.2498}
#: LaB6 lattice parameter, nm (NIST SRM 660c)
LAB6_A_NM = 0.41569162
#: allowed h^2 + k^2 + l^2 of a primitive cubic lattice (LaB6, Pm-3m)
_CUBIC_P = (1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13, 14, 16)
_ALIASES = {"agbh": "agbh", "silver_behenate": "agbh", "cp": "cholesteryl_palmitate",
            "cholesteryl_palmitate": "cholesteryl_palmitate", "lab6": "lab6"}


def standard_peaks_nm(calibrant: str | None = None, d_spacing_nm: float | None = None,
                      q_max: float = math.inf) -> np.ndarray:
    """Literature peak positions q (1/nm) of a standard, up to ``q_max``."""
    if d_spacing_nm is not None:
        if not (math.isfinite(d_spacing_nm) and d_spacing_nm > 0):
            raise InputError(f"d_spacing_nm must be a positive length in nm, got {d_spacing_nm}")
        base, orders = 2 * math.pi / d_spacing_nm, np.arange(1, 200, dtype=float)
    else:
        key = _ALIASES.get(str(calibrant).strip().lower().replace(" ", "_").replace("-", "_"))
        if key is None:
            raise InputError(f"q calibration standard {calibrant!r} is not known; known: "
                             "AgBh, cholesteryl_palmitate, LaB6 (or give d_spacing_nm=)")
        if key == "lab6":
            base, orders = 2 * math.pi / LAB6_A_NM, np.sqrt(np.array(_CUBIC_P, dtype=float))
        else:
            base = 2 * math.pi / LAMELLAR_STANDARDS[key]
            orders = np.arange(1, 200, dtype=float)
    q = base * orders
    return q[q <= q_max]


@dataclass(frozen=True)
class QCalibration:
    """A linear q correction ``q_true = slope * q_raw + offset`` (1/nm).

    Attributes
    ----------
    slope, offset_nm : float
        The correction (offset in 1/nm).
    slope_err, offset_err_nm : float
        Their standard uncertainties (0 for a parameter that was not fitted).
    peaks_raw : tuple of float
        Measured peak positions of the standard (raw q, 1/nm).
    peaks_true : tuple of float
        The literature positions they were matched to (1/nm).
    standard : str
        Which standard (or "d = ... nm").
    """

    slope: float
    offset_nm: float
    slope_err: float
    offset_err_nm: float
    peaks_raw: tuple[float, ...]
    peaks_true: tuple[float, ...]
    standard: str

    def corrected_q(self, q_raw: np.ndarray) -> np.ndarray:
        """Corrected q of raw positions."""
        return self.slope * np.asarray(q_raw, dtype=np.float64) + self.offset_nm

    def apply(self, curve: Curve) -> Curve:
        """``curve`` on the corrected q scale, with a ``q_calibration`` provenance step."""
        if self.slope <= 0:
            raise InputError(f"q calibration slope {self.slope} is not positive")
        q = self.corrected_q(curve.q)
        dq = None if curve.q_resolution is None else curve.q_resolution * self.slope
        out = curve.replace(q=q, q_resolution=dq)
        return out.with_step("q_calibration", **self.to_dict())

    def to_dict(self) -> dict:
        """JSON-ready summary."""
        return {"slope": self.slope, "offset_nm": self.offset_nm, "slope_err": self.slope_err,
                "offset_err_nm": self.offset_err_nm, "peaks_raw": list(self.peaks_raw),
                "peaks_true": list(self.peaks_true), "standard": self.standard}


def _match(found: np.ndarray, reference: np.ndarray, tolerance: float):
    """Pairs (found, reference) for the overall scale that matches the most peaks."""
    best: tuple[int, float, list] | None = None
    for f in found[:4]:
        for r in reference[:12]:
            scale = r / f
            pairs = []
            for g in found:
                k = int(np.argmin(np.abs(reference - scale * g)))
                if abs(reference[k] - scale * g) <= tolerance * reference[k]:
                    pairs.append((float(g), float(reference[k])))
            used = {r for _, r in pairs}
            if len(used) < len(pairs):
                continue
            misfit = sum((r - scale * g) ** 2 for g, r in pairs)
            key = (len(pairs), -misfit)
            if best is None or key > (best[0], -best[1]):
                best = (len(pairs), misfit, pairs)
    return [] if best is None else best[2]


def q_calibration(curve: Curve, calibrant: str | None = "AgBh", *,
                  d_spacing_nm: float | None = None, min_significance: float = 5.0,
                  tolerance: float = 0.05, fit_offset: bool = True) -> QCalibration:
    """A linear q correction from a standard's Bragg peaks.

    Parameters
    ----------
    curve : Curve
        The standard measured on the setup to calibrate (raw q scale, 1/nm).
    calibrant : str
        "AgBh", "cholesteryl_palmitate" or "LaB6" (ignored when ``d_spacing_nm`` is given).
    d_spacing_nm : float, optional
        The period of a lamellar standard (nm), instead of a named one.
    min_significance : float
        Passed to :func:`saxs.find_bragg_peaks`.
    tolerance : float
        Largest relative mismatch of a peak after the overall scale is applied.
    fit_offset : bool
        Fit an offset (needs two peaks or more); otherwise the correction is a pure scale.

    Raises
    ------
    InputError
        No Bragg peak found, or none matching the standard.
    """
    from saxs.bragg import find_bragg_peaks  # noqa: PLC0415

    name = f"d = {d_spacing_nm} nm" if d_spacing_nm is not None else str(calibrant)
    reference = standard_peaks_nm(calibrant, d_spacing_nm, q_max=1.3 * float(curve.q.max()))
    findings = find_bragg_peaks(curve, min_significance=min_significance)
    peaks = sorted([*findings.peaks, *findings.extra_peaks], key=lambda p: p.q)
    sample = curve.metadata.get("sample", "curve")
    if not peaks:
        raise InputError(f"{sample}: no Bragg peak found in the standard; check the file, the q "
                         "range, or lower min_significance")
    found = np.array([p.q for p in peaks])
    errors = {p.q: max(p.q_err, 1e-9) for p in peaks}
    pairs = _match(found, reference, tolerance)
    if not pairs:
        raise InputError(f"{sample}: the peaks at q = {np.round(found, 4).tolist()} 1/nm do not "
                         f"match {name}; check the standard or give d_spacing_nm=")
    raw = np.array([g for g, _ in pairs])
    true = np.array([r for _, r in pairs])
    sigma = np.array([errors[g] for g in raw])
    slope, offset, slope_err, offset_err = _line(raw, true, sigma, fit_offset and raw.size >= 2)
    return QCalibration(float(slope), float(offset), float(slope_err), float(offset_err),
                        tuple(float(v) for v in raw), tuple(float(v) for v in true), name)


def _line(x: np.ndarray, y: np.ndarray, sigma_x: np.ndarray, with_offset: bool):
    """Weighted fit of y = a x (+ b); errors from sigma_x propagated, scaled by chi2_r > 1."""
    if not with_offset:
        w = 1 / sigma_x**2
        a = float(np.sum(w * x * y) / np.sum(w * x * x))
        err = a / math.sqrt(float(np.sum(w * x * x)))
        return a, 0.0, err, 0.0
    a0 = float(np.polyfit(x, y, 1)[0])
    w = 1 / (a0 * sigma_x) ** 2
    design = np.column_stack([x, np.ones_like(x)])
    normal = design.T @ (design * w[:, None])
    cov = np.linalg.inv(normal)
    a, b = cov @ (design.T @ (w * y))
    dof = x.size - 2
    if dof > 0:
        chi2_r = float(np.sum(w * (y - a * x - b) ** 2)) / dof
        cov = cov * max(chi2_r, 1.0)
    return float(a), float(b), math.sqrt(cov[0, 0]), math.sqrt(cov[1, 1])


def peak_orders(calibration: QCalibration, standard_d_nm: float) -> Sequence[int]:
    """Order n of each matched peak of a lamellar standard of period ``standard_d_nm``."""
    return [round(q * standard_d_nm / (2 * math.pi)) for q in calibration.peaks_true]
