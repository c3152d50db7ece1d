"""``pipeline.yaml``: one versioned file, a section per stage, snake_case keys.

The commented default (:data:`DEFAULT_TEXT`, written by ``saxs config init``) is the schema:
a key that is not in it is an error (so a typo never silently falls back to a default), except
in ``mc``, whose keys are the fields of :class:`saxs.MCConfig`.
"""

from __future__ import annotations

import copy
import dataclasses
import os
from pathlib import Path
from typing import Any

import yaml

from saxs.errors import InputError

VERSION = 1

DEFAULT_TEXT = """\
# saxs pipeline configuration (saxs config init). Units: q 1/nm, radii nm, lengths cm.
version: 1

discovery:
  # CSV sample sheet in the beamtime folder: sample, kind (sample / solvent / empty_cell /
  # precursor), file, blank, empty_cell, series, temperature_c, ... (saxs simulate writes one)
  sample_sheet: samples.csv
  # without a sample sheet: stacks matching raw_glob, classified by the first rule whose
  # pattern (shell wildcards) matches the header Title or the file name
  raw_glob: "raw/*_[0-9][0-9][0-9][0-9][0-9]*"
  # e.g. [{match: "*ODE*", kind: solvent}, {match: "*empty*", kind: empty_cell}]
  rules: []
  # calibration files relative to the beamtime folder; wildcards allowed; null: none
  poni: null           # a PONI file (geometry_from below says when it is used)
  # a calibrant frame (AgBh, LaB6 ...) calibrated once per batch into OUT/calibration/
  calibrant_frame: null
  calibrant: AgBh      # pyFAI calibrant name(s) of that frame, e.g. LaB6 or "AgBh+LaB6"
  # auto: the calibrant frame if given, else the PONI if given, else the frame headers;
  # or ask for one: calibrant_frame, poni, header
  geometry_from: auto
  mask: ["calib/mask*.edf"]
  dark: "calib/dark*.edf"
  flat: "calib/flat*.edf"

reduce:
  npt: 300             # q bins
  method: [bbox, csr, cython]
  frame_threshold: 5.0     # robust sigmas; null disables frame rejection
  zinger_threshold: 8.0    # robust sigmas; null disables zinger rejection
  intensity_unit: 1/cm     # what NormalizationFactor makes of the counts

subtract:
  two_step: true       # empty cell from sample and solvent, then solvent from sample
  interpolate: false   # interpolate the blank onto the sample's q grid if they differ
  divide_thickness: false  # true when NormalizationFactor does not include the thickness

mc:                    # fields of saxs.MCConfig
  radius_range_nm: [0.3, 4.0]
  n_contrib: 300
  n_rep: 10
  conv_crit: 1.0
  seed: 1
  model: sphere        # or core_shell_sphere, cylinder, spheroid, disc, any sasmodels name
  model_parameters: {} # fixed shape parameters, e.g. {length_nm: 20}

histogram:
  bins: 40
  scale: log
  range_nm: null
  weighting: volume

analysis:
  mc_kinds: [sample]        # sheet kinds that get a Monte Carlo size distribution
  bragg_kinds: [precursor]  # sheet kinds searched for Bragg peaks
  series_variable: temperature_c   # sheet column that orders a series
  populations:
    bins: 80
    significance: 3.0
    n_sigma: 3.0
    max_quantized_rel_width: 0.06  # relative width of a magic-size candidate ...
    resolution_factor: 2.0         # ... or up to this many x the Monte Carlo's resolution
  # null: SCIENCE.md's table; or [{wavelength_nm: 403, species: "(CdSe)33"}, ...]
  families: null
  bragg:
    min_significance: 5.0
    max_relative_fwhm: 0.1
    tolerance: 0.015

batch:
  executor: local      # local (process pool) or dask
  jobs: 1              # local worker processes
  scheduler: null      # dask scheduler address, e.g. tcp://host:8786
"""

