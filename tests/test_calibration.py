"""saxs.calibrate (geometry from a calibrant frame) and saxs.q_calibration (1-D q scale).

Uncertainties are standard uncertainties from the full covariance of the weighted 2theta
residuals, or a bootstrap over whole rings when larger (saxs/calibration.py). The closed loop
checks the issue's absolute tolerances (distance 0.1 %, beam centre 0.5 px, tilts 0.1 deg)
and that the truth lies within COVERAGE = 3 standard uncertainties of every refined
parameter (k = 3: about 99.7 % for a normal error; 5 parameters x 6 frames are checked).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import saxs
from saxs.geometry import Geometry
from saxs.simulate.calibrant import simulate_calibrant
from saxs.simulate.detector import Beamstop

PX = 172e-6


def _geometry(dist, c1, c2, rot1_deg, rot2_deg, wavelength_nm=0.1541, shape=(640, 640),
              px=PX):
    return Geometry(distance_m=dist, poni1_m=c1 * px, poni2_m=c2 * px, pixel1_m=px,
                    pixel2_m=px, wavelength_m=wavelength_nm * 1e-9, shape=shape,
                    rot1_rad=math.radians(rot1_deg), rot2_rad=math.radians(rot2_deg))


def _beam_centre(geometry):
    fit2d = geometry.integrator().getFit2D()
    return fit2d["centerY"], fit2d["centerX"]


COVERAGE = 3.0


def _check(calibration, truth, n_sigma=COVERAGE):
    g, u = calibration.geometry, calibration.uncertainty
    assert g.distance_m == pytest.approx(truth.distance_m, rel=1e-3)
    assert abs(g.distance_m - truth.distance_m) <= n_sigma * u["distance_m"]
    row, col = _beam_centre(truth)
    assert calibration.beam_center_px[0] == pytest.approx(row, abs=0.5)
    assert calibration.beam_center_px[1] == pytest.approx(col, abs=0.5)
    for name in ("poni1_m", "poni2_m", "rot1_rad", "rot2_rad"):
        assert abs(getattr(g, name) - getattr(truth, name)) <= n_sigma * u[name], name
    for name in ("rot1_rad", "rot2_rad"):
        assert abs(math.degrees(getattr(g, name) - getattr(truth, name))) < 0.1


SLOW = pytest.mark.slow
CASES = [  # calibrant, distance, PONI (px), tilts (deg), wavelength, beamstop
    pytest.param("AgBh", 0.15, (200.3, 410.7), (-4.0, 3.0), 0.1541, True, marks=SLOW),
    ("AgBh", 0.3, (320.2, 300.4), (2.0, -3.0), 0.1541, True),
    pytest.param("AgBh", 0.6, (-60.2, 300.4), (3.0, 2.0), 0.1541, False,  # centre off
                 marks=SLOW),
    ("LaB6", 0.2, (320.5, 330.2), (5.0, -2.0), 0.1, True),
    pytest.param("LaB6", 0.3, (600.5, -40.2), (-3.0, -4.0), 0.1, False,  # centre off
                 marks=SLOW),
    pytest.param("LaB6", 0.25, (300.5, 300.2), (1.0, 1.0), 0.08, True, marks=SLOW),
]


@pytest.mark.parametrize(("calibrant", "dist", "poni", "tilts", "wavelength", "stop"), CASES)
def test_closed_loop(calibrant, dist, poni, tilts, wavelength, stop):
    truth = _geometry(dist, *poni, *tilts, wavelength_nm=wavelength)
    frame = simulate_calibrant(truth, calibrant, gap_rows=[(300, 317)], gap_cols=[(450, 457)],
                               beamstop=Beamstop(radius_px=12) if stop else None, seed=3)
    result = saxs.calibrate(frame.image, calibrant, wavelength_nm=wavelength, pixel_size_m=PX,
                            mask=frame.mask)
    _check(result, truth)
    assert len(result.rings) >= 2
    assert all(r.n_points > 0 for r in result.rings)
    assert result.rms_residual_px < 0.5


@pytest.mark.slow
def test_several_calibrants_in_one_frame():
    truth = _geometry(0.25, 300.5, 330.2, 1.0, -2.0, wavelength_nm=0.1)
    frame = simulate_calibrant(truth, "AgBh+LaB6", beamstop=Beamstop(radius_px=12), seed=4)
    result = saxs.calibrate(frame.image, ["AgBh", "LaB6"], wavelength_nm=0.1, pixel_size_m=PX,
                            mask=frame.mask)
    _check(result, truth)
    assert result.calibrant == "AgBh+LaB6"


def test_write_poni_and_provenance(tmp_path):
    truth = _geometry(0.3, 300, 320, 1.0, -1.5, shape=(512, 512))
    frame = simulate_calibrant(truth, "AgBh", beamstop=Beamstop(radius_px=12), seed=5)
    result = saxs.calibrate(frame.image, "agbh", wavelength_nm=0.1541, pixel_size_m=PX,
                            mask=frame.mask, fix=("rot3",))
    path = result.write_poni(tmp_path / "geometry.poni")
    back = Geometry.from_poni(path)
    assert back.distance_m == pytest.approx(result.geometry.distance_m, rel=1e-12)
    with pytest.raises(saxs.InputError, match="exists"):
        result.write_poni(path)
    summary = result.to_dict()
    assert summary["calibrant"] == "AgBh"
    assert set(summary["uncertainty"]) == {"distance_m", "poni1_m", "poni2_m", "rot1_rad",
                                           "rot2_rad"}
    assert "rot3" in summary["fixed"]
    assert "distance" in result.report()


def test_fixed_tilts_stay():
    truth = _geometry(0.3, 300, 320, 0.0, 0.0, shape=(512, 512))
    frame = simulate_calibrant(truth, "AgBh", seed=6)
    result = saxs.calibrate(frame.image, "AgBh", wavelength_nm=0.1541, pixel_size_m=PX,
                            fix=["rot1", "rot2", "rot3"])
    assert result.geometry.rot1_rad == 0.0
    assert result.geometry.rot2_rad == 0.0
    assert "rot1_rad" not in result.uncertainty
    assert result.geometry.distance_m == pytest.approx(0.3, rel=1e-3)


@pytest.mark.slow
def test_eiger2_4m():
    from saxs.simulate.calibrant import eiger2_4m_gaps

    rows, cols = eiger2_4m_gaps()
    truth = _geometry(1.0, 1100.5, 1000.2, 1.0, -2.0, wavelength_nm=0.1, shape=(2162, 2068),
                      px=75e-6)
    frame = simulate_calibrant(truth, "AgBh", gap_rows=rows, gap_cols=cols,
                               beamstop=Beamstop(radius_px=30), seed=7)
    result = saxs.calibrate(frame.image, "AgBh", wavelength_nm=0.1, pixel_size_m=75e-6,
                            mask=frame.mask)
    _check(result, truth)


@pytest.mark.slow
@pytest.mark.parametrize("dist", [0.3, 1.0])
def test_doublet_rings(dist):
    """Each ring with a second reflection 1.73 % higher in q, 0.45 as high (like the real
    AgBh frames): the control points follow the calibrant's component."""
    truth = _geometry(dist, 320.2, 300.4, 1.0, -1.0)
    frame = simulate_calibrant(truth, "AgBh", gap_rows=[(300, 317)], gap_cols=[(450, 457)],
                               beamstop=Beamstop(radius_px=12), satellite=(0.0173, 0.45),
                               seed=3)
    result = saxs.calibrate(frame.image, "AgBh", wavelength_nm=0.1541, pixel_size_m=PX,
                            mask=frame.mask)
    assert result.geometry.distance_m == pytest.approx(dist, rel=1e-3)
    row, col = _beam_centre(truth)
    assert result.beam_center_px[0] == pytest.approx(row, abs=0.5)
    assert result.beam_center_px[1] == pytest.approx(col, abs=0.5)
    assert sum(r.doublet for r in result.rings) >= 2


