"""Checks of a curve against a reference curve, and automatic Guinier analysis.

``saxs.compare(curve, reference)`` answers "is this reduction the same as my reference?" (a
glassy carbon, water or standard-sample curve kept from an earlier beamtime):

* the reference is interpolated linearly onto the curve's q inside the common q range (its
  sigma too, which does not make it smaller);
* chi2_r = mean of (I - I_ref)^2 / (sigma^2 + sigma_ref^2), with the probability of a chi2 at
  least that large if both curves measured the same thing;
* the largest deviation in sigma and the q where it happens;
* the CorMap test (Franke, Jeffries & Svergun 2015, Nat. Methods 12, 419): the probability of the
  longest run of points on the same side of the reference, which finds systematic differences
  (a shifted q, a wrong background) that a chi2 with large error bars does not. It is computed by
  ESRF's ``freesas`` (``freesas.cormap.gof``).

``saxs.guinier_auto(curve)`` finds the Guinier range by itself (``freesas.autorg.autoRg``, which
follows ATSAS' AUTORG) and returns Rg and I(0) with their errors.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

from saxs.curve import Curve
from saxs.errors import InputError

#: Fewest common points a comparison needs.
MIN_COMMON_POINTS = 5
#: Default significance of :meth:`Comparison.agrees`: both tests must have p above it.
DEFAULT_ALPHA = 0.01


def _name(curve: Curve, default: str) -> str:
    return str(curve.metadata.get("sample") or curve.metadata.get("source") or default)


@dataclass(frozen=True)
class Comparison:
    """A curve against its reference on their common q range (see the module docstring)."""

    curve: str
    reference: str
    n_points: int
    q_range_nm: tuple[float, float]
    chi2_r: float
    chi2_p: float
    max_deviation_sigma: float
    max_deviation_q_nm: float
    max_deviation_relative: float
    cormap_p: float
    longest_run: int

    def agrees(self, alpha: float = DEFAULT_ALPHA) -> bool:
        """True when neither the chi2 test nor CorMap rejects sameness at level ``alpha``."""
        return self.chi2_p >= alpha and self.cormap_p >= alpha

    def report(self, alpha: float = DEFAULT_ALPHA) -> str:
        """What a scientist reads: the verdict and the numbers behind it."""
        verdict = "agree" if self.agrees(alpha) else "DIFFER"
        side = "above" if self.max_deviation_relative > 0 else "below"
        q_lo, q_hi = self.q_range_nm
        worst = (f"  largest deviation {abs(self.max_deviation_sigma):.2f} sigma at q = "
                 f"{self.max_deviation_q_nm:.4g} 1/nm (curve "
                 f"{100 * abs(self.max_deviation_relative):.2g} % {side} the reference)")
        cormap = (f"  CorMap: longest run {self.longest_run} points on one side, p = "
                  f"{self.cormap_p:.2g}")
        if self.cormap_p < alpha:
            cormap += " (a systematic difference)"
        lines = [f"{self.curve} vs {self.reference}: {verdict} (tests at alpha = {alpha:g})",
                 f"  {self.n_points} common points, q {q_lo:.4g}..{q_hi:.4g} 1/nm",
                 f"  chi2_r = {self.chi2_r:.3g} (p = {self.chi2_p:.2g})", worst, cormap]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)


def _common(curve: Curve, reference: Curve) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of the curve's points inside the reference's q range, and the reference's
    intensity and sigma interpolated there."""
    if curve.intensity_unit != reference.intensity_unit:
        raise InputError(f"{_name(curve, 'curve')} is in {curve.intensity_unit!r}, the reference "
                         f"{_name(reference, 'reference')} in {reference.intensity_unit!r}: bring "
                         "them to one unit")
    inside = np.flatnonzero((curve.q >= reference.q[0]) & (curve.q <= reference.q[-1]))
    if inside.size < MIN_COMMON_POINTS:
        raise InputError(
            f"{_name(curve, 'curve')} (q {curve.q[0]:.4g}..{curve.q[-1]:.4g} 1/nm) and the "
            f"reference (q {reference.q[0]:.4g}..{reference.q[-1]:.4g} 1/nm) share "
            f"{inside.size} points; they need at least {MIN_COMMON_POINTS} (same q unit?)")
    q = curve.q[inside]
    return (inside, np.interp(q, reference.q, reference.intensity),
            np.interp(q, reference.q, reference.sigma))


