"""Per-frame curves in ID02's processed ``_ave`` layout (dahu / ewoksid02).

The layout ID02 users already read (ID02.md §3.5, from dahu ``single_detector.py``
``create_hdf5`` and ewoksid02's processed files and test paths
``/entry_0000/PyFAI/result_<type>/...``, ``/entry_0000/PyFAI/MCS/...``,
``/entry_0000/PyFAI/parameters/``)::

    /                        @NX_class=NXroot @creator="saxs <version>" @default=/entry_0000
                             @processing_type="ave"
    /entry_0000              NXentry: title, start_time, program_name; @default=PyFAI/result_ave
        configuration        NXnote: type="text/json", data = the reduction's provenance
        PyFAI                NXprocess: program, version, date, processing_type="ave"
            parameters/      NXcollection: Center_1, Center_2, PSize_1, PSize_2, SampleDistance,
                             WaveLength, Dummy, DDummy, BSize_1, BSize_2 (floats; m, px) and the
                             reduction settings (NormalizationFactor, PolarizationFactor, ...)
            MCS/             NXcollection: Intensity1UnCor, Intensity0UnCor, ExposureTime (per
                             frame, when known), monitor (the divisor used, per curve)
            TFG/             NXcollection: delta_time (frame start times, s)
            flags/           NXcollection: zinger_pixels, dummy_pixels, total_ratio,
                             total_outlier (per frame; reported, never applied)
            result_ave       NXdata @signal="data" @axes=["t", "q"]
                data         float32 (frames x q); empty bins hold Dummy (-10)
                data_errors  float32, sigma (standard error); Dummy in empty bins
                q            float64 @unit="q_nm^-1" @units="1/nm"
                t            float64 @units="s": start of each curve's first frame
                frames       int64 (curves x 2): first and one-past-last frame (bin_frames)
            result_ave_<k>   the same for sector k (@azimuth_range_deg), when several
                             integrations were asked for

The file is written atomically and never over an existing one unless ``overwrite``.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np

from saxs.errors import InputError
from saxs.framecurves import FrameCurves
from saxs.frames import FrameStack
from saxs.geometry import Geometry
from saxs.io.atomic import atomic_path
from saxs.units import q_from_per_nm, q_to_per_nm

#: ID02's invalid-value marker in processed files (ID02.md §1.3).
DUMMY = -10.0
DDUMMY = 0.1
#: pyFAI names of the radial units written, and their unit.
Q_UNITS = {"q_nm^-1": "1/nm", "q_A^-1": "1/A"}
ENTRY = "entry_0000"
RESULT = "result_ave"


def ave_path(frames_file: str | Path, folder: str | Path) -> Path:
    """``<folder>/<stem>_ave.h5`` for the raw file ``<stem>.h5`` (ID02 naming, ID02.md §1.2)."""
    return Path(folder) / f"{Path(str(frames_file).split('::')[0]).stem}_ave.h5"


def write_ave(path: str | Path, curves: FrameCurves | Sequence[FrameCurves],
              frames: FrameStack, *, geometry: Geometry | None = None,
              overwrite: bool = False, unit: str = "q_nm^-1") -> Path:
    """Write per-frame curves (several: one ``result_ave*`` group each) in the ``_ave`` layout.

    Parameters
    ----------
    path : path
        The file to create (``<stem>_ave.h5`` by ID02 naming, :func:`ave_path`).
    curves : FrameCurves or a sequence of them
        From :meth:`saxs.Reducer.integrate_frames`; the first goes to ``result_ave``.
    frames : FrameStack
        The stack they were reduced from (monitors, times, header).
    geometry : Geometry, optional
        The reduction's geometry (default: the frames').
    overwrite : bool
        Replace an existing file.
    unit : {"q_nm^-1", "q_A^-1"}
        pyFAI's name of the radial unit q is written in (``q@unit``; ``q@units`` 1/nm or
        1/angstrom); :func:`read_ave` converts back to 1/nm.
    """
    if unit not in Q_UNITS:
        raise InputError(f"{path}: unit {unit!r}: per-frame curves are written in "
                         f"{' or '.join(Q_UNITS)}")
    items = [curves] if isinstance(curves, FrameCurves) else list(curves)
    if not items:
        raise InputError(f"{path}: no curves to write")
    geometry = geometry or frames.geometry
    if geometry is None:
        raise InputError(f"{frames.describe()}: no geometry to record in {path}; pass geometry=")
    for item in items:
        if item.time_s is None:
            raise InputError(f"{frames.describe()}: no frame times for the t axis of {path}: "
                             "the scaler file (TFG/delta_time) or the LIMA time_of_frame is "
                             "missing; read the frames with their scaler file")
        if item.frame_range[-1, 1] != len(frames):
            raise InputError(f"{path}: curves of {item.frame_range[-1, 1]} frames for a stack of "
                             f"{len(frames)}")
    path = Path(path)
    with atomic_path(path, overwrite=overwrite) as tmp, h5py.File(tmp, "w-") as f:
        _write(f, items, frames, geometry, unit)
    return path


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat()


def _write(f: h5py.File, items: list[FrameCurves], frames: FrameStack,
           geometry: Geometry, unit: str) -> None:
    from saxs import __version__  # noqa: PLC0415

    f.attrs.update({"NX_class": "NXroot", "creator": f"saxs {__version__}",
                    "default": f"/{ENTRY}", "processing_type": "ave",
                    "file_time": _now()})
    entry = f.create_group(ENTRY)
    entry.attrs.update({"NX_class": "NXentry", "default": f"PyFAI/{RESULT}"})
    entry["title"] = f"{frames.describe()}: {frames.header.title or ''}".rstrip(": ")
    entry["start_time"] = _now()
    entry["program_name"] = "saxs"
    note = entry.create_group("configuration")
    note.attrs["NX_class"] = "NXnote"
    note["type"] = "text/json"
    note["data"] = json.dumps([[s.to_dict() for s in item.provenance] for item in items],
                              default=str)
    process = entry.create_group("PyFAI")
    process.attrs.update({"NX_class": "NXprocess", "default": RESULT})
    process["program"] = "saxs"
    process["version"] = __version__
    process["date"] = _now()
    process["processing_type"] = "ave"
    _parameters(process, items[0], geometry, unit)
    _monitors(process, items[0], frames)
    flags = process.create_group("flags")
    flags.attrs["NX_class"] = "NXcollection"
    for key, value in items[0].frame_flags.items():
        flags[key] = np.asarray(value)
    for k, item in enumerate(items):
        _result(process, RESULT if k == 0 else f"{RESULT}_{k}", item, unit)


def _parameters(process: h5py.Group, item: FrameCurves, geometry: Geometry,
                unit: str) -> None:
    group = process.create_group("parameters")
    group.attrs["NX_class"] = "NXcollection"
    values = {"Center_1": geometry.center_1_px, "Center_2": geometry.center_2_px,
              "PSize_1": geometry.pixel2_m, "PSize_2": geometry.pixel1_m,
              "SampleDistance": geometry.distance_m, "WaveLength": geometry.wavelength_m,
              "Dummy": DUMMY, "DDummy": DDUMMY, "BSize_1": float(geometry.binning[1]),
              "BSize_2": float(geometry.binning[0]),
              "DetectorRotation_1": geometry.rot2_rad, "DetectorRotation_2": geometry.rot1_rad,
              "DetectorRotation_3": geometry.rot3_rad}
    meta = item.metadata
    values["NormalizationFactor"] = float(meta.get("normalization_factor") or 1.0)
    if meta.get("polarization_factor") is not None:
        values["PolarizationFactor"] = float(meta["polarization_factor"])
    for key, value in values.items():
        group[key] = float(value)
    texts = {"unit": unit, "normalization": str(meta.get("normalization")),
             "bin_frames": str(item.bin_frames), "npt_rad": str(item.q.size),
             "intensity_unit": item.intensity_unit}
    for key, value in texts.items():
        group[key] = value


def _monitors(process: h5py.Group, item: FrameCurves, frames: FrameStack) -> None:
    mcs = process.create_group("MCS")
    mcs.attrs["NX_class"] = "NXcollection"
    for key, values in (("Intensity1UnCor", frames.monitor_i1),
                        ("Intensity0UnCor", frames.monitor_i0),
                        ("ExposureTime", frames.exposure_time_s)):
        if values is not None:
            mcs[key] = np.asarray(values, dtype=np.float64)
    mcs["monitor"] = item.monitor
    mcs["monitor"].attrs["normalization"] = str(item.metadata.get("normalization"))
    tfg = process.create_group("TFG")
    tfg.attrs["NX_class"] = "NXcollection"
    if frames.timestamps_s is not None:
        tfg["delta_time"] = frames.timestamps_s - frames.timestamps_s[0]
        tfg["delta_time"].attrs["units"] = "s"


def _result(process: h5py.Group, name: str, item: FrameCurves, unit: str) -> None:
    group = process.create_group(name)
    group.attrs.update({"NX_class": "NXdata", "signal": "data", "axes": ["t", "q"],
                        "t_indices": 0, "q_indices": 1})
    if item.azimuth_range_deg is not None:
        group.attrs["azimuth_range_deg"] = np.asarray(item.azimuth_range_deg, dtype=np.float64)
    empty = ~np.isfinite(item.intensity) | ~np.isfinite(item.sigma)
    data = group.create_dataset("data", data=np.where(empty, DUMMY, item.intensity)
                                .astype(np.float32))
    data.attrs.update({"interpretation": "spectrum", "units": item.intensity_unit})
    errors = group.create_dataset("data_errors", data=np.where(empty, DUMMY, item.sigma)
                                  .astype(np.float32))
    errors.attrs["units"] = item.intensity_unit
    q = group.create_dataset("q", data=q_from_per_nm(item.q, Q_UNITS[unit]))
    q.attrs.update({"unit": unit, "units": "1/angstrom" if unit == "q_A^-1" else "1/nm",
                    "axis": 2})
    t = group.create_dataset("t", data=item.time_s)
    t.attrs.update({"units": "s", "axis": 1})
    group["frames"] = item.frame_range


def read_ave(path: str | Path) -> list[FrameCurves]:
    """Read the per-frame curves of an ``_ave.h5`` file (written by :func:`write_ave`).

    Returns one :class:`FrameCurves` per ``result_ave*`` group (``result_ave`` first, then the
    further sectors in order). Bins holding ``Dummy`` come back as NaN; the pixel counts are not
    stored, so ``count`` is 1 in valid bins and 0 in empty ones.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise InputError(f"{path}: not an HDF5 file ({exc})") from None
    with f:
        process = f.get(f"{ENTRY}/PyFAI")
        if process is None or RESULT not in process:
            raise InputError(f"{path}: no {ENTRY}/PyFAI/{RESULT}; not an _ave.h5 file of "
                             "saxs reduce --per-frame or ID02")
        names = sorted((n for n in process if n == RESULT or n.startswith(f"{RESULT}_")),
                       key=lambda n: -1 if n == RESULT else int(n.rsplit("_", 1)[1]))
        monitor = np.asarray(process["MCS/monitor"][()]) if "MCS/monitor" in process else None
        params = process.get("parameters")
        norm = params["normalization"][()] if params is not None and \
            "normalization" in params else b"unknown"
        dummy = float(params["Dummy"][()]) if params is not None and "Dummy" in params \
            else DUMMY
        title = f[f"{ENTRY}/title"][()] if "title" in f[ENTRY] else b""
        return [_read_result(path, process[name], monitor, dummy,
                             {"normalization": _text(norm), "source": str(path),
                              "title": _text(title)}) for name in names]


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _read_result(path: Path, group: h5py.Group, monitor, dummy: float,
                 metadata: dict) -> FrameCurves:
    for key in ("data", "data_errors", "q"):
        if key not in group:
            raise InputError(f"{path}: {group.name}/{key} is missing")
    data = np.asarray(group["data"][()], dtype=np.float64)
    errors = np.asarray(group["data_errors"][()], dtype=np.float64)
    if data.ndim == 1:
        data, errors = data[None, :], errors[None, :]
    empty = (np.abs(data - dummy) <= DDUMMY) | (np.abs(errors - dummy) <= DDUMMY)
    n = data.shape[0]
    frames = np.asarray(group["frames"][()]) if "frames" in group else \
        np.stack([np.arange(n), np.arange(1, n + 1)], axis=1)
    time_s = np.asarray(group["t"][()], dtype=np.float64) if "t" in group else None
    unit = _text(group["data"].attrs.get("units", "arb"))
    sector = group.attrs.get("azimuth_range_deg")
    q_unit = _text(group["q"].attrs.get("units", group["q"].attrs.get("unit", "1/nm")))
    return FrameCurves(
        q=q_to_per_nm(np.asarray(group["q"][()], dtype=np.float64), q_unit),
        intensity=np.where(empty, np.nan, data), sigma=np.where(empty, np.nan, errors),
        count=(~empty).astype(np.float64), frame_range=frames, time_s=time_s,
        monitor=monitor if monitor is not None and monitor.size == n else np.ones(n),
        azimuth_range_deg=None if sector is None else tuple(float(v) for v in sector),
        intensity_unit=unit if unit in ("arb", "1/cm") else "arb", metadata=metadata)
