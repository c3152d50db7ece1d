"""Text report and table rows of :class:`saxs.series.SeriesFindings`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from saxs.sizing import aggregation_number, wavelength_from_diameter

if TYPE_CHECKING:
    from saxs.series import SeriesFindings, Track


def _family_text(track: Track) -> str:
    a = track.family
    if a is None:
        return ""
    flag = ", sizing curve extrapolated" if a.extrapolated else ""
    return (f" -> {a.family.name} (D = {a.diameter_nm:.2f} nm vs {a.family.diameter_nm:.2f} nm, "
            f"deviation {a.deviation_nm:+.2f} nm = {100 * a.relative_deviation:+.1f} %{flag})")


def series_report(findings: SeriesFindings) -> str:
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


def series_table(findings: SeriesFindings) -> list[dict]:
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
