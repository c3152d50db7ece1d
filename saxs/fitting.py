"""Parametric fits of curves with lmfit: ``saxs.fit_curve(curve, model, params)``.

The models are :class:`lmfit.Model` objects built on the same physics as the simulator
(:mod:`saxs.simulate.models`, numba sphere kernel), so they compose with ``+`` and ``*`` and
users add their own :class:`lmfit.Model` the usual way. Units: q in 1/nm, lengths in nm,
intensities in the curve's unit (1/cm for the absolute sphere models).

* ``spheres_gaussian``: phi drho^2 <V P(qR)>_v for a Gaussian number density of R
  (volume_fraction, radius_nm, sigma_nm);
* ``spheres_lognormal``: the same for a log-normal number density (volume_fraction,
  median_nm, sigma_ln);
* ``guinier``: I0 exp(-q^2 Rg^2 / 3) (Guinier 1939) (i0, rg_nm);
* ``porod``: scale q^-exponent (scale, exponent);
* ``lorentzian_peak``: height / (1 + ((q - center) / (fwhm / 2))^2) (height, center_nm, fwhm_nm);
* ``gaussian_peak``: height exp(-4 ln2 (q - center)^2 / fwhm^2) (height, center_nm, fwhm_nm);
* ``flat``: level.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import lmfit
import numpy as np

from saxs.curve import Curve
from saxs.errors import InputError
from saxs.simulate.models import DEFAULT_CONTRAST_PER_CM2, Population, spheres_intensity

_LN2 = math.log(2.0)


def _spheres_gaussian(q, volume_fraction=1e-3, radius_nm=1.0, sigma_nm=0.1,
                      contrast_per_cm2=DEFAULT_CONTRAST_PER_CM2):
    rel = max(sigma_nm, 0.0) / radius_nm
    pop = Population(radius_nm, max(volume_fraction, 0.0), rel, "gaussian" if rel else "delta")
    return spheres_intensity(q, [pop], contrast_per_cm2)


def _spheres_lognormal(q, volume_fraction=1e-3, median_nm=1.0, sigma_ln=0.1,
                       contrast_per_cm2=DEFAULT_CONTRAST_PER_CM2):
    sig = max(sigma_ln, 0.0)
    pop = Population(median_nm, max(volume_fraction, 0.0), sig, "lognormal" if sig else "delta")
    return spheres_intensity(q, [pop], contrast_per_cm2)


def _guinier(q, i0=1.0, rg_nm=1.0):
    return i0 * np.exp(-(q * rg_nm) ** 2 / 3.0)


def _porod(q, scale=1e-3, exponent=4.0):
    return scale * q ** (-exponent)


def _lorentzian_peak(q, height=1.0, center_nm=1.0, fwhm_nm=0.1):
    return height / (1.0 + ((q - center_nm) / (0.5 * fwhm_nm)) ** 2)


def _gaussian_peak(q, height=1.0, center_nm=1.0, fwhm_nm=0.1):
    return height * np.exp(-4.0 * _LN2 * ((q - center_nm) / fwhm_nm) ** 2)


def _flat(q, level=0.0):
    return np.full_like(np.asarray(q, dtype=np.float64), level)


def _model(function, prefix: str, hints: dict[str, dict[str, Any]]) -> lmfit.Model:
    model = lmfit.Model(function, independent_vars=["q"], prefix=prefix)
    for name, hint in hints.items():
        model.set_param_hint(name, **hint)
    return model


def spheres_gaussian(prefix: str = "", contrast_per_cm2: float = DEFAULT_CONTRAST_PER_CM2
                     ) -> lmfit.Model:
    """Spheres, Gaussian number-weighted radii; the contrast is fixed (default CdSe in ODE)."""
    return _model(_spheres_gaussian, prefix, {
        "volume_fraction": {"min": 0.0}, "radius_nm": {"min": 1e-3},
        "sigma_nm": {"min": 0.0}, "contrast_per_cm2": {"value": contrast_per_cm2,
                                                      "vary": False}})


def spheres_lognormal(prefix: str = "", contrast_per_cm2: float = DEFAULT_CONTRAST_PER_CM2
                      ) -> lmfit.Model:
    """Spheres, log-normal number-weighted radii (median, sigma of ln R)."""
    return _model(_spheres_lognormal, prefix, {
        "volume_fraction": {"min": 0.0}, "median_nm": {"min": 1e-3},
        "sigma_ln": {"min": 0.0, "max": 1.5}, "contrast_per_cm2": {"value": contrast_per_cm2,
                                                                  "vary": False}})


def guinier(prefix: str = "") -> lmfit.Model:
    """Guinier law (valid for q Rg < ~1.3)."""
    return _model(_guinier, prefix, {"i0": {"min": 0.0}, "rg_nm": {"min": 0.0}})


def porod(prefix: str = "") -> lmfit.Model:
    """Power law; exponent 4 is Porod's law for sharp interfaces."""
    return _model(_porod, prefix, {"scale": {"min": 0.0}, "exponent": {"value": 4.0}})


