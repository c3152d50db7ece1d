"""A beamtime folder: its stacks, calibration files, and which blank belongs to which sample.

The sample sheet (CSV, ``discovery.sample_sheet``) is the primary source: one row per stack
with at least ``sample``, ``kind`` and ``file``; ``blank`` (the solvent) and ``empty_cell`` name
other rows. The optional column ``kinetic`` (true / false, yes / no, 1 / 0; empty = false)
marks time-resolved samples: their stacks are reduced per frame (``<name>_ave.h5``) and
followed in time (``saxs kinetics``) instead of averaged. Without a sheet, stacks matching
``discovery.raw_glob`` are classified by the first rule whose pattern matches the header Title
or the file name; samples then take the solvent and empty cell found that way.
"""

from __future__ import annotations

import csv
import fnmatch
import glob
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from saxs.errors import InputError

KINDS = ("sample", "solvent", "empty_cell", "precursor", "standard")
_NUMBERS = ("temperature_c", "growth_temperature_c", "reaction_time_s", "thickness_cm",
            "solvent_volume_fraction")


@dataclass(frozen=True)
class Item:
    """One stack of the beamtime and what it is."""

    name: str
    kind: str
    file: str
    blank: str = ""
    empty_cell: str = ""
    series: str = ""
    frames: int | None = None
    values: dict[str, float] = field(default_factory=dict)
    kinetic: bool = False

    @property
    def solvent_volume_fraction(self) -> float:
        """Displaced-volume factor of the solvent (1 when not given)."""
        value = self.values.get("solvent_volume_fraction", math.nan)
        return 1.0 if math.isnan(value) else value


@dataclass(frozen=True)
class Beamtime:
    """Items, calibration files and problems found while linking them."""

    root: Path
    items: tuple[Item, ...]
    calib: dict[str, Any]
    problems: dict[str, str] = field(default_factory=dict)

    def item(self, name: str) -> Item:
        """The item called ``name``."""
        for it in self.items:
            if it.name == name:
                return it
        raise InputError(f"{self.root}: no stack called {name!r}")


def _number(text: str, where: str) -> float:
    if text is None or text.strip() == "":
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise InputError(f"{where}: {text!r} is not a number") from None


_TRUE, _FALSE = ("true", "yes", "1"), ("false", "no", "0", "")
KINETIC_KINDS = ("sample",)


