"""Absolute scattering models: closed forms (1e-9), the peer truth file, analytic moments."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate

from saxs.errors import InputError
from saxs.models import constants, form_factor
from saxs.models.distributions import Species, species_intensity, spheres_intensity
from saxs.simulate import models
from saxs.simulate.models import (
    BraggPeak,
    BroadPeak,
    FlatBackground,
    KaptonWindow,
    PowerLaw,
    SampleModel,
    Spheres,
)
from saxs.units import intensity_from_per_cm, sld_per_a2_to_per_cm2

SHARED = Path(__file__).resolve().parents[2] / "shared"
PEER_DATA = SHARED / "peers" / "data"
PEER_STEM = "synth_gauss_r1.0_s0.1_q0.1-8_n5pct"


def _closed_form_sphere(q, radius_nm, phi, contrast_per_cm2):
    """phi drho^2 V [3 (sin x - x cos x) / x^3]^2, V in cm^3, x = q R > 0."""
    x = q * radius_nm
    volume_cm3 = 4.0 / 3.0 * math.pi * radius_nm**3 * 1e-21
    return phi * contrast_per_cm2**2 * volume_cm3 * (3.0 * (np.sin(x) - x * np.cos(x)) / x**3) ** 2


# --------------------------------------------------------------------------- contrast


def test_sld_helper_reproduces_science_values():
    c = constants
    cdse = c.electron_sld_per_cm2(c.CDSE_DENSITY_G_CM3, c.CDSE_ELECTRONS_PER_FORMULA,
                                  c.CDSE_MOLAR_MASS_G_MOL)
    ode = c.electron_sld_per_cm2(c.ODE_DENSITY_G_CM3, c.ODE_ELECTRONS_PER_FORMULA,
                                 c.ODE_MOLAR_MASS_G_MOL)
    assert cdse == pytest.approx(sld_per_a2_to_per_cm2(constants.CDSE_SLD_PER_A2), rel=0.01)
    assert ode == pytest.approx(sld_per_a2_to_per_cm2(constants.ODE_SLD_PER_A2), rel=0.01)
    assert cdse - ode == pytest.approx(constants.DEFAULT_CONTRAST_PER_CM2, rel=0.01)


def test_default_contrast_is_cdse_in_ode():
    assert pytest.approx(3.47e11, rel=1e-12) == constants.DEFAULT_CONTRAST_PER_CM2
    difference = constants.CDSE_SLD_PER_A2 - constants.ODE_SLD_PER_A2
    assert difference == pytest.approx(constants.CDSE_ODE_CONTRAST_PER_A2, rel=1e-12)


def test_sld_helper_rejects_bad_density():
    with pytest.raises(InputError, match="density_g_cm3"):
        constants.electron_sld_per_cm2(-1.0, 82, 191.37)


# --------------------------------------------------------------------------- spheres


@pytest.mark.parametrize("population", [
    Species(1.3, 0.003),
    Species(1.3, 0.003, 0.0, "delta"),
    Species(1.3, 0.003, 0.0, "lognormal", "volume"),
])
def test_monodisperse_matches_closed_form(population):
    q = np.linspace(0.01, 9.0, 700)
    got = spheres_intensity(q, population)
    want = _closed_form_sphere(q, 1.3, 0.003, constants.DEFAULT_CONTRAST_PER_CM2)
    forward = _closed_form_sphere(np.array([1e-3]), 1.3, 0.003, constants.DEFAULT_CONTRAST_PER_CM2)
    envelope = forward * np.minimum(1.0, 9.0 / (q * 1.3) ** 4)
    # Relative 1e-9; near the zeros of P only an error relative to the envelope is meaningful.
    assert np.all(np.abs(got - want) <= 1e-9 * want + 1e-12 * envelope)
    volume_cm3 = 4.0 / 3.0 * math.pi * 1.3**3 * 1e-21
    i0 = spheres_intensity(0.0, population)
    contrast = constants.DEFAULT_CONTRAST_PER_CM2
    assert i0 == pytest.approx(0.003 * contrast**2 * volume_cm3, rel=1e-12)


def test_spheres_keep_the_shape_of_q():
    q = np.linspace(0.1, 5.0, 12).reshape(3, 4)
    pop = Species(1.0, 1e-3, 0.05)
    got = spheres_intensity(q, [pop])
    assert got.shape == (3, 4)
    np.testing.assert_array_equal(got.ravel(), spheres_intensity(q.ravel(), [pop]))
    np.testing.assert_array_equal(Spheres((pop,)).intensity(q), got)


def test_populations_add():
    q = np.logspace(-1, 1, 50)
    a, b = Species(0.9, 1e-3, 0.02), Species(1.5, 2e-3, 0.1, "lognormal")
    np.testing.assert_allclose(spheres_intensity(q, [a, b]),
                               spheres_intensity(q, a) + spheres_intensity(q, b), rtol=1e-14)
    assert Spheres((a, b)).volume_fraction == pytest.approx(3e-3)


@pytest.mark.skipif(not PEER_DATA.is_dir(), reason="shared peer data folder not present")
def test_gaussian_number_weighted_matches_peer_truth():
    """The truth integrates the same truncated density ([0.4, 1.6] nm) with a 4001-point
    trapezoid. Its Euler-Maclaurin error terms scale with the density at the cuts (e^-18 ~ 1.5e-8
    of the peak) times h^2 ~ 1e-7 nm^2, ~1e-14 relative; its closed-form amplitude loses up to
    ~1e-13 relative at its smallest x = 0.04 (cancellation, see kernels/sphere.py). Measured
    agreement: 2.6e-13; tolerance 1e-11."""
    truth = json.loads((PEER_DATA / f"{PEER_STEM}.truth.json").read_text())
    q_min, q_max = truth["q_range"]
    q = np.logspace(math.log10(q_min), math.log10(q_max), truth["n_points"])
    data = np.loadtxt(PEER_DATA / f"{PEER_STEM}.dat")
    np.testing.assert_allclose(q, data[:, 0], rtol=1e-10)  # the file has 11 digits
    population = Species(truth["mean_nm"], truth["volume_fraction"],
                            truth["sd_nm"] / truth["mean_nm"], "gaussian", "number")
    contrast = sld_per_a2_to_per_cm2(truth["drho_1e6_per_A2"] * 1e-6)
    got = intensity_from_per_cm(spheres_intensity(q, population, contrast), "1/m")
    np.testing.assert_allclose(got, truth["i_true"], rtol=1e-11, atol=0)
    mean, sd = population.volume_weighted_stats()
    # Same quadrature argument as above (measured 6e-14 and 1.6e-12).
    assert mean == pytest.approx(truth["volume_weighted"]["mean"], rel=1e-10)
    assert sd == pytest.approx(truth["volume_weighted"]["sd"], rel=1e-10)


@pytest.mark.parametrize(("median", "sigma"), [(1.56, 0.14), (3.0, 0.3), (1.0, 0.02)])
def test_lognormal_number_weighted_moments(median, sigma):
    # Number density LN(mu, s): the volume-weighted density ~ R^3 LN(mu, s) is LN(mu + 3 s^2, s),
    # so its mean is e^(mu + 3 s^2 + s^2/2) = median e^(3.5 s^2), its sd mean sqrt(e^(s^2) - 1).
    population = Species(median, 2e-3, sigma, "lognormal", "number")
    mean, sd = population.volume_weighted_stats()
    want_mean = median * math.exp(3.5 * sigma**2)
    assert mean == pytest.approx(want_mean, rel=1e-12)
    assert sd == pytest.approx(want_mean * math.sqrt(math.expm1(sigma**2)), rel=1e-12)
    # <V>_N = 4/3 pi E_N[R^3] = 4/3 pi median^3 e^(4.5 s^2); n = phi / <V>_N.
    mean_volume_cm3 = 4.0 / 3.0 * math.pi * median**3 * math.exp(4.5 * sigma**2) * 1e-21
    assert population.number_density_per_cm3() == pytest.approx(2e-3 / mean_volume_cm3,
                                                                rel=1e-12)
    # I(0) = phi drho^2 <V>_V, <V>_V = 4/3 pi E_V[R^3] = 4/3 pi median^3 e^(9 s^2 + 4.5 s^2).
    volume_v = 4.0 / 3.0 * math.pi * median**3 * math.exp(13.5 * sigma**2) * 1e-21
    assert spheres_intensity(0.0, population) == pytest.approx(
        2e-3 * constants.DEFAULT_CONTRAST_PER_CM2**2 * volume_v, rel=1e-12)


def test_lognormal_volume_weighted_moments():
    median, sigma = 2.0, 0.2
    population = Species(median, 1e-3, sigma, "lognormal", "volume")
    mean, sd = population.volume_weighted_stats()
    want_mean = median * math.exp(0.5 * sigma**2)
    assert mean == pytest.approx(want_mean, rel=1e-12)
    assert sd == pytest.approx(want_mean * math.sqrt(math.expm1(sigma**2)), rel=1e-12)
    # n = phi E_V[1/V] = phi 3/(4 pi) median^-3 e^(4.5 s^2).
    want_n = 1e-3 * 3.0 / (4.0 * math.pi) * median**-3 * math.exp(4.5 * sigma**2) * 1e21
    assert population.number_density_per_cm3() == pytest.approx(want_n, rel=1e-12)


def test_gaussian_volume_weighted_moments():
    population = Species(2.0, 1e-3, 0.1, "gaussian", "volume")
    mean, sd = population.volume_weighted_stats()
    assert mean == pytest.approx(2.0, rel=1e-12)  # symmetric truncation
    # Truncation at +-6 sd shrinks the variance by 2*6*phi(6)/erf(6/sqrt 2) ~ 7.3e-8.
    shrink = 1.0 - 12.0 * math.exp(-18.0) / math.sqrt(2.0 * math.pi) / math.erf(6 / math.sqrt(2))
    assert sd == pytest.approx(0.2 * math.sqrt(shrink), rel=1e-10)


def test_monodisperse_moments_and_number_density():
    population = Species(1.0, 1e-3, 0.0, "delta")
    assert population.volume_weighted_stats() == (1.0, 0.0)
    assert population.number_density_per_cm3() == pytest.approx(
        1e-3 / (4.0 / 3.0 * math.pi * 1e-21), rel=1e-14)


def test_gaussian_number_density_from_number_distribution():
    mean_r, sd_r = 1.0, 0.15
    population = Species(mean_r, 1e-3, sd_r / mean_r)
    r = np.linspace(mean_r - 6 * sd_r, mean_r + 6 * sd_r, 200_001)
    n = np.exp(-0.5 * ((r - mean_r) / sd_r) ** 2)
    mean_volume_cm3 = np.trapezoid(n * 4.0 / 3.0 * np.pi * r**3, r) / np.trapezoid(n, r) * 1e-21
    assert population.number_density_per_cm3() == pytest.approx(1e-3 / mean_volume_cm3,
                                                                rel=1e-9)


@pytest.mark.parametrize("population", [
    Species(1.56, 2.8e-3, 0.14, "lognormal"),
    Species(0.94, 1e-3, 0.015, "gaussian"),
    Species(3.0, 1e-3, 0.3, "gaussian", "volume"),
])
def test_polydisperse_intensity_matches_adaptive_quadrature(population):
    """Independent check of the radius quadrature with scipy's adaptive quad."""
    contrast = constants.DEFAULT_CONTRAST_PER_CM2
    if population.shape == "gaussian":
        sd = population.rel_width * population.radius_nm
        lo = max(population.radius_nm - 6 * sd, 1e-4)
        hi = population.radius_nm + 6 * sd
        number_weighted = population.weighting == "number"

        def density(r):
            g = math.exp(-0.5 * ((r - population.radius_nm) / sd) ** 2)
            return g * r**3 if number_weighted else g
    else:
        sigma, mu = population.rel_width, math.log(population.radius_nm)
        lo, hi = population.radius_nm * math.exp(-8 * sigma), population.radius_nm * math.exp(
            6 * sigma**2 + 8 * sigma)

        def density(r):
            return math.exp(-0.5 * ((math.log(r) - mu) / sigma) ** 2) / r * r**3

    norm = integrate.quad(density, lo, hi, epsabs=0, epsrel=1e-13, limit=500)[0]
    for q in (0.0, 0.7, 3.3, 8.0):
        def integrand(r, q=q):
            x = q * r
            p = 1.0 if x == 0 else (3.0 * (math.sin(x) - x * math.cos(x)) / x**3) ** 2
            return density(r) * 4.0 / 3.0 * math.pi * r**3 * 1e-21 * p

        value = integrate.quad(integrand, lo, hi, epsabs=0, epsrel=1e-13, limit=500)[0]
        want = population.volume_fraction * contrast**2 * value / norm
        assert spheres_intensity(q, population) == pytest.approx(want, rel=1e-11)


