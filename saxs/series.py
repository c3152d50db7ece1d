"""Populations tracked across a series: quantized (magic-size) steps versus continuous growth.

``saxs.find_quantized_steps(distributions, variable=[...])`` finds the populations of every
distribution (:func:`saxs.populations.find_populations`) and links them along the ordered
variable (nucleation temperature, reaction time...).

Tolerance. Two radii belong to the same species when they differ by less than
``n_sigma`` times their combined repetition spread, or less than half a histogram bin (the
resolution at which populations are located), whichever is larger. The tolerance used for every
comparison is stored with the track it decided.

Narrow and broad. Magic-size clusters are near-monodisperse (relative width 1-2 %, SCIENCE.md);
a Monte Carlo reconstruction broadens a single species to a few per cent, more the noisier the
curve. A population whose volume-weighted relative width is at most ``max_quantized_rel_width``
is *narrow* (a candidate magic-size species). A wider one is narrow too if it is at most
``resolution_factor`` times the reconstruction's resolution at its radius, given by the caller
as ``resolution(dist, population) -> relative width`` (this module runs no fit):
:func:`saxs.montecarlo.monodisperse_width` is the width the same Monte Carlo gives a simulated
monodisperse curve with the same q, sigma, volume fraction and background (a 1.5 %-wide species
reconstructs to 1.0-1.6 times that width in the shipped scenario at its flux and at 10x less).
Others are *broad* (regular nanocrystals).

Shoulders. Two species closer than the reconstruction's width come out as one broadened,
shifted population. When a narrow population contains the radius of a species seen in the
previous sample but is significantly broader and shifted, it is split, per repetition, into that
known species (same radius and width) plus one new species, from the first two moments of the
contributions in the population's range::

    a = mean - r1,  e = var - w1^2,  f = e / (a^2 + e),  r2 = r1 + a + e / a

(f is the volume share of the known species). The split is kept only when 0 < f < 1, e > 0 and
r2 differs from r1 by more than the tolerance.

Tracks and classes. A track is *quantized* when its members are narrow and their radii agree
within the tolerance (its volume fraction may change), *continuous* when it is a run of broad
populations whose radius increases (or decreases) monotonically beyond the tolerance from one
sample to the next while the width does not shrink, *other* otherwise.

Events. ``step``: a quantized species disappears and another appears between two consecutive
samples; ``shoulder``: a new quantized species appears while another one continues;
``continuous_onset``: the first sample of a continuous track. Quantized species are assigned to
magic-size families in order (:func:`saxs.sizing.assign_families`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from saxs.errors import InputError
from saxs.populations import Population, find_populations
from saxs.series_findings import SeriesEvent, SeriesFindings, Track, TrackPoint
from saxs.sizedist import SizeDistribution
from saxs.sizing import DEFAULT_FAMILIES, Family, assign_families

#: ``resolution(dist, population) -> relative width`` of a monodisperse species at that size.
Resolution = Callable[[SizeDistribution, Population], float]


def _check_series(distributions: Sequence[SizeDistribution], variable: Sequence[float],
                  samples: Sequence[str] | None) -> tuple[np.ndarray, tuple[str, ...]]:
    if len(distributions) == 0:
        raise InputError("find_quantized_steps: the series is empty; give at least one "
                         "SizeDistribution")
    values = np.asarray(variable, dtype=np.float64)
    if values.ndim != 1 or values.size != len(distributions):
        raise InputError(f"find_quantized_steps: {len(distributions)} distributions but "
                         f"{values.size} values of the variable; give one value per distribution")
    if not np.all(np.isfinite(values)) or np.any(np.diff(values) <= 0):
        raise InputError(f"find_quantized_steps: the variable must be finite and strictly "
                         f"increasing (sort the series), got {values.tolist()}")
    for k, dist in enumerate(distributions):
        if not isinstance(dist, SizeDistribution):
            raise InputError(f"find_quantized_steps: item {k} is a {type(dist).__name__}, "
                             "not a SizeDistribution")
        if dist.n_rep == 0 or dist.radii_nm.size == 0:
            raise InputError(f"find_quantized_steps: distribution {k} "
                             f"({dist.sample or 'unnamed'}) has no contributions")
    names = tuple(samples) if samples is not None else tuple(
        d.sample or f"#{k}" for k, d in enumerate(distributions))
    if len(names) != len(distributions):
        raise InputError(f"find_quantized_steps: {len(names)} sample names for "
                         f"{len(distributions)} distributions")
    return values, names


@dataclass
class _Open:
    """A track being built."""

    points: list[TrackPoint]
    narrow: list[bool]
    tolerance_nm: float = 0.0
    ranges: list[tuple[float, float]] = field(default_factory=list)


class _Linker:
    """Links the populations of consecutive samples into tracks (module docstring)."""

    def __init__(self, n_sigma: float, half_bin: float, max_rel_width: float,
                 resolution_factor: float, resolution: Resolution | None) -> None:
        self.n_sigma, self.half_bin, self.max_rel_width = n_sigma, half_bin, max_rel_width
        self.resolution_factor, self.resolution = resolution_factor, resolution
        self.tracks: list[_Open] = []
        self.active: list[_Open] = []
        self.shoulders: list[tuple[int, _Open, _Open]] = []

    def tolerance(self, a: TrackPoint, b: TrackPoint) -> float:
        """Same-species tolerance between two members (nm)."""
        resolution = self.half_bin * max(a.radius_nm, b.radius_nm)
        return max(self.n_sigma * math.hypot(a.radius_err_nm, b.radius_err_nm), resolution)

    def narrow(self, point: TrackPoint) -> bool:
        return point.width_nm <= point.narrow_limit_rel * point.radius_nm

    def _limit(self, dist: SizeDistribution, pop: Population) -> float:
        limit = self.max_rel_width
        if (pop.width_nm > limit * pop.mean_nm and self.resolution_factor > 0
                and self.resolution is not None):
            limit = max(limit, self.resolution_factor * float(self.resolution(dist, pop)))
        return limit

    def add_sample(self, index: int, dist: SizeDistribution, variable: float,
                   pops: Sequence[Population]) -> None:
        previous, self.active = self.active, []
        for pop in pops:
            point = replace(_point(index, variable, pop), narrow_limit_rel=self._limit(dist, pop))
            if self.narrow(point) and self._split(index, dist, pop, point, previous):
                continue
            self._link(point, previous, pop.range_nm)

    def _append(self, track: _Open, point: TrackPoint, tol: float,
                range_nm: tuple[float, float]) -> None:
        track.points.append(point)
        track.narrow.append(self.narrow(point))
        track.ranges.append(range_nm)
        track.tolerance_nm = max(track.tolerance_nm, tol)
        self.active.append(track)

    def _new(self, point: TrackPoint, range_nm: tuple[float, float]) -> _Open:
        track = _Open([], [])
        self.tracks.append(track)
        self._append(track, point, self.tolerance(point, point), range_nm)
        return track

    def _link(self, point: TrackPoint, previous: list[_Open],
              range_nm: tuple[float, float]) -> _Open:
        free = [t for t in previous if t not in self.active]
        best, best_gap = None, math.inf
        for track in free:
            last = track.points[-1]
            gap = abs(last.radius_nm - point.radius_nm)
            tol = self.tolerance(last, point)
            same = gap <= tol and track.narrow[-1] == self.narrow(point)
            growing = (not track.narrow[-1] and not self.narrow(point)
                       and _overlap(track.ranges[-1], range_nm))
            if (same or growing) and gap < best_gap:
                best, best_gap, best_tol = track, gap, tol
        if best is None:
            return self._new(point, range_nm)
        self._append(best, point, best_tol, range_nm)
        return best

    def _split(self, index: int, dist: SizeDistribution, pop: Population, point: TrackPoint,
               previous: list[_Open]) -> bool:
        options = []
        for track in previous:
            last = track.points[-1]
            if track in self.active or not track.narrow[-1]:
                continue
            if not pop.range_nm[0] <= last.radius_nm < pop.range_nm[1]:
                continue
            if point.width_nm - last.width_nm <= self.n_sigma * math.hypot(
                    point.width_err_nm, last.width_err_nm):
                continue
            parts = _split_population(index, dist, pop, last, point.variable)
            if parts is None:
                continue
            known, new = (replace(part, narrow_limit_rel=point.narrow_limit_rel)
                          for part in parts)
            if abs(new.radius_nm - known.radius_nm) <= self.tolerance(known, new):
                continue
            links = any(t is not track and abs(t.points[-1].radius_nm - new.radius_nm)
                        <= self.tolerance(t.points[-1], new) for t in previous)
            options.append((not links, track, known, new))
        if not options:
            return False
        _, track, known, new = min(options, key=lambda o: o[0])
        self._append(track, known, self.tolerance(track.points[-1], known), pop.range_nm)
        before = {id(t) for t in self.tracks}
        target = self._link(new, previous, pop.range_nm)
        if id(target) not in before:
            self.shoulders.append((index, track, target))
        return True


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _point(index: int, variable: float, pop: Population) -> TrackPoint:
    return TrackPoint(index, float(variable), pop.mean_nm, pop.mean_err_nm, pop.width_nm,
                      pop.width_err_nm, pop.volume_fraction, pop.volume_fraction_err)


def _stats(values: list[float]) -> tuple[float, float]:
    arr = np.asarray(values, dtype=np.float64)
    return float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else 0.0


def _split_population(index: int, dist: SizeDistribution, pop: Population, known: TrackPoint,
                      variable: float) -> tuple[TrackPoint, TrackPoint] | None:
    """Known species + one new species from the first two moments, per repetition."""
    lo, hi = pop.range_nm
    r1, w1 = known.radius_nm, known.width_nm
    shares, radii, phi_known, phi_new = [], [], [], []
    for r in range(dist.n_rep):
        radii_r = dist.radii_nm[r]
        inside = radii_r[(radii_r >= lo) & (radii_r < hi)]
        if inside.size < 2:
            return None
        a = float(inside.mean()) - r1
        excess = float(inside.var()) - w1**2
        if excess <= 0 or a == 0:
            return None
        f = excess / (a * a + excess)
        phi = dist.volume_fraction_per_contribution[r] * inside.size
        shares.append(f)
        radii.append(r1 + a + excess / a)
        phi_known.append(f * phi)
        phi_new.append((1 - f) * phi)
    f_mean, _ = _stats(shares)
    if not 0 < f_mean < 1:
        return None
    (r2, r2_err), (pk, pk_err), (pn, pn_err) = _stats(radii), _stats(phi_known), \
        _stats(phi_new)
    first = TrackPoint(index, variable, r1, known.radius_err_nm, w1, known.width_err_nm, pk,
                       pk_err, split=True, assumed=True)
    second = TrackPoint(index, variable, r2, r2_err, w1 * r2 / r1, known.width_err_nm, pn,
                        pn_err, split=True)
    return first, second


def _monotonic(track: _Open, linker: _Linker) -> bool:
    pts = track.points
    if len(pts) < 2:
        return False
    moves = np.diff([p.radius_nm for p in pts])
    beyond = all(abs(m) > linker.tolerance(a, b)
                 for m, (a, b) in zip(moves, itertools.pairwise(pts), strict=True))
    one_way = bool(np.all(moves > 0) or np.all(moves < 0))
    widths = np.diff([p.width_nm for p in pts])
    errs = [linker.n_sigma * math.hypot(a.width_err_nm, b.width_err_nm)
            for a, b in itertools.pairwise(pts)]
    return beyond and one_way and all(dw >= -e for dw, e in zip(widths, errs, strict=True))


def _classify(track: _Open, linker: _Linker) -> str:
    if all(track.narrow):
        radii = [p.radius_nm for p in track.points]
        span_ok = all(abs(r - radii[0]) <= linker.tolerance(track.points[0], p)
                      for r, p in zip(radii, track.points, strict=True))
        if span_ok:
            return "quantized"
    if not any(track.narrow) and _monotonic(track, linker):
        return "continuous"
    return "other"


def _events(tracks: list[Track], opens: list[_Open], linker: _Linker,
            values: np.ndarray) -> list[SeriesEvent]:
    events: list[SeriesEvent] = []
    kinds = {id(o): t for o, t in zip(opens, tracks, strict=True)}
    shoulder_new = {id(new) for _, _, new in linker.shoulders}
    for index, old, new in linker.shoulders:
        t_old, t_new = kinds[id(old)], kinds[id(new)]
        if t_new.kind == "quantized":
            events.append(SeriesEvent("shoulder", float(values[index - 1]), float(values[index]),
                                      t_old.radius_nm, t_new.radius_nm))
    for k in range(1, values.size):
        ended = [t for t in tracks if t.kind == "quantized" and t.points[-1].index == k - 1]
        started = [t for o, t in zip(opens, tracks, strict=True) if t.kind == "quantized"
                   and t.points[0].index == k and id(o) not in shoulder_new]
        if ended and started:
            events.append(SeriesEvent("step", float(values[k - 1]), float(values[k]),
                                      ended[-1].radius_nm, started[0].radius_nm))
    for t in tracks:
        if t.kind == "continuous":
            first = t.points[0].index
            before = float(values[first - 1]) if first > 0 else float(values[first])
            events.append(SeriesEvent("continuous_onset", before, float(values[first]),
                                      None, t.points[0].radius_nm))
    return sorted(events, key=lambda e: (e.variable_to, e.kind))


def find_quantized_steps(distributions: Sequence[SizeDistribution], variable: Sequence[float],
                         *, variable_name: str = "variable",
                         samples: Sequence[str] | None = None, bins: int = 80,
                         significance: float = 3.0, n_sigma: float = 3.0,
                         max_quantized_rel_width: float = 0.06,
                         resolution_factor: float = 2.0,
                         resolution: Resolution | None = None,
                         families: Sequence[Family] | None = DEFAULT_FAMILIES
                         ) -> SeriesFindings:
    """Track populations across a series and tell quantized steps from continuous growth.

    Parameters
    ----------
    distributions : sequence of SizeDistribution
        One per sample, in the order of ``variable``.
    variable : sequence of float
        Strictly increasing (temperature, time...); ``variable_name`` names it in reports.
    bins, significance : int, float
        Passed to :func:`saxs.populations.find_populations` (log bins over the
        distribution's observable radius range).
    n_sigma : float
        Radii within ``n_sigma`` combined repetition spreads (or half a bin) are the same.
    max_quantized_rel_width, resolution_factor : float
        A population is narrow (a magic-size candidate) if its relative width (volume-weighted
        std / mean) is at most ``max_quantized_rel_width``, or at most ``resolution_factor``
        times the Monte Carlo's resolution at its radius, ``resolution(dist, population)``
        (0 or no ``resolution`` turns this off).
    resolution : callable or None
        Relative width of a monodisperse species in the reconstruction of ``dist`` at the size
        of ``population``: pass :func:`saxs.montecarlo.monodisperse_width` (it runs a Monte
        Carlo for each population wider than ``max_quantized_rel_width``).
    families : sequence of Family or None
        Family table for the quantized species (None: no assignment).
    """
    values, names = _check_series(distributions, variable, samples)
    if bins < 4:
        raise InputError(f"find_quantized_steps: bins must be >= 4, got {bins}")
    linker = None
    populations = []
    for k, dist in enumerate(distributions):
        lo = max(dist.radius_range_nm[0], math.pi / float(dist.q[-1]))
        hi = dist.radius_range_nm[1]
        half_bin = 0.5 * ((hi / lo) ** (1.0 / bins) - 1.0)
        if linker is None:
            linker = _Linker(n_sigma, half_bin, max_quantized_rel_width, resolution_factor,
                             resolution)
        linker.half_bin = max(linker.half_bin, half_bin)
        pops = find_populations(dist, bins=bins, significance=significance)
        populations.append(tuple(pops))
        linker.add_sample(k, dist, float(values[k]), pops)
    tracks = [Track(_classify(o, linker), tuple(o.points), o.tolerance_nm)
              for o in linker.tracks]
    tracks = _assign(tracks, families)
    events = _events(tracks, linker.tracks, linker, values)
    settings = {"bins": bins, "significance": significance, "n_sigma": n_sigma,
                "half_bin_relative": linker.half_bin,
                "max_quantized_rel_width": max_quantized_rel_width,
                "resolution_factor": resolution_factor,
                "resolution": getattr(resolution, "__name__", None) if resolution else None,
                "tolerance_rule": f"max({n_sigma:g} x hypot(radius errors), "
                                  f"{linker.half_bin:.4f} x radius)"}
    return SeriesFindings(variable_name, tuple(float(v) for v in values), names,
                          tuple(populations), tuple(tracks), tuple(events), settings)


def _assign(tracks: list[Track], families: Sequence[Family] | None) -> list[Track]:
    quantized = sorted((t for t in tracks if t.kind == "quantized"), key=lambda t: t.radius_nm)
    if not families or not quantized or len(quantized) > len(families):
        return tracks
    diameters = [2 * t.radius_nm for t in quantized]
    if np.any(np.diff(diameters) <= 0):
        return tracks
    matches = assign_families(diameters, families)
    assigned = {id(t): a for t, a in zip(quantized, matches, strict=True)}
    return [Track(t.kind, t.points, t.tolerance_nm, assigned.get(id(t))) for t in tracks]
