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

A stack of integer frames can also be read still compressed (:func:`read_compressed_frames`),
for kernels that decode it block by block themselves (``saxs_kernels.bitshuffle``), with the
library's block functions (:data:`saxs_kernels.bitshuffle_lib.BLOCK_DECODER`).
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable

import h5py
import numpy as np

from saxs.frames import CompressedFrames
from saxs_kernels.bitshuffle_lib import BLOCK_DECODER, DEFAULT_BLOCK, bitshuffle_module
from saxs_kernels.bitshuffle_lib import DECOMPRESS as _DECOMPRESS

log = logging.getLogger(__name__)

BITSHUFFLE_FILTER = 32008
_LZ4 = 2


def is_bitshuffle_lz4_per_frame(dataset: h5py.Dataset) -> bool:
    """True if every frame of ``dataset`` is one bitshuffle-LZ4 chunk and nothing else."""
    if (bitshuffle_module is None or dataset.ndim != 3
            or dataset.chunks != (1, *dataset.shape[1:])):
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
            out[pos] = bitshuffle_module.decompress_lz4(payload, shape, dtype,
                                                        block_bytes // itemsize)
            continue
        used = _DECOMPRESS(payload.ctypes.data, out[pos].ctypes.data, out[pos].size, itemsize,
                           block_bytes // itemsize)
        if used != payload.size:
            raise OSError(f"chunk {index} does not decompress (bitshuffle returned {used} for "
                          f"{payload.size} compressed bytes)")
    return True


def reads_compressed(dataset: h5py.Dataset) -> bool:
    """True if :func:`read_compressed_frames` can read ``dataset``: integer frames of native
    byte order, one bitshuffle-LZ4 chunk each, and the block functions available."""
    dtype = dataset.dtype
    return (BLOCK_DECODER is not None and dtype.kind in "iu" and dtype.isnative
            and is_bitshuffle_lz4_per_frame(dataset))


def stored_sizes(dataset: h5py.Dataset, indices: np.ndarray) -> np.ndarray:
    """Bytes stored for frames ``indices`` (one chunk each); 0 for a chunk not stored."""
    sizes = [dataset.id.get_chunk_info_by_coord((int(index), 0, 0)).size for index in indices]
    return np.array([size or 0 for size in sizes], dtype=np.int64)


def read_compressed_frames(dataset: h5py.Dataset, indices: np.ndarray,
                           allocate: Callable[[int], np.ndarray]) -> CompressedFrames:
    """The stored chunks of frames ``indices`` (any order), in ``allocate(nbytes)`` (a
    writable uint8 array of at least ``nbytes``), checked block by block.

    Raises OSError naming the frame if a chunk is missing, was stored with its filter skipped,
    or its header or blocks do not describe one frame.
    """
    from saxs_kernels.bitshuffle import HEADER_BYTES, block_offsets  # noqa: PLC0415

    shape, dtype = dataset.shape[1:], dataset.dtype
    itemsize = dtype.itemsize
    n_values = int(np.prod(shape))
    infos = []
    for index in indices:
        info = dataset.id.get_chunk_info_by_coord((int(index), 0, 0))
        if info.byte_offset is None or info.size is None:
            raise OSError(f"chunk {index} is not stored")
        if info.filter_mask:
            raise OSError(f"chunk {index} was stored with a filter skipped")
        if info.size < HEADER_BYTES:
            raise OSError(f"chunk {index} holds {info.size} bytes, not a bitshuffle header")
        infos.append(info)
    sizes = np.array([info.size for info in infos], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    payload = allocate(int(sizes.sum()))
    block_elems = 0
    for index, start, size in zip(indices, starts, sizes, strict=True):
        dataset.id.read_direct_chunk((int(index), 0, 0), out=payload[start:start + size])
        total, block_bytes = struct.unpack(">QI", payload[start:start + HEADER_BYTES].tobytes())
        elems = block_bytes // itemsize if block_bytes else DEFAULT_BLOCK.get(itemsize, 0)
        if (total != n_values * itemsize or block_bytes % itemsize or elems == 0 or elems % 8
                or block_elems not in (0, elems)):
            raise OSError(f"chunk {index} announces {total} bytes in blocks of {block_bytes}, "
                          f"a frame is {n_values * itemsize} bytes of {itemsize}-byte values")
        block_elems = elems
    offsets, bad = block_offsets(payload, starts, sizes, n_values=n_values, itemsize=itemsize,
                                 block_elems=block_elems)
    if bad >= 0:
        raise OSError(f"chunk {indices[bad]} is truncated or corrupt: its LZ4 blocks do not "
                      f"fill its {sizes[bad]} bytes")
    return CompressedFrames(payload, offsets, block_elems, BLOCK_DECODER)
