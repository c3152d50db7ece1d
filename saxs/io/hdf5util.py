"""Small h5py helpers shared by the HDF5 readers and writers."""

from __future__ import annotations

from pathlib import Path

import h5py
import hdf5plugin
import numpy as np

from saxs.errors import InputError

#: Compression names accepted by the writers.
COMPRESSIONS = ("none", "gzip", "bitshuffle-lz4")


def open_readonly(path: Path) -> h5py.File:
    """Open an HDF5 file read-only, turning h5py's errors into InputError naming the file."""
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise InputError(f"{path}: not a readable HDF5 file ({exc}); the file may be truncated "
                         "or still being written") from None


def decode(value: object) -> str:
    """Text of an HDF5 scalar (bytes, numpy bytes/str, 0-d arrays)."""
    if isinstance(value, np.ndarray):
        value = value.item() if value.shape == () else value.tolist()
    if isinstance(value, bytes | np.bytes_):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


def compression_options(compression: str) -> dict:
    """h5py ``create_dataset`` keywords for a compression name of :data:`COMPRESSIONS`."""
    if compression == "none":
        return {}
    if compression == "gzip":
        return {"compression": "gzip", "compression_opts": 4, "shuffle": True}
    if compression == "bitshuffle-lz4":
        return dict(hdf5plugin.Bitshuffle(cname="lz4"))
    raise InputError(f"compression {compression!r} is not one of {COMPRESSIONS}")


def nx_class(obj: h5py.HLObject) -> str:
    """The NX_class attribute of a group or dataset, as text ("" if none)."""
    return decode(obj.attrs.get("NX_class", b""))
