"""Parametric fits of curves with lmfit: ``saxs.fit_curve(curve, model, params)``.

The models are :class:`lmfit.Model` objects built on the physics layer (:mod:`saxs.models`), so
they compose with ``+`` and ``*`` and users add their own :class:`lmfit.Model` the usual way.
Units: q in 1/nm, lengths in nm, intensities in the curve's unit (1/cm for the absolute
population models).

* :func:`model`: a population of particles of any shape (built-in or sasmodels, see
  :func:`saxs.models.formfactor.form_factor`) with a Gaussian, log-normal or Schulz size
  distribution, or monodisperse: phi drho^2 1e-21 sum_j w_j K(q, R_j) (1/cm), evaluated by
  :func:`saxs.models.distributions.species_intensity`;
* ``spheres_gaussian``: spheres, Gaussian number density of R (volume_fraction, radius_nm,
  sigma_nm);
* ``spheres_lognormal``: the same for a log-normal number density (volume_fraction,
  median_nm, sigma_ln);
* ``guinier``: I0 exp(-q^2 Rg^2 / 3) (Guinier 1939) (i0, rg_nm);
* ``porod``: scale q^-exponent (scale, exponent);
* ``lorentzian_peak``: height / (1 + ((q - center) / (fwhm / 2))^2) (height, center_nm, fwhm_nm);
* ``gaussian_peak``: height exp(-4 ln2 (q - center)^2 / fwhm^2) (height, center_nm, fwhm_nm);
* ``flat``: level.

Resolution: when the curve has a q resolution (:attr:`saxs.Curve.q_resolution`), :func:`fit_curve`
compares the data with the model smeared by the pinhole resolution (:class:`PinholeSmearing`).
"""

from __future__ import annotations

import inspect
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import lmfit
import numpy as np

from saxs.curve import Curve
from saxs.errors import InputError
from saxs.models.constants import DEFAULT_CONTRAST_PER_CM2
from saxs.models.distributions import Species, species_intensity, spheres_intensity
from saxs.models.formfactor import FormFactor
from saxs.models.registry import form_factor, known_models

logger = logging.getLogger(__name__)

_LN2 = math.log(2.0)
#: Size distributions of :func:`model` (None: monodisperse).
DISTRIBUTIONS = ("gaussian", "lognormal", "schulz")
#: Upper bound of rel_width per distribution: sd/mean 1 (Gaussian, truncated at R > 0), sigma of
#: ln R 1.5 (log-normal; wider ones need more radius nodes than the quadrature allows at high
#: q), sd/mean < 1 (Schulz, z > 0).
WIDTH_MAX = {"gaussian": 1.0, "lognormal": 1.5, "schulz": 0.99}
#: Smallest size parameter an lmfit bound allows when the shape's own bound is 0, nm.
MIN_SIZE_NM = 1e-3


# --------------------------------------------------------------------------- population models


class PopulationFunction:
    """I(q) of one population of particles, the function inside :func:`model`'s lmfit.Model.

    Picklable (the shape is stored by name and parameters). Called as ``f(q, **parameters)``
    with the parameters listed by :attr:`parameter_names`; the shape's fixed parameters are
    parameters too: when a fit frees one, the form factor is rebuilt for each new value (the
    last one is cached).

    Parameters
    ----------
    form : FormFactor
        The shape with its fixed parameters (their starting values).
    distribution : {"gaussian", "lognormal", "schulz"} or None
        Size distribution of the size parameter (None: monodisperse).
    weighting : {"number", "volume"}
        Whether the distribution is the number- or volume-weighted density.
    """

    def __init__(self, form: FormFactor, distribution: str | None, weighting: str = "number"):
        self.form = form
        self.distribution = distribution
        self.weighting = weighting
        self.__name__ = f"{form.label}_{distribution or 'monodisperse'}"
        self._cached = (self._key(form.parameters), form)

    @property
    def size_parameter(self) -> str:
        """Name of the size parameter, e.g. "radius_nm"."""
        return self.form.size_parameter

    @property
    def homogeneous(self) -> bool:
        """True when the user supplies the contrast (the shape has no SLD parameters)."""
        return self.form.contrast_per_cm2 is None

    @property
    def fixed_names(self) -> tuple[str, ...]:
        """The shape's fixed parameters (exposed as lmfit parameters, vary=False by default)."""
        return tuple(self.form.parameters)

    @property
    def parameter_names(self) -> list[str]:
        """volume_fraction, the size parameter, rel_width, contrast_per_cm2, fixed ones."""
        names = ["volume_fraction", self.size_parameter]
        if self.distribution is not None:
            names.append("rel_width")
        if self.homogeneous:
            names.append("contrast_per_cm2")
        return names + list(self.fixed_names)

    @property
    def __signature__(self) -> inspect.Signature:
        # lmfit reads the parameter names from the signature (inspect.signature).
        kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
        return inspect.Signature([inspect.Parameter("q", kind)]
                                 + [inspect.Parameter(n, kind, default=1.0)
                                    for n in self.parameter_names])

    def _key(self, values: Mapping[str, Any]) -> tuple[float, ...]:
        return tuple(float(values[n]) for n in self.form.parameters)

    def form_for(self, values: Mapping[str, Any]) -> FormFactor:
        """The shape with the fixed parameters in ``values`` (rebuilt only when they change)."""
        key = self._key(values)
        if key != self._cached[0]:
            spec = {**self.form.to_dict(),
                    "parameters": dict(zip(self.fixed_names, key, strict=True))}
            self._cached = (key, form_factor(spec))
        return self._cached[1]

    def species(self, values: Mapping[str, Any]) -> Species:
        """The :class:`Species` described by the parameter ``values``."""
        width = float(values.get("rel_width", 0.0)) if self.distribution else 0.0
        shape = self.distribution if width > 0 else "delta"
        return Species(float(values[self.size_parameter]), float(values["volume_fraction"]),
                       width if width > 0 else 0.0, shape, self.weighting,
                       model=self.form_for(values))

    def __call__(self, q: Any, **values: float) -> np.ndarray:
        contrast = values.get("contrast_per_cm2") if self.homogeneous else None
        return species_intensity(q, self.species(values), contrast)

    def describe(self) -> dict[str, Any]:
        """JSON-ready description: shape, fixed parameters, distribution, weighting."""
        return {**self.form.to_dict(), "distribution": self.distribution or "none",
                "weighting": self.weighting}


