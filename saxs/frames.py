"""A lazy view of the frames of one detector file."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import numpy as np

from saxs.errors import InputError, where
from saxs.geometry import Geometry
from saxs.header import Header


class FrameSource(Protocol):
    """What a reader gives a :class:`FrameStack`: frames read on demand, nothing held open.

    Implementations live in ``saxs.io`` and must be picklable (they hold paths, not handles).
    Optional: ``read(indices, out=buffer)`` fills a caller's buffer, ``parallel_read``
    (bool) says that the source decompresses on several threads by itself, and
    ``compressed_read`` (bool) that ``read_compressed(indices, allocate)`` gives the frames as
    stored (:class:`CompressedFrames`), for kernels that decode them, and
    ``stored_sizes(indices)`` their sizes in bytes.
    """

    path: Path
    n_frames: int
    frame_shape: tuple[int, int]
    dtype: np.dtype

    def read(self, indices: np.ndarray) -> np.ndarray:
        """Frames ``indices`` (sorted, unique, in range) as an (n, rows, cols) array."""
        ...

    def read_variance(self, indices: np.ndarray) -> np.ndarray | None:
        """The stored variance of those frames, or None when the file has none."""
        ...

    def describe(self) -> str:
        """``file`` or ``file::/dataset``, for messages."""
        ...


def _per_frame(values: np.ndarray | None, n: int, name: str, source: str) -> np.ndarray | None:
    if values is None:
        return None
    array = np.array(values, dtype=np.float64, copy=True).reshape(-1)
    if array.size == 1 and n > 1:
        array = np.full(n, array[0])
    if array.size != n:
        raise InputError(f"{where(source)}{name} has {array.size} values for {n} frames; "
                         "the monitor or scaler file does not belong to this stack")
    array.flags.writeable = False
    return array



@dataclass(frozen=True, eq=False)
class CompressedFrames:
    """Bitshuffle-LZ4 frames as stored, with the position of every block.

    ``payload[offsets[j, b]]`` is block b of frame j (layout in ``saxs_kernels.bitshuffle``);
    ``decoder`` holds the addresses of the library's block functions
    (``saxs_kernels.bitshuffle_lib.BLOCK_DECODER``) that the decoding kernels call, so that
    processing need not import the reader.
    """

    payload: np.ndarray
    offsets: np.ndarray
    block_elems: int
    decoder: tuple[int, int] | None = None

@dataclass(frozen=True, eq=False)
class FrameStack:
    """N frames of one file, read lazily: ``len``, ``stack[i]``, ``stack[a:b]``, ``iter_chunks``.

    Parameters
    ----------
    source : FrameSource
        The reader that fetches pixels on demand.
    header : Header
        The file's header (for LIMA files, the per-file header datasets).
    geometry : Geometry or None
        From the header or a PONI file; None if neither gives it.
    monitor_i0, monitor_i1 : array or None
        Incident and transmitted flux monitors per frame (counts, calibrated as the scaler
        file or header gives them).
    exposure_time_s : array or None
        Exposure time per frame, s.
    timestamps_s : array or None
        Frame start times (epoch seconds when known, else seconds from the first frame).
    indices : array
        Which frames of the source this view shows (a sub-stack keeps its source).
    """

    source: FrameSource
    header: Header
    geometry: Geometry | None = None
    monitor_i0: np.ndarray | None = None
    monitor_i1: np.ndarray | None = None
    exposure_time_s: np.ndarray | None = None
    timestamps_s: np.ndarray | None = None
    indices: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        src = self.source.describe()
        if self.indices is None:
            object.__setattr__(self, "indices", np.arange(self.source.n_frames))
        idx = np.array(self.indices, dtype=np.int64, copy=True).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= self.source.n_frames):
            raise InputError(f"{src}: frame indices outside 0..{self.source.n_frames - 1}")
        idx.flags.writeable = False
        object.__setattr__(self, "indices", idx)
        n = idx.size
        for name in ("monitor_i0", "monitor_i1", "exposure_time_s", "timestamps_s"):
            object.__setattr__(self, name, _per_frame(getattr(self, name), n, name, src))
        if self.geometry is not None and self.geometry.shape != self.frame_shape:
            raise InputError(f"{src}: geometry is for frames of shape {self.geometry.shape} but "
                             f"the frames are {self.frame_shape}")

    # Basic facts ---------------------------------------------------------------------------
    @property
    def path(self) -> Path:
        """The file the frames are in."""
        return self.source.path

    @property
    def frame_shape(self) -> tuple[int, int]:
        """(rows, columns) of one frame."""
        return tuple(self.source.frame_shape)

    @property
    def dtype(self) -> np.dtype:
        """Pixel data type as stored."""
        return np.dtype(self.source.dtype)

    @property
    def dummy(self) -> float | None:
        """Invalid-pixel marker from the header (None: no dummy)."""
        return self.header.dummy

    @property
    def delta_dummy(self) -> float:
        """Tolerance of the dummy test."""
        return self.header.delta_dummy

    @property
    def reads_in_parallel(self) -> bool:
        """True if the source decompresses frames on several threads by itself."""
        return bool(getattr(self.source, "parallel_read", False))

    @property
    def reads_compressed(self) -> bool:
        """True if :meth:`read_compressed` can give these frames as stored."""
        return bool(getattr(self.source, "compressed_read", False))

    def describe(self) -> str:
        """``file`` or ``file::/dataset``."""
        return self.source.describe()

    def __len__(self) -> int:
        return int(self.indices.size)

    def __repr__(self) -> str:
        return (f"FrameStack({self.describe()!r}, n={len(self)}, shape={self.frame_shape}, "
                f"dtype={self.dtype})")

    # Reading ---------------------------------------------------------------------------------
    def _source_indices(self, key: int | slice | np.ndarray | list) -> tuple[np.ndarray, bool]:
        n = len(self)
        if isinstance(key, int | np.integer):
            k = int(key) + n if key < 0 else int(key)
            if not 0 <= k < n:
                raise IndexError(f"{self.describe()}: frame {key} out of range (stack of {n})")
            return self.indices[[k]], True
        if isinstance(key, slice):
            return self.indices[key], False
        sel = np.asarray(key)
        if sel.dtype == bool:
            if sel.size != n:
                raise IndexError(f"boolean selection of {sel.size} for a stack of {n}")
            return self.indices[sel], False
        sel = sel.astype(np.int64)
        if sel.size and (sel.min() < -n or sel.max() >= n):
            raise IndexError(f"{self.describe()}: frame index out of range (stack of {n})")
        return self.indices[sel], False

    def _read(self, src_idx: np.ndarray, variance: bool) -> np.ndarray | None:
        if src_idx.size == 0:
            return np.empty((0, *self.frame_shape), dtype=self.dtype)
        if src_idx.size == 1 or np.all(np.diff(src_idx) > 0):  # sorted, unique: no reordering
            return self.source.read_variance(src_idx) if variance else self.source.read(src_idx)
        order = np.argsort(src_idx, kind="stable")
        unique, inverse = np.unique(src_idx[order], return_inverse=True)
        data = self.source.read_variance(unique) if variance else self.source.read(unique)
        if data is None:
            return None
        out = np.empty((src_idx.size, *data.shape[1:]), dtype=data.dtype)
        out[order] = data[inverse]
        return out

    def __getitem__(self, key: int | slice | np.ndarray | list) -> np.ndarray:
        """Frame ``key`` (2-D) or frames (3-D); only those frames are read from disk."""
        src_idx, single = self._source_indices(key)
        data = self._read(src_idx, variance=False)
        return data[0] if single else data

    def variance(self, key: int | slice | np.ndarray | list) -> np.ndarray | None:
        """The variance stored with the frames (EDF Error blocks), or None."""
        src_idx, single = self._source_indices(key)
        data = self._read(src_idx, variance=True)
        if data is None:
            return None
        return data[0] if single else data

    def chunk_positions(self, chunk_size: int = 16) -> list[np.ndarray]:
        """Positions of consecutive chunks of at most ``chunk_size`` frames, in order."""
        if chunk_size < 1:
            raise InputError(f"chunk_size must be >= 1, got {chunk_size}")
        return [np.arange(start, min(start + chunk_size, len(self)))
                for start in range(0, len(self), chunk_size)]

    def read_into(self, positions: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Frames ``positions`` written into the buffer ``out`` (at least that many frames of
        this shape and dtype); returns the filled part. Sources that can fill a buffer directly
        (LIMA HDF5) do; others are read and copied."""
        src_idx, _ = self._source_indices(positions)
        target = out[:src_idx.size]
        sorted_unique = src_idx.size <= 1 or bool(np.all(np.diff(src_idx) > 0))
        if sorted_unique and src_idx.size and "out" in inspect.signature(
                self.source.read).parameters:
            return self.source.read(src_idx, out=target)
        target[...] = self._read(src_idx, variance=False)
        return target

    def read_compressed(self, positions: np.ndarray, allocate: Callable[[int], np.ndarray]
                        ) -> CompressedFrames:
        """Frames ``positions`` as stored, in a buffer from ``allocate(nbytes)``; only if
        :attr:`reads_compressed`."""
        if not self.reads_compressed:
            raise InputError(f"{self.describe()}: these frames cannot be read still compressed")
        src_idx, _ = self._source_indices(positions)
        return self.source.read_compressed(src_idx, allocate)

    def stored_nbytes(self, positions: np.ndarray) -> np.ndarray:
        """Bytes stored for frames ``positions`` (only if :attr:`reads_compressed`)."""
        src_idx, _ = self._source_indices(positions)
        return self.source.stored_sizes(src_idx)

    def iter_chunks(self, chunk_size: int = 16) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(positions, frames)`` chunks of at most ``chunk_size`` frames, in order."""
        for positions in self.chunk_positions(chunk_size):
            yield positions, self[positions]

    def subset(self, key: slice | np.ndarray | list) -> FrameStack:
        """A lazy view of some frames, with the per-frame monitors sliced to match."""
        positions = np.arange(len(self))[key]

        def cut(values: np.ndarray | None) -> np.ndarray | None:
            return None if values is None else values[positions]

        return replace(self, indices=self.indices[positions], monitor_i0=cut(self.monitor_i0),
                       monitor_i1=cut(self.monitor_i1),
                       exposure_time_s=cut(self.exposure_time_s),
                       timestamps_s=cut(self.timestamps_s))

    def with_geometry(self, geometry: Geometry) -> FrameStack:
        """The same frames with another geometry (e.g. from a PONI file)."""
        return replace(self, geometry=geometry)
