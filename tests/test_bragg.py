"""Bragg peaks: finding, indexing and d-spacings on simulated and real (LLC) curves."""

from __future__ import annotations

import numpy as np
import pytest

import saxs
from saxs.bragg import DEFAULT_TOLERANCE, PHASES, index_peaks
from saxs.models.distributions import Species, spheres_intensity
from saxs.simulate.models import (
    BraggPeak,
    BroadPeak,
    FlatBackground,
    SampleModel,
)

Q = np.linspace(0.15, 7, 500)


def _noisy(intensity, seed, rel=0.01, floor=1e-3):
    sigma = rel * intensity + floor
    noisy = intensity + np.random.default_rng(seed).normal(0, 1, intensity.size) * sigma
    return saxs.Curve(Q, noisy, sigma)


def _precursor(height=3.0):
    return SampleModel((BraggPeak(1.84, 0.06, height), BraggPeak(3.69, 0.08, height / 5),
                        BroadPeak(0.3, 0.25, 8.0, 2e-4, 3.0), FlatBackground(0.03)))


def test_simulated_lamellar_precursor():
    """SCIENCE.md: peaks at 1.84 and 3.69 1/nm, lamellar, d = 3.41 nm."""
    found = saxs.find_bragg_peaks(_noisy(_precursor().intensity(Q), 1))
    assert found.phase == "lamellar"
    assert found.miller_ratios == (1.0, 2.0)
    assert found.d_spacing_nm == pytest.approx(3.41, abs=0.05)
    assert 0 < found.d_spacing_err_nm < 0.05
    assert [p.q for p in found.peaks] == pytest.approx([1.84, 3.69], abs=0.01)
    assert found.peaks[0].fwhm == pytest.approx(0.06, rel=0.2)


def test_negative_controls():
    spheres = spheres_intensity(Q, [Species(1.2, 2e-3, 0.1, "lognormal")]) + 0.03
    assert saxs.find_bragg_peaks(_noisy(spheres, 2, floor=0)).phase == "none"
    flat = np.ones(Q.size)
    assert saxs.find_bragg_peaks(_noisy(flat, 3, floor=0)).phase == "none"


def test_indexing_rules():
    hexagonal = np.array([1.0, np.sqrt(3), 2.0]) * 2.5
    assert index_peaks(hexagonal, np.full(3, 1e-3))[0] == "hexagonal"
    # 1 : sqrt3 is hexagonal, not Pn3m sqrt2 : sqrt6 (fewer missing reflections)
    assert index_peaks(hexagonal[:2], np.full(2, 1e-3))[0] == "hexagonal"
    pn3m = np.sqrt([2, 3, 4, 6]) * 1.1
    assert index_peaks(pn3m, np.full(4, 1e-4))[0] == "cubic Pn3m"
    ia3d = np.sqrt([6, 8, 14, 16]) * 0.7
    assert index_peaks(ia3d, np.full(4, 1e-4))[0] == "cubic Ia3d"
    assert index_peaks(np.array([1.0, 1.9]), np.full(2, 1e-4))[0] == "unindexed"
    assert index_peaks(np.array([1.0]), np.array([1e-3]))[0] == "unindexed"
    assert set(PHASES) >= {"lamellar", "hexagonal", "cubic Pn3m", "cubic Ia3d", "cubic Im3m"}


def _lorentz_centres(path):
    rows = [line.split("\t") for line in path.read_text(encoding="latin-1").splitlines()]
    return [float(r[2]) for r in rows if len(r) > 2 and r[1] == "xc"]


@pytest.mark.parametrize("name", ["OTAC_070wtp_T025", "OTAC_090wtp_T010"])
def test_real_hexagonal_phases(shared_dir, name):
    """Giess et al. 2022 LLC data: hexagonal, positions within 1 % of the authors' Lorentz fits."""
    base = shared_dir / "data" / "real" / "llc_bragg_giess2022"
    found = saxs.find_bragg_peaks(saxs.read_curve(base / f"{name}.pdh"))
    assert found.phase == "hexagonal"
    centres = _lorentz_centres(base / f"{name}_lorentz.txt")
    assert [p.q for p in found.peaks] == pytest.approx(centres, rel=0.01)


