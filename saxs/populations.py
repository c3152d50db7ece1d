"""Populations in a Monte Carlo size distribution: significant peaks of the volume histogram.

Local maxima of the mean volume-weighted histogram (log bins) that stand significantly above
zero and above the observability limit are merged across valleys
that are not significant: while the shallowest valley between two neighbouring peaks dips less
than ``significance`` times the combined repetition spread (valley bin and the lower peak),
the two are one peak (so a broad population sampled by many noisy bins stays one population).
A population is a merged peak that

* rises above the valleys on both sides by more than ``significance`` times the repetition
  spread (ddof = 1 std over repetitions) of the peak bin and the valley bins combined, and
* lies above the observability limit (MCSAS3.md §4): otherwise the data do not support it.

Radii below pi / q_max are left out by default: there the data carry no size information and
the Monte Carlo parks a little volume that acts as a flat background (MCSAS3.md §8). A thin
tail at large radii fails the significance test. Each population is the range between the
valleys around its peak (split at the centre of a valley bin); its radius (mode,
volume-weighted mean), width (volume-weighted std) and volume fraction are computed per
repetition from the contributions in that range, and reported as mean and std over repetitions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from saxs.curve import fields_dict
from saxs.errors import InputError
from saxs.sizedist import SizeDistribution


@dataclass(frozen=True)
class Population:
    """One population of a size distribution (lengths in nm)."""

    mode_nm: float
    mean_nm: float
    mean_err_nm: float
    width_nm: float
    width_err_nm: float
    volume_fraction: float
    volume_fraction_err: float
    range_nm: tuple[float, float]
    significance: float

    def to_dict(self) -> dict:
        """JSON-ready fields (what result files and reports store)."""
        return fields_dict(self)


def _descend(values: np.ndarray, start: int, step: int) -> int:
    """Walk from ``start`` in direction ``step`` while the values do not rise."""
    k = start
    while 0 <= k + step < values.size and values[k + step] <= values[k]:
        k += step
    return k


def _merge_groups(values: np.ndarray, spread: np.ndarray, candidates: list[int],
                  significance: float) -> list[list[int]]:
    """Group local maxima separated by valleys shallower than ``significance`` x noise."""
    groups = [[c] for c in candidates]
    while len(groups) > 1:
        worst, worst_score = None, math.inf
        for k in range(len(groups) - 1):
            left, right = groups[k], groups[k + 1]
            valley = left[-1] + int(np.argmin(values[left[-1]:right[0] + 1]))
            tops = [max(g, key=lambda j: values[j]) for g in (left, right)]
            lower = min(tops, key=lambda j: values[j])
            noise = math.hypot(spread[lower], spread[valley])
            dip = values[lower] - values[valley]
            score = dip / noise if noise > 0 else math.inf
            if score < worst_score:
                worst, worst_score = k, score
        if worst_score >= significance:
            break
        groups[worst:worst + 2] = [groups[worst] + groups[worst + 1]]
    return groups


def _bounds(values: np.ndarray, groups: list[list[int]], k: int) -> tuple[int, int]:
    group = groups[k]
    if k > 0:
        left = groups[k - 1][-1] + int(np.argmin(values[groups[k - 1][-1]:group[0] + 1]))
    else:
        left = _descend(values, group[0], -1)
    if k < len(groups) - 1:
        right = group[-1] + int(np.argmin(values[group[-1]:groups[k + 1][0] + 1]))
    else:
        right = _descend(values, group[-1], 1)
    return left, right


def find_populations(dist: SizeDistribution, *, bins: int = 40,
                     range_nm: tuple[float, float] | None = None,
                     significance: float = 3.0) -> list[Population]:
    """The significant populations of ``dist`` (see the module docstring), smallest first."""
    if range_nm is None:
        range_nm = (max(dist.radius_range_nm[0], math.pi / float(dist.q[-1])),
                    dist.radius_range_nm[1])
    if not 0 < range_nm[0] < range_nm[1]:
        raise InputError(f"find_populations: range_nm must satisfy 0 < min < max, got {range_nm}")
    hist = dist.histogram(bins=bins, scale="log", range_nm=range_nm)
    values, spread = hist.volume_fraction, hist.volume_fraction_std
    # local maxima that stand significantly above zero and above the observability limit
    candidates = [j for j in range(values.size)
                  if values[j] > max(significance * spread[j], hist.observability[j])
                  and (j == 0 or values[j] >= values[j - 1])
                  and (j == values.size - 1 or values[j] > values[j + 1])]
    groups = _merge_groups(values, spread, candidates, significance)
    found: list[Population] = []
    for k, group in enumerate(groups):
        peak = max(group, key=lambda j: values[j])
        left, right = _bounds(values, groups, k)
        rise = values[peak] - max(values[left], values[right])
        noise = math.hypot(spread[peak], max(spread[left], spread[right]))
        score = rise / noise if noise > 0 else math.inf
        if score < significance or values[peak] <= hist.observability[peak]:
            continue
        # a valley bin shared by two populations is split at its centre
        centers = hist.bin_centers_nm
        lo = hist.bin_edges_nm[0] if left == 0 else centers[left]
        hi = hist.bin_edges_nm[-1] if right == values.size - 1 else centers[right]
        found.append(_describe(dist, lo, hi, float(hist.bin_centers_nm[peak]), score))
    return found


def _describe(dist: SizeDistribution, lo: float, hi: float, mode: float,
              score: float) -> Population:
    phi_c = dist.volume_fraction_per_contribution
    means, widths, fractions = [], [], []
    for r in range(dist.n_rep):
        radii = dist.radii_nm[r]
        inside = radii[(radii >= lo) & (radii < hi)]
        fractions.append(phi_c[r] * inside.size)
        if inside.size:
            means.append(inside.mean())
            widths.append(inside.std())

    def stat(values: list[float]) -> tuple[float, float]:
        if not values:
            return math.nan, math.nan
        return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0

    (mean, mean_err), (width, width_err), (phi, phi_err) = stat(means), stat(widths), \
        stat(fractions)
    return Population(mode_nm=mode, mean_nm=mean, mean_err_nm=mean_err, width_nm=width,
                      width_err_nm=width_err, volume_fraction=phi, volume_fraction_err=phi_err,
                      range_nm=(float(lo), float(hi)), significance=float(score))
