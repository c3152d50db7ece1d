"""What series analysis finds: tracks of populations, events, and their report and table.

:func:`saxs.series.find_quantized_steps` builds a :class:`SeriesFindings`; this module holds the
result types and their plain-text report and CSV rows (it runs no analysis).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from saxs.curve import jsonable
from saxs.populations import Population
from saxs.sizing import Assignment, aggregation_number, wavelength_from_diameter


@dataclass(frozen=True)
class TrackPoint:
    """One member of a track: a population in one sample (lengths in nm).

    ``split``: the member comes from splitting a broadened population; ``assumed``: its radius
    and width were taken from the previous sample (the known species of a split), so it does
    not count as a measurement of the track's radius.
    """

    index: int
    variable: float
    radius_nm: float
    radius_err_nm: float
    width_nm: float
    width_err_nm: float
    volume_fraction: float
    volume_fraction_err: float
    split: bool = False
    assumed: bool = False
    narrow_limit_rel: float = math.inf


@dataclass(frozen=True)
class Track:
    """A species followed across the series."""

    kind: str
    points: tuple[TrackPoint, ...]
    tolerance_nm: float
    family: Assignment | None = None

    @property
    def measured(self) -> tuple[TrackPoint, ...]:
        """The members whose radius was measured (not assumed from a previous sample)."""
        return tuple(p for p in self.points if not p.assumed) or self.points

    @property
    def radius_nm(self) -> float:
        """Mean measured radius, weighted by 1 / err^2 (floored at 1e-6 nm)."""
        r = np.array([p.radius_nm for p in self.measured])
        w = 1 / np.maximum([p.radius_err_nm for p in self.measured], 1e-6) ** 2
        return float(np.sum(w * r) / np.sum(w))

    @property
    def radius_err_nm(self) -> float:
        """Larger of the propagated error of the mean and the scatter of the measured members."""
        r = np.array([p.radius_nm for p in self.measured])
        err = np.maximum([p.radius_err_nm for p in self.measured], 1e-6)
        propagated = float(1 / math.sqrt(np.sum(1 / err**2)))
        scatter = float(np.std(r, ddof=1) / math.sqrt(r.size)) if r.size > 1 else 0.0
        return max(propagated, scatter)

    @property
    def variables(self) -> tuple[float, ...]:
        """The values of the variable where the species is present."""
        return tuple(p.variable for p in self.points)


@dataclass(frozen=True)
class SeriesEvent:
    """A change between two consecutive samples (``variable_from`` -> ``variable_to``)."""

    kind: str
    variable_from: float
    variable_to: float
    radius_from_nm: float | None
    radius_to_nm: float | None

    def describe(self, name: str = "variable") -> str:
        """One line of text."""
        if self.kind == "step":
            return (f"step r = {self.radius_from_nm:.3f} -> {self.radius_to_nm:.3f} nm between "
                    f"{name} {self.variable_from:g} and {self.variable_to:g}")
        if self.kind == "shoulder":
            return (f"shoulder at r = {self.radius_to_nm:.3f} nm appears at {name} "
                    f"{self.variable_to:g} beside r = {self.radius_from_nm:.3f} nm")
        return (f"continuous growth from {name} {self.variable_to:g} "
                f"(r = {self.radius_to_nm:.3f} nm)")


@dataclass(frozen=True, eq=False)
class SeriesFindings:
    """Populations of a series, tracked, classified and assigned to families."""

    variable_name: str
    variable: tuple[float, ...]
    samples: tuple[str, ...]
    populations: tuple[tuple[Population, ...], ...]
    tracks: tuple[Track, ...]
    events: tuple[SeriesEvent, ...]
    settings: dict = field(default_factory=dict)

    @property
    def quantized(self) -> tuple[Track, ...]:
        """Quantized tracks, smallest radius first."""
        return tuple(sorted((t for t in self.tracks if t.kind == "quantized"),
                            key=lambda t: t.radius_nm))

    @property
    def continuous(self) -> tuple[Track, ...]:
        """Continuous-growth tracks."""
        return tuple(t for t in self.tracks if t.kind == "continuous")

    @property
    def steps(self) -> tuple[SeriesEvent, ...]:
        """Step events."""
        return tuple(e for e in self.events if e.kind == "step")

    @property
    def shoulders(self) -> tuple[SeriesEvent, ...]:
        """Shoulder events."""
        return tuple(e for e in self.events if e.kind == "shoulder")

    @property
    def continuous_onset(self) -> float | None:
        """First value of the variable with continuous growth, or None."""
        starts = [e.variable_to for e in self.events if e.kind == "continuous_onset"]
        return min(starts) if starts else None

    def report(self) -> str:
        """A plain-text summary."""
        return _report(self)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: quantized tracks (with family), continuous tracks, events, the
        onset of continuous growth and the settings."""
        return jsonable({
            "variable_name": self.variable_name, "samples": list(self.samples),
            "quantized": [{"radius_nm": t.radius_nm, "radius_err_nm": t.radius_err_nm,
                           "tolerance_nm": t.tolerance_nm, "variables": list(t.variables),
                           "family": t.family.family.name if t.family else None,
                           "family_deviation_nm": t.family.deviation_nm if t.family else None}
                          for t in self.quantized],
            "continuous": [{"variables": list(t.variables),
                            "radii_nm": [p.radius_nm for p in t.points]}
                           for t in self.continuous],
            "events": [{"kind": e.kind, "from": e.variable_from, "to": e.variable_to,
                        "radius_from_nm": e.radius_from_nm, "radius_to_nm": e.radius_to_nm}
                       for e in self.events],
            "continuous_onset": self.continuous_onset, "settings": self.settings})

    def table(self) -> list[dict]:
        """One row per (track, sample): the CSV table of the series."""
        return _table(self)


