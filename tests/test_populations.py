"""Populations found in Monte Carlo size distributions."""

from __future__ import annotations

import json
import math

import pytest

import saxs
from saxs.populations import find_populations
from tests.test_montecarlo import PEER_CONTRAST, _bimodal


def test_two_msc_populations():
    curve = _bimodal(noise=0.005)
    dist = saxs.monte_carlo(curve, saxs.MCConfig(
        radius_range_nm=(0.3, 3.0), n_rep=10, seed=2, conv_crit=1 + 2 * math.sqrt(2 / len(curve)),
        sigma_floor_rel=0.0))
    pops = find_populations(dist)
    assert len(pops) == 2
    small, large = pops
    # within 0.03 nm, the tolerance the series analysis asks for
    assert small.mean_nm == pytest.approx(0.87, abs=0.03)
    assert large.mean_nm == pytest.approx(1.02, abs=0.03)
    assert small.range_nm[1] <= large.range_nm[0]
    assert small.volume_fraction + large.volume_fraction == pytest.approx(2e-3, rel=0.05)
    assert small.volume_fraction / large.volume_fraction == pytest.approx(1.0, abs=0.2)
    assert all(p.significance >= 3 for p in pops)


def test_one_gaussian_population(shared_dir):
    path = shared_dir / "peers" / "data" / "synth_gauss_r1.0_s0.1_q0.1-8_n5pct.dat"
    truth = json.loads(path.with_suffix(".truth.json").read_text())["volume_weighted"]
    dist = saxs.monte_carlo(saxs.read_curve(path, intensity_unit="1/m"), saxs.MCConfig(
        radius_range_nm=(0.3, 5.0), n_rep=10, seed=1, contrast_per_cm2=PEER_CONTRAST))
    pops = find_populations(dist)
    assert len(pops) == 1  # the tiny-radius artefact and the thin tail are not populations
    assert pops[0].mean_nm == pytest.approx(truth["mean"], rel=0.02)
    assert pops[0].width_nm == pytest.approx(truth["sd"], rel=0.15)
    with pytest.raises(saxs.InputError, match="range_nm"):
        find_populations(dist, range_nm=(2.0, 1.0))