def test_radius_grid_weights_are_normalised():
    for population in (Species(1.0, 1e-3, 0.1), Species(1.0, 1e-3, 0.2, "lognormal")):
        radii, weights = population.radius_grid(q_max_nm=9.0)
        assert math.fsum(weights) == pytest.approx(1.0, abs=1e-14)
        assert np.all(weights >= 0)
        assert np.all(radii > 0)


def test_gaussian_grid_is_truncated_like_the_peer_script():
    radii, _ = Species(1.0, 1e-3, 0.1).radius_grid()
    assert radii.min() > 0.4
    assert radii.max() < 1.6
    # A wide Gaussian is cut at 1e-4 nm below: compare moments with a fine trapezoid on
    # [1e-4, mean + 6 sd], as the peer script integrates (200001 points: error ~1e-11).
    mean_r, sd_r = 1.0, 0.5
    r = np.linspace(1e-4, mean_r + 6 * sd_r, 200_001)
    p_v = np.exp(-0.5 * ((r - mean_r) / sd_r) ** 2) * r**3
    p_v /= np.trapezoid(p_v, r)
    want_mean = np.trapezoid(p_v * r, r)
    want_sd = math.sqrt(np.trapezoid(p_v * (r - want_mean) ** 2, r))
    mean, sd = Species(mean_r, 1e-3, sd_r / mean_r).volume_weighted_stats()
    assert mean == pytest.approx(want_mean, rel=1e-9)
    assert sd == pytest.approx(want_sd, rel=1e-9)


