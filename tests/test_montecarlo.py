"""Monte Carlo size distributions: recovery of known distributions, histograms, bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import saxs
from saxs import Curve, InputError, MCConfig
from saxs.models.distributions import Species, spheres_intensity

PEER_CONTRAST = 33.4e-6 * 1e16  # the peer file's 33.4e-6 1/A^2, in 1/cm^2


@pytest.fixture
def peer_curve(shared_dir):
    path = shared_dir / "peers" / "data" / "synth_gauss_r1.0_s0.1_q0.1-8_n5pct.dat"
    truth = json.loads(path.with_suffix(".truth.json").read_text())
    return saxs.read_curve(path, intensity_unit="1/m"), truth


def test_recovers_the_peer_gaussian(peer_curve):
    """Volume-weighted mean radius within 2 %, total volume fraction within 5 %."""
    curve, truth = peer_curve
    dist = saxs.monte_carlo(curve, MCConfig(radius_range_nm=(0.3, 5.0), n_rep=10, seed=1,
                                            contrast_per_cm2=PEER_CONTRAST))
    assert dist.all_converged
    phi, phi_std = dist.total_volume_fraction
    assert phi == pytest.approx(truth["volume_fraction"], rel=0.05)
    assert phi_std < 0.01 * phi
    # moments over the informative range (pi/q_max = 0.39 nm excluded: MCSAS3.md §8)
    h = dist.histogram(bins=40, scale="log", range_nm=(0.5, 1.6))
    mean, mean_std = h.moments["mean_nm"]
    assert mean == pytest.approx(truth["volume_weighted"]["mean"], rel=0.02)
    assert mean_std < 0.01
    sd = math.sqrt(h.moments["variance_nm2"][0])
    assert sd == pytest.approx(truth["volume_weighted"]["sd"], rel=0.25)
    # the mean model follows the data
    model, _ = dist.model_mean
    assert np.mean(((dist.intensity - model) / dist.sigma) ** 2) < 1.1


def _bimodal(seed=3, noise=0.02):
    q = np.geomspace(0.1, 8, 100)
    pops = [Species(0.87, 1e-3, 0.015), Species(1.02, 1e-3, 0.015)]
    intensity = spheres_intensity(q, pops)
    sigma = noise * intensity
    noisy = intensity + np.random.default_rng(seed).normal(0, 1, q.size) * sigma
    return Curve(q, noisy, sigma, intensity_unit="1/cm")


def test_resolves_two_narrow_populations():
    """0.87 and 1.02 nm in equal volume: two peaks, volume ratio within 15 %.

    0.5 % errors, as a stack of frames gives at these q: with 2 % errors a fit as good as the
    truth (chi2_r ~ 1) does not need two separate peaks, and the chain stops before it finds
    them.
    """
    curve = _bimodal(noise=0.005)
    # a correct model has chi2_r ~ 1 +- sqrt(2/N): aim at the 2-sigma upper quantile
    conv = 1 + 2 * math.sqrt(2 / len(curve))
    dist = saxs.monte_carlo(curve, MCConfig(radius_range_nm=(0.3, 3.0), n_rep=10, seed=2,
                                            conv_crit=conv, sigma_floor_rel=0.0))
    assert np.median(dist.chi2_r) < 1.5
    h = dist.histogram(bins=30, scale="log", range_nm=(0.6, 1.5))
    v = h.volume_fraction
    peaks = [j for j in range(1, v.size - 1) if v[j] >= v[j - 1] and v[j] > v[j + 1]]
    top = sorted(sorted(peaks, key=lambda j: v[j])[-2:])
    centers = h.bin_centers_nm[top]
    width = np.log(h.bin_edges_nm[1] / h.bin_edges_nm[0])
    assert abs(np.log(centers[0] / 0.87)) <= 1.5 * width
    assert abs(np.log(centers[1] / 1.02)) <= 1.5 * width
    valley = top[0] + int(np.argmin(v[top[0]:top[1] + 1]))
    assert v[valley] < 0.5 * min(v[top])
    low = v[:valley].sum() + 0.5 * v[valley]
    high = v[valley + 1:].sum() + 0.5 * v[valley]
    assert low / high == pytest.approx(1.0, abs=0.15)
    assert (low + high) == pytest.approx(2e-3, rel=0.05)


def test_histogram_weightings_and_ranges():
    dist = saxs.monte_carlo(_bimodal(), MCConfig(radius_range_nm=(0.3, 3.0), n_rep=3, seed=4,
                                                 max_iter=3000))
    full = dist.histogram(bins=20, scale="linear", range_nm=(0.3, 3.0), weighting="number")
    assert full.weighting == "number"
    np.testing.assert_allclose(full.values, full.number_fraction)
    assert full.number_fraction.sum() == pytest.approx(1.0)
    assert full.volume_fraction.sum() == pytest.approx(dist.total_volume_fraction[0], rel=1e-12)
    # number density = volume fraction / particle volume, bin by bin for a single radius
    phi_c = dist.volume_fraction_per_contribution[0]
    r = dist.radii_nm[0, 0]
    edges = np.array([r * 0.999999, r * 1.000001])
    one = dist.histogram(bins=edges)
    n_in = np.sum((dist.radii_nm > edges[0]) & (dist.radii_nm < edges[1]), axis=1)
    assert one.volume_fraction[0] == pytest.approx(
        np.mean(dist.volume_fraction_per_contribution * n_in), rel=1e-12)
    assert phi_c > 0
    # observability (MCSAS3.md §4), evaluated from its definition for one bin
    assert np.all(full.observability > 0)
    j = int(np.argmax(full.volume_fraction))
    lo, hi = full.bin_edges_nm[j], full.bin_edges_nm[j + 1]
    per_rep = []
    for radii in dist.radii_nm:
        inside = radii[(radii >= lo) & (radii < hi)]
        x = np.outer(inside, dist.q)
        form = (3 * (np.sin(x) - x * np.cos(x)) / x**3) ** 2
        volume_cm3 = 4 / 3 * np.pi * inside**3 * 1e-21
        need = dist.sigma / (dist.contrast_per_cm2**2 * volume_cm3[:, None] * form)
        per_rep.append(np.mean(need.min(axis=1)))
    assert full.observability[j] == pytest.approx(max(per_rep), rel=1e-9)
    with pytest.raises(InputError, match="weighting"):
        dist.histogram(weighting="mass")
    with pytest.raises(InputError, match="scale"):
        dist.histogram(scale="sqrt")


def test_not_converged_is_flagged(caplog):
    curve = _bimodal()
    tight = Curve(curve.q, curve.intensity, curve.sigma / 50, intensity_unit="1/cm")
    dist = saxs.monte_carlo(tight, MCConfig(radius_range_nm=(0.3, 3.0), n_rep=2, seed=1,
                                            max_iter=500, sigma_floor_rel=0.0))
    assert not dist.all_converged
    assert "max_iter" in caplog.text


def test_data_handling_omit_and_floor():
    curve = _bimodal()
    cfg = MCConfig(q_range_nm=(0.2, 7.0), omit_q_ranges_nm=((1.0, 2.0),), sigma_floor_rel=0.05,
                   n_rep=1, max_iter=10, seed=0)
    data = saxs.montecarlo.prepare_data(curve, cfg)
    assert data.q.min() >= 0.2
    assert data.q.max() <= 7.0
    assert not np.any((data.q >= 1.0) & (data.q < 2.0))
    np.testing.assert_allclose(data.sigma, 0.05 * np.abs(data.intensity))
    rebinned = saxs.montecarlo.prepare_data(curve, MCConfig(rebin=20, sigma_floor_rel=0.0))
    assert 10 <= rebinned.q.size <= 20
    assert np.all(np.diff(rebinned.q) > 0)


@pytest.mark.parametrize(("changes", "field"), [
    ({"n_contrib": 0}, "n_contrib"), ({"n_rep": 1.5}, "n_rep"), ({"conv_crit": -1}, "conv_crit"),
    ({"radius_range_nm": (5.0, 1.0)}, "radius_range_nm"), ({"background": "zero"}, "background"),
    ({"seed": -3}, "seed"), ({"omit_q_ranges_nm": ((2.0, 1.0),)}, "omit_q_ranges_nm"),
    ({"sigma_floor_rel": -0.1}, "sigma_floor_rel"),
])
def test_impossible_config_values(changes, field):
    with pytest.raises(InputError, match=field):
        MCConfig(**changes)


def test_bad_curves():
    curve = _bimodal()
    with pytest.raises(InputError, match="at least 10"):
        saxs.monte_carlo(curve, MCConfig(q_range_nm=(7.9, 8.0)))
    with pytest.raises(InputError, match="radius_range_nm"):
        saxs.monte_carlo(curve, MCConfig(radius_range_nm=(200.0, 500.0)))
    with pytest.raises(InputError, match="sigma"):
        Curve(curve.q, curve.intensity, np.where(curve.q > 1, 0.0, curve.sigma))
    with pytest.raises(InputError, match="sigma"):
        Curve(curve.q, curve.intensity, np.where(curve.q > 1, np.nan, curve.sigma))


def test_result_stored_and_histograms_redone_from_file(tmp_path):
    curve = _bimodal()
    dist = saxs.monte_carlo(curve, MCConfig(radius_range_nm=(0.3, 3.0), n_rep=3, seed=7,
                                            max_iter=2000))
    path = saxs.write_result(tmp_path / "sample.h5", curve, dist)
    back_curve, back = saxs.read_result(path)
    np.testing.assert_array_equal(back_curve.intensity, curve.intensity)
    np.testing.assert_array_equal(back.radii_nm, dist.radii_nm)
    np.testing.assert_array_equal(back.converged, dist.converged)
    assert back.seed == 7
    assert back.config["n_rep"] == 3
    a = dist.histogram(bins=25, range_nm=(0.5, 2.0), weighting="number")
    b = back.histogram(bins=25, range_nm=(0.5, 2.0), weighting="number")
    np.testing.assert_array_equal(a.volume_fraction, b.volume_fraction)
    np.testing.assert_array_equal(a.number_fraction, b.number_fraction)
    np.testing.assert_array_equal(a.observability, b.observability)
    plain = saxs.write_curve(tmp_path / "plain.h5", curve)
    with pytest.raises(InputError, match="no Monte Carlo result"):
        saxs.read_distribution(plain)


def _peer_python():
    import os
    from pathlib import Path

    for candidate in (os.environ.get("SAXS_PEER_PYTHON"),
                      os.environ.get("PEER_VENV") and f"{os.environ['PEER_VENV']}/bin/python",
                      str(Path.home() / ".cache" / "mcsas3-peer-venv" / "bin" / "python")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


@pytest.mark.slow
def test_side_by_side_with_mcsas3(shared_dir):
    """Same curve and settings as McSAS3 1.4.1: the volume histograms agree within the combined
    repetition spread in at least 80 % of the bins that hold more than 2 % of the volume."""
    peer = _peer_python()
    if peer is None:
        pytest.skip("McSAS3 peer venv not installed (../shared/peers/SETUP.md)")
    from saxs_pipelines.bench import MC_CURVE, run_mc, run_peer

    run = {"n_rep": 10, "n_contrib": 300, "conv_crit": 1.0, "model": "sphere",
           "length_nm": 0.0, "r_min": 0.3, "r_max": 5.0}
    theirs = run_peer(peer, MC_CURVE, run)["histogram"]
    ours = run_mc(str(MC_CURVE), run)
    np.testing.assert_allclose(ours["bin_edges"], theirs["bin_edges"], rtol=1e-9)
    a, sa = np.array(ours["volume_fraction"]), np.array(ours["volume_fraction_std"])
    b, sb = np.array(theirs["volume_fraction_mean"]), np.array(theirs["volume_fraction_std"])
    total = 0.5 * (a.sum() + b.sum())
    big = (a > 0.02 * total) | (b > 0.02 * total)
    agree = np.abs(a - b) <= np.hypot(sa, sb)
    assert big.sum() >= 5
    assert agree[big].mean() >= 0.8
    assert a.sum() == pytest.approx(b.sum(), rel=0.02)


def test_alumina_usaxs_dominant_mode_matches_irena_and_sasview(shared_dir):
    """Irena and SasView fits of the alumina USAXS data (SasView test data): same q range,
    flat and q^-4 backgrounds subtracted as their settings file gives, errors x 1.9033,
    spheres D = 25-10000 Å. The dominant volume mode agrees with theirs within one bin."""
    base = shared_dir / "data" / "real" / "alumina_usaxs_sizedist"
    q_a, intensity, sigma = np.loadtxt(base / "Alumina_usaxs_irena_input.csv", delimiter=",").T
    settings = {row.split(",")[0]: row.split(",")[1]
                for row in (base / "InputParametersUsed4AluminaData.csv").read_text().splitlines()
                if not row.startswith("#")}
    q_lo, q_hi = float(settings["Qmin"]), float(settings["Qmax"])
    corrected = (intensity - float(settings["Flat Bkgd"])
                 - float(settings["Scale Bkgd"]) * q_a ** -float(settings["Power Bkgd"]))
    keep = (q_a >= q_lo) & (q_a <= q_hi)
    curve = Curve(q_a[keep] * 10, corrected[keep], sigma[keep] * float(settings["Weight Factor"]))
    r_min, r_max = float(settings["Min D"]) / 20, float(settings["Max D"]) / 20  # Å -> nm radius
    dist = saxs.monte_carlo(curve, MCConfig(radius_range_nm=(r_min, r_max), n_rep=10, seed=1,
                                            background="fixed", contrast_per_cm2=1.0,
                                            sigma_floor_rel=0.0))
    assert dist.all_converged
    h = dist.histogram(bins=50, scale="log", range_nm=(r_min, r_max))
    ours_d_a = 20 * h.bin_centers_nm[np.argmax(h.volume_fraction)]
    irena = np.loadtxt(base / "AluminaUSAXS_irenaSingleShotResults.csv", delimiter=",",
                       skiprows=1)
    sasview = np.loadtxt(base / "AluminaUSASX_sasviewSingleShotResults.csv", delimiter=",",
                         skiprows=1)
    log_bin = np.log(h.bin_edges_nm[1] / h.bin_edges_nm[0])
    for their_d in (irena[np.argmax(irena[:, 2]), 0], sasview[np.argmax(sasview[:, 1]), 0]):
        assert abs(np.log(ours_d_a / their_d)) < log_bin


def test_porod_background_is_fitted():
    q = np.geomspace(0.1, 7, 90)
    spheres = spheres_intensity(q, [Species(1.0, 1e-3, 0.1)])
    porod_true = 2e-3 * q**-4
    intensity = spheres + porod_true + 0.01
    sigma = 0.01 * intensity
    curve = Curve(q, intensity + np.random.default_rng(2).normal(0, 1, q.size) * sigma, sigma,
                  intensity_unit="1/cm")
    with_porod = saxs.monte_carlo(curve, MCConfig(radius_range_nm=(0.3, 3.0), n_rep=4, seed=3,
                                                  porod_background=True, sigma_floor_rel=0.0))
    without = saxs.monte_carlo(curve, MCConfig(radius_range_nm=(0.3, 3.0), n_rep=4, seed=3,
                                               sigma_floor_rel=0.0, max_iter=20000))
    c = with_porod.porod * q[0] ** 4  # c (q_min/q)^4 = c q_min^4 q^-4
    assert np.median(c) == pytest.approx(2e-3, rel=0.2)
    assert with_porod.all_converged
    assert np.median(with_porod.chi2_r) < np.median(without.chi2_r)
    model, _ = with_porod.model_mean
    assert np.mean(((with_porod.intensity - model) / with_porod.sigma) ** 2) < 1.2


def test_sphere_results_written_before_shapes_still_read():
    """tests/data/result_sphere_v0_1.h5 was written by saxs 0.1.0 before the models layer (no
    shape stored): it reads as spheres and gives the histogram that version computed."""
    data = Path(__file__).parent / "data"
    _curve, dist = saxs.read_result(data / "result_sphere_v0_1.h5")
    want = json.loads((data / "result_sphere_v0_1.json").read_text())
    assert dist.model["model"] == "sphere"
    assert dist.form == saxs.form_factor("sphere")
    h = dist.histogram(bins=10, range_nm=(0.3, 4.0))
    np.testing.assert_allclose(h.volume_fraction, want["volume_fraction"], rtol=1e-12)
    np.testing.assert_allclose(h.number_fraction, want["number_fraction"], rtol=1e-12)
    # observability now comes from the form-factor table (error < 1e-5 of the envelope)
    np.testing.assert_allclose(h.observability, want["observability"], rtol=1e-4)
    assert dist.total_volume_fraction[0] == pytest.approx(want["total"][0], rel=1e-12)
    config = MCConfig.from_dict(dist.config)
    assert config.form == saxs.form_factor("sphere")
