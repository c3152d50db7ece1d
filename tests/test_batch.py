"""``saxs batch``: a small simulated beamtime through the whole chain, failures, resume."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import yaml

import saxs
from saxs.simulate import scenario_from_dict, write_beamtime
from saxs_pipelines.batch import Executor, run_batch
from saxs_pipelines.cli import EXIT_FAILED_ITEMS, EXIT_OK, main
from saxs_pipelines.config import load_config

RADII = (0.9, 1.0, 1.1, 1.25)
CONFIG = {"reduce": {"npt": 120}, "mc": {"n_rep": 4, "n_contrib": 200, "seed": 3},
          "analysis": {"populations": {"bins": 40}}}


def small_scenario(file_format: str = "lima", seed: int = 5):
    """Empty cell, solvent, a 4-sample growth series and two precursor temperatures."""
    samples = [{"name": f"np{k}", "kind": "sample", "series": "growth", "temperature_c": t,
                "populations": [{"radius_nm": r, "rel_width": 0.1, "shape": "lognormal",
                                 "volume_fraction": 2e-3}]}
               for k, (r, t) in enumerate(zip(RADII, (200, 210, 220, 230), strict=True))]
    precursors = [{"name": f"pre{t}", "kind": "precursor", "series": "melt",
                   "temperature_c": t, "bragg_peaks": peaks}
                  for t, peaks in ((25, [{"q_nm": 1.84, "fwhm_nm": 0.03, "height_per_cm": 2.0},
                                         {"q_nm": 3.68, "fwhm_nm": 0.03,
                                          "height_per_cm": 0.6}]),
                                   (100, []))]
    return scenario_from_dict({
        "version": 1, "seed": seed, "collection": "small",
        "beam": {"flux_ph_s": 2e13},
        "detector": {"shape": [150, 140], "pixel_size_m": 5e-4, "distance_m": 0.5,
                     "center_px": [68.3, 74.6], "gaps": {"rows": [[100, 103]]},
                     "beamstop": {"radius_px": 4, "arm_width_px": 2}},
        "acquisition": {"frames": 3, "dark_frames": 10, "file_format": file_format},
        "cell": {"window_thickness_cm": 0.005, "transmission": 0.985, "window": {}},
        "solvent": {"level_per_cm": 0.03, "transmission": 0.8},
        "measurements": [{"name": "empty", "kind": "empty_cell"},
                         {"name": "ode", "kind": "solvent"}, *samples, *precursors]})


@pytest.fixture(scope="module")
def config_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("cfg") / "pipeline.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    return path


@pytest.fixture(scope="module")
def reference(tmp_path_factory, config_file):
    """One uninterrupted batch of the small beamtime."""
    root = tmp_path_factory.mktemp("ref")
    write_beamtime(small_scenario(), root / "bt")
    assert main(["batch", str(root / "bt"), "-c", str(config_file), "-o", str(root / "out"),
                 "-q"]) == EXIT_OK
    return root


def _outputs(out: Path) -> dict[str, object]:
    """What a batch produced, as comparable values (file times and tokens left out)."""
    found: dict[str, object] = {}
    for path in sorted((out / "samples").glob("*.h5")):
        curve = saxs.read_curve(path)
        found[path.name] = [curve.q, curve.intensity, curve.sigma]
        if path.stem.startswith("np"):
            dist = saxs.read_distribution(path)
            found[path.name] += [dist.radii_nm, dist.scale, dist.chi2_r]
    for path in sorted((out / "series").rglob("*")):
        if path.suffix in (".csv", ".json", ".txt"):
            found[str(path.relative_to(out))] = path.read_text()
    return found


def _assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key, value in a.items():
        if isinstance(value, list):
            for x, y in zip(value, b[key], strict=True):
                np.testing.assert_array_equal(x, y, err_msg=key)
        else:
            assert value == b[key], key


def test_batch_processes_everything(reference):
    out = reference / "out"
    summary = list(csv.DictReader((out / "summary.csv").read_text().splitlines()))
    assert {r["status"] for r in summary} == {"ok"}
    assert len(summary) == 8 + 6 + 2  # reduce all stacks, 6 samples with blanks, 2 series
    assert all((out / r["record"]).is_file() for r in summary)  # relative to the folder
    assert not any(r["record"].startswith("/") for r in summary)
    growth = json.loads((out / "series" / "growth" / "findings.json").read_text())
    assert growth["quantized"] == []
    assert growth["continuous"][0]["variables"] == [200, 210, 220, 230]
    melt = json.loads((out / "series" / "melt" / "findings.json").read_text())
    assert melt["melting"] == [25, 100]
    assert melt["points"][0]["phase"] == "lamellar"
    assert (out / "saxs.log").is_file()
    record = json.loads((out / "records" / "sample" / "np1.json").read_text())
    assert record["status"] == "ok"
    assert record["versions"]["pyFAI"]
    assert record["spec"]["params"]["config"]["mc"]["n_rep"] == 4  # the effective config
    extra = saxs.io.nxcansas.read_extra(out / "samples" / "np1.h5")
    assert extra["config"]["reduce"]["npt"] == 120


def test_batch_curves_load_in_sasdata(reference):
    from sasdata.dataloader.loader import Loader

    path = reference / "out" / "samples" / "np2.h5"
    ours = saxs.read_curve(path)
    (data,) = Loader().load(str(path))
    # sasdata converts Q to its default unit, 1/A (see test_curves)
    assert data.x_unit.replace("{", "").replace("}", "") in ("A^-1", "1/A")
    np.testing.assert_allclose(saxs.units.q_to_per_nm(np.asarray(data.x), "1/A"), ours.q,
                               rtol=1e-12)
    np.testing.assert_allclose(data.y, ours.intensity, rtol=1e-12)
    np.testing.assert_allclose(data.dy, ours.sigma, rtol=1e-12)


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.targets: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.targets += [v for k, v in attrs if k in ("href", "src") and v]


def test_html_report_links_resolve(reference):
    out = reference / "out"
    parser = _Links()
    parser.feed((out / "index.html").read_text())
    assert len(parser.targets) > 20
    for target in parser.targets:
        assert not target.startswith(("/", "http")), target
        assert (out / target).is_file(), target
    images = [t for t in parser.targets if t.endswith(".png")]
    assert {Path(t).stem for t in images} >= {"np0", "pre25", "series"}
    for image in images:
        assert (out / image).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_resume_after_a_complete_run_runs_nothing(reference, config_file, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(reference, root)
    # the records point at the original folder: a copy is a new batch, not a resume
    records = sorted((reference / "out" / "records").rglob("*.json"))
    stamps = {p.name: json.loads(p.read_text())["started"] for p in records}
    assert main(["batch", str(reference / "bt"), "-c", str(config_file), "-o",
                 str(reference / "out"), "--resume", "-q"]) == EXIT_OK
    after = {p.name: json.loads(p.read_text())["started"] for p in records}
    assert after == stamps


def test_existing_results_are_not_overwritten(reference, config_file, capsys):
    assert main(["batch", str(reference / "bt"), "-c", str(config_file), "-o",
                 str(reference / "out"), "-q"]) == 1
    assert "--resume" in capsys.readouterr().err


def _break_edf_header(path: Path) -> None:
    data = bytearray(path.read_bytes())
    start = data.index(b"Dim_1")
    end = data.index(b";", start)
    data[start:end] = b"Dim_1 = many".ljust(end - start)
    path.write_bytes(bytes(data))


def test_batch_with_bad_items(tmp_path, config_file, capsys):
    """A truncated HDF5 stack, a sample whose blank is missing and a broken EDF header."""
    root = tmp_path / "bt"
    write_beamtime(small_scenario(), root)
    edf = write_beamtime(small_scenario("edf"), tmp_path / "edf")
    sheet = list(csv.DictReader((root / "samples.csv").read_text().splitlines()))
    by_name = {r["sample"]: r for r in sheet}
    h5 = root / by_name["np0"]["file"]
    h5.write_bytes(h5.read_bytes()[: h5.stat().st_size // 2])
    by_name["np1"]["blank"] = "ode_from_yesterday"
    target = root / "raw" / edf.raw["np2"].name
    shutil.copy(edf.raw["np2"], target)
    _break_edf_header(target)
    by_name["np2"]["file"] = f"raw/{target.name}"
    with (root / "samples.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(sheet[0]))
        writer.writeheader()
        writer.writerows(sheet)
    raw_before = {p: p.read_bytes() for p in (root / "raw").iterdir()}

    code = main(["batch", str(root), "-c", str(config_file), "-o", str(tmp_path / "out"), "-q"])
    assert code == EXIT_FAILED_ITEMS
    records = [json.loads(p.read_text()) for p in (tmp_path / "out" / "records").rglob("*.json")]
    failed = {(r["spec"]["stage"], r["spec"]["name"]): r for r in records
              if r["status"] == "failed"}
    assert set(failed) == {("reduce", "np0"), ("sample", "np1"), ("reduce", "np2")}
    assert "np0" in failed["reduce", "np0"]["error"] or h5.name in failed["reduce", "np0"][
        "error"]
    assert "ode_from_yesterday" in failed["sample", "np1"]["error"]
    assert target.name in failed["reduce", "np2"]["error"]
    assert all(r["traceback"] for r in failed.values() if r["spec"]["stage"] == "reduce")
    skipped = {r["spec"]["name"] for r in records if r["status"] == "skipped"}
    assert skipped == {"np0", "np2"}  # their sample jobs, with the reason
    assert (tmp_path / "out" / "samples" / "np3.h5").is_file()
    assert (tmp_path / "out" / "samples" / "pre25.h5").is_file()
    growth = json.loads((tmp_path / "out" / "series" / "growth" / "findings.json").read_text())
    assert growth["continuous"] == [] or growth["continuous"][0]["variables"] == [230]
    err = capsys.readouterr().err
    assert err.count("FAILED") == 3
    assert raw_before == {p: p.read_bytes() for p in (root / "raw").iterdir()}


def test_killed_batch_resumes_to_the_same_outputs(reference, config_file, tmp_path):
    shutil.copytree(reference / "bt", tmp_path / "bt")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "saxs_pipelines.cli", "batch", str(tmp_path / "bt"), "-c",
               str(config_file), "-o", str(out), "-q"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if len(list((out / "records" / "sample").glob("*.json"))) >= 2:
            break
        time.sleep(0.05)
    assert process.poll() is None, "the batch finished before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not (out / "index.html").exists()
    assert main(["batch", str(tmp_path / "bt"), "-c", str(config_file), "-o", str(out),
                 "--resume", "-q"]) == EXIT_OK
    assert list(out.rglob(".*.tmp*")) == []
    _assert_same(_outputs(out), _outputs(reference / "out"))


def test_dask_cluster_gives_identical_outputs(reference, config_file, tmp_path):
    from dask.distributed import Client, LocalCluster

    config = load_config(config_file)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        result = run_batch(reference / "bt", config, tmp_path / "out",
                           executor=Executor("dask", client=client))
    assert not result.failed
    hosts = {r.pid for r in result.all()}
    assert os.getpid() not in hosts  # the jobs ran in the cluster's worker processes
    _assert_same(_outputs(tmp_path / "out"), _outputs(reference / "out"))


def test_reprocess_a_record(reference, tmp_path, capsys):
    from saxs_pipelines.records import read_record

    record = reference / "out" / "records" / "sample" / "np3.json"
    before = _outputs(reference / "out")
    old = json.loads(record.read_text())
    assert main(["reprocess", str(record)]) == 1  # its outputs exist: refused, nothing run
    assert "--overwrite" in capsys.readouterr().err
    assert json.loads(record.read_text()) == old
    assert main(["reprocess", str(record), "--overwrite"]) == EXIT_OK
    new = json.loads(record.read_text())
    assert new["status"] == "ok"
    assert new["started"] > old["started"]
    _assert_same(_outputs(reference / "out"), before)
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    with pytest.raises(saxs.InputError, match="not a job record"):
        read_record(bad)


def test_local_process_pool_gives_identical_outputs(reference, config_file, tmp_path):
    config = load_config(config_file)
    log = tmp_path / "out" / "saxs.log"  # as `saxs batch` makes it
    log.parent.mkdir()
    log.touch()
    result = run_batch(reference / "bt", config, tmp_path / "out",
                       executor=Executor("local", jobs=2, log_file=log))
    assert not result.failed
    assert os.getpid() not in {r.pid for r in result.all()}
    assert "[pid " in log.read_text()  # the workers log to the batch's file
    _assert_same(_outputs(tmp_path / "out"), _outputs(reference / "out"))
    with pytest.raises(saxs.InputError, match="jobs must be >= 1"):
        Executor("local", jobs=0)
    with pytest.raises(saxs.InputError, match="'local' or 'dask'"):
        Executor("slurm")


def test_reduce_and_analyze_commands(reference, tmp_path, capsys):
    bt, out = reference / "bt", reference / "out"
    calib = bt / "calib"
    raw = next((bt / "raw").glob("small_*_00003_00.h5"))  # np0 (scan 3)
    assert main(["reduce", str(raw), "-m", str(calib / "mask_gaps.edf"), "-m",
                 str(calib / "mask_beamstop.edf"), "-d", str(calib / "dark.edf"), "-f",
                 str(calib / "flat.edf"), "-n", "120", "--intensity-unit", "1/cm", "-o",
                 str(tmp_path), "-q"]) == EXIT_OK
    ours = saxs.read_curve(tmp_path / f"{raw.stem}.h5")
    batch = saxs.read_curve(out / "reduced" / "np0.h5")
    np.testing.assert_array_equal(ours.intensity, batch.intensity)
    assert main(["reduce", str(raw), "-o", str(tmp_path), "-q"]) == EXIT_FAILED_ITEMS
    assert "exists" in capsys.readouterr().err
    samples = sorted(str(p) for p in (out / "samples").glob("np*.h5"))
    assert main(["analyze", *samples, "-o", str(tmp_path / "t.csv")]) == EXIT_OK
    text = capsys.readouterr().out
    assert text.startswith("Series over temperature_c: 4 samples (200 .. 230)")
    assert (tmp_path / "t.csv").read_text().startswith("track,kind,sample")
    pre = sorted(str(p) for p in (out / "samples").glob("pre*.h5"))
    assert main(["analyze", *pre, "--bragg"]) == EXIT_OK
    assert "lamellar phase melts between temperature_c 25 and 100" in capsys.readouterr().out
    assert main(["analyze", *pre, "--variable", "pressure_bar"]) == 1
    assert "no 'pressure_bar'" in capsys.readouterr().err


def test_without_sample_sheet_rules_classify_the_stacks(reference, tmp_path):
    shutil.copytree(reference / "bt", tmp_path / "bt")
    (tmp_path / "bt" / "samples.csv").unlink()
    config = load_config({**CONFIG, "discovery": {"rules": [
        {"match": "ode", "kind": "solvent"}, {"match": "empty", "kind": "empty_cell"},
        {"match": "pre*", "kind": "precursor"}]}})
    result = run_batch(tmp_path / "bt", config, tmp_path / "out")
    assert not result.failed
    kinds = {r.spec.name: r.spec.params["item"]["kind"] for r in result.records["sample"]}
    assert sorted(kinds.values()) == ["precursor"] * 2 + ["sample"] * 4
    solvent = next(r for r in result.records["reduce"]
                   if r.spec.params["item"]["kind"] == "solvent").spec.name
    assert all(r.spec.params["blank"] == solvent for r in result.records["sample"])
    # the same stack reduced the same way (the subtraction differs: without a sheet the
    # solvent's displaced-volume factor is 1)
    ours = saxs.read_curve(tmp_path / "out" / "reduced" / "small_rayonix_00004_00.h5")
    ref = saxs.read_curve(reference / "out" / "reduced" / "np1.h5")
    np.testing.assert_array_equal(ours.intensity, ref.intensity)


def test_resume_reruns_what_changed_and_never_uses_stale_outputs(reference, config_file,
                                                                 tmp_path):
    shutil.copytree(reference, tmp_path / "r")
    bt, out = tmp_path / "r" / "bt", tmp_path / "r" / "out"
    for path in (out / "records").rglob("*.json"):  # the copy's records point at its own files
        path.write_text(path.read_text().replace(str(reference), str(tmp_path / "r")))

    def started(stage, name):
        return json.loads((out / "records" / stage / f"{name}.json").read_text())["started"]

    before = {n: started("reduce", n) for n in ("np0", "np2")}
    # the run settings are not part of a job's identity: more workers rerun nothing
    assert main(["batch", str(bt), "-c", str(config_file), "-o", str(out), "--resume", "-j",
                 "2", "-q"]) == EXIT_OK
    assert started("reduce", "np0") == before["np0"]
    # a stack that is now broken fails; its old reduced curve is not analysed again
    raw = bt / next(r["file"] for r in csv.DictReader(
        (bt / "samples.csv").read_text().splitlines()) if r["sample"] == "np2")
    raw.write_bytes(raw.read_bytes()[:1000])
    # a calibration file rewritten in place reruns every reduction
    (bt / "calib" / "dark.edf").write_bytes((bt / "calib" / "dark.edf").read_bytes())
    assert main(["batch", str(bt), "-c", str(config_file), "-o", str(out), "--resume",
                 "-q"]) == EXIT_FAILED_ITEMS
    assert started("reduce", "np0") > before["np0"]
    sample = json.loads((out / "records" / "sample" / "np2.json").read_text())
    assert sample["status"] == "skipped"
    assert "'np2' failed" in sample["error"]
    report = (out / "series" / "growth" / "findings.txt").read_text()
    assert "left out: np2 (its sample job did not succeed)" in report


def test_sheet_problems_are_recorded(reference, config_file, tmp_path, capsys):
    shutil.copytree(reference / "bt", tmp_path / "bt")
    sheet = tmp_path / "bt" / "samples.csv"
    rows = list(csv.DictReader(sheet.read_text().splitlines()))
    for row in rows:
        if row["sample"] == "np0":
            row["blank"] = ""
        if row["sample"] == "pre100":
            row["temperature_c"] = "25"
    with sheet.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert main(["batch", str(tmp_path / "bt"), "-c", str(config_file), "-o",
                 str(tmp_path / "out"), "-q"]) == EXIT_FAILED_ITEMS
    records = {(r["spec"]["stage"], r["spec"]["name"]): r for r in (
        json.loads(p.read_text()) for p in (tmp_path / "out" / "records").rglob("*.json"))}
    assert "no blank given" in records["sample", "np0"]["error"]
    assert "np0: no blank given" in capsys.readouterr().err  # said before the work
    assert "share a value of temperature_c" in records["series", "melt"]["error"]
    assert records["series", "growth"]["status"] == "ok"


def test_calibration_pattern_typos_are_errors(reference, config_file, tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**CONFIG, "discovery": {"dark": "calib/darkk.edf"}}))
    assert main(["batch", str(reference / "bt"), "-c", str(bad), "-o", str(tmp_path / "o"),
                 "-q"]) == 1
    assert "discovery.dark: 'calib/darkk.edf' matches no file" in capsys.readouterr().err


def test_one_run_per_output_folder(tmp_path):
    from saxs_pipelines.batch import locked

    with locked(tmp_path), pytest.raises(saxs.InputError, match="another saxs run"), \
            locked(tmp_path):
        pass
    (tmp_path / ".saxs.lock").write_text("999999999")  # a run that died without cleaning up
    with locked(tmp_path):
        assert (tmp_path / ".saxs.lock").read_text() == str(os.getpid())
    assert not (tmp_path / ".saxs.lock").exists()
