import dataclasses

import numpy as np
import pytest

from saxs import Geometry, Header, InputError


def test_header_round_trip_is_exact(small_geometry):
    header = Header(small_geometry.to_header())
    back = Geometry.from_header(header, small_geometry.shape)
    assert back == small_geometry


def test_id02_index_swap():
    # ID02.md §4: poni1 = Center_2 * PSize_2, poni2 = Center_1 * PSize_1, rot1 = DetRot_2
    h = Header({"SampleDistance": "8.0012", "WaveLength": "9.91873e-11", "PSize_1": "7.5e-05",
                "PSize_2": "7.6e-05", "Center_1": "1034.2", "Center_2": "1090.7",
                "DetectorRotation_1": "0.01", "DetectorRotation_2": "0.02", "BSize_1": "2",
                "BSize_2": "4"})
    g = Geometry.from_header(h, (100, 200))
    assert g.poni1_m == pytest.approx(1090.7 * 7.6e-5, rel=1e-15)
    assert g.poni2_m == pytest.approx(1034.2 * 7.5e-5, rel=1e-15)
    assert (g.pixel1_m, g.pixel2_m) == (7.6e-5, 7.5e-5)
    assert (g.rot1_rad, g.rot2_rad) == (0.02, 0.01)
    assert g.binning == (4, 2)
    assert g.center_1_px == pytest.approx(1034.2, rel=1e-14)


def test_negative_distance_and_wavelength_taken_positive():
    h = Header({"SampleDistance": "-1.5", "Wavelength": "-1e-10", "PSize_1": "1e-4",
                "PSize_2": "1e-4", "Center_1": "5", "Center_2": "6"})
    g = Geometry.from_header(h, (10, 10))
    assert g.distance_m == 1.5
    assert g.wavelength_m == 1e-10


def test_old_rot_keys_refused_when_nonzero():
    h = Header({"SampleDistance": "1", "WaveLength": "1e-10", "PSize_1": "1e-4",
                "PSize_2": "1e-4", "Center_1": "5", "Center_2": "6", "Rot_1": "0.1"})
    with pytest.raises(InputError, match="Rot_1"):
        Geometry.from_header(h, (10, 10))


def test_validation_names_field():
    with pytest.raises(InputError, match="distance_m"):
        Geometry(0.0, 0, 0, 1e-4, 1e-4, 1e-10, (10, 10))
    with pytest.raises(InputError, match="shape"):
        Geometry(1.0, 0, 0, 1e-4, 1e-4, 1e-10, (10,))
    with pytest.raises(InputError, match="poni1_m"):
        Geometry(1.0, float("nan"), 0, 1e-4, 1e-4, 1e-10, (10, 10))


def test_integrator_matches_geometry(small_geometry):
    ai = small_geometry.integrator()
    assert ai.dist == small_geometry.distance_m
    assert (ai.poni1, ai.poni2) == (small_geometry.poni1_m, small_geometry.poni2_m)
    assert (ai.rot1, ai.rot2, ai.rot3) == (0.002, -0.001, 0.0003)
    assert small_geometry.integrator() is ai  # cached per geometry


def test_poni_round_trip(tmp_path, small_geometry):
    path = small_geometry.to_poni(tmp_path / "g.poni")
    back = Geometry.from_poni(path)
    for f in dataclasses.fields(Geometry):
        a, b = getattr(small_geometry, f.name), getattr(back, f.name)
        if isinstance(a, float):
            assert b == pytest.approx(a, rel=1e-12, abs=1e-15), f.name
        else:
            assert a == b, f.name
    with pytest.raises(InputError, match="exists"):
        small_geometry.to_poni(path)
    # overwrite replaces (pyFAI itself would append a second geometry to the file)
    other = dataclasses.replace(small_geometry, distance_m=0.7)
    other.to_poni(path, overwrite=True)
    assert Geometry.from_poni(path).distance_m == pytest.approx(0.7)
    assert path.read_text().count("Distance:") == 1


def test_poni_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        Geometry.from_poni(tmp_path / "missing.poni")
    bad = tmp_path / "bad.poni"
    bad.write_text("Distance: 1.0\nPoni1: 0.01\nPoni2: 0.01\n")
    with pytest.raises(InputError, match=r"bad\.poni"):
        Geometry.from_poni(bad)


def test_q_of_pixels_follows_geometry(small_geometry):
    from saxs.azimuthal import q_array_nm

    q = q_array_nm(small_geometry)
    assert q.shape == small_geometry.shape
    # at the PONI pixel q ~ 0; at the corner q = 4 pi / lambda sin(theta) for that distance
    assert q.min() < 0.05
    assert np.all(np.isfinite(q))


def test_poni_reader_returns_plain_parameters(tmp_path, small_geometry):
    """saxs.azimuthal gives Geometry's keyword arguments (it does not import saxs.geometry)."""
    from saxs.azimuthal import read_poni

    params = read_poni(small_geometry.to_poni(tmp_path / "g.poni"))
    assert Geometry(**params) == small_geometry
