"""Yu et al. (2003) sizing curve, aggregation numbers, order-preserving family assignment."""

from __future__ import annotations

import numpy as np
import pytest

from saxs import InputError
from saxs.sizing import (
    DEFAULT_FAMILIES,
    Family,
    aggregation_number,
    assign_families,
    diameter_from_wavelength,
    is_extrapolated,
    wavelength_from_diameter,
)


def test_sizing_curve_reproduces_science_table():
    """SCIENCE.md: 350 -> 1.09, 380 -> 1.37, 403 -> 1.58, 437 -> 1.85 nm; N = 12, 25, 38, 61."""
    lam = np.array([350, 380, 403, 437])
    np.testing.assert_allclose(diameter_from_wavelength(lam), [1.09, 1.37, 1.58, 1.85],
                               atol=0.005)
    np.testing.assert_array_equal(np.rint(aggregation_number([1.09, 1.37, 1.58, 1.85, 2.06])),
                                  [12, 25, 38, 61, 84])
    assert list(is_extrapolated(lam)) == [True, True, False, False]


def test_inverse_round_trip():
    lam = np.linspace(320, 780, 47)
    np.testing.assert_allclose(wavelength_from_diameter(diameter_from_wavelength(lam)), lam,
                               rtol=1e-12)
    assert isinstance(wavelength_from_diameter(1.85), float)
    with pytest.raises(InputError, match="monotonic"):
        wavelength_from_diameter(0.2)


def test_saxs_msc_diameters_assigned_in_order():
    """SCIENCE.md: SAXS diameters 1.74, 1.88, 2.04 nm are the families 403, 437 and 465 nm."""
    out = assign_families([1.74, 1.88, 2.04])
    assert [a.family.wavelength_nm for a in out] == [403, 437, 465]
    assert out[0].deviation_nm == pytest.approx(1.74 - 1.581, abs=2e-3)
    assert not any(a.extrapolated for a in out)


def test_assignment_preserves_order_against_nearest_value():
    # nearest-value matching would give 437 twice; order preservation keeps them apart
    families = [Family(403), Family(437), Family(465)]
    out = assign_families([1.80, 1.86], families)
    assert [a.family.wavelength_nm for a in out] in ([403, 437], [437, 465])
    assert len({a.family.wavelength_nm for a in out}) == 2
    with pytest.raises(InputError, match="increasing"):
        assign_families([1.9, 1.8])
    with pytest.raises(InputError, match="only 5 families"):
        assign_families(np.linspace(1, 3, 6))
    assert DEFAULT_FAMILIES[2].name == "CdSe-403"
