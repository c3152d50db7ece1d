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


@intrinsic
def _call_lz4(typingctx, address, src, dst, src_bytes, dst_bytes):  # noqa: ARG001
    """``int LZ4_decompress_safe(const char*, char*, int, int)`` at ``address``."""
    sig = types.int32(types.intp, types.intp, types.intp, types.int32, types.int32)

    def codegen(context, builder, signature, args):  # noqa: ARG001
        byte_ptr = ir.IntType(8).as_pointer()
        fnty = ir.FunctionType(ir.IntType(32), [byte_ptr, byte_ptr, ir.IntType(32),
                                                ir.IntType(32)])
        function = builder.inttoptr(args[0], fnty.as_pointer())
        return builder.call(function, [builder.inttoptr(args[1], byte_ptr),
                                       builder.inttoptr(args[2], byte_ptr), args[3], args[4]])

    return sig, codegen


@intrinsic
def _call_untranspose(typingctx, address, src, dst, size, elem_size):  # noqa: ARG001
    """``int64_t bshuf_untrans_bit_elem(const void*, void*, size_t, size_t)`` at ``address``."""
    sig = types.int64(types.intp, types.intp, types.intp, types.intp, types.intp)

    def codegen(context, builder, signature, args):  # noqa: ARG001
        byte_ptr = ir.IntType(8).as_pointer()
        fnty = ir.FunctionType(ir.IntType(64), [byte_ptr, byte_ptr, ir.IntType(64),
                                                ir.IntType(64)])
        function = builder.inttoptr(args[0], fnty.as_pointer())
        return builder.call(function, [builder.inttoptr(args[1], byte_ptr),
                                       builder.inttoptr(args[2], byte_ptr), args[3], args[4]])

    return sig, codegen


@njit(cache=True, nogil=True)
def _uint32_be(payload, pos):
    return ((np.int64(payload[pos]) << 24) | (np.int64(payload[pos + 1]) << 16)
            | (np.int64(payload[pos + 2]) << 8) | np.int64(payload[pos + 3]))


@njit(cache=True, nogil=True)
def block_table(payload, starts, sizes, n_values, itemsize, block_elems, offsets):
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


@njit(cache=True, nogil=True)
def decode_blocks(lz4, untranspose, payload, offsets, b0, b1, n_values, block_elems, itemsize,
                  scratch, out):
    """Decode blocks ``b0..b1-1`` of one frame (``offsets`` from :func:`block_table`) into
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
            out8[first:first + tail] = payload[pos:pos + tail]
    return True
