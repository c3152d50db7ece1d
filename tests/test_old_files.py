"""Files written by an earlier version (commit a2394ac, before the models layer and the
time-resolved work; the demo's cdse_n220 sample) still read: the reduced curve, the Monte
Carlo result file and the batch job records."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import saxs
from saxs_pipelines.records import JobRecord, is_complete, read_record

OLD = Path(__file__).parent / "data" / "before_models"


def test_old_reduced_curve_reads():
    curve = saxs.read_curve(OLD / "reduced_cdse_n220.h5")
    assert curve.q_unit == "1/nm"
    assert curve.intensity_unit == "1/cm"
    assert curve.metadata["sample"] == "cdse_n220"
    assert 0.1 < curve.q[0] < curve.q[-1] < 15
    assert np.all(curve.sigma > 0)


def test_old_monte_carlo_result_reads_and_gives_its_histogram():
    curve, dist = saxs.read_result(OLD / "sample_cdse_n220.h5")
    assert len(curve) == dist.q.size
    assert dist.model["model"] == "sphere"
    hist = dist.histogram(bins=30, scale="log")
    mean, err = hist.moments["mean_nm"]
    assert 0.85 < mean < 1.05  # CdSe-437 clusters, r ~ 0.94 nm (SCIENCE.md)
    assert 0 < err < 0.05


def test_old_job_records_read():
    for name, stage in (("record_reduce_cdse_n220.json", "reduce"),
                        ("record_sample_cdse_n220.json", "sample"),
                        ("record_series_nucleation_temperature.json", "series")):
        record = read_record(OLD / name)
        assert record.ok
        assert record.spec.stage == stage
        assert record.spec.name in name
        assert record.versions["saxs"]
        assert set(record.spec.outputs)
        assert set(record.spec.params)
        assert not is_complete(record.spec)  # its outputs are elsewhere: run again
        # written back, a record reads the same
        assert JobRecord.from_dict(record.to_dict()) == record
