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

Time-resolved stacks go through :meth:`Reducer.integrate_frames` (one curve per frame or group
of frames, sectors, outlier flags; :mod:`saxs.perframe`).

Monitors: ``normalization="auto"`` (default) divides by the transmitted flux I1 when the frames
have it or are ID02 acquisitions (header key ``HSI1``), else by the exposure time when known,
else by nothing; "i1", "exposure" and "none" ask for one explicitly. The choice is recorded
in each curve's metadata and provenance.

Calibration images: the reducer receives a :class:`~saxs.calibration_images.CalibrationImages`
(``calibration=``). For convenience ``mask=``, ``dark=`` and ``flat=`` also take paths, which
the constructor hands to :func:`saxs.io.calib.read_calibration`: that is the one place where
this module reaches into ``saxs.io``, once, at construction. The processing itself
(:mod:`saxs.stack`, :mod:`saxs.perframe`, :mod:`saxs.azimuthal`) opens no file.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from saxs.calibration_images import CalibrationImages
from saxs.curve import Curve, Step
from saxs.errors import InputError
from saxs.framecurves import FrameCurves
from saxs.frames import FrameStack
from saxs.geometry import Geometry
from saxs.stack import (
    StackSums,
    StackWorkspace,
    accumulate_stack,
    pixel_arrays,
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


NORMALIZATIONS = ("auto", "i1", "exposure", "none")
#: The pixel splitting of the per-frame path when the reducer's method is not given.
PER_FRAME_METHOD = ("no", "csr", "cython")


def _is_path(value) -> bool:
    if isinstance(value, str | os.PathLike):
        return True
    return (isinstance(value, Sequence) and not isinstance(value, str | bytes)
            and any(isinstance(v, str | os.PathLike) for v in value))


def _calibration(geometry: Geometry, calibration: CalibrationImages | None, *, mask, dark,
                 flat, convention: str) -> CalibrationImages:
    """The calibration object: given, made from arrays/numbers, or (paths: the convenience
    documented in the module docstring) read by :func:`saxs.io.calib.read_calibration`."""
    if calibration is not None:
        if any(v is not None for v in (mask, dark, flat)):
            raise InputError("give calibration= or mask=/dark=/flat=, not both")
        if not isinstance(calibration, CalibrationImages):
            raise InputError(f"calibration must be CalibrationImages (saxs.io.calib."
                             f"read_calibration), got {type(calibration).__name__}")
        if calibration.shape != geometry.shape:
            raise InputError(f"calibration images of shape {calibration.shape}, the frames "
                             f"{geometry.shape}")
        return calibration
    if any(_is_path(v) for v in (mask, dark, flat)):
        from saxs.io.calib import read_calibration  # noqa: PLC0415  (the convenience)

        return read_calibration(geometry.shape, mask=mask, dark=dark, flat=flat,
                                binning=geometry.binning, mask_convention=convention)
    return CalibrationImages.from_arrays(geometry.shape, mask=mask, dark=dark, flat=flat)


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
        binning are rebinned. Paths are read by :func:`saxs.io.calib.read_calibration`.
    npt : int
        Number of q bins.
    method : tuple or str, optional
        pyFAI method (pixel splitting, algorithm, implementation), or a splitting alone ("no",
        "bbox", "full": with pyFAI's CSR algorithm in Cython). Default: bounding-box
        splitting for averaged stacks (``("bbox", "csr", "cython")``) and no splitting for
        per-frame curves (``("no", "csr", "cython")``; pyFAI's CSR matrix applied by our
        kernel, whatever the algorithm named); a method given here is used by both.
    calibration : CalibrationImages, optional
        Mask, dark and flat already loaded (instead of ``mask``, ``dark``, ``flat``).
    normalization : {"auto", "i1", "exposure", "none"}
        What each frame is divided by: the transmitted flux I1, the exposure time, or nothing;
        "auto" takes I1 when the frames have it or are an ID02 acquisition (the header names
        an I1 scaler, ``HSI1``: then a missing scaler file is an error), else the exposure
        time when known, else nothing. Recorded in each curve.
    normalization_factor, polarization_factor : float or None
        Override the header's ``NormalizationFactor`` (default 1) and ``PolarizationFactor``
        (default: no polarisation correction).
    intensity_unit : {"arb", "1/cm"}
        What the normalised intensity is: "1/cm" when NF holds thickness and calibration.
    frame_threshold, zinger_threshold : float or None
        Outlier thresholds (robust standard deviations); None disables. Averaged stacks drop
        the outliers; per-frame curves only flag them.
    chunk_size : int
        Frames streamed per pass of the accumulation kernel. The reducer keeps its streaming
        memory (:class:`saxs.stack.StackWorkspace`: the per-pixel sums and two buffers of
        ``chunk_size`` frames, ~0.4 GB for bitshuffle-LZ4 Eiger2 4M stacks, ~0.9 GB for stacks
        read decoded) from one stack to the next; it is freed with the reducer.
    """

    def __init__(self, geometry: Geometry, mask: PathOrArray | Sequence | None = None,
                 dark: PathOrArray | float | None = None, flat: PathOrArray | None = None,
                 npt: int = 500, *, method: tuple[str, str, str] | str | None = None,
                 calibration: CalibrationImages | None = None, normalization: str = "auto",
                 normalization_factor: float | None = None,
                 polarization_factor: float | None = None, intensity_unit: str = "arb",
                 frame_threshold: float | None = 5.0, zinger_threshold: float | None = 8.0,
                 chunk_size: int = 16, mask_convention: str = "auto") -> None:
        if not isinstance(geometry, Geometry):
            raise InputError(f"Reducer needs a Geometry, got {type(geometry).__name__}")
        if int(npt) < 2:
            raise InputError(f"npt must be >= 2, got {npt}")
        if normalization not in NORMALIZATIONS:
            raise InputError(f"normalization {normalization!r} is not one of {NORMALIZATIONS}")
        self.geometry = geometry
        self.npt = int(npt)
        if method is not None:
            from saxs.azimuthal import check_method  # noqa: PLC0415

            method = check_method(method)
        self.method = method if method is not None else DEFAULT_METHOD
        self.per_frame_method = method if method is not None else PER_FRAME_METHOD
        self.normalization = normalization
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
        self._prepared: dict = {}
        self.calibration = _calibration(geometry, calibration, mask=mask, dark=dark, flat=flat,
                                        convention=mask_convention)
        self.mask = self.calibration.mask
        self.dark = self.calibration.dark
        self.flat = self.calibration.flat
        self.sources = dict(self.calibration.sources)
        self.valid = self.calibration.valid
        self._static_mask = np.ascontiguousarray(~self.valid)
        if not self.valid.any():
            raise InputError("the mask and flat field leave no valid pixel")

    def __getstate__(self) -> dict:
        """Pickled without its streaming memory and lock (a copy in another process makes its
        own)."""
        state = dict(self.__dict__)
        state["_workspace"] = None
        state["_prepared"] = {}
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
        """The pyFAI ``AzimuthalIntegrator`` of the geometry, for comparisons with pyFAI
        itself (the reducer integrates through :mod:`saxs.azimuthal`)."""
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

    def _monitors(self, frames: FrameStack) -> tuple[np.ndarray, str]:
        """The per-frame divisor and which one it is ("i1", "exposure" or "none")."""
        kind = self.normalization
        if kind == "auto":  # an ID02 acquisition names its I1 scaler (HSI1): I1 it must be
            kind = ("i1" if frames.monitor_i1 is not None or "HSI1" in frames.header else
                    "exposure" if frames.exposure_time_s is not None else "none")
        if kind == "none":
            return np.ones(len(frames)), kind
        values = frames.monitor_i1 if kind == "i1" else frames.exposure_time_s
        name = "monitor I1" if kind == "i1" else "exposure time"
        if values is None:
            if kind == "i1":
                raise InputError(f"{frames.describe()}: no transmitted-flux monitor (I1): give "
                                 "the scaler file (read_frames(..., scalers=...)), an "
                                 "Intensity1 header key or read_frames(..., monitor=...), or "
                                 "reduce with normalization='exposure' or 'none'")
            raise InputError(f"{frames.describe()}: no exposure time (ExposureTime key or "
                             "scaler file); reduce with normalization='none'")
        bad = np.flatnonzero(~np.isfinite(values) | (values <= 0))
        if bad.size:
            where = "check the scaler file" if kind == "i1" else "check the header"
            raise InputError(f"{frames.describe()}: {name} is not positive for frame(s) "
                             f"{bad.tolist()} (value {values[bad[0]]!r}); {where}")
        i0 = frames.monitor_i0
        if kind == "i1" and i0 is not None and np.any(~np.isfinite(i0) | (i0 <= 0)):
            raise InputError(f"{frames.describe()}: monitor I0 is not positive; the "
                             "transmission I1/I0 cannot be formed")
        return np.asarray(values, dtype=np.float64), kind

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
        shared by 1-D and 2-D (:func:`saxs_kernels.stack.integration_inputs`), in the
        workspace's pixel arrays if one is given."""
        from saxs_kernels.stack import IntegrationInputs, integration_inputs  # noqa: PLC0415

        shape = self.geometry.shape
        g = self.geometry
        total = sums.monitor_total
        if workspace is not None:  # made for this geometry's frames (checked before streaming)
            data, dark_sum, flat, var_frames = workspace.pixel_arrays()
        else:
            data, dark_sum, flat, var_frames = pixel_arrays(shape)
        out = IntegrationInputs(*(a.reshape(-1) for a in (data, dark_sum, flat, var_frames)))
        integration_inputs(sums, self.dark.reshape(-1), self.flat.reshape(-1),
                           self.valid.reshape(-1), monitor_total=total, no_data=NO_DATA, out=out)
        common = {**self._integration_keywords(pf, flat),
                  "normalization_factor": total * g.pixel1_m * g.pixel2_m
                  / (g.distance_m**2 * nf)}
        return data, dark_sum, var_frames, common

    def _integration_keywords(self, pf: float | None, flat: np.ndarray) -> dict:
        """Keywords of :func:`saxs.azimuthal.integrate1d` shared by every integration of a
        stack: the static mask, pixels without data as the dummy value :data:`NO_DATA`,
        polarisation, the flat."""
        return {"mask": self._static_mask, "dummy": NO_DATA, "delta_dummy": 0.5,
                "polarization_factor": pf, "flat": flat, "method": self.method}

    def _check_dark(self, data: np.ndarray, dark: np.ndarray) -> None:
        """Refuse a dark above the frames: the raw counts include the dark, so their sum over
        the valid pixels cannot fall below the summed dark by more than 5 Poisson sigmas."""
        use = (data != NO_DATA) & np.isfinite(data)
        counts, dark_sum = float(np.sum(data[use])), float(np.sum(dark[use]))
        if counts - dark_sum < -5.0 * math.sqrt(max(counts, 1.0)):
            source = self.calibration.sources.get("dark") or "the dark"
            raise InputError(f"dark {source}: its counts ({dark_sum:.4g} summed over the valid "
                             f"pixels) are above the frames' ({counts:.4g}): a dark of another "
                             "detector, exposure time or byte order; give the matching dark")

    def integrate_sums(self, sums: StackSums, nf: float, pf: float | None,
                       workspace: StackWorkspace | None = None) -> Integrated:
        """Integrate the summed counts of the accepted frames (:mod:`saxs.azimuthal`)."""
        from saxs.azimuthal import integrate1d  # noqa: PLC0415

        data, dark, var_frames, common = self._integration_inputs(sums, nf, pf, workspace)
        self._check_dark(data, dark)
        poisson = integrate1d(self.geometry, data, self.npt, dark=dark, error_model="poisson",
                              **common)
        if np.count_nonzero(sums.accepted) >= 2:
            sem_frames = integrate1d(self.geometry, data, self.npt, dark=dark,
                                     variance=var_frames, **common).sigma
        else:  # one frame: no frame-to-frame spread to integrate
            sem_frames = np.zeros_like(poisson.sigma)
        return Integrated(q=poisson.q, intensity=poisson.intensity,
                          sem_poisson=poisson.sigma, sem_frames=sem_frames, count=poisson.count)

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
                    ) -> tuple[StackSums, float, float | None, str]:
        self._check(frames)
        monitors, kind = self._monitors(frames)
        nf, pf = self._normalization(frames)
        sums = accumulate_stack(
            frames, self.dark, self.valid, monitors=monitors, chunk_size=self.chunk_size,
            reject_frames=self.frame_threshold is not None,
            frame_threshold=self.frame_threshold or 0.0,
            zinger_threshold=self.zinger_threshold, workspace=workspace)
        return sums, nf, pf, kind

    # Public ------------------------------------------------------------------------------
    def reduce(self, frames: FrameStack) -> Curve:
        """Average a stack (outliers rejected) and integrate it to one curve.

        The curve's metadata records the frames used and dropped (with the reason), the number
        of zinger pixels removed, the median transmission I1/I0, the normalisation and the
        factors applied.
        """
        with self._workspace_for(frames) as workspace:
            sums, nf, pf, kind = self._accumulate(frames, workspace)
            result = self.integrate_sums(sums, nf, pf, workspace)
            return self._curve(frames, result, nf, pf, kind, accepted=sums.accepted,
                               dropped=sums.dropped, zingers=sums.zingers)

    def reduce_2d(self, frames: FrameStack, npt_azim: int = 360) -> Cake:
        """The averaged stack (same corrections and rejection) as a chi x q cake."""
        from saxs.azimuthal import integrate2d  # noqa: PLC0415

        with self._workspace_for(frames) as workspace:
            sums, nf, pf, _ = self._accumulate(frames, workspace)
            data, dark, _, common = self._integration_inputs(sums, nf, pf, workspace)
            res = integrate2d(self.geometry, data, self.npt, int(npt_azim), dark=dark,
                              error_model="poisson", **common)
        empty = (res.count <= 0) if res.count is not None else res.sigma <= 0
        return Cake(q=res.q, chi_deg=res.chi_deg,
                    intensity=np.where(empty, np.nan, res.intensity),
                    sigma=np.where(empty, np.nan, res.sigma), intensity_unit=self.intensity_unit,
                    metadata={"source": frames.describe(),
                              "frames_dropped": [d.frame for d in sums.dropped]})

    def integrate_frames(self, frames: FrameStack, *, bin_frames: int = 1,
                         azimuth_range=None) -> FrameCurves | list[FrameCurves]:
        """One curve per frame (or per group of ``bin_frames`` frames) of a time-resolved
        stack, in one streamed pass (:mod:`saxs.perframe`); outliers are flagged per frame
        (``frame_flags``), never removed.

        Parameters
        ----------
        frames : FrameStack
        bin_frames : int
            Frames added per curve (pixel-wise sums, monitors summed), for weak signals.
        azimuth_range : (lo, hi), or a list of them (None in a list: the whole ring)
            Sectors in degrees (pyFAI's chi, -180..360); several are integrated in the same
            pass. A single range (or None) gives one :class:`FrameCurves`, a list a list.
        """
        from saxs.azimuthal import check_azimuth_range  # noqa: PLC0415
        from saxs.perframe import integrate_stack  # noqa: PLC0415

        self._check(frames)
        bin_frames = int(bin_frames)
        if bin_frames < 1:
            raise InputError(f"bin_frames must be >= 1, got {bin_frames}")
        single = azimuth_range is None or (len(azimuth_range) == 2 and all(
            isinstance(v, int | float | np.number) for v in azimuth_range))
        sectors = tuple(None if s is None else check_azimuth_range(s) for s in (
            (azimuth_range,) if single else azimuth_range))
        if not sectors:
            raise InputError("azimuth_range: give at least one sector (or None)")
        monitors, kind = self._monitors(frames)
        nf, pf = self._normalization(frames)
        prepared = self._prepared_matrix(sectors, pf)
        with self._workspace_for(frames) as workspace:
            sums = integrate_stack(frames, prepared, self.dark, monitors,
                                   zinger_threshold=self.zinger_threshold,
                                   workspace=workspace if workspace is not None and
                                   workspace.fits(frames, 1) else None)
        out = [self._frame_curves(frames, sums, prepared, k, monitors=monitors, kind=kind,
                                  nf=nf, pf=pf, bin_frames=bin_frames)
               for k in range(len(sectors))]
        return out[0] if single else out

    def reduce_frames(self, frames: FrameStack, *, bin_frames: int = 1,
                      azimuth_range: tuple[float, float] | None = None) -> list[Curve]:
        """One :class:`Curve` per frame (or group of frames): :meth:`integrate_frames` with
        each curve's empty bins left out. A frame without any valid pixel is an error."""
        series = self.integrate_frames(frames, bin_frames=bin_frames,
                                       azimuth_range=azimuth_range)
        empty = np.flatnonzero(~np.any(series.count > 0, axis=1))
        if empty.size:
            first = int(series.frame_range[empty[0], 0])
            raise InputError(f"{frames.describe()}: frame {first} holds no valid pixel; "
                             "check the mask, the Dummy value and the frames")
        return [series.curve(k) for k in range(len(series))]

    def _prepared_matrix(self, sectors: tuple, pf: float | None):
        """The per-frame matrices of these sectors and polarisation (kept: ~1-2 s to build
        for a 4M detector)."""
        from saxs.perframe import prepare  # noqa: PLC0415

        key = (sectors, pf)
        if key not in self._prepared:
            self._prepared.clear()  # one at a time: a 4M matrix holds ~100 MB
            self._prepared[key] = prepare(self.geometry, self.valid, self.flat, self.npt,
                                          split=self.per_frame_method[0], sectors=sectors,
                                          polarization_factor=pf)
        return self._prepared[key]

    def _frame_curves(self, frames: FrameStack, sums, prepared, k: int, *,
                      monitors: np.ndarray, kind: str, nf: float, pf: float | None,
                      bin_frames: int) -> FrameCurves:
        from saxs.perframe import frame_outliers, grouped  # noqa: PLC0415

        g = self.geometry
        lo, hi = prepared.offsets[k], prepared.offsets[k + 1]
        factor = monitors * g.pixel1_m * g.pixel2_m / (g.distance_m**2 * nf)
        signal, variance = sums.signal[:, lo:hi], sums.variance[:, lo:hi]
        norm = factor[:, None] * (prepared.norm_sum[lo:hi][None, :] - sums.lost_norm[:, lo:hi])
        count = prepared.count[lo:hi][None, :] - sums.lost_count[:, lo:hi]
        totals = signal.sum(axis=1) / monitors
        ratio, outlier = frame_outliers(totals, np.sqrt(variance.sum(axis=1)) / monitors,
                                        self.frame_threshold)
        n = len(frames)
        starts = np.arange(0, n, bin_frames)
        ends = np.minimum(starts + bin_frames, n)
        signal, variance, norm = (grouped(a, bin_frames) for a in (signal, variance, norm))
        count = grouped(count, bin_frames) / (ends - starts)[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            empty = ~(norm > 0) | ~(count > 0)
            intensity = np.where(empty, np.nan, signal / norm)
            sigma = np.where(empty, np.nan, np.sqrt(variance) / norm)
        times = frames.timestamps_s
        sector = prepared.matrices[k].azimuth_range_deg
        flags = {"zinger_pixels": sums.zingers, "dummy_pixels": sums.dummies,
                 "total_ratio": ratio, "total_outlier": outlier}
        metadata = {"sample": frames.header.title, "source": frames.describe(),
                    "frames_total": n, "normalization": kind, "normalization_factor": nf,
                    "polarization_factor": pf, "bin_frames": bin_frames,
                    "azimuth_range_deg": None if sector is None else list(sector),
                    "frames_flagged": np.flatnonzero(outlier).tolist()}
        step = Step("reduce", self._step_parameters(frames, nf, pf, kind) | {
            "per_frame": True, "method": list(self.per_frame_method),
            "bin_frames": bin_frames, "azimuth_range_deg": metadata["azimuth_range_deg"],
            "zinger_threshold": self.zinger_threshold, "frame_threshold": self.frame_threshold,
            "outliers": "flagged per frame, not removed", "sigma": "poisson"})
        return FrameCurves(
            q=prepared.matrices[k].q_nm, intensity=intensity, sigma=sigma, count=count,
            frame_range=np.column_stack([starts, ends]),
            time_s=None if times is None else times[starts] - times[0],
            monitor=grouped(monitors, bin_frames), frame_flags=flags,
            azimuth_range_deg=sector, intensity_unit=self.intensity_unit, metadata=metadata,
            provenance=(step,))

    def _step_parameters(self, frames: FrameStack, nf: float, pf: float | None,
                         kind: str) -> dict:
        g = self.geometry
        return {"source": frames.describe(), "npt": self.npt, "distance_m": g.distance_m,
                "poni1_m": g.poni1_m, "poni2_m": g.poni2_m, "wavelength_m": g.wavelength_m,
                "rot": [g.rot1_rad, g.rot2_rad, g.rot3_rad], "normalization": kind,
                "normalization_factor": nf, "polarization_factor": pf, **self.sources}

    def _curve(self, frames: FrameStack, result: Integrated, nf: float, pf: float | None,
               kind: str, *, accepted: np.ndarray, dropped: tuple = (),
               zingers: int = 0) -> Curve:
        sigma = np.maximum(result.sem_poisson, result.sem_frames)
        keep = (result.count > 0) & np.isfinite(result.intensity) & (sigma > 0)
        if not keep.any():
            raise InputError(f"{frames.describe()}: no q bin holds a valid pixel")
        accepted = np.flatnonzero(accepted)
        ratio = None  # transmission = this ratio / the same ratio without sample (empty beam)
        if frames.monitor_i0 is not None and frames.monitor_i1 is not None:
            ratio = float(np.median(frames.monitor_i1[accepted] / frames.monitor_i0[accepted]))
        dropped_record = [{"frame": d.frame, "reason": d.reason, "value": d.value,
                           "median": d.median} for d in dropped]
        metadata = {
            "sample": frames.header.title, "source": frames.describe(),
            "frames_total": len(frames), "frames_used": accepted.tolist(),
            "frames_dropped": dropped_record, "zinger_pixels": zingers,
            "i1_over_i0": ratio, "normalization": kind, "normalization_factor": nf,
            "polarization_factor": pf,
        }
        curve = Curve(q=result.q[keep], intensity=result.intensity[keep], sigma=sigma[keep],
                      intensity_unit=self.intensity_unit, metadata=metadata)
        return curve.with_step(
            "reduce", **self._step_parameters(frames, nf, pf, kind), method=list(self.method),
            frames_dropped=[d.frame for d in dropped], zinger_pixels=zingers,
            sigma="max(poisson, frame-to-frame SEM)")
