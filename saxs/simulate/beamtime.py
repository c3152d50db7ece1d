"""Write a whole simulated beamtime folder from a :class:`~saxs.simulate.scenario.Scenario`.

Layout (ID02 names, ID02.md §1.2)::

    OUT/raw/<collection>_<det>_<scan:05d>_00.h5       LIMA frames (or .edf)
    OUT/raw/<collection>_scalers_<scan:05d>_00.h5     per-frame monitors (LIMA only)
    OUT/calib/dark.edf flat.edf mask_gaps.edf mask_beamstop.edf geometry.poni
    OUT/samples.csv                                   the sample sheet
    OUT/truth/<sample>.csv                            true dSigma/dOmega of content and signal
    OUT/scenario.yaml                                 the scenario, as given
"""

from __future__ import annotations

import csv
import io
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from saxs.errors import InputError
from saxs.io.atomic import atomic_path
from saxs.io.edf import write_edf
from saxs.io.lima import write_lima
from saxs.io.scalers import write_scalers
from saxs.simulate.measurement import Layer, SimulatedStack, simulate_stack
from saxs.simulate.models import SampleModel, Spheres
from saxs.simulate.scenario import Measurement, Scenario, truth_grid

log = logging.getLogger(__name__)

SHEET_COLUMNS = ("sample", "kind", "file", "blank", "empty_cell", "temperature_c",
                 "growth_temperature_c", "reaction_time_s", "thickness_cm",
                 "solvent_volume_fraction", "series", "frames", "kinetic")


@dataclass(frozen=True)
class BeamtimeFiles:
    """What :func:`write_beamtime` wrote."""

    root: Path
    sample_sheet: Path
    raw: dict[str, Path]
    calib: dict[str, Path]
    truth: dict[str, Path]


def layers_of(scenario: Scenario, m: Measurement) -> list[Layer]:
    """The scattering layers in the beam for measurement ``m``: windows and cell content."""
    layers = [Layer("kapton", scenario.cell.window_thickness_cm, scenario.cell.window.intensity)]
    if m.content is not None:
        layers.append(Layer(m.name, scenario.sample_thickness_cm, m.content.intensity))
    return layers


def simulate_measurement(scenario: Scenario, m: Measurement) -> SimulatedStack:
    """Simulate the frames of one measurement (seeded by the scenario seed and scan number).

    A measurement with ``kinetics`` changes from frame to frame: frame k shows the species
    present at ``k * frame_period_s``.
    """
    rng = np.random.default_rng([scenario.seed, m.scan])
    if m.kinetics is not None:
        return _simulate_kinetic(scenario, m, rng)
    return simulate_stack(scenario.detector, layers_of(scenario, m), transmission=m.transmission,
                          n_frames=m.n_frames, exposure_time_s=scenario.acquisition.exposure_time_s,
                          beam=scenario.beam, rng=rng, outliers=m.outliers)


def _simulate_kinetic(scenario: Scenario, m: Measurement,
                      rng: np.random.Generator) -> SimulatedStack:
    parts = []
    for t in m.kinetics.times_s(m.n_frames):
        pops = m.kinetics.populations_at(float(t))
        content = SampleModel((Spheres(pops), scenario.solvent.scaled(
            1.0 - sum(p.volume_fraction for p in pops))), name=m.name)
        layers = [Layer("kapton", scenario.cell.window_thickness_cm,
                        scenario.cell.window.intensity),
                  Layer(m.name, scenario.sample_thickness_cm, content.intensity)]
        parts.append(simulate_stack(scenario.detector, layers, transmission=m.transmission,
                                    n_frames=1,
                                    exposure_time_s=scenario.acquisition.exposure_time_s,
                                    beam=scenario.beam, rng=rng))
    return SimulatedStack(frames=np.concatenate([p.frames for p in parts]),
                          **{key: np.concatenate([getattr(p, key) for p in parts])
                             for key in ("i0", "i1", "exposure_time_s", "transmission")})


def file_stem(scenario: Scenario, m: Measurement, detector: str | None = None) -> str:
    """``<collection>_<detector>_<scan:05d>_00`` (ID02 LIMA naming)."""
    return f"{scenario.collection}_{detector or scenario.detector_name}_{m.scan:05d}_00"