def _detector_like_q(n=480, q_max=9.0):
    """A 2-D q image like a flat detector's: q grows with the distance from an off-grid centre."""
    rows, cols = np.mgrid[0:n, 0:n]
    distance = np.hypot(rows - 0.37 * n, cols - 0.52 * n)
    return q_max * distance / distance.max() + 0.02


@pytest.mark.parametrize("population", [
    Species(2.0, 1e-3),
    Species(10.0, 1e-3),
    Species(0.94, 1e-3, 0.015),
    Species(1.56, 2.8e-3, 0.14, "lognormal"),
])
def test_large_arrays_are_interpolated_within_stated_accuracy(population):
    q = _detector_like_q()
    spheres = Spheres((population,))
    got = spheres.intensity(q)
    exact = spheres_intensity(q, population)
    assert got.shape == q.shape
    r_top = population.radius_grid(float(q.max()))[0].max()
    envelope = spheres_intensity(0.0, population) * np.minimum(1.0, 9.0 / (q * r_top) ** 4)
    assert np.max(np.abs(got - exact) / envelope) < 1e-7
    direct = Spheres((population,), direct_limit=q.size).intensity(q)
    np.testing.assert_array_equal(direct, exact)


# --------------------------------------------------------------------------- other components


@pytest.mark.parametrize("shape", ["lorentzian", "gaussian"])
def test_bragg_peak_height_fwhm_and_area(shape):
    peak = BraggPeak(q_nm=1.84, fwhm_nm=0.06, height_per_cm=3.0, shape=shape)
    values = peak.intensity(np.array([1.84, 1.84 - 0.03, 1.84 + 0.03]))
    np.testing.assert_allclose(values, [3.0, 1.5, 1.5], rtol=1e-12)
    # I is defined for q >= 0; the area property integrates over the whole real line, so add
    # the part below 0 (for the Lorentzian, h g (pi/2 - atan(q0/g)), g = fwhm/2; ~0 otherwise).
    area = integrate.quad(lambda q: float(peak.intensity(q)), 0.0, np.inf, epsabs=0,
                          epsrel=1e-11, limit=200)[0]
    if shape == "lorentzian":
        area += 3.0 * 0.03 * (math.pi / 2 - math.atan(1.84 / 0.03))
        assert peak.area_per_cm_nm == pytest.approx(math.pi * 3.0 * 0.03, rel=1e-14)
    assert peak.area_per_cm_nm == pytest.approx(area, rel=1e-9)
    assert peak.d_spacing_nm == pytest.approx(2 * math.pi / 1.84, rel=1e-14)


