"""The batch report: ``index.html`` linking every card, series figure, table and job record,
and ``summary.csv`` with one row per job. Links are relative, so the folder can be copied."""

from __future__ import annotations

import html
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from saxs_pipelines.series import csv_text, write_text

if TYPE_CHECKING:
    from saxs_pipelines.beamtime import Beamtime
    from saxs_pipelines.records import BatchResult, JobRecord, JobSpec

_STYLE = """body{font-family:sans-serif;margin:2em;max-width:80em}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em;font-size:90%}
.failed{color:#b00}.skipped{color:#a60}.ok{color:#070}img{max-width:100%}
pre{background:#f6f6f6;padding:.6em}"""


def _link(out: Path, path: str | os.PathLike, text: str) -> str:
    rel = os.path.relpath(path, out)
    return f'<a href="{html.escape(rel)}">{html.escape(text)}</a>'


def _status(record: JobRecord) -> str:
    status = record.status
    return f'<span class="{status}">{status}</span>'


def _failures(out: Path, result: BatchResult) -> list[str]:
    bad = result.failed + result.skipped
    if not bad:
        return ["<p class='ok'>every job finished</p>"]
    rows = [("<table><tr><th>stage</th><th>item</th><th>status</th><th>why</th>"
            "<th>record</th></tr>")]
    for r in bad:
        spec = r.spec
        rows.append(f"<tr><td>{spec.stage}</td><td>{html.escape(spec.name)}</td>"
                    f"<td>{_status(r)}</td><td>{html.escape(str(r.error or ''))}</td>"
                    f"<td>{_link(out, r.record, 'record')}</td></tr>")
    return [*rows, "</table>"]


def _samples(out: Path, result: BatchResult) -> list[str]:
    rows = [("<table><tr><th>sample</th><th>kind</th><th>status</th><th>card</th><th>data</th>"
            "<th>record</th><th>seconds</th></tr>")]
    for r in sorted(result.records.get("sample", []), key=lambda r: r.spec.name):
        spec = r.spec
        card = spec.outputs["card"]
        ok = r.ok
        thumb = (f'<a href="{html.escape(os.path.relpath(card, out))}"><img src="'
                 f'{html.escape(os.path.relpath(card, out))}" width="480"></a>' if ok else "")
        data = _link(out, spec.outputs["result"], "NXcanSAS + MC") if ok else ""
        rows.append(f"<tr><td>{html.escape(spec.name)}</td>"
                    f"<td>{spec.params['item']['kind']}</td><td>{_status(r)}</td>"
                    f"<td>{thumb}</td><td>{data}</td><td>{_link(out, r.record, 'record')}"
                    f"</td><td>{r.seconds:.1f}</td></tr>")
    return [*rows, "</table>"]


def _sections(out: Path, records: list[JobRecord],
              links: Callable[[JobSpec], list[str]]) -> list[str]:
    """One section per job that writes a text report and a figure (series, kinetics): its
    status, the report, the figure and ``links(spec)`` to its other outputs."""
    parts = []
    for r in records:
        spec = r.spec
        outputs = spec.outputs
        parts.append(f"<h3>{html.escape(spec.name)} ({_status(r)})</h3>")
        if not r.ok:
            parts.append(f"<p>{html.escape(str(r.error or ''))}</p>")
            continue
        text = Path(outputs["report"]).read_text()
        parts += [f"<pre>{html.escape(text)}</pre>",
                  f'<img src="{html.escape(os.path.relpath(outputs["plot"], out))}">',
                  "<p>" + " | ".join(links(spec)) + "</p>"]
    return parts


def _series(out: Path, result: BatchResult) -> list[str]:
    return _sections(out, result.records.get("series", []), lambda spec: [
        _link(out, spec.outputs[k], k) for k in ("table", "json", "report")]) or [
        "<p>no series</p>"]


def _kinetics(out: Path, result: BatchResult) -> list[str]:
    return _sections(out, result.records.get("kinetics", []), lambda spec: [
        *(_link(out, spec.outputs[k], k) for k in ("table", "report")),
        _link(out, spec.inputs["frames"], "per-frame curves (_ave.h5)")])


def summary_rows(result: BatchResult) -> list[dict[str, Any]]:
    """One row per job; record paths relative to the output folder (it can be moved)."""
    return [{"stage": r.spec.stage, "name": r.spec.name, "status": r.status,
             "seconds": round(r.seconds, 3), "error": r.error or "",
             "record": _relative(result.out, r.record)}
            for r in result.all()]


def _relative(out: Path, path: str) -> str:
    try:
        return Path(path).resolve().relative_to(Path(out).resolve()).as_posix()
    except ValueError:
        return str(path)


def write_index(out: Path, beamtime: Beamtime, result: BatchResult) -> Path:
    """Write ``summary.csv`` and ``index.html`` into ``out``."""
    write_text(out / "summary.csv", csv_text(summary_rows(result)), overwrite=True)
    body = [f"<h1>SAXS batch: {html.escape(str(beamtime.root))}</h1>",
            (f"<p>{len(result.all())} jobs, {len(result.failed)} failed, "
            f"{len(result.skipped)} skipped. {_link(out, out / 'summary.csv', 'summary.csv')}"
            f"{' | ' + _link(out, out / 'saxs.log', 'log') if (out / 'saxs.log').exists() else ''}"
            "</p>"),
            "<h2>Problems</h2>", *_failures(out, result),
            "<h2>Series</h2>", *_series(out, result),
            *(["<h2>Kinetics</h2>", *kinetics] if (kinetics := _kinetics(out, result)) else []),
            "<h2>Samples</h2>", *_samples(out, result)]
    page = ("<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>SAXS batch</title>"
            f"<style>{_STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")
    path = out / "index.html"
    write_text(path, page, overwrite=True)
    return path