def test_undetermined_tilts_are_fixed_and_said():
    """Two weak rings on a small detector (frame 155's layout): the tilts are not determined,
    so they are fixed at zero, the result says so, and centre and distance stay right."""
    truth = _geometry(1.0, 350.2, 200.4, 0.0, 0.0, wavelength_nm=0.15418, shape=(619, 487))
    frame = simulate_calibrant(truth, "AgBh", gap_rows=[(195, 212), (407, 424)],
                               beamstop=Beamstop(radius_px=10), peak_counts=10.0, seed=5)
    result = saxs.calibrate(frame.image, "AgBh", wavelength_nm=0.15418, pixel_size_m=PX,
                            mask=frame.mask)
    assert {"rot1", "rot2"} <= set(result.fixed)
    assert any("tilts fixed at 0" in note for note in result.notes)
    assert "tilts fixed at 0" in result.report()
    assert result.geometry.distance_m == pytest.approx(1.0, rel=1e-3)
    assert abs(result.geometry.distance_m - 1.0) <= COVERAGE * result.uncertainty["distance_m"]
    row, col = _beam_centre(truth)
    assert result.beam_center_px[0] == pytest.approx(row, abs=0.5)
    assert result.beam_center_px[1] == pytest.approx(col, abs=0.5)


# bad input -----------------------------------------------------------------------------------
def test_no_rings(tmp_path, rng):
    image = rng.poisson(20.0, (256, 256)).astype(float)
    with pytest.raises(saxs.InputError, match="no calibrant ring"):
        saxs.calibrate(image, "AgBh", wavelength_nm=0.1541, pixel_size_m=PX)
    assert not list(tmp_path.iterdir())