def _family_text(track: Track) -> str:
    a = track.family
    if a is None:
        return ""
    flag = ", sizing curve extrapolated" if a.extrapolated else ""
    return (f" -> {a.family.name} (D = {a.diameter_nm:.2f} nm vs {a.family.diameter_nm:.2f} nm, "
            f"deviation {a.deviation_nm:+.2f} nm = {100 * a.relative_deviation:+.1f} %{flag})")


def _report(findings: SeriesFindings) -> str:
    """Plain-text summary: species, events, tolerance."""
    name = findings.variable_name
    lines = [(f"Series over {name}: {len(findings.variable)} samples "
             f"({findings.variable[0]:g} .. {findings.variable[-1]:g})"),
             f"same-species tolerance: {findings.settings.get('tolerance_rule', '')}"]
    for track in findings.quantized:
        span = f"{track.variables[0]:g}..{track.variables[-1]:g}"
        n = float(aggregation_number(2 * track.radius_nm))
        lines.append(f"quantized r = {track.radius_nm:.3f} +- {track.radius_err_nm:.4f} nm "
                     f"(tolerance {track.tolerance_nm:.3f} nm) at {name} {span}, "
                     f"N(CdSe) ~ {n:.0f}{_family_text(track)}")
    for track in findings.continuous:
        radii = ", ".join(f"{p.radius_nm:.2f}" for p in track.points)
        lines.append(f"continuous growth at {name} {track.variables[0]:g}.."
                     f"{track.variables[-1]:g}: r = {radii} nm")
    for event in findings.events:
        lines.append(event.describe(name))
    if not findings.quantized:
        lines.append("no quantized species")
    return "\n".join(lines)


def _table(findings: SeriesFindings) -> list[dict]:
    """One row per member of every track (CSV-ready)."""
    rows = []
    for number, track in enumerate(findings.tracks):
        family = track.family
        for p in track.points:
            diameter = 2 * p.radius_nm
            try:
                wavelength = float(wavelength_from_diameter(diameter))
            except ValueError:
                wavelength = float("nan")
            rows.append({
                "track": number, "kind": track.kind, "sample": findings.samples[p.index],
                findings.variable_name: p.variable, "radius_nm": p.radius_nm,
                "radius_err_nm": p.radius_err_nm, "width_nm": p.width_nm,
                "volume_fraction": p.volume_fraction,
                "volume_fraction_err": p.volume_fraction_err, "split": p.split,
                "radius_assumed": p.assumed, "narrow_limit_rel": p.narrow_limit_rel,
                "tolerance_nm": track.tolerance_nm,
                "exciton_wavelength_nm": wavelength,
                "family": family.family.name if family else "",
                "family_deviation_nm": family.deviation_nm if family else float("nan")})
    return rows
