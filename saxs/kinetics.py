"""Kinetics of a time-resolved series: species volume fractions vs time and rate constants.

``saxs.follow_kinetics(curves, times, blank=..., config=..., resolution=...)``:

1. every curve (frame, or group of ``bin_frames`` frames) is blank-subtracted
   (:func:`saxs.blanks.subtract_blanks`, or :func:`saxs.blanks.subtract` without an empty cell);
2. each is fitted by the Monte Carlo (:func:`saxs.montecarlo.monte_carlo`), through the ``map``
   the caller gives (a process pool's or Dask's ``map``: the curves are independent; frame k
   uses seed ``config.seed + k * n_rep`` so the result does not depend on the executor);
3. the populations are tracked along time by :func:`saxs.series.find_quantized_steps` (with the
   caller's ``resolution``, e.g. :func:`saxs.montecarlo.monodisperse_width`): each track is a
   species. Its volume fraction at each time is the track member's (mean and std over the Monte
   Carlo repetitions, the moment split of a broadened population included); where the species
   was not found, the volume fraction of the contributions within the track's tolerance of its
   radius. The std over repetitions measures the Monte Carlo's sampling spread only, so it is
   floored at ``fraction_floor_rel`` times the species' largest volume fraction (one very
   precise point would otherwise decide the whole fit);
4. first-order sequential conversion A -> B (-> C), conserving the number of clusters, is
   fitted by lmfit to the volume fractions of the discrete species (tracks not classed
   continuous, in order of radius, found at at least ``min_points`` times), with ``n_i(t)``
   the number fraction of species i::

       n_A = exp(-k1 t)
       n_B = k1 / (k2 - k1) (exp(-k1 t) - exp(-k2 t))      (A -> B: k2 = 0, n_B = 1 - n_A)
       n_C = 1 - n_A - n_B
       phi_i(t) = s_i n_i(t - t0)

   (t0: the first time; ``s_i``: the volume fraction all clusters would have as species i, free,
   so no particle volume is assumed). The rate constants' standard errors are lmfit's, scaled by
   the reduced chi-square (lmfit's ``scale_covar``). This is the sequential mechanism proposed
   for CdSe magic-size clusters (CdSe-403 -> 437 -> 465 -> nanocrystals), here as pseudo-first
   order steps (the monomer concentration folded into each k);
5. the onset of continuous growth: a continuous-growth track (found at ``min_points`` times or
   more) is followed at every time as all the volume above the quantized species (above the
   largest quantized radius plus ``GROWTH_CUT_WIDTHS`` reconstructed widths), and
   ``phi(t) = g max(t - t_onset, 0)`` is fitted to it by lmfit: the onset with its standard
   error (scaled by the reduced chi-square; a statistical error only: the Monte Carlo's slight
   underestimate of the first, smallest crystals can put it late by a fraction of a frame).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from saxs.blanks import subtract, subtract_blanks
from saxs.curve import Curve, fields_dict
from saxs.errors import InputError
from saxs.framecurves import FrameCurves
from saxs.montecarlo import MCConfig, monte_carlo
from saxs.series import Resolution, find_quantized_steps
from saxs.series_findings import SeriesFindings, Track
from saxs.sizedist import SizeDistribution

log = logging.getLogger(__name__)

MODELS = ("auto", "A->B", "A->B->C")
SPECIES_NAMES = "ABCDEFGH"
#: The growth species starts this many reconstructed widths above the largest quantized radius.
GROWTH_CUT_WIDTHS = 3.0


@dataclass(frozen=True)
class SpeciesTrace:
    """Volume fraction of one species at every time (lengths nm, times s).

    ``present``: the species was found at that time (a track member); elsewhere the value is
    the volume fraction within the track's tolerance of its radius. A continuous-growth
    species' value is, at every time, all the volume above the discrete species.
    """

    name: str
    kind: str
    radius_nm: float
    radius_err_nm: float
    time_s: np.ndarray
    volume_fraction: np.ndarray
    volume_fraction_err: np.ndarray
    present: np.ndarray
    family: str | None = None

    @property
    def n_present(self) -> int:
        """Times at which the species was found."""
        return int(np.count_nonzero(self.present))


@dataclass(frozen=True)
class RateFit:
    """A fitted sequential first-order model (rates 1/s)."""

    model: str
    species: tuple[str, ...]
    rate_per_s: tuple[float, ...]
    rate_err_per_s: tuple[float | None, ...]
    scale: tuple[float, ...]
    scale_err: tuple[float | None, ...]
    t0_s: float
    chi2_r: float
    n_points: int
    success: bool

    def fractions(self, time_s: np.ndarray) -> np.ndarray:
        """Model volume fractions (n_species, n_times) at ``time_s``."""
        n = number_fractions(np.asarray(time_s, dtype=np.float64) - self.t0_s, self.rate_per_s,
                             len(self.species))
        return np.asarray(self.scale)[:, None] * n


@dataclass(frozen=True)
class Onset:
    """Time of onset of continuous growth, from ``phi(t) = g (t - time_s)``."""

    time_s: float
    time_err_s: float | None
    growth_per_s: float
    growth_err_per_s: float | None
    n_points: int
    species: str


@dataclass(frozen=True, eq=False)
class KineticsResult:
    """What :func:`follow_kinetics` found."""

    time_s: np.ndarray
    distributions: tuple[SizeDistribution, ...]
    series: SeriesFindings
    species: tuple[SpeciesTrace, ...]
    rate_fit: RateFit | None
    onset: Onset | None
    settings: dict = field(default_factory=dict)

    def trace(self, name: str) -> SpeciesTrace:
        """The species called ``name``."""
        for s in self.species:
            if s.name == name:
                return s
        raise KeyError(f"no species {name!r}; there are {[s.name for s in self.species]}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: times, species traces, rate fit, onset, the series findings and the
        settings (not the per-time distributions)."""
        return fields_dict(self, skip=("distributions",))

    def report(self) -> str:
        """Plain-text summary: species, rate constants, onset."""
        lines = [(f"Kinetics: {self.time_s.size} times ({self.time_s[0]:g} .. "
                 f"{self.time_s[-1]:g} s)")]
        for s in self.species:
            fam = f", {s.family}" if s.family else ""
            lines.append(f"species {s.name} ({s.kind}): r = {s.radius_nm:.3f} +- "
                         f"{s.radius_err_nm:.3f} nm{fam}, found at {s.n_present} times, volume "
                         f"fraction {s.volume_fraction.min():.3g} .. "
                         f"{s.volume_fraction.max():.3g}")
        fit = self.rate_fit
        if fit is not None:
            for k, (value, err) in enumerate(zip(fit.rate_per_s, fit.rate_err_per_s,
                                                 strict=True)):
                step = f"{fit.species[k]} -> {fit.species[k + 1]}"
                spread = f"+- {err:.3g}" if err is not None else "+- ? (not estimated)"
                lines.append(f"rate constant k{k + 1} ({step}) = {value:.4g} {spread} 1/s")
            lines.append(f"  model {fit.model}, {fit.n_points} points, chi2_r {fit.chi2_r:.3g}"
                         + ("" if fit.success else " (lmfit did NOT report success)"))
        if self.onset is not None:
            o = self.onset
            spread = f"+- {o.time_err_s:.3g}" if o.time_err_s is not None else "+- ?"
            lines.append(f"continuous growth (species {o.species}) starts at t = {o.time_s:.4g} "
                         f"{spread} s (volume fraction rising {o.growth_per_s:.3g} per s, "
                         f"{o.n_points} points)")
        else:
            lines.append("no continuous growth found")
        return "\n".join(lines)

    def table(self) -> list[dict[str, Any]]:
        """One row per time: the volume fraction (and error) of every species, and the model."""
        model = self.rate_fit.fractions(self.time_s) if self.rate_fit else None
        rows = []
        for j, t in enumerate(self.time_s):
            row: dict[str, Any] = {"time_s": float(t)}
            for s in self.species:
                row[f"phi_{s.name}"] = float(s.volume_fraction[j])
                row[f"phi_{s.name}_err"] = float(s.volume_fraction_err[j])
                row[f"found_{s.name}"] = bool(s.present[j])
            if model is not None:
                for k, name in enumerate(self.rate_fit.species):
                    row[f"model_{name}"] = float(model[k, j])
            rows.append(row)
        return rows


