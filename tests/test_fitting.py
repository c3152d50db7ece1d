"""lmfit parametric models: recovery on simulated curves, composition, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

import saxs
from saxs import Curve, InputError
from saxs.fitting import (
    flat,
    gaussian_peak,
    guinier,
    lorentzian_peak,
    porod,
    spheres_gaussian,
    spheres_lognormal,
)
from saxs.simulate.models import BraggPeak, Population, spheres_intensity


def _noisy(q, intensity, rel=0.02, seed=0):
    sigma = rel * intensity
    return Curve(q, intensity + np.random.default_rng(seed).normal(0, 1, q.size) * sigma, sigma,
                 intensity_unit="1/cm")


def test_lognormal_spheres_plus_background_recovered():
    q = np.geomspace(0.1, 7, 120)
    truth = spheres_intensity(q, [Population(1.3, 2e-3, 0.12, "lognormal")]) + 0.02
    model = spheres_lognormal() + flat()
    result = saxs.fit_curve(_noisy(q, truth), model, volume_fraction=1e-3, median_nm=1.0,
                            sigma_ln=0.2, level=0.0)
    assert result.success
    v, e = result.values, result.errors
    for name, true in (("median_nm", 1.3), ("sigma_ln", 0.12), ("volume_fraction", 2e-3),
                       ("level", 0.02)):
        assert abs(v[name] - true) < 4 * e[name], name
    assert 0.6 < result.chi2_r < 1.5
    assert result.model_curve.provenance[-1].action == "fit_curve"


def test_gaussian_spheres_match_the_peer_truth(shared_dir):
    path = shared_dir / "peers" / "data" / "synth_gauss_r1.0_s0.1_q0.1-8_n5pct.dat"
    truth = json.loads(path.with_suffix(".truth.json").read_text())
    curve = saxs.read_curve(path, intensity_unit="1/m")
    model = spheres_gaussian(contrast_per_cm2=33.4e-6 * 1e16)
    result = saxs.fit_curve(curve, model, volume_fraction=5e-3, radius_nm=0.8, sigma_nm=0.2)
    assert result.values["radius_nm"] == pytest.approx(truth["mean_nm"], abs=3 * max(
        result.errors["radius_nm"], 1e-3))
    assert result.values["volume_fraction"] == pytest.approx(truth["volume_fraction"], rel=0.05)


def test_peaks_guinier_porod_compose():
    q = np.linspace(0.3, 5, 300)
    peak = BraggPeak(1.84, 0.06, 3.0).intensity(q) + BraggPeak(3.69, 0.08, 0.6).intensity(q)
    truth = 0.05 * q**-4 + peak + 0.03
    model = porod("p_") + lorentzian_peak("a_") + lorentzian_peak("b_") + flat("bg_")
    params = model.make_params(p_scale=0.01, p_exponent=4, a_height=1, a_center_nm=1.8,
                               a_fwhm_nm=0.1, b_height=0.3, b_center_nm=3.7, b_fwhm_nm=0.1,
                               bg_level=0.0)
    result = saxs.fit_curve(_noisy(q, truth, 0.01), model, params)
    assert result.values["a_center_nm"] == pytest.approx(1.84, abs=4 * result.errors[
        "a_center_nm"])
    assert result.values["b_center_nm"] / result.values["a_center_nm"] == pytest.approx(
        3.69 / 1.84, rel=0.01)
    g = guinier()
    q2 = np.linspace(0.05, 1.0, 60)
    res = saxs.fit_curve(_noisy(q2, 5.0 * np.exp(-(q2 * 1.5) ** 2 / 3), 0.01), g, i0=1.0,
                         rg_nm=1.0)
    assert res.values["rg_nm"] == pytest.approx(1.5, abs=4 * res.errors["rg_nm"])
    gp = saxs.fit_curve(_noisy(q, 2 * np.exp(-4 * np.log(2) * ((q - 2) / 0.3) ** 2) + 0.1, 0.01),
                        gaussian_peak() + flat(), height=1, center_nm=2.1, fwhm_nm=0.2, level=0)
    assert gp.values["fwhm_nm"] == pytest.approx(0.3, abs=4 * gp.errors["fwhm_nm"])


def test_fit_errors():
    q = np.linspace(0.1, 1, 5)
    curve = Curve(q, np.ones(5), np.full(5, 0.1))
    with pytest.raises(InputError, match=r"lmfit\.Model"):
        saxs.fit_curve(curve, "guinier")
    with pytest.raises(InputError, match="unknown parameter"):
        saxs.fit_curve(curve, guinier(), radius=1.0)
    with pytest.raises(InputError, match="free parameters"):
        saxs.fit_curve(curve.select(0.1, 0.2), guinier(), i0=1.0, rg_nm=1.0)
