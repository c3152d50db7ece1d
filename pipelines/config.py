"""``pipeline.yaml``: one versioned file, a section per stage, snake_case keys.

The commented default (:data:`DEFAULT_TEXT`, written by ``saxs config init``) is the schema:
a key that is not in it is an error (so a typo never silently falls back to a default), except
in ``mc``, whose keys are the fields of :class:`saxs.MCConfig`.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
from pathlib import Path
from typing import Any

import yaml

from saxs.errors import InputError
from saxs_pipelines.geometry_source import CHOICES as GEOMETRY_SOURCES

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
  # null: the built-in CdSe magic-size-cluster table;
  # or [{wavelength_nm: 403, species: "(CdSe)33"}, ...]
  families: null
  bragg:
    min_significance: 5.0
    max_relative_fwhm: 0.1
    tolerance: 0.007     # relative, of the indexing ratios (saxs.bragg.DEFAULT_TOLERANCE)

kinetics:              # samples marked kinetic in the sheet (one curve per frame)
  bin_frames: 1        # consecutive frames averaged per point before the Monte Carlo
  model: auto          # A->B, A->B->C, or auto (as many quantized species as found)

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


#: Settings that may be null (besides those whose default is null).
NULLABLE = {"reduce.frame_threshold", "reduce.zinger_threshold", "discovery.mask",
            "discovery.dark", "discovery.flat", "discovery.sample_sheet"}
#: The allowed values of settings that take a name.
CHOICES: dict[str, tuple[str, ...]] = {
    "discovery.geometry_from": GEOMETRY_SOURCES,
    "histogram.scale": ("log", "linear"),
    "histogram.weighting": ("volume", "number"),
    "batch.executor": ("local", "dask"),
    "kinetics.model": ("auto", "A->B", "A->B->C"),
}
#: The ranges of numeric settings: [low, high).
RANGES: dict[str, tuple[float, float]] = {
    "reduce.npt": (2, math.inf), "reduce.frame_threshold": (1e-9, math.inf),
    "reduce.zinger_threshold": (1e-9, math.inf), "histogram.bins": (1, math.inf),
    "analysis.populations.bins": (2, math.inf),
    "analysis.populations.significance": (1e-9, math.inf),
    "analysis.populations.n_sigma": (1e-9, math.inf),
    "analysis.populations.max_quantized_rel_width": (1e-9, 1.0),
    "analysis.populations.resolution_factor": (1e-9, math.inf),
    "analysis.bragg.min_significance": (1e-9, math.inf),
    "analysis.bragg.max_relative_fwhm": (1e-9, 1.0),
    "analysis.bragg.tolerance": (1e-9, 0.2), "batch.jobs": (1, 1025),
    "kinetics.bin_frames": (1, math.inf),
}


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "number"
    return {str: "text", list: "list", dict: "mapping"}.get(type(value), type(value).__name__)


def _check_values(values: dict[str, Any], defaults: dict[str, Any], where: str,
                  section: str) -> None:
    """Types against the defaults', then :data:`CHOICES` and :data:`RANGES` (one-line errors
    naming the file, the key and the value)."""
    for key, value in values.items():
        name = f"{section}.{key}"
        default = defaults.get(key)
        if isinstance(default, dict) and isinstance(value, dict):
            _check_values(value, default, where, name)
            continue
        if value is None:
            if default is not None and name not in NULLABLE:
                raise InputError(f"{where}: {name} may not be null; the default is {default!r}")
            continue
        whole = isinstance(default, int) and not isinstance(default, bool)
        if default is not None and not name.startswith("discovery.") and (
                _kind(value) != _kind(default)
                or (whole and isinstance(value, float) and not value.is_integer())):
            raise InputError(f"{where}: {name} must be a {_kind(default)} like "
                             f"{default!r}, got {value!r}")
        if whole and isinstance(value, float):
            values[key] = int(value)  # 300.0 from YAML is 300
        if name in CHOICES and value not in CHOICES[name]:
            raise InputError(f"{where}: {name} is {value!r}; choose one of "
                             f"{list(CHOICES[name])}")
        if name in RANGES:
            low, high = RANGES[name]
            if not low <= value < high:
                raise InputError(f"{where}: {name} = {value!r} is out of range; give a value "
                                 f">= {low:g}" + (f" and < {high:g}" if high < math.inf else ""))


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
            _check_values(out[section], DEFAULTS[section], where, section)
    mc_config(out["mc"], where=where)  # types and ranges of the Monte Carlo settings
    return out


def _mc_section(section: dict[str, Any], where: str) -> dict[str, Any]:
    from saxs.montecarlo import MCConfig  # noqa: PLC0415

    if not isinstance(section, dict):
        raise InputError(f"{where}: section 'mc' must be a mapping, got {section!r}")
    known = {f.name: None for f in dataclasses.fields(MCConfig)}
    _check_keys(section, known, where, "mc")
    return {**DEFAULTS["mc"], **section}


def mc_config(settings: dict[str, Any], overrides: dict[str, Any] | None = None,
              where: str = "configuration"):
    """An :class:`saxs.MCConfig` from the ``mc`` section with command-line overrides."""
    from saxs.montecarlo import MCConfig  # noqa: PLC0415

    values = {**settings, **{k: v for k, v in (overrides or {}).items() if v is not None}}
    try:
        return MCConfig.from_dict(values, where=f"{where}: section 'mc'")
    except InputError as exc:
        message = str(exc)
        raise InputError(message if message.startswith(where) else
                         f"{where}: section 'mc': {message}") from None


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
