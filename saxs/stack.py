"""Averaging a stack of frames of one liquid, with outlier rejection at two levels.

One streamed pass over the frames (:func:`saxs_kernels.stack.add_frames`) collects
per-pixel sums and per-frame totals; memory does not grow with the number of frames. Integer
bitshuffle-LZ4 stacks (the LIMA HDF5 default) are read as stored and decoded block by block
inside the kernel (:func:`saxs_kernels.stack.add_stored`): the decoded frames never
go through memory, and the sums are the same bit for bit.

* Whole frames (a bubble, a beam drop): the flux-normalised total of each frame,
  r_k = sum_i (raw - dark) / I1_k, and the transmission I1_k / I0_k are compared with the
  stack's median. A frame is dropped if either is further from the median than
  ``frame_threshold`` robust standard deviations (1.4826 MAD), with floors: the Poisson
  uncertainty of r_k and ``transmission_floor`` relative for I1/I0, so that a perfectly steady
  stack drops nothing. Dropped frames are re-read and removed from the sums.
* Pixels (zingers): in each pixel the largest normalised value is dropped if its counts exceed
  the mean of the other frames by ``zinger_threshold`` Poisson standard deviations.

Frame rejection needs at least 3 frames (a median of two tells nothing); zinger rejection at
least 2 valid values in the pixel.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from saxs.errors import InputError
from saxs.frames import FrameStack

if TYPE_CHECKING:
    from saxs.frames import CompressedFrames

log = logging.getLogger(__name__)

#: Decode bitshuffle-LZ4 frames inside the kernels when the source can give them as stored
#: (False: read them decoded, e.g. to compare the two paths).
DECODE_IN_KERNEL = True


@dataclass(frozen=True)
class FrameDecision:
    """Why a frame was dropped."""

    frame: int
    reason: str
    value: float
    median: float


@dataclass(frozen=True, eq=False)
class StackSums:
    """Per-pixel sums of the accepted frames (flattened pixels) and the frame record, made
    once by :func:`accumulate_stack` (the arrays live in its workspace)."""

    n: np.ndarray
    raw_sum: np.ndarray
    mon_sum: np.ndarray
    x_sum: np.ndarray
    x2_sum: np.ndarray
    monitors: np.ndarray
    frame_totals: np.ndarray
    dropped: tuple[FrameDecision, ...] = ()
    zingers: int = 0
    accepted: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    @property
    def monitor_total(self) -> float:
        """Sum of I1 over the accepted frames."""
        return float(self.monitors[self.accepted].sum())


def _robust_outliers(values: np.ndarray, floor: np.ndarray, threshold: float) -> np.ndarray:
    median = np.median(values)
    spread = 1.4826 * np.median(np.abs(values - median))
    scale = np.maximum(spread, floor)
    return np.abs(values - median) > threshold * scale


def _decide_frames(monitors: np.ndarray, frame_totals: np.ndarray, frame_n: np.ndarray,
                   i0: np.ndarray | None, *, threshold: float,
                   transmission_floor: float) -> list[FrameDecision]:
    """Frames to drop: normalised total or transmission off the stack median, or empty."""
    n = monitors.size
    if n < 3:
        return []
    rate = frame_totals / monitors
    poisson = np.sqrt(np.maximum(np.abs(frame_totals), 1.0)) / monitors
    decisions = []
    med = float(np.median(rate))
    for k in np.flatnonzero(_robust_outliers(rate, poisson, threshold)):
        decisions.append(FrameDecision(int(k), "normalised intensity off the stack median",
                                       float(rate[k]), med))
    if i0 is not None:
        trans = monitors / i0
        med_t = float(np.median(trans))
        for k in np.flatnonzero(_robust_outliers(trans, transmission_floor * abs(med_t),
                                                 threshold)):
            if all(d.frame != k for d in decisions):
                decisions.append(FrameDecision(int(k), "transmission I1/I0 off the stack median",
                                               float(trans[k]), med_t))
    empty = np.flatnonzero(frame_n == 0)
    for k in empty:
        if all(d.frame != k for d in decisions):
            decisions.append(FrameDecision(int(k), "no valid pixel", 0.0, 0.0))
    return sorted(decisions, key=lambda d: d.frame)


class StackWorkspace:
    """Reusable memory for streaming stacks of one frame shape and type: the running sums, the
    read buffers of ``chunk_size`` frames (decoded, or as stored for stacks decoded in the
    kernel) and the integration inputs.

    Its pages are touched once, when it is made or first grown: a :class:`saxs.Reducer` keeps
    one and reuses it for every stack, so streaming a stack does not page-fault fresh memory
    each time (an Eiger2 4M: 215 MB of sums, 72 MB of integration inputs, and 286 MB per
    buffer of 16 decoded frames or ~40 MB per buffer of 16 bitshuffle-LZ4 frames; ~1-2 ms of
    page faults per MB on the development machine). The sums that :func:`accumulate_stack`
    returns live in the workspace until its next use.
    """

    def __init__(self, frame_shape: tuple[int, int], dtype: np.dtype, chunk_size: int) -> None:
        self.frame_shape = tuple(frame_shape)
        self.dtype = np.dtype(dtype)
        self.chunk_size = int(chunk_size)
        self._state = None
        self._buffers: list[np.ndarray] = []
        self._payloads: list[np.ndarray] = []
        self._pixel_arrays: tuple[np.ndarray, ...] | None = None

    @property
    def state(self):
        """The per-pixel running sums, a :class:`saxs_kernels.stack.StackState` (made on first
        use: the per-frame path needs none)."""
        if self._state is None:
            from saxs_kernels.stack import pixel_state  # noqa: PLC0415

            self._state = pixel_state(int(np.prod(self.frame_shape)))
        return self._state

    def fits(self, frames: FrameStack, chunk_size: int) -> bool:
        """True if this workspace can stream ``frames`` in chunks of ``chunk_size``."""
        return (frames.frame_shape == self.frame_shape and frames.dtype == self.dtype
                and min(int(chunk_size), len(frames)) <= self.chunk_size)

    def buffer(self, k: int, n_frames: int) -> np.ndarray:
        """Read buffer ``k`` for at least ``n_frames`` frames (made, or grown, when first asked
        for that many; pages touched once)."""
        return _grown(self._buffers, k, (n_frames, *self.frame_shape), self.dtype)

    def payload(self, k: int, nbytes: int) -> np.ndarray:
        """Buffer ``k`` for compressed frames, of at least ``nbytes`` (grown by a quarter more
        than asked when too small; pages touched once). :func:`compressed_chunks` sizes both
        buffers for ``chunk_size`` frames from the first chunk of a stack, so that a stack
        read after a shorter one (a warm-up, a test exposure) rarely grows them."""
        if k < len(self._payloads) and self._payloads[k].size >= nbytes:
            return self._payloads[k]
        return _grown(self._payloads, k, (nbytes + nbytes // 4,), np.uint8)

    def pixel_arrays(self) -> tuple[np.ndarray, ...]:
        """Four float32 arrays of the frame shape (pages touched once), for the integration
        inputs made from the sums."""
        if self._pixel_arrays is None:
            self._pixel_arrays = pixel_arrays(self.frame_shape)
            for array in self._pixel_arrays:
                array.fill(0)
        return self._pixel_arrays

    def reset(self):
        """The running sums (:class:`saxs_kernels.stack.StackState`), set to their starting
        values."""
        from saxs_kernels.stack import reset_state  # noqa: PLC0415

        return reset_state(self.state)


def _grown(buffers: list[np.ndarray], k: int, shape: tuple[int, ...], dtype) -> np.ndarray:
    """``buffers[k]``, replaced by an array of ``shape`` (pages touched) if it holds fewer
    items along the first axis; the old one is freed before the new one is made."""
    empty = np.zeros((0, *shape[1:]), dtype=dtype)
    while len(buffers) <= k:
        buffers.append(empty)
    if len(buffers[k]) < shape[0]:
        buffers[k] = empty
        buffer = np.empty(shape, dtype=dtype)
        buffer.fill(0)
        buffers[k] = buffer
    return buffers[k]


def pixel_arrays(shape: tuple[int, int]) -> tuple[np.ndarray, ...]:
    """Arrays for :func:`saxs_kernels.stack.integration_inputs`: summed counts, summed dark,
    effective flat and frame-to-frame variance (float32, the type pyFAI's engines work in)."""
    return tuple(np.empty(shape, dtype=np.float32) for _ in range(4))


def streamed_chunks(frames: FrameStack, chunk_size: int, workspace: StackWorkspace
                    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(positions, frames)`` chunks read into the workspace's buffers.

    A source that decompresses on several threads by itself (``frames.reads_in_parallel``) is
    read in turn with the caller's work, into one buffer; any other source is read one chunk
    ahead in a thread while the caller works, into two buffers used in turn. A yielded array is
    valid until the caller asks for the chunk after the next one.
    """
    chunks = frames.chunk_positions(chunk_size)
    if not chunks:
        return
    if frames.reads_in_parallel:
        for positions in chunks:
            yield positions, frames.read_into(positions, workspace.buffer(0, len(positions)))
        return
    turn = [0]

    def read(positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        buffer = workspace.buffer(turn[0] % 2, len(positions))
        turn[0] += 1
        return positions, frames.read_into(positions, buffer)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="saxs-read") as pool:
        pending = pool.submit(read, chunks[0])
        for nxt in [*chunks[1:], None]:
            chunk = pending.result()
            if nxt is not None:
                pending = pool.submit(read, nxt)
            yield chunk


def compressed_chunks(frames: FrameStack, chunk_size: int, workspace: StackWorkspace
                      ) -> Iterator[tuple[np.ndarray, CompressedFrames]]:
    """``(positions, frames as stored)`` chunks, read one chunk ahead in a thread into the
    workspace's two payload buffers used in turn (valid until the chunk after the next)."""
    chunks = frames.chunk_positions(chunk_size)
    if chunks:  # room for chunks of the workspace's size, like the first one
        largest = int(frames.stored_nbytes(chunks[0]).max())
        for k in range(2):
            workspace.payload(k, workspace.chunk_size * largest)
    turn = [0]

    def read(positions: np.ndarray) -> tuple[np.ndarray, CompressedFrames]:
        k = turn[0] % 2
        turn[0] += 1
        return positions, frames.read_compressed(positions,
                                                 lambda nbytes: workspace.payload(k, nbytes))

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="saxs-read") as pool:
        pending = pool.submit(read, chunks[0]) if chunks else None
        for nxt in chunks[1:]:
            chunk = pending.result()
            pending = pool.submit(read, nxt)
            yield chunk
        if pending is not None:
            yield pending.result()


def decodes_in_kernel(frames: FrameStack) -> bool:
    """True if ``frames`` are read as stored and decoded inside the kernels."""
    return DECODE_IN_KERNEL and frames.reads_compressed


def check_finite(frames: FrameStack, positions: np.ndarray, data: np.ndarray,
                 valid: np.ndarray) -> None:
    """InputError naming the first frame of ``data`` with NaN or infinite valid pixels."""
    if data.dtype.kind != "f":
        return
    bad = ~np.isfinite(data) & valid[None]
    if bad.any():
        k = int(positions[np.flatnonzero(bad.any(axis=(1, 2)))[0]])
        raise InputError(f"{frames.describe()}: frame {k} holds NaN or infinite values "
                         f"({int(bad.sum())} pixel(s) in this chunk outside the mask); set "
                         "invalid pixels to the header's Dummy value or mask them")


class _Accumulator:
    """One stack's running sums (in the workspace) and frame totals, and the kernels that
    update them (:mod:`saxs_kernels.stack`)."""

    def __init__(self, frames: FrameStack, dark: np.ndarray, valid: np.ndarray,
                 monitors: np.ndarray, workspace: StackWorkspace) -> None:
        from saxs_kernels.stack import FrameTotals, PixelSettings  # noqa: PLC0415

        self.frames = frames
        use_dummy = frames.dummy is not None
        self.pixels = PixelSettings(
            np.ascontiguousarray(dark, dtype=np.float64).reshape(-1),
            np.ascontiguousarray(valid, dtype=bool).reshape(-1), use_dummy,
            float(frames.dummy) if use_dummy else 0.0, float(frames.delta_dummy))
        self.monitors = np.asarray(monitors, dtype=np.float64)
        self.workspace = workspace
        self.state = workspace.state
        self.totals = FrameTotals.zeros(len(frames))

    def add(self, positions: np.ndarray, data: np.ndarray, sign: int = 1) -> None:
        """Add (sign 1) or take out (sign -1) decoded frames ``positions``."""
        from saxs_kernels.stack import add_frames  # noqa: PLC0415

        add_frames(data.reshape(len(positions), -1), positions, self.monitors[positions],
                   self.pixels, self.state, self.totals, sign=sign)

    def stream(self, chunk_size: int) -> None:
        """Every frame once: decoded in the kernel (bitshuffle-LZ4), else read in chunks."""
        from saxs_kernels.stack import add_stored  # noqa: PLC0415

        frames, workspace = self.frames, self.workspace
        if not (decodes_in_kernel(frames) and len(frames)):
            workspace.reset()
            for positions, data in streamed_chunks(frames, chunk_size, workspace):
                check_finite(frames, positions, data,
                             self.pixels.valid.reshape(frames.frame_shape))
                self.add(positions, data)
            return
        like = np.empty(0, dtype=frames.dtype)
        for k, (positions, stored) in enumerate(compressed_chunks(frames, chunk_size,
                                                                  workspace)):
            failed = add_stored(stored, like, positions, self.monitors[positions], self.pixels,
                                self.state, self.totals, reset=k == 0)
            if failed.any():
                raise InputError(f"{frames.describe()}: frame {positions[failed][0]} does not "
                                 "decompress (a corrupt bitshuffle-LZ4 block); the file is "
                                 "damaged")

    def drop(self, decisions: list[FrameDecision]) -> np.ndarray:
        """Take the decided frames out of the sums; the accepted frames."""
        frames = self.frames
        if decisions and len(decisions) == len(frames):
            raise InputError(f"{frames.describe()}: every frame was rejected "
                             f"({decisions[0].reason}); the stack has no valid frame")
        accepted = np.ones(len(frames), dtype=bool)
        for d in decisions:
            log.info("%s: frame %d dropped: %s (%.6g vs median %.6g)", frames.describe(),
                     d.frame, d.reason, d.value, d.median)
            accepted[d.frame] = False
            if self.totals.pixels[d.frame]:
                self.add(np.array([d.frame]), frames[[d.frame]], -1)
        return accepted

    def reject_zingers(self, threshold: float, accepted: np.ndarray) -> int:
        """Take each pixel's largest value out where it is a zinger; how many pixels."""
        from saxs_kernels.stack import reject_zingers  # noqa: PLC0415

        return int(reject_zingers(threshold, self.monitors, self.pixels.dark, ~accepted,
                                  self.state).sum())


def accumulate_stack(frames: FrameStack, dark: np.ndarray, valid: np.ndarray, *,
                     monitors: np.ndarray, chunk_size: int = 16, reject_frames: bool = True,
                     frame_threshold: float = 5.0, transmission_floor: float = 0.005,
                     zinger_threshold: float | None = 8.0,
                     workspace: StackWorkspace | None = None) -> StackSums:
    """Stream ``frames`` once and return the sums of the accepted frames and pixels: the
    stream, the frames dropped (off the stack's median), the zingers taken out.

    Parameters
    ----------
    frames : FrameStack
    dark, valid : arrays of the frame shape
        Dark counts per frame and static validity (True = usable pixel).
    monitors : (N,) array
        I1 per frame, > 0.
    workspace : StackWorkspace, optional
        Memory to stream in (made for this call if None or if it does not fit); the returned
        sums live in it.
    """
    if workspace is None or not workspace.fits(frames, chunk_size):
        workspace = StackWorkspace(frames.frame_shape, frames.dtype,
                                   min(chunk_size, len(frames)))
    acc = _Accumulator(frames, dark, valid, monitors, workspace)
    acc.stream(min(chunk_size, workspace.chunk_size))
    decisions = _decide_frames(acc.monitors, acc.totals.total, acc.totals.pixels,
                               frames.monitor_i0,
                               threshold=frame_threshold,
                               transmission_floor=transmission_floor) if reject_frames else []
    accepted = acc.drop(decisions)
    zingers = acc.reject_zingers(zinger_threshold, accepted) \
        if zinger_threshold is not None else 0
    state = acc.state
    if not np.any(state.n > 0):
        raise InputError(f"{frames.describe()}: no valid pixel in any accepted frame; check the "
                         "mask, the Dummy value and the frames")
    return StackSums(n=state.n, raw_sum=state.raw_sum, mon_sum=state.mon_sum,
                     x_sum=state.x_sum, x2_sum=state.x2_sum,
                     monitors=acc.monitors, frame_totals=acc.totals.total,
                     dropped=tuple(decisions), zingers=zingers, accepted=accepted)