DEFAULTS: dict[str, Any] = yaml.safe_load(DEFAULT_TEXT)
HISTOGRAM_KEYS = DEFAULTS["histogram"]
SECTIONS = tuple(DEFAULTS)


def _check_keys(given: dict[str, Any], known: dict[str, Any], where: str, section: str) -> None:
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise InputError(f"{where}: unknown key(s) {unknown} in section '{section}'; known: "
                         f"{sorted(known)}")


def _merge(defaults: dict[str, Any], given: dict[str, Any], where: str,
           section: str) -> dict[str, Any]:
    if not isinstance(given, dict):
        raise InputError(f"{where}: section '{section}' must be a mapping, got {given!r}")
    _check_keys(given, defaults, where, section)
    out = copy.deepcopy(defaults)
    for key, value in given.items():
        if isinstance(defaults[key], dict) and value is not None:
            out[key] = _merge(defaults[key], value, where, f"{section}.{key}")
        else:
            out[key] = value
    return out


def _read(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise InputError(f"{path}: configuration file not found (saxs config init writes one)")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: the configuration must be a mapping of sections")
    return data


def load_config(path: str | os.PathLike | dict | None) -> dict[str, Any]:
    """Read and check ``pipeline.yaml`` (a path, an already parsed mapping, or None)."""
    if isinstance(path, dict):
        data, where = path, "configuration"
    elif path is None:
        data, where = {}, "defaults"
    else:
        data, where = _read(Path(path)), str(path)
    version = data.get("version", VERSION)
    if version != VERSION:
        raise InputError(f"{where}: configuration version {version!r} is not supported "
                         f"(this saxs reads version {VERSION})")
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise InputError(f"{where}: unknown section(s) {unknown}; known: {list(SECTIONS)}")
    out: dict[str, Any] = {"version": VERSION}
    for section in SECTIONS[1:]:
        given = data.get(section) or {}
        if section == "mc":
            out["mc"] = _mc_section(given, where)
        else:
            out[section] = _merge(DEFAULTS[section], given, where, section)
    return out


def _mc_section(section: dict[str, Any], where: str) -> dict[str, Any]:
    from saxs.montecarlo import MCConfig  # noqa: PLC0415

    if not isinstance(section, dict):
        raise InputError(f"{where}: section 'mc' must be a mapping, got {section!r}")
    known = {f.name: None for f in dataclasses.fields(MCConfig)}
    _check_keys(section, known, where, "mc")
    return {**DEFAULTS["mc"], **section}


def mc_config(settings: dict[str, Any], overrides: dict[str, Any] | None = None):
    """An :class:`saxs.MCConfig` from the ``mc`` section with command-line overrides."""
    from saxs.montecarlo import MCConfig  # noqa: PLC0415

    values = {**settings, **{k: v for k, v in (overrides or {}).items() if v is not None}}
    return MCConfig.from_dict(values, where="configuration section 'mc'")


def parse_assignments(items: list[str] | None, flag: str) -> dict[str, float]:
    """``["length_nm=20", ...]`` -> ``{"length_nm": 20.0}``; InputError naming the flag."""
    out: dict[str, float] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            raise InputError(f"{flag} {item!r}: write NAME=VALUE, e.g. {flag} length_nm=20")
        try:
            out[name] = float(value)
        except ValueError:
            raise InputError(f"{flag} {item!r}: {value.strip()!r} is not a number") from None
    return out


def override(config: dict[str, Any], dotted: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``config`` with ``{"section.key": value}`` overrides (None values ignored)."""
    out = copy.deepcopy(config)
    for key, value in dotted.items():
        if value is None:
            continue
        *sections, leaf = key.split(".")
        target = out
        for name in sections:
            target = target[name]
        target[leaf] = value
    return load_config(out)


def write_default(path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write the commented default configuration (``saxs config init``)."""
    from saxs.io.atomic import atomic_path  # noqa: PLC0415

    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_text(DEFAULT_TEXT)
    return Path(path)