def frame_header(scenario: Scenario, m: Measurement) -> dict[str, str]:
    """The ID02 header keys written with a measurement's frames."""
    det = scenario.detector
    return {
        **det.geometry.to_header(),
        "Title": m.name, "DetectorName": scenario.detector_name, "StationInfo": "ID02",
        "SaxsDataVersion": "2.40", "ProjectionType": "Saxs", "RasterOrientation": "1",
        "Dummy": repr(det.dummy), "DDummy": "0.1",
        "ExposureTime": f"{scenario.acquisition.exposure_time_s!r} s",
        "NormalizationFactor": repr(scenario.normalization_factor),
        "PolarizationFactor": repr(det.polarization_factor),
        "HSTime": "1", "HSI0": "2", "HSI1": "3", "HS32N01": "TIME", "HS32N02": "PIN3",
        "HS32N03": "PIN8", "HSI0Factor": "1", "HSI1Factor": "1",
        "HMStartEpoch": repr(scenario.acquisition.start_epoch + 600.0 * m.scan),
        "DarkFileName": "dark.edf", "DarkFilePath": "../calib",
        "FlatfieldFileName": "flat.edf", "FlatfieldFilePath": "../calib",
        "DetectorMaskFileName": "mask_gaps.edf", "DetectorMaskFilePath": "../calib",
        "MaskFileName": "mask_beamstop.edf", "MaskFilePath": "../calib",
    }


def _write(path: Path, writer: Callable[[Path], None], overwrite: bool) -> Path:
    with atomic_path(path, overwrite=overwrite) as tmp:
        writer(tmp)
    return path


def write_calibration(scenario: Scenario, calib: Path, overwrite: bool = False) -> dict[str, Path]:
    """Dark (mean of dark frames), flat, gap and beamstop masks and the PONI file."""
    det = scenario.detector
    rng = np.random.default_rng([scenario.seed, 0])
    darks = det.dark_frames(scenario.acquisition.dark_frames, rng).astype(np.float64)
    invalid = det.gap_mask | det.dead_pixels
    dark = np.where(invalid, det.dummy, darks.mean(axis=0)).astype(np.float32)
    base = {**det.geometry.to_header(), "Dummy": repr(det.dummy), "DDummy": "0.1"}
    flat = np.where(det.gap_mask, det.dummy, det.flat).astype(np.float32)
    files = {
        "dark": (dark, {**base, "Title": "dark", "ExposureTime":
                        f"{scenario.acquisition.exposure_time_s!r} s",
                        "DarkFrames": str(scenario.acquisition.dark_frames)}),
        "flat": (flat, {**base, "Title": "flat field"}),
        "mask_gaps": (det.gap_mask.astype(np.uint8), {**base, "Dummy": "0", "Title": "gaps"}),
        "mask_beamstop": (det.beamstop_mask.astype(np.uint8),
                          {**base, "Dummy": "0", "Title": "beamstop"}),
    }
    out = {}
    for name, (image, header) in files.items():
        out[name] = _write(calib / f"{name}.edf",
                           lambda p, i=image, h=header: write_edf(p, i, h), overwrite)
    out["poni"] = det.geometry.to_poni(calib / "geometry.poni", overwrite=overwrite)
    return out


def write_measurement(scenario: Scenario, m: Measurement, raw: Path,
                      overwrite: bool = False) -> Path:
    """Simulate and write one measurement's frames (and scaler file)."""
    stack = simulate_measurement(scenario, m)
    header = frame_header(scenario, m)
    acq = scenario.acquisition
    if acq.file_format == "edf":
        per_frame = [{"Intensity0": repr(float(a)), "Intensity1": repr(float(b)),
                      "HMStartEpoch": repr(float(header["HMStartEpoch"]) + k * float(t))}
                     for k, (a, b, t) in enumerate(zip(stack.i0, stack.i1,
                                                       stack.exposure_time_s, strict=True))]
        return _write(raw / f"{file_stem(scenario, m)}.edf",
                      lambda p: write_edf(p, stack.frames, header, frame_headers=per_frame),
                      overwrite)
    dead, times = 1e-3, None
    if m.kinetics is not None:  # frames spaced by the stopped-flow frame period
        dead = max(m.kinetics.frame_period_s - acq.exposure_time_s, 1e-3)
        times = m.kinetics.times_s(m.n_frames)
    _write(raw / f"{scenario.collection}_scalers_{m.scan:05d}_00.h5",
           lambda p: write_scalers(p, i0=stack.i0, i1=stack.i1,
                                   exposure_time_s=stack.exposure_time_s,
                                   start_epoch=float(header["HMStartEpoch"]), dead_time_s=dead),
           overwrite)
    return _write(raw / f"{file_stem(scenario, m)}.h5",
                  lambda p: write_lima(p, stack.frames, header, detector=scenario.detector_name,
                                       compression=acq.compression,
                                       exposure_time_s=acq.exposure_time_s,
                                       time_of_frame=times), overwrite)


