"""The batch's jobs. A job is a frozen, JSON-able :class:`~saxs_pipelines.records.JobSpec` run
by :func:`run_job` in any process (local pool or Dask worker); it writes its outputs
atomically, then its :class:`~saxs_pipelines.records.JobRecord`.

Stages: ``reduce`` (a raw stack -> reduced curve), ``frames`` (a time-resolved stack -> one
curve per frame, ``<name>_ave.h5``), ``sample`` (blank subtraction, Monte Carlo size
distribution and/or Bragg peaks, per-sample card), ``kinetics`` (a time-resolved sample: species
volume fractions vs time, rate constants, onset of growth), ``series`` (series findings,
tables, plots). A spec holds ``stage``, ``name``, ``out``, ``params`` (everything that
shapes the result, including the effective configuration), ``inputs`` and ``outputs`` (name ->
path), and ``overwrite`` (whether existing outputs may be replaced).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import time
import traceback
from pathlib import Path
from typing import Any

from saxs_pipelines.records import (
    JobRecord,
    JobSpec,
    fingerprints,
    stamps,
    versions,
    write_record,
)

log = logging.getLogger("saxs.batch")


#: The last reducer this process made, by what shapes it (calibration files with their size
#: and time stamps, reduction settings, geometry): consecutive stacks of one geometry share its
#: pyFAI integrator and its streaming memory instead of allocating them per stack.
_LAST_REDUCER: dict[str, Any] = {}
#: The calibration files a reducer depends on (their stamps are part of its key).
CALIBRATION_FILES = ("poni", "mask", "dark", "flat")


def _reducer(params: dict[str, Any], frames):
    import json  # noqa: PLC0415

    import saxs  # noqa: PLC0415

    calib, cfg = params["calib"], params["config"]["reduce"]
    geometry = frames.geometry  # the PONI's when one is configured (read_frames(poni=...))
    files = {f"{k}{i}": path for k, v in calib.items() if v and k in CALIBRATION_FILES
             for i, path in enumerate([v] if isinstance(v, str) else v)}
    key = json.dumps([calib, stamps(files), cfg, geometry.to_header(), list(geometry.shape)],
                     sort_keys=True, default=str)
    if key not in _LAST_REDUCER:
        _LAST_REDUCER.clear()  # one at a time: its memory is freed before the next is made
        _LAST_REDUCER[key] = saxs.Reducer(
            geometry, mask=calib.get("mask") or None, dark=calib.get("dark"),
            flat=calib.get("flat"), npt=cfg["npt"], method=tuple(cfg["method"]),
            frame_threshold=cfg["frame_threshold"], zinger_threshold=cfg["zinger_threshold"],
            intensity_unit=cfg["intensity_unit"])
    return _LAST_REDUCER[key]


def _reduce(spec: JobSpec) -> None:
    import saxs  # noqa: PLC0415

    params = spec.params
    item = params["item"]
    frames = saxs.read_frames(spec.inputs["raw"], poni=spec.params["calib"].get("poni"))
    curve = _reducer(params, frames).reduce(frames)
    meta = {**curve.metadata, "sample": item["name"], "kind": item["kind"],
            "series": item["series"], **item["values"],
            "geometry_source": params["calib"].get("geometry_source", "")}
    curve = curve.replace(metadata=meta)
    saxs.write_curve(spec.outputs["curve"], curve, overwrite=spec.overwrite,
                     extra={"config": params["config"], "versions": versions()})


def _frames(spec: JobSpec) -> None:
    """A kinetic sample's stack, one curve per frame, in ID02's ``_ave.h5`` layout."""
    import saxs  # noqa: PLC0415

    item = spec.params["item"]
    frames = saxs.read_frames(spec.inputs["raw"], poni=spec.params["calib"].get("poni"))
    reducer = _reducer(spec.params, frames)
    curves = reducer.integrate_frames(frames)
    curves = dataclasses.replace(curves, metadata={
        **curves.metadata, "sample": item["name"],
        "geometry_source": spec.params["calib"].get("geometry_source", "")})
    saxs.write_ave(spec.outputs["ave"], curves, frames, geometry=reducer.geometry,
                   overwrite=spec.overwrite)


def _kinetics(spec: JobSpec) -> None:
    """Blank subtraction, Monte Carlo per frame, species vs time and rate constants."""
    import saxs  # noqa: PLC0415
    from saxs_pipelines.config import mc_config  # noqa: PLC0415
    from saxs_pipelines.kinetics import write_table  # noqa: PLC0415
    from saxs_pipelines.kinetics_plot import plot_kinetics  # noqa: PLC0415
    from saxs_pipelines.series import write_text  # noqa: PLC0415

    params, inputs, outputs = spec.params, spec.inputs, spec.outputs
    config, item = params["config"], params["item"]
    frames = saxs.read_ave(inputs["frames"])[0]
    solvent = saxs.read_curve(inputs["solvent"])
    empty = saxs.read_curve(inputs["empty_cell"]) if "empty_cell" in inputs and \
        config["subtract"]["two_step"] else None
    result = saxs.follow_kinetics(
        frames, blank=solvent, empty_cell=empty,
        solvent_volume_fraction=item["solvent_volume_fraction"],
        interpolate=config["subtract"]["interpolate"], config=mc_config(config["mc"]),
        resolution=saxs.monodisperse_width, model=config["kinetics"]["model"],
        bin_frames=config["kinetics"]["bin_frames"])
    write_text(outputs["report"], f"{item['name']}\n{result.report()}\n",
               overwrite=spec.overwrite)
    write_table(Path(outputs["table"]), result.table(), spec.overwrite)
    plot_kinetics(result, Path(outputs["plot"]), title=item["name"], overwrite=spec.overwrite)


def _subtracted(spec: JobSpec):
    import saxs  # noqa: PLC0415

    params, inputs = spec.params, spec.inputs
    cfg = params["config"]["subtract"]
    item = params["item"]
    sample = saxs.read_curve(inputs["sample"])
    solvent = saxs.read_curve(inputs["solvent"])
    empty = saxs.read_curve(inputs["empty_cell"]) if "empty_cell" in inputs and \
        cfg["two_step"] else None
    signal = saxs.subtract_blanks(sample, solvent, empty,
                                  solvent_volume_fraction=item["solvent_volume_fraction"],
                                  interpolate=cfg["interpolate"])
    if cfg["divide_thickness"]:
        if "thickness_cm" not in item["values"]:
            raise saxs.InputError(f"{item['name']}: subtract.divide_thickness is on but the "
                                  "sample sheet gives no thickness_cm for it")
        signal = saxs.divide_thickness(signal, item["values"]["thickness_cm"])
    return signal, {"sample": sample, "solvent": solvent, "empty_cell": empty}


def _sample(spec: JobSpec) -> None:
    import saxs  # noqa: PLC0415
    from saxs_pipelines.config import mc_config  # noqa: PLC0415
    from saxs_pipelines.plots import sample_card  # noqa: PLC0415

    params = spec.params
    config, item = params["config"], params["item"]
    signal, blanks = _subtracted(spec)
    dist = bragg = None
    extra: dict[str, Any] = {"config": config, "versions": versions()}
    if item["kind"] in config["analysis"]["mc_kinds"]:
        dist = saxs.monte_carlo(signal, mc_config(config["mc"]))
        pops = saxs.find_populations(dist, bins=config["analysis"]["populations"]["bins"],
                                     significance=config["analysis"]["populations"][
                                         "significance"])
        extra["populations"] = [p.to_dict() for p in pops]
    if item["kind"] in config["analysis"]["bragg_kinds"]:
        bragg = saxs.find_bragg_peaks(signal, **config["analysis"]["bragg"])
        extra["bragg"] = bragg.to_dict()
    saxs.write_result(spec.outputs["result"], signal, dist, extra=extra,
                      overwrite=spec.overwrite)
    sample_card(spec.outputs["card"], signal, blanks, dist, bragg, config=config,
                overwrite=spec.overwrite)


def _series(spec: JobSpec) -> None:
    from saxs_pipelines.series import run_series  # noqa: PLC0415

    run_series(spec)


STAGES = {"reduce": _reduce, "frames": _frames, "sample": _sample, "kinetics": _kinetics,
          "series": _series}


def run_job(spec: JobSpec) -> JobRecord:
    """Run one job, write its record, return the record. Errors are recorded, not raised."""
    started = time.time()
    inputs = stamps(spec.inputs)
    status, error, trace = "ok", None, None
    try:
        STAGES[spec.stage](spec)
    except Exception as exc:  # noqa: BLE001  (one bad item must not stop the batch)
        status, error, trace = "failed", f"{type(exc).__name__}: {exc}", traceback.format_exc()
        log.error("%s %s failed: %s", spec.stage, spec.name, exc)
    return write_record(JobRecord(
        spec=spec, status=status, started=started, seconds=time.time() - started,
        versions=versions(), inputs=inputs,
        outputs=fingerprints(spec.outputs) if status == "ok" else {}, error=error,
        traceback=trace, host=socket.gethostname(), pid=os.getpid()))


def skipped_record(spec: JobSpec, reason: str, status: str = "skipped") -> JobRecord:
    """Record a job that could not run because something it needs failed or is missing
    (``status`` "failed" for a job that failed before it could start, e.g. a blank missing
    from the sheet)."""
    return write_record(JobRecord(spec=spec, status=status, started=time.time(), seconds=0.0,
                                  versions=versions(), error=reason))


def failed_record(spec: JobSpec, reason: str) -> JobRecord:
    """Record a job that failed before it could start (e.g. a blank missing from the sheet)."""
    return skipped_record(spec, reason, status="failed")


def output_paths(out: Path, stage: str, name: str) -> dict[str, str]:
    """Output files of a job."""
    if stage == "reduce":
        return {"curve": str(out / "reduced" / f"{name}.h5")}
    if stage == "frames":
        return {"ave": str(out / "reduced" / f"{name}_ave.h5")}
    if stage == "sample":
        return {"result": str(out / "samples" / f"{name}.h5"),
                "card": str(out / "samples" / f"{name}.png")}
    if stage == "kinetics":
        base = out / "kinetics" / name
        return {"report": str(base / "kinetics.txt"), "table": str(base / "kinetics.csv"),
                "plot": str(base / "kinetics.png")}
    base = out / "series" / name
    return {"report": str(base / "findings.txt"), "table": str(base / "table.csv"),
            "plot": str(base / "series.png"), "json": str(base / "findings.json")}
