"""ESRF LIMA HDF5 detector files: layout discovery, lazy frame reading, writing.

Layout (LIMA ``CtSaving_Hdf5.cpp``; ID02.md §1.1)::

    /entry_0000                      NXentry (one per acquisition: entry_0000, entry_0001, ...)
        <instrument>/<det>/data      (N, rows, cols), chunks (1, rows, cols)
        <instrument>/<det>/header/   one scalar string dataset per header key
        <instrument>/<det>/acquisition/, detector_information/, image_operation/, plot/
        measurement/data             soft link to the detector data
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from saxs.errors import InputError
from saxs.header import Header
from saxs.io.fastread import (
    CompressedFrames,
    decompresses_in_parallel,
    read_bitshuffle_frames,
    read_compressed_frames,
    reads_compressed,
    stored_sizes,
)
from saxs.io.hdf5util import compression_options, decode, nx_class, open_readonly


@dataclass(frozen=True)
class LimaLayout:
    """Where the pieces of one LIMA entry are."""

    data_path: str
    detector_path: str | None
    header_path: str | None


def _entries(f: h5py.File) -> list[str]:
    return sorted(k for k in f if k.startswith("entry") and isinstance(f[k], h5py.Group))


def _detector_group(entry: h5py.Group) -> str | None:
    """The first NXdetector under the first NXinstrument of ``entry`` (EWK id02_format)."""
    for inst_name, inst in entry.items():
        if isinstance(inst, h5py.Group) and nx_class(inst) == "NXinstrument":
            for det_name, det in inst.items():
                if isinstance(det, h5py.Group) and nx_class(det) == "NXdetector":
                    return f"{entry.name}/{inst_name}/{det_name}"
    return None


def find_layout(f: h5py.File, path: Path, dataset: str | None) -> LimaLayout:
    """Locate the frames, detector group and header of a LIMA file.

    ``dataset`` is an explicit internal path (``file.h5::/entry_0001/measurement/data``);
    otherwise the first entry's ``measurement/data`` (or its detector's ``data``) is used.
    """
    if dataset:
        if dataset not in f:
            raise InputError(f"{path}::{dataset}: no such dataset in the file; entries are "
                             f"{_entries(f) or 'none'}")
        node = f[dataset]
        if not isinstance(node, h5py.Dataset):
            raise InputError(f"{path}::{dataset}: is a group, not a dataset; address the "
                             "frames dataset, e.g. /entry_0000/measurement/data")
        data_path = node.name
        entry_name = "/" + data_path.strip("/").split("/")[0]
    else:
        entries = _entries(f)
        if not entries:
            raise InputError(f"{path}: no /entry_XXXX group: not a LIMA detector file "
                             "(address a dataset explicitly with 'file.h5::/path/to/data')")
        entry_name = "/" + entries[0]
        data_path = None
    entry = f[entry_name]
    det = _detector_group(entry) if isinstance(entry, h5py.Group) else None
    if data_path is None:
        for candidate in (f"{entry_name}/measurement/data", f"{det}/data" if det else None):
            if candidate and candidate in f and isinstance(f[candidate], h5py.Dataset):
                data_path = candidate
                break
        else:
            raise InputError(f"{path}: {entry_name} has no measurement/data nor detector data")
    header = f"{det}/header" if det and f"{det}/header" in f else None
    return LimaLayout(data_path=data_path, detector_path=det, header_path=header)


def read_header(f: h5py.File, layout: LimaLayout, path: Path) -> Header:
    """The per-file header: one string dataset per key under ``<det>/header``."""
    values: dict[str, str] = {}
    if layout.header_path:
        for key, node in f[layout.header_path].items():
            if isinstance(node, h5py.Dataset) and node.shape in ((), (1,)):
                values[key] = decode(node[()])
    return Header(values, source=f"{path}::{layout.header_path or layout.data_path}")


def read_time_of_frame(f: h5py.File, layout: LimaLayout) -> np.ndarray | None:
    """``<det>/time_of_frame`` (s from the acquisition start), when present."""
    if layout.detector_path and f"{layout.detector_path}/time_of_frame" in f:
        return np.asarray(f[f"{layout.detector_path}/time_of_frame"][()], dtype=np.float64)
    return None


def read_exposure_time(f: h5py.File, layout: LimaLayout) -> float | None:
    """``<det>/acquisition/exposure_time`` (s), when present."""
    key = f"{layout.detector_path}/acquisition/exposure_time" if layout.detector_path else None
    if key and key in f:
        return float(np.asarray(f[key][()]).reshape(-1)[0])
    return None


@dataclass(frozen=True)
class LimaSource:
    """Frames of one dataset of a LIMA (or any) HDF5 file, read on demand (read-only)."""

    path: Path
    dataset: str
    n_frames: int
    frame_shape: tuple[int, int]
    dtype: np.dtype
    single_image: bool = False  # a 2-D dataset seen as a one-frame stack
    #: Frames are decompressed by several threads at once (bitshuffle-LZ4, one chunk per
    #: frame): a caller gains nothing by reading in a thread of its own.
    parallel_read: bool = False
    #: Frames can be read still compressed (:meth:`read_compressed`).
    compressed_read: bool = False

    def describe(self) -> str:
        """``file::/dataset``."""
        return f"{self.path}::{self.dataset}"

    def read(self, indices: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Frames ``indices`` (sorted, unique), reading contiguous runs as slices.

        Bitshuffle-LZ4 frames stored one per chunk are fetched as stored and decompressed by
        :mod:`saxs.io.fastread`; anything else goes through h5py's filter pipeline. ``out``
        (C-contiguous, shape ``(len(indices), rows, cols)``, this dtype) is filled instead of a
        new array: a caller streaming a stack reuses its buffers and the memory is not
        allocated and zeroed again for every chunk.
        """
        shape = (len(indices), *self.frame_shape)
        if out is None:
            out = np.empty(shape, dtype=self.dtype)
        elif out.shape != shape or out.dtype != self.dtype or not out.flags.c_contiguous:
            raise InputError(f"{self.describe()}: read buffer {out.shape} {out.dtype} does "
                             f"not fit frames of {shape} {self.dtype}")
        with open_readonly(self.path) as f:
            data = f[self.dataset]
            try:
                if not self.single_image and read_bitshuffle_frames(data, indices, out):
                    return out
                if self.single_image:
                    data.read_direct(out, None, np.s_[0])
                    return out
                pos = 0
                for start, stop in _runs(np.asarray(indices)):
                    data.read_direct(out, np.s_[start:stop], np.s_[pos:pos + stop - start])
                    pos += stop - start
            except (OSError, RuntimeError, ValueError) as exc:
                raise InputError(f"{self.describe()}: frames {indices[0]}..{indices[-1]} cannot "
                                 f"be read ({exc}); the file is truncated or corrupt") from None
        return out

    def read_compressed(self, indices: np.ndarray, allocate: Callable[[int], np.ndarray]
                        ) -> CompressedFrames:
        """Frames ``indices`` as stored (bitshuffle-LZ4), for kernels that decode them
        (:func:`saxs.io.fastread.read_compressed_frames`); only if ``compressed_read``."""
        with open_readonly(self.path) as f:
            try:
                return read_compressed_frames(f[self.dataset], indices, allocate)
            except (OSError, RuntimeError, ValueError) as exc:
                raise InputError(f"{self.describe()}: frames {indices[0]}..{indices[-1]} cannot "
                                 f"be read ({exc}); the file is truncated or corrupt") from None

    def stored_sizes(self, indices: np.ndarray) -> np.ndarray:
        """Bytes stored for frames ``indices`` (only if ``compressed_read``)."""
        with open_readonly(self.path) as f:
            return stored_sizes(f[self.dataset], indices)

    def read_variance(self, indices: np.ndarray) -> None:  # noqa: ARG002
        """LIMA raw files store no variance."""
        return