def _distribution(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "delta",
                                                                               "monodisperse")):
        return None
    if value not in DISTRIBUTIONS:
        raise InputError(f"distribution must be one of {list(DISTRIBUTIONS)} or 'none' "
                         f"(monodisperse), got {value!r}")
    return str(value)


def _form(model_name: str | FormFactor, fixed: Mapping[str, Any]) -> FormFactor:
    if isinstance(model_name, FormFactor) or not isinstance(model_name, str):
        return form_factor(model_name, **fixed)
    known = known_models()
    name = model_name.strip()
    if name in known or name.startswith("sasmodels:"):
        return form_factor(name, **fixed)
    try:
        return form_factor(name, **fixed)
    except ModuleNotFoundError as exc:
        raise InputError(f"unknown model {name!r}; the built-in shapes are {known} and "
                         f"{sorted(ANALYTIC)} (sasmodels names need saxs.models.bridge: "
                         f"{exc})") from None
    except InputError as exc:
        if "unknown parameter" in str(exc) or "required" in str(exc):
            raise
        raise InputError(f"{exc} (built-in shapes: {', '.join(known)}; analytic models: "
                         f"{', '.join(sorted(ANALYTIC))}; or any sasmodels 1-D model name)"
                         ) from None


def model(model: str | FormFactor, distribution: str | None = "lognormal", prefix: str = "",
          contrast_per_cm2: float = DEFAULT_CONTRAST_PER_CM2, *, weighting: str = "number",
          **fixed: Any) -> lmfit.Model:
    """The lmfit model of a population of particles of any shape with a size distribution.

    I(q) = phi drho^2 1e-21 sum_j w_j K(q, R_j) in 1/cm (:func:`species_intensity`), with K = V P
    of the shape in nm^3, phi the volume fraction and w_j the quadrature weights of the size
    distribution (:meth:`Species.radius_grid`).

    Parameters
    ----------
    model : str or FormFactor
        A built-in shape ("sphere", "core_shell_sphere", "cylinder", ...; see
        :func:`saxs.models.known_models`), any sasmodels 1-D model name, a built
        :class:`FormFactor`, or one of the analytic models ("guinier", "porod", "flat",
        "lorentzian_peak", "gaussian_peak"; these take neither a distribution nor fixed
        parameters).
    distribution : {"lognormal", "gaussian", "schulz", None, "none"}
        Distribution of the size parameter: "gaussian" and "schulz" with mean R and
        rel_width = sd / mean (< 1 for Schulz); "lognormal" with median R and rel_width = sigma
        of ln R; None / "none": monodisperse (no rel_width parameter).
    prefix : str
        lmfit prefix of the parameter names (to combine several populations).
    contrast_per_cm2 : float
        Particle-solvent contrast drho for homogeneous shapes, 1/cm^2 (an lmfit parameter
        with vary=False). Shapes with SLD parameters (core-shell sphere, sasmodels models) have
        no contrast parameter: their SLDs are fixed parameters.
    weighting : {"number", "volume"}
        Whether the distribution is the number- or the volume-weighted density.
    **fixed
        The shape's fixed parameters (``length_nm=20``, SLDs in 1e-6/A^2, ...). Each is also an
        lmfit parameter with vary=False and the shape's bounds: set ``params[name].vary =
        True`` to fit it (the form factor is then rebuilt at every new value).

    Returns
    -------
    lmfit.Model
        Parameters (before ``prefix``): ``volume_fraction`` (0 <= phi <= 1), the size
        parameter (its name, e.g. ``radius_nm``, > 0, nm), ``rel_width`` (>= 0, at most
        :data:`WIDTH_MAX`), ``contrast_per_cm2`` (homogeneous shapes, fixed), the fixed shape
        parameters. Picklable.

    Raises
    ------
    InputError
        Unknown model (the message lists the known ones), unknown or missing fixed parameter,
        unknown distribution.

    Examples
    --------
    >>> m = model("cylinder", "lognormal", length_nm=20.0)      # doctest: +SKIP
    >>> params = m.make_params(volume_fraction=1e-3, radius_nm=2.0, rel_width=0.1)
    """
    if isinstance(model, str) and model.strip() in ANALYTIC:
        if fixed:
            raise InputError(f"model {model!r} takes no fixed parameters, got {sorted(fixed)}")
        return ANALYTIC[model.strip()](prefix=prefix)
    dist = _distribution(distribution)
    if weighting not in ("number", "volume"):
        raise InputError(f"weighting must be 'number' or 'volume', got {weighting!r}")
    form = _form(model, fixed)
    function = PopulationFunction(form, dist, weighting)
    result = lmfit.Model(function, independent_vars=["q"], prefix=prefix)
    size = form.size
    lower = size.lower if size.lower > 0 else MIN_SIZE_NM
    start = size.default if size.default is not None else max(1.0, lower)
    result.set_param_hint("volume_fraction", value=1e-3, min=0.0, max=1.0)
    result.set_param_hint(size.name, value=start, min=lower, max=size.upper)
    if dist is not None:
        result.set_param_hint("rel_width", value=0.1, min=0.0, max=WIDTH_MAX[dist])
    if function.homogeneous:
        result.set_param_hint("contrast_per_cm2", value=float(contrast_per_cm2), vary=False)
    specs = {spec.name: spec for spec in getattr(form, "PARAMETERS", ())}
    for name, value in form.parameters.items():
        spec = specs.get(name)
        result.set_param_hint(name, value=float(value), vary=False,
                              min=spec.lower if spec else -np.inf,
                              max=spec.upper if spec else np.inf)
    return result


