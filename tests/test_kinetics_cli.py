"""``saxs kinetics`` and time-resolved stacks in ``saxs batch`` / ``saxs watch`` (the sample
sheet's ``kinetic`` column)."""

from __future__ import annotations

import csv
import re
import shutil
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from saxs.simulate import write_beamtime
from saxs.simulate.scenario import scenario_from_dict
from saxs_pipelines.beamtime import discover
from saxs_pipelines.cli import main
from saxs_pipelines.config import DEFAULTS, load_config
from saxs_pipelines.watch import watch
from tests.test_watch import _wait_for, arrive

SCENARIO = Path(__file__).resolve().parents[1] / "data_samples" / "stopped_flow.yaml"
CONFIG = {"reduce": {"npt": 200}, "mc": {"n_rep": 6, "seed": 2}}
RATE = re.compile(r"rate constant k1 \(A -> B\) = ([\d.]+) \+- ([\d.]+) 1/s")


def _scenario():
    return scenario_from_dict(yaml.safe_load(SCENARIO.read_text()), source=str(SCENARIO))


@pytest.fixture(scope="module")
def beamtime(tmp_path_factory):
    root = tmp_path_factory.mktemp("sflow") / "bt"
    return write_beamtime(_scenario(), root)


@pytest.fixture(scope="module")
def config_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("cfg") / "pipeline.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    return path


def test_sheet_marks_the_stopped_flow_sample_kinetic(beamtime):
    items = {i.name: i for i in discover(beamtime.root, DEFAULTS["discovery"]).items}
    assert items["stopped_flow"].kinetic
    assert not items["solvent_ode"].kinetic
    assert not items["empty_cell"].kinetic


