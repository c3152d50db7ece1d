"""The detector simulator, the scenario and the beamtime folder writer."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import yaml

import saxs
from saxs import InputError
from saxs.azimuthal import polarization, q_array_nm, solid_angle_sr
from saxs.simulate import (
    Beam,
    Beamstop,
    DetectorModel,
    Layer,
    Outliers,
    load_scenario,
    scenario_from_dict,
    simulate_stack,
    write_beamtime,
)
from saxs.simulate.models import FlatBackground

DK = 0.005  # window thickness of the mini scenario, cm


@pytest.fixture
def detector(small_geometry):
    return DetectorModel(small_geometry, gap_rows=((10, 12),), gap_cols=((40, 41),),
                         beamstop=Beamstop(radius_px=3, arm_width_px=2), seed=3)


def test_detector_invalid_pixels_and_beamstop(detector, rng):
    frame = detector.expose(np.full(detector.shape, 100.0), rng)
    assert frame.dtype == np.int32
    assert np.all(frame[10:12] == -10)
    assert np.all(frame[:, 40] == -10)
    assert np.all(frame[detector.dead_pixels] == -10)
    assert detector.beamstop_shadow.sum() > 20
    assert detector.beamstop_mask.sum() > detector.beamstop_shadow.sum()  # margin
    assert np.all(detector.beamstop_mask[detector.beamstop_shadow])


def test_unsigned_detector_marks_invalid_with_maximum(small_geometry, rng):
    det = DetectorModel(small_geometry, gap_rows=((0, 1),), dtype="uint32")
    assert det.dummy == 2**32 - 1
    frame = det.expose(np.full(det.shape, 5.0), rng)
    assert np.all(frame[0] == 2**32 - 1)
    with pytest.raises(InputError, match="dummy"):
        DetectorModel(small_geometry, dtype="uint16", dummy=-10)


def test_normalised_counts_recover_cross_section(detector):
    """(raw - dark) / (I1/g1 * Omega * P * flat) = sum of d * dSigma, to Poisson precision."""
    level = 0.3  # 1/cm
    layers = [Layer("liquid", 0.15, FlatBackground(level).intensity)]
    beam = Beam(flux_ph_s=2e13, flux_jitter=0.02, monitor_gain_i1=1e-6)
    stack = simulate_stack(detector, layers, transmission=0.7, n_frames=8, exposure_time_s=0.1,
                           beam=beam, rng=np.random.default_rng(7))
    geometry = detector.geometry
    response = (solid_angle_sr(geometry) * polarization(geometry, 0.99) * detector.flat)
    valid = ~(detector.gap_mask | detector.dead_pixels | detector.beamstop_mask)
    norm = [(f - detector.dark)[valid] * beam.monitor_gain_i1 / (i1 * response[valid] * 0.15)
            for f, i1 in zip(stack.frames.astype(float), stack.i1, strict=True)]
    mean = np.mean(norm)
    counts = stack.frames[:, valid].astype(float).sum()
    assert mean == pytest.approx(level, rel=4 / np.sqrt(counts))
    # I1 follows the flux: its spread is the jitter
    assert np.std(stack.i0) / np.mean(stack.i0) == pytest.approx(0.02, rel=0.8)
    np.testing.assert_allclose(stack.i1 / stack.i0, 0.7)


def test_outlier_frames(detector):
    layers = [Layer("liquid", 0.15, FlatBackground(0.5).intensity)]
    stack = simulate_stack(detector, layers, transmission=0.8, n_frames=5, exposure_time_s=0.1,
                           beam=Beam(flux_ph_s=2e13, flux_jitter=0.0),
                           rng=np.random.default_rng(1),
                           outliers=Outliers(bubble_frames=(3,), zingers_per_frame=3))
    totals = stack.frames.clip(0).sum(axis=(1, 2)).astype(float)
    assert totals[3] < 0.7 * np.median(totals)
    assert stack.i1[3] == pytest.approx(0.9 * stack.i1[0])
    assert stack.zingers
    for k, r, c in stack.zingers:
        assert stack.frames[k, r, c] > 4000
    with pytest.raises(InputError, match="outside"):
        simulate_stack(detector, layers, transmission=0.8, n_frames=2, exposure_time_s=0.1,
                       beam=Beam(), rng=np.random.default_rng(1),
                       outliers=Outliers(bubble_frames=(5,)))


def _mini_scenario(**changes):
    data = {
        "version": 1, "seed": 5, "collection": "mini",
        "beam": {"energy_kev": 12.4, "flux_ph_s": 1e13},
        "detector": {"name": "eiger2", "shape": [40, 44], "pixel_size_m": 1e-3,
                     "distance_m": 0.4, "center_px": [21.3, 19.6], "binning": [2, 2],
                     "beamstop": {"radius_px": 2, "arm_width_px": 1}},
        "acquisition": {"frames": 2, "exposure_time_s": 0.05, "dark_frames": 3},
        "cell": {"window_thickness_cm": DK, "transmission": 0.98, "window": {}},
        "solvent": {"level_per_cm": 0.03, "transmission": 0.8},
        "measurements": [
            {"name": "empty", "kind": "empty_cell"},
            {"name": "ode", "kind": "solvent"},
            {"name": "np", "kind": "sample", "temperature_c": 200, "populations": [
                {"radius_nm": 1.0, "rel_width": 0.02, "volume_fraction": 1e-3}]},
            {"name": "meso", "kind": "precursor", "temperature_c": 25, "bragg_peaks": [
                {"q_nm": 1.84, "fwhm_nm": 0.1, "height_per_cm": 2.0}]},
        ],
    }
    data.update(changes)
    return data


def test_beamtime_folder_reads_back(tmp_path):
    scenario = scenario_from_dict(_mini_scenario())
    files = write_beamtime(scenario, tmp_path / "bt")
    with files.sample_sheet.open() as handle:
        rows = list(csv.DictReader(handle))
    by_name = {r["sample"]: r for r in rows}
    assert by_name["np"]["blank"] == "ode"
    assert by_name["ode"]["blank"] == "empty"
    assert by_name["np"]["empty_cell"] == "empty"
    assert float(by_name["np"]["solvent_volume_fraction"]) == pytest.approx(0.999)
    stack = saxs.read_frames(tmp_path / "bt" / by_name["np"]["file"])
    assert len(stack) == 2
    assert stack.header.title == "np"
    ai_file, ai_sim = stack.geometry.integrator(), scenario.detector.geometry.integrator()
    for name in ("poni1", "poni2", "dist", "rot1", "rot2", "rot3", "wavelength"):
        assert getattr(ai_file, name) == pytest.approx(getattr(ai_sim, name), abs=1e-12)
    again = saxs.simulate.simulate_measurement(scenario, scenario.measurement("np"))
    np.testing.assert_array_equal(stack[:], again.frames)  # seeded: bit-identical
    np.testing.assert_allclose(stack.monitor_i1, again.i1, rtol=1e-12)
    assert stack.geometry.binning == (2, 2)
    mask = saxs.read_mask(files.calib["mask_beamstop"], stack.frame_shape)
    np.testing.assert_array_equal(mask, scenario.detector.beamstop_mask)
    flat = saxs.read_flat(files.calib["flat"], stack.frame_shape)
    np.testing.assert_allclose(flat, scenario.detector.flat, rtol=1e-6)
    assert saxs.Geometry.from_poni(files.calib["poni"]).distance_m == pytest.approx(0.4)
    truth = np.loadtxt(files.truth["np"], delimiter=",", skiprows=3)
    assert truth[0, 2] > truth[-1, 2] > 0  # signal falls with q
    with pytest.raises(InputError, match="not empty"):
        write_beamtime(scenario, tmp_path / "bt")


def test_normalization_factor_gives_per_cm_of_sample(tmp_path):
    """Raw counts normalised as ID02 does (ID02.md §3.1) equal content + windows in 1/cm."""
    scenario = scenario_from_dict(_mini_scenario(acquisition={"frames": 6, "dark_frames": 50}))
    files = write_beamtime(scenario, tmp_path / "bt")
    stack = saxs.read_frames(files.raw["np"])
    g = stack.geometry
    dark = saxs.read_dark(files.calib["dark"], g.shape)
    flat = saxs.read_flat(files.calib["flat"], g.shape)
    invalid = (saxs.read_mask(files.calib["mask_gaps"], g.shape)
               | saxs.read_mask(files.calib["mask_beamstop"], g.shape)
               | np.any(stack[:] == stack.dummy, axis=0) | (flat <= 0))
    nf = stack.header.number("NormalizationFactor")
    pf = stack.header.number("PolarizationFactor")
    raw = stack[:].astype(float)
    response = solid_angle_sr(g) * polarization(g, pf) * flat
    norm = np.mean([(raw[k] - dark) * nf / (stack.monitor_i1[k] * np.where(invalid, 1, response))
                    for k in range(len(stack))], axis=0)
    q = q_array_nm(g)
    m = scenario.measurement("np")
    truth = m.content.intensity(q) + scenario.cell.window.intensity(q) * DK / 0.15
    valid = ~invalid
    counts = raw[:, valid].sum()
    ratio = norm[valid].sum() / truth[valid].sum()
    assert ratio == pytest.approx(1.0, abs=5 / np.sqrt(counts))


def test_scenario_validation_errors(tmp_path):
    with pytest.raises(InputError, match=r"unknown key.*'colour'"):
        scenario_from_dict(_mini_scenario(colour="red"))
    bad = _mini_scenario()
    bad["measurements"][2]["kind"] = "soup"
    with pytest.raises(InputError, match=r"measurements\[2\]\.kind.*soup"):
        scenario_from_dict(bad)
    bad = _mini_scenario()
    bad["measurements"][2]["populations"][0]["radius_nm"] = -1
    with pytest.raises(InputError, match="radius_nm"):
        scenario_from_dict(bad)
    bad = _mini_scenario()
    del bad["solvent"]["level_per_cm"]
    with pytest.raises(InputError, match="level_per_cm"):
        scenario_from_dict(bad)
    with pytest.raises(InputError, match="version"):
        scenario_from_dict(_mini_scenario(version=9))
    path = tmp_path / "s.yaml"
    path.write_text("seed: [unclosed")
    with pytest.raises(InputError, match=r"s\.yaml.*YAML"):
        load_scenario(path)


def test_edf_file_format(tmp_path):
    data = _mini_scenario(acquisition={"frames": 2, "file_format": "edf"})
    files = write_beamtime(scenario_from_dict(data), tmp_path / "bt")
    stack = saxs.read_frames(files.raw["np"])
    assert files.raw["np"].suffix == ".edf"
    assert len(stack) == 2
    assert stack.monitor_i1 is not None
    assert np.all(stack.monitor_i1 > 0)


def test_shipped_scenario_is_valid():
    path = Path(__file__).resolve().parents[1] / "data_samples" / "scenario.yaml"
    scenario = load_scenario(path)
    names = [m.name for m in scenario.measurements]
    assert "solvent_ode" in names
    assert "empty_cell" in names
    temps = [m.temperature_c for m in scenario.measurements if m.series ==
             "nucleation_temperature"]
    assert temps == list(range(190, 290, 10))
    radii = {m.temperature_c: sorted(p.radius_nm for p in m.populations)
             for m in scenario.measurements if m.kind == "sample"}
    assert radii[190] == [0.87]
    assert radii[230] == [0.94, 1.02]
    q = scenario.detector.q_nm
    assert q.max() > 7.0
    assert q[~scenario.detector.beamstop_mask].min() < 0.2
    assert yaml.safe_load(path.read_text())["seed"] == scenario.seed
