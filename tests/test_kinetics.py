"""Kinetics of a time-resolved series (saxs.kinetics): closed loop on the stopped-flow scenario,
the sequential model against its differential equations, and the input errors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy.integrate import solve_ivp

import saxs
from saxs.curve import Curve
from saxs.framecurves import FrameCurves
from saxs.kinetics import SpeciesTrace, bin_curves, fit_sequential, number_fractions
from saxs.simulate import write_beamtime
from saxs.simulate.scenario import scenario_from_dict

SCENARIO = Path(__file__).resolve().parents[1] / "data_samples" / "stopped_flow.yaml"


def _stopped_flow(root: Path, seed: int | None = None):
    """Simulate the stopped-flow scenario (optionally another seed) and reduce it per frame."""
    data = yaml.safe_load(SCENARIO.read_text())
    if seed is not None:
        data["seed"] = seed
    scenario = scenario_from_dict(data, source=str(SCENARIO))
    files = write_beamtime(scenario, root)
    stacks = {name: saxs.read_frames(path) for name, path in files.raw.items()}
    reducer = saxs.Reducer(stacks["stopped_flow"].geometry,
                           mask=[files.calib["mask_gaps"], files.calib["mask_beamstop"]],
                           dark=files.calib["dark"], flat=files.calib["flat"], npt=300,
                           intensity_unit="1/cm")
    frames = reducer.integrate_frames(stacks["stopped_flow"])
    m = scenario.measurement("stopped_flow")
    return (frames, reducer.reduce(stacks["solvent_ode"]), reducer.reduce(stacks["empty_cell"]),
            m)


def _follow(frames, solvent, empty, m, seed: int):
    return saxs.follow_kinetics(frames, blank=solvent, empty_cell=empty,
                                solvent_volume_fraction=m.solvent_volume_fraction,
                                interpolate=True,
                                config=saxs.MCConfig(radius_range_nm=(0.3, 4.0), n_rep=8,
                                                     seed=seed),
                                resolution=saxs.monodisperse_width)


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    frames, solvent, empty, m = _stopped_flow(tmp_path_factory.mktemp("sflow"))
    return _follow(frames, solvent, empty, m, seed=1), m


def test_frame_times_come_from_the_scaler_file(shipped):
    result, m = shipped
    np.testing.assert_allclose(result.time_s, m.kinetics.times_s(m.n_frames), atol=1e-6)


def test_species_found_with_their_radii(shipped):
    result, _ = shipped
    kinds = [(s.name, s.kind) for s in result.species]
    assert kinds[:2] == [("A", "quantized"), ("B", "quantized")]
    assert result.species[-1].kind == "continuous"
    a, b = result.trace("A"), result.trace("B")
    # the radius spread of the Monte Carlo at this size is ~3 % (its reconstruction width)
    assert a.radius_nm == pytest.approx(0.87, abs=0.03)
    assert b.radius_nm == pytest.approx(0.94, abs=0.03)
    assert np.all(a.volume_fraction_err > 0)
    assert np.all(b.volume_fraction_err > 0)
    # A decays and B grows: first and last thirds
    assert a.volume_fraction[:3].mean() > 3 * a.volume_fraction[-3:].mean()
    assert b.volume_fraction[-3:].mean() > 3 * b.volume_fraction[:3].mean()


def test_rate_constant_recovered_within_its_uncertainty(shipped):
    result, m = shipped
    fit = result.rate_fit
    assert fit.model == "A->B"
    k, err = fit.rate_per_s[0], fit.rate_err_per_s[0]
    assert err is not None
    assert 0 < err < 0.2 * k
    assert abs(k - m.kinetics.rate_per_s) <= err


def test_growth_onset_within_one_frame_period(shipped):
    result, m = shipped
    onset = result.onset
    assert onset is not None
    assert onset.time_err_s is not None
    assert onset.time_err_s > 0
    # the frames sample the reaction every frame_period_s: the onset is located to that
    assert abs(onset.time_s - m.kinetics.growth.onset_s) < m.kinetics.frame_period_s
    assert onset.growth_per_s == pytest.approx(
        m.kinetics.growth.volume_fraction_rate_per_s, rel=0.2)


def test_report_and_table(shipped):
    result, _ = shipped
    text = result.report()
    assert "rate constant k1 (A -> B)" in text
    assert "continuous growth" in text
    rows = result.table()
    assert len(rows) == result.time_s.size
    assert {"time_s", "phi_A", "phi_A_err", "model_A", "model_B"} <= set(rows[0])
    import json

    data = json.loads(json.dumps(result.to_dict()))
    assert data["rate_fit"]["rate_per_s"] == list(result.rate_fit.rate_per_s)
    assert [s["name"] for s in data["species"]] == [s.name for s in result.species]
    assert "distributions" not in data
    assert data["series"]["continuous_onset"] == result.series.continuous_onset


@pytest.mark.slow
def test_rate_and_onset_uncertainties_honest_over_ten_seeds(tmp_path):
    """The truth within 2 sigma for at least 8 of 10 independent simulations (each seed draws
    new detector noise and Monte Carlo repetitions), for the rate constant and for the onset
    of continuous growth."""
    inside, onset_inside, values = 0, 0, []
    for seed in range(10):
        frames, solvent, empty, m = _stopped_flow(tmp_path / f"s{seed}", seed=100 + seed)
        result = _follow(frames, solvent, empty, m, seed=seed)
        k, err = result.rate_fit.rate_per_s[0], result.rate_fit.rate_err_per_s[0]
        onset = result.onset
        values.append((k, err, onset.time_s, onset.time_err_s))
        inside += abs(k - m.kinetics.rate_per_s) <= 2 * err
        onset_inside += abs(onset.time_s - m.kinetics.growth.onset_s) <= 2 * onset.time_err_s
    assert inside >= 8, values
    assert onset_inside >= 8, values


# ------------------------------------------------------------------- the sequential model


def test_number_fractions_solve_the_rate_equations():
    k1, k2 = 0.3, 0.11
    t = np.linspace(0, 40, 81)
    sol = solve_ivp(lambda _t, n: [-k1 * n[0], k1 * n[0] - k2 * n[1], k2 * n[1]], (0, 40),
                    [1.0, 0.0, 0.0], t_eval=t, rtol=1e-12, atol=1e-14, method="DOP853")
    np.testing.assert_allclose(number_fractions(t, (k1, k2), 3), sol.y, atol=1e-9)
    two = number_fractions(t, (k1,), 2)
    np.testing.assert_allclose(two, sol.y[:1].repeat(2, 0) * [[1], [-1]] + [[0], [1]],
                               atol=1e-12)
    # equal rates: the limit k1 t exp(-k1 t)
    np.testing.assert_allclose(number_fractions(t, (k1, k1), 3)[1], k1 * t * np.exp(-k1 * t),
                               atol=1e-12)


def _trace(name, t, phi, err):
    return SpeciesTrace(name=name, kind="quantized", radius_nm=1.0, radius_err_nm=0.01,
                        time_s=t, volume_fraction=phi, volume_fraction_err=err,
                        present=np.ones(t.size, dtype=bool))


def test_three_species_fit_coverage():
    """A -> B -> C with Gaussian noise of known sigma: the truth within 1 sigma of k1 and k2 in
    68 % of 60 fits (binomial 1-sigma band 6 %: accept 0.50..0.86)."""
    k1, k2 = 0.25, 0.08
    scales = np.array([1.0e-3, 1.3e-3, 1.6e-3])
    t = np.linspace(0, 40, 21)
    truth = scales[:, None] * number_fractions(t, (k1, k2), 3)
    sigma = 3e-5
    hits = np.zeros(2)
    for seed in range(60):
        rng = np.random.default_rng(seed)
        noisy = truth + rng.normal(0, sigma, truth.shape)
        traces = [_trace(n, t, noisy[i], np.full(t.size, sigma)) for i, n in enumerate("ABC")]
        fit = fit_sequential(traces, 3)
        assert fit.model == "A->B->C"
        assert fit.success
        for j, k in enumerate((k1, k2)):
            hits[j] += abs(fit.rate_per_s[j] - k) <= fit.rate_err_per_s[j]
    assert np.all((hits / 60 >= 0.50) & (hits / 60 <= 0.86)), hits


# ------------------------------------------------------------------- input errors


def _curves(n: int) -> list[Curve]:
    q = np.linspace(0.2, 7.0, 120)
    return [Curve(q, 1.0 + 0.01 * k + 0 * q, np.full(q.size, 0.01)) for k in range(n)]


def test_missing_time_axis_is_an_input_error():
    with pytest.raises(saxs.InputError, match="no time axis"):
        saxs.follow_kinetics(_curves(6))
    q = np.linspace(0.2, 7.0, 50)
    frames = FrameCurves(q=q, intensity=np.ones((4, q.size)), sigma=np.ones((4, q.size)),
                         count=np.ones((4, q.size)), frame_range=[[k, k + 1] for k in range(4)],
                         time_s=None, monitor=np.ones(4))
    with pytest.raises(saxs.InputError, match="no time axis"):
        saxs.follow_kinetics(frames)


@pytest.mark.parametrize(("times", "words"), [
    ([0.0, 1.0, 2.0], "6 curves but 3 times"),
    ([0.0, 1.0, 1.0, 3.0, 4.0, 5.0], "strictly increasing"),
    ([0.0, 1.0, math.nan, 3.0, 4.0, 5.0], "finite"),
])
def test_bad_times_are_input_errors(times, words):
    with pytest.raises(saxs.InputError, match=words):
        saxs.follow_kinetics(_curves(6), times)


def test_too_few_points_for_the_rate_model():
    with pytest.raises(saxs.InputError, match="2 time points; a kinetics needs at least 3"):
        saxs.follow_kinetics(_curves(2), [0.0, 1.0])
    with pytest.raises(saxs.InputError, match="2 time points"):
        saxs.follow_kinetics(_curves(6), np.arange(6.0), bin_frames=3)
    t = np.arange(4.0)
    traces = [_trace(n, t, np.full(4, 1e-3), np.full(4, 1e-4)) for n in "ABC"]
    with pytest.raises(saxs.InputError, match="4 times for a 3-species model with 5 parameters"):
        fit_sequential(traces, 3)


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"model": "A->C"}, "model 'A->C'"),
    ({"bin_frames": 0}, "bin_frames"),
    ({"fraction_floor_rel": 1.5}, "fraction_floor_rel"),
])
def test_bad_settings_are_input_errors(kwargs, words):
    with pytest.raises(saxs.InputError, match=words):
        saxs.follow_kinetics(_curves(6), np.arange(6.0), **kwargs)


def test_kinetics_library_imports_no_simulator_nor_pipelines():
    text = (Path(saxs.__file__).parent / "kinetics.py").read_text()
    assert "saxs.simulate" not in text
    assert "saxs_pipelines" not in text


def test_bin_curves_averages_consecutive_curves():
    q = np.linspace(0.2, 7.0, 30)
    curves = [Curve(q, np.full(q.size, 1.0 + k), np.full(q.size, 0.1 * (k + 1)))
              for k in range(5)]
    binned, times = bin_curves(curves, np.array([0.0, 2.0, 4.0, 6.0, 8.0]), 2)
    np.testing.assert_array_equal(times, [0.0, 4.0, 8.0])
    assert [c.metadata["frames_binned"] for c in binned] == [2, 2, 1]
    np.testing.assert_allclose(binned[0].intensity, 1.5, rtol=1e-15)
    np.testing.assert_allclose(binned[1].sigma, np.hypot(0.3, 0.4) / 2, rtol=1e-15)
    np.testing.assert_allclose(binned[2].intensity, 5.0, rtol=1e-15)
    np.testing.assert_allclose(binned[2].sigma, 0.5, rtol=1e-15)