def _runs(indices: np.ndarray) -> list[tuple[int, int]]:
    """Contiguous [start, stop) runs of sorted unique indices."""
    if indices.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(indices) != 1) + 1
    starts = np.concatenate([[0], breaks])
    stops = np.concatenate([breaks, [indices.size]])
    return [(int(indices[a]), int(indices[b - 1]) + 1) for a, b in zip(starts, stops, strict=True)]


def open_source(path: Path, dataset: str | None) -> tuple[LimaSource, Header, dict]:
    """Open ``path`` read-only and describe its frames; also returns per-file extras."""
    with open_readonly(path) as f:
        layout = find_layout(f, path, dataset)
        node = f[layout.data_path]
        if node.ndim == 2:
            n, shape = 1, node.shape
        elif node.ndim == 3:
            n, shape = node.shape[0], node.shape[1:]
        else:
            raise InputError(f"{path}::{layout.data_path}: frames must be 2-D or 3-D, got "
                             f"shape {node.shape}")
        if n == 0:
            raise InputError(f"{path}::{layout.data_path}: the dataset holds no frame")
        if not np.issubdtype(node.dtype, np.number):
            raise InputError(f"{path}::{layout.data_path}: not numeric data ({node.dtype})")
        header = read_header(f, layout, path)
        extras = {"time_of_frame": read_time_of_frame(f, layout),
                  "exposure_time": read_exposure_time(f, layout)}
        dtype = node.dtype
        ndim = node.ndim
        parallel = ndim == 3 and decompresses_in_parallel(node)
        compressed = ndim == 3 and reads_compressed(node)
    source = LimaSource(path, layout.data_path, int(n), tuple(shape), dtype, ndim == 2, parallel,
                        compressed)
    return source, header, extras


