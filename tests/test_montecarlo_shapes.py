"""Monte Carlo of shapes other than spheres, on curves computed by sasmodels itself.

The curves come from sasmodels' own C kernels with sasmodels' own polydispersity (a number
distribution of the size parameter, Gaussian, +-3 sd on 35 points), not from our models, so the
test checks the whole chain: our form factors, the table, the chain and the histograms.
Tolerances: total volume fraction within 5 %, volume-weighted mean size within 3 % (the issue's
targets); with 2 % noise on 100 points the repetition spread of both is below 1 %.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import saxs

os.environ.setdefault("SAS_OPENCL", "none")
sasmodels_core = pytest.importorskip("sasmodels.core")
direct_model = pytest.importorskip("sasmodels.direct_model")

Q = np.geomspace(0.1, 6.0, 100)
SLD_TO_PER_CM2 = 1e10  # 1e-6 1/A^2


def _sasmodels_curve(name: str, seed: int, **pars: float) -> saxs.Curve:
    """I(q) in 1/cm from sasmodels (q in 1/A, lengths in A), 2 % noise, flat 0.002 1/cm."""
    model = sasmodels_core.load_model(name, dtype="double", platform="dll")
    kernel = model.make_kernel([Q / 10.0])
    intensity = direct_model.call_kernel(kernel, {"background": 0.0, **pars}) + 0.002
    sigma = 0.02 * intensity
    noisy = intensity + np.random.default_rng(seed).normal(0.0, 1.0, Q.size) * sigma
    return saxs.Curve(Q, noisy, sigma, intensity_unit="1/cm")


def _gaussian_volume_weighted_mean(mean_nm: float, rel_sd: float, volume) -> float:
    """Volume-weighted mean of a Gaussian number density cut at +-3 sd (as sasmodels does)."""
    r = np.linspace(mean_nm * (1 - 3 * rel_sd), mean_nm * (1 + 3 * rel_sd), 20001)
    weight = np.exp(-0.5 * ((r - mean_nm) / (rel_sd * mean_nm)) ** 2) * volume(r)
    return float(np.sum(weight * r) / np.sum(weight))


def _run(curve: saxs.Curve, **config) -> saxs.SizeDistribution:
    return saxs.monte_carlo(curve, saxs.MCConfig(n_rep=10, seed=3, **config))


@pytest.mark.slow
def test_polydisperse_cylinders_of_fixed_length_recovered():
    phi, drho = 2e-3, 3.0
    curve = _sasmodels_curve("cylinder", 1, scale=phi, sld=4.0, sld_solvent=1.0, radius=20.0,
                             length=200.0, radius_pd=0.1, radius_pd_type="gaussian",
                             radius_pd_n=35, radius_pd_nsigma=3)
    dist = _run(curve, model="cylinder", model_parameters={"length_nm": 20.0},
                radius_range_nm=(0.5, 6.0), contrast_per_cm2=drho * SLD_TO_PER_CM2)
    assert dist.all_converged
    assert dist.model["model"] == "cylinder"
    assert dist.model["parameters"]["length_nm"] == 20.0
    h = dist.histogram(bins=30, range_nm=(1.0, 3.5))
    truth = _gaussian_volume_weighted_mean(2.0, 0.1, lambda r: r**2)
    assert h.moments["mean_nm"][0] == pytest.approx(truth, rel=0.03)
    assert h.moments["total_volume_fraction"][0] == pytest.approx(phi, rel=0.05)
    # number weighting uses the cylinder's volume (V ~ R^2 at fixed length)
    number_mean = np.sum(h.number_fraction * h.bin_centers_nm)
    assert number_mean < h.moments["mean_nm"][0]


@pytest.mark.slow
def test_core_shell_spheres_recovered():
    phi = 1e-3
    sld = {"sld_core": 1.0, "sld_shell": 4.0, "sld_solvent": 6.0}
    curve = _sasmodels_curve("core_shell_sphere", 2, scale=phi, radius=30.0, thickness=10.0,
                             radius_pd=0.1, radius_pd_type="gaussian", radius_pd_n=35,
                             radius_pd_nsigma=3, **sld)
    dist = _run(curve, model="core_shell_sphere",
                model_parameters={"thickness_nm": 1.0, **sld}, radius_range_nm=(0.5, 8.0))
    assert dist.all_converged
    h = dist.histogram(bins=30, range_nm=(2.0, 4.5))
    truth = _gaussian_volume_weighted_mean(3.0, 0.1, lambda r: (r + 1.0) ** 3)
    assert h.moments["mean_nm"][0] == pytest.approx(truth, rel=0.03)
    assert h.moments["total_volume_fraction"][0] == pytest.approx(phi, rel=0.05)


def test_result_names_the_shape_and_reads_back(tmp_path):
    form = saxs.form_factor("cylinder", length_nm=20.0)
    q = np.geomspace(0.2, 5, 60)
    species = saxs.Species(2.0, 1e-3, 0.1, "lognormal", model=form)
    intensity = saxs.models.species_intensity(q, [species]) + 0.001
    curve = saxs.Curve(q, intensity, 0.02 * intensity, intensity_unit="1/cm")
    dist = saxs.monte_carlo(curve, saxs.MCConfig(n_rep=2, n_contrib=50, max_iter=2000, seed=1,
                                                 model=form, radius_range_nm=(0.5, 5.0)))
    assert dist.form == form
    assert dist.config["model"] == "cylinder"
    assert dist.config["model_parameters"]["length_nm"] == 20.0
    path = saxs.write_result(tmp_path / "cyl.h5", curve, dist)
    _, back = saxs.read_result(path)
    assert back.form == form
    np.testing.assert_array_equal(back.radii_nm, dist.radii_nm)
    a, b = dist.histogram(bins=12), back.histogram(bins=12)
    np.testing.assert_array_equal(a.number_fraction, b.number_fraction)
    np.testing.assert_allclose(a.observability, b.observability, rtol=1e-12)


def test_bad_shapes_are_named():
    with pytest.raises(saxs.InputError, match=r"sphere.*cylinder|cylinder.*sphere|known"):
        saxs.MCConfig(model="no_such_shape")
    with pytest.raises(saxs.InputError, match="length_nm"):
        saxs.MCConfig(model="cylinder", model_parameters={"length_nm": -1.0})
    with pytest.raises(saxs.InputError, match="radius_nm"):
        saxs.MCConfig(model="sphere", model_parameters={"radius_nm": 1.0})
    with pytest.raises(saxs.InputError, match="wobble"):
        saxs.MCConfig(model="sphere", model_parameters={"wobble": 1.0})
