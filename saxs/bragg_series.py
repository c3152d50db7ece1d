"""Bragg peaks followed through a series (temperature): intensity, phase changes, melting.

``saxs.follow_bragg(curves, variable=[25, 50, 100])`` runs :func:`saxs.find_bragg_peaks` on
every curve (or takes ready :class:`~saxs.bragg.BraggFindings`) and reports, per sample, the
phase, d-spacing and the integrated intensity of the first-order (lowest-q) Bragg peak with its
error, relative to the first ordered sample (the first order is seen whenever the phase is, so a
weak higher order dropping below threshold does not look like a loss of intensity). The phase
*melts* between the last ordered sample and the next sample without any significant Bragg peak;
a change from one indexed phase to another is a *phase change* ("unindexed" is not a phase).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from saxs.bragg import BraggFindings, PhaseEvidence, find_bragg_peaks, findings_for
from saxs.curve import Curve, fields_dict, jsonable
from saxs.errors import InputError

ORDERED_EXCLUDED = ("none",)
#: A sample takes its neighbours' phase only if its first order is within this relative
#: distance of theirs (d-spacings drift slowly along a series; a jump means another lattice).
NEIGHBOUR_Q_TOLERANCE = 0.05


@dataclass(frozen=True)
class BraggPoint:
    """The Bragg findings of one sample of the series."""

    variable: float
    sample: str
    findings: BraggFindings
    area: float
    area_err: float
    relative_area: float | None
    #: the phase whose first sample ``relative_area`` refers to
    reference_phase: str | None = None

    @property
    def ordered(self) -> bool:
        """True when the sample shows at least one significant Bragg peak."""
        return self.findings.phase not in ORDERED_EXCLUDED


@dataclass(frozen=True)
class PhaseEvent:
    """``kind`` is "melting" (ordered -> none), "ordering" (none -> ordered) or "phase_change"."""

    kind: str
    variable_from: float
    variable_to: float
    phase_from: str
    phase_to: str


@dataclass(frozen=True, eq=False)
class BraggSeries:
    """Bragg findings along a series and the phase events between consecutive samples."""

    variable_name: str
    points: tuple[BraggPoint, ...]
    events: tuple[PhaseEvent, ...]

    @property
    def melting(self) -> PhaseEvent | None:
        """The first melting event, or None."""
        return next((e for e in self.events if e.kind == "melting"), None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: each sample's phase, d-spacing and areas, melting, events."""
        melting = self.melting
        return jsonable({
            "variable_name": self.variable_name,
            "points": [{"sample": p.sample, "variable": p.variable, "phase": p.findings.phase,
                        "d_spacing_nm": p.findings.d_spacing_nm,
                        "d_spacing_err_nm": p.findings.d_spacing_err_nm,
                        "area": p.area, "relative_area": p.relative_area}
                       for p in self.points],
            "melting": None if melting is None else [melting.variable_from,
                                                     melting.variable_to],
            "events": [fields_dict(e) for e in self.events]})

    def report(self) -> str:
        """Plain-text summary."""
        name = self.variable_name
        lines = []
        for p in self.points:
            f = p.findings
            d = (f"d = {f.d_spacing_nm:.3f} +- {f.d_spacing_err_nm:.3f} nm"
                 if f.d_spacing_nm else "no d-spacing")
            rel = ("" if p.relative_area is None
                   else f", {100 * p.relative_area:.0f} % of the first {p.reference_phase} sample")
            how = " (phase from its neighbours)" if f.assigned_by == "neighbours" else ""
            extra = f", {len(f.extra_peaks)} unindexed extra peak(s)" if f.extra_peaks else ""
            lines.append(f"{name} {p.variable:g} ({p.sample}): {f.phase}{how}, "
                         f"{len(f.peaks)} Bragg peak(s){extra}, {d}, first-order area "
                         f"{p.area:.3g} +- {p.area_err:.2g}{rel}")
        for e in self.events:
            if e.kind == "melting":
                lines.append(f"{e.phase_from} phase melts between {name} {e.variable_from:g} "
                             f"and {e.variable_to:g}")
            elif e.kind == "ordering":
                lines.append(f"{e.phase_to} phase appears between {name} {e.variable_from:g} "
                             f"and {e.variable_to:g}")
            else:
                lines.append(f"phase change {e.phase_from} -> {e.phase_to} between {name} "
                             f"{e.variable_from:g} and {e.variable_to:g}")
        return "\n".join(lines)

    def table(self) -> list[dict]:
        """One row per peak (or per sample without peaks), CSV-ready."""
        rows = []
        for p in self.points:
            f = p.findings
            base = {"sample": p.sample, self.variable_name: p.variable, "phase": f.phase,
                    "d_spacing_nm": f.d_spacing_nm, "d_spacing_err_nm": f.d_spacing_err_nm,
                    "first_order_area": p.area, "first_order_area_err": p.area_err}
            if not f.peaks:
                rows.append({**base, "peak": "", "q_nm": "", "q_err_nm": "", "fwhm_nm": "",
                             "area": "", "area_err": "", "significance": ""})
            for k, peak in enumerate(f.peaks):
                rows.append({**base, "peak": k + 1, "q_nm": peak.q, "q_err_nm": peak.q_err,
                             "fwhm_nm": peak.fwhm, "area": peak.area, "area_err": peak.area_err,
                             "significance": peak.significance})
        return rows


