"""Blank subtraction, thickness division and absolute scaling."""

from __future__ import annotations

import numpy as np
import pytest

import saxs
from saxs import Curve, InputError
from saxs.io.lima import write_lima
from saxs.simulate import Beam, Beamstop, DetectorModel, Layer, simulate_stack


def _curve(intensity, sigma, q=None, unit="1/cm", name="c"):
    q = np.linspace(0.1, 3.0, len(intensity)) if q is None else q
    return Curve(q, intensity, sigma, intensity_unit=unit, metadata={"sample": name})


def test_subtract_values_and_error_propagation():
    sample = _curve([5.0, 4.0, 3.0], [0.3, 0.2, 0.1], name="s")
    blank = _curve([2.0, 2.0, 2.0], [0.4, 0.4, 0.4], name="b")
    out = saxs.subtract(sample, blank, solvent_volume_fraction=0.9, scale=0.5)
    np.testing.assert_allclose(out.intensity, [5 - 0.9, 4 - 0.9, 3 - 0.9])
    np.testing.assert_allclose(out.sigma, np.hypot([0.3, 0.2, 0.1], 0.45 * 0.4))
    assert out.metadata["blank"] == "b"
    assert out.provenance[-1].action == "subtract"
    assert out.provenance[-1].parameters["solvent_volume_fraction"] == 0.9


def test_two_step_subtraction_cancels_the_cell():
    q = np.linspace(0.1, 5, 40)
    cell = 0.02 + 0.001 / q**2
    signal = 1.0 / (1 + (q * 2) ** 2)
    solvent = 0.03
    vd = 0.998
    s = _curve(signal + vd * solvent + cell, np.full(40, 1e-3), q)
    b = _curve(solvent + cell, np.full(40, 1e-3), q)
    e = _curve(cell, np.full(40, 1e-3), q)
    out = saxs.subtract_blanks(s, b, e, solvent_volume_fraction=vd)
    # (s - e) - vd (b - e) = signal: the windows and the displaced solvent cancel
    np.testing.assert_allclose(out.intensity, signal, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(out.sigma, np.sqrt(2e-6 + vd**2 * 2e-6), rtol=1e-12)


def test_units_must_match_and_thickness():
    a = _curve([1.0, 2.0], [0.1, 0.1], unit="1/cm")
    b = _curve([1.0, 2.0], [0.1, 0.1], unit="arb")
    with pytest.raises(InputError, match="1/cm"):
        saxs.subtract(a, b)
    thin = saxs.divide_thickness(a, 0.1)
    np.testing.assert_allclose(thin.intensity, [10.0, 20.0])
    assert thin.metadata["thickness_cm"] == 0.1
    with pytest.raises(InputError, match="thickness"):
        saxs.divide_thickness(a, 0.0)


def test_glassy_carbon_closed_loop(tmp_path, shared_dir):
    """Frames of the NIST SRM 3600 standard, reduced with NormalizationFactor = 1, give back the
    factor that makes them absolute: the I1 diode gain over nothing else (NF = g1 / d).

    Certified curve: Allen et al. (2017), J. Appl. Cryst. 50, 462; thickness 1.055 mm.
    """
    certified = saxs.read_curve(
        shared_dir / "data/real/glassy_carbon_srm3600/nist_srm3600_certified_curve.csv",
        q_unit="1/A", intensity_unit="1/cm")
    log_q, log_i = np.log(certified.q), np.log(certified.intensity)

    def gc(q):
        return np.exp(np.interp(np.log(np.maximum(q, 1e-6)), log_q, log_i))

    geometry = saxs.Geometry(distance_m=2.0, poni1_m=0.020, poni2_m=0.021, pixel1_m=3e-4,
                             pixel2_m=3e-4, wavelength_m=1e-10, shape=(140, 140))
    detector = DetectorModel(geometry, beamstop=Beamstop(radius_px=5, arm_width_px=2), seed=9)
    beam = Beam(flux_ph_s=1e12, monitor_gain_i1=2e-6)
    thickness = 0.1055
    stack = simulate_stack(detector, [Layer("gc", thickness, gc)], transmission=0.6, n_frames=3,
                           exposure_time_s=1.0, beam=beam, rng=np.random.default_rng(2))
    header = {**geometry.to_header(), "Dummy": repr(detector.dummy), "DDummy": "0.1",
              "PolarizationFactor": "0.99"}
    path = tmp_path / "gc_saxs_00001.h5"
    write_lima(path, stack.frames, header)
    frames = saxs.read_frames(path, header_overrides={"Intensity1": 1.0})
    frames = frames.__class__(source=frames.source, header=frames.header,
                              geometry=frames.geometry, monitor_i1=stack.i1)
    mask = detector.beamstop_mask | detector.gap_mask | detector.dead_pixels
    reducer = saxs.Reducer(geometry, mask=mask, dark=detector.dark, flat=detector.flat, npt=60)
    measured = reducer.reduce(frames)
    assert measured.intensity_unit == "arb"
    scale = saxs.absolute_scale_factor(measured, certified, thickness)
    assert scale.factor == pytest.approx(beam.monitor_gain_i1, rel=3 * scale.sigma / scale.factor
                                         + 0.01)
    assert scale.sigma / scale.factor < 0.02
    absolute = saxs.apply_scale(saxs.divide_thickness(measured, thickness), scale)
    assert absolute.intensity_unit == "1/cm"
    inside = (absolute.q > certified.q[0]) & (absolute.q < certified.q[-1])
    ratio = absolute.intensity[inside] / gc(absolute.q[inside])
    assert np.median(ratio) == pytest.approx(1.0, abs=0.02)


def test_scale_factor_needs_overlap():
    a = _curve([1.0, 1.0, 1.0], [0.1] * 3, q=np.array([10.0, 11.0, 12.0]))
    b = _curve([1.0, 1.0, 1.0], [0.1] * 3, q=np.array([0.1, 0.2, 0.3]))
    with pytest.raises(InputError, match="fewer than 3"):
        saxs.absolute_scale_factor(a, b, 0.1)


def test_subtraction_keeps_the_sample_q_resolution():
    """The sample's dq follows the points kept (also when the blank covers only part of q)."""
    q = np.linspace(0.1, 3.0, 5)
    sample = Curve(q, [5.0, 4.0, 3.0, 2.0, 1.0], [0.1] * 5, intensity_unit="1/cm",
                   q_resolution=0.01 * q)
    blank = _curve([1.0, 1.0, 1.0], [0.1] * 3, q=np.linspace(0.1, 2.0, 3))
    out = saxs.subtract(sample, blank, interpolate=True)
    np.testing.assert_allclose(out.q_resolution, 0.01 * out.q)
    assert out.q.size == 3