def test_lamellar_peaks():
    peaks = models.lamellar_peaks(2 * math.pi / 1.84, [3.0, 0.6], fwhm_nm=0.06)
    assert [p.q_nm for p in peaks] == pytest.approx([1.84, 3.68], rel=1e-14)
    assert [p.height_per_cm for p in peaks] == [3.0, 0.6]


def test_broad_peak_is_sasview_broad_peak():
    peak = BroadPeak(porod_scale=2e-4, porod_exponent=3.0, lorentz_scale=0.3, peak_pos_nm=0.25,
                     lorentz_length_nm=8.0, lorentz_exponent=2.0)
    q = np.array([0.05, 0.25, 0.25 + 1 / 8.0, 1.0, 5.0])
    want = 2e-4 / q**3 + 0.3 / (1.0 + (np.abs(q - 0.25) * 8.0) ** 2)
    np.testing.assert_allclose(peak.intensity(q), want, rtol=1e-14)
    no_porod = BroadPeak(lorentz_scale=0.3, peak_pos_nm=0.25, lorentz_length_nm=8.0)
    np.testing.assert_allclose(no_porod.intensity(np.array([0.25, 0.375])), [0.3, 0.15],
                               rtol=1e-14)


def test_power_law_and_flat_background():
    q = np.array([0.0, 0.5, 1.0, 2.0])
    law = PowerLaw(scale_per_cm=0.02, exponent=3.0).intensity(q)  # no warning at q = 0
    assert law[0] == np.inf
    np.testing.assert_allclose(law[1:], 0.02 * q[1:] ** -3.0, rtol=1e-14)
    np.testing.assert_array_equal(FlatBackground(0.03).intensity(q.reshape(2, 2)),
                                  np.full((2, 2), 0.03))


