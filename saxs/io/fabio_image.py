"""Any image format fabio reads (TIFF, CBF, ...), as a stack of its frames."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import fabio
import numpy as np

from saxs.errors import InputError
from saxs.header import Header
from saxs.io.saxslab import read_saxslab_parameters, saxslab_to_id02


def _open(path: Path):
    try:
        return fabio.open(str(path))
    except Exception as exc:  # noqa: BLE001  (fabio raises many types for unreadable files)
        raise InputError(f"{path}: fabio cannot read this image ({type(exc).__name__}: {exc})"
                         ) from None


@dataclass(frozen=True)
class FabioSource:
    """Frames of a fabio-readable image file, read on demand."""

    path: Path
    n_frames: int
    frame_shape: tuple[int, int]
    dtype: np.dtype

    def describe(self) -> str:
        """The file name."""
        return str(self.path)

    def read(self, indices: np.ndarray) -> np.ndarray:
        """Frames ``indices``."""
        image = _open(self.path)
        out = np.empty((len(indices), *self.frame_shape), dtype=self.dtype)
        for k, i in enumerate(indices):
            out[k] = image.data if self.n_frames == 1 else image.get_frame(int(i)).data
        return out

    def read_variance(self, indices: np.ndarray) -> None:  # noqa: ARG002
        """These formats store no variance."""
        return


def open_source(path: Path) -> tuple[FabioSource, Header]:
    """The frames and header of ``path``."""
    image = _open(path)
    if image.data is None or image.data.ndim != 2:
        raise InputError(f"{path}: not a 2-D image")
    values = {k: str(v) for k, v in dict(image.header).items()}
    params = read_saxslab_parameters(path) if path.suffix.lower() in (".tif", ".tiff") else {}
    if params:
        values.update({f"SAXSLAB_{k}": v for k, v in params.items()})
        values.update(saxslab_to_id02(params))
    header = Header(values, source=str(path))
    source = FabioSource(path, int(image.nframes), tuple(image.data.shape),
                         np.dtype(image.data.dtype))
    return source, header
