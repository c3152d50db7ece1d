"""``pipeline.yaml``: one versioned file, a section per stage, snake_case keys.

Only the stages implemented so far are read here: ``mc`` (the fields of
:class:`saxs.MCConfig`) and ``histogram`` (bins, scale, range_nm, weighting). Unknown
sections and keys are errors, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import yaml

from saxs.errors import InputError

VERSION = 1
HISTOGRAM_KEYS = {"bins": 40, "scale": "log", "range_nm": None, "weighting": "volume"}
SECTIONS = ("version", "mc", "histogram")


def load_config(path: str | os.PathLike | None) -> dict[str, Any]:
    """Read and check ``pipeline.yaml`` (None: all defaults)."""
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path}: configuration file not found")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise InputError(f"{path}: not valid YAML ({exc})") from None
        if not isinstance(data, dict):
            raise InputError(f"{path}: the configuration must be a mapping of sections")
    where = str(path) if path else "defaults"
    version = data.get("version", VERSION)
    if version != VERSION:
        raise InputError(f"{where}: configuration version {version!r} is not supported "
                         f"(this saxs reads version {VERSION})")
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise InputError(f"{where}: unknown section(s) {unknown}; known: {list(SECTIONS)}")
    return {"version": VERSION, "mc": _mc_section(data.get("mc") or {}, where),
            "histogram": _histogram_section(data.get("histogram") or {}, where)}


def _mc_section(section: dict[str, Any], where: str) -> dict[str, Any]:
    from saxs.montecarlo import MCConfig  # noqa: PLC0415

    known = {f.name for f in dataclasses.fields(MCConfig)}
    unknown = sorted(set(section) - known)
    if unknown:
        raise InputError(f"{where}: unknown key(s) {unknown} in section 'mc'; known: "
                         f"{sorted(known)}")
    return dict(section)


def _histogram_section(section: dict[str, Any], where: str) -> dict[str, Any]:
    unknown = sorted(set(section) - set(HISTOGRAM_KEYS))
    if unknown:
        raise InputError(f"{where}: unknown key(s) {unknown} in section 'histogram'; known: "
                         f"{sorted(HISTOGRAM_KEYS)}")
    return {**HISTOGRAM_KEYS, **section}


def mc_config(settings: dict[str, Any], overrides: dict[str, Any]):
    """An :class:`saxs.MCConfig` from the ``mc`` section with command-line overrides."""
    from saxs.montecarlo import MCConfig  # noqa: PLC0415

    values = {**settings, **{k: v for k, v in overrides.items() if v is not None}}
    for key in ("radius_range_nm", "q_range_nm"):
        if isinstance(values.get(key), list):
            values[key] = tuple(values[key])
    if "omit_q_ranges_nm" in values:
        values["omit_q_ranges_nm"] = tuple(tuple(p) for p in values["omit_q_ranges_nm"])
    return MCConfig(**values)