def test_kapton_window_formula():
    window = KaptonWindow()
    q = np.array([0.1, 1.0, 4.5, 8.0])
    want = 0.02 * q**-3.0 + 1.0 * np.exp(-0.5 * ((q - 4.5) / 1.2) ** 2)
    np.testing.assert_allclose(window.intensity(q), want, rtol=1e-14)
    custom = KaptonWindow(power_law_scale=0.0, hump_height=2.0, hump_q_nm=4.0, hump_sigma_nm=1.0)
    assert custom.intensity(4.0) == pytest.approx(2.0)


def test_sample_model_sums_scales_and_nests():
    q = np.linspace(0.1, 8.0, 40).reshape(5, 8)
    spheres = Spheres((Species(1.0, 1e-3, 0.05),))
    solvent = FlatBackground(0.03)
    peak = BraggPeak(1.84, 0.06, 3.0)
    sample = SampleModel((spheres, solvent.scaled(0.999), peak), name="s")
    want = spheres.intensity(q) + 0.999 * 0.03 + peak.intensity(q)
    got = sample.intensity(q)
    assert got.shape == q.shape
    np.testing.assert_allclose(got, want, rtol=1e-14)
    np.testing.assert_allclose(sample.scaled(0.5).intensity(q), 0.5 * want, rtol=1e-14)
    np.testing.assert_allclose(SampleModel((sample,)).intensity(q), want, rtol=1e-14)
    more = sample.plus(KaptonWindow())
    np.testing.assert_allclose(more.intensity(q), want + KaptonWindow().intensity(q),
                               rtol=1e-14)
    np.testing.assert_array_equal(SampleModel().intensity(q), np.zeros(q.shape))


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"radius_nm": -1.0, "volume_fraction": 0.01}, "radius_nm"),
    ({"radius_nm": 0.0, "volume_fraction": 0.01}, "radius_nm"),
    ({"radius_nm": float("nan"), "volume_fraction": 0.01}, "radius_nm"),
    ({"radius_nm": 1.0, "volume_fraction": 1.5}, "volume_fraction"),
    ({"radius_nm": 1.0, "volume_fraction": 0.01, "rel_width": -0.1}, "rel_width"),
    ({"radius_nm": 1.0, "volume_fraction": 0.01, "shape": "cube"}, "shape"),
    ({"radius_nm": 1.0, "volume_fraction": 0.01, "weighting": "mass"}, "weighting"),
    ({"radius_nm": 1.0, "volume_fraction": 0.01, "rel_width": 0.1, "shape": "delta"},
     "rel_width"),
    ({"radius_nm": "one", "volume_fraction": 0.01}, "radius_nm"),
])
def test_population_validation_names_the_field(kwargs, field):
    with pytest.raises(InputError, match=field) as info:
        Species(**kwargs)
    assert repr(kwargs[field]) in str(info.value)


