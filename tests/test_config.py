"""``pipeline.yaml``: the commented default is the schema; unknown keys are errors."""

from __future__ import annotations

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
