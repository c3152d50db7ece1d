"""CdSe sizing curve, aggregation numbers and magic-size-cluster family assignment.

Yu, Qu, Guo & Peng (2003), Chem. Mater. 15, 2854 give the empirical sizing curve of CdSe
nanocrystals, diameter D (nm) against the first-exciton absorption wavelength lambda (nm)::

    D = 1.6122e-9 l^4 - 2.6575e-6 l^3 + 1.6242e-3 l^2 - 0.4277 l + 41.57

The paper warns that the fit may not hold outside the sizes it was fitted to; it is commonly
applied over lambda = 400-700 nm (D ~ 1.5-9 nm), :data:`VALID_RANGE_NM`. Values outside are
returned but flagged as extrapolated (the magic-size families at 350 and 380 nm are).

Aggregation number of a sphere: N = (pi/6) D^3 rho N_A / M (SCIENCE.md: rho = 5.82 g/cm^3,
M = 191.37 g/mol for CdSe).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from saxs.errors import InputError
from saxs.models.constants import CDSE_DENSITY_G_CM3, CDSE_MOLAR_MASS_G_MOL, NM3_TO_CM3
from saxs.models.formfactor import sphere_volume_nm3
from saxs.units import AVOGADRO

YU2003_CDSE = (1.6122e-9, -2.6575e-6, 1.6242e-3, -0.4277, 41.57)
VALID_RANGE_NM = (400.0, 700.0)
# the polynomial rises monotonically from 300 nm on, so it is inverted on this bracket
_BRACKET_NM = (300.0, 800.0)


@dataclass(frozen=True)
class Family:
    """A magic-size-cluster family, named after its first absorption peak."""

    wavelength_nm: float
    species: str = ""

    @property
    def name(self) -> str:
        """e.g. "CdSe-437"."""
        return f"CdSe-{self.wavelength_nm:g}"

    @property
    def diameter_nm(self) -> float:
        """Diameter from the sizing curve."""
        return float(diameter_from_wavelength(self.wavelength_nm))


#: SCIENCE.md's families (size-selective precipitation, 350 C, 4.5 s). Its table prints 467 nm
#: beside D = 2.06 nm, which is the sizing curve at 465 nm, and its text names the family 465.
DEFAULT_FAMILIES = (Family(350, "(CdSe)13"), Family(380, "(CdSe)19"), Family(403, "(CdSe)33"),
                    Family(437, "(CdSe)66"), Family(465, ""))


def diameter_from_wavelength(wavelength_nm):
    """Diameter (nm) for a first-exciton wavelength (nm), Yu et al. (2003)."""
    return np.polyval(YU2003_CDSE, np.asarray(wavelength_nm, dtype=np.float64))


def is_extrapolated(wavelength_nm) -> np.ndarray:
    """True where the wavelength lies outside :data:`VALID_RANGE_NM`."""
    lam = np.asarray(wavelength_nm, dtype=np.float64)
    return (lam < VALID_RANGE_NM[0]) | (lam > VALID_RANGE_NM[1])


def wavelength_from_diameter(diameter_nm):
    """First-exciton wavelength (nm) for a diameter (nm): the sizing curve inverted."""
    d = np.atleast_1d(np.asarray(diameter_nm, dtype=np.float64))
    lo_d, hi_d = diameter_from_wavelength(np.array(_BRACKET_NM))
    if np.any((d < lo_d) | (d > hi_d)):
        raise InputError(f"diameter(s) outside {lo_d:.3g}-{hi_d:.3g} nm, where the sizing curve "
                         f"is monotonic (300-800 nm); got {d.min():.3g}-{d.max():.3g} nm")
    out = np.empty_like(d)
    for k, target in enumerate(d):
        lo, hi = _BRACKET_NM
        for _ in range(60):  # bisection to ~1e-15 of the bracket
            mid = 0.5 * (lo + hi)
            if diameter_from_wavelength(mid) < target:
                lo = mid
            else:
                hi = mid
        out[k] = 0.5 * (lo + hi)
    return out if np.ndim(diameter_nm) else float(out[0])


def aggregation_number(diameter_nm, density_g_cm3: float = CDSE_DENSITY_G_CM3,
                       molar_mass_g_mol: float = CDSE_MOLAR_MASS_G_MOL):
    """Formula units in a sphere of diameter D: (pi/6) D^3 rho N_A / M (V in cm^3)."""
    volume_cm3 = sphere_volume_nm3(0.5 * np.asarray(diameter_nm, dtype=np.float64)) * NM3_TO_CM3
    return volume_cm3 * density_g_cm3 * AVOGADRO / molar_mass_g_mol


@dataclass(frozen=True)
class Assignment:
    """A measured diameter matched to a family, with the deviation."""

    diameter_nm: float
    family: Family
    deviation_nm: float
    relative_deviation: float
    extrapolated: bool


def assign_families(diameters_nm: Sequence[float],
                    families: Sequence[Family] = DEFAULT_FAMILIES) -> list[Assignment]:
    """Match increasing diameters to families in the same order (order-preserving).

    Among all order-preserving matches (each family used at most once) the one with the
    smallest sum of |ln(D_measured / D_family)| is taken (dynamic programming), so a uniform
    offset between SAXS and optical sizes does not scramble the order.
    """
    d = np.asarray(diameters_nm, dtype=np.float64)
    if d.size == 0:
        return []
    if np.any(d <= 0) or np.any(np.diff(d) <= 0):
        raise InputError(f"diameters must be positive and increasing, got {d.tolist()}")
    fams = sorted(families, key=lambda f: f.wavelength_nm)
    if d.size > len(fams):
        raise InputError(f"{d.size} populations but only {len(fams)} families to assign")
    fd = np.array([f.diameter_nm for f in fams])
    cost = np.abs(np.log(d[:, None] / fd[None, :]))
    n, m = cost.shape
    best = np.full((n + 1, m + 1), np.inf)
    best[0, :] = 0.0
    for i in range(1, n + 1):
        for j in range(i, m + 1):
            best[i, j] = min(best[i, j - 1], best[i - 1, j - 1] + cost[i - 1, j - 1])
    chosen, j = [], m
    for i in range(n, 0, -1):
        while best[i, j] == best[i, j - 1]:
            j -= 1
        chosen.append(j - 1)
        j -= 1
    chosen.reverse()
    return [Assignment(float(d[i]), fams[k], float(d[i] - fd[k]), float(d[i] / fd[k] - 1),
                       bool(is_extrapolated(fams[k].wavelength_nm)))
            for i, k in enumerate(chosen)]