def test_real_dilute_and_order_disorder(shared_dir):
    base = shared_dir / "data" / "real" / "llc_bragg_giess2022"
    assert saxs.find_bragg_peaks(saxs.read_curve(base / "OTAB_010wtp_T025_no_peaks.pdh")
                                 ).phase == "none"
    ordered = saxs.find_bragg_peaks(saxs.read_curve(base / "OTAB_078wtp_T058.pdh"))
    disordered = saxs.find_bragg_peaks(saxs.read_curve(base / "OTAB_078wtp_T060.pdh"))
    assert len(ordered.peaks) == 1
    centre = _lorentz_centres(base / "OTAB_078wtp_T058_lorentz.txt")[0]
    assert ordered.peaks[0].q == pytest.approx(centre, rel=0.01)
    assert disordered.phase == "none"  # the 60 C correlation peak is no Bragg peak


def test_too_few_points():
    with pytest.raises(saxs.InputError, match="at least 20"):
        saxs.find_bragg_peaks(saxs.Curve(Q[:10], np.ones(10), np.ones(10)))


@pytest.mark.parametrize("seed", range(5))
def test_phase_indexed_beside_a_coexisting_peak(seed):
    """Hexagonal 1 : sqrt3 with a weak second order, plus a strong peak of another phase."""
    model = SampleModel((BraggPeak(1.5, 0.04, 3.0), BraggPeak(1.95, 0.04, 1.0),
                         BraggPeak(1.5 * np.sqrt(3), 0.04, 0.03), FlatBackground(0.05)))
    found = saxs.find_bragg_peaks(_noisy(model.intensity(Q), seed))
    assert found.phase == "hexagonal"
    assert [p.q for p in found.peaks] == pytest.approx([1.5, 1.5 * np.sqrt(3)], rel=0.005)
    assert [p.q for p in found.extra_peaks] == pytest.approx([1.95], rel=0.005)
    assert found.d_spacing_nm == pytest.approx(2 * np.pi / 1.5, rel=0.005)


def test_real_otab_93_strong_peaks(shared_dir):
    """OTAB 93 wt %: the first peak where the authors fit it. Their sqrt3 reflection (4.427)
    is ~2 sigma in the file's own uncertainties, so it is not claimed here."""
    base = shared_dir / "data" / "real" / "llc_bragg_giess2022"
    found = saxs.find_bragg_peaks(saxs.read_curve(base / "OTAB_093wtp_T025.pdh"))
    first = _lorentz_centres(base / "OTAB_093wtp_T025_lorentz.txt")[0]
    assert found.phase != "none"
    assert found.peaks[0].q == pytest.approx(first, rel=0.01)


def _lamellar(second: float, seed: int, rel: float, first_q: float = 1.84) -> saxs.Curve:
    peaks = (BraggPeak(first_q, 0.03, 3.0),)
    if second:
        peaks += (BraggPeak(2 * first_q, 0.08, second),)
    intensity = SampleModel((*peaks, FlatBackground(0.05))).intensity(Q)
    return _noisy(intensity, seed, rel=rel)


@pytest.mark.parametrize("rel", [0.01, 0.02, 0.04])
@pytest.mark.parametrize("seed", range(2))
def test_weak_second_order_confirmed_at_its_predicted_position(rel, seed):
    """A second order too weak for the blind search (a few sigma per point) is confirmed where
    lamellar packing predicts it, and the phase is lamellar."""
    curve = _lamellar(0.02, 100 + seed, rel)
    found = saxs.find_bragg_peaks(curve)
    assert found.phase == "lamellar"
    assert found.miller_ratios == (1.0, 2.0)
    assert found.peaks[1].q == pytest.approx(3.68, rel=DEFAULT_TOLERANCE)
    assert found.peaks[1].significance >= 3.5
    assert found.evidence[0].phase == "lamellar"
    assert "lamellar: 1 (" in found.evidence[0].describe()