def _flag(text: str | None, where: str) -> bool:
    value = (text or "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InputError(f"{where}: {text!r} is not true or false (write true/false, yes/no or "
                     "1/0; empty means false)")


def _sheet_items(path: Path) -> list[Item]:
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise InputError(f"{path}: the sample sheet has no rows")
    missing = {"sample", "kind", "file"} - set(rows[0])
    if missing:
        raise InputError(f"{path}: missing column(s) {sorted(missing)}")
    items, seen = [], set()
    for line, row in enumerate(rows, start=2):
        where = f"{path}, line {line}"
        name = (row.get("sample") or "").strip()
        if not name or name in seen:
            raise InputError(f"{where}: sample name {name!r} is empty or repeated")
        seen.add(name)
        kind = (row.get("kind") or "").strip()
        if kind not in KINDS:
            raise InputError(f"{where}: kind {kind!r} is not one of {list(KINDS)}")
        frames = _number(row.get("frames", ""), f"{where}, column frames")
        if not (math.isnan(frames) or (frames >= 1 and frames == int(frames))):
            raise InputError(f"{where}, column frames: {frames!r} is not a positive whole number")
        values = {key: _number(row.get(key, ""), f"{where}, column {key}") for key in _NUMBERS
                  if key in row}
        kinetic = _flag(row.get("kinetic"), f"{where}, column kinetic")
        if kinetic and kind not in KINETIC_KINDS:
            raise InputError(f"{where}, column kinetic: {name!r} is a {kind}; only kind "
                             f"{' or '.join(KINETIC_KINDS)} rows can be kinetic (blanks are "
                             "averaged)")
        items.append(Item(name, kind, row["file"].strip(), (row.get("blank") or "").strip(),
                          (row.get("empty_cell") or "").strip(),
                          (row.get("series") or "").strip(),
                          None if math.isnan(frames) else int(frames), values, kinetic))
    return items


def _rule_items(root: Path, discovery: dict[str, Any]) -> list[Item]:
    from saxs.io.frames import read_frames  # noqa: PLC0415

    rules = discovery.get("rules") or []
    files = sorted(Path(p) for p in glob.glob(str(root / discovery["raw_glob"])))
    items = []
    for path in files:
        if "scalers" in path.name:
            continue
        try:
            title = read_frames(path).header.title or ""
        except Exception:  # noqa: BLE001  (an unreadable stack is reported when reduced)
            title = ""
        kind = next((r["kind"] for r in rules
                     if fnmatch.fnmatch(title, r["match"]) or fnmatch.fnmatch(path.name,
                                                                             r["match"])),
                    "sample")
        items.append(Item(path.stem, kind, str(path.relative_to(root))))
    solvent = next((i.name for i in items if i.kind == "solvent"), "")
    empty = next((i.name for i in items if i.kind == "empty_cell"), "")
    return [Item(i.name, i.kind, i.file, solvent if i.kind in ("sample", "precursor") else
                 (empty if i.kind == "solvent" else ""), empty if i.kind != "empty_cell" else "")
            for i in items]


def _resolve(root: Path, key: str, pattern, default, many: bool = False):
    """Files of a calibration setting. A pattern the user set must match (exactly one file for
    poni/dark/flat); the default patterns may match nothing (no such calibration)."""
    if not pattern:
        return [] if many else None
    patterns = pattern if isinstance(pattern, list) else [pattern]
    found = []
    for p in patterns:
        matches = sorted(glob.glob(str(root / p)))
        if not matches and pattern != default:
            raise InputError(f"discovery.{key}: {p!r} matches no file in {root}; fix the "
                             "pattern or set it to null")
        found.extend(matches)
    if many:
        return found
    if len(found) > 1:
        raise InputError(f"discovery.{key}: {pattern!r} matches {len(found)} files in {root} "
                         f"({', '.join(Path(f).name for f in found)}); name one")
    return found[0] if found else None


def _problems(items: list[Item], root: Path) -> dict[str, str]:
    names = {i.name: i for i in items}
    problems = {}
    for item in items:
        if not (root / item.file).is_file():
            problems[item.name] = f"raw file {root / item.file} not found"
            continue
        if item.kind in ("sample", "precursor") and not item.blank:
            problems[item.name] = ("no blank given: name its solvent in the sample sheet's "
                                   "'blank' column (or add a solvent rule)")
            continue
        for role in ("blank", "empty_cell"):
            other = getattr(item, role)
            if other and other not in names:
                problems[item.name] = (f"its {role.replace('_', ' ')} {other!r} is not in the "
                                       "sample sheet; add that row or fix the name")
            elif other and not (root / names[other].file).is_file():
                problems[item.name] = (f"its {role.replace('_', ' ')} {other!r} has no raw file "
                                       f"({root / names[other].file})")
    return problems


def discover(root: str | Path, discovery: dict[str, Any]) -> Beamtime:
    """Items and calibration of the beamtime folder ``root`` (``discovery`` config section)."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: beamtime folder not found")
    sheet = discovery.get("sample_sheet")
    if sheet and (root / sheet).is_file():
        items = _sheet_items(root / sheet)
    else:
        items = _rule_items(root, discovery)
        if not items:
            raise InputError(f"{root}: no sample sheet ({sheet}) and no stack matches "
                             f"{discovery['raw_glob']!r}")
    from saxs_pipelines.config import DEFAULTS  # noqa: PLC0415

    defaults = DEFAULTS["discovery"]
    calib = {key: _resolve(root, key, discovery.get(key), defaults[key], many=key == "mask")
             for key in ("poni", "mask", "dark", "flat", "calibrant_frame")}
    from saxs_pipelines.geometry_source import chosen  # noqa: PLC0415

    chosen(calib, discovery)  # a geometry source that is not configured fails here
    return Beamtime(root, tuple(items), calib, _problems(items, root))
