"""The bitshuffle library's C functions for the decoding kernels and the frame reader.

``import bitshuffle`` loads its extension module; its exported C symbols are looked up here
once: ``bshuf_decompress_lz4`` (a whole frame, OpenMP threads over its blocks), and, for the
kernels of :mod:`saxs_kernels.bitshuffle` that decode block by block, the addresses of
``LZ4_decompress_safe`` and ``bshuf_untrans_bit_elem`` (passed to the compiled kernels at run
time, so that they can be cached). Any of them may be missing from a build: then the value here
is None and the callers fall back (bitshuffle's Python function, or h5py's filter pipeline).
"""

from __future__ import annotations

import ctypes
import logging

log = logging.getLogger(__name__)

try:  # optional: without it, h5py's filter pipeline reads the frames
    import bitshuffle as bitshuffle_module
except ImportError:  # pragma: no cover - depends on the installation
    bitshuffle_module = None


def _library() -> ctypes.CDLL | None:
    """The bitshuffle extension module as a C library (already loaded by ``import
    bitshuffle``), or None."""
    if bitshuffle_module is None:  # pragma: no cover - depends on the installation
        return None
    try:
        from bitshuffle import ext  # noqa: PLC0415

        return ctypes.CDLL(ext.__file__)
    except (ImportError, OSError):  # pragma: no cover - depends on the build
        return None


def _c_decompress(library: ctypes.CDLL | None):
    """``bshuf_decompress_lz4(in, out, size, elem_size, block_size) -> bytes read`` or None."""
    function = getattr(library, "bshuf_decompress_lz4", None)
    if function is None:  # pragma: no cover - depends on the build
        log.info("bitshuffle's C entry point not found; frames are decompressed by its Python "
                 "function and copied")
        return None
    function.restype = ctypes.c_int64
    function.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t,
                         ctypes.c_size_t]
    return function


def _block_decoder(library: ctypes.CDLL | None) -> tuple[int, int] | None:
    """Addresses of ``LZ4_decompress_safe`` and ``bshuf_untrans_bit_elem``, or None."""
    names = ("LZ4_decompress_safe", "bshuf_untrans_bit_elem", "bshuf_default_block_size")
    functions = [getattr(library, name, None) for name in names]
    if any(f is None for f in functions):  # pragma: no cover - depends on the build
        log.info("bitshuffle's block functions not found; frames are decompressed whole")
        return None
    lz4, untranspose, default_block = functions
    default_block.restype = ctypes.c_size_t
    default_block.argtypes = [ctypes.c_size_t]
    DEFAULT_BLOCK.update({size: int(default_block(size)) for size in (1, 2, 4, 8)})
    return tuple(int(ctypes.cast(f, ctypes.c_void_p).value) for f in (lz4, untranspose))


#: The library's block size (values) per value size, used when a chunk announces 0.
DEFAULT_BLOCK: dict[int, int] = {}


_LIBRARY = _library()

#: ``bshuf_decompress_lz4(in, out, size, elem_size, block_size) -> bytes read`` (a ctypes
#: function) or None.
DECOMPRESS = _c_decompress(_LIBRARY)

#: ``(LZ4_decompress_safe, bshuf_untrans_bit_elem)`` addresses for the decoding kernels, or
#: None when the bitshuffle library does not export them.
BLOCK_DECODER = _block_decoder(_LIBRARY)