def _findings(item: Curve | BraggFindings, k: int, options: dict) -> BraggFindings:
    if isinstance(item, BraggFindings):
        return item
    if isinstance(item, Curve):
        return find_bragg_peaks(item, **options)
    raise InputError(f"follow_bragg: item {k} is a {type(item).__name__}; give Curves or "
                     "BraggFindings")


def follow_bragg(items: Sequence[Curve | BraggFindings], variable: Sequence[float], *,
                 variable_name: str = "variable", samples: Sequence[str] | None = None,
                 **options) -> BraggSeries:
    """Bragg peaks through a series ordered by ``variable`` (see the module docstring).

    ``options`` go to :func:`saxs.find_bragg_peaks` for the items given as curves.
    """
    values = np.asarray(variable, dtype=np.float64)
    if len(items) == 0:
        raise InputError("follow_bragg: the series is empty")
    if values.ndim != 1 or values.size != len(items):
        raise InputError(f"follow_bragg: {len(items)} items but {values.size} values of the "
                         "variable; give one value per item")
    if not np.all(np.isfinite(values)) or np.any(np.diff(values) <= 0):
        raise InputError(f"follow_bragg: the variable must be strictly increasing (sort the "
                         f"series), got {values.tolist()}")
    found = _consistent([_findings(item, k, options) for k, item in enumerate(items)])
    names = list(samples) if samples is not None else [f.sample or f"#{k}"
                                                       for k, f in enumerate(found)]
    references: dict[str, tuple[float, float]] = {}   # phase -> (first-order q, area)
    last_phase: str | None = None
    points = []
    for v, name, f in zip(values, names, found, strict=True):
        area = float(f.peaks[0].area) if f.peaks else 0.0
        area_err = float(f.peaks[0].area_err) if f.peaks else 0.0
        phase = _reference_phase(f, references, last_phase)
        relative = None
        if phase is not None:
            # areas compare only within one phase (another lattice has other structure factors)
            if phase not in references:
                references[phase] = (float(f.peaks[0].q), area)
            reference = references[phase][1]
            relative = area / reference if reference else None
            last_phase = phase
        points.append(BraggPoint(float(v), str(name), f, area, area_err, relative,
                                 phase if relative is not None else None))
    return BraggSeries(variable_name, tuple(points), tuple(_phase_events(points)))


def _reference_phase(f: BraggFindings, references: dict[str, tuple[float, float]],
                     last_phase: str | None) -> str | None:
    """The phase whose first sample's first order ``f``'s area is compared with.

    An indexed sample uses its own phase; a sample without peaks is 0 of the last phase seen;
    an unindexed one compares with the last phase seen when its first peak lies within
    :data:`NEIGHBOUR_Q_TOLERANCE` of that phase's first order (else it has no relative area).
    """
    if f.phase not in ("none", "unindexed"):
        return f.phase
    if last_phase is None:
        return None
    if f.phase == "none":
        return last_phase
    q_ref = references[last_phase][0]
    return last_phase if abs(f.peaks[0].q / q_ref - 1) <= NEIGHBOUR_Q_TOLERANCE else None


def _neighbour_phase(found: list[BraggFindings], k: int) -> BraggFindings | None:
    """The findings of an indexed neighbour when all indexed neighbours share one phase."""
    indexed = [found[j] for j in (k - 1, k + 1)
               if 0 <= j < len(found) and found[j].phase not in ("none", "unindexed")]
    if not indexed or len({f.phase for f in indexed}) != 1:
        return None
    return indexed[0]


def _reassigned(f: BraggFindings, neighbour: BraggFindings) -> BraggFindings | None:
    """``f`` assigned to the neighbour's phase when its evidence is ambiguous (unindexed, or
    that phase within one reflection of the best) and its first order agrees with the
    neighbour's within :data:`NEIGHBOUR_Q_TOLERANCE`; else None."""
    phase = neighbour.phase
    if f.phase in ("none", phase) or not f.evidence:
        return None
    q_nb = 2 * math.pi / neighbour.d_spacing_nm
    near = [e for e in f.evidence if e.phase == phase
            and abs(e.peaks[0].q / q_nb - 1) <= NEIGHBOUR_Q_TOLERANCE]
    if not near:
        return None
    ev: PhaseEvidence = max(near, key=lambda e: e.score)
    if f.phase != "unindexed" and ev.score[0] < f.evidence[0].score[0] - 1:
        return None
    bragg = list(f.peaks) + list(f.extra_peaks)
    return findings_for(ev, bragg, broad=f.broad_peaks, background=f.background,
                        sample=f.sample, all_evidence=f.evidence, assigned_by="neighbours")


def _consistent(found: list[BraggFindings]) -> list[BraggFindings]:
    """Ambiguous samples take the phase of their neighbours (one pass, on the own findings)."""
    out = list(found)
    for k, f in enumerate(found):
        neighbour = _neighbour_phase(found, k)
        if neighbour is not None:
            out[k] = _reassigned(f, neighbour) or f
    return out


def _phase_events(points: list[BraggPoint]) -> list[PhaseEvent]:
    events = []
    for a, b in itertools.pairwise(points):
        pa, pb = a.findings.phase, b.findings.phase
        if a.ordered and not b.ordered:
            events.append(PhaseEvent("melting", a.variable, b.variable, pa, pb))
        elif b.ordered and not a.ordered:
            events.append(PhaseEvent("ordering", a.variable, b.variable, pa, pb))
        elif pa != pb and "unindexed" not in (pa, pb) and a.ordered and b.ordered:
            events.append(PhaseEvent("phase_change", a.variable, b.variable, pa, pb))
    return events
