"""Time-resolved reduction: every frame of a stack to its own I(q), frames in batches.

pyFAI's sparse integration matrix of the geometry (:func:`saxs.azimuthal.sparse_matrix`: its
CSR engine, no pixel splitting by default, bounding-box or full splitting as options) is built
once and applied by a numba kernel (:mod:`saxs_kernels.csr`) to batches of frames, fused with
the decompression of bitshuffle-LZ4 frames, the dark, and the dummy test: no Python loop per
frame, no float copy of a frame. Per frame f and q bin b (pyFAI ``integrate1d``, "poisson"
error model, ID02.md §3.1 and §5)::

    I[f, b]     = sum_i c_bi (raw_fi - dark_i) / (F_f * N_fb)
    sigma[f, b] = sqrt(sum_i c_bi^2 max(raw_fi, 1)) / (F_f * N_fb)
    N_fb = sum_i c_bi flat_i P_i Omega_i      (shared by all frames, less the pixels that are
                                               dummy in frame f)
    F_f  = monitor_f * p1 p2 / (d^2 NF)       (pyFAI's normalization_factor)

the sums over the pixels of the matrix (the static mask is out of it). These equal pyFAI's
per-frame ``integrate1d`` with the same method and corrections to ~1e-7 (pyFAI works in
float32, the kernel in float64). Groups of ``bin_frames`` frames are added before the division
(their pixel-wise sum, the monitors summed). Several sectors (azimuth ranges) are integrated
in the same pass, each with its own matrix and q grid.

Outlier flags are reported per frame and never applied: zinger pixels (a pixel well above both
neighbouring frames, counted by the kernel) and frame totals off their running median
(bubbles, beam drops). This module opens no file: frames come as a
:class:`~saxs.frames.FrameStack`, calibration images as arrays.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from saxs.azimuthal import SparseMatrix, pixel_normalization, sparse_matrix
from saxs.errors import InputError
from saxs.frames import FrameStack
from saxs.geometry import Geometry
from saxs.stack import StackWorkspace, compressed_chunks, decodes_in_kernel, streamed_chunks

log = logging.getLogger(__name__)

#: Frames per pass of the kernel: bitshuffle-LZ4 frames read as stored (~2 MB each for an
#: Eiger2 4M) and frames read decoded (two buffers of this many frames: ~290 MB for 4M
#: uint32 frames).
PASS_COMPRESSED = 48
PASS_DECODED = 8

#: Half-width (frames) of the running median of the frame totals.
TOTAL_WINDOW = 3


@dataclass(frozen=True, eq=False)
class PreparedMatrix:
    """The matrices of one geometry, mask, q grid and set of sectors, pixel-major, with the
    shared normalisation (one polarisation factor)."""

    matrices: tuple[SparseMatrix, ...]
    offsets: tuple[int, ...]
    ptr: np.ndarray
    rows: np.ndarray
    coefs: np.ndarray
    norm: np.ndarray
    norm_sum: np.ndarray
    count: np.ndarray

    @property
    def n_bins(self) -> int:
        """Bins of all sectors together."""
        return int(self.norm_sum.size)


def prepare(geometry: Geometry, valid: np.ndarray, flat: np.ndarray, npt: int, *, split: str,
            sectors: tuple, polarization_factor: float | None) -> PreparedMatrix:
    """Build the sparse matrices (one per sector, None = the whole ring) and the shared sums."""
    from saxs_kernels.csr import pixel_major, shared_sums  # noqa: PLC0415

    mask = ~valid
    matrices = tuple(sparse_matrix(geometry, npt, mask, split=split, azimuth_range_deg=s)
                     for s in sectors)
    offsets = tuple(int(v) for v in np.cumsum([0, *[m.n_bins for m in matrices]]))
    indptr = np.concatenate([matrices[0].indptr[:1]] + [
        m.indptr[1:] + start for m, start in zip(
            matrices, np.cumsum([0, *[m.indptr[-1] for m in matrices[:-1]]]), strict=True)])
    indices = np.concatenate([m.indices for m in matrices])
    data = np.concatenate([m.data for m in matrices])
    npix = int(np.prod(geometry.shape))
    ptr, rows, coefs = pixel_major(indptr.astype(np.int64), indices.astype(np.int64),
                                   data.astype(np.float64), npix)
    norm = np.ascontiguousarray(
        (np.where(valid, flat, 1.0) * pixel_normalization(
            geometry, polarization_factor=polarization_factor)).reshape(-1), dtype=np.float64)
    norm_sum, count = shared_sums(ptr, rows, coefs, norm, offsets[-1])
    return PreparedMatrix(matrices, offsets, ptr, rows, coefs, norm, norm_sum, count)


@dataclass(eq=False)
class FrameSums:
    """Per frame and bin: summed signal, variance, and the normalisation and pixel count lost
    to dummy pixels; per frame: dummy, non-finite and zinger pixels."""

    signal: np.ndarray
    variance: np.ndarray
    lost_norm: np.ndarray
    lost_count: np.ndarray
    dummies: np.ndarray
    nonfinite: np.ndarray
    zingers: np.ndarray


class _Pass:
    """The kernel's work arrays for passes of up to ``m`` frames, and the carried frames."""

    def __init__(self, m: int, n_bins: int, npix: int, dtype: np.dtype) -> None:
        from saxs_kernels.csr import pass_work  # noqa: PLC0415

        self.work = pass_work(m, n_bins)
        self.carry = np.zeros((2, npix), dtype=dtype)
        self.n_carried = 0
        self.carried_monitors = np.ones(2)