# --------------------------------------------------------------------------- analytic models


def _spheres_gaussian(q, volume_fraction=1e-3, radius_nm=1.0, sigma_nm=0.1,
                      contrast_per_cm2=DEFAULT_CONTRAST_PER_CM2):
    rel = max(sigma_nm, 0.0) / radius_nm
    pop = Species(radius_nm, max(volume_fraction, 0.0), rel, "gaussian" if rel else "delta")
    return spheres_intensity(q, [pop], contrast_per_cm2)


def _spheres_lognormal(q, volume_fraction=1e-3, median_nm=1.0, sigma_ln=0.1,
                       contrast_per_cm2=DEFAULT_CONTRAST_PER_CM2):
    sig = max(sigma_ln, 0.0)
    pop = Species(median_nm, max(volume_fraction, 0.0), sig, "lognormal" if sig else "delta")
    return spheres_intensity(q, [pop], contrast_per_cm2)


def _guinier(q, i0=1.0, rg_nm=1.0):
    return i0 * np.exp(-(q * rg_nm) ** 2 / 3.0)


def _porod(q, scale=1e-3, exponent=4.0):
    return scale * q ** (-exponent)


def _lorentzian_peak(q, height=1.0, center_nm=1.0, fwhm_nm=0.1):
    return height / (1.0 + ((q - center_nm) / (0.5 * fwhm_nm)) ** 2)


def _gaussian_peak(q, height=1.0, center_nm=1.0, fwhm_nm=0.1):
    return height * np.exp(-4.0 * _LN2 * ((q - center_nm) / fwhm_nm) ** 2)


def _flat(q, level=0.0):
    return np.full_like(np.asarray(q, dtype=np.float64), level)


def _model(function, prefix: str, hints: dict[str, dict[str, Any]]) -> lmfit.Model:
    result = lmfit.Model(function, independent_vars=["q"], prefix=prefix)
    for name, hint in hints.items():
        result.set_param_hint(name, **hint)
    return result


def spheres_gaussian(prefix: str = "", contrast_per_cm2: float = DEFAULT_CONTRAST_PER_CM2
                     ) -> lmfit.Model:
    """Spheres, Gaussian number-weighted radii; the contrast is fixed (default CdSe in ODE).

    The same physics as ``model("sphere", "gaussian")`` with the width as an sd in nm.
    """
    return _model(_spheres_gaussian, prefix, {
        "volume_fraction": {"min": 0.0, "max": 1.0}, "radius_nm": {"min": 1e-3},
        "sigma_nm": {"min": 0.0}, "contrast_per_cm2": {"value": contrast_per_cm2,
                                                      "vary": False}})