def test_wrong_wavelength():
    truth = _geometry(0.3, 300, 320, 0.0, 0.0, shape=(512, 512))
    frame = simulate_calibrant(truth, "AgBh", seed=8)
    # Angstrom given as nm: the first order sits at 2theta = 15 deg, the rings cannot index
    with pytest.raises(saxs.InputError, match="do not match AgBh"):
        saxs.calibrate(frame.image, "AgBh", wavelength_nm=1.541, pixel_size_m=PX)


def test_unknown_calibrant_lists_the_known_ones():
    with pytest.raises(saxs.InputError, match=r"not known.*AgBh.*LaB6"):
        saxs.calibrate(np.zeros((64, 64)), "Unobtainium", wavelength_nm=0.1,
                       pixel_size_m=PX)


def test_missing_wavelength_and_bad_fix():
    with pytest.raises(saxs.InputError, match="wavelength"):
        saxs.calibrate(np.zeros((64, 64)), "AgBh", pixel_size_m=PX)
    with pytest.raises(saxs.InputError, match="cannot fix"):
        saxs.calibrate(np.zeros((64, 64)), "AgBh", wavelength_nm=0.1, pixel_size_m=PX,
                       fix=["tilt"])


# real data -----------------------------------------------------------------------------------
AGBH_Q1 = 1.0763   # 1/nm: 2 pi / 5.8380 nm (Huang et al. 1993), the README's n x 1.0763


