"""Per-frame monitors of ID02 acquisitions: the C216/MCS scaler data (ID02.md §1.4).

The scaler ("metadata") file holds ``/entry_0000/<instrument>/MCS`` and ``.../TFG`` groups::

    ExposureTime = HS32C[:, HSTime-1] * HS32F[HSTime-1]                       (pins are 1-based)
    HS32V[:, k]  = (HS32C - HS32Z * t_live) * HS32F     integrating counters (HS32M = 0)
                 = (HS32C / t_live - HS32Z) * HS32F     averaging counters   (HS32M = 1)
    IntensityXUnCor   = HS32V[:, HSIX-1] * HSIXFactor
    IntensityXShutCor = UnCor * (t - SOT + SCT) / (t - SOT)

with ``t_live = TFG/frame_time[1::2]``. ``HSI0``/``HSI1``/``HSTime`` are 1-based pin numbers
(dahu era) or counter names matched against ``HS32N`` (BLISS era). When the group already holds
``Intensity1UnCor`` etc., those values are used as written.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from saxs.errors import InputError
from saxs.header import Header
from saxs.io.hdf5util import decode, nx_class, open_readonly

log = logging.getLogger(__name__)

MONITOR_CORRECTIONS = ("none", "shutter")


@dataclass(frozen=True)
class Monitors:
    """Per-frame monitor values of one stack (None where unknown)."""

    i0: np.ndarray | None
    i1: np.ndarray | None
    exposure_time_s: np.ndarray | None
    timestamps_s: np.ndarray | None
    origin: str


def _find_group(f: h5py.File, name: str) -> h5py.Group | None:
    for entry in sorted(k for k in f if k.startswith("entry")):
        for inst in f[entry].values():
            if isinstance(inst, h5py.Group) and name in inst and nx_class(inst) in (
                    "NXinstrument", ""):
                return inst[name]
    return None


def _pin(value: str, names: list[str], key: str, path: Path) -> int:
    """0-based counter index from a 1-based pin number or a counter name."""
    try:
        index = int(float(value)) - 1
    except ValueError:
        if value not in names:
            raise InputError(f"{path}: {key} = {value!r} names no counter of HS32N "
                             f"({', '.join(names)})") from None
        return names.index(value)
    if not 0 <= index < len(names):
        raise InputError(f"{path}: {key} = {value} is outside the {len(names)} scaler pins")
    return index


def _array(group: h5py.Group, key: str) -> np.ndarray | None:
    return np.asarray(group[key][()], dtype=np.float64) if key in group else None


def _scalar(group: h5py.Group, key: str, default: float | None = None) -> float | None:
    if key not in group:
        return default
    text = decode(group[key][()]).split()[0]
    return float(text)


def _interpreted(mcs: h5py.Group, tfg: h5py.Group | None, path: Path) -> np.ndarray:
    """HS32V from raw counts, factors, zero offsets and modes."""
    counts = _array(mcs, "HS32C")
    factors, zeros, modes = (_array(mcs, k) for k in ("HS32F", "HS32Z", "HS32M"))
    if counts is None or factors is None:
        raise InputError(f"{path}: the MCS group has neither Intensity1UnCor nor HS32C/HS32F; "
                         "cannot compute the monitors")
    zeros = np.zeros_like(factors) if zeros is None else zeros
    modes = np.zeros_like(factors) if modes is None else modes
    frame_time = _array(tfg, "frame_time") if tfg is not None else None
    if frame_time is not None and frame_time.size >= 2 * counts.shape[0]:
        t_live = frame_time[1::2][: counts.shape[0], None]
    else:
        t_live = np.ones((counts.shape[0], 1))
    integrating = (counts - zeros * t_live) * factors
    averaging = (counts / t_live - zeros) * factors
    return np.where(modes == 1, averaging, integrating)


def read_scalers(path: Path, correction: str = "none") -> Monitors:
    """Read I0, I1, exposure time and frame times from an ID02 scaler file.

    Parameters
    ----------
    path : Path
        The ``*_scalers_*.h5`` file.
    correction : {"none", "shutter"}
        "none" gives ``IntensityXUnCor`` (right for counting detectors); "shutter" gives
        ``IntensityXShutCor`` (dahu's choice, meant for integrating detectors).
    """
    if correction not in MONITOR_CORRECTIONS:
        raise InputError(f"monitor correction {correction!r} is not one of {MONITOR_CORRECTIONS}")
    suffix = "ShutCor" if correction == "shutter" else "UnCor"
    with open_readonly(path) as f:
        mcs, tfg = _find_group(f, "MCS"), _find_group(f, "TFG")
        if mcs is None:
            raise InputError(f"{path}: no /entry_XXXX/<instrument>/MCS group: not an ID02 "
                             "scaler file")
        i0, i1 = _array(mcs, f"Intensity0{suffix}"), _array(mcs, f"Intensity1{suffix}")
        exposure = _array(mcs, "ExposureTime")
        if i1 is None or exposure is None:
            i0c, i1c, exposure_c = _from_counters(mcs, tfg, path, correction)
            i0 = i0c if i0 is None else i0
            i1 = i1c if i1 is None else i1
            exposure = exposure_c if exposure is None else exposure
        start = _scalar(tfg, "HMStartEpoch") if tfg is not None else None
        delta = _array(tfg, "delta_time") if tfg is not None else None
    times = None
    if delta is not None:
        times = delta + (start or 0.0)
    return Monitors(i0=i0, i1=i1, exposure_time_s=exposure, timestamps_s=times,
                    origin=f"{path} (Intensity{{0,1}}{suffix})")


def _from_counters(mcs: h5py.Group, tfg: h5py.Group | None, path: Path,
                   correction: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    names = [decode(n) for n in np.asarray(mcs["HS32N"][()]).reshape(-1)] if "HS32N" in mcs \
        else []
    values = _interpreted(mcs, tfg, path)
    counts, factors = _array(mcs, "HS32C"), _array(mcs, "HS32F")
    pins = {}
    for key in ("HSTime", "HSI0", "HSI1"):
        if key not in mcs:
            raise InputError(f"{path}: the MCS group lacks {key}; cannot tell which counter "
                             "holds it")
        pins[key] = _pin(decode(mcs[key][()]), names or [str(i) for i in range(
            values.shape[1])], key, path)
    exposure = counts[:, pins["HSTime"]] * factors[pins["HSTime"]]
    i0 = values[:, pins["HSI0"]] * (_scalar(mcs, "HSI0Factor", 1.0) or 1.0)
    i1 = values[:, pins["HSI1"]] * (_scalar(mcs, "HSI1Factor", 1.0) or 1.0)
    if correction == "shutter":
        sot = _scalar(mcs, "ShutterOpeningTime", 0.0) or 0.0
        sct = _scalar(mcs, "ShutterClosingTime", 0.0) or 0.0
        factor = (exposure - sot + sct) / (exposure - sot)
        i0, i1 = i0 * factor, i1 * factor
    return i0, i1, exposure


def monitors_from_header(header: Header) -> Monitors:
    """Single-valued monitors from the header keys Intensity0, Intensity1, ExposureTime."""
    def one(*keys: str, kind: str = "none") -> np.ndarray | None:
        value = header.number(*keys, default=None, kind=kind)
        return None if value is None else np.array([value])

    start = header.number("HMStartEpoch", default=None)
    return Monitors(i0=one("Intensity0"), i1=one("Intensity1"),
                    exposure_time_s=one("ExposureTime", kind="time"),
                    timestamps_s=None if start is None else np.array([start]),
                    origin=f"{header.source} (header keys)")


def scaler_file_for(frame_file: Path) -> Path | None:
    """The ID02 scaler file beside a detector file, if there is one.

    ``<collection>_<det>_<scan>[_<idx>].h5`` -> ``<collection>_scalers_<scan>[_<idx>].h5``
    (dahu: ``nk04_saxs_00047.h5`` / ``nk04_scalers_00047.h5``; BLISS:
    ``ewoks_eiger2_00009_00.h5`` / ``ewoks_scalers_00009_00.h5``).
    """
    parts = frame_file.stem.split("_")
    for i in range(len(parts) - 1, 0, -1):
        if parts[i].isdigit() and len(parts[i]) == 5 and i >= 2:
            candidate = frame_file.with_name("_".join([*parts[: i - 1], "scalers", *parts[i:]])
                                             + frame_file.suffix)
            if candidate != frame_file and candidate.is_file():
                return candidate
            break
    return None


def write_scalers(path: Path, *, i0: np.ndarray, i1: np.ndarray, exposure_time_s: np.ndarray,
                  start_epoch: float, instrument: str = "ESRF-ID02",
                  names: Mapping[str, str] | None = None,
                  zero_offsets: Mapping[str, float] | None = None,
                  dead_time_s: float | np.ndarray = 1e-3) -> None:
    """Write an ID02 scaler file whose raw counters reproduce ``i0``, ``i1`` and the times.

    The counters are stored raw (``HS32C``) with factors, zero offsets and modes, and also
    interpreted (``Intensity{0,1}UnCor``, ``ExposureTime``), as dahu writes them. Frame k
    starts ``exposure + dead_time_s`` after frame k - 1 (TFG ``frame_time`` holds the dead and
    live time of each frame; a stopped-flow series has long dead times between frames).
    """
    names = dict(names or {"time": "TIME", "i0": "PIN3", "i1": "PIN8"})
    zero = dict(zero_offsets or {"i0": 57.3, "i1": 346.7})
    exposure = np.asarray(exposure_time_s, dtype=np.float64)
    n = exposure.size
    factors = np.array([1e-6, 1.0e-3, 1.0e-3])  # TIME in us ticks; diode gains
    t_live = exposure
    counts = np.empty((n, 3))
    counts[:, 0] = np.rint(exposure / factors[0])
    counts[:, 1] = np.asarray(i0) / factors[1] + zero["i0"] * t_live
    counts[:, 2] = np.asarray(i1) / factors[2] + zero["i1"] * t_live
    frame_time = np.empty(2 * n)
    dead = np.broadcast_to(np.asarray(dead_time_s, dtype=np.float64), (n,))
    frame_time[0::2], frame_time[1::2] = dead, t_live  # dead time, live time
    with h5py.File(path, "w-") as f:
        f.attrs.update({"NX_class": "NXroot", "creator": "saxs-simulate"})
        ent = f.create_group("entry_0000")
        ent.attrs["NX_class"] = "NXentry"
        inst = ent.create_group(instrument)
        inst.attrs["NX_class"] = "NXinstrument"
        inst["name"] = "TruSAXS"
        tfg = inst.create_group("TFG")
        tfg["frame_time"] = frame_time
        tfg["delta_time"] = np.concatenate([[0.0], np.cumsum(exposure + dead)[:-1]])
        tfg["HMStartEpoch"] = float(start_epoch)
        mcs = inst.create_group("MCS")
        mcs["HS32N"] = np.array([names["time"], names["i0"], names["i1"]], dtype="S")
        mcs["HS32F"], mcs["HS32Z"] = factors, np.array([0.0, zero["i0"], zero["i1"]])
        mcs["HS32M"] = np.zeros(3)
        mcs["HS32C"] = counts
        mcs["HSTime"], mcs["HSI0"], mcs["HSI1"] = "1", "2", "3"
        mcs["HSI0Factor"], mcs["HSI1Factor"] = "1", "1"
        mcs["ExposureTime"] = counts[:, 0] * factors[0]
        mcs["Intensity0UnCor"] = (counts[:, 1] - zero["i0"] * t_live) * factors[1]
        mcs["Intensity1UnCor"] = (counts[:, 2] - zero["i1"] * t_live) * factors[2]
