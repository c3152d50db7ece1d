"""``read_frames``: any detector file to a lazy :class:`~saxs.frames.FrameStack`."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from saxs.errors import InputError
from saxs.frames import FrameStack
from saxs.geometry import Geometry
from saxs.header import Header
from saxs.io import edf, lima
from saxs.io.scalers import Monitors, monitors_from_header, read_scalers, scaler_file_for

log = logging.getLogger(__name__)

HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf", ".nxs", ".nx5")
EDF_SUFFIXES = (".edf", ".ehf")
GEOMETRY_KEYS = ("SampleDistance", "WaveLength", "PSize_1", "PSize_2", "Center_1", "Center_2")


def split_address(address: str | os.PathLike) -> tuple[Path, str | None]:
    """``"file.h5::/entry_0000/measurement/data"`` -> (Path("file.h5"), "/entry_0000/...")."""
    text = os.fspath(address)
    if "::" in text:
        name, dataset = text.split("::", 1)
        return Path(name), "/" + dataset.lstrip("/") if dataset else None
    return Path(text), None


def read_frames(address: str | os.PathLike, *, poni: str | os.PathLike | None = None,
                geometry: Geometry | None = None, scalers: str | os.PathLike | None = "auto",
                monitor_correction: str = "none",
                header_overrides: Mapping[str, object] | None = None,
                require_geometry: bool = True,
                monitor: float | np.ndarray | list | None = None) -> FrameStack:
    """Open a detector file read-only as a lazy stack of frames.

    Parameters
    ----------
    address : path
        An ID02 LIMA HDF5 file (first entry's ``measurement/data``), ``"file.h5::/path"`` for
        any dataset, an EDF file (Psd blocks are frames, Error blocks their variance), or any
        image fabio reads (TIFF, CBF, ...).
    poni, geometry : optional
        The geometry from a PONI file or given directly; otherwise from the header keys
        (ID02.md §4).
    scalers : path, "auto" or None
        ID02 scaler file with the per-frame monitors; "auto" looks for
        ``<collection>_scalers_<scan>.h5`` beside the file; None uses header keys only.
    monitor_correction : {"none", "shutter"}
        Which scaler monitor to use (UnCor or ShutCor).
    header_overrides : mapping, optional
        Header keys that replace the file's (as dahu's job inputs do).
    require_geometry : bool
        Raise if no geometry can be made (default). False leaves ``geometry=None``.
    monitor : number or array, optional
        The transmitted-flux monitor (I1) given directly: one value for every frame or one
        per frame; it replaces the scaler file's and the header's.

    Returns
    -------
    FrameStack
        Nothing is read beyond headers and monitors until frames are asked for.
    """
    path, dataset = split_address(address)
    kind, (source, header, extras) = _open(path, dataset)
    overrides = dict(header_overrides or {})
    header = header.merged(overrides)
    if kind == "hdf5":
        monitors = _hdf5_monitors(path, source, header, extras, scalers=scalers,
                                  correction=monitor_correction)
    elif kind == "edf":
        monitors = _edf_monitors([h.merged(overrides) for h in extras])
    else:
        monitors = monitors_from_header(header)
    geometry = _geometry(header, source.frame_shape, path, poni, geometry,
                         require=require_geometry)
    if monitor is not None:
        monitors = Monitors(monitors.i0, _given_monitor(monitor, source.n_frames, path),
                            monitors.exposure_time_s, monitors.timestamps_s, "given")
    return FrameStack(source=source, header=header, geometry=geometry, monitor_i0=monitors.i0,
                      monitor_i1=monitors.i1, exposure_time_s=monitors.exposure_time_s,
                      timestamps_s=monitors.timestamps_s)


@dataclass(frozen=True, eq=False)
class ImageFile:
    """Every image of a detector file, read, with the file's header: no geometry, no monitors
    (what a mask, a dark or a flat is made of)."""

    images: np.ndarray
    header: Header
    name: str

    @property
    def frame_shape(self) -> tuple[int, int]:
        """(rows, columns) of one image."""
        return tuple(self.images.shape[1:])

    @property
    def dummy(self) -> float | None:
        """Invalid-pixel marker from the header (None: no dummy)."""
        return self.header.dummy

    @property
    def delta_dummy(self) -> float:
        """Tolerance of the dummy test."""
        return self.header.delta_dummy

    def describe(self) -> str:
        """``file`` or ``file::/dataset``, for messages."""
        return self.name

    def __len__(self) -> int:
        return int(self.images.shape[0])


def read_images(address: str | os.PathLike) -> ImageFile:
    """Read every image of a file (read-only) with its header: a plain image reader for
    calibration images (EDF, HDF5 ``file.h5::/path`` or a LIMA file, any fabio image)."""
    _, (source, header, _) = _open(*split_address(address))
    images = source.read(np.arange(source.n_frames)) if source.n_frames else np.empty(
        (0, *source.frame_shape))
    return ImageFile(np.asarray(images), header, source.describe())


def _given_monitor(monitor, n_frames: int, path: Path) -> np.ndarray:
    try:
        values = np.array(monitor, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise InputError(f"{path}: monitor {monitor!r} is not a number or an array of numbers"
                         ) from None
    if values.size == 1:
        values = np.full(n_frames, values[0])
    if values.size != n_frames:
        raise InputError(f"{path}: the monitor has {values.size} values for {n_frames} frames; "
                         "give one value, or one per frame")
    return values


def _geometry(header: Header, shape: tuple[int, int], path: Path, poni, geometry, *,
              require: bool) -> Geometry | None:
    if geometry is not None:
        if poni is not None:
            raise InputError("give either poni= or geometry=, not both")
        return geometry.with_shape(shape) if geometry.shape != shape else geometry
    if poni is not None:
        return Geometry.from_poni(poni, shape=shape)
    missing = [k for k in GEOMETRY_KEYS if k not in header and not (
        k == "WaveLength" and "Wavelength" in header)]
    if not missing:
        return Geometry.from_header(header, shape)
    if require:
        raise InputError(f"{path}: header lacks the geometry key(s) {', '.join(missing)}; "
                         "pass poni='calib.poni' (or geometry=) or add the keys to the header")
    return None


def _open(path: Path, dataset: str | None) -> tuple[str, tuple]:
    """The file's kind ("hdf5", "edf", "image") and its frame source, header and what else
    its reader gives (LIMA's extras, the EDF blocks' headers, or None)."""
    if not path.exists():
        raise InputError(f"{path}: file not found")
    suffix = path.suffix.lower()
    if suffix in HDF5_SUFFIXES or dataset:
        return "hdf5", lima.open_source(path, dataset)
    if suffix in EDF_SUFFIXES:
        return "edf", edf.open_source(path)
    return "image", (*_open_fabio(path), None)


def _hdf5_monitors(path: Path, source, header: Header, extras: dict, *, scalers,
                   correction: str) -> Monitors:
    """Monitors of a LIMA stack: the scaler file's, else the header's, with LIMA's exposure
    time and frame times where those lack them."""
    monitors = monitors_from_header(header)
    scaler_path = scaler_file_for(path) if scalers == "auto" else (
        Path(scalers) if scalers is not None else None)
    if scaler_path is not None:
        from_file = read_scalers(scaler_path, correction)
        log.debug("monitors of %s from %s", path, from_file.origin)
        monitors = Monitors(
            i0=from_file.i0 if from_file.i0 is not None else monitors.i0,
            i1=from_file.i1 if from_file.i1 is not None else monitors.i1,
            exposure_time_s=(from_file.exposure_time_s if from_file.exposure_time_s is not None
                             else monitors.exposure_time_s),
            timestamps_s=from_file.timestamps_s, origin=from_file.origin)
    if monitors.exposure_time_s is None and extras["exposure_time"] is not None:
        monitors = Monitors(monitors.i0, monitors.i1, np.array([extras["exposure_time"]]),
                            monitors.timestamps_s, monitors.origin)
    if monitors.timestamps_s is None and extras["time_of_frame"] is not None:
        start = header.number("HMStartEpoch", default=0.0)
        tof = extras["time_of_frame"]
        # a time axis only if it moves (LIMA writes zeros when it does not know the times)
        if tof.size == source.n_frames and (tof.size == 1 or np.all(np.diff(tof) > 0)):
            monitors = Monitors(monitors.i0, monitors.i1, monitors.exposure_time_s,
                                tof + start, monitors.origin)
    return monitors


def _edf_monitors(headers: list[Header]) -> Monitors:
    def column(key: str, kind: str = "none") -> np.ndarray | None:
        values = [h.number(key, default=None, kind=kind) for h in headers]
        if all(v is None for v in values):
            return None
        if any(v is None for v in values):
            raise InputError(f"{headers[0].source}: header key {key!r} is on some frames only")
        return np.array(values, dtype=np.float64)

    return Monitors(i0=column("Intensity0"), i1=column("Intensity1"),
                    exposure_time_s=column("ExposureTime", "time"),
                    timestamps_s=column("HMStartEpoch"), origin=f"{headers[0].source} (headers)")


def _open_fabio(path: Path):
    from saxs.io.fabio_image import open_source  # noqa: PLC0415

    return open_source(path)
