"""Material constants and X-ray scattering length densities, in one place.

CdSe and 1-octadecene (ODE) numbers are those of the experiment this package serves
(SCIENCE.md, "Numbers for physics-faithful simulation"): X-ray SLDs 42.3e-6 and 7.6e-6 1/A^2
(electron densities times r_e, forward scattering f = Z), contrast 34.7e-6 1/A^2
= 3.47e11 1/cm^2; CdSe 5.82 g/cm^3, 191.37 g/mol, 82 electrons per formula unit; ODE (C18H36)
0.789 g/cm^3, 144 electrons and 252.48 g/mol (IUPAC standard atomic weights C 12.011,
H 1.008).

:func:`xray_sld_per_cm2` computes the SLD of any compound at a photon energy from its formula
and density with the tabulated atomic scattering factors f1 = Z + f' of ``periodictable``
(Henke, Gullikson & Davis 1993 tables, as distributed with that package): near an absorption
edge f' matters (CdSe at 12.4 keV, just below the Se K edge at 12.658 keV, gives 40.4e-6
1/A^2 instead of the forward value 42.3e-6).
"""

from __future__ import annotations

import math

from saxs.errors import InputError
from saxs.units import AVOGADRO, ELECTRON_RADIUS_CM, sld_per_a2_to_per_cm2

CDSE_SLD_PER_A2 = 42.3e-6
ODE_SLD_PER_A2 = 7.6e-6
CDSE_ODE_CONTRAST_PER_A2 = 34.7e-6
#: Default particle-solvent contrast, CdSe in ODE, 1/cm^2.
DEFAULT_CONTRAST_PER_CM2 = sld_per_a2_to_per_cm2(CDSE_ODE_CONTRAST_PER_A2)

CDSE_DENSITY_G_CM3 = 5.82
CDSE_ELECTRONS_PER_FORMULA = 82
CDSE_MOLAR_MASS_G_MOL = 191.37
ODE_DENSITY_G_CM3 = 0.789
ODE_ELECTRONS_PER_FORMULA = 144
ODE_MOLAR_MASS_G_MOL = 252.48

#: 1 nm^3 in cm^3.
NM3_TO_CM3 = 1e-21


def _positive(owner: str, name: str, value: object) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(f"{owner}: {name} must be a number, got {value!r}") from None
    if not (math.isfinite(number) and number > 0):
        raise InputError(f"{owner}: {name} must be a positive finite number, got {value!r}")
    return number


def electron_sld_per_cm2(density_g_cm3: float, electrons_per_formula: float,
                         molar_mass_g_mol: float) -> float:
    """Forward-scattering X-ray SLD rho_e r_e of a compound, 1/cm^2 (f = Z, no f').

    rho_e = density N_A Z / M is the electron density (Z electrons per formula unit of molar
    mass M) and r_e the classical electron radius.

    Examples
    --------
    >>> round(electron_sld_per_cm2(5.82, 82, 191.37) * 1e-16 * 1e6, 1)   # CdSe, 1e-6 1/A^2
    42.3
    """
    owner = "electron_sld_per_cm2"
    density = _positive(owner, "density_g_cm3", density_g_cm3)
    electrons = _positive(owner, "electrons_per_formula", electrons_per_formula)
    molar_mass = _positive(owner, "molar_mass_g_mol", molar_mass_g_mol)
    return density * AVOGADRO * electrons / molar_mass * ELECTRON_RADIUS_CM


def xray_sld_per_cm2(formula: str, density_g_cm3: float, energy_kev: float) -> float:
    """Real part of the X-ray SLD of a compound at a photon energy, 1/cm^2.

    Parameters
    ----------
    formula : str
        Chemical formula as ``periodictable`` parses it ("CdSe", "C18H36", "H2O").
    density_g_cm3 : float
        Mass density.
    energy_kev : float
        Photon energy (periodictable's tables cover about 0.03 to 30 keV).

    Examples
    --------
    >>> round(xray_sld_per_cm2("C18H36", 0.789, 12.4) * 1e-16 * 1e6, 2)  # ODE, 1e-6 1/A^2
    7.64
    """
    from periodictable import formula as parse_formula  # noqa: PLC0415  (import cost)
    from periodictable import xsf  # noqa: PLC0415

    owner = "xray_sld_per_cm2"
    density = _positive(owner, "density_g_cm3", density_g_cm3)
    energy = _positive(owner, "energy_kev", energy_kev)
    try:
        compound = parse_formula(formula)
    except (ValueError, TypeError, KeyError) as exc:
        raise InputError(f"{owner}: cannot read the chemical formula {formula!r} ({exc})") \
            from None
    if not compound.atoms:
        raise InputError(f"{owner}: the chemical formula {formula!r} has no atoms")
    real, _imag = xsf.xray_sld(compound, density=density, energy=energy)
    if not math.isfinite(float(real)):
        raise InputError(f"{owner}: no scattering factors for {formula!r} at {energy} keV; "
                         "periodictable covers about 0.03-30 keV")
    return sld_per_a2_to_per_cm2(float(real) * 1e-6)