def integrate_stack(frames: FrameStack, prepared: PreparedMatrix, dark: np.ndarray,
                    monitors: np.ndarray, *, zinger_threshold: float | None,
                    workspace: StackWorkspace | None = None) -> FrameSums:
    """Stream ``frames`` once through the kernel: the per-frame sums of every bin."""
    from saxs_kernels.csr import PixelCorrections, last_frame_zingers  # noqa: PLC0415

    n, nb = len(frames), prepared.n_bins
    npix = int(np.prod(frames.frame_shape))
    compressed = decodes_in_kernel(frames)
    m = min(PASS_COMPRESSED if compressed else PASS_DECODED, max(n, 1))
    if workspace is None or not workspace.fits(frames, m):
        workspace = StackWorkspace(frames.frame_shape, frames.dtype, m)
    sums = FrameSums(*(np.zeros((n, nb)) for _ in range(4)),
                     *(np.zeros(n, dtype=np.int64) for _ in range(3)))
    work = _Pass(m, nb, npix, frames.dtype)
    dark_flat = np.ascontiguousarray(dark, dtype=np.float64).reshape(-1)
    use_dummy = frames.dummy is not None
    pixels = PixelCorrections(prepared.ptr, prepared.rows, prepared.coefs, dark_flat,
                              prepared.norm, use_dummy,
                              float(frames.dummy) if use_dummy else 0.0,
                              float(frames.delta_dummy), float(zinger_threshold or 0.0))
    chunks = compressed_chunks(frames, m, workspace) if compressed else streamed_chunks(
        frames, m, workspace)
    for positions, chunk in chunks:
        _one_pass(frames, positions, chunk if compressed else chunk.reshape(len(positions), -1),
                  monitors=monitors, pixels=pixels, work=work, sums=sums)
    if zinger_threshold and n >= 2:
        sums.zingers[n - 1] += last_frame_zingers(work.carry, (monitors[n - 2], monitors[n - 1]),
                                                  pixels)
    bad = np.flatnonzero(sums.nonfinite)
    if bad.size:
        raise InputError(f"{frames.describe()}: frame {bad[0]} holds NaN or infinite values "
                         f"({sums.nonfinite[bad[0]]} pixel(s) outside the mask); set invalid "
                         "pixels to the header's Dummy value or mask them")
    return sums


def _one_pass(frames: FrameStack, positions: np.ndarray, chunk, *, monitors: np.ndarray,
              pixels, work: _Pass, sums: FrameSums) -> None:
    from saxs_kernels.csr import integrate_pass  # noqa: PLC0415

    m = len(positions)
    mon = np.concatenate([work.carried_monitors, monitors[positions]])
    part = integrate_pass(chunk, work.carry, work.n_carried, mon, pixels, work.work)
    if part.failed.any():
        raise InputError(f"{frames.describe()}: frame {positions[part.failed][0]} does not "
                         "decompress (a corrupt bitshuffle-LZ4 block); the file is damaged")
    for array, values in zip((sums.signal, sums.variance, sums.lost_norm, sums.lost_count),
                             part[:4], strict=True):
        array[positions] = values
    sums.dummies[positions] = part.counts[0, 2:]
    sums.nonfinite[positions] = part.counts[1, 2:]
    # buffer column t holds frame positions[0] - 2 + t; columns 1..m are tested
    tested = positions[0] - 2 + np.arange(1, m + 1)
    keep = tested >= 0
    sums.zingers[tested[keep]] += part.counts[2, 1:m + 1][keep]
    work.carried_monitors = mon[-2:].copy()
    work.n_carried = min(2, work.n_carried + m)


def frame_outliers(totals: np.ndarray, poisson: np.ndarray, threshold: float | None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Frame totals against the running median of their neighbours (half-width
    :data:`TOTAL_WINDOW`): the ratio total / median, and a flag where the difference exceeds
    ``threshold`` robust standard deviations (1.4826 MAD of the differences over the stack,
    floored by the total's Poisson error). Needs 3 frames; returns no flag otherwise."""
    n = totals.size
    ratio = np.ones(n)
    flags = np.zeros(n, dtype=bool)
    if n < 3:
        return ratio, flags
    median = np.array([np.median(totals[max(0, k - TOTAL_WINDOW):k + TOTAL_WINDOW + 1])
                       for k in range(n)])
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(median != 0, totals / median, np.nan)
    residual = totals - median
    spread = 1.4826 * np.median(np.abs(residual - np.median(residual)))
    if threshold:
        flags = np.abs(residual) > threshold * np.maximum(spread, poisson)
    return ratio, flags


def grouped(values: np.ndarray, bin_frames: int) -> np.ndarray:
    """Sums over consecutive groups of ``bin_frames`` rows (the last group may be shorter)."""
    starts = np.arange(0, values.shape[0], bin_frames)
    return np.add.reduceat(values, starts, axis=0)
