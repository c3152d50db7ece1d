"""McSAS-style Monte Carlo size distributions of spheres: ``saxs.monte_carlo``.

The chain runs compiled (:mod:`saxs_kernels.montecarlo`); this module prepares the data, checks
the configuration, and turns the stored contributions into histograms and moments without
refitting. Volume fractions are absolute when the curve is in 1/cm: with K_c = V_c P(q R_c) in
nm^3, I = A sum_c K_c + b gives each contribution the volume fraction
phi_c = A / (drho^2 * 1e-21 cm^3/nm^3).
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from saxs.curve import Curve
from saxs.errors import InputError
from saxs.simulate.models import DEFAULT_CONTRAST_PER_CM2 as CDSE_ODE_CONTRAST_PER_CM2
from saxs.sizedist import SizeDistribution

log = logging.getLogger(__name__)
BACKGROUND_MODES = ("fit", "positive", "fixed")
MIN_POINTS = 10


@dataclass(frozen=True)
class MCConfig:
    """Settings of a Monte Carlo size analysis (defaults as McSAS3's, MCSAS3.md §2).

    Parameters
    ----------
    radius_range_nm : (float, float) or "auto"
        Radius limits; "auto" is pi/q_max .. pi/q_min of the fitted data.
    n_contrib, n_rep : int
        Contributions per repetition and independent repetitions.
    conv_crit : float
        Stop a repetition at chi2_r <= conv_crit (chi2_r = chi^2 / N, as McSAS3).
    max_iter : int
        Step limit; a repetition that reaches it is flagged not converged.
    seed : int or None
        Repetition r uses seed + r (None: drawn once and recorded in the result).
    log_random : bool
        Log-uniform radius draws (default), else uniform.
    background : {"fit", "positive", "fixed"}
        Flat background fitted within +-|mean I|, within [0, |mean I|], or fixed at
        ``background_value``.
    q_range_nm : (float or None, float or None)
        Fitted q range.
    omit_q_ranges_nm : sequence of (lo, hi)
        q ranges left out (e.g. Bragg peaks).
    sigma_floor_rel : float
        Uncertainty floor: sigma = max(sigma, sigma_floor_rel * |I|).
    rebin : int
        0: fit the points as given; n > 0: rebin to n log-spaced bins first.
    contrast_per_cm2 : float
        Scattering-length-density contrast (default CdSe in ODE).
    porod_background : bool
        Add c (q_min / q)^4 with c >= 0 to the model (as McSAS3's fitPorodBackground).
    """

    radius_range_nm: tuple[float, float] | str = "auto"
    n_contrib: int = 300
    n_rep: int = 10
    conv_crit: float = 1.0
    max_iter: int = 100_000
    seed: int | None = None
    log_random: bool = True
    background: str = "fit"
    background_value: float = 0.0
    q_range_nm: tuple[float | None, float | None] = (None, None)
    omit_q_ranges_nm: tuple[tuple[float, float], ...] = ()
    sigma_floor_rel: float = 0.01
    rebin: int = 0
    contrast_per_cm2: float = CDSE_ODE_CONTRAST_PER_CM2
    porod_background: bool = False

    def __post_init__(self) -> None:
        self._check_int("n_contrib", 1)
        self._check_int("n_rep", 1)
        self._check_int("max_iter", 0)
        self._check_int("rebin", 0)
        for name in ("conv_crit", "contrast_per_cm2"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise InputError(f"MCConfig.{name} must be a positive number, got {value!r}")
        if not (math.isfinite(self.sigma_floor_rel) and self.sigma_floor_rel >= 0):
            raise InputError(f"MCConfig.sigma_floor_rel must be >= 0, got {self.sigma_floor_rel}")
        if self.background not in BACKGROUND_MODES:
            raise InputError(f"MCConfig.background {self.background!r} is not one of "
                             f"{BACKGROUND_MODES}")
        if self.seed is not None and (not isinstance(self.seed, int) or self.seed < 0):
            raise InputError(f"MCConfig.seed must be a non-negative integer or None, got "
                             f"{self.seed!r}")
        r = self.radius_range_nm
        if r != "auto":
            if (not isinstance(r, tuple | list) or len(r) != 2
                    or not all(isinstance(v, int | float) and math.isfinite(v) for v in r)
                    or not 0 < r[0] < r[1]):
                raise InputError(f"MCConfig.radius_range_nm must be 'auto' or (min, max) with "
                                 f"0 < min < max, got {r!r}")
            object.__setattr__(self, "radius_range_nm", (float(r[0]), float(r[1])))
        omit = tuple(tuple(float(v) for v in pair) for pair in self.omit_q_ranges_nm)
        if any(len(pair) != 2 or pair[0] >= pair[1] for pair in omit):
            raise InputError(f"MCConfig.omit_q_ranges_nm must be (lo, hi) pairs with lo < hi, "
                             f"got {self.omit_q_ranges_nm!r}")
        object.__setattr__(self, "omit_q_ranges_nm", omit)

    def _check_int(self, name: str, minimum: int) -> None:
        value = getattr(self, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise InputError(f"MCConfig.{name} must be an integer >= {minimum}, got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings."""
        return asdict(self)


@dataclass(frozen=True, eq=False)
class FitData:
    """The points the chain fits, after selection, omission, rebinning and the sigma floor."""

    q: np.ndarray
    intensity: np.ndarray
    sigma: np.ndarray
    steps: list[str] = field(default_factory=list)


def _log_rebin(q, intensity, sigma, n_bins: int):
    """McSAS3-style log rebinning (MCSAS3.md §3): bin means, sigma = max(propagated, SEM)."""
    edges = np.geomspace(q[0], q[-1], n_bins + 1)
    edges[-1] += 1e-3 * (edges[-1] - edges[-2])
    index = np.digitize(q, edges) - 1
    out_q, out_i, out_s = [], [], []
    for b in range(n_bins):
        sel = index == b
        n = int(sel.sum())
        if n == 0:
            continue
        prop = math.sqrt(float(np.sum(sigma[sel] ** 2))) / n
        sem = float(np.std(intensity[sel], ddof=1)) / math.sqrt(n) if n > 1 else 0.0
        out_q.append(float(q[sel].mean()))
        out_i.append(float(intensity[sel].mean()))
        out_s.append(max(prop, sem))
    return np.array(out_q), np.array(out_i), np.array(out_s)


def prepare_data(curve: Curve, config: MCConfig) -> FitData:
    """Select, omit, rebin and floor the data; refuse what cannot be fitted."""
    q, intensity, sigma = curve.q, curve.intensity, curve.sigma
    lo, hi = config.q_range_nm
    keep = np.ones(q.size, dtype=bool)
    if lo is not None:
        keep &= q >= lo
    if hi is not None:
        keep &= q <= hi
    for a, b in config.omit_q_ranges_nm:
        keep &= ~((q >= a) & (q < b))
    q, intensity, sigma = q[keep], intensity[keep], sigma[keep]
    steps = [(f"kept {q.size} of {curve.q.size} points (q range {config.q_range_nm}, omitted "
              f"{list(config.omit_q_ranges_nm)})")]
    if config.rebin and q.size:
        q, intensity, sigma = _log_rebin(q, intensity, sigma, config.rebin)
        steps.append(f"log-rebinned to {q.size} points")
    sigma = np.maximum(sigma, config.sigma_floor_rel * np.abs(intensity))
    if q.size < MIN_POINTS:
        raise InputError(f"{curve.metadata.get('sample', 'curve')}: only {q.size} usable points "
                         f"after MCConfig.q_range_nm / omit_q_ranges_nm; at least {MIN_POINTS} "
                         "are needed")
    if not np.all(sigma > 0):
        raise InputError("MCConfig.sigma_floor_rel: some points have sigma = 0 and I = 0; "
                         "give them an uncertainty")
    return FitData(q=q, intensity=intensity, sigma=sigma, steps=steps)


def radius_limits(data: FitData, config: MCConfig) -> tuple[float, float]:
    """The radius range, checked against what the q range can see (pi/q_max .. pi/q_min)."""
    visible = (math.pi / data.q[-1], math.pi / data.q[0])
    if config.radius_range_nm == "auto":
        return visible
    r_min, r_max = config.radius_range_nm
    if r_max <= visible[0] / 2 or r_min >= 2 * visible[1]:
        raise InputError(f"MCConfig.radius_range_nm = ({r_min}, {r_max}) nm lies outside what "
                         f"q = {data.q[0]:.4g}..{data.q[-1]:.4g} 1/nm can see "
                         f"(pi/q_max = {visible[0]:.3g} to pi/q_min = {visible[1]:.3g} nm)")
    if r_min < visible[0] or r_max > visible[1]:
        log.info("radius range %s nm extends beyond the visible %.3g..%.3g nm",
                 (r_min, r_max), *visible)
    return r_min, r_max


def monte_carlo(curve: Curve, config: MCConfig | None = None) -> SizeDistribution:
    """Fit a curve with polydisperse spheres by the McSAS Monte Carlo method.

    Returns every repetition's contributions, from which
    :meth:`SizeDistribution.histogram` builds histograms without refitting.
    """
    from saxs_kernels.montecarlo import run_repetitions  # noqa: PLC0415

    config = config or MCConfig()
    data = prepare_data(curve, config)
    r_min, r_max = radius_limits(data, config)
    seed = config.seed if config.seed is not None else int(
        np.random.SeedSequence().entropy % (2**62))
    mean_i = abs(float(np.mean(data.intensity)))
    bounds = {"fit": (-mean_i, mean_i), "positive": (0.0, mean_i),
              "fixed": (config.background_value, config.background_value)}[config.background]
    n_rep, n_c, n_q = config.n_rep, config.n_contrib, data.q.size
    radii = np.empty((n_rep, n_c))
    models = np.empty((n_rep, n_q))
    stats = np.empty((n_rep, 7))
    porod_term = (data.q[0] / data.q) ** 4
    run_repetitions(np.ascontiguousarray(data.q), np.ascontiguousarray(data.intensity),
                    np.ascontiguousarray(1.0 / data.sigma**2), r_min, r_max, config.log_random,
                    n_c, config.max_iter, config.conv_crit, bounds[0], bounds[1], seed,
                    bool(config.porod_background), porod_term, radii, models, stats)
    converged = stats[:, 5] > 0.5
    if not converged.all():
        log.warning("%d of %d repetitions stopped at max_iter = %d without reaching chi2_r <= "
                    "%g (best chi2_r %.3g); the uncertainties may be underestimated",
                    int((~converged).sum()), n_rep, config.max_iter, config.conv_crit,
                    float(stats[:, 2].min()))
    return SizeDistribution(
        radii_nm=radii, scale=stats[:, 0], background=stats[:, 1], porod=stats[:, 6],
        chi2_r=stats[:, 2],
        steps=stats[:, 3].astype(np.int64), accepted=stats[:, 4].astype(np.int64),
        converged=converged, model_sum=models, q=data.q, intensity=data.intensity,
        sigma=data.sigma, radius_range_nm=(r_min, r_max), contrast_per_cm2=config.contrast_per_cm2,
        intensity_unit=curve.intensity_unit, seed=seed, config=config.to_dict(),
        sample=str(curve.metadata.get("sample", "")))