def test_component_validation():
    with pytest.raises(InputError, match="fwhm_nm"):
        BraggPeak(1.84, 0.0, 1.0)
    with pytest.raises(InputError, match="shape"):
        BraggPeak(1.84, 0.1, 1.0, shape="voigt")
    with pytest.raises(InputError, match="lorentz_length_nm"):
        BroadPeak(lorentz_scale=0.3, peak_pos_nm=0.25, lorentz_length_nm=-8.0)
    with pytest.raises(InputError, match="level_per_cm"):
        FlatBackground(-0.1)
    with pytest.raises(InputError, match="hump_sigma_nm"):
        KaptonWindow(hump_sigma_nm=0.0)
    with pytest.raises(InputError, match=r"components\[1\]"):
        SampleModel((FlatBackground(0.1), "not a component"))
    with pytest.raises(InputError, match="populations"):
        Spheres(("not a population",))
    with pytest.raises(InputError, match="factor"):
        FlatBackground(0.1).scaled(0.5).scaled(-1.0)


def test_q_validation():
    model = SampleModel((FlatBackground(0.1),))
    with pytest.raises(InputError, match="q_nm"):
        model.intensity(np.array([0.1, np.nan]))
    with pytest.raises(InputError, match="q_nm"):
        spheres_intensity(np.array([-0.1]), Species(1.0, 0.01))


# --------------------------------------------------------------------------- constants


