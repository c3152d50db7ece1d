
import pytest

from saxs import InputError, units


def test_q_conversions_round_trip():
    assert units.q_to_per_nm(0.1, "1/A") == pytest.approx(1.0, rel=1e-15)
    assert units.q_from_per_nm(1.0, "1/A") == pytest.approx(0.1, rel=1e-15)
    assert units.q_to_per_nm(1e9, "1/m") == pytest.approx(1.0, rel=1e-15)
    assert units.q_to_per_nm(2.0, "q_nm^-1") == 2.0


def test_energy_wavelength():
    # 12.398 keV <-> 0.1 nm (h c = 1.239841984 keV nm)
    assert units.energy_kev_to_wavelength_m(12.39841984) == pytest.approx(1e-10, rel=1e-12)
    assert units.wavelength_m_to_energy_kev(1e-10) == pytest.approx(12.39841984, rel=1e-12)
    with pytest.raises(InputError, match="positive"):
        units.energy_kev_to_wavelength_m(0)


def test_sld_and_volume():
    assert units.sld_per_a2_to_per_cm2(34.7e-6) == pytest.approx(3.47e11)
    assert units.nm3_to_cm3(1.0) == pytest.approx(1e-21)


@pytest.mark.parametrize(("text", "kind", "value"), [
    ("0.005 s", "time", 0.005), ("5 ms", "time", 0.005), ("8.0012", "length", 8.0012),
    ("75 um", "length", 75e-6), ("12.4 keV", "energy", 12.4), ("1e-10", "none", 1e-10),
    ("-10", "none", -10.0),
])
def test_parse_quantity(text, kind, value):
    assert units.parse_quantity(text, kind) == pytest.approx(value, rel=1e-15)


@pytest.mark.parametrize(("text", "kind", "match"), [
    ("abc", "time", "cannot read"), ("5 parsecs", "length", "unknown length unit"),
    ("3 s", "none", "plain number"),
])
def test_parse_quantity_errors(text, kind, match):
    with pytest.raises(InputError, match=match):
        units.parse_quantity(text, kind)


def test_unknown_q_unit_names_known_ones():
    with pytest.raises(InputError, match="1/nm"):
        units.q_to_per_nm(1.0, "furlongs")