def write_lima(path: Path, frames: np.ndarray, header: Mapping[str, object], *,
               detector: str = "eiger2", instrument: str = "ESRF-ID02",
               compression: str = "bitshuffle-lz4", exposure_time_s: float | None = None,
               time_of_frame: np.ndarray | None = None, entry: int = 0,
               lima_version: str = "1.10.0") -> None:
    """Write frames as an ESRF LIMA HDF5 file (the caller handles atomicity).

    Parameters
    ----------
    frames : array (N, rows, cols)
        Detector frames, written as stored (integers for raw data).
    header : mapping
        ID02 header keys, one scalar string dataset each under ``<det>/header``.
    compression : {"none", "gzip", "bitshuffle-lz4"}
        Per-frame chunked compression (LIMA's HDF5GZ and HDF5BS modes).
    entry : int
        Entry number; entries other than 0 are appended to an existing file.
    """
    frames = np.asarray(frames)
    if frames.ndim != 3:
        raise InputError(f"{path}: frames must be (N, rows, cols), got shape {frames.shape}")
    n, rows, cols = frames.shape
    mode = "a" if entry else "w-"
    now = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    with h5py.File(path, mode) as f:
        f.attrs.update({"NX_class": "NXroot", "creator": f"LIMA-{lima_version}",
                        "default": f"/entry_{entry:04d}", "file_name": str(path),
                        "file_time": now})
        ent = f.create_group(f"entry_{entry:04d}")
        ent.attrs.update({"NX_class": "NXentry", "default": f"{instrument}/{detector}/plot"})
        ent["title"] = "Lima 2D detector acquisition"
        ent["start_time"] = now
        ent["end_time"] = now
        inst = ent.create_group(instrument)
        inst.attrs.update({"NX_class": "NXinstrument", "default": f"{detector}/plot"})
        det = inst.create_group(detector)
        det.attrs.update({"NX_class": "NXdetector", "default": "plot"})
        data = det.create_dataset("data", data=frames, chunks=(1, rows, cols),
                                  maxshape=(None, rows, cols), **compression_options(compression))
        data.attrs["interpretation"] = "image"
        tof = np.arange(n, dtype=np.float64) * (exposure_time_s or 0.0) \
            if time_of_frame is None else np.asarray(time_of_frame, dtype=np.float64)
        det.create_dataset("time_of_frame", data=tof)
        hdr = det.create_group("header")
        hdr.attrs["NX_class"] = "NXcollection"
        for key, value in header.items():
            hdr.create_dataset(key, data=str(value))
        _write_detector_groups(det, detector, frames, exposure_time_s)
        plot = det.create_group("plot")
        plot.attrs.update({"NX_class": "NXdata", "signal": "data"})
        plot["data"] = h5py.SoftLink(data.name)
        meas = ent.create_group("measurement")
        meas.attrs["NX_class"] = "NXcollection"
        meas["data"] = h5py.SoftLink(data.name)


def _write_detector_groups(det: h5py.Group, name: str, frames: np.ndarray,
                           exposure_time_s: float | None) -> None:
    n, rows, cols = frames.shape
    info = det.create_group("detector_information")
    info.attrs["NX_class"] = "NXcollection"
    info["name"] = name
    info["image_lima_type"] = f"Bpp{frames.dtype.itemsize * 8}"
    size = info.create_group("max_image_size")
    size["xsize"], size["ysize"] = cols, rows
    acq = det.create_group("acquisition")
    acq.attrs["NX_class"] = "NXcollection"
    acq["nb_frames"] = n
    acq["mode"] = "SINGLE"
    acq["trigger_mode"] = "INTERNAL_TRIGGER"
    if exposure_time_s is not None:
        acq["exposure_time"] = float(exposure_time_s)
    op = det.create_group("image_operation")
    op.attrs["NX_class"] = "NXcollection"
    dim = op.create_group("dimension")
    dim["xsize"], dim["ysize"] = cols, rows