def number_fractions(t: np.ndarray, rates: Sequence[float], n_species: int) -> np.ndarray:
    """Number fractions (n_species, n_t) of A -> B (-> C), all A at t = 0 (t < 0: all A)."""
    t = np.maximum(np.asarray(t, dtype=np.float64), 0.0)
    k1 = float(rates[0])
    a = np.exp(-k1 * t)
    if n_species == 2:
        return np.stack([a, 1.0 - a])
    k2 = float(rates[1])
    if abs(k2 - k1) <= 1e-9 * max(k1, k2):
        b = k1 * t * a  # the limit k2 -> k1
    else:
        b = k1 / (k2 - k1) * (a - np.exp(-k2 * t))
    return np.stack([a, b, 1.0 - a - b])


# ------------------------------------------------------------------------------- inputs


def _times(curves, times) -> np.ndarray:
    if times is None:
        times = curves.time_s if isinstance(curves, FrameCurves) else None
        if times is None:
            raise InputError("follow_kinetics: no time axis; pass times= (s, one per curve) or "
                             "curves read with their frame times (the scaler file)")
    values = np.asarray(times, dtype=np.float64)
    n = len(curves)
    if values.ndim != 1 or values.size != n:
        raise InputError(f"follow_kinetics: {n} curves but {values.size} times; give one time "
                         "(s) per curve")
    if not np.all(np.isfinite(values)) or np.any(np.diff(values) <= 0):
        raise InputError("follow_kinetics: the times must be finite and strictly increasing, "
                         f"got {values.tolist()[:8]}...")
    return values


