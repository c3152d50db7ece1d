"""The result of a Monte Carlo size analysis and the histograms made from it.

The sizes are those of the shape's size parameter (``SizeDistribution.model`` names the shape
and its fixed parameters; results stored before shapes existed are spheres); volumes are the
shape's (:meth:`FormFactor.volume_nm3`).

Every repetition's contributions are kept, so histograms over any range, binning or weighting
are recomputed without refitting (MCSAS3.md §4):

* volume weighting: h_j = phi_c * #{c in bin j} per repetition (each contribution carries the
  same volume fraction phi_c = A / (drho^2 1e-21));
* number weighting: n_j = sum_{c in bin j} phi_c / V_c (number density, 1/cm^3 for absolute
  data) and its fraction n_j / sum n;
* mean and sample standard deviation (ddof = 1) over repetitions;
* observability (McSAS, Bressler et al. 2015): per contribution the volume fraction at which it
  alone would reach the uncertainty at some q, min_q sigma(q) / (drho^2 1e-21 K(q, s_c)),
  K = V P of the shape;
  per bin the mean over its contributions, then the maximum over repetitions. A bin whose
  volume fraction is below it is not supported by the data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from saxs.errors import InputError
from saxs.models.constants import NM3_TO_CM3
from saxs.models.formfactor import FormFactor
from saxs.models.registry import form_factor

#: The shape of results written before shapes were stored.
SPHERE_MODEL = {"model": "sphere", "size_parameter": "radius_nm", "parameters": {}}
SCALES = ("log", "linear")
WEIGHTINGS = ("volume", "number")


@dataclass(frozen=True, eq=False)
class Histogram:
    """A histogram of a :class:`SizeDistribution` (means and std over repetitions)."""

    bin_edges_nm: np.ndarray
    weighting: str
    volume_fraction: np.ndarray
    volume_fraction_std: np.ndarray
    number_density: np.ndarray
    number_density_std: np.ndarray
    number_fraction: np.ndarray
    number_fraction_std: np.ndarray
    observability: np.ndarray
    moments: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def bin_centers_nm(self) -> np.ndarray:
        """Geometric centres for log bins, arithmetic for linear ones."""
        e = self.bin_edges_nm
        ratio = e[1:] / e[:-1]
        if np.allclose(ratio, ratio[0]):
            return np.sqrt(e[1:] * e[:-1])
        return 0.5 * (e[1:] + e[:-1])

    @property
    def values(self) -> np.ndarray:
        """The histogram in its weighting (volume fraction or number fraction)."""
        return self.volume_fraction if self.weighting == "volume" else self.number_fraction

    @property
    def values_std(self) -> np.ndarray:
        """Standard deviation of :attr:`values` over repetitions."""
        return (self.volume_fraction_std if self.weighting == "volume"
                else self.number_fraction_std)


def _std(values: np.ndarray) -> np.ndarray:
    return np.std(values, axis=0, ddof=1 if values.shape[0] > 1 else 0)


@dataclass(frozen=True, eq=False)
class SizeDistribution:
    """Contributions of every repetition, fit statistics and the fitted data."""

    radii_nm: np.ndarray
    scale: np.ndarray
    background: np.ndarray
    chi2_r: np.ndarray
    steps: np.ndarray
    accepted: np.ndarray
    converged: np.ndarray
    model_sum: np.ndarray
    q: np.ndarray
    intensity: np.ndarray
    sigma: np.ndarray
    radius_range_nm: tuple[float, float]
    contrast_per_cm2: float
    intensity_unit: str = "1/cm"
    seed: int = 0
    config: dict[str, Any] = field(default_factory=dict)
    sample: str = ""
    porod: np.ndarray | None = None
    model: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.model is None:
            object.__setattr__(self, "model", dict(SPHERE_MODEL))
        if self.porod is None:
            object.__setattr__(self, "porod", np.zeros(self.scale.size))
        if self.radii_nm.ndim != 2 or self.radii_nm.shape[0] != self.scale.size:
            raise InputError("SizeDistribution.radii_nm must be (n_rep, n_contrib) and match "
                             "scale")
        for name in ("radii_nm", "scale", "background", "porod", "chi2_r", "model_sum", "q",
                     "intensity", "sigma", "converged", "steps", "accepted"):
            array = np.array(getattr(self, name), copy=True)
            array.flags.writeable = False
            object.__setattr__(self, name, array)

    @property
    def form(self) -> FormFactor:
        """The particle shape of the sizes (rebuilt from :attr:`model`)."""
        cached = self.__dict__.get("_form")
        if cached is None:
            cached = form_factor(self.model)
            object.__setattr__(self, "_form", cached)
        return cached

    @property
    def size_parameter(self) -> str:
        """Name of the size parameter of the contributions (e.g. "radius_nm")."""
        return str(self.model.get("size_parameter", "radius_nm"))

    def kernel(self, sizes_nm: np.ndarray) -> np.ndarray:
        """K(q, s) = V P (nm^3) of the shape at the fitted q, (n_sizes, n_q).

        Sizes inside the fitted range come from the Monte Carlo's form-factor table (error
        < 1e-5 of the local envelope), others are evaluated directly.
        """
        from saxs.models.table import form_factor_table  # noqa: PLC0415

        sizes = np.atleast_1d(np.asarray(sizes_nm, dtype=np.float64))
        table = form_factor_table(self.form, self.q, self.radius_range_nm)
        lo, hi = table.size_range_nm
        inside = (sizes >= lo) & (sizes <= hi)
        out = np.empty((sizes.size, self.q.size))
        if inside.any():
            out[inside] = table.interpolate(sizes[inside])
        if (~inside).any():
            out[~inside] = self.form.intensity(self.q, sizes[~inside])
        return out

    @property
    def n_rep(self) -> int:
        """Number of repetitions."""
        return int(self.radii_nm.shape[0])

    @property
    def volume_fraction_per_contribution(self) -> np.ndarray:
        """phi_c of each repetition (n_rep,)."""
        return self.scale / (self.contrast_per_cm2**2 * NM3_TO_CM3)

    @property
    def total_volume_fraction(self) -> tuple[float, float]:
        """Total volume fraction (mean, std over repetitions) over the whole radius range."""
        total = self.volume_fraction_per_contribution * self.radii_nm.shape[1]
        return float(total.mean()), float(_std(total[:, None])[0])

    @property
    def model_intensity(self) -> np.ndarray:
        """Fitted model A M(q) + b [+ c (q_min/q)^4] of each repetition (n_rep, n_q)."""
        porod = self.porod[:, None] * (self.q[0] / self.q[None, :]) ** 4
        return self.scale[:, None] * self.model_sum + self.background[:, None] + porod

    @property
    def model_mean(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean model curve and its std over repetitions."""
        model = self.model_intensity
        return model.mean(axis=0), model.std(axis=0)

    @property
    def all_converged(self) -> bool:
        """True if every repetition reached the convergence criterion."""
        return bool(self.converged.all())

    def bin_edges(self, bins: int | np.ndarray, scale: str,
                  range_nm: tuple[float, float] | None) -> np.ndarray:
        """Bin edges in nm: explicit edges, or ``bins`` log/linear bins over ``range_nm``."""
        if isinstance(bins, np.ndarray | list | tuple):
            edges = np.asarray(bins, dtype=np.float64)
            if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
                raise InputError("histogram bins must be increasing edges (at least 2)")
            return edges
        if scale not in SCALES:
            raise InputError(f"histogram scale {scale!r} is not one of {SCALES}")
        if not isinstance(bins, int) or bins < 1:
            raise InputError(f"histogram bins must be a positive integer, got {bins!r}")
        lo, hi = range_nm if range_nm is not None else self.radius_range_nm
        if not 0 < lo < hi:
            raise InputError(f"histogram range_nm must satisfy 0 < min < max, got {range_nm}")
        return np.geomspace(lo, hi, bins + 1) if scale == "log" else np.linspace(lo, hi, bins + 1)

    def _observability(self, edges: np.ndarray) -> np.ndarray:
        n_bins = edges.size - 1
        per_rep = np.full((self.n_rep, n_bins), np.nan)
        factor = self.contrast_per_cm2**2 * NM3_TO_CM3
        centres = np.sqrt(edges[1:] * edges[:-1])
        for r in range(self.n_rep):
            radii = self.radii_nm[r]
            index = np.digitize(radii, edges) - 1
            sizes = np.concatenate([radii, centres])
            owner = np.concatenate([index, np.arange(n_bins)])
            empty = np.ones(n_bins, dtype=bool)
            empty[index[(index >= 0) & (index < n_bins)]] = False
            use = (owner >= 0) & (owner < n_bins)
            use[radii.size:] = empty
            with np.errstate(divide="ignore"):
                need = np.min(self.sigma[None, :] / (factor * self.kernel(sizes[use])), axis=1)
            need[~np.isfinite(need) | (need < 0)] = np.inf
            sums = np.bincount(owner[use], weights=need, minlength=n_bins)
            counts = np.bincount(owner[use], minlength=n_bins)
            per_rep[r] = sums / counts
        return np.nanmax(per_rep, axis=0)

    def _moments(self, lo: float, hi: float) -> dict[str, tuple[float, float]]:
        phi = self.volume_fraction_per_contribution
        rows = []
        for r in range(self.n_rep):
            x = self.radii_nm[r][(self.radii_nm[r] >= lo) & (self.radii_nm[r] <= hi)]
            if x.size == 0:
                rows.append([0.0, np.nan, np.nan, np.nan, np.nan])
                continue
            mu, var = x.mean(), x.var()
            sd = math.sqrt(var) if var > 0 else np.nan
            rows.append([phi[r] * x.size, mu, var, np.mean((x - mu) ** 3) / sd**3,
                         np.mean((x - mu) ** 4) / sd**4])
        table = np.array(rows)
        names = ("total_volume_fraction", "mean_nm", "variance_nm2", "skew", "kurtosis")
        out = {}
        for k, name in enumerate(names):
            column = table[:, k][np.isfinite(table[:, k])]
            if column.size == 0:
                out[name] = (math.nan, math.nan)
                continue
            spread = float(np.std(column, ddof=1)) if column.size > 1 else 0.0
            out[name] = (float(column.mean()), spread)
        return out

    def histogram(self, bins: int | np.ndarray = 40, scale: str = "log",
                  range_nm: tuple[float, float] | None = None,
                  weighting: str = "volume") -> Histogram:
        """Histogram of the contributions, recomputed from the stored radii (no refit).

        Parameters
        ----------
        bins : int or array
            Number of bins, or the edges in nm.
        scale : {"log", "linear"}
        range_nm : (float, float), optional
            Default: the fitted radius range.
        weighting : {"volume", "number"}
            Which fraction :attr:`Histogram.values` gives; both are always computed.
        """
        if weighting not in WEIGHTINGS:
            raise InputError(f"histogram weighting {weighting!r} is not one of {WEIGHTINGS}")
        edges = self.bin_edges(bins, scale, range_nm)
        phi = self.volume_fraction_per_contribution
        vol = np.empty((self.n_rep, edges.size - 1))
        num = np.empty_like(vol)
        for r in range(self.n_rep):
            radii = self.radii_nm[r]
            vol[r] = phi[r] * np.histogram(radii, edges)[0]
            per_number = phi[r] / (self.form.volume_nm3(radii) * NM3_TO_CM3)
            num[r] = np.histogram(radii, edges, weights=per_number)[0]
        totals = num.sum(axis=1, keepdims=True)
        frac = np.divide(num, totals, out=np.zeros_like(num), where=totals > 0)
        return Histogram(
            bin_edges_nm=edges, weighting=weighting, volume_fraction=vol.mean(axis=0),
            volume_fraction_std=_std(vol), number_density=num.mean(axis=0),
            number_density_std=_std(num), number_fraction=frac.mean(axis=0),
            number_fraction_std=_std(frac), observability=self._observability(edges),
            moments=self._moments(edges[0], edges[-1]))


