"""Absolute scattering cross-sections dSigma/dOmega(q) for simulation, in 1/cm.

q is in 1/nm, radii in nm, scattering length densities (SLD) in 1/cm^2 and intensities in 1/cm
(differential scattering cross-section per unit sample volume, per steradian). Every component
is a frozen dataclass with ``intensity(q_nm)`` accepting an array of any shape and returning an
array of that shape; :class:`SampleModel` sums components and is itself a component.

Components: :class:`Spheres` (populations of homogeneous spheres, :class:`Population`),
:class:`FlatBackground`, :class:`PowerLaw`, :class:`BraggPeak`, :class:`BroadPeak`,
:class:`KaptonWindow`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from saxs.errors import InputError
from saxs.units import (
    AVOGADRO,
    ELECTRON_RADIUS_CM,
    nm3_to_cm3,
    sld_per_a2_to_per_cm2,
    sphere_volume_nm3,
)
from saxs_kernels import sphere as sphere_kernels

# --- Contrast of CdSe nanocrystals in 1-octadecene (SCIENCE.md, "Numbers for physics-faithful
# simulation"): X-ray SLDs 42.3e-6 and 7.6e-6 1/A^2, contrast 34.7e-6 1/A^2 = 3.47e11 1/cm^2.
CDSE_SLD_PER_A2 = 42.3e-6
ODE_SLD_PER_A2 = 7.6e-6
CDSE_ODE_CONTRAST_PER_A2 = 34.7e-6
#: Default sphere-solvent contrast, CdSe in ODE, 1/cm^2.
DEFAULT_CONTRAST_PER_CM2 = sld_per_a2_to_per_cm2(CDSE_ODE_CONTRAST_PER_A2)

# Bulk properties behind those SLDs. CdSe: SCIENCE.md (5.82 g/cm^3, 82 electrons, 191.37 g/mol).
# ODE, C18H36: SCIENCE.md (0.789 g/cm^3); 144 electrons (18 x 6 + 36 x 1) and 252.48 g/mol
# (IUPAC standard atomic weights, C 12.011, H 1.008).
CDSE_DENSITY_G_CM3 = 5.82
CDSE_ELECTRONS_PER_FORMULA = 82
CDSE_MOLAR_MASS_G_MOL = 191.37
ODE_DENSITY_G_CM3 = 0.789
ODE_ELECTRONS_PER_FORMULA = 144
ODE_MOLAR_MASS_G_MOL = 252.48

SHAPES = ("gaussian", "lognormal", "delta")
WEIGHTINGS = ("number", "volume")
PEAK_SHAPES = ("lorentzian", "gaussian")

#: Gaussian radius densities are cut at mean +- this many sd (and below at GAUSSIAN_MIN_RADIUS_NM),
#: as in make_synthetic_spheres.py of the peer tools (the truncated density is the model).
GAUSSIAN_TRUNCATION_SD = 6.0
GAUSSIAN_MIN_RADIUS_NM = 1e-4
#: Log-normal densities are integrated over ln R in [mu_N - 8 sigma, mu_N + 6 sigma^2 + 8 sigma]
#: (mu_N: log-median of the number density): this covers the number (R^0), volume (R^3) and
#: low-q intensity (R^6) weighted densities to 8 sigma each, losing < 1e-15 of their mass.
LOGNORMAL_TRUNCATION_SIGMA = 8.0
#: q_max assumed by :meth:`Population.radius_grid` when none is given, 1/nm.
DEFAULT_Q_MAX_NM = 10.0
#: Upper limit of quadrature nodes per population (guards against absurd widths or q ranges).
MAX_RADIUS_NODES = 200_000

_GL_ORDER = 16
# Panel widths of the radius quadrature: at most _PANEL_SD standard deviations (sigma of ln R for
# log-normals) and at most _PANEL_PERIODS periods pi/q_max of the form factor's oscillation in R.
_PANEL_SD = 2.0
_PANEL_PERIODS = 2.0
_GL_X, _GL_W = np.polynomial.legendre.leggauss(_GL_ORDER)
_NM3_TO_CM3 = nm3_to_cm3(1.0)


# --------------------------------------------------------------------------- validation


def _real(owner: str, name: str, value: Any, *, minimum: float | None = None,
          positive: bool = False, maximum: float | None = None) -> float:
    """``value`` as a finite float, or InputError naming ``owner.name`` and the value."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{owner}.{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise InputError(f"{owner}.{name} must be finite, got {value!r}")
    if positive and number <= 0:
        raise InputError(f"{owner}.{name} must be > 0, got {value!r}")
    if minimum is not None and number < minimum:
        raise InputError(f"{owner}.{name} must be >= {minimum}, got {value!r}")
    if maximum is not None and number > maximum:
        raise InputError(f"{owner}.{name} must be <= {maximum}, got {value!r}")
    return number