def _curve_list(curves) -> list[Curve]:
    if isinstance(curves, FrameCurves):
        return [curves.curve(k) for k in range(len(curves))]
    items = list(curves)
    for k, c in enumerate(items):
        if not isinstance(c, Curve):
            raise InputError(f"follow_kinetics: item {k} is a {type(c).__name__}, not a Curve")
    return items


def bin_curves(curves: Sequence[Curve], times: np.ndarray,
               bin_frames: int) -> tuple[list[Curve], np.ndarray]:
    """Mean of each group of ``bin_frames`` consecutive curves (same q), at its first time.

    sigma of the mean = sqrt(sum sigma^2) / n.
    """
    if bin_frames == 1:
        return list(curves), times
    out, starts = [], []
    for first in range(0, len(curves), bin_frames):
        group = curves[first:first + bin_frames]
        q = group[0].q
        if any(c.q.size != q.size or not np.allclose(c.q, q, rtol=1e-9, atol=0)
               for c in group):
            raise InputError(f"follow_kinetics: curves {first}..{first + len(group) - 1} have "
                             "different q grids; bin frames when reducing (bin_frames=)")
        intensity = np.mean([c.intensity for c in group], axis=0)
        sigma = np.sqrt(np.sum([c.sigma**2 for c in group], axis=0)) / len(group)
        out.append(Curve(q, intensity, sigma, intensity_unit=group[0].intensity_unit,
                         metadata={**group[0].metadata, "frames_binned": len(group)},
                         provenance=group[0].provenance))
        starts.append(times[first])
    return out, np.asarray(starts)


@dataclass(frozen=True)
class _MCJob:
    """One Monte Carlo of the series (picklable, for process pools and Dask)."""

    config: MCConfig

    def __call__(self, item: tuple[int, Curve]) -> SizeDistribution:
        k, curve = item
        config = self.config
        if config.seed is not None:
            config = replace(config, seed=config.seed + k * config.n_rep)
        return monte_carlo(curve, config)


def _subtracted(curves: list[Curve], blank: Curve | None, empty_cell: Curve | None,
                solvent_volume_fraction: float, interpolate: bool) -> list[Curve]:
    if blank is None:
        if empty_cell is not None:
            raise InputError("follow_kinetics: an empty cell without a blank (solvent); pass "
                             "blank= too")
        return curves
    out = []
    for c in curves:
        if empty_cell is not None:
            out.append(subtract_blanks(c, blank, empty_cell,
                                       solvent_volume_fraction=solvent_volume_fraction,
                                       interpolate=interpolate))
        else:
            out.append(subtract(c, blank, solvent_volume_fraction, interpolate=interpolate))
    return out


# ------------------------------------------------------------------------------- species


def _window_fraction(dist: SizeDistribution, lo: float, hi: float) -> tuple[float, float]:
    phi_c = dist.volume_fraction_per_contribution
    values = np.array([phi_c[r] * np.count_nonzero((dist.radii_nm[r] >= lo)
                                                   & (dist.radii_nm[r] < hi))
                       for r in range(dist.n_rep)])
    spread = float(np.std(values, ddof=1)) if values.size > 1 else 0.0
    return float(values.mean()), spread


