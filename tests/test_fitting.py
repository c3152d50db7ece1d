"""lmfit parametric models: recovery on simulated curves, composition, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

import saxs
from saxs import Curve, InputError
from saxs.fitting import (
    fit_curves,
    flat,
    gaussian_peak,
    guinier,
    lorentzian_peak,
    porod,
    spheres_gaussian,
    spheres_lognormal,
)
from saxs.models.distributions import Species, spheres_intensity
from saxs.simulate.models import BraggPeak


def _noisy(q, intensity, rel=0.02, seed=0):
    sigma = rel * intensity
    return Curve(q, intensity + np.random.default_rng(seed).normal(0, 1, q.size) * sigma, sigma,
                 intensity_unit="1/cm")


def test_lognormal_spheres_plus_background_recovered():
    q = np.geomspace(0.1, 7, 120)
    truth = spheres_intensity(q, [Species(1.3, 2e-3, 0.12, "lognormal")]) + 0.02
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


# --------------------------------------------------------------------------- model()

import pickle  # noqa: E402

import lmfit  # noqa: E402
from scipy.integrate import quad  # noqa: E402

from saxs.fitting import (  # noqa: E402
    PinholeSmearing,
    describe_model,
    model,
    pinhole_smearing,
)
from saxs.models import known_models  # noqa: E402
from saxs.models.distributions import species_intensity  # noqa: E402


def _needs(shape: str) -> None:
    try:
        names = known_models()
    except ImportError:
        names = ["sphere"]
    if shape not in names:
        pytest.skip(f"built-in shape {shape!r} not available yet")


@pytest.mark.parametrize(("distribution", "width_max"), [("lognormal", 1.5), ("gaussian", 1.0),
                                                         ("schulz", 0.99)])
def test_model_parameters_and_bounds(distribution, width_max):
    m = model("sphere", distribution, prefix="a_", contrast_per_cm2=2e10)
    params = m.make_params()
    assert list(params) == ["a_volume_fraction", "a_radius_nm", "a_rel_width",
                            "a_contrast_per_cm2"]
    assert (params["a_volume_fraction"].min, params["a_volume_fraction"].max) == (0.0, 1.0)
    assert params["a_radius_nm"].min > 0
    assert (params["a_rel_width"].min, params["a_rel_width"].max) == (0.0, width_max)
    assert params["a_contrast_per_cm2"].value == 2e10
    assert not params["a_contrast_per_cm2"].vary


def test_monodisperse_model_has_no_width_and_matches_species_intensity():
    q = np.geomspace(0.05, 5, 50)
    for dist in (None, "none"):
        m = model("sphere", dist)
        assert "rel_width" not in m.param_names
    p = m.make_params(volume_fraction=2e-3, radius_nm=3.0)
    expected = species_intensity(q, Species(3.0, 2e-3, 0.0, "delta"))
    np.testing.assert_allclose(m.eval(p, q=q), expected, rtol=1e-14)
    m = model("sphere", "lognormal")
    p = m.make_params(volume_fraction=2e-3, radius_nm=3.0, rel_width=0.2)
    expected = species_intensity(q, Species(3.0, 2e-3, 0.2, "lognormal"))
    np.testing.assert_allclose(m.eval(p, q=q), expected, rtol=1e-14)


def test_model_composes_pickles_and_describes_itself():
    q = np.geomspace(0.1, 3, 40)
    m = model("sphere", "gaussian", prefix="s_") + flat("bg_") + guinier("g_")
    p = m.make_params(s_volume_fraction=1e-3, s_radius_nm=2.0, s_rel_width=0.1, bg_level=0.1,
                      g_i0=1.0, g_rg_nm=10.0)
    single = model("sphere", "gaussian", prefix="s_")
    total = single.eval(p, q=q) + 0.1 + np.exp(-(q * 10.0) ** 2 / 3)
    np.testing.assert_allclose(m.eval(p, q=q), total, rtol=1e-14)
    clone = pickle.loads(pickle.dumps(single))
    np.testing.assert_array_equal(clone.eval(p, q=q), single.eval(p, q=q))
    described = describe_model(m)
    assert described[0]["model"] == "sphere"
    assert described[0]["distribution"] == "gaussian"
    assert [d["prefix"] for d in described] == ["s_", "bg_", "g_"]
    assert isinstance(model("guinier"), lmfit.Model)


def test_model_bad_input():
    with pytest.raises(InputError, match="sphere") as info:
        model("no_such_shape_xyz")
    assert "guinier" in str(info.value)
    with pytest.raises(InputError, match="unknown parameter"):
        model("sphere", length_nm=3.0)
    with pytest.raises(InputError, match="distribution"):
        model("sphere", "triangular")
    with pytest.raises(InputError, match="fixed parameters"):
        model("guinier", rg_nm=2.0)


def test_model_missing_required_fixed_parameter():
    _needs("cylinder")
    with pytest.raises(InputError, match=r"length_nm|aspect_ratio"):
        model("cylinder", "lognormal")


def test_fixed_shape_parameter_can_be_freed():
    _needs("cylinder")
    m = model("cylinder", "lognormal", length_nm=20.0)
    params = m.make_params(volume_fraction=1e-3, radius_nm=2.0, rel_width=0.1)
    assert params["length_nm"].value == 20.0
    assert not params["length_nm"].vary
    q = np.geomspace(0.1, 3, 30)
    a = m.eval(params, q=q)
    params["length_nm"].value = 30.0
    assert not np.allclose(m.eval(params, q=q), a)


def test_lognormal_cylinder_recovered_from_sasmodels_curve():
    """Truth computed by sasmodels itself (cylinder, log-normal radius: median, sigma of ln R,
    number-weighted; I = scale / <V> <F^2> + background). Noise 2 %; every fitted value must be
    within 4 standard errors of the truth (the chance of a 4-sigma miss is 6e-5 per value)."""
    _needs("cylinder")
    sasmodels_core = pytest.importorskip("sasmodels.core")
    from sasmodels.data import empty_data1D
    from sasmodels.direct_model import DirectModel

    q = np.geomspace(0.1, 4.0, 100)
    kernel = sasmodels_core.load_model("cylinder")
    truth = DirectModel(empty_data1D(q / 10.0), kernel)(
        scale=2e-3, background=0.0, sld=4.0, sld_solvent=1.0, radius=25.0, length=200.0,
        radius_pd=0.15, radius_pd_type="lognormal", radius_pd_n=80, radius_pd_nsigma=5)
    curve = _noisy(q, truth, rel=0.02, seed=3)
    m = model("cylinder", "lognormal", contrast_per_cm2=3e10, length_nm=20.0)
    result = saxs.fit_curve(curve, m, volume_fraction=1e-3, radius_nm=2.0, rel_width=0.3)
    assert result.success
    for name, true in (("volume_fraction", 2e-3), ("radius_nm", 2.5), ("rel_width", 0.15)):
        assert abs(result.values[name] - true) < 4 * result.errors[name], name
    assert 0.6 < result.chi2_r < 1.5


# --------------------------------------------------------------------------- smearing


def test_smearing_a_constant_or_a_linear_function_gives_it_back():
    q = np.linspace(0.5, 3.0, 40)
    dq = 0.02 + 0.03 * q
    s = PinholeSmearing(q, dq)
    np.testing.assert_allclose(s(lambda x: np.full_like(x, 7.0)), 7.0, rtol=1e-14)
    symmetric = PinholeSmearing(q, dq, cutoff_sd=3.0)
    np.testing.assert_allclose(symmetric(lambda x: 2.0 + 5.0 * x), 2.0 + 5.0 * q, rtol=1e-13)
    # the default window (2.5, 3) sd shifts the mean by 0.0132 dq (truncated-Gaussian mean)
    np.testing.assert_allclose(s(lambda x: x) - q, 0.01317 * dq, rtol=2e-3)
    # dq = 0: the point is not smeared
    np.testing.assert_allclose(PinholeSmearing(q, np.zeros_like(q))(np.sin), np.sin(q),
                               rtol=1e-15)


def _brute_force(function, q0, dq0, cutoff=(2.5, 3.0)):
    lo, hi = max(q0 - cutoff[0] * dq0, 0.0), q0 + cutoff[1] * dq0
    gauss = lambda x: np.exp(-0.5 * ((x - q0) / dq0) ** 2)  # noqa: E731
    num = quad(lambda x: gauss(x) * function(np.array([x]))[0], lo, hi, limit=400,
               epsabs=0.0, epsrel=1e-12)[0]
    return num / quad(gauss, lo, hi, epsabs=0.0, epsrel=1e-13)[0]


def test_smeared_sphere_matches_brute_force_convolution():
    """Monodisperse sphere R = 8 nm (deep minima), dq/q 5-20 %: adaptive quadrature of the
    truncated Gaussian (scipy quad, relative tolerance 1e-12) against the smearing matrix
    refined to rtol 1e-9: agreement better than 1e-6 relative at every point."""
    q = np.geomspace(0.05, 3.0, 25)
    dq = 0.05 * q + 0.02

    def sphere(x):
        return species_intensity(x, Species(8.0, 1e-3, 0.0, "delta"))

    smear = pinhole_smearing(q, dq, sphere, rtol=1e-9)
    reference = np.array([_brute_force(sphere, a, b) for a, b in zip(q, dq, strict=True)])
    np.testing.assert_allclose(smear(sphere), reference, rtol=1e-6)


def test_fit_uses_the_curve_resolution():
    """A smeared simulation is fitted back with smearing; without it, the resolution is
    mistaken for polydispersity (the width comes out biased by many standard errors)."""
    q = np.geomspace(0.1, 3.0, 120)
    dq = 0.08 * q
    m = model("sphere", "gaussian", contrast_per_cm2=1e10) + flat()
    truth_params = m.make_params(volume_fraction=1e-2, radius_nm=6.0, rel_width=0.05,
                                 level=0.01)
    smear = pinhole_smearing(q, dq, lambda x: m.eval(truth_params, q=x), rtol=1e-8)
    truth = smear(lambda x: m.eval(truth_params, q=x))
    rng = np.random.default_rng(7)
    sigma = 0.02 * truth
    curve = Curve(q, truth + rng.normal(0, 1, q.size) * sigma, sigma, intensity_unit="1/cm",
                  q_resolution=dq)
    start = {"volume_fraction": 5e-3, "radius_nm": 5.5, "rel_width": 0.1, "level": 0.0}
    fit = saxs.fit_curve(curve, m, **start)
    assert fit.smeared
    for name, true in (("radius_nm", 6.0), ("rel_width", 0.05), ("volume_fraction", 1e-2)):
        assert abs(fit.values[name] - true) < 4 * fit.errors[name], name
    assert 0.6 < fit.chi2_r < 1.5
    plain = saxs.fit_curve(curve, m, smearing=False, **start)
    assert not plain.smeared
    assert abs(plain.values["rel_width"] - 0.05) > 4 * plain.errors["rel_width"]


def test_fit_items_round_trip(tmp_path):
    q = np.linspace(0.05, 1.0, 30)
    curve = _noisy(q, 5.0 * np.exp(-(q * 2.0) ** 2 / 3), 0.01)
    fit = saxs.fit_curve(curve, guinier(), i0=1.0, rg_nm=1.0)
    path = saxs.write_curve(tmp_path / "f.h5", curve, extra=fit.to_items())
    from saxs.io.nxcansas import read_extra

    items = read_extra(path)
    assert items["fit"]["values"]["rg_nm"] == pytest.approx(fit.values["rg_nm"])
    assert items["fit"]["varied"] == ["i0", "rg_nm"]
    np.testing.assert_array_equal(items["fit_intensity"], fit.model_curve.intensity)
    assert "rg_nm" in fit.report()


def test_fit_outside_the_model_domain_is_an_input_error():
    q = np.geomspace(0.5, 8, 40)
    curve = _noisy(q, 1e3 * q**-4 + 1.0, 0.01)
    m = model("sphere", "lognormal")
    params = m.make_params(volume_fraction=0.5, radius_nm=1e4, rel_width=1.5)
    params["radius_nm"].vary = False
    with pytest.raises(InputError, match="cannot be evaluated"):
        saxs.fit_curve(curve, m, params)


def test_fit_curves_recovers_shared_parameters():
    """Two synthetic curves of one sphere population at two concentrations, with noise: the
    shared radius comes back within 3 standard errors, each curve keeps its volume fraction."""
    rng = np.random.default_rng(3)
    q = np.geomspace(0.1, 3.0, 80)
    truth = model("sphere", "gaussian") + flat("bg_")
    curves = []
    for phi in (1e-3, 4e-3):
        ideal = truth.eval(truth.make_params(volume_fraction=phi, radius_nm=2.5,
                                             rel_width=0.1, bg_level=0.01), q=q)
        sigma = 0.02 * ideal + 1e-3
        curves.append(saxs.Curve(q, ideal + rng.normal(0, sigma), sigma,
                                 intensity_unit="1/cm"))
    fit = fit_curves(curves, truth, shared=("radius_nm", "rel_width"), volume_fraction=2e-3,
                     radius_nm=2.0, rel_width=0.2, bg_level=0.0)
    assert abs(fit.values["radius_nm"] - 2.5) < 3 * fit.errors["radius_nm"]
    assert fit.fits[0].values["volume_fraction"] == pytest.approx(1e-3, rel=0.05)
    assert fit.fits[1].values["volume_fraction"] == pytest.approx(4e-3, rel=0.05)
    assert 0.5 < fit.chi2_r < 1.6
    with pytest.raises(saxs.InputError, match="shared parameter"):
        fit_curves(curves, truth, shared=("length_nm",))
    with pytest.raises(saxs.InputError, match="3 models for 2 curves"):
        fit_curves(curves, [truth] * 3)
