"""Averaging a stack of frames of one liquid, with outlier rejection at two levels.

One streamed pass over the frames (:func:`saxs_kernels.stack.accumulate_frames`) collects
per-pixel sums and per-frame totals; memory does not grow with the number of frames.

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

import numpy as np

from saxs.errors import InputError
from saxs.frames import FrameStack

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FrameDecision:
    """Why a frame was dropped."""

    frame: int
    reason: str
    value: float
    median: float


@dataclass(eq=False)
class StackSums:
    """Per-pixel sums of the accepted frames (flattened pixels) and the frame record."""

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


def _decide_frames(sums: StackSums, frame_n: np.ndarray, i0: np.ndarray | None,
                   threshold: float, transmission_floor: float) -> list[FrameDecision]:
    n = sums.monitors.size
    if n < 3:
        return []
    rate = sums.frame_totals / sums.monitors
    poisson = np.sqrt(np.maximum(np.abs(sums.frame_totals), 1.0)) / sums.monitors
    decisions = []
    med = float(np.median(rate))
    for k in np.flatnonzero(_robust_outliers(rate, poisson, threshold)):
        decisions.append(FrameDecision(int(k), "normalised intensity off the stack median",
                                       float(rate[k]), med))
    if i0 is not None:
        trans = sums.monitors / i0
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


def prefetched_chunks(frames: FrameStack, chunk_size: int, *, reuse_buffers: bool = False
                      ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``frames.iter_chunks`` with the next chunk read in a thread while the caller works.

    At most two chunks are in memory at once. With ``reuse_buffers`` the chunks are read into
    two buffers used in turn (no allocation and page zeroing per chunk): a yielded array is
    then valid only until the caller asks for the chunk after the next one.
    """
    chunks = frames.chunk_positions(chunk_size)
    if not chunks:
        return
    buffers = [np.empty((len(chunks[0]), *frames.frame_shape), dtype=frames.dtype)
               for _ in range(2 if len(chunks) > 1 else 1)] if reuse_buffers else None
    turn = [0]

    def read(positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if buffers is None:
            return positions, frames[positions]
        buffer = buffers[turn[0] % len(buffers)]
        turn[0] += 1
        return positions, frames.read_into(positions, buffer)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="saxs-read") as pool:
        pending = pool.submit(read, chunks[0])
        for nxt in [*chunks[1:], None]:
            chunk = pending.result()
            if nxt is not None:
                pending = pool.submit(read, nxt)
            yield chunk


def _check_finite(frames: FrameStack, positions: np.ndarray, data: np.ndarray,
                  valid: np.ndarray) -> None:
    if data.dtype.kind != "f":
        return
    bad = ~np.isfinite(data) & valid[None]
    if bad.any():
        k = int(positions[np.flatnonzero(bad.any(axis=(1, 2)))[0]])
        raise InputError(f"{frames.describe()}: frame {k} holds NaN or infinite values "
                         f"({int(bad.sum())} pixel(s) in this chunk outside the mask); set "
                         "invalid pixels to the header's Dummy value or mask them")


def accumulate_stack(frames: FrameStack, dark: np.ndarray, valid: np.ndarray, *,
                     monitors: np.ndarray, chunk_size: int = 8, reject_frames: bool = True,
                     frame_threshold: float = 5.0, transmission_floor: float = 0.005,
                     zinger_threshold: float | None = 8.0) -> StackSums:
    """Stream ``frames`` once and return the sums of the accepted frames and pixels.

    Parameters
    ----------
    frames : FrameStack
    dark, valid : arrays of the frame shape
        Dark counts per frame and static validity (True = usable pixel).
    monitors : (N,) array
        I1 per frame, > 0.
    """
    from saxs_kernels.stack import accumulate_frames, reject_maxima  # noqa: PLC0415

    npix = valid.size
    n_frames = len(frames)
    dark_flat = np.ascontiguousarray(dark, dtype=np.float64).reshape(-1)
    valid_flat = np.ascontiguousarray(valid, dtype=bool).reshape(-1)
    use_dummy = frames.dummy is not None
    dummy = float(frames.dummy) if use_dummy else 0.0
    acc = {"n": np.zeros(npix, np.int64), "raw_sum": np.zeros(npix),
           "mon_sum": np.zeros(npix), "x_sum": np.zeros(npix), "x2_sum": np.zeros(npix),
           "x_max": np.zeros(npix), "k_max": np.full(npix, -1, np.int64)}
    frame_sum, frame_n = np.zeros(n_frames), np.zeros(n_frames, np.int64)
    monitors = np.asarray(monitors, dtype=np.float64)

    def run(positions: np.ndarray, data: np.ndarray, sign: int) -> None:
        accumulate_frames(np.ascontiguousarray(data.reshape(len(positions), -1)),
                          positions.astype(np.int64), monitors[positions], dark_flat, valid_flat,
                          use_dummy, dummy, frames.delta_dummy, sign, acc["n"], acc["raw_sum"],
                          acc["mon_sum"], acc["x_sum"], acc["x2_sum"], acc["x_max"],
                          acc["k_max"], frame_sum, frame_n)

    for positions, data in prefetched_chunks(frames, chunk_size, reuse_buffers=True):
        _check_finite(frames, positions, data, valid)
        run(positions, data, 1)
    sums = StackSums(n=acc["n"], raw_sum=acc["raw_sum"], mon_sum=acc["mon_sum"],
                     x_sum=acc["x_sum"], x2_sum=acc["x2_sum"], monitors=monitors,
                     frame_totals=frame_sum, accepted=np.ones(n_frames, dtype=bool))
    decisions = _decide_frames(sums, frame_n, frames.monitor_i0, frame_threshold,
                               transmission_floor) if reject_frames else []
    if decisions and len(decisions) == n_frames:
        raise InputError(f"{frames.describe()}: every frame was rejected "
                         f"({decisions[0].reason}); the stack has no valid frame")
    for d in decisions:
        log.info("%s: frame %d dropped: %s (%.6g vs median %.6g)", frames.describe(), d.frame,
                 d.reason, d.value, d.median)
        sums.accepted[d.frame] = False
        if frame_n[d.frame]:
            run(np.array([d.frame]), frames[[d.frame]], -1)
    sums.dropped = tuple(decisions)
    if zinger_threshold is not None:
        rejected = np.zeros(npix, dtype=bool)
        reject_maxima(float(zinger_threshold), monitors, dark_flat, ~sums.accepted, acc["n"],
                      acc["raw_sum"], acc["mon_sum"], acc["x_sum"], acc["x2_sum"], acc["x_max"],
                      acc["k_max"], rejected)
        sums.zingers = int(rejected.sum())
    if not np.any(sums.n > 0):
        raise InputError(f"{frames.describe()}: no valid pixel in any accepted frame; check the "
                         "mask, the Dummy value and the frames")
    return sums
