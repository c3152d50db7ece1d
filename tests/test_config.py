"""``pipeline.yaml``: the commented default is the schema; unknown keys are errors."""

from __future__ import annotations

import re

import pytest
import yaml

import saxs
from saxs_pipelines.cli import EXIT_OK, main
from saxs_pipelines.config import DEFAULTS, load_config, override


def test_config_init_writes_the_commented_default(tmp_path, capsys):
    path = tmp_path / "pipeline.yaml"
    assert main(["config", "init", str(path)]) == EXIT_OK
    text = path.read_text()
    assert text.count("#") > 20
    assert load_config(path) == load_config(None)
    assert yaml.safe_load(text) == DEFAULTS
    assert main(["config", "init", str(path)]) == 1  # not overwritten
    assert "exists" in capsys.readouterr().err


def test_partial_config_is_merged_with_defaults(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("reduce: {npt: 200}\nanalysis: {populations: {bins: 60}}\n")
    config = load_config(path)
    assert config["reduce"]["npt"] == 200
    assert config["reduce"]["method"] == DEFAULTS["reduce"]["method"]
    assert config["analysis"]["populations"] == {**DEFAULTS["analysis"]["populations"],
                                                 "bins": 60}


@pytest.mark.parametrize(("text", "match"), [
    ("reduce: {nbins: 3}\n", r"unknown key\(s\) \['nbins'\] in section 'reduce'"),
    ("analysis: {populations: {bin: 3}}\n", "section 'analysis.populations'"),
    ("mc: {n_reps: 3}\n", "in section 'mc'"),
    ("montecarlo: {}\n", r"unknown section\(s\) \['montecarlo'\]"),
    ("version: 2\n", "version 2 is not supported"),
    ("reduce: 3\n", "section 'reduce' must be a mapping"),
])
def test_bad_config_names_the_key(tmp_path, text, match):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(saxs.InputError, match=match) as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_command_line_overrides():
    config = override(load_config(None), {"batch.jobs": 4, "mc.seed": 9, "reduce.npt": None})
    assert config["batch"]["jobs"] == 4
    assert config["mc"]["seed"] == 9
    assert config["reduce"]["npt"] == DEFAULTS["reduce"]["npt"]


@pytest.mark.parametrize(("given", "match"), [
    ({"mc": {"n_rep": -5}}, r"section 'mc': MCConfig.n_rep must be an integer >= 1, got -5"),
    ({"mc": {"conv_crit": "1.0"}}, r"conv_crit must be a positive number, got '1.0'"),
    ({"reduce": {"npt": "three hundred"}}, r"reduce.npt must be a number like 300"),
    ({"reduce": {"npt": 300.5}}, r"reduce.npt must be a number like 300, got 300.5"),
    ({"reduce": {"npt": None}}, r"reduce.npt may not be null"),
    ({"reduce": {"frame_threshold": -1}}, r"reduce.frame_threshold = -1 is out of range"),
    ({"batch": {"jobs": 0}}, r"batch.jobs = 0 is out of range"),
    ({"histogram": {"scale": "lin"}}, r"histogram.scale is 'lin'; choose one of"),
    ({"subtract": {"two_step": "yes"}}, r"subtract.two_step must be a true/false"),
    ({"discovery": {"geometry_from": "guess"}}, r"discovery.geometry_from is 'guess'"),
    ({"analysis": {"bragg": {"tolerance": 0.5}}}, r"analysis.bragg.tolerance = 0.5 is out"),
    ({"kinetics": {"bin_frames": 0}}, r"kinetics.bin_frames = 0 is out of range"),
    ({"kinetics": {"model": "A->D"}}, r"kinetics.model is 'A->D'; choose one of"),
])
def test_config_values_are_checked_on_load(tmp_path, given, match):
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(given))
    with pytest.raises(saxs.InputError, match=re.escape(str(path)) + ".*" + match):
        load_config(path)


def test_integral_numbers_and_nulls_are_accepted():
    config = load_config({"reduce": {"npt": 250.0, "frame_threshold": None}})
    assert config["reduce"]["npt"] == 250
    assert isinstance(config["reduce"]["npt"], int)
    assert config["reduce"]["frame_threshold"] is None


def test_batch_with_a_bad_value_creates_nothing(tmp_path, capsys):
    beamtime = tmp_path / "bt"
    beamtime.mkdir()
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"reduce": {"npt": "three hundred"}}))
    out = tmp_path / "out"
    assert main(["batch", str(beamtime), "-c", str(bad), "-o", str(out), "-q"]) == 1
    err = capsys.readouterr().err
    assert "reduce.npt must be a number" in err
    assert "Traceback" not in err
    assert not out.exists()
    assert main(["batch", str(tmp_path / "typo"), "-o", str(out), "-q"]) == 1
    assert "beamtime folder not found" in capsys.readouterr().err
    assert not out.exists()
    assert not (tmp_path / "typo").exists()