def test_kinetics_command(beamtime, tmp_path, capsys):
    root, out = beamtime.root, tmp_path / "proc"
    calib = ["-m", str(root / "calib/mask_gaps.edf"), "-m", str(root / "calib/mask_beamstop.edf"),
             "-d", str(root / "calib/dark.edf"), "-f", str(root / "calib/flat.edf"), "-n", "300",
             "--intensity-unit", "1/cm", "-o", str(out), "-q"]
    raw = {name: str(path) for name, path in beamtime.raw.items()}
    assert main(["reduce", raw["stopped_flow"], "--per-frame", *calib]) == 0
    assert main(["reduce", raw["solvent_ode"], raw["empty_cell"], *calib]) == 0
    ave = out / "sflow_rayonix_00003_00_ave.h5"
    m = _scenario().measurement("stopped_flow")
    capsys.readouterr()
    assert main(["kinetics", str(ave), "--blank", str(out / "sflow_rayonix_00002_00.h5"),
                 "--empty-cell", str(out / "sflow_rayonix_00001_00.h5"),
                 "--solvent-volume-fraction", str(m.solvent_volume_fraction), "--nrep", "8",
                 "--seed", "1", "-j", "2", "-o", str(out), "-q"]) == 0
    text = capsys.readouterr().out
    k, err = (float(v) for v in RATE.search(text).groups())
    assert abs(k - m.kinetics.rate_per_s) <= 2 * err  # 2 sigma: see test_kinetics for 1 sigma
    assert "continuous growth (species C) starts at t = " in text
    rows = list(csv.DictReader(
        (out / "sflow_rayonix_00003_00_kinetics.csv").read_text().splitlines()))
    assert len(rows) == m.n_frames
    np.testing.assert_allclose([float(r["time_s"]) for r in rows],
                               m.kinetics.times_s(m.n_frames), atol=1e-6)
    assert (out / "sflow_rayonix_00003_00_kinetics.png").stat().st_size > 10_000
    # the same Monte Carlos on a Dask cluster: the same table (seeds are per frame)
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        assert main(["kinetics", str(ave), "--blank", str(out / "sflow_rayonix_00002_00.h5"),
                     "--empty-cell", str(out / "sflow_rayonix_00001_00.h5"),
                     "--solvent-volume-fraction", str(m.solvent_volume_fraction), "--n-rep",
                     "8", "--seed", "1", "--scheduler", cluster.scheduler_address,
                     "-o", str(tmp_path / "dask"), "-q"]) == 0
    assert ((tmp_path / "dask/sflow_rayonix_00003_00_kinetics.csv").read_text()
            == (out / "sflow_rayonix_00003_00_kinetics.csv").read_text())
    # frame binning and the model from the config's kinetics section (options win)
    config = tmp_path / "pipeline.yaml"
    config.write_text(yaml.safe_dump({"kinetics": {"bin_frames": 8, "model": "A->B->C"}}))
    common = ["kinetics", str(ave), "--blank", str(out / "sflow_rayonix_00002_00.h5"),
              "--empty-cell", str(out / "sflow_rayonix_00001_00.h5"),
              "--solvent-volume-fraction", str(m.solvent_volume_fraction), "--n-rep", "8",
              "--seed", "1", "-c", str(config), "-q"]
    capsys.readouterr()
    assert main([*common, "-o", str(tmp_path / "binned")]) == 1
    assert "2 time points; a kinetics needs at least 3" in capsys.readouterr().err
    assert main([*common, "--bin-frames", "1", "-o", str(tmp_path / "three")]) == 1
    assert "model A->B->C needs 3 discrete species, 2 found" in capsys.readouterr().err
    assert not (tmp_path / "three").exists()
    # existing outputs are refused before any work
    assert main(["kinetics", str(ave), "--blank", str(out / "sflow_rayonix_00002_00.h5"),
                 "-o", str(out), "-q"]) == 1
    assert "exists; pass --overwrite" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "words"), [
    (["--bin-frames", "0"], "--bin-frames 0"),
    (["--model", "A->D"], "--model 'A->D'"),
    (["--sector", "-1"], "--sector -1"),
    (["--blank", "nope.h5"], "--blank nope.h5: file not found"),
    (["--solvent-volume-fraction", "1.5"], "--solvent-volume-fraction 1.5"),
    (["--rmin", "0.3"], "give both --r-min-nm and --r-max-nm"),
    (["-j", "0"], "-j 0"),
])
def test_kinetics_bad_options(tmp_path, capsys, argv, words):
    frames = tmp_path / "x_ave.h5"
    frames.write_bytes(b"")
    out = tmp_path / "out"
    assert main(["kinetics", str(frames), *argv, "-o", str(out), "-q"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert words in err
    assert "Traceback" not in err
    assert not out.exists()


def test_kinetics_of_a_file_without_time_axis(tmp_path, capsys):
    path = tmp_path / "k_ave.h5"
    with h5py.File(path, "w") as f:
        group = f.create_group("entry_0000/PyFAI/result_ave")
        group["q"] = np.linspace(0.2, 7, 50)
        group["data"] = np.ones((5, 50))
        group["data_errors"] = np.full((5, 50), 0.01)
    assert main(["kinetics", str(path), "-o", str(tmp_path / "o"), "-q"]) == 1
    err = capsys.readouterr().err
    assert "no time axis" in err
    assert "Traceback" not in err
    assert main(["kinetics", str(path), "--sector", "1", "-o", str(tmp_path / "o"), "-q"]) == 1
    assert "holds 1 result(s)" in capsys.readouterr().err


def test_batch_reduces_kinetic_samples_per_frame_and_follows_them(beamtime, config_file,
                                                                  tmp_path, capsys):
    out = tmp_path / "processed"
    assert main(["batch", str(beamtime.root), "-c", str(config_file), "-o", str(out),
                 "-q"]) == 0
    m = _scenario().measurement("stopped_flow")
    with h5py.File(out / "reduced" / "stopped_flow_ave.h5", "r") as f:
        result = f["entry_0000/PyFAI/result_ave"]
        assert result["data"].shape == (m.n_frames, 200)
        assert result["data_errors"].shape == (m.n_frames, 200)
        assert result["q"].shape == (200,)
        np.testing.assert_allclose(result["t"][()], m.kinetics.times_s(m.n_frames), atol=1e-6)
    # blanks averaged; the kinetic sample neither averaged nor put in a series
    assert (out / "reduced" / "solvent_ode.h5").is_file()
    assert not (out / "reduced" / "stopped_flow.h5").exists()
    assert not (out / "samples").exists()
    assert not (out / "series").exists()
    report = (out / "kinetics" / "stopped_flow" / "kinetics.txt").read_text()
    k, err = (float(v) for v in RATE.search(report).groups())
    assert abs(k - m.kinetics.rate_per_s) <= 2 * err
    assert (out / "kinetics" / "stopped_flow" / "kinetics.png").is_file()
    assert "Kinetics" in (out / "index.html").read_text()
    summary = list(csv.DictReader((out / "summary.csv").read_text().splitlines()))
    assert {(r["stage"], r["name"]) for r in summary} == {
        ("reduce", "empty_cell"), ("reduce", "solvent_ode"), ("frames", "stopped_flow"),
        ("kinetics", "stopped_flow")}
    assert {r["status"] for r in summary} == {"ok"}


def _rewrite_sheet(root: Path, name: str, value: str) -> Path:
    sheet = root / "samples.csv"
    rows = list(csv.DictReader(sheet.read_text().splitlines()))
    for row in rows:
        if row["sample"] == name:
            row["kinetic"] = value
    with sheet.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return sheet


@pytest.mark.parametrize(("name", "value", "words"), [
    ("stopped_flow", "maybe", "line 4, column kinetic: 'maybe' is not true or false"),
    ("solvent_ode", "yes", "line 3, column kinetic: 'solvent_ode' is a solvent"),
])
def test_bad_kinetic_column_is_refused_before_any_output(beamtime, tmp_path, capsys, name,
                                                         value, words):
    root = tmp_path / "bt"
    shutil.copytree(beamtime.root, root)
    sheet = _rewrite_sheet(root, name, value)
    out = tmp_path / "out"
    assert main(["batch", str(root), "-o", str(out), "-q"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert str(sheet) in err
    assert words in err
    assert not (out / "records").exists()
    assert not (out / "reduced").exists()


def test_kinetic_column_spellings(beamtime, tmp_path):
    root = tmp_path / "bt"
    shutil.copytree(beamtime.root, root)
    for value, expected in (("TRUE", True), ("1", True), ("no", False), ("", False)):
        _rewrite_sheet(root, "stopped_flow", value)
        item = discover(root, DEFAULTS["discovery"]).item("stopped_flow")
        assert item.kinetic is expected


def test_watch_follows_a_kinetic_stack_once_complete(beamtime, tmp_path):
    live = tmp_path / "live"
    (live / "raw").mkdir(parents=True)
    shutil.copytree(beamtime.root / "calib", live / "calib")
    shutil.copy(beamtime.sample_sheet, live / "samples.csv")

    arrive(beamtime.raw["empty_cell"], live)
    arrive(beamtime.raw["solvent_ode"], live)
    # the stopped-flow stack is being written: 5 of its 16 frames so far
    arrive(beamtime.raw["stopped_flow"], live, frames=5)
    out = tmp_path / "out"
    config = load_config(yaml.safe_load(yaml.safe_dump(CONFIG)))
    thread = threading.Thread(target=watch, args=(live, config, out), kwargs={
        "interval": 0.2, "settle_s": 0.5, "idle_timeout": 5.0})
    thread.start()
    assert _wait_for((out / "reduced" / "solvent_ode.h5").is_file, timeout=90.0)
    time.sleep(1.5)  # several polls while the stack stays incomplete
    assert not (out / "records" / "frames" / "stopped_flow.json").exists()
    arrive(beamtime.raw["stopped_flow"], live)  # the acquisition finished
    assert _wait_for((out / "kinetics" / "stopped_flow" / "kinetics.txt").is_file,
                     timeout=90.0)
    thread.join(timeout=90)
    assert not thread.is_alive()
    with h5py.File(out / "reduced" / "stopped_flow_ave.h5", "r") as f:
        assert f["entry_0000/PyFAI/result_ave/data"].shape[0] == 16
    assert RATE.search((out / "kinetics" / "stopped_flow" / "kinetics.txt").read_text())