def spheres_lognormal(prefix: str = "", contrast_per_cm2: float = DEFAULT_CONTRAST_PER_CM2
                      ) -> lmfit.Model:
    """Spheres, log-normal number-weighted radii (median, sigma of ln R)."""
    return _model(_spheres_lognormal, prefix, {
        "volume_fraction": {"min": 0.0, "max": 1.0}, "median_nm": {"min": 1e-3},
        "sigma_ln": {"min": 0.0, "max": 1.5}, "contrast_per_cm2": {"value": contrast_per_cm2,
                                                                  "vary": False}})


def guinier(prefix: str = "") -> lmfit.Model:
    """Guinier law (valid for q Rg < ~1.3)."""
    return _model(_guinier, prefix, {"i0": {"min": 0.0}, "rg_nm": {"min": 0.0}})


def porod(prefix: str = "") -> lmfit.Model:
    """Power law; exponent 4 is Porod's law for sharp interfaces."""
    return _model(_porod, prefix, {"scale": {"min": 0.0}, "exponent": {"value": 4.0}})


def lorentzian_peak(prefix: str = "") -> lmfit.Model:
    """A Lorentzian peak (Bragg peaks of mesophases)."""
    return _model(_lorentzian_peak, prefix, {"height": {"min": 0.0}, "fwhm_nm": {"min": 1e-6}})


def gaussian_peak(prefix: str = "") -> lmfit.Model:
    """A Gaussian peak."""
    return _model(_gaussian_peak, prefix, {"height": {"min": 0.0}, "fwhm_nm": {"min": 1e-6}})


def flat(prefix: str = "") -> lmfit.Model:
    """A flat background."""
    return _model(_flat, prefix, {})


#: Analytic models by name (accepted by :func:`model` and ``saxs fit --model``).
ANALYTIC: dict[str, Callable[..., lmfit.Model]] = {
    "guinier": guinier, "porod": porod, "flat": flat, "lorentzian_peak": lorentzian_peak,
    "gaussian_peak": gaussian_peak}


def describe_model(fit_model: lmfit.Model) -> list[dict[str, Any]]:
    """JSON-ready description of each component of an lmfit model (name, prefix, shape...)."""
    parts = getattr(fit_model, "components", None) or [fit_model]
    out = []
    for part in parts:
        item: dict[str, Any] = {"function": getattr(part.func, "__name__", str(part.func)),
                                "prefix": part.prefix}
        if isinstance(part.func, PopulationFunction):
            item.update(part.func.describe())
        out.append(item)
    return out


# --------------------------------------------------------------------------- resolution


#: The Gaussian resolution is truncated at +- this many standard deviations (and at q = 0),
#: then renormalised (see :class:`PinholeSmearing`).
SMEARING_CUTOFF_SD = (2.5, 3.0)
_SMEAR_GL_X, _SMEAR_GL_W = np.polynomial.legendre.leggauss(8)
#: Most evaluation nodes :func:`pinhole_smearing` will use.
MAX_SMEARING_NODES = 60_000


