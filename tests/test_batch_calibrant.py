"""``saxs batch`` with its geometry from a calibrant frame, a PONI file or the headers."""

from __future__ import annotations

import dataclasses

import fabio
import numpy as np
import pytest
import yaml

import saxs
from saxs.simulate import write_beamtime
from saxs.simulate.calibrant import simulate_calibrant
from saxs_pipelines.batch import run_batch
from saxs_pipelines.cli import main
from saxs_pipelines.config import load_config
from tests.test_batch import CONFIG, small_scenario

ONLY = ["empty", "ode", "np0"]


@pytest.fixture(scope="module")
def beamtime(tmp_path_factory):
    """The small beamtime plus an AgBh frame taken 2 % closer than its headers say."""
    root = tmp_path_factory.mktemp("cal") / "bt"
    files = write_beamtime(small_scenario(), root)
    header_geometry = saxs.read_frames(files.raw["empty"]).geometry
    truth = dataclasses.replace(header_geometry, distance_m=header_geometry.distance_m * 0.98)
    frame = simulate_calibrant(truth, "AgBh", seed=4)
    header = {k: str(v) for k, v in header_geometry.to_header().items()}
    (root / "calib").mkdir(exist_ok=True)
    fabio.edfimage.EdfImage(data=np.asarray(frame.image, dtype=np.int32),
                            header=header).write(str(root / "calib" / "agbh.edf"))
    return root, truth, header_geometry


def _config(**discovery):
    return load_config({**CONFIG, "discovery": discovery})


def test_calibrant_frame_gives_the_geometry_and_is_recorded(beamtime, tmp_path):
    root, truth, header_geometry = beamtime
    out = tmp_path / "out"
    result = run_batch(root, _config(calibrant_frame="calib/agbh.edf"), out, only=ONLY)
    assert not result.failed
    poni = out / "calibration" / "agbh.poni"
    assert poni.is_file()
    assert poni.with_suffix(".png").is_file()
    refined = saxs.Geometry.from_poni(poni)
    assert refined.distance_m == pytest.approx(truth.distance_m, rel=2e-3)
    assert abs(refined.distance_m / header_geometry.distance_m - 1) > 0.015
    curve = saxs.read_curve(out / "reduced" / "np0.h5")
    assert curve.metadata["geometry_source"].startswith("calibrant frame")
    assert str(poni) in curve.metadata["geometry_source"]
    record = next((out / "records" / "reduce").glob("np0*.json")).read_text()
    assert "calibrant frame" in record


def test_header_geometry_when_asked(beamtime, tmp_path):
    root, _, _ = beamtime
    out = tmp_path / "out"
    config = _config(calibrant_frame="calib/agbh.edf", geometry_from="header")
    assert not run_batch(root, config, out, only=ONLY).failed
    assert not (out / "calibration").exists()
    curve = saxs.read_curve(out / "reduced" / "np0.h5")
    assert curve.metadata["geometry_source"] == "frame headers"


def test_unconfigured_source_fails_before_any_folder(beamtime, tmp_path, capsys):
    root, _, _ = beamtime
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**CONFIG, "discovery": {"geometry_from": "poni"}}))
    out = tmp_path / "o"
    assert main(["batch", str(root), "-c", str(bad), "-o", str(out), "-q"]) == 1
    assert "discovery.geometry_from is 'poni' but discovery.poni is not set" in (
        capsys.readouterr().err)
    assert not out.exists()
    bad.write_text(yaml.safe_dump({**CONFIG, "discovery": {"geometry_from": "guess"}}))
    assert main(["batch", str(root), "-c", str(bad), "-o", str(out), "-q"]) == 1
    assert "discovery.geometry_from is 'guess'; choose one of" in capsys.readouterr().err
    assert not out.exists()
