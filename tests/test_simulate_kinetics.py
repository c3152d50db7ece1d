"""The stopped-flow simulation (saxs.simulate.kinetics): true fractions, frames and their times."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import yaml

import saxs
from saxs.simulate.beamtime import write_measurement
from saxs.simulate.scenario import scenario_from_dict

SCENARIO = Path(__file__).resolve().parents[1] / "data_samples" / "stopped_flow.yaml"


@pytest.fixture
def data():
    return yaml.safe_load(SCENARIO.read_text())


def test_conversion_conserves_the_number_of_clusters(data):
    kin = scenario_from_dict(data).measurement("stopped_flow").kinetics
    ratio = (kin.reactant.radius_nm / kin.product_radius_nm) ** 3
    for t in np.linspace(0, 40, 17):
        phi = kin.fractions_at(float(t))
        assert phi["A"] == pytest.approx(kin.reactant.volume_fraction
                                         * np.exp(-kin.rate_per_s * t), rel=1e-12)
        assert phi["A"] + ratio * phi["B"] == pytest.approx(kin.reactant.volume_fraction,
                                                           rel=1e-12)


def test_growth_starts_at_the_onset(data):
    kin = scenario_from_dict(data).measurement("stopped_flow").kinetics
    onset = kin.growth.onset_s
    assert len(kin.populations_at(onset)) == 2
    grown = kin.populations_at(onset + 4.0)[-1]
    assert grown.shape == "lognormal"
    assert grown.volume_fraction == pytest.approx(4.0 * kin.growth.volume_fraction_rate_per_s)
    assert grown.radius_nm == pytest.approx(kin.growth.radius_nm
                                            + 4.0 * kin.growth.radius_rate_nm_per_s)


def test_frames_are_spaced_by_the_frame_period(data, tmp_path):
    scenario = scenario_from_dict(data)
    m = scenario.measurement("stopped_flow")
    path = write_measurement(scenario, m, tmp_path)
    stack = saxs.read_frames(path)
    assert len(stack) == m.n_frames
    np.testing.assert_allclose(stack.timestamps_s - stack.timestamps_s[0],
                               m.kinetics.times_s(m.n_frames), atol=1e-6)
    # more particle volume scatters more at low q: the total grows once growth starts
    totals = stack[:].astype(float).clip(0).sum(axis=(1, 2)) / stack.monitor_i1
    assert totals[-1] > totals[0]


@pytest.mark.parametrize(("change", "words"), [
    (lambda m: m.update(kind="solvent"), "kinetics is for kind 'sample'"),
    (lambda m: m["kinetics"].update(rate=1.0), "unknown key(s) 'rate'"),
    (lambda m: m["kinetics"].update(rate_per_s=-1.0), "rate_per_s"),
    (lambda m: m["kinetics"].pop("reactant"), "required key 'reactant'"),
    (lambda m: m["kinetics"]["growth"].update(onset_s=-3.0), "onset_s >= 0"),
])
def test_bad_kinetics_sections(data, change, words):
    bad = copy.deepcopy(data)
    change(next(m for m in bad["measurements"] if m["name"] == "stopped_flow"))
    with pytest.raises(saxs.InputError) as info:
        scenario_from_dict(bad, source="sf.yaml")
    assert words in str(info.value)