def _trace(name: str, track: Track, times: np.ndarray, dists: Sequence[SizeDistribution], *,
           floor_rel: float, above_nm: float | None = None,
           kind: str | None = None) -> SpeciesTrace:
    """The species' volume fraction at every time; ``above_nm`` (continuous growth): at every
    time, the volume fraction of all contributions above that radius."""
    n = times.size
    phi, err, present = np.zeros(n), np.zeros(n), np.zeros(n, dtype=bool)
    by_index: dict[int, list] = {}
    for p in track.points:
        by_index.setdefault(p.index, []).append(p)
    r, tol = track.radius_nm, track.tolerance_nm
    for j in range(n):
        members = by_index.get(j)
        present[j] = bool(members)
        if above_nm is not None:
            phi[j], err[j] = _window_fraction(dists[j], above_nm, math.inf)
        elif members:
            phi[j] = sum(p.volume_fraction for p in members)
            err[j] = math.sqrt(sum(p.volume_fraction_err**2 for p in members))
        else:
            phi[j], err[j] = _window_fraction(dists[j], r - tol, r + tol)
    floor = floor_rel * float(np.max(np.abs(phi))) if phi.size else 0.0
    err = np.maximum(np.nan_to_num(err, nan=floor), floor)
    family = track.family.family.name if track.family is not None else None
    return SpeciesTrace(name=name, kind=kind or track.kind, radius_nm=track.radius_nm,
                        radius_err_nm=track.radius_err_nm, time_s=times.copy(),
                        volume_fraction=phi, volume_fraction_err=err, present=present,
                        family=family)


def _species(series: SeriesFindings, times: np.ndarray, dists: Sequence[SizeDistribution],
              floor_rel: float, min_points: int) -> tuple[SpeciesTrace, ...]:
    """Discrete species (by radius) first, then continuous ones; named A, B, C...

    Discrete: tracks classed "quantized", and "other" tracks that do not grow (:func:`_grows`;
    e.g. a narrow species whose radius wanders by more than the tolerance, as one partly split
    off a broadened mixture can).

    A continuous-growth species is followed as all the volume above the quantized species
    (above the largest quantized radius plus ``GROWTH_CUT_WIDTHS`` times its reconstructed
    width, or its tolerance if larger): it is then measured also before its track starts,
    which the onset fit needs.
    """
    tracks = [t for t in series.tracks if len({p.index for p in t.points}) >= min_points]
    tracks.sort(key=lambda t: (_grows(t), t.radius_nm))
    quantized = [t for t in tracks if not _grows(t)]
    out = []
    for k, t in enumerate(tracks):
        above = None
        if _grows(t):
            above = max((q.radius_nm + max(q.tolerance_nm, GROWTH_CUT_WIDTHS * float(
                np.mean([p.width_nm for p in q.measured]))) for q in quantized
                if q.radius_nm < t.radius_nm), default=None)
        name = SPECIES_NAMES[k] if k < len(SPECIES_NAMES) else f"S{k}"
        out.append(_trace(name, t, times, dists, floor_rel=floor_rel, above_nm=above,
                          kind="continuous" if _grows(t) else t.kind))
    return tuple(out)


def _grows(track: Track) -> bool:
    """Continuous growth: classed so by the series, or an "other" track whose radius rises by
    more than 3 tolerances overall and never falls by more than one (the series' stricter
    step-by-step test can miss a step within the tolerance)."""
    if track.kind == "continuous":
        return True
    if track.kind != "other" or len(track.points) < 3:
        return False
    radii = np.array([p.radius_nm for p in track.points])
    tol = track.tolerance_nm
    return bool(radii[-1] - radii[0] > 3 * tol and np.all(np.diff(radii) > -tol))


# ------------------------------------------------------------------------------- fits


def _rate_model(model: str, quantized: list[SpeciesTrace]) -> int:
    """Number of species in the sequential model."""
    need = {"A->B": 2, "A->B->C": 3}
    if model == "auto":
        if len(quantized) < 2:
            raise InputError(f"follow_kinetics: {len(quantized)} discrete species found over "
                             "time; a conversion model needs at least two (check the blank "
                             "subtraction, the radius range, or min_points)")
        return min(len(quantized), 3)
    if len(quantized) < need[model]:
        hint = ("use model='A->B' or 'auto'" if need[model] == 3 and len(quantized) == 2
                else "check the blank subtraction, the radius range, the frame binning or "
                "min_points")
        raise InputError(f"follow_kinetics: model {model} needs {need[model]} discrete "
                         f"species, {len(quantized)} found over time; {hint}")
    return need[model]