def test_evidence_lists_every_phase_and_serialises():
    found = saxs.find_bragg_peaks(_lamellar(0.3, 7, 0.01))
    assert {e.phase for e in found.evidence} == set(PHASES)
    scores = [e.score for e in found.evidence]
    assert scores == sorted(scores, reverse=True)
    record = found.evidence[0].to_dict()
    assert record["phase"] == "lamellar"
    assert record["q_nm"] == pytest.approx([1.84, 3.68], rel=DEFAULT_TOLERANCE)
    import json

    json.dumps(record)


@pytest.mark.slow
def test_false_phase_rate_on_single_peaks_and_smooth_curves():
    """A single Bragg peak must stay "unindexed" and a smooth curve "none". Measured rate of
    a wrong phase for a single peak (module docstring): a few per cent; here at most 3 of 30
    curves (binomial p = 0.05: P(X > 3) = 6 %; a rate of 20 % would pass with 12 %)."""
    wrong = sum(saxs.find_bragg_peaks(_lamellar(0.0, 200 + seed, rel)).phase != "unindexed"
                for seed in range(15) for rel in (0.01, 0.04))
    assert wrong <= 3
    for seed in range(10):
        smooth = spheres_intensity(Q, [Species(1.0 + 0.1 * seed, 2e-3, 0.15, "lognormal")]) + 0.02
        assert saxs.find_bragg_peaks(_noisy(smooth, 300 + seed, floor=0)).phase == "none"


def test_real_broad_correlation_peak(shared_dir):
    """OTAB 78 wt % at 60 C: the disordered phase's correlation peak is reported as broad."""
    base = shared_dir / "data" / "real" / "llc_bragg_giess2022"
    found = saxs.find_bragg_peaks(saxs.read_curve(base / "OTAB_078wtp_T060.pdh"))
    assert found.phase == "none"
    assert len(found.broad_peaks) >= 1
    top = max(found.broad_peaks, key=lambda p: p.area)
    ordered_q = _lorentz_centres(base / "OTAB_078wtp_T058_lorentz.txt")[0]
    assert top.q == pytest.approx(ordered_q, rel=0.1)  # where the ordered phase's peak was
    assert top.fwhm / top.q > 0.1


def test_ambiguous_sample_takes_its_neighbours_phase():
    """A single peak between two lamellar samples, at their first order, is lamellar by its
    neighbours (and says so); one far from their first order stays unindexed."""
    lam = [_lamellar(0.3, 11, 0.01), _lamellar(0.0, 12, 0.01), _lamellar(0.3, 13, 0.01)]
    series = saxs.follow_bragg(lam, [10, 20, 30])
    middle = series.points[1].findings
    assert middle.phase == "lamellar"
    assert middle.assigned_by == "neighbours"
    assert middle.d_spacing_nm == pytest.approx(2 * np.pi / 1.84, rel=0.01)
    assert "(phase from its neighbours)" in series.report()
    assert series.events == ()
    far = [lam[0], _lamellar(0.0, 12, 0.01, first_q=1.5), lam[2]]
    series = saxs.follow_bragg(far, [10, 20, 30])
    assert series.points[1].findings.phase == "unindexed"
    assert series.points[1].relative_area is None  # 1.5 1/nm is not the lamellar first order


def test_relative_areas_compare_within_one_phase():
    hexagonal = SampleModel((BraggPeak(1.5, 0.03, 1.0), BraggPeak(1.5 * np.sqrt(3), 0.04, 0.3),
                             FlatBackground(0.05))).intensity(Q)
    curves = [_noisy(hexagonal, 21), _lamellar(0.3, 22, 0.01), _noisy(hexagonal * 0.5, 23),
              _noisy(np.full(Q.size, 0.05), 24, floor=1e-3)]
    series = saxs.follow_bragg(curves, [1, 2, 3, 4])
    phases = [p.findings.phase for p in series.points]
    assert phases == ["hexagonal", "lamellar", "hexagonal", "none"]
    rel = [p.relative_area for p in series.points]
    assert rel[:2] == [1.0, 1.0]
    assert rel[2] == pytest.approx(0.5, rel=0.1)
    assert rel[3] == 0.0
    assert series.points[3].reference_phase == "hexagonal"
    assert [e.kind for e in series.events] == ["phase_change", "phase_change", "melting"]
