"""Frames to I(q): corrections in the ID02 order, stack averaging, pyFAI azimuthal integration.

Per pixel i and frame k (ID02.md §3.1; pyFAI ``integrate1d`` does the division)::

    I_norm = (raw - dark) * NF / (I1_k * Omega_abs * P * F)

with NF the header's ``NormalizationFactor``, Omega_abs = Omega_rel p1 p2 / d^2 the pixel
solid angle, P the polarisation factor and F the flat field. A stack of N frames of one
geometry is averaged pixel-wise before one integration, which is exact for a linear
correction: the summed counts S_i = sum_k raw over the frames valid at i, the summed dark
n_i dark_i and the summed monitor M_i = sum_k I1_k enter pyFAI as ``data``, ``dark`` and
``flat * M_i / M`` with ``normalization_factor = M p1 p2 / (d^2 NF)`` (M: all accepted frames).
The uncertainty is the larger, per q bin, of the propagated Poisson error (pyFAI "poisson"
model on the summed counts) and the frame-to-frame standard error of the mean (the per-pixel
scatter of the normalised frames, propagated the same way), as the MOUSE sequence does
(Pauw et al. 2017, J. Appl. Cryst. 50, 1800: uncertainty = max of the estimates).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from saxs.curve import Curve
from saxs.errors import InputError
from saxs.frames import FrameStack
from saxs.geometry import Geometry
from saxs.io.calib import read_dark, read_flat, read_mask
from saxs.stack import (
    StackSums,
    StackWorkspace,
    accumulate_stack,
    check_finite,
    pixel_arrays,
    streamed_chunks,
)

log = logging.getLogger(__name__)

#: The summed counts of pixels without data (no contributing frame) for pyFAI: a float32 power
#: of two far below any sum of counts, given as pyFAI's dummy value.
NO_DATA = -(2.0**60)

DEFAULT_METHOD = ("bbox", "csr", "cython")
PathOrArray = str | os.PathLike | np.ndarray


def _same_geometry(a: Geometry, b: Geometry, rtol: float = 1e-9) -> bool:
    fields = ("distance_m", "poni1_m", "poni2_m", "pixel1_m", "pixel2_m", "wavelength_m",
              "rot1_rad", "rot2_rad", "rot3_rad")
    return a.shape == b.shape and all(
        abs(getattr(a, f) - getattr(b, f)) <= rtol * max(abs(getattr(a, f)), 1e-12)
        for f in fields)


def _load_mask(mask, geometry: Geometry, convention: str) -> np.ndarray:
    if mask is None:
        return np.zeros(geometry.shape, dtype=bool)
    if isinstance(mask, np.ndarray):
        if mask.shape != geometry.shape:
            raise InputError(f"mask array has shape {mask.shape}, the frames {geometry.shape}")
        return mask.astype(bool)
    if isinstance(mask, str | os.PathLike):
        return read_mask(mask, geometry.shape, binning=geometry.binning, convention=convention)
    combined = np.zeros(geometry.shape, dtype=bool)
    for item in mask:
        combined |= _load_mask(item, geometry, convention)
    return combined


def _load_image(value, geometry: Geometry, reader, what: str, default: float) -> np.ndarray:
    if value is None:
        return np.full(geometry.shape, default)
    if isinstance(value, int | float):
        return np.full(geometry.shape, float(value))
    if isinstance(value, np.ndarray):
        if value.shape != geometry.shape:
            raise InputError(f"{what} array has shape {value.shape}, the frames {geometry.shape}")
        array = np.asarray(value, dtype=np.float64)
    else:
        array = reader(value, geometry.shape, binning=geometry.binning)
    if not np.all(np.isfinite(array)):
        raise InputError(f"{what} {value if not isinstance(value, np.ndarray) else 'array'} "
                         "holds NaN or infinite pixels")
    return np.ascontiguousarray(array, dtype=np.float64)


@dataclass(frozen=True, eq=False)
class Cake:
    """A 2-D regrouping (chi x q) of an averaged stack, for anisotropy checks.

    ``intensity`` and ``sigma`` have shape (n_chi, n_q); empty cells hold NaN.
    """

    q: np.ndarray
    chi_deg: np.ndarray
    intensity: np.ndarray
    sigma: np.ndarray
    intensity_unit: str
    metadata: dict


@dataclass(frozen=True)
class Integrated:
    """One pyFAI integration: q, I, the Poisson and frame-to-frame standard errors."""

    q: np.ndarray
    intensity: np.ndarray
    sem_poisson: np.ndarray
    sem_frames: np.ndarray
    count: np.ndarray


class Reducer:
    """Reduce ID02 frame stacks of one geometry to azimuthally averaged curves.

    Parameters
    ----------
    geometry : Geometry
        The frames' geometry; the pyFAI integrator (and its CSR matrix) is built once per
        geometry and kept.
    mask : path, array or sequence of them, optional
        Masks (True or non-zero = masked), combined; e.g. detector gaps and beamstop.
    dark, flat : path, array or number, optional
        Dark counts per frame (default 0) and flat field (default 1); files of another
        binning are rebinned.
    npt : int
        Number of q bins.
    method : tuple
        pyFAI method (pixel splitting, algorithm, implementation).
    normalization_factor, polarization_factor : float or None
        Override the header's ``NormalizationFactor`` (default 1) and ``PolarizationFactor``
        (default: no polarisation correction).
    intensity_unit : {"arb", "1/cm"}
        What the normalised intensity is: "1/cm" when NF holds thickness and calibration.
    frame_threshold, zinger_threshold : float or None
        Outlier rejection thresholds (robust standard deviations); None disables.
    chunk_size : int
        Frames streamed per pass of the accumulation kernel. The reducer keeps its streaming
        memory (:class:`saxs.stack.StackWorkspace`: the per-pixel sums and two buffers of
        ``chunk_size`` frames, ~0.4 GB for bitshuffle-LZ4 Eiger2 4M stacks, ~0.9 GB for stacks
        read decoded) from one stack to the next; it is freed with the reducer.
    """

    def __init__(self, geometry: Geometry, mask: PathOrArray | Sequence | None = None,
                 dark: PathOrArray | float | None = None, flat: PathOrArray | None = None,
                 npt: int = 500, *, method: tuple[str, str, str] = DEFAULT_METHOD,
                 normalization_factor: float | None = None,
                 polarization_factor: float | None = None, intensity_unit: str = "arb",
                 frame_threshold: float | None = 5.0, zinger_threshold: float | None = 8.0,
                 chunk_size: int = 16, mask_convention: str = "auto") -> None:
        if not isinstance(geometry, Geometry):
            raise InputError(f"Reducer needs a Geometry, got {type(geometry).__name__}")
        if int(npt) < 2:
            raise InputError(f"npt must be >= 2, got {npt}")
        self.geometry = geometry
        self.npt = int(npt)
        self.method = tuple(method)
        self.normalization_factor = normalization_factor
        self.polarization_factor = polarization_factor
        self.intensity_unit = intensity_unit
        self.frame_threshold = frame_threshold
        self.zinger_threshold = zinger_threshold
        self.chunk_size = int(chunk_size)
        if self.chunk_size < 1:
            raise InputError(f"chunk_size must be >= 1, got {chunk_size}")
        self._workspace: StackWorkspace | None = None
        self._workspace_lock = threading.Lock()
        self.mask = _load_mask(mask, geometry, mask_convention)
        self.dark = _load_image(dark, geometry, read_dark, "dark", 0.0)
        self.flat = _load_image(flat, geometry, read_flat, "flat", 1.0)
        self.sources = {"mask": _describe(mask), "dark": _describe(dark), "flat": _describe(flat)}
        self.valid = ~self.mask & (self.flat > 0)
        self._static_mask = np.ascontiguousarray(~self.valid)
        if not self.valid.any():
            raise InputError("the mask and flat field leave no valid pixel")

    def __getstate__(self) -> dict:
        """Pickled without its streaming memory and lock (a copy in another process makes its
        own)."""
        state = dict(self.__dict__)
        state["_workspace"] = None
        del state["_workspace_lock"]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._workspace_lock = threading.Lock()

    @classmethod
    def from_poni(cls, poni: str | os.PathLike, shape: tuple[int, int] | None = None,
                  **kwargs) -> Reducer:
        """A reducer whose geometry comes from a PONI file."""
        return cls(Geometry.from_poni(poni, shape), **kwargs)

    @property
    def integrator(self):
        """The pyFAI ``AzimuthalIntegrator`` (cached per geometry)."""
        return self.geometry.integrator()

    # Checks and factors -----------------------------------------------------------------------
    def _check(self, frames: FrameStack) -> None:
        if frames.frame_shape != self.geometry.shape:
            raise InputError(f"{frames.describe()}: frames of shape {frames.frame_shape}, the "
                             f"reducer's geometry is for {self.geometry.shape}")
        if frames.geometry is not None and not _same_geometry(frames.geometry, self.geometry):
            raise InputError(f"{frames.describe()}: its geometry (distance "
                             f"{frames.geometry.distance_m} m, centre "
                             f"{frames.geometry.center_1_px:.3f}, "
                             f"{frames.geometry.center_2_px:.3f} px) differs from the reducer's "
                             f"({self.geometry.distance_m} m, {self.geometry.center_1_px:.3f}, "
                             f"{self.geometry.center_2_px:.3f}); reduce it with its own Reducer")
        if len(frames) == 0:
            raise InputError(f"{frames.describe()}: the stack holds no frame")

    def _monitors(self, frames: FrameStack) -> np.ndarray:
        i1 = frames.monitor_i1
        if i1 is None:
            raise InputError(f"{frames.describe()}: no transmitted-flux monitor (I1): give the "
                             "scaler file (read_frames(..., scalers=...)) or an Intensity1 "
                             "header key")
        bad = np.flatnonzero(~np.isfinite(i1) | (i1 <= 0))
        if bad.size:
            raise InputError(f"{frames.describe()}: monitor I1 is not positive for frame(s) "
                             f"{bad.tolist()} (value {i1[bad[0]]!r}); check the scaler file")
        i0 = frames.monitor_i0
        if i0 is not None and np.any(~np.isfinite(i0) | (i0 <= 0)):
            raise InputError(f"{frames.describe()}: monitor I0 is not positive; the "
                             "transmission I1/I0 cannot be formed")
        return np.asarray(i1, dtype=np.float64)

    def _normalization(self, frames: FrameStack) -> tuple[float, float | None]:
        nf = self.normalization_factor
        if nf is None:
            nf = frames.header.number("NormalizationFactor", default=1.0)
        if not (np.isfinite(nf) and nf > 0):
            raise InputError(f"{frames.describe()}: NormalizationFactor {nf!r} must be > 0")
        pf = self.polarization_factor
        if pf is None:
            pf = frames.header.number("PolarizationFactor", default=None)
        return float(nf), pf

    # Integration ---------------------------------------------------------------------------
    def _integration_inputs(self, sums: StackSums, nf: float, pf: float | None,
                            workspace: StackWorkspace | None = None):
        """Summed counts, summed dark, the frame-to-frame variance and the pyFAI keywords
        shared by 1-D and 2-D (:func:`saxs_kernels.stack.integration_arrays`), in the
        workspace's pixel arrays if one is given."""
        from saxs_kernels.stack import integration_arrays  # noqa: PLC0415

        shape = self.geometry.shape
        g = self.geometry
        total = sums.monitor_total
        if workspace is not None:  # made for this geometry's frames (checked before streaming)
            data, dark_sum, flat, var_frames = workspace.pixel_arrays()
        else:
            data, dark_sum, flat, var_frames = pixel_arrays(shape)
        integration_arrays(sums.n, sums.raw_sum, sums.mon_sum, sums.x_sum, sums.x2_sum,
                           self.dark.reshape(-1), self.flat.reshape(-1), self.valid.reshape(-1),
                           total, NO_DATA, data.reshape(-1), dark_sum.reshape(-1),
                           flat.reshape(-1), var_frames.reshape(-1))
        common = {**self._pyfai_keywords(pf, flat),
                  "normalization_factor": total * g.pixel1_m * g.pixel2_m
                  / (g.distance_m**2 * nf)}
        return data, dark_sum, var_frames, common

    def _pyfai_keywords(self, pf: float | None, flat: np.ndarray) -> dict:
        """pyFAI keywords shared by every integration: the static mask, pixels without data
        as the dummy value :data:`NO_DATA`, solid angle, polarisation, the flat."""
        return {"npt": self.npt, "correctSolidAngle": True, "mask": self._static_mask,
                "dummy": NO_DATA, "delta_dummy": 0.5, "polarization_factor": pf, "flat": flat,
                "method": self.method, "unit": "q_nm^-1"}

    def integrate_sums(self, sums: StackSums, nf: float, pf: float | None,
                       workspace: StackWorkspace | None = None) -> Integrated:
        """Integrate the summed counts of the accepted frames with pyFAI."""
        from saxs.azimuthal import integrator_lock  # noqa: PLC0415

        data, dark, var_frames, common = self._integration_inputs(sums, nf, pf, workspace)
        integrator = self.integrator
        with integrator_lock(integrator):
            poisson = integrator.integrate1d(data, dark=dark, error_model="poisson", **common)
            if np.count_nonzero(sums.accepted) >= 2:
                sem_frames = np.asarray(integrator.integrate1d(
                    data, dark=dark, variance=var_frames, **common).sigma)
            else:  # one frame (per-frame mode): no frame-to-frame spread to integrate
                sem_frames = np.zeros_like(np.asarray(poisson.sigma))
        return Integrated(q=np.asarray(poisson.radial), intensity=np.asarray(poisson.intensity),
                          sem_poisson=np.asarray(poisson.sigma), sem_frames=sem_frames,
                          count=np.asarray(poisson.count))

    @contextlib.contextmanager
    def _workspace_for(self, frames: FrameStack) -> Iterator[StackWorkspace | None]:
        """The reducer's streaming memory, kept from stack to stack, held until the sums in it
        have been integrated; None (memory of the call's own) while another thread holds it."""
        if not self._workspace_lock.acquire(blocking=False):
            yield None
            return
        try:
            if self._workspace is None or not self._workspace.fits(frames, self.chunk_size):
                self._workspace = None  # free the old one before making the new one
                self._workspace = StackWorkspace(frames.frame_shape, frames.dtype,
                                                 self.chunk_size)
            yield self._workspace
        finally:
            self._workspace_lock.release()

    def _accumulate(self, frames: FrameStack, workspace: StackWorkspace | None
                    ) -> tuple[StackSums, float, float | None]:
        self._check(frames)
        monitors = self._monitors(frames)
        nf, pf = self._normalization(frames)
        sums = accumulate_stack(
            frames, self.dark, self.valid, monitors=monitors, chunk_size=self.chunk_size,
            reject_frames=self.frame_threshold is not None,
            frame_threshold=self.frame_threshold or 0.0,
            zinger_threshold=self.zinger_threshold, workspace=workspace)
        return sums, nf, pf

    # Public ------------------------------------------------------------------------------
    def reduce(self, frames: FrameStack) -> Curve:
        """Average a stack (outliers rejected) and integrate it to one curve.

        The curve's metadata records the frames used and dropped (with the reason), the number
        of zinger pixels removed, the median transmission I1/I0 and the factors applied.
        """
        with self._workspace_for(frames) as workspace:
            sums, nf, pf = self._accumulate(frames, workspace)
            result = self.integrate_sums(sums, nf, pf, workspace)
            return self._curve(frames, result, nf, pf, accepted=sums.accepted,
                               dropped=sums.dropped, zingers=sums.zingers)

    def reduce_2d(self, frames: FrameStack, npt_azim: int = 360) -> Cake:
        """The averaged stack (same corrections and rejection) as a chi x q cake."""
        with self._workspace_for(frames) as workspace:
            sums, nf, pf = self._accumulate(frames, workspace)
            from saxs.azimuthal import integrator_lock  # noqa: PLC0415

            data, dark, _, common = self._integration_inputs(sums, nf, pf, workspace)
            common["npt_rad"] = common.pop("npt")
            integrator = self.integrator
            with integrator_lock(integrator):
                res = integrator.integrate2d_ng(data, npt_azim=int(npt_azim), dark=dark,
                                                error_model="poisson", **common)
        count = np.asarray(res.count) if res.count is not None else None
        empty = (count <= 0) if count is not None else np.asarray(res.sigma) <= 0
        return Cake(q=np.asarray(res.radial), chi_deg=np.asarray(res.azimuthal),
                    intensity=np.where(empty, np.nan, res.intensity),
                    sigma=np.where(empty, np.nan, res.sigma), intensity_unit=self.intensity_unit,
                    metadata={"source": frames.describe(),
                              "frames_dropped": [d.frame for d in sums.dropped]})

    def reduce_frames(self, frames: FrameStack) -> list[Curve]:
        """One curve per frame (time-resolved stacks), sharing one integrator; no rejection.

        Each frame goes to pyFAI as read (pixels that are dummy in it left out): the same
        corrections as :meth:`reduce` of that frame alone, without the stack's running sums.
        The next frame is read while pyFAI integrates (unless the source decompresses on
        several threads by itself).
        """
        from saxs.azimuthal import integrator_lock  # noqa: PLC0415
        from saxs_kernels.stack import frame_data  # noqa: PLC0415

        self._check(frames)
        monitors = self._monitors(frames)
        nf, pf = self._normalization(frames)
        g = self.geometry
        use_dummy = frames.dummy is not None
        dummy = float(frames.dummy) if use_dummy else 0.0
        common = {**self._pyfai_keywords(pf, self.flat.astype(np.float32)),
                  "dark": self.dark.astype(np.float32), "error_model": "poisson"}
        valid = self.valid.reshape(-1)
        curves = []
        with self._workspace_for(frames) as workspace:
            memory = workspace or StackWorkspace(frames.frame_shape, frames.dtype,
                                                 min(self.chunk_size, len(frames)))
            data = memory.pixel_arrays()[0]
            for positions, chunk in streamed_chunks(frames, 1, memory):
                check_finite(frames, positions, chunk, self.valid)
                for k, frame in zip(positions, chunk, strict=True):
                    if not frame_data(frame.reshape(-1), valid, use_dummy, dummy,
                                      frames.delta_dummy, NO_DATA, data.reshape(-1)):
                        raise InputError(f"{frames.describe()}: frame {k} holds no valid pixel; "
                                         "check the mask, the Dummy value and the frames")
                    factor = monitors[k] * g.pixel1_m * g.pixel2_m / (g.distance_m**2 * nf)
                    integrator = self.integrator
                    with integrator_lock(integrator):
                        res = integrator.integrate1d(data, normalization_factor=factor, **common)
                    sigma = np.asarray(res.sigma)
                    result = Integrated(q=np.asarray(res.radial),
                                        intensity=np.asarray(res.intensity), sem_poisson=sigma,
                                        sem_frames=np.zeros_like(sigma),
                                        count=np.asarray(res.count))
                    one = frames.subset([int(k)])
                    curve = self._curve(one, result, nf, pf, accepted=np.ones(1, dtype=bool))
                    curves.append(curve.replace(metadata={**curve.metadata, "frame": int(k)}))
        return curves

    def _curve(self, frames: FrameStack, result: Integrated, nf: float, pf: float | None, *,
               accepted: np.ndarray, dropped: tuple = (), zingers: int = 0) -> Curve:
        sigma = np.maximum(result.sem_poisson, result.sem_frames)
        keep = (result.count > 0) & np.isfinite(result.intensity) & (sigma > 0)
        if not keep.any():
            raise InputError(f"{frames.describe()}: no q bin holds a valid pixel")
        accepted = np.flatnonzero(accepted)
        ratio = None  # transmission = this ratio / the same ratio without sample (empty beam)
        if frames.monitor_i0 is not None:
            ratio = float(np.median(frames.monitor_i1[accepted] / frames.monitor_i0[accepted]))
        dropped_record = [{"frame": d.frame, "reason": d.reason, "value": d.value,
                           "median": d.median} for d in dropped]
        metadata = {
            "sample": frames.header.title, "source": frames.describe(),
            "frames_total": len(frames), "frames_used": accepted.tolist(),
            "frames_dropped": dropped_record, "zinger_pixels": zingers,
            "i1_over_i0": ratio, "normalization_factor": nf,
            "polarization_factor": pf,
        }
        g = self.geometry
        curve = Curve(q=result.q[keep], intensity=result.intensity[keep], sigma=sigma[keep],
                      intensity_unit=self.intensity_unit, metadata=metadata)
        return curve.with_step(
            "reduce", source=frames.describe(), npt=self.npt, method=list(self.method),
            distance_m=g.distance_m, poni1_m=g.poni1_m, poni2_m=g.poni2_m,
            wavelength_m=g.wavelength_m, rot=[g.rot1_rad, g.rot2_rad, g.rot3_rad],
            normalization_factor=nf, polarization_factor=pf, **self.sources,
            frames_dropped=[d.frame for d in dropped], zinger_pixels=zingers,
            sigma="max(poisson, frame-to-frame SEM)")


def _describe(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        return f"array {value.shape}"
    if isinstance(value, int | float | str | os.PathLike):
        return str(value)
    return ", ".join(str(v) for v in value)
