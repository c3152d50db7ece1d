"""Unit conversions, in one place.

Inside the package q is in 1/nm, radii and lengths of structures in nm, detector lengths in m,
angles in rad, intensities in 1/cm (absolute) and scattering length densities in 1/cm^2.
Conversions happen only at the edges (readers, writers, command-line options).
"""

from __future__ import annotations

import re

from saxs.errors import InputError

#: h*c in keV*nm (CODATA 2018: h c = 1.239841984e-6 eV m).
HC_KEV_NM = 1.239841984
#: Classical electron radius in cm (CODATA 2018).
ELECTRON_RADIUS_CM = 2.8179403262e-13
#: Avogadro constant in 1/mol (SI 2019, exact).
AVOGADRO = 6.02214076e23

# Factors to the package's internal unit of each quantity.
_Q_TO_PER_NM = {
    "1/nm": 1.0, "nm^-1": 1.0, "1/nanometer": 1.0, "q_nm^-1": 1.0, "nm-1": 1.0,
    "1/a": 10.0, "a^-1": 10.0, "1/angstrom": 10.0, "q_a^-1": 10.0, "a-1": 10.0, "1/å": 10.0,
    "1/m": 1e-9, "m^-1": 1e-9,
}
_LENGTH_TO_M = {
    "m": 1.0, "cm": 1e-2, "mm": 1e-3, "um": 1e-6, "µm": 1e-6, "micron": 1e-6,
    "nm": 1e-9, "a": 1e-10, "å": 1e-10, "angstrom": 1e-10, "pm": 1e-12,
}
_TIME_TO_S = {"s": 1.0, "sec": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9,
              "min": 60.0, "h": 3600.0}
_ENERGY_TO_KEV = {"kev": 1.0, "ev": 1e-3, "mev": 1e3}
_INTENSITY_TO_PER_CM = {"1/cm": 1.0, "cm^-1": 1.0, "1/m": 1e-2, "m^-1": 1e-2,
                        "1/mm": 10.0, "mm^-1": 10.0}

_SUFFIXED = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([^\d\s].*)?$")


def _factor(table: dict[str, float], unit: str, what: str) -> float:
    key = unit.strip().lower().replace(" ", "")
    if key not in table:
        known = ", ".join(sorted(table))
        raise InputError(f"unknown {what} unit {unit!r}; use one of: {known}")
    return table[key]


def q_to_per_nm(value, unit: str):
    """Convert q values from ``unit`` (e.g. "1/A", "1/nm", "1/m") to 1/nm."""
    return value * _factor(_Q_TO_PER_NM, unit, "q")


def q_from_per_nm(value, unit: str):
    """Convert q values in 1/nm to ``unit``."""
    return value / _factor(_Q_TO_PER_NM, unit, "q")


def length_to_m(value, unit: str):
    """Convert a length from ``unit`` (m, cm, mm, um, nm, A) to metres."""
    return value * _factor(_LENGTH_TO_M, unit, "length")


def length_from_m(value, unit: str):
    """Convert a length in metres to ``unit``."""
    return value / _factor(_LENGTH_TO_M, unit, "length")


def intensity_to_per_cm(value, unit: str):
    """Convert an absolute intensity (differential cross-section per volume) to 1/cm."""
    return value * _factor(_INTENSITY_TO_PER_CM, unit, "intensity")


def intensity_from_per_cm(value, unit: str):
    """Convert an absolute intensity in 1/cm to ``unit``."""
    return value / _factor(_INTENSITY_TO_PER_CM, unit, "intensity")


def is_known_intensity_unit(unit: str) -> bool:
    """True if ``unit`` is an absolute intensity unit this module converts."""
    return unit.strip().lower().replace(" ", "") in _INTENSITY_TO_PER_CM


def energy_kev_to_wavelength_m(energy_kev: float) -> float:
    """Photon wavelength in m for an energy in keV (lambda = h c / E)."""
    if energy_kev <= 0:
        raise InputError(f"photon energy must be positive, got {energy_kev} keV")
    return HC_KEV_NM / energy_kev * 1e-9


def wavelength_m_to_energy_kev(wavelength_m: float) -> float:
    """Photon energy in keV for a wavelength in m."""
    if wavelength_m <= 0:
        raise InputError(f"wavelength must be positive, got {wavelength_m} m")
    return HC_KEV_NM / (wavelength_m * 1e9)


def sld_per_a2_to_per_cm2(sld_per_a2: float) -> float:
    """Scattering length density from 1/A^2 to 1/cm^2 (1 A = 1e-8 cm)."""
    return sld_per_a2 * 1e16


def sld_per_cm2_to_per_a2(sld_per_cm2: float) -> float:
    """Scattering length density from 1/cm^2 to 1/A^2."""
    return sld_per_cm2 * 1e-16


def nm3_to_cm3(volume_nm3):
    """Volume from nm^3 to cm^3 (1 nm = 1e-7 cm)."""
    return volume_nm3 * 1e-21


def parse_quantity(text: str, kind: str = "time") -> float:
    """Parse a header value that may carry a unit suffix, e.g. ``"0.005 s"`` or ``"8.0 m"``.

    Parameters
    ----------
    text : str
        The value as written in a header.
    kind : {"time", "length", "energy", "none"}
        What the value is; a suffix is converted to seconds, metres or keV. ``"none"``
        accepts a bare number only.

    Returns
    -------
    float
        The value in s, m or keV; a bare number is returned unchanged.
    """
    match = _SUFFIXED.match(str(text))
    if match is None:
        raise InputError(f"cannot read a number from {text!r}")
    value = float(match.group(1))
    unit = (match.group(2) or "").strip()
    if not unit:
        return value
    tables = {"time": (_TIME_TO_S, "time"), "length": (_LENGTH_TO_M, "length"),
              "energy": (_ENERGY_TO_KEV, "energy")}
    if kind not in tables:
        raise InputError(f"unexpected unit {unit!r} in {text!r}: a plain number is expected")
    table, what = tables[kind]
    return value * _factor(table, unit, what)