def fit_sequential(traces: Sequence[SpeciesTrace], n_species: int) -> RateFit:
    """Fit A -> B (-> C) to the traces' volume fractions with lmfit (see the module doc)."""
    import lmfit  # noqa: PLC0415

    traces = list(traces)[:n_species]
    t = traces[0].time_s
    t0 = float(t[0])
    y = np.stack([s.volume_fraction for s in traces])
    e = np.stack([s.volume_fraction_err for s in traces])
    n_rates = n_species - 1
    n_params = n_rates + n_species
    if t.size * n_species <= n_params or t.size < n_params:
        raise InputError(f"follow_kinetics: {t.size} times for a {n_species}-species model with "
                         f"{n_params} parameters; it needs at least {n_params} times "
                         "(more frames, or fewer frames per bin)")
    span = float(t[-1] - t0)

    def residual(params):
        rates = [params[f"k{i + 1}"].value for i in range(n_rates)]
        scales = np.array([params[f"s_{s.name}"].value for s in traces])
        model = scales[:, None] * number_fractions(t - t0, rates, n_species)
        return ((y - model) / e).ravel()

    best = None
    for guess in (0.3, 1.0, 3.0, 10.0):
        params = lmfit.Parameters()
        for i in range(n_rates):
            params.add(f"k{i + 1}", value=guess / span / (i + 1), min=1e-6 / span,
                       max=1e4 / span)
        for s in traces:
            params.add(f"s_{s.name}", value=max(float(s.volume_fraction.max()), 1e-12), min=0)
        out = lmfit.minimize(residual, params, method="leastsq")
        if best is None or out.chisqr < best.chisqr:
            best = out
    p = best.params

    def err(name):
        value = p[name].stderr
        return None if value is None or not math.isfinite(value) else float(value)

    names = tuple(s.name for s in traces)
    return RateFit(model="->".join(names), species=names,
                   rate_per_s=tuple(float(p[f"k{i + 1}"].value) for i in range(n_rates)),
                   rate_err_per_s=tuple(err(f"k{i + 1}") for i in range(n_rates)),
                   scale=tuple(float(p[f"s_{n}"].value) for n in names),
                   scale_err=tuple(err(f"s_{n}") for n in names), t0_s=t0,
                   chi2_r=float(best.redchi), n_points=int(y.size), success=bool(best.success))


def fit_onset(trace: SpeciesTrace) -> Onset | None:
    """``phi(t) = g max(t - t_onset, 0)`` fitted by lmfit to the growth species at every time
    (None when it was found at fewer than 3 times).

    The errors come from the covariance with the stated volume-fraction errors, scaled up by
    sqrt(chi2_r) when the points scatter more than those errors say, never down: the scatter
    about a straight line says little about how well the Monte Carlo finds the first, smallest
    crystals, which is what places the onset."""
    import lmfit  # noqa: PLC0415

    if trace.n_present < 3:
        return None
    t, y, e = trace.time_s, trace.volume_fraction, trace.volume_fraction_err
    use = trace.present
    slope, intercept = np.polyfit(t[use], y[use], 1, w=1 / e[use])
    span = float(t[-1] - t[0])
    params = lmfit.Parameters()
    params.add("growth", value=max(slope, 1e-12), min=0)
    start = -intercept / slope if slope > 0 else float(t[use][0])
    params.add("onset", value=min(max(start, t[0] - span), t[-1]), min=t[0] - span, max=t[-1])
    out = lmfit.minimize(
        lambda p: (y - p["growth"].value * np.maximum(t - p["onset"].value, 0.0)) / e,
        params, method="leastsq", scale_covar=False)
    inflate = math.sqrt(max(1.0, float(out.redchi))) if math.isfinite(out.redchi) else 1.0

    def err(name):
        value = out.params[name].stderr
        return None if value is None or not math.isfinite(value) else float(value) * inflate

    return Onset(time_s=float(out.params["onset"].value), time_err_s=err("onset"),
                 growth_per_s=float(out.params["growth"].value),
                 growth_err_per_s=err("growth"), n_points=int(t.size), species=trace.name)