class PinholeSmearing:
    """Pinhole (Gaussian) resolution smearing of a model on a fixed q grid.

    The measured intensity at q_i is the model averaged over the resolution function,

        I_s(q_i) = integral R(q_i, q) I(q) dq / integral R(q_i, q) dq,

    with R a Gaussian of mean q_i and standard deviation dq_i: the Gaussian approximation of
    the pinhole resolution function of Pedersen, Posselt & Mortensen (1990), J. Appl. Cryst.
    23, 321. The integrals run over the window [max(q_i - a dq_i, 0), q_i + b dq_i] with
    (a, b) = ``cutoff_sd``, by default (2.5, 3) as in SasView / sasmodels (``Pinhole1D``), so
    that fits compare with theirs: a real collimation's resolution has compact support and only
    its core is Gaussian, and the Gaussian's far low-q tail would weigh in the steep forward
    scattering of large particles (on SasView's latex example, ``latex_smeared.xml``, a window
    of (3, 3) gives chi2_r 4 where (2.5, 3) gives 0.5). Renormalising over the window makes
    the smearing of a constant exact, and of a linear function exact wherever the window is
    symmetric (a = b and q_i >= a dq_i); the default window shifts the mean q by
    0.013 dq_i.

    Quadrature: one shared grid of composite 8-point Gauss-Legendre panels spans all windows;
    a panel starting at q is at most dq(q) / ``panels_per_sd`` wide, dq(q) being interpolated
    from the lower envelope of the points' dq (the smaller of each point's and its
    neighbours'). Panels inside a window use their Gauss-Legendre weights; the (at most two)
    panels cut by a window's ends are integrated on the covered part only, with the model
    represented by its degree-7 interpolating polynomial through the panel's nodes. The error is
    that of Gauss-Legendre quadrature of the model times the Gaussian on panels of width
    dq / ``panels_per_sd`` (it falls as the 16th power of the panel width for smooth models);
    how many panels a model needs depends on how fast it oscillates within dq, so
    :func:`pinhole_smearing` doubles ``panels_per_sd`` until two grids agree to ``rtol``. The
    model is evaluated once per call at all nodes. Points with dq = 0 are not smeared.

    Parameters
    ----------
    q_nm, dq_nm : array_like
        Points (1/nm) and their resolution (standard deviation, 1/nm, >= 0).
    panels_per_sd : float
        Panels per standard deviation of the resolution (> 0).
    cutoff_sd : float or (float, float)
        Window below and above q_i in standard deviations (one number: both).
    """

    def __init__(self, q_nm: Any, dq_nm: Any, panels_per_sd: float = 1.0,
                 cutoff_sd: float | tuple[float, float] = SMEARING_CUTOFF_SD) -> None:
        from scipy import sparse  # noqa: PLC0415

        q = np.asarray(q_nm, dtype=np.float64)
        dq = np.asarray(dq_nm, dtype=np.float64)
        if q.shape != dq.shape or q.ndim != 1:
            raise InputError(f"PinholeSmearing: q and dq must be 1-D of equal length, got "
                             f"{q.shape} and {dq.shape}")
        if not np.all(np.isfinite(dq)) or np.any(dq < 0):
            raise InputError("PinholeSmearing: dq must be finite and >= 0")
        low, high = (cutoff_sd, cutoff_sd) if np.isscalar(cutoff_sd) else cutoff_sd
        if not (float(low) > 0 and float(high) > 0 and float(panels_per_sd) > 0):
            raise InputError(f"PinholeSmearing: cutoff_sd and panels_per_sd must be > 0, got "
                             f"{cutoff_sd!r} and {panels_per_sd!r}")
        self.panels_per_sd = float(panels_per_sd)
        self.cutoff_sd = (float(low), float(high))
        smeared = np.flatnonzero(dq > 0)
        windows = np.column_stack([np.maximum(q - low * dq, 0.0), q + high * dq])[smeared]
        self._edges = self._panels(q[smeared], dq[smeared], windows)
        n_grid = (self._edges.size - 1) * _SMEAR_GL_X.size
        rows, cols, vals = [], [], []
        for i, (lo, hi) in zip(smeared, windows, strict=True):
            index, weight = self._row(lo, hi, q[i], dq[i])
            rows.append(np.full(index.size, i))
            cols.append(index)
            vals.append(weight / weight.sum())
        exact = np.flatnonzero(dq <= 0)
        rows.append(exact)
        cols.append(n_grid + np.arange(exact.size))
        vals.append(np.ones(exact.size))
        half = 0.5 * np.diff(self._edges)
        mid = 0.5 * (self._edges[1:] + self._edges[:-1])
        grid = (mid[:, None] + half[:, None] * _SMEAR_GL_X[None, :]).ravel()
        #: q (1/nm) at which the model is evaluated.
        self.nodes = np.concatenate([grid, q[exact]])
        self.matrix = sparse.csr_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
            shape=(q.size, self.nodes.size))

    def _panels(self, q: np.ndarray, dq: np.ndarray, windows: np.ndarray) -> np.ndarray:
        if q.size == 0:
            return np.zeros(1)
        envelope = dq.copy()
        envelope[1:] = np.minimum(envelope[1:], dq[:-1])
        envelope[:-1] = np.minimum(envelope[:-1], dq[1:])
        order = np.argsort(q)
        lo, hi = float(windows[:, 0].min()), float(windows[:, 1].max())
        edges = [lo]
        while edges[-1] < hi:
            width = float(np.interp(edges[-1], q[order], envelope[order])) / self.panels_per_sd
            edges.append(min(edges[-1] + width, hi))
            if (len(edges) - 1) * _SMEAR_GL_X.size > MAX_SMEARING_NODES:
                raise InputError(f"resolution smearing needs more than {MAX_SMEARING_NODES} "
                                 "nodes; the model oscillates too fast for its resolution (pass "
                                 "smearing=False, or a smaller q range)")
        return np.asarray(edges)

    def _row(self, lo: float, hi: float, q0: float, dq0: float
             ) -> tuple[np.ndarray, np.ndarray]:
        """Node indices and weights of integral_lo^hi G(q; q0, dq0) f(q) dq."""
        edges = self._edges
        first = max(int(np.searchsorted(edges, lo, side="right")) - 1, 0)
        last = min(int(np.searchsorted(edges, hi, side="left")) - 1, edges.size - 2)
        n = _SMEAR_GL_X.size
        index, weight = [], []
        for panel in range(first, last + 1):
            a, b = edges[panel], edges[panel + 1]
            c, d = max(a, lo), min(b, hi)
            if d <= c:
                continue
            half, mid = 0.5 * (d - c), 0.5 * (c + d)
            t = mid + half * _SMEAR_GL_X
            w = half * _SMEAR_GL_W * np.exp(-0.5 * ((t - q0) / dq0) ** 2)
            if c > a or d < b:  # cut panel: interpolate the model from the panel's nodes
                w = w @ _lagrange((2.0 * t - a - b) / (b - a))
            index.append(panel * n + np.arange(n))
            weight.append(w)
        return np.concatenate(index), np.concatenate(weight)

    def apply(self, values_at_nodes: Any) -> np.ndarray:
        """Smeared values at the points from model values at :attr:`nodes`."""
        return np.asarray(self.matrix @ np.asarray(values_at_nodes, dtype=np.float64))

    def __call__(self, function: Callable[[np.ndarray], Any]) -> np.ndarray:
        """Smeared ``function(q)`` at the points."""
        return self.apply(function(self.nodes))