def test_xray_sld_from_formula_matches_electron_count_away_from_edges():
    """ODE (C and H only, no edge near 12.4 keV): the tabulated f1 equals Z within 0.5 %."""
    c = constants
    forward = c.electron_sld_per_cm2(c.ODE_DENSITY_G_CM3, c.ODE_ELECTRONS_PER_FORMULA,
                                     c.ODE_MOLAR_MASS_G_MOL)
    assert constants.xray_sld_per_cm2("C18H36", 0.789, 12.4) == pytest.approx(forward, rel=5e-3)


def test_xray_sld_sees_the_se_k_edge():
    """Just below the Se K edge (12.658 keV) f' lowers the CdSe SLD by a few per cent."""
    at_edge = constants.xray_sld_per_cm2("CdSe", 5.82, 12.6)
    far = constants.xray_sld_per_cm2("CdSe", 5.82, 8.0)
    assert at_edge < 0.97 * far


@pytest.mark.parametrize(("formula", "density", "energy", "match"), [
    ("Xx2", 1.0, 12.4, "formula"), ("CdSe", -1.0, 12.4, "density"),
    ("CdSe", 5.82, 0.0, "energy"), ("", 1.0, 12.4, "formula")])
def test_xray_sld_rejects_bad_input(formula, density, energy, match):
    with pytest.raises(InputError, match=match):
        constants.xray_sld_per_cm2(formula, density, energy)


@pytest.mark.parametrize("shape", ["gaussian", "lognormal", "schulz"])
def test_species_weights_normalised_and_mean_right(shape):
    species = Species(2.0, 1e-3, 0.1, shape, "volume")
    _, weights = species.radius_grid(q_max_nm=5.0)
    assert weights.sum() == pytest.approx(1.0, abs=1e-14)
    mean, sd = species.volume_weighted_stats()
    centre = 2.0 if shape != "lognormal" else 2.0 * math.exp(0.5 * 0.1**2)
    assert mean == pytest.approx(centre, rel=1e-9)
    assert sd / mean == pytest.approx(0.1, rel=0.01 if shape == "lognormal" else 1e-6)


def test_schulz_number_density_matches_gamma_moments():
    """Schulz (Gamma) number density, mean 3 nm, p = 0.2: z = 24; the volume-weighted mean is
    <R^4>/<R^3> = R0 (z + 4) / (z + 1)."""
    species = Species(3.0, 1e-3, 0.2, "schulz", "number")
    mean, _ = species.volume_weighted_stats()
    z = 1 / 0.2**2 - 1
    assert mean == pytest.approx(3.0 * (z + 4) / (z + 1), rel=1e-9)


def test_species_of_another_shape_uses_its_volume():
    """A number-weighted Gaussian of cylinder radii (fixed length): volume weights ~ R^2."""
    species = Species(2.0, 1e-3, 0.1, "gaussian", "number",
                      model=form_factor("cylinder", length_nm=20.0))
    radii, weights = species.radius_grid(q_max_nm=0.0)
    ref = Species(2.0, 1e-3, 0.1, "gaussian", "number")
    r_ref, w_ref = ref.radius_grid(q_max_nm=0.0)
    assert np.sum(weights * radii) < np.sum(w_ref * r_ref)


def test_schulz_width_must_be_below_one():
    with pytest.raises(InputError, match="schulz"):
        Species(1.0, 1e-3, 1.2, "schulz")


@pytest.mark.parametrize("rel_width", [1e-3, 1e-4, 1e-6])
def test_narrow_schulz_tends_to_the_gaussian(rel_width):
    """A Schulz distribution narrower than the old probe grid's spacing (sd/mean 1e-4 used to
    raise a bare ValueError) is integrated, and equals the Gaussian of the same width."""
    q = np.geomspace(0.1, 5.0, 50)
    schulz = species_intensity(q, [Species(2.0, 1e-3, rel_width, "schulz")])
    gauss = species_intensity(q, [Species(2.0, 1e-3, rel_width, "gaussian")])
    np.testing.assert_allclose(schulz, gauss, rtol=1e-5)