# ------------------------------------------------------------------------------- entry point


def follow_kinetics(curves: Sequence[Curve] | FrameCurves, times: Sequence[float] | None = None,
                    *, blank: Curve | None = None, empty_cell: Curve | None = None,
                    solvent_volume_fraction: float = 1.0, interpolate: bool = False,
                    config: MCConfig | None = None, resolution: Resolution | None = None,
                    model: str = "auto", bin_frames: int = 1, min_points: int = 3,
                    fraction_floor_rel: float = 0.02,
                    map: Callable[[Callable, Iterable], Iterable] = map,
                    variable_name: str = "time (s)") -> KineticsResult:
    """Species volume fractions vs time, sequential rate constants and the onset of growth.

    Parameters
    ----------
    curves : sequence of Curve, or FrameCurves
        One curve per frame (or group of frames), in time order, all on one q grid when binned.
    times : sequence of float, optional
        Time of each curve, s (default: the FrameCurves' ``time_s``; none is an InputError).
    blank, empty_cell : Curve, optional
        Solvent blank and empty cell, subtracted from every curve
        (:func:`saxs.blanks.subtract_blanks`); ``interpolate`` allows other q grids.
    solvent_volume_fraction : float
        Displaced-volume factor of the solvent.
    config : MCConfig
        The Monte Carlo settings (a seed makes the result reproducible).
    resolution : callable, optional
        Passed to :func:`saxs.find_quantized_steps` (pass
        :func:`saxs.montecarlo.monodisperse_width`).
    model : {"auto", "A->B", "A->B->C"}
        The sequential model; "auto" takes as many quantized species as found (2 or 3).
    bin_frames : int
        Average groups of this many consecutive curves before the Monte Carlo.
    min_points : int
        A track is a species when found at at least this many times.
    fraction_floor_rel : float
        Floor of the volume-fraction errors, relative to the species' largest value.
    map : callable
        ``map(function, items)`` running the Monte Carlos (e.g. a process pool's map).

    Returns
    -------
    KineticsResult
    """
    if model not in MODELS:
        raise InputError(f"follow_kinetics: model {model!r} is not one of {MODELS}")
    if int(bin_frames) != bin_frames or bin_frames < 1:
        raise InputError(f"follow_kinetics: bin_frames must be a whole number >= 1, got "
                         f"{bin_frames!r}")
    if not 0 <= fraction_floor_rel < 1:
        raise InputError(f"follow_kinetics: fraction_floor_rel must be in [0, 1), got "
                         f"{fraction_floor_rel!r}")
    values = _times(curves, times)
    items, values = bin_curves(_curve_list(curves), values, int(bin_frames))
    n_min = max(min_points, 3)
    if len(items) < n_min:
        raise InputError(f"follow_kinetics: {len(items)} time points; a kinetics needs at least "
                         f"{n_min} (more frames, or fewer frames per bin)")
    config = config or MCConfig()
    signals = _subtracted(items, blank, empty_cell, solvent_volume_fraction, interpolate)
    dists = list(map(_MCJob(config), list(enumerate(signals))))
    series = find_quantized_steps(dists, values, variable_name=variable_name,
                                  resolution=resolution)
    species = _species(series, values, dists, fraction_floor_rel, min_points)
    quantized = [s for s in species if s.kind != "continuous"]
    n_species = _rate_model(model, quantized)
    rate_fit = fit_sequential(quantized, n_species)
    growth = next((s for s in species if s.kind == "continuous"), None)
    onset = fit_onset(growth) if growth is not None else None
    log.info("kinetics: %d times, species %s, %s k = %s", values.size,
             ", ".join(f"{s.name} ({s.kind}, r = {s.radius_nm:.3f} nm)" for s in species),
             rate_fit.model, rate_fit.rate_per_s)
    settings = {"model": model, "bin_frames": int(bin_frames), "min_points": min_points,
                "fraction_floor_rel": fraction_floor_rel, "config": config.to_dict(),
                "solvent_volume_fraction": solvent_volume_fraction,
                "resolution": getattr(resolution, "__name__", None) if resolution else None}
    return KineticsResult(time_s=values, distributions=tuple(dists), series=series,
                          species=species, rate_fit=rate_fit, onset=onset, settings=settings)