def _lagrange(u: np.ndarray) -> np.ndarray:
    """Matrix L[m, k] = l_k(u_m): Lagrange basis of the Gauss-Legendre nodes on [-1, 1]."""
    x = _SMEAR_GL_X
    diff = u[:, None, None] - x[None, None, :]           # u_m - x_j
    denom = x[:, None] - x[None, :]                       # x_k - x_j
    np.fill_diagonal(denom, 1.0)
    factors = diff / denom[None, :, :]                     # (m, k, j)
    idx = np.arange(x.size)
    factors[:, idx, idx] = 1.0
    return np.prod(factors, axis=2)


def _disagreement(a: np.ndarray, b: np.ndarray) -> float:
    scale = np.abs(b) + 1e-300
    return float(np.max(np.abs(a - b) / scale)) if a.size else 0.0


def pinhole_smearing(q_nm: Any, dq_nm: Any, function: Callable[[np.ndarray], Any] | None = None,
                     *, rtol: float = 1e-6, panels_per_sd: float = 1.0,
                     cutoff_sd: float | tuple[float, float] = SMEARING_CUTOFF_SD
                     ) -> PinholeSmearing:
    """A :class:`PinholeSmearing` whose grid is fine enough for ``function``.

    Starting from ``panels_per_sd``, the panel density is doubled until the smeared
    ``function`` changes by less than ``rtol`` (relative, at every point) between two
    successive grids; the finer grid is returned. Without ``function`` the starting grid is
    returned.
    """
    current = PinholeSmearing(q_nm, dq_nm, panels_per_sd, cutoff_sd)
    if function is None:
        return current
    values = current(function)
    while True:
        finer = PinholeSmearing(q_nm, dq_nm, 2.0 * current.panels_per_sd, cutoff_sd)
        finer_values = finer(function)
        change = _disagreement(values, finer_values)
        if change <= rtol:
            return finer
        logger.debug("smearing grid %.3g panels/sd: change %.2e > %.1e; refining",
                     finer.panels_per_sd, change, rtol)
        current, values = finer, finer_values


# --------------------------------------------------------------------------- fitting


@dataclass(frozen=True, eq=False)
class FitResult:
    """The outcome of :func:`fit_curve`: best values with standard errors, and the model curve.

    ``model_curve`` holds the (smeared, if ``smeared``) best model at the fitted points, with
    the data's sigma. ``varied`` names the free parameters; ``model_description`` the model's
    components (:func:`describe_model`).
    """

    values: dict[str, float]
    errors: dict[str, float | None]
    chi2_r: float
    model_curve: Curve
    success: bool
    lmfit_result: Any
    varied: tuple[str, ...] = ()
    smeared: bool = False
    model_description: list[dict[str, Any]] = field(default_factory=list)

    def report(self) -> str:
        """lmfit's text report."""
        return lmfit.fit_report(self.lmfit_result)

    def to_items(self, prefix: str = "fit") -> dict[str, Any]:
        """Items for ``write_curve(..., extra=...)``: the fit as JSON plus the model curve.

        ``{prefix}``: model description, values, errors, varied names, chi2_r, number of
        points, smearing, q range (1/nm); ``{prefix}_q_nm`` and ``{prefix}_intensity``: the
        model curve (in the curve's intensity unit).
        """
        curve = self.model_curve
        summary = {"model": self.model_description, "values": self.values,
                   "errors": self.errors, "varied": list(self.varied), "chi2_r": self.chi2_r,
                   "n_points": len(curve), "smeared": self.smeared, "success": self.success,
                   "q_range_nm": [float(curve.q[0]), float(curve.q[-1])],
                   "intensity_unit": curve.intensity_unit}
        return {prefix: summary, f"{prefix}_q_nm": np.asarray(curve.q),
                f"{prefix}_intensity": np.asarray(curve.intensity)}


def _evaluator(model_: lmfit.Model, data: Curve, params: lmfit.Parameters, smearing: bool,
               rtol: float) -> tuple[Callable[[lmfit.Parameters], np.ndarray], bool]:
    """The function params -> model at the data points (smeared when asked and possible)."""
    dq = data.q_resolution
    if not smearing or dq is None or not np.any(dq > 0):
        return (lambda p: model_.eval(p, q=data.q)), False
    smear = pinhole_smearing(data.q, dq, lambda q: model_.eval(params, q=q), rtol=rtol)
    return (lambda p: smear.apply(model_.eval(p, q=smear.nodes))), True


