"""Absolute scattering cross-sections dSigma/dOmega(q) for simulation, in 1/cm.

q is in 1/nm, radii in nm, scattering length densities (SLD) in 1/cm^2 and intensities in 1/cm
(differential scattering cross-section per unit sample volume, per steradian). Every component
is a frozen dataclass with ``intensity(q_nm)`` accepting an array of any shape and returning an
array of that shape; :class:`SampleModel` sums components and is itself a component.

Components: :class:`Spheres` (populations of particles, :class:`saxs.models.Species`; homogeneous
spheres unless a species names another shape),
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
from saxs.models.constants import DEFAULT_CONTRAST_PER_CM2
from saxs.models.distributions import (
    _FINITE,
    _NON_NEGATIVE,
    _POSITIVE,
    Species,
    _choice,
    _real,
    _set_reals,
    as_q_array,
    species_intensity,
)

PEAK_SHAPES = ("lorentzian", "gaussian")

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
    populations : Species or sequence of Species
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

    populations: tuple[Species, ...]
    contrast_per_cm2: float = DEFAULT_CONTRAST_PER_CM2
    direct_limit: int = 16384

    def __post_init__(self) -> None:
        pops = self.populations
        pops = (pops,) if isinstance(pops, Species) else tuple(pops)
        for i, pop in enumerate(pops):
            if not isinstance(pop, Species):
                raise InputError(f"Spheres.populations[{i}] must be a Species, got {pop!r}")
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
            return species_intensity(q, self.populations, self.contrast_per_cm2)
        q_lo, q_hi = float(q.min()), float(q.max())
        r_top = max(float(p.radius_grid(q_hi)[0].max()) for p in self.populations)
        n_grid = math.ceil((q_hi - q_lo) * r_top / self.INTERPOLATION_STEP) + 4
        if n_grid >= q.size // 2:
            return species_intensity(q, self.populations, self.contrast_per_cm2)
        grid = np.linspace(q_lo, q_hi, n_grid)
        from scipy.interpolate import CubicSpline  # noqa: PLC0415  (import cost)

        spline = CubicSpline(grid, species_intensity(grid, self.populations,
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