def compare(curve: Curve, reference: Curve,
            q_range_nm: tuple[float | None, float | None] = (None, None)) -> Comparison:
    """Compare ``curve`` with ``reference`` (same intensity unit) on their common q range.

    Parameters
    ----------
    curve, reference : Curve
        q in 1/nm; the reference is interpolated onto the curve's q.
    q_range_nm : (float or None, float or None)
        Compare only inside this q range.

    Returns
    -------
    Comparison
        chi2_r and its p-value, the largest deviation, the CorMap p-value.
    """
    from freesas.cormap import gof  # noqa: PLC0415  (freesas is imported only when used)

    data = curve.select(*q_range_nm) if q_range_nm != (None, None) else curve
    index, ref_i, ref_s = _common(data, reference)
    i, s = data.intensity[index], data.sigma[index]
    z = (i - ref_i) / np.hypot(s, ref_s)
    n = z.size
    chi2 = float(np.sum(z**2))
    worst = int(np.argmax(np.abs(z)))
    scale = ref_i[worst] if ref_i[worst] != 0 else np.nan
    result = gof(i, ref_i)
    return Comparison(
        curve=_name(curve, "curve"), reference=_name(reference, "reference"), n_points=n,
        q_range_nm=(float(data.q[index[0]]), float(data.q[index[-1]])),
        chi2_r=chi2 / n, chi2_p=float(stats.chi2.sf(chi2, n)),
        max_deviation_sigma=float(z[worst]), max_deviation_q_nm=float(data.q[index[worst]]),
        max_deviation_relative=float((i[worst] - ref_i[worst]) / scale),
        cormap_p=float(result.P), longest_run=int(result.c))


@dataclass(frozen=True)
class GuinierResult:
    """Rg (nm) and I(0) of the Guinier law I = I(0) exp(-q^2 Rg^2 / 3) with their errors."""

    rg_nm: float
    rg_err_nm: float
    i0: float
    i0_err: float
    q_range_nm: tuple[float, float]
    n_points: int
    quality: float
    aggregated: bool  # freesas' aggregation flag (its score above 0.1)

    @property
    def qrg_max(self) -> float:
        """q_max Rg of the range used (Guinier's law holds for q Rg below about 1.3)."""
        return self.q_range_nm[1] * self.rg_nm

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {**asdict(self), "qrg_max": self.qrg_max}


def guinier_auto(curve: Curve) -> GuinierResult:
    """The Guinier range found automatically (freesas ``autoRg``), Rg and I(0) with errors.

    ``q_range_nm`` is the first and last point used (freesas' end point is inclusive).

    Raises
    ------
    InputError
        No Guinier region (too few points, no linear low-q region in ln I vs q^2).
    """
    from freesas.autorg import InsufficientDataError, NoGuinierRegionError, autoRg  # noqa: PLC0415

    valid = curve.intensity > 0
    if np.count_nonzero(valid) < 3:
        raise InputError(f"{_name(curve, 'curve')}: fewer than 3 positive intensities; no "
                         "Guinier analysis possible")
    data = np.column_stack([curve.q[valid], curve.intensity[valid], curve.sigma[valid]])
    try:
        rg = autoRg(data)
    except (InsufficientDataError, NoGuinierRegionError, ValueError) as exc:
        raise InputError(f"{_name(curve, 'curve')}: no Guinier region found ({exc}); check the "
                         "low-q range (q Rg must reach below 1.3) or fit a model instead") from None
    q = curve.q[valid]
    return GuinierResult(rg_nm=float(rg.Rg), rg_err_nm=float(rg.sigma_Rg), i0=float(rg.I0),
                         i0_err=float(rg.sigma_I0),
                         q_range_nm=(float(q[rg.start_point]), float(q[rg.end_point])),
                         n_points=int(rg.end_point - rg.start_point + 1),
                         quality=float(rg.quality), aggregated=float(rg.aggregated) > 0.1)
