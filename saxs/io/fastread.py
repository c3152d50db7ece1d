"""Fast reading of bitshuffle-LZ4 compressed frames (the LIMA "HDF5BS" saving mode).

Each frame is one HDF5 chunk. The compressed chunk is fetched as it is stored
(``read_direct_chunk``) and decompressed by the ``bitshuffle`` library straight into the
caller's buffer, skipping h5py's filter pipeline (10-14 ms per Eiger2 4M frame here) and the
copy of a temporary array. The library's C entry point ``bshuf_decompress_lz4`` (exported by
its extension module) splits each frame's blocks over OpenMP threads: ~2.2 ms per frame on
2 cores, ~2.9 ms on one. If the symbol cannot be found, the package's Python function is used
and its result copied. Chunk layout of the HDF5 bitshuffle filter (bitshuffle
``bshuf_h5filter.c``): an 8-byte big-endian decompressed size, a 4-byte big-endian block size
in bytes, then the bitshuffled LZ4 blocks. Filter 32008, cd_values[4] = 2 means LZ4.
"""

from __future__ import annotations

import ctypes
import logging
import struct

import h5py
import numpy as np

log = logging.getLogger(__name__)

try:  # optional: without it, h5py's filter pipeline reads the frames
    import bitshuffle as _bitshuffle
except ImportError:  # pragma: no cover - depends on the installation
    _bitshuffle = None

BITSHUFFLE_FILTER = 32008
_LZ4 = 2


def _c_decompress():
    """``bshuf_decompress_lz4(in, out, size, elem_size, block_size) -> bytes read`` or None."""
    if _bitshuffle is None:  # pragma: no cover - depends on the installation
        return None
    try:
        from bitshuffle import ext  # noqa: PLC0415

        function = ctypes.CDLL(ext.__file__).bshuf_decompress_lz4
    except (ImportError, OSError, AttributeError):  # pragma: no cover - depends on the build
        log.info("bitshuffle's C entry point not found; frames are decompressed by its Python "
                 "function and copied")
        return None
    function.restype = ctypes.c_int64
    function.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t,
                         ctypes.c_size_t]
    return function


_DECOMPRESS = _c_decompress()


def is_bitshuffle_lz4_per_frame(dataset: h5py.Dataset) -> bool:
    """True if every frame of ``dataset`` is one bitshuffle-LZ4 chunk and nothing else."""
    if _bitshuffle is None or dataset.ndim != 3 or dataset.chunks != (1, *dataset.shape[1:]):
        return False
    plist = dataset.id.get_create_plist()
    if plist.get_nfilters() != 1:
        return False
    code, _flags, values, _name = plist.get_filter(0)
    return code == BITSHUFFLE_FILTER and len(values) >= 5 and values[4] == _LZ4


def decompresses_in_parallel(dataset: h5py.Dataset) -> bool:
    """True if :func:`read_bitshuffle_frames` reads ``dataset`` with the multi-threaded C call."""
    return _DECOMPRESS is not None and is_bitshuffle_lz4_per_frame(dataset)


def read_bitshuffle_frames(dataset: h5py.Dataset, indices: np.ndarray, out: np.ndarray) -> bool:
    """Fill ``out`` with frames ``indices``; False (nothing done) if the layout does not fit."""
    if not is_bitshuffle_lz4_per_frame(dataset) or out.dtype != dataset.dtype \
            or not out.flags.c_contiguous:
        return False
    shape, dtype = dataset.shape[1:], dataset.dtype
    itemsize = dtype.itemsize
    for pos, index in enumerate(indices):
        mask, chunk = dataset.id.read_direct_chunk((int(index), 0, 0))
        if mask:
            raise OSError(f"chunk {index} was stored with a filter skipped")
        if len(chunk) < 12:
            raise OSError(f"chunk {index} holds {len(chunk)} bytes, not a bitshuffle header")
        size, block_bytes = struct.unpack(">QI", chunk[:12])
        if size != out[pos].nbytes or block_bytes % itemsize:
            raise OSError(f"chunk {index} announces {size} bytes in blocks of {block_bytes}, "
                          f"a frame is {out[pos].nbytes} bytes of {itemsize}-byte values")
        payload = np.frombuffer(chunk, dtype=np.uint8, offset=12)
        if _DECOMPRESS is None:
            out[pos] = _bitshuffle.decompress_lz4(payload, shape, dtype, block_bytes // itemsize)
            continue
        used = _DECOMPRESS(payload.ctypes.data, out[pos].ctypes.data, out[pos].size, itemsize,
                           block_bytes // itemsize)
        if used != payload.size:
            raise OSError(f"chunk {index} does not decompress (bitshuffle returned {used} for "
                          f"{payload.size} compressed bytes)")
    return True
