"""McSAS-style Monte Carlo size distributions of any particle shape: ``saxs.monte_carlo``.

The chain runs compiled (:mod:`saxs_kernels.montecarlo`) on a form-factor table built once per
(shape, q, size range) (:mod:`saxs.models.table`); this module prepares the data, checks the
configuration, and returns every repetition's contributions, from which histograms and moments
are made without refitting. Volume fractions are absolute when the curve is in 1/cm: with
K_c = V(s_c) P(q, s_c) in nm^3, I = A sum_c K_c + b gives each contribution the volume fraction
phi_c = A / (drho^2 * 1e-21 cm^3/nm^3), drho being the user's contrast for homogeneous shapes
and the shape's own reference contrast for shapes with SLD parameters.

:func:`monodisperse_width` gives the resolution of the reconstruction at a size (the width the
same Monte Carlo gives a monodisperse species), which series analysis uses to tell narrow
from broad populations.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from saxs.curve import Curve
from saxs.errors import InputError
from saxs.models.constants import DEFAULT_CONTRAST_PER_CM2 as CDSE_ODE_CONTRAST_PER_CM2
from saxs.models.formfactor import FormFactor
from saxs.models.registry import form_factor, known_models
from saxs.populations import Population, find_populations
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
        Limits of the size parameter (a radius for every built-in shape), nm; "auto" is
        pi/q_max .. pi/q_min of the fitted data.
    model : str, FormFactor or dict
        The particle shape: a built-in name ("sphere", "core_shell_sphere", "cylinder",
        "spheroid", "disc"), any 1-D sasmodels model name, a :class:`FormFactor`, or the dict
        of ``FormFactor.to_dict()``.
    model_parameters : dict
        Fixed parameters of the shape (e.g. ``{"length_nm": 20}``).
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
        Scattering-length-density contrast of homogeneous shapes (default CdSe in ODE);
        shapes with SLD parameters use their own reference contrast.
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
    model: str | FormFactor | dict = "sphere"
    model_parameters: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.model_parameters, dict):
            raise InputError(f"MCConfig.model_parameters must be a mapping of name to value, got "
                             f"{self.model_parameters!r}")
        object.__setattr__(self, "model_parameters", dict(self.model_parameters))
        self.form  # noqa: B018  (validates the shape and its parameters now)
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

    @property
    def form(self) -> FormFactor:
        """The particle shape with its fixed parameters."""
        if isinstance(self.model, FormFactor | dict):
            return form_factor(self.model, **self.model_parameters)
        if not isinstance(self.model, str):
            raise InputError(f"MCConfig.model must be a shape name or a FormFactor, got "
                             f"{self.model!r}")
        return form_factor(self.model, **self.model_parameters)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings (the shape as its name and fixed parameters)."""
        out = asdict(self) if not isinstance(self.model, FormFactor) else {
            f.name: getattr(self, f.name) for f in fields(self)}
        form = self.form
        if form.label in known_models():
            out["model"], out["model_parameters"] = form.label, dict(form.parameters)
        else:  # sasmodels shapes keep their size parameter
            out["model"], out["model_parameters"] = form.to_dict(), {}
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any], where: str = "MCConfig") -> MCConfig:
        """An MCConfig from JSON/YAML values (lists become tuples); unknown keys are errors."""
        if not isinstance(values, dict):
            raise InputError(f"{where}: expected a mapping of MCConfig fields, got {values!r}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InputError(f"{where}: unknown key(s) {unknown}; known: {sorted(known)}")
        clean = dict(values)
        for name in ("radius_range_nm", "q_range_nm"):
            if isinstance(clean.get(name), list):
                clean[name] = tuple(clean[name])
        if "omit_q_ranges_nm" in clean:
            clean["omit_q_ranges_nm"] = tuple(tuple(r) for r in clean["omit_q_ranges_nm"] or ())
        if clean.get("model_parameters") is None:
            clean.pop("model_parameters", None)
        return cls(**clean)


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
    negative = float(np.mean(intensity < 0))
    if negative > MAX_NEGATIVE_FRACTION or float(np.sum(intensity / sigma**2)) <= 0:
        raise InputError(f"{curve.metadata.get('sample', 'curve')}: {100 * negative:.0f} % of "
                         "the intensities are negative; particles cannot scatter that: check "
                         "the blank subtraction (solvent volume fraction, transmission) or fit "
                         "a smaller q range")
    return FitData(q=q, intensity=intensity, sigma=sigma, steps=steps)


#: A curve with more negative points than this is refused (over-subtracted or not a curve
#: of scattering particles); noise around zero at high q stays well below it.
MAX_NEGATIVE_FRACTION = 0.5


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
    """Fit a curve with polydisperse particles of one shape by the McSAS Monte Carlo method.

    Returns every repetition's contributions, from which
    :meth:`SizeDistribution.histogram` builds histograms without refitting.
    """
    from saxs.models.table import form_factor_table  # noqa: PLC0415
    from saxs_kernels.montecarlo import run_repetitions  # noqa: PLC0415

    config = config or MCConfig()
    form = config.form
    data = prepare_data(curve, config)
    r_min, r_max = radius_limits(data, config)
    table = form_factor_table(form, data.q, (r_min, r_max))
    seed = config.seed if config.seed is not None else int(
        np.random.SeedSequence().entropy % (2**62))
    mean_i = abs(float(np.mean(data.intensity)))
    bounds = {"fit": (-mean_i, mean_i), "positive": (0.0, mean_i),
              "fixed": (config.background_value, config.background_value)}[config.background]
    porod_term = (data.q[0] / data.q) ** 4
    radii, models, stats = run_repetitions(
        table, intensity=data.intensity, weight=1.0 / data.sigma**2, radius_range=(r_min, r_max),
        log_random=config.log_random, n_contrib=config.n_contrib, n_rep=config.n_rep,
        max_iter=config.max_iter, conv_crit=config.conv_crit, background_bounds=bounds,
        seed=seed, porod_term=porod_term if config.porod_background else None)
    if not stats.converged.all():
        log.warning("%d of %d repetitions stopped at max_iter = %d without reaching chi2_r <= "
                    "%g (best chi2_r %.3g); the uncertainties may be underestimated",
                    int((~stats.converged).sum()), config.n_rep, config.max_iter,
                    config.conv_crit, float(stats.chi2_r.min()))
    return SizeDistribution(
        radii_nm=radii, scale=stats.scale, background=stats.background, porod=stats.porod,
        chi2_r=stats.chi2_r, steps=stats.steps, accepted=stats.accepted,
        converged=stats.converged, model_sum=models, q=data.q, intensity=data.intensity,
        sigma=data.sigma, radius_range_nm=(r_min, r_max),
        contrast_per_cm2=form.resolve_contrast(config.contrast_per_cm2),
        intensity_unit=curve.intensity_unit, seed=seed, config=config.to_dict(),
        sample=str(curve.metadata.get("sample", "")), model=form.to_dict())


def monodisperse_width(dist: SizeDistribution, pop: Population, bins: int = 80) -> float:
    """Relative width the Monte Carlo of ``dist`` gives a monodisperse species like ``pop``.

    A curve of monodisperse particles of ``dist``'s shape (``pop``'s mean size and volume
    fraction, ``dist``'s mean background) on ``dist``'s q with ``dist``'s sigma and Gaussian
    noise of that sigma (seeded from ``dist.seed``) is reconstructed with ``dist``'s
    configuration; the relative width of the population found nearest to the size is the
    resolution there. Pass this function to :func:`saxs.find_quantized_steps` (``resolution=``).
    """
    from saxs.models.distributions import Species, species_intensity  # noqa: PLC0415

    form = dist.form
    species = Species(pop.mean_nm, min(max(pop.volume_fraction, 1e-12), 1.0), 0.0, "delta",
                      model=form)
    model = species_intensity(dist.q, [species], dist.contrast_per_cm2) + float(
        np.mean(dist.background))
    rng = np.random.default_rng(dist.seed + 104729)
    curve = Curve(dist.q, model + rng.normal(0.0, 1.0, dist.q.size) * dist.sigma, dist.sigma,
                  intensity_unit=dist.intensity_unit)
    config = MCConfig.from_dict(dict(dist.config), where="monodisperse_width")
    found = find_populations(monte_carlo(curve, config), bins=bins)
    if not found:
        return 0.0
    best = min(found, key=lambda p: abs(p.mean_nm - pop.mean_nm))
    return best.width_nm / best.mean_nm