def write_truth(scenario: Scenario, m: Measurement, truth: Path, overwrite: bool = False) -> Path:
    """The true cross-sections of one measurement on a fine q grid (CSV, 1/nm and 1/cm)."""
    q = truth_grid(scenario)
    content = m.content.intensity(q) if m.content is not None else np.zeros_like(q)
    signal = m.signal.intensity(q) if m.signal is not None else np.zeros_like(q)
    window = scenario.cell.window.intensity(q)
    text = io.StringIO()
    text.write(f"# true cross-sections of {m.name} ({m.kind}); content = what fills the cell, "
               f"signal = content - {m.solvent_volume_fraction!r} x solvent\n")
    text.write(f"# window thickness {scenario.cell.window_thickness_cm} cm, sample thickness "
               f"{scenario.sample_thickness_cm} cm\n")
    text.write("q_per_nm,content_per_cm,signal_per_cm,window_per_cm\n")
    for row in zip(q, content, signal, window, strict=True):
        text.write(",".join(repr(float(v)) for v in row) + "\n")
    if m.kinetics is not None:
        _write(truth / f"{m.name}_kinetics.csv",
               lambda p: p.write_text(m.kinetics.truth_table(m.n_frames)), overwrite)
    return _write(truth / f"{m.name}.csv", lambda p: p.write_text(text.getvalue()), overwrite)


def sample_sheet_rows(scenario: Scenario, raw_files: dict[str, Path], root: Path) -> list[dict]:
    """One row per measurement linking it to its blanks and conditions."""
    solvent = next((m.name for m in scenario.measurements if m.kind == "solvent"), "")
    empty = next((m.name for m in scenario.measurements if m.kind == "empty_cell"), "")
    rows = []
    for m in scenario.measurements:
        blank = {"sample": solvent, "precursor": solvent, "solvent": empty}.get(m.kind, "")
        rows.append({
            "sample": m.name, "kind": m.kind,
            "file": raw_files[m.name].relative_to(root).as_posix(),
            "blank": blank, "empty_cell": empty if m.kind != "empty_cell" else "",
            "temperature_c": "" if m.temperature_c is None else m.temperature_c,
            "growth_temperature_c": "" if m.growth_temperature_c is None
            else m.growth_temperature_c,
            "reaction_time_s": "" if m.reaction_time_s is None else m.reaction_time_s,
            "thickness_cm": scenario.sample_thickness_cm,
            "solvent_volume_fraction": m.solvent_volume_fraction, "series": m.series,
            "frames": m.n_frames,
            "kinetic": "true" if m.kinetics is not None else "false"})
    return rows


def write_beamtime(scenario: Scenario, out_dir: str | os.PathLike, overwrite: bool = False,
                   progress: Callable[[str], None] | None = None) -> BeamtimeFiles:
    """Write the whole beamtime folder; an existing non-empty folder needs ``overwrite``.

    ``progress`` is called with each measurement's name once it is written.
    """
    root = Path(out_dir)
    if root.exists() and any(root.iterdir()):
        if not overwrite:
            raise InputError(f"{root}: folder exists and is not empty; choose another -o or "
                             "pass --overwrite")
        for sub in ("raw", "calib", "truth"):
            shutil.rmtree(root / sub, ignore_errors=True)
    calib = write_calibration(scenario, root / "calib", overwrite)
    raw = {}
    truth = {}
    for m in scenario.measurements:
        log.info("simulating %s (%d frames)", m.name, m.n_frames)
        raw[m.name] = write_measurement(scenario, m, root / "raw", overwrite)
        truth[m.name] = write_truth(scenario, m, root / "truth", overwrite)
        if progress is not None:
            progress(m.name)
    rows = sample_sheet_rows(scenario, raw, root)
    sheet = io.StringIO()
    writer = csv.DictWriter(sheet, fieldnames=SHEET_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    sheet_path = _write(root / "samples.csv", lambda p: p.write_text(sheet.getvalue()), overwrite)
    if scenario.source and Path(scenario.source).is_file():
        _write(root / "scenario.yaml",
               lambda p: shutil.copyfile(scenario.source, p), overwrite)
    return BeamtimeFiles(root=root, sample_sheet=sheet_path, raw=raw, calib=calib, truth=truth)