_ARRAYS = ("radii_nm", "scale", "background", "porod", "chi2_r", "steps", "accepted",
           "model_sum", "q", "intensity", "sigma")
_PREFIX = "mc_"


def distribution_to_items(dist: SizeDistribution) -> dict[str, Any]:
    """Flat name -> array/JSON items for storage beside the curve (``write_curve(extra=)``).

    Every repetition's contributions are stored, so histograms can be redone from the file.
    """
    items: dict[str, Any] = {_PREFIX + name: np.asarray(getattr(dist, name)) for name in _ARRAYS}
    items[_PREFIX + "converged"] = np.asarray(dist.converged, dtype=np.int8)
    items[_PREFIX + "info"] = {
        "radius_range_nm": list(dist.radius_range_nm), "contrast_per_cm2": dist.contrast_per_cm2,
        "intensity_unit": dist.intensity_unit, "seed": dist.seed, "config": dist.config,
        "sample": dist.sample, "model": dist.model}
    return items


def distribution_from_items(items: dict[str, Any], source: str = "") -> SizeDistribution:
    """Inverse of :func:`distribution_to_items`."""
    missing = [_PREFIX + n for n in (*_ARRAYS, "converged", "info") if _PREFIX + n not in items]
    if missing:
        raise InputError(f"{source}: no Monte Carlo result stored (missing {missing[0]}); run "
                         "saxs mc on the curve first")
    info = items[_PREFIX + "info"]
    arrays = {name: np.atleast_1d(np.asarray(items[_PREFIX + name])) for name in _ARRAYS}
    arrays["radii_nm"] = np.atleast_2d(arrays["radii_nm"])
    arrays["model_sum"] = np.atleast_2d(arrays["model_sum"])
    return SizeDistribution(
        **arrays, converged=np.atleast_1d(np.asarray(items[_PREFIX + "converged"])).astype(bool),
        radius_range_nm=tuple(info["radius_range_nm"]),
        contrast_per_cm2=float(info["contrast_per_cm2"]), intensity_unit=info["intensity_unit"],
        seed=int(info["seed"]), config=dict(info["config"]), sample=info.get("sample", ""),
        model=info.get("model"))