def _pv(x, centre, fwhm, eta):
    sigma = fwhm / (2 * math.sqrt(2 * math.log(2)))
    gauss = np.exp(-0.5 * ((x - centre) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
    lorentz = (fwhm / 2) / (math.pi * ((x - centre) ** 2 + (fwhm / 2) ** 2))
    return eta * lorentz + (1 - eta) * gauss


def _resolved_ratio(curve, orders):
    """q_high / q_low - 1 of the doublets resolved on single orders (two free pseudo-Voigts
    much better than one by the BIC and separated by half the wider FWHM): the median."""
    import lmfit

    ratios = []
    for n in orders:
        c = n * AGBH_Q1
        w = (curve.q > 0.95 * c) & (curve.q < 1.05 * c)
        q, y, s = curve.q[w], curve.intensity[w], curve.sigma[w]
        one = lmfit.models.PseudoVoigtModel(prefix="a_") + lmfit.models.QuadraticModel()
        top = q[np.argmax(y)]
        p1 = one.make_params(a_center=top, a_sigma=0.006 * c, a_amplitude=y.max() * 0.015 * c,
                             a_fraction=0.5, a=0, b=0, c=y.min())
        single = one.fit(y, p1, x=q, weights=1 / s)
        two = one + lmfit.models.PseudoVoigtModel(prefix="b_")
        p2 = two.make_params(a_center=top * 0.995, a_sigma=0.004 * c, a_fraction=0.5,
                             a_amplitude=y.max() * 0.01 * c, b_center=top * 1.01,
                             b_sigma=0.004 * c, b_amplitude=y.max() * 0.005 * c, a=0, b=0,
                             c=y.min())
        p2["b_fraction"].set(expr="a_fraction")
        p2["a_center"].set(min=0.96 * c, max=1.005 * c)
        p2["b_center"].set(min=0.995 * c, max=1.04 * c)
        for name in ("a_amplitude", "b_amplitude", "b_sigma"):
            p2[name].set(min=0)
        double = two.fit(y, p2, x=q, weights=1 / s)
        p = double.params
        separation = p["b_center"].value - p["a_center"].value
        if (single.bic - double.bic > 10
                and separation >= 0.5 * max(p["a_fwhm"].value, p["b_fwhm"].value)):
            ratios.append(p["b_center"].value / p["a_center"].value - 1)
    return float(np.median(ratios)) if ratios else None


def _agbh_positions(curve, orders, ratio):
    """Position (1/nm) of each order's stronger reflection, all orders fitted at once.

    Each order: a pseudo-Voigt at c_n and a second one at c_n (1 + rho), of width kappa x
    the first's and area r x the first's (rho, kappa, r common to all orders: one second
    phase), on a quadratic background. r <= 1: the first is the stronger, AgBh.
    """
    from scipy.optimize import least_squares

    windows, p0 = [], [ratio, 0.0, 0.5]
    lo, hi = [0.3 * ratio, -1.0, 0.0], [3 * ratio, 1.0, 1.0]
    for n in orders:
        c = n * AGBH_Q1
        w = (curve.q > 0.95 * c) & (curve.q < 1.05 * c)
        windows.append(w)
        y = curve.intensity[w]
        p0 += [curve.q[w][np.argmax(y)], math.log(0.01 * c), 0.0, np.ptp(y) * 0.01 * c,
               y.min(), 0.0, 0.0]
        lo += [0.97 * c, math.log(1e-4 * c), -6, 0, -np.inf, -np.inf, -np.inf]
        hi += [1.03 * c, math.log(0.1 * c), 6, np.inf, np.inf, np.inf, np.inf]

    def residuals(p):
        out = []
        for i, w in enumerate(windows):
            c, log_w, logit_eta, area, b0, b1, b2 = p[3 + 7 * i: 10 + 7 * i]
            x, u = curve.q[w], curve.q[w] - c
            width, eta = math.exp(log_w), 1 / (1 + math.exp(-logit_eta))
            model = area * (_pv(x, c, width, eta)
                            + p[2] * _pv(x, c * (1 + p[0]), math.exp(p[1]) * width, eta))
            out.append((model + b0 + b1 * u + b2 * u * u - curve.intensity[w]) / curve.sigma[w])
        return np.concatenate(out)

    fit = least_squares(residuals, np.clip(p0, np.add(lo, 1e-9), np.subtract(hi, 1e-9)),
                        bounds=(lo, hi), x_scale="jac", max_nfev=5000)
    chi2_r = float(fit.fun @ fit.fun) / (fit.fun.size - fit.x.size)
    return {n: float(fit.x[3 + 7 * i]) for i, n in enumerate(orders)}, chi2_r


@pytest.mark.slow
@pytest.mark.parametrize(("name", "orders"), [("141", range(2, 10)), ("155", (1, 2))])
def test_real_agbh_frames(shared_dir, name, orders):
    """Header wavelength and pixel only; reduced with the refined geometry, the AgBh orders
    land on n x 1.0763 1/nm within 0.2 %.

    These frames show every order as a doublet: beside the AgBh reflection a second one
    1.73 % higher in q (the same ratio on both frames and on every order: a second lamellar
    phase, d = 5.74 nm), about half as strong (0.4-0.5 of its area). Where the two merge, a
    single-peak fit lands between them (+0.3 to +0.7 %, the 0.6 % of the first version): the
    orders are therefore measured with the doublet model, the stronger component being
    AgBh. Frame 141's first order (a 45-px ring on which the doublet is 0.8 px wide) is not
    checked: its decomposition moves by 0.3-0.5 % between equally good models (shared or
    per-order area ratio), so the 1-D curve does not fix it to 0.2 %.
    """
    path = shared_dir / "data" / "real" / "agbh_saxslab_2d" / f"agbh_latest_0000{name}_caz.tiff"
    result = saxs.calibrate(path, "AgBh")
    frames = saxs.read_frames(path, header_overrides={"Intensity1": 1})
    curve = saxs.Reducer(result.geometry, npt=2000, zinger_threshold=None).reduce(
        frames.with_geometry(result.geometry))
    ratio = _resolved_ratio(curve, orders)
    assert ratio is not None   # the doublet is resolved on at least one order
    positions, chi2_r = _agbh_positions(curve, list(orders), ratio)
    assert chi2_r < 2.0        # the doublet model describes the orders
    for n, q_n in positions.items():
        assert q_n == pytest.approx(n * AGBH_Q1, rel=2e-3), n
    assert any(r.doublet for r in result.rings)


# q calibration -------------------------------------------------------------------------------
def _shifted_standard(d_nm, slope, offset, seed=1):
    from saxs.simulate.models import BraggPeak

    rng = np.random.default_rng(seed)
    q_raw = np.linspace(0.3, 7.0, 1500)
    q_true = slope * q_raw + offset
    intensity = 0.5 + 2 / q_true
    for n, height in zip(range(1, 6), (100, 30, 10, 4, 2), strict=True):
        intensity = intensity + BraggPeak(2 * np.pi * n / d_nm, 0.03, height).intensity(q_true)
    sigma = 0.02 * np.sqrt(intensity) + 0.01
    return saxs.Curve(q_raw, intensity + rng.normal(0, 1, q_raw.size) * sigma, sigma,
                      metadata={"sample": "standard"})


@pytest.mark.parametrize(("standard", "d_nm"), [("cholesteryl_palmitate", 5.2498),
                                                ("AgBh", 5.8380)])
def test_q_calibration_recovers_a_shift(standard, d_nm):
    curve = _shifted_standard(d_nm, 1.018, 0.0086)
    cal = saxs.q_calibration(curve, standard)
    assert abs(cal.slope - 1.018) <= 4 * cal.slope_err + 2e-5
    assert abs(cal.offset_nm - 0.0086) <= 4 * cal.offset_err_nm + 2e-5
    corrected = cal.apply(curve)
    assert corrected.provenance[-1].action == "q_calibration"
    peaks = saxs.find_bragg_peaks(corrected).peaks
    assert peaks[0].q == pytest.approx(2 * np.pi / d_nm, rel=1e-3)


def test_q_calibration_user_d_spacing_and_errors():
    curve = _shifted_standard(4.0, 1.01, 0.0)
    cal = saxs.q_calibration(curve, d_spacing_nm=4.0)
    assert cal.slope == pytest.approx(1.01, rel=1e-3)
    with pytest.raises(saxs.InputError, match="not known"):
        saxs.q_calibration(curve, "unobtainium")
    flat = saxs.Curve(curve.q, np.ones(curve.q.size), np.full(curve.q.size, 0.01))
    with pytest.raises(saxs.InputError, match="no Bragg peak"):
        saxs.q_calibration(flat, "AgBh")


def test_q_calibration_on_giess_curves(shared_dir):
    """No standard file ships with the Giess 2022 curves: apply the README's correction
    (q_true = 1.01799 q_raw + 0.00862) and check the hexagonal ratios are kept."""
    from saxs.qcalibration import QCalibration

    folder = shared_dir / "data" / "real" / "llc_bragg_giess2022"
    cal = QCalibration(1.01799, 0.00862, 0.0, 0.0, (), (), "cholesteryl_palmitate (README)")
    curve = saxs.read_curve(folder / "OTAB_093wtp_T025.pdh")
    corrected = cal.apply(curve)
    assert corrected.q[0] == pytest.approx(1.01799 * curve.q[0] + 0.00862)
    peaks = saxs.find_bragg_peaks(corrected).peaks
    # authors' raw Lorentz centre 2.55667 -> 2.6112 after correction
    assert peaks[0].q == pytest.approx(1.01799 * 2.55667 + 0.00862, rel=3e-3)


def test_pyfai_reference_path_agrees():
    """The benchmark's reference (pyFAI's massif + refine3 alone, full resolution) finds the
    same geometry on a clean simulated frame."""
    from saxs.calibration import pyfai_refinement

    px = 172e-6
    truth = Geometry(distance_m=0.3, poni1_m=260 * px, poni2_m=250 * px, pixel1_m=px,
                     pixel2_m=px, wavelength_m=0.1541e-9, shape=(512, 512),
                     rot1_rad=math.radians(1), rot2_rad=math.radians(-1))
    frame = simulate_calibrant(truth, "AgBh", beamstop=Beamstop(radius_px=10), seed=9)
    geometry, points = pyfai_refinement(frame.image, "AgBh", wavelength_nm=0.1541,
                                        pixel_size_m=px, mask=frame.mask)
    assert points > 50
    assert geometry.distance_m == pytest.approx(truth.distance_m, rel=2e-3)