def _choice(owner: str, name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise InputError(f"{owner}.{name} must be one of {allowed}, got {value!r}")
    return str(value)


_FINITE: dict[str, Any] = {}
_POSITIVE: dict[str, Any] = {"positive": True}
_NON_NEGATIVE: dict[str, Any] = {"minimum": 0.0}
_FRACTION: dict[str, Any] = {"minimum": 0.0, "maximum": 1.0}


def _set_reals(obj: Any, **rules: dict[str, Any]) -> None:
    """Validate and store float fields of a frozen dataclass: ``field=<rule>`` (_POSITIVE...)."""
    owner = type(obj).__name__
    for name, rule in rules.items():
        object.__setattr__(obj, name, _real(owner, name, getattr(obj, name), **rule))


def as_q_array(q_nm: Any) -> np.ndarray:
    """``q_nm`` as a float64 array (any shape), checked finite and >= 0 (q is a modulus, 1/nm)."""
    try:
        q = np.asarray(q_nm, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"q_nm must be numeric ({exc})") from None
    bad = ~np.isfinite(q) | (q < 0)
    if bad.any():
        first = q.ravel()[np.flatnonzero(bad.ravel())[0]]
        raise InputError(f"q_nm must be finite and >= 0; {int(bad.sum())} value(s) are not "
                         f"(first: {first}); mask or drop those points first")
    return q


# --------------------------------------------------------------------------- SLD helpers


def xray_sld_per_cm2(density_g_cm3: float, electrons_per_formula: float,
                     molar_mass_g_mol: float) -> float:
    """X-ray scattering length density rho_e r_e of a compound, 1/cm^2.

    rho_e = density * N_A * Z / M is the electron density (Z electrons per formula unit of
    molar mass M) and r_e the classical electron radius. Forward (Thomson) scattering with
    f = Z: the anomalous term f' is neglected, which matters near absorption edges (e.g. the
    Se K edge at 12.66 keV, X-ray Data Booklet, table 1-1).

    Examples
    --------
    >>> round(xray_sld_per_cm2(5.82, 82, 191.37) * 1e-16 * 1e6, 1)   # CdSe, 1e-6 1/A^2
    42.3
    """
    density = _real("xray_sld_per_cm2", "density_g_cm3", density_g_cm3, positive=True)
    electrons = _real("xray_sld_per_cm2", "electrons_per_formula", electrons_per_formula,
                      positive=True)
    molar_mass = _real("xray_sld_per_cm2", "molar_mass_g_mol", molar_mass_g_mol, positive=True)
    return density * AVOGADRO * electrons / molar_mass * ELECTRON_RADIUS_CM


# --------------------------------------------------------------------------- populations


@dataclass(frozen=True)
class Population:
    """Homogeneous spheres with a radius distribution.

    Parameters
    ----------
    radius_nm : float
        "gaussian": mean radius of the (untruncated) Gaussian; "lognormal": median radius
        exp(mu); "delta": the radius. > 0.
    volume_fraction : float
        Volume fraction phi of the spheres in the sample, in [0, 1].
    rel_width : float
        "gaussian": sd / mean (sd = rel_width * radius_nm); "lognormal": sigma of ln R
        (the density is exp(-(ln R - mu)^2 / (2 sigma^2)) / (R sigma sqrt(2 pi)),
        mu = ln(radius_nm), sigma = rel_width; for small sigma the relative sd is ~sigma).
        0 means monodisperse for every shape; "delta" requires 0.
    shape : {"gaussian", "lognormal", "delta"}
    weighting : {"number", "volume"}
        Whether the density described above is the number density N(R) or the volume-weighted
        density p_v(R) = N(R) V(R) / integral(N V). Irrelevant for monodisperse spheres.

    Notes
    -----
    Gaussian densities are truncated to [max(mean - 6 sd, 1e-4 nm), mean + 6 sd] (the
    truncated, renormalised density is the model, as in the peer script
    make_synthetic_spheres.py). Log-normal densities are truncated only where they are
    negligible (see ``LOGNORMAL_TRUNCATION_SIGMA``).
    """

    radius_nm: float
    volume_fraction: float
    rel_width: float = 0.0
    shape: str = "gaussian"
    weighting: str = "number"

    def __post_init__(self) -> None:
        _set_reals(self, radius_nm=_POSITIVE,
                   volume_fraction=_FRACTION,
                   rel_width=_NON_NEGATIVE)
        _choice("Population", "shape", self.shape, SHAPES)
        _choice("Population", "weighting", self.weighting, WEIGHTINGS)
        if self.shape == "delta" and self.rel_width != 0:
            raise InputError(f"Population.rel_width must be 0 for shape 'delta', got "
                             f"{self.rel_width!r}; use 'gaussian' or 'lognormal' for a width")

    @property
    def is_monodisperse(self) -> bool:
        """True for shape "delta" or a zero width."""
        return self.shape == "delta" or self.rel_width == 0

    def radius_grid(self, q_max_nm: float = DEFAULT_Q_MAX_NM) -> tuple[np.ndarray, np.ndarray]:
        """Quadrature nodes and normalised volume weights of the radius distribution.

        Composite 16-point Gauss-Legendre quadrature over the truncated support (in R for
        "gaussian", in ln R for "lognormal"), with panels no wider than two sd (two sigma of
        ln R) and spanning at most two periods pi/q_max of the form factor's oscillation in R.

        Parameters
        ----------
        q_max_nm : float
            Largest q at which the grid will be used, 1/nm. Up to it, sums
            sum_j w_j V_j P(q R_j) (and the moments) agree with the exact truncated integrals to
            better than 1e-12 relative (measured: ~1e-15 against scipy's adaptive quadrature
            and the analytic log-normal moments; <= 3e-13 against grids four times finer for
            log-normal sigma up to 0.5).

        Returns
        -------
        radii_nm, volume_weights : ndarray
            ``volume_weights`` = quadrature weight x volume-weighted density, summing to 1.
            A monodisperse population gives ([radius_nm], [1.0]).
        """
        if self.is_monodisperse:
            return np.array([self.radius_nm]), np.array([1.0])
        q_max = _real("Population.radius_grid", "q_max_nm", q_max_nm, minimum=0.0)
        if self.shape == "gaussian":
            edges, is_log = self._gaussian_panels(q_max), False
        else:
            edges, is_log = self._lognormal_panels(q_max), True
        half = 0.5 * np.diff(edges)
        mid = 0.5 * (edges[1:] + edges[:-1])
        t = (mid[:, None] + half[:, None] * _GL_X[None, :]).ravel()
        c = (half[:, None] * _GL_W[None, :]).ravel()
        log_density = self._log_volume_density(t)
        weights = c * np.exp(log_density - log_density.max())
        radii = np.exp(t) if is_log else t
        return radii, weights / weights.sum()

    def _gaussian_panels(self, q_max: float) -> np.ndarray:
        sd = self.rel_width * self.radius_nm
        lo = max(self.radius_nm - GAUSSIAN_TRUNCATION_SD * sd, GAUSSIAN_MIN_RADIUS_NM)
        hi = self.radius_nm + GAUSSIAN_TRUNCATION_SD * sd
        width = _PANEL_SD * sd
        if q_max > 0:
            width = min(width, _PANEL_PERIODS * math.pi / q_max)
        n = math.ceil((hi - lo) / width - 1e-9)
        self._check_nodes(n, q_max)
        return np.linspace(lo, hi, n + 1)

    def _lognormal_panels(self, q_max: float) -> np.ndarray:
        sigma = self.rel_width
        mu_n = self._log_median_number()
        lo = mu_n - LOGNORMAL_TRUNCATION_SIGMA * sigma
        hi = mu_n + 6.0 * sigma**2 + LOGNORMAL_TRUNCATION_SIGMA * sigma
        edges = [lo]
        while edges[-1] < hi:
            # Panel width w in ln R: w <= _PANEL_SD sigma, and R_end - R_start = R_start (e^w - 1)
            # <= _PANEL_PERIODS pi / q_max.
            width = _PANEL_SD * sigma
            if q_max > 0:
                r_start = math.exp(edges[-1])
                width = min(width, math.log1p(_PANEL_PERIODS * math.pi / (q_max * r_start)))
            edges.append(min(edges[-1] + width, hi))
            self._check_nodes(len(edges) - 1, q_max)
        return np.array(edges)

    def _check_nodes(self, n_panels: int, q_max: float) -> None:
        if n_panels * _GL_ORDER > MAX_RADIUS_NODES:
            raise InputError(f"{self}: integrating this distribution up to q = {q_max} 1/nm "
                             f"needs more than {MAX_RADIUS_NODES} radius nodes; use a narrower "
                             "distribution or a smaller q range")

    def _log_median_number(self) -> float:
        """mu of the number density of a log-normal population (ln of its median, nm)."""
        mu = math.log(self.radius_nm)
        return mu if self.weighting == "number" else mu - 3.0 * self.rel_width**2

    def _log_volume_density(self, t: np.ndarray) -> np.ndarray:
        """ln of the volume-weighted density (unnormalised) at the integration variable t."""
        if self.shape == "gaussian":
            sd = self.rel_width * self.radius_nm
            log_density = -0.5 * ((t - self.radius_nm) / sd) ** 2
            return log_density + 3.0 * np.log(t) if self.weighting == "number" else log_density
        # In u = ln R the number density of a log-normal is normal(mu_N, sigma); V ~ e^(3u).
        sigma = self.rel_width
        return -0.5 * ((t - self._log_median_number()) / sigma) ** 2 + 3.0 * t

    def volume_weighted_stats(self) -> tuple[float, float]:
        """Mean and standard deviation of the volume-weighted radius density, nm.

        For a log-normal number density (median m, sigma s) the volume-weighted density is
        log-normal with median m e^(3 s^2): mean m e^(3.5 s^2), sd = mean sqrt(e^(s^2) - 1).
        """
        radii, weights = self.radius_grid(q_max_nm=0.0)
        mean = float(np.sum(weights * radii))
        sd = float(np.sqrt(np.sum(weights * (radii - mean) ** 2)))
        return mean, sd

    def number_density_per_cm3(self) -> float:
        """Number of spheres per cm^3 of sample: phi / <V>_N = phi * integral(p_v(R) / V(R))."""
        radii, weights = self.radius_grid(q_max_nm=0.0)
        volume_cm3 = sphere_volume_nm3(radii) * _NM3_TO_CM3
        return float(self.volume_fraction * np.sum(weights / volume_cm3))


def spheres_intensity(q_nm: Any, populations: Population | Iterable[Population],
                      contrast_per_cm2: float = DEFAULT_CONTRAST_PER_CM2) -> np.ndarray:
    """Absolute intensity of populations of homogeneous spheres, 1/cm.

    I(q) = sum_pop phi drho^2 integral p_v(R) V(R) P(qR) dR, with P = [3(sin x - x cos x)/x^3]^2,
    x = qR, V in cm^3 and drho in 1/cm^2 (SCIENCE.md; e.g. Pedersen, J. S. (1997), Adv. Colloid
    Interface Sci. 70, 171). Evaluated directly at every q (no interpolation) with the radius
    quadrature of :meth:`Population.radius_grid` for q_max = max(q).

    Parameters
    ----------
    q_nm : array_like, any shape
        Scattering vector modulus, 1/nm, finite and >= 0.
    populations : Population or iterable of Population
    contrast_per_cm2 : float
        SLD difference between spheres and matrix, 1/cm^2 (default CdSe in ODE).

    Returns
    -------
    ndarray, shape of ``q_nm``
        Intensity in 1/cm. Accuracy: the kernel's (~1e-15 relative to the envelope of P) plus
        the radius quadrature's (< 1e-12 relative, see :meth:`Population.radius_grid`).
    """
    q = as_q_array(q_nm)
    pops = (populations,) if isinstance(populations, Population) else tuple(populations)
    contrast = _real("spheres_intensity", "contrast_per_cm2", contrast_per_cm2)
    flat = np.ascontiguousarray(q.ravel())
    q_max = float(flat.max()) if flat.size else 0.0
    total = np.zeros(flat.size)
    for pop in pops:
        if not isinstance(pop, Population):
            raise InputError(f"spheres_intensity: populations must be Population, got {pop!r}")
        radii, weights = pop.radius_grid(q_max_nm=q_max)
        total += (pop.volume_fraction * contrast**2 * _NM3_TO_CM3) * \
            sphere_kernels.polydisperse_sphere_intensity(flat, radii, weights)
    return total.reshape(q.shape)


# --------------------------------------------------------------------------- components


@runtime_checkable
class Component(Protocol):
    """Anything with ``intensity(q_nm) -> ndarray`` (1/cm, same shape as ``q_nm``)."""

    def intensity(self, q_nm: Any) -> np.ndarray:
        """Absolute intensity at ``q_nm``, 1/cm."""
        ...


class _Scalable:
    """Mixin: ``scaled(factor)`` wraps the component in a scaled :class:`SampleModel`."""

    def scaled(self, factor: float) -> SampleModel:
        """This component times ``factor`` (e.g. a displaced-volume fraction of the solvent)."""
        return SampleModel((self,), scale=factor)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Spheres(_Scalable):
    """Homogeneous spheres: :func:`spheres_intensity` of ``populations``.

    Parameters
    ----------
    populations : Population or sequence of Population
    contrast_per_cm2 : float
        Sphere-matrix SLD difference, 1/cm^2 (default CdSe in ODE, 3.47e11).
    direct_limit : int
        Arrays of up to this many q values are evaluated directly. Larger arrays (detector
        images) are evaluated on a uniform 1-D q grid of step ``INTERPOLATION_STEP / R_top``
        (R_top: largest quadrature radius) from min(q) to max(q) and interpolated with a cubic
        spline: absolute error < 1e-7 x I_env(q), where I_env(q) = I(0) min(1, 9 / (q R_top)^4)
        bounds the oscillating intensity (measured: <= 3e-8 for monodisperse 2 and 10 nm,
        1.5 %-wide Gaussian and 14 %-wide log-normal populations up to q = 9 1/nm; tested in
        tests/test_models.py). Away from the minima of a (near-)monodisperse I(q) this is a
        relative error of the same order. When that grid would not be smaller than half the
        array, the array is evaluated directly.
    """

    INTERPOLATION_STEP = 0.02

    populations: tuple[Population, ...]
    contrast_per_cm2: float = DEFAULT_CONTRAST_PER_CM2
    direct_limit: int = 16384

    def __post_init__(self) -> None:
        pops = self.populations
        pops = (pops,) if isinstance(pops, Population) else tuple(pops)
        for i, pop in enumerate(pops):
            if not isinstance(pop, Population):
                raise InputError(f"Spheres.populations[{i}] must be a Population, got {pop!r}")
        object.__setattr__(self, "populations", pops)
        _set_reals(self, contrast_per_cm2=_FINITE)
        if int(self.direct_limit) != self.direct_limit or self.direct_limit < 0:
            raise InputError(f"Spheres.direct_limit must be an integer >= 0, got "
                             f"{self.direct_limit!r}")

    @property
    def volume_fraction(self) -> float:
        """Total volume fraction of all populations."""
        return float(sum(p.volume_fraction for p in self.populations))

    def intensity(self, q_nm: Any) -> np.ndarray:
        """Absolute intensity, 1/cm, same shape as ``q_nm`` (see the class docstring)."""
        q = as_q_array(q_nm)
        if q.size <= self.direct_limit or not self.populations:
            return spheres_intensity(q, self.populations, self.contrast_per_cm2)
        q_lo, q_hi = float(q.min()), float(q.max())
        r_top = max(float(p.radius_grid(q_hi)[0].max()) for p in self.populations)
        n_grid = math.ceil((q_hi - q_lo) * r_top / self.INTERPOLATION_STEP) + 4
        if n_grid >= q.size // 2:
            return spheres_intensity(q, self.populations, self.contrast_per_cm2)
        grid = np.linspace(q_lo, q_hi, n_grid)
        from scipy.interpolate import CubicSpline  # noqa: PLC0415  (import cost)

        spline = CubicSpline(grid, spheres_intensity(grid, self.populations,
                                                     self.contrast_per_cm2))
        return spline(q)


@dataclass(frozen=True)
class FlatBackground(_Scalable):
    """A q-independent intensity, 1/cm (e.g. a solvent's density-fluctuation scattering)."""

    level_per_cm: float

    def __post_init__(self) -> None:
        _set_reals(self, level_per_cm=_NON_NEGATIVE)

    def intensity(self, q_nm: Any) -> np.ndarray:
        """I(q) = level_per_cm, 1/cm."""
        return np.full(as_q_array(q_nm).shape, self.level_per_cm)


def _power(q: np.ndarray, exponent: float) -> np.ndarray:
    """q^(-exponent), inf at q = 0 for exponent > 0 (no warning)."""
    with np.errstate(divide="ignore"):
        return np.power(q, -exponent)


@dataclass(frozen=True)
class PowerLaw(_Scalable):
    """I(q) = scale_per_cm * q^(-exponent), q in 1/nm: ``scale_per_cm`` is I at q = 1 1/nm.

    Diverges at q = 0 for exponent > 0 (returns inf there).
    """

    scale_per_cm: float
    exponent: float

    def __post_init__(self) -> None:
        _set_reals(self, scale_per_cm=_NON_NEGATIVE, exponent=_FINITE)

    def intensity(self, q_nm: Any) -> np.ndarray:
        """Absolute intensity, 1/cm."""
        return self.scale_per_cm * _power(as_q_array(q_nm), self.exponent)


@dataclass(frozen=True)
class BraggPeak(_Scalable):
    """One Bragg peak of height ``height_per_cm`` (1/cm) at ``q_nm`` with full width at half
    maximum ``fwhm_nm`` (both in 1/nm).

    Lorentzian: I = h / (1 + ((q - q0) / (fwhm/2))^2), area h pi fwhm / 2.
    Gaussian: I = h exp(-4 ln 2 (q - q0)^2 / fwhm^2), area h fwhm sqrt(pi / (4 ln 2)).
    """

    q_nm: float
    fwhm_nm: float
    height_per_cm: float
    shape: str = "lorentzian"

    def __post_init__(self) -> None:
        _set_reals(self, q_nm=_POSITIVE, fwhm_nm=_POSITIVE,
                   height_per_cm=_NON_NEGATIVE)
        _choice("BraggPeak", "shape", self.shape, PEAK_SHAPES)

    @property
    def d_spacing_nm(self) -> float:
        """d = 2 pi / q, nm."""
        return 2.0 * math.pi / self.q_nm

    @property
    def area_per_cm_nm(self) -> float:
        """Integral of I over q (over the whole real line), 1/(cm nm)."""
        if self.shape == "lorentzian":
            return self.height_per_cm * math.pi * self.fwhm_nm / 2.0
        return self.height_per_cm * self.fwhm_nm * math.sqrt(math.pi / (4.0 * math.log(2.0)))

    def intensity(self, q_nm: Any) -> np.ndarray:
        """Absolute intensity, 1/cm."""
        offset = as_q_array(q_nm) - self.q_nm
        if self.shape == "lorentzian":
            return self.height_per_cm / (1.0 + (offset / (0.5 * self.fwhm_nm)) ** 2)
        return self.height_per_cm * np.exp(-4.0 * math.log(2.0) * (offset / self.fwhm_nm) ** 2)


def lamellar_peaks(d_spacing_nm: float, heights_per_cm: Iterable[float], fwhm_nm: float,
                   shape: str = "lorentzian") -> tuple[BraggPeak, ...]:
    """Bragg peaks of a lamellar phase: orders n = 1, 2, ... at q_n = 2 pi n / d.

    ``heights_per_cm`` gives one height per order (its length is the number of orders).
    """
    d = _real("lamellar_peaks", "d_spacing_nm", d_spacing_nm, positive=True)
    return tuple(BraggPeak(2.0 * math.pi * n / d, fwhm_nm, h, shape)
                 for n, h in enumerate(heights_per_cm, start=1))


@dataclass(frozen=True)
class BroadPeak(_Scalable):
    """A power law plus a broad Lorentzian-type peak (SasView model ``broad_peak``):

        I(q) = porod_scale / q^porod_exponent
               + lorentz_scale / (1 + (|q - peak_pos_nm| lorentz_length_nm)^lorentz_exponent)

    with q in 1/nm (SasView writes it in 1/A; see
    https://www.sasview.org/docs/user/models/broad_peak.html). ``lorentz_scale`` is the peak
    height in 1/cm, ``porod_scale`` the power-law term at q = 1 1/nm in 1/cm. Used for the Cd
    precursor's raised scattering below 1 1/nm with a broad maximum near 0.2-0.3 1/nm
    (SCIENCE.md). The power-law term diverges at q = 0 (inf) when porod_scale > 0.
    """

    lorentz_scale: float
    peak_pos_nm: float
    lorentz_length_nm: float
    porod_scale: float = 0.0
    porod_exponent: float = 3.0
    lorentz_exponent: float = 2.0

    def __post_init__(self) -> None:
        _set_reals(self, lorentz_scale=_NON_NEGATIVE, peak_pos_nm=_NON_NEGATIVE,
                   lorentz_length_nm=_POSITIVE, porod_scale=_NON_NEGATIVE,
                   porod_exponent=_FINITE, lorentz_exponent=_POSITIVE)

    def intensity(self, q_nm: Any) -> np.ndarray:
        """Absolute intensity, 1/cm."""
        q = as_q_array(q_nm)
        peak = self.lorentz_scale / (
            1.0 + (np.abs(q - self.peak_pos_nm) * self.lorentz_length_nm) ** self.lorentz_exponent)
        if self.porod_scale == 0:
            return peak
        return self.porod_scale * _power(q, self.porod_exponent) + peak


@dataclass(frozen=True)
class KaptonWindow(_Scalable):
    """Scattering of Kapton (polyimide) window material, 1/cm of Kapton:

        I(q) = power_law_scale q^(-power_law_exponent)
               + hump_height exp(-(q - hump_q_nm)^2 / (2 hump_sigma_nm^2)).

    SCIENCE.md says only that Kapton windows scatter as a power law at low q plus a broad weak
    hump. The defaults are illustrative values chosen for simulation, not measured Kapton
    properties. The power law diverges at q = 0 (inf).
    """

    power_law_scale: float = 0.02
    power_law_exponent: float = 3.0
    hump_height: float = 1.0
    hump_q_nm: float = 4.5
    hump_sigma_nm: float = 1.2

    def __post_init__(self) -> None:
        _set_reals(self, power_law_scale=_NON_NEGATIVE, power_law_exponent=_FINITE,
                   hump_height=_NON_NEGATIVE, hump_q_nm=_NON_NEGATIVE,
                   hump_sigma_nm=_POSITIVE)

    def intensity(self, q_nm: Any) -> np.ndarray:
        """Absolute intensity of the window material, 1/cm."""
        q = as_q_array(q_nm)
        hump = self.hump_height * np.exp(-0.5 * ((q - self.hump_q_nm) / self.hump_sigma_nm) ** 2)
        return self.power_law_scale * _power(q, self.power_law_exponent) + hump


# --------------------------------------------------------------------------- the sample


@dataclass(frozen=True)
class SampleModel:
    """A sum of components times ``scale``: I(q) = scale * sum_k I_k(q), 1/cm.

    A SampleModel is itself a component, so models nest (e.g. the solvent scaled by its
    displaced-volume fraction inside a sample).

    Parameters
    ----------
    components : sequence of Component
        Objects with ``intensity(q_nm)`` returning 1/cm.
    name : str
    scale : float
        Factor applied to the sum, >= 0.
    """

    components: tuple[Component, ...] = ()
    name: str = ""
    scale: float = 1.0

    def __post_init__(self) -> None:
        parts = tuple(self.components)
        for i, part in enumerate(parts):
            if not callable(getattr(part, "intensity", None)):
                raise InputError(f"SampleModel.components[{i}] has no intensity(q_nm) method: "
                                 f"{part!r}")
        object.__setattr__(self, "components", parts)
        _set_reals(self, scale=_NON_NEGATIVE)

    def intensity(self, q_nm: Any) -> np.ndarray:
        """scale * sum of the components' intensities, 1/cm, same shape as ``q_nm``."""
        q = as_q_array(q_nm)
        total = np.zeros(q.shape)
        for part in self.components:
            total += part.intensity(q)
        return self.scale * total

    def scaled(self, factor: float) -> SampleModel:
        """A copy with ``scale`` multiplied by ``factor``."""
        factor = _real("SampleModel.scaled", "factor", factor, minimum=0.0)
        return SampleModel(self.components, self.name, self.scale * factor)

    def plus(self, *components: Component) -> SampleModel:
        """A model with ``components`` added (inside the scale)."""
        return SampleModel((*self.components, *components), self.name, self.scale)