def lorentzian_peak(prefix: str = "") -> lmfit.Model:
    """A Lorentzian peak (Bragg peaks of mesophases)."""
    return _model(_lorentzian_peak, prefix, {"height": {"min": 0.0}, "fwhm_nm": {"min": 1e-6}})


def gaussian_peak(prefix: str = "") -> lmfit.Model:
    """A Gaussian peak."""
    return _model(_gaussian_peak, prefix, {"height": {"min": 0.0}, "fwhm_nm": {"min": 1e-6}})


def flat(prefix: str = "") -> lmfit.Model:
    """A flat background."""
    return _model(_flat, prefix, {})


@dataclass(frozen=True, eq=False)
class FitResult:
    """The outcome of :func:`fit_curve`: best values with standard errors, and the model curve."""

    values: dict[str, float]
    errors: dict[str, float | None]
    chi2_r: float
    model_curve: Curve
    success: bool
    lmfit_result: Any

    def report(self) -> str:
        """lmfit's text report."""
        return self.lmfit_result.fit_report()


def fit_curve(curve: Curve, model: lmfit.Model, params: lmfit.Parameters | None = None, *,
              q_range_nm: tuple[float | None, float | None] = (None, None),
              **initial: float) -> FitResult:
    """Weighted least-squares fit of ``model`` to ``curve`` (weights 1/sigma).

    ``params`` (or keyword initial values, e.g. ``radius_nm=1.0``) start the fit; parameter
    hints of the model give bounds. chi2_r = chi^2 / (N - n_varied).
    """
    if not isinstance(model, lmfit.Model):
        raise InputError(f"fit_curve needs an lmfit.Model, got {type(model).__name__}")
    data = curve.select(*q_range_nm) if q_range_nm != (None, None) else curve
    if params is None:
        params = model.make_params(**initial)
    unknown = [k for k in initial if k not in params]
    if unknown:
        raise InputError(f"fit_curve: unknown parameter(s) {unknown}; the model has "
                         f"{list(params)}")
    n_vary = sum(p.vary for p in params.values())
    if len(data) <= n_vary:
        raise InputError(f"fit_curve: {len(data)} points for {n_vary} free parameters")
    result = model.fit(data.intensity, params, q=data.q, weights=1.0 / data.sigma,
                       nan_policy="raise")
    best = model.eval(result.params, q=data.q)
    model_curve = data.replace(intensity=best, sigma=data.sigma).with_step(
        "fit_curve", model=model.name, values={k: p.value for k, p in result.params.items()})
    return FitResult(values={k: float(p.value) for k, p in result.params.items()},
                     errors={k: (None if p.stderr is None else float(p.stderr))
                             for k, p in result.params.items()},
                     chi2_r=float(result.redchi), model_curve=model_curve,
                     success=bool(result.success), lmfit_result=result)