def fit_curve(curve: Curve, model: lmfit.Model, params: lmfit.Parameters | None = None, *,
              q_range_nm: tuple[float | None, float | None] = (None, None),
              smearing: bool = True, smearing_rtol: float = 1e-5,
              **initial: float) -> FitResult:
    """Weighted least-squares fit of ``model`` to ``curve`` (weights 1/sigma) with lmfit.

    Parameters
    ----------
    curve : Curve
        The data; q in 1/nm.
    model : lmfit.Model
        E.g. ``saxs.fitting.model("sphere", "lognormal") + flat()``.
    params : lmfit.Parameters, optional
        Starting values; else ``model.make_params(**initial)`` (bounds from the model's
        parameter hints).
    q_range_nm : (float or None, float or None)
        Fit only the points in this q range (1/nm).
    smearing : bool
        When the curve has a q resolution (``curve.q_resolution``), compare the data with the
        model smeared by it (:class:`PinholeSmearing`; the quadrature grid is chosen at the
        starting parameters to ``smearing_rtol``). False: never smear.
    smearing_rtol : float
        Relative accuracy asked of the smearing quadrature.
    **initial
        Starting values by parameter name (``radius_nm=1.0``).

    Returns
    -------
    FitResult
        chi2_r = chi^2 / (N - n_varied); standard errors from the covariance (None when lmfit
        could not estimate them).
    """
    if not isinstance(model, lmfit.Model):
        raise InputError(f"fit_curve needs an lmfit.Model, got {type(model).__name__}")
    data = curve.select(*q_range_nm) if q_range_nm != (None, None) else curve
    if params is None:
        params = model.make_params(**initial)
    unknown = [k for k in initial if k not in params]
    if unknown:
        raise InputError(f"fit_curve: unknown parameter(s) {unknown}; the model has "
                         f"{list(params)}")
    varied = tuple(name for name, p in params.items() if p.vary and not p.expr)
    if len(data) <= len(varied):
        raise InputError(f"fit_curve: {len(data)} points for {len(varied)} free parameters")
    evaluate, smeared = _evaluator(model, data, params, smearing, smearing_rtol)
    weights = 1.0 / data.sigma

    def residual(p: lmfit.Parameters) -> np.ndarray:
        return (evaluate(p) - data.intensity) * weights

    try:
        result = lmfit.Minimizer(residual, params, nan_policy="raise").minimize("leastsq")
    except InputError as exc:
        raise InputError(f"fit_curve: the fit reached parameters where the model cannot be "
                         f"evaluated ({exc}); start closer to the answer or bound the "
                         "parameters (params[name].min / .max)") from None
    except ValueError as exc:
        raise InputError(f"fit_curve: the model gave invalid values ({exc}); check the "
                         "starting values and bounds") from None
    best = evaluate(result.params)
    model_curve = data.replace(intensity=best, sigma=data.sigma).with_step(
        "fit_curve", model=model.name, smeared=smeared,
        values={k: p.value for k, p in result.params.items()})
    return FitResult(values={k: float(p.value) for k, p in result.params.items()},
                     errors={k: (None if p.stderr is None else float(p.stderr))
                             for k, p in result.params.items()},
                     chi2_r=float(result.redchi), model_curve=model_curve,
                     success=bool(result.success), lmfit_result=result, varied=varied,
                     smeared=smeared, model_description=describe_model(model))


# --------------------------------------------------------------------------- simultaneous fits


@dataclass(frozen=True, eq=False)
class GlobalFitResult:
    """The outcome of :func:`fit_curves`: one :class:`FitResult` per curve and the shared names.

    ``fits[k].values`` / ``.errors`` are curve k's parameters under their model names (shared
    ones repeated in every curve); ``fits[k].chi2_r`` is curve k's chi^2 per point;
    ``chi2_r`` is the whole fit's chi^2 / (N - n_varied).
    """

    fits: tuple[FitResult, ...]
    shared: tuple[str, ...]
    chi2_r: float
    success: bool
    lmfit_result: Any

    @property
    def values(self) -> dict[str, float]:
        """The shared parameters' best values."""
        return {name: self.fits[0].values[name] for name in self.shared}

    @property
    def errors(self) -> dict[str, float | None]:
        """The shared parameters' standard errors."""
        return {name: self.fits[0].errors[name] for name in self.shared}

    def report(self) -> str:
        """lmfit's text report (per-curve parameters are named ``c<k>_<name>``)."""
        return lmfit.fit_report(self.lmfit_result)


def _local(k: int, name: str) -> str:
    return f"c{k}_{name}"


def _joint_parameters(params: list[lmfit.Parameters], shared: tuple[str, ...]
                      ) -> tuple[lmfit.Parameters, list[dict[str, str]]]:
    """One lmfit parameter set: shared names once (from curve 0), the others as c<k>_<name>."""
    joint = lmfit.Parameters()
    names: list[dict[str, str]] = []
    for k, pars in enumerate(params):
        mapping = {}
        for name, p in pars.items():
            if p.expr:
                raise InputError(f"fit_curves: parameter {name} of curve {k} is an expression "
                                 f"({p.expr}); tie parameters across curves with shared=")
            joint_name = name if name in shared else _local(k, name)
            mapping[name] = joint_name
            if name not in shared or k == 0:
                joint.add(joint_name, value=p.value, vary=p.vary, min=p.min, max=p.max)
        names.append(mapping)
    return joint, names


