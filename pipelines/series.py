"""The series job: quantized steps across size distributions, or Bragg peaks across a
temperature series; writes the text report, the CSV table, a JSON summary and the figure."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from saxs.io.atomic import atomic_path
from saxs_pipelines.records import JobSpec


def write_text(path: str | Path, text: str, overwrite: bool) -> None:
    """Write a text file atomically."""
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_text(text)


def csv_text(rows: list[dict[str, Any]]) -> str:
    """Rows (dicts with the same keys) as CSV text."""
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return buffer.getvalue()


def _families(config: dict[str, Any]):
    from saxs.sizing import DEFAULT_FAMILIES, Family  # noqa: PLC0415

    table = config["analysis"]["families"]
    if table is None:
        return DEFAULT_FAMILIES
    return tuple(Family(float(f["wavelength_nm"]), str(f.get("species", ""))) for f in table)


def _sizes(spec: JobSpec) -> tuple[Any, str, list[dict], dict]:
    import saxs  # noqa: PLC0415
    from saxs.montecarlo import monodisperse_width  # noqa: PLC0415
    from saxs_pipelines.plots import plot_series  # noqa: PLC0415

    params = spec.params
    members = params["members"]
    dists = [saxs.read_distribution(spec.inputs[m["name"]]) for m in members]
    cfg = params["config"]["analysis"]["populations"]
    findings = saxs.find_quantized_steps(
        dists, [m["variable"] for m in members], variable_name=params["variable_name"],
        samples=[m["name"] for m in members], bins=cfg["bins"],
        significance=cfg["significance"], n_sigma=cfg["n_sigma"],
        max_quantized_rel_width=cfg["max_quantized_rel_width"],
        resolution_factor=cfg["resolution_factor"], resolution=monodisperse_width,
        families=_families(params["config"]))
    def draw(path: Path) -> None:
        plot_series(findings, dists, path, params["config"]["histogram"])

    return draw, findings.report(), findings.table(), findings.to_dict()


def _bragg(spec: JobSpec) -> tuple[Any, str, list[dict], dict]:
    import saxs  # noqa: PLC0415
    from saxs_pipelines.plots import plot_bragg_series  # noqa: PLC0415

    params = spec.params
    members = params["members"]
    curves = [saxs.read_curve(spec.inputs[m["name"]]) for m in members]
    series = saxs.follow_bragg(curves, [m["variable"] for m in members],
                               variable_name=params["variable_name"],
                               samples=[m["name"] for m in members],
                               **params["config"]["analysis"]["bragg"])
    def draw(path: Path) -> None:
        plot_bragg_series(series, curves, path)

    return draw, series.report(), series.table(), series.to_dict()


def run_series(spec: JobSpec) -> None:
    """Run a series job (``params.kind`` "sizes" or "bragg") and write its four outputs."""
    kind = spec.params["kind"]
    draw, report, rows, summary = (_sizes if kind == "sizes" else _bragg)(spec)
    excluded = spec.params.get("excluded", [])
    if excluded:
        report += "\nleft out: " + "; ".join(f"{e['name']} ({e['reason']})" for e in excluded)
        summary["excluded"] = excluded
    out, overwrite = spec.outputs, spec.overwrite
    # the figure first: if drawing fails, the text outputs of an earlier run stay consistent
    with atomic_path(out["plot"], overwrite=overwrite) as tmp:
        draw(tmp)
    write_text(out["report"], report + "\n", overwrite)
    write_text(out["table"], csv_text(rows), overwrite)
    write_text(out["json"], json.dumps(summary, indent=2, default=str) + "\n", overwrite)
