"""Decoding bitshuffle-LZ4 frames block by block inside numba kernels.

A frame stored by the HDF5 bitshuffle filter (filter 32008, LZ4) is one chunk: an 8-byte
big-endian decompressed size, a 4-byte big-endian block size in bytes, then the blocks. Each
block of ``block_elems`` values (a multiple of 8) is a 4-byte big-endian compressed size
followed by that many bytes of LZ4, which decompress to the block's bit planes; the bit
transpose is undone by ``bshuf_untrans_bit_elem``. The last block holds the remaining values
rounded down to a multiple of 8; the last ``size % 8`` values follow uncompressed (layout of
bitshuffle's ``bshuf_blocked_wrap_fun`` and ``bshuf_decompress_lz4_block``).

The two C functions come from the bitshuffle library (``LZ4_decompress_safe`` and
``bshuf_untrans_bit_elem``, neither uses threads); their addresses are passed at run time, so
the compiled kernels can be cached. Decoding one block at a time lets a kernel use a frame while
it is still in the core's cache, instead of writing the whole frame to memory and reading it
back.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

#: Offset of the first block in a chunk (8-byte size, 4-byte block size).
HEADER_BYTES = 12


def _c_call(result_bits: int, size_bits: int):
    """An intrinsic calling ``int<result_bits> f(void*, void*, int<size_bits>,
    int<size_bits>)`` at an address: ``call(address, src, dst, a, b)``."""
    result_type = getattr(types, f"int{result_bits}")
    size_type = getattr(types, f"int{size_bits}")

    @intrinsic
    def call(typingctx, address, src, dst, a, b):  # noqa: ARG001
        sig = result_type(types.intp, types.intp, types.intp, size_type, size_type)

        def codegen(context, builder, signature, args):  # noqa: ARG001
            byte_ptr = ir.IntType(8).as_pointer()
            size = ir.IntType(size_bits)
            fnty = ir.FunctionType(ir.IntType(result_bits), [byte_ptr, byte_ptr, size, size])
            function = builder.inttoptr(args[0], fnty.as_pointer())
            return builder.call(function, [builder.inttoptr(args[1], byte_ptr),
                                           builder.inttoptr(args[2], byte_ptr), args[3],
                                           args[4]])

        return sig, codegen

    return call


#: ``int LZ4_decompress_safe(const char* src, char* dst, int src_bytes, int dst_capacity)``.
_call_lz4 = _c_call(32, 32)
#: ``int64_t bshuf_untrans_bit_elem(const void* in, void* out, size_t size, size_t elem_size)``.
_call_untranspose = _c_call(64, 64)


@njit(cache=True, nogil=True)
def tile_blocks(block_elems, target):
    """Tiles of whole blocks for the decoding kernels: (blocks per tile, values per tile), the
    tile being about ``target`` values (at least one block)."""
    per_tile = max(1, target // block_elems)
    return per_tile, per_tile * block_elems


@njit(cache=True, nogil=True)
def _uint32_be(payload, pos):
    return ((np.int64(payload[pos]) << 24) | (np.int64(payload[pos + 1]) << 16)
            | (np.int64(payload[pos + 2]) << 8) | np.int64(payload[pos + 3]))


@njit(cache=True, nogil=True)
def _block_table(payload, starts, sizes, n_values, itemsize, block_elems, offsets):
    """Fill ``offsets[j, b]`` with the position in ``payload`` of block b of frame j.

    Frame j's chunk is ``payload[starts[j]:starts[j] + sizes[j]]``. Every block must lie
    inside its chunk and the blocks (with the uncompressed tail) must end exactly at the
    chunk's end. Returns the first frame that does not, or -1.
    """
    n_blocks = offsets.shape[1]
    for j in range(starts.size):
        pos = starts[j] + HEADER_BYTES
        end = starts[j] + sizes[j]
        for b in range(n_blocks):
            values = min(block_elems, n_values - b * block_elems)
            coded = values - values % 8
            offsets[j, b] = pos
            if coded > 0:
                if pos + 4 > end:
                    return j
                pos += 4 + _uint32_be(payload, pos)
            pos += (values - coded) * itemsize
            if pos > end:
                return j
        if pos != end:
            return j
    return -1


def block_offsets(payload: np.ndarray, starts: np.ndarray, sizes: np.ndarray, *,
                  n_values: int, itemsize: int, block_elems: int) -> tuple[np.ndarray, int]:
    """Where each LZ4 block of each stored frame starts in ``payload`` (frame j's chunk at
    ``starts[j]``, ``sizes[j]`` bytes, a frame of ``n_values`` values of ``itemsize`` bytes in
    blocks of ``block_elems``): ``(offsets (frames, blocks), the first frame whose blocks do
    not fill its chunk exactly or -1)`` (see :func:`_block_table`)."""
    offsets = np.empty((starts.size, -(-n_values // block_elems)), dtype=np.int64)
    bad = _block_table(payload, np.asarray(starts, dtype=np.int64),
                       np.asarray(sizes, dtype=np.int64), int(n_values), int(itemsize),
                       int(block_elems), offsets)
    return offsets, int(bad)


@njit(cache=True, nogil=True)
def decode_blocks(lz4, untranspose, payload, offsets, b0, b1, n_values, block_elems, itemsize,
                  scratch, out):
    """Decode blocks ``b0..b1-1`` of one frame (``offsets`` from :func:`block_offsets`) into
    ``out`` (values ``b0 * block_elems`` onwards, C-contiguous); ``scratch`` holds at least
    ``block_elems * itemsize`` bytes. False if a block does not decompress to its size."""
    base = payload.ctypes.data
    target = out.ctypes.data
    for b in range(b0, b1):
        values = min(block_elems, n_values - b * block_elems)
        coded = values - values % 8
        pos = offsets[b]
        dst = target + (b - b0) * block_elems * itemsize
        if coded > 0:
            nbytes = _uint32_be(payload, pos)
            got = _call_lz4(lz4, base + pos + 4, scratch.ctypes.data, np.int32(nbytes),
                            np.int32(coded * itemsize))
            if got != coded * itemsize:
                return False
            if _call_untranspose(untranspose, scratch.ctypes.data, dst, coded, itemsize) < 0:
                return False
            pos += 4 + nbytes
        tail = (values - coded) * itemsize
        if tail:
            out8 = out.view(np.uint8)
            first = (b - b0) * block_elems * itemsize + coded * itemsize
            for k in range(tail):  # a loop: an array slice assignment compiles for seconds
                out8[first + k] = payload[pos + k]
    return True