def _global_inputs(curves: list[Curve], models, params, shared: tuple[str, ...],
                   initial: dict[str, float]) -> tuple[list, list]:
    """One model and one parameter set per curve for :func:`fit_curves`, checked (the
    shared names in every set)."""
    if len(curves) < 1:
        raise InputError("fit_curves: give at least one curve")
    model_list = list(models) if isinstance(models, list | tuple) else [models] * len(curves)
    if len(model_list) != len(curves):
        raise InputError(f"fit_curves: {len(model_list)} models for {len(curves)} curves; "
                         "give one model, or one per curve")
    if params is None:
        params = [m.make_params(**initial) for m in model_list]
    elif len(params) != len(curves):
        raise InputError(f"fit_curves: {len(params)} parameter sets for {len(curves)} curves")
    for k, pars in enumerate(params):
        missing = [name for name in shared if name not in pars]
        if missing:
            raise InputError(f"fit_curves: shared parameter(s) {missing} not in curve {k}'s "
                             f"model (it has {list(pars)})")
    return model_list, list(params)


def fit_curves(curves: list[Curve], models: lmfit.Model | list[lmfit.Model],
               params: list[lmfit.Parameters] | None = None, *, shared: tuple[str, ...] = (),
               smearing: bool = True, smearing_rtol: float = 1e-5,
               **initial: float) -> GlobalFitResult:
    """Simultaneous weighted least-squares fit of several curves with shared parameters.

    A contrast-variation series (one particle, several solvents) or a dilution series: each
    curve has its model (one for all, or one per curve) and its own parameters, except the
    names in ``shared``, which are one parameter of the joint fit (its start, bounds and
    ``vary`` taken from the first curve's parameters).

    Parameters
    ----------
    curves : list of Curve
        The data (q in 1/nm); each smeared by its own q resolution when it has one.
    models : lmfit.Model or list of lmfit.Model
        One model for every curve, or one per curve (the shared names must exist in each).
    params : list of lmfit.Parameters, optional
        Starting values per curve; else ``model.make_params(**initial)`` for each.
    shared : tuple of str
        Parameter names common to all curves (e.g. ``("radius_nm", "rel_width")``).

    Returns
    -------
    GlobalFitResult
    """
    curves, shared = list(curves), tuple(shared)
    model_list, params = _global_inputs(curves, models, params, shared, initial)
    joint, names = _joint_parameters(params, shared)
    evaluators = [_evaluator(m, c, p, smearing, smearing_rtol)
                  for m, c, p in zip(model_list, curves, params, strict=True)]
    work = [p.copy() for p in params]
    n_points = sum(len(c) for c in curves)
    varied = tuple(name for name, p in joint.items() if p.vary)
    if n_points <= len(varied):
        raise InputError(f"fit_curves: {n_points} points for {len(varied)} free parameters")

    def per_curve(p: lmfit.Parameters) -> list[np.ndarray]:
        out = []
        for k, curve in enumerate(curves):
            for name, joint_name in names[k].items():
                work[k][name].value = p[joint_name].value
            out.append((evaluators[k][0](work[k]) - curve.intensity) / curve.sigma)
        return out

    try:
        result = lmfit.Minimizer(lambda p: np.concatenate(per_curve(p)), joint,
                                 nan_policy="raise").minimize("leastsq")
    except (InputError, ValueError) as exc:
        raise InputError(f"fit_curves: the fit reached parameters where a model cannot be "
                         f"evaluated ({exc}); start closer to the answer or bound the "
                         "parameters") from None
    residuals = per_curve(result.params)
    fits = []
    for k, curve in enumerate(curves):
        values = {name: float(result.params[j].value) for name, j in names[k].items()}
        errors = {name: (None if result.params[j].stderr is None
                         else float(result.params[j].stderr)) for name, j in names[k].items()}
        best = residuals[k] * curve.sigma + curve.intensity
        model_curve = curve.replace(intensity=best, sigma=curve.sigma).with_step(
            "fit_curves", model=model_list[k].name, smeared=evaluators[k][1],
            shared=list(shared), values=values)
        fits.append(FitResult(
            values=values, errors=errors, chi2_r=float(np.mean(residuals[k] ** 2)),
            model_curve=model_curve, success=bool(result.success), lmfit_result=result,
            varied=tuple(n for n, j in names[k].items() if j in varied),
            smeared=evaluators[k][1], model_description=describe_model(model_list[k])))
    return GlobalFitResult(fits=tuple(fits), shared=shared, chi2_r=float(result.redchi),
                           success=bool(result.success), lmfit_result=result)
