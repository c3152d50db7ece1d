"""ESRF Data Format (EDF) files through fabio: lazy frames, variance blocks, writing.

An EDF file is a sequence of blocks, each an ASCII header ``{ key = value ; ... }`` padded to a
multiple of 512 bytes followed by binary data (ID02.md §2.1). The SAXS programs write the
variance of a frame as a separate block whose ``EDF_DataBlockID`` ends in ``.Image.Error``; it
is found by that ID, never by its position in the file.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import fabio
import numpy as np
from fabio.edfimage import EdfImage

from saxs.errors import InputError
from saxs.header import Header

log = logging.getLogger(__name__)

_BLOCK_ID = re.compile(r"^\s*(\d+)\.Image\.(\w+)\s*$", re.IGNORECASE)


def _open(path: Path) -> EdfImage:
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    try:
        image = fabio.open(str(path))
    except Exception as exc:  # noqa: BLE001  (fabio raises OSError, ValueError, UnboundLocalError...)
        raise InputError(f"{path}: not a readable EDF file: broken header "
                         f"({type(exc).__name__}: {exc}); check the 'key = value ;' lines and "
                         "the closing brace") from None
    if not isinstance(image, EdfImage):
        raise InputError(f"{path}: fabio reads it as {type(image).__name__}, not EDF")
    return image


def _check_complete(image: EdfImage, path: Path) -> None:
    size = path.stat().st_size
    for i in range(image.nframes):
        frame = image.get_frame(i)
        if getattr(frame, "incomplete_data", False) or frame.start + frame.blobsize > size:
            raise InputError(f"{path}: block {i} is truncated ({frame.start + frame.blobsize} "
                             f"bytes needed, the file has {size}); the file is incomplete")


def _block_kinds(image: EdfImage) -> list[tuple[int, str]]:
    kinds = []
    for i in range(image.nframes):
        block_id = image.get_frame(i).header.get("EDF_DataBlockID", "")
        match = _BLOCK_ID.match(block_id)
        kinds.append((int(match.group(1)), match.group(2).lower()) if match else (i, "psd"))
    return kinds


def pair_blocks(kinds: Sequence[tuple[int, str]]) -> tuple[list[int], list[int | None]]:
    """Psd block positions and, for each, the position of its Error block (or None).

    An Error block belongs to the Psd block of the same number; an Error block whose number
    matches none belongs to the nearest unpaired Psd block before it.
    """
    psd = [i for i, (_, kind) in enumerate(kinds) if kind == "psd"]
    errors: list[int | None] = [None] * len(psd)
    by_number = {kinds[p][0]: k for k, p in enumerate(psd)}
    for i, (number, kind) in enumerate(kinds):
        if kind != "error":
            continue
        k = by_number.get(number)
        if k is None or errors[k] is not None:
            before = [k2 for k2, p in enumerate(psd) if p < i and errors[k2] is None]
            k = before[-1] if before else None
        if k is None:
            log.warning("EDF Error block %d has no Psd block to belong to; ignored", i)
            continue
        errors[k] = i
    return psd, errors


@dataclass(frozen=True)
class EdfSource:
    """Frames of an EDF file (the Psd blocks) with their variance blocks, read on demand."""

    path: Path
    psd_blocks: tuple[int, ...]
    error_blocks: tuple[int | None, ...]
    frame_shape: tuple[int, int]
    dtype: np.dtype

    @property
    def n_frames(self) -> int:
        """Number of frames (Psd blocks)."""
        return len(self.psd_blocks)

    def describe(self) -> str:
        """The file name."""
        return str(self.path)

    def _blocks(self, blocks: Sequence[int]) -> np.ndarray:
        image = _open(self.path)
        out = np.empty((len(blocks), *self.frame_shape), dtype=self.dtype)
        for k, block in enumerate(blocks):
            data = image.get_frame(block).data
            if data.shape != self.frame_shape:
                raise InputError(f"{self.path}: block {block} has shape {data.shape}, the first "
                                 f"frame {self.frame_shape}; frames of one file must agree")
            out[k] = data
        return out

    def read(self, indices: np.ndarray) -> np.ndarray:
        """Psd blocks of frames ``indices``."""
        return self._blocks([self.psd_blocks[i] for i in indices])

    def read_variance(self, indices: np.ndarray) -> np.ndarray | None:
        """Error blocks of frames ``indices``, or None if any frame lacks one."""
        blocks = [self.error_blocks[i] for i in indices]
        if any(b is None for b in blocks):
            return None
        return self._blocks(blocks)  # type: ignore[arg-type]


def open_source(path: Path) -> tuple[EdfSource, Header, list[Header]]:
    """Describe an EDF file: its frame source, the first frame's header and every frame's."""
    image = _open(path)
    _check_complete(image, path)
    psd, errors = pair_blocks(_block_kinds(image))
    if not psd:
        raise InputError(f"{path}: no image (Psd) block in the file")
    headers = [Header(dict(image.get_frame(b).header), source=str(path)) for b in psd]
    first = image.get_frame(psd[0])
    dims = (headers[0].integer("Dim_2"), headers[0].integer("Dim_1"))
    if tuple(first.shape) != dims:
        raise InputError(f"{path}: header Dim_1 x Dim_2 = {dims[1]} x {dims[0]} does not match "
                         f"the data {first.shape[1]} x {first.shape[0]}")
    source = EdfSource(path, tuple(psd), tuple(errors), tuple(first.shape), np.dtype(first.dtype))
    return source, headers[0], headers


def write_edf(path: Path, frames: np.ndarray, header: Mapping[str, object], *,
              frame_headers: Sequence[Mapping[str, object]] | None = None,
              variance: np.ndarray | None = None) -> None:
    """Write frames (and optional variance blocks) as an EDF file with ID02 header keys.

    Each frame is a block ``<n>.Image.Psd``; its variance, if given, follows as
    ``<n>.Image.Error``. ``frame_headers`` adds per-frame keys (e.g. ``Intensity1``).
    The caller handles atomicity.
    """
    frames = np.asarray(frames)
    if frames.ndim == 2:
        frames = frames[None]
        variance = None if variance is None else np.asarray(variance)[None]
    if frames.ndim != 3 or frames.shape[0] == 0:
        raise InputError(f"{path}: frames must be (N >= 1, rows, cols), got shape {frames.shape}")
    if variance is not None and np.shape(variance) != frames.shape:
        raise InputError(f"{path}: variance shape {np.shape(variance)} differs from the frames "
                         f"{frames.shape}")
    image = None
    for n, frame in enumerate(frames):
        keys = {**{k: str(v) for k, v in header.items()},
                **({k: str(v) for k, v in frame_headers[n].items()} if frame_headers else {}),
                "EDF_DataBlockID": f"{n}.Image.Psd"}
        if image is None:
            image = EdfImage(data=frame, header=keys)
        else:
            image.append_frame(data=frame, header=keys)
        if variance is not None:
            image.append_frame(data=np.asarray(variance[n]),
                               header={"EDF_DataBlockID": f"{n}.Image.Error", "Title": "variance"})
    image.write(str(path))
