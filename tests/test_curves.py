"""Tests of saxs.io.curves, saxs.io.nxcansas and saxs.io.atomic: curve files in and out."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import h5py
import numpy as np
import pytest

import saxs
from saxs import Curve, InputError, SaxsError, Step
from saxs.io.atomic import atomic_path
from saxs.io.nxcansas import read_extra

SHARED = Path(__file__).resolve().parents[2] / "shared"
PDH_DIR = SHARED / "data" / "real" / "llc_bragg_giess2022"


def make_curve(seed: int = 0, n: int = 64, intensity_unit: str = "1/cm") -> Curve:
    rng = np.random.default_rng(seed)
    q = np.sort(rng.uniform(0.05, 5.0, n))
    intensity = rng.lognormal(1.0, 1.0, n) * rng.choice([-1.0, 1.0], n, p=[0.1, 0.9])
    sigma = np.abs(intensity) * rng.uniform(0.01, 0.2, n) + 1e-3
    meta = {"sample": "cdse_00012", "temperature_c": 25.5, "transmission": 0.71,
            "thickness_cm": 0.15, "counts": [1, 2, 3], "note": "line\nbreak \u00c5",
            "nested": {"a": 1.0, "b": [True, None]}}
    curve = Curve(q, intensity, sigma, intensity_unit=intensity_unit, metadata=meta)
    return curve.with_step("reduce", npt=n, unit="q_nm^-1").with_step("subtract", fraction=0.999)


def assert_same_curve(read: Curve, written: Curve) -> None:
    for name in ("q", "intensity", "sigma"):
        a, b = getattr(read, name), getattr(written, name)
        assert a.dtype == np.float64
        assert a.tobytes() == b.tobytes(), f"{name} differs"
    assert read.q_unit == written.q_unit == "1/nm"
    assert read.intensity_unit == written.intensity_unit
    assert dict(read.metadata) == dict(written.metadata)
    assert read.provenance == written.provenance


def write_text(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def columns_text(q, intensity, sigma=None, header: str = "") -> str:
    rows = zip(q, intensity, sigma if sigma is not None else [None] * len(q), strict=True)
    lines = [f"{a!r} {b!r}" + ("" if s is None else f" {s!r}") for a, b, s in rows]
    return header + "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# round trips


@pytest.mark.parametrize("suffix", [".h5", ".hdf5", ".nxs"])
@pytest.mark.parametrize("unit", ["1/cm", "arb"])
def test_nxcansas_round_trip_is_exact(tmp_path, suffix, unit):
    curve = make_curve(1, intensity_unit=unit)
    out = saxs.write_curve(tmp_path / f"c{suffix}", curve)
    assert out == tmp_path / f"c{suffix}"
    assert_same_curve(saxs.read_curve(out), curve)


@pytest.mark.parametrize("suffix", [".dat", ".txt", ".csv", ".tsv"])
def test_text_round_trip_is_exact(tmp_path, suffix):
    curve = make_curve(2)
    out = saxs.write_curve(tmp_path / f"c{suffix}", curve, extra={"config": {"npt": 3}})
    text = out.read_text(encoding="utf-8")
    assert "# q_unit = 1/nm" in text
    assert "# intensity_unit = 1/cm" in text
    assert '# sample = "cdse_00012"' in text
    assert '# extra.config = {"npt": 3}' in text
    assert_same_curve(saxs.read_curve(out), curve)


def test_text_round_trip_arbitrary_units(tmp_path):
    curve = make_curve(3, intensity_unit="arb")
    out = saxs.write_curve(tmp_path / "c.dat", curve)
    assert_same_curve(saxs.read_curve(out), curve)


def test_round_trip_without_metadata_or_provenance(tmp_path):
    curve = Curve([0.1, 0.2, 0.3], [3.0, 2.0, 1.0], [0.1, 0.1, 0.1])
    for name in ("plain.h5", "plain.dat"):
        assert_same_curve(saxs.read_curve(saxs.write_curve(tmp_path / name, curve)), curve)


def test_nxcansas_layout_follows_the_standard(tmp_path):
    curve = make_curve(4)
    path = saxs.write_curve(tmp_path / "c.h5", curve)
    with h5py.File(path, "r") as f:
        assert f.attrs["default"] == "sasentry01"
        entry = f["sasentry01"]
        assert entry.attrs["NX_class"] == "NXentry"
        assert entry.attrs["canSAS_class"] == "SASentry"
        assert entry.attrs["version"] == "1.1"
        assert entry.attrs["default"] == "sasdata01"
        assert entry["definition"][()].decode() == "NXcanSAS"
        assert entry["title"][()].decode() == "cdse_00012"
        assert "run" in entry
        data = entry["sasdata01"]
        assert data.attrs["NX_class"] == "NXdata"
        assert data.attrs["canSAS_class"] == "SASdata"
        assert data.attrs["signal"] == "I"
        assert data.attrs["I_axes"] == "Q"
        assert int(data.attrs["Q_indices"]) == 0
        assert data["Q"].attrs["units"] == "1/nm"
        assert data["I"].attrs["units"] == "1/cm"
        assert data["I"].attrs["uncertainties"] == "Idev"
        assert data["Idev"].attrs["units"] == "1/cm"
        assert data["Q"].dtype == np.float64
        assert entry["sassample/name"][()].decode() == "cdse_00012"
        assert entry["sassample/temperature"][()] == 25.5
        process = entry["sasprocess01"]
        assert process.attrs["NX_class"] == "NXprocess"
        assert process.attrs["canSAS_class"] == "SASprocess"
        steps = json.loads(process["saxs_provenance/data"][()])
        assert steps == [s.to_dict() for s in curve.provenance]
        assert process["saxs_metadata"].attrs["NX_class"] == "NXnote"


def test_arbitrary_intensity_is_written_as_arbitrary(tmp_path):
    path = saxs.write_curve(tmp_path / "c.h5", make_curve(5, intensity_unit="arb"))
    with h5py.File(path, "r") as f:
        assert f["sasentry01/sasdata01/I"].attrs["units"] == "arbitrary"


def test_extra_is_stored_and_not_needed_to_read(tmp_path):
    curve = make_curve(6)
    rng = np.random.default_rng(6)
    table = rng.normal(size=(4, 5))
    extra = {"config": {"npt": 500, "mask": "calib/mask.edf"}, "table": table,
             "seed": 12, "chi2": 1.25, "label": "run 1", "flags": [True, False]}
    path = saxs.write_curve(tmp_path / "c.h5", curve, extra=extra)
    stored = read_extra(path)
    assert stored["config"] == extra["config"]
    assert np.array_equal(stored["table"], table)
    assert stored["seed"] == 12
    assert stored["chi2"] == 1.25
    assert stored["label"] == "run 1"
    assert stored["flags"] == [True, False]
    assert_same_curve(saxs.read_curve(path), curve)
    plain = saxs.write_curve(tmp_path / "plain.h5", curve)
    assert read_extra(plain) == {}


def test_bad_extra_key_is_refused(tmp_path):
    with pytest.raises(InputError, match=r"c\.h5.*extra key"):
        saxs.write_curve(tmp_path / "c.h5", make_curve(7), extra={"a/b": 1})
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# sasdata interoperability


def test_sasdata_reads_our_nxcansas_file(tmp_path):
    from sasdata.dataloader.loader import Loader

    curve = make_curve(8)
    path = saxs.write_curve(tmp_path / "c.h5", curve, extra={"config": {"npt": 64}})
    loaded = Loader().load(str(path))
    assert len(loaded) == 1
    data = loaded[0]
    # sasdata 0.11 converts Q to its default unit, 1/A, and keeps I in 1/cm.
    assert data.x_unit.replace("{", "").replace("}", "") in ("A^-1", "1/A")
    q_nm = saxs.units.q_to_per_nm(np.asarray(data.x, dtype=float), "1/A")
    np.testing.assert_allclose(q_nm, curve.q, rtol=1e-12)
    np.testing.assert_array_equal(data.y, curve.intensity)
    np.testing.assert_array_equal(data.dy, curve.sigma)
    assert data.y_unit.replace("{", "").replace("}", "") in ("cm^-1", "1/cm")
    assert data.sample.name == "cdse_00012"


def test_read_sasdata_written_nxcansas(tmp_path):
    from sasdata.dataloader.data_info import Data1D
    from sasdata.file_converter.nxcansas_writer import NXcanSASWriter

    rng = np.random.default_rng(9)
    q_a = np.sort(rng.uniform(0.005, 0.5, 40))
    intensity = rng.uniform(1.0, 50.0, 40)
    sigma = intensity * 0.03
    data = Data1D(x=q_a, y=intensity, dy=sigma)
    data.title = "silica"
    data.sample.name = "ludox"
    data.filename = "silica.h5"
    path = tmp_path / "sasdata.h5"
    NXcanSASWriter().write([data], str(path))
    with h5py.File(path, "r") as f:
        assert f["sasentry01/sasdata01/Q"].attrs["units"] == "1/A"

    curve = saxs.read_curve(path)
    np.testing.assert_allclose(curve.q, q_a * 10.0, rtol=1e-15)
    np.testing.assert_array_equal(curve.intensity, intensity)
    np.testing.assert_array_equal(curve.sigma, sigma)
    assert curve.intensity_unit == "1/cm"
    assert curve.metadata["title"] == "silica"
    assert curve.metadata["sample"] == "ludox"
    assert curve.provenance == ()


def write_foreign_nxcansas(path: Path, q, intensity, sigma, *, q_units="1/angstrom",
                           i_units="1/m", mask=None) -> Path:
    with h5py.File(path, "w") as f:
        entry = f.create_group("entry1")
        entry.attrs["NX_class"] = "NXentry"
        entry["definition"] = "NXcanSAS"
        data = entry.create_group("data1")
        data.attrs.update({"NX_class": "NXdata", "signal": "I", "I_axes": "Q"})
        data["Q"] = np.asarray(q, dtype=np.float32)
        data["Q"].attrs["units"] = q_units
        data["I"] = intensity
        data["I"].attrs["units"] = i_units
        data["I"].attrs["uncertainties"] = "Idev"
        data["Idev"] = sigma
        if mask is not None:
            data.attrs["mask"] = "mask"
            data["mask"] = mask
    return path


def test_read_foreign_nxcansas_converts_units_and_applies_mask(tmp_path):
    q = np.array([0.01, 0.02, 0.03, 0.04])
    intensity = np.array([400.0, 300.0, 200.0, 100.0])
    sigma = np.array([4.0, 3.0, 2.0, 1.0])
    mask = np.array([True, False, False, False])
    path = write_foreign_nxcansas(tmp_path / "f.nxs", q, intensity, sigma, mask=mask)
    curve = saxs.read_curve(path)
    np.testing.assert_allclose(curve.q, np.float32(q[1:]).astype(float) * 10.0, rtol=1e-15)
    np.testing.assert_allclose(curve.intensity, intensity[1:] / 100.0, rtol=1e-15)
    np.testing.assert_allclose(curve.sigma, sigma[1:] / 100.0, rtol=1e-15)
    assert curve.intensity_unit == "1/cm"
    assert curve.provenance == (Step("drop_masked", {"n_dropped": 1}),)


# ---------------------------------------------------------------------------------------------
# pyFAI text files and q units


def make_pyfai_dat(path: Path, unit: str):
    from pyFAI.detectors import Detector
    from pyFAI.integrator.azimuthal import AzimuthalIntegrator

    detector = Detector(pixel1=1e-4, pixel2=1e-4, max_shape=(64, 64))
    ai = AzimuthalIntegrator(dist=1.0, poni1=3.2e-3, poni2=3.2e-3, detector=detector,
                             wavelength=1e-10)
    image = np.random.default_rng(10).poisson(100.0, (64, 64)).astype(np.float64)
    return ai.integrate1d(image, 30, unit=unit, error_model="poisson", filename=str(path))


@pytest.mark.parametrize(("unit", "q_unit", "factor"),
                         [("q_nm^-1", "1/nm", 1.0), ("q_A^-1", "1/A", 10.0)])
def test_read_pyfai_dat(tmp_path, unit, q_unit, factor):
    path = tmp_path / "frame.dat"
    result = make_pyfai_dat(path, unit)
    text = path.read_text()
    assert f"# --> {path}" in text
    curve = saxs.read_curve(path, q_unit=q_unit)
    assert len(curve) == result.radial.size
    # pyFAI writes 7 significant digits ("%14.6e").
    np.testing.assert_allclose(curve.q, result.radial * factor, rtol=1e-6)
    np.testing.assert_allclose(curve.intensity, result.intensity, rtol=1e-6)
    np.testing.assert_allclose(curve.sigma, result.sigma, rtol=1e-6)
    assert curve.intensity_unit == "arb"
    assert curve.metadata["pyfai_geometry"]["dist"] == 1.0


@pytest.mark.parametrize(("column_line", "factor"), [
    ("#      q_A^-1              I            sigma", 10.0),
    ("#  q_nm^-1  I  sigma", 1.0),
    ("# q[1/A] I sigma", 10.0),
    ("# q (1/\u00c5)  I (1/cm)  sigma (1/cm)", 10.0),
    ("# Q [A^{-1}]  I  dI", 10.0),
    ("# q[nm-1] I sigma", 1.0),
    ("q_A^-1,I,sigma", 10.0),
    ("# q_unit = 1/angstrom", 10.0),
])
def test_q_unit_read_from_header(tmp_path, column_line, factor, caplog):
    q = [0.01, 0.02, 0.03]
    path = write_text(tmp_path / "c.dat",
                      columns_text(q, [3.0, 2.0, 1.0], [0.1, 0.1, 0.1], column_line + "\n"))
    with caplog.at_level(logging.WARNING):
        curve = saxs.read_curve(path)
    np.testing.assert_allclose(curve.q, np.array(q) * factor, rtol=1e-15)
    assert not [r for r in caplog.records if "q unit" in r.getMessage()]


def test_q_unit_defaults_to_per_nm_with_warning(tmp_path, caplog):
    path = write_text(tmp_path / "c.dat", columns_text([0.1, 0.2], [2.0, 1.0], [0.1, 0.1]))
    with caplog.at_level(logging.WARNING, logger="saxs.io.curves"):
        curve = saxs.read_curve(path)
    np.testing.assert_array_equal(curve.q, [0.1, 0.2])
    assert any("does not state the q unit" in r.getMessage() for r in caplog.records)
    converted = saxs.read_curve(path, q_unit="1/A")
    np.testing.assert_allclose(converted.q, [1.0, 2.0], rtol=1e-15)


def test_q_unit_argument_contradicting_header_is_refused(tmp_path):
    path = write_text(tmp_path / "c.dat", columns_text([0.1, 0.2], [2.0, 1.0], [0.1, 0.1],
                                                       "# q_A^-1 I sigma\n"))
    with pytest.raises(InputError, match=r"c\.dat.*states q"):
        saxs.read_curve(path, q_unit="1/nm")
    assert saxs.read_curve(path, q_unit="1/A").q[0] == pytest.approx(1.0, rel=1e-15)


@pytest.mark.parametrize(("header", "argument", "unit", "factor"), [
    ("# intensity_unit = 1/m\n", None, "1/cm", 0.01),
    ("# q_nm^-1  I[1/mm]  sigma[1/mm]\n", None, "1/cm", 10.0),
    ("# intensity_unit = cm^-1\n", None, "1/cm", 1.0),
    ("# intensity_unit = a.u.\n", None, "arb", 1.0),
    ("", "1/cm", "1/cm", 1.0),
    ("", "1/m", "1/cm", 0.01),
    ("# intensity_unit = 1/cm\n", "arb", "arb", 1.0),
])
def test_intensity_units(tmp_path, header, argument, unit, factor):
    path = write_text(tmp_path / "c.dat", columns_text([0.1, 0.2], [200.0, 100.0], [2.0, 1.0],
                                                       "# q_unit = 1/nm\n" + header))
    curve = saxs.read_curve(path, intensity_unit=argument)
    assert curve.intensity_unit == unit
    np.testing.assert_allclose(curve.intensity, np.array([200.0, 100.0]) * factor, rtol=1e-15)
    np.testing.assert_allclose(curve.sigma, np.array([2.0, 1.0]) * factor, rtol=1e-15)


def test_unknown_intensity_unit_is_refused(tmp_path):
    path = write_text(tmp_path / "c.dat", columns_text([0.1], [2.0], [0.1],
                                                       "# intensity_unit = barn\n"))
    with pytest.raises(InputError, match=r"c\.dat.*intensity unit 'barn'"):
        saxs.read_curve(path)


# ---------------------------------------------------------------------------------------------
# files without uncertainties


def test_two_columns_need_sigma(tmp_path):
    path = write_text(tmp_path / "two.dat", columns_text([0.1, 0.2, 0.3], [3.0, -2.0, 1.0],
                                                         header="# q_nm^-1 I\n"))
    with pytest.raises(InputError, match=r"two\.dat.*sigma_rel="):
        saxs.read_curve(path)
    curve = saxs.read_curve(path, sigma_rel=0.01)
    np.testing.assert_allclose(curve.sigma, [0.03, 0.02, 0.01], rtol=1e-15)
    assert curve.provenance == (Step("assume_sigma", {"sigma_rel": 0.01}),)


def test_sigma_callable(tmp_path):
    path = write_text(tmp_path / "two.csv", "q,I\n0.1,4.0\n0.2,9.0\n")
    curve = saxs.read_curve(path, sigma=lambda q, intensity: np.sqrt(intensity))
    np.testing.assert_array_equal(curve.sigma, [2.0, 3.0])
    assert curve.provenance[-1].action == "assume_sigma"


@pytest.mark.parametrize("kwargs", [{"sigma_rel": 0.0}, {"sigma_rel": float("nan")},
                                    {"sigma": 0.01},
                                    {"sigma": lambda q, i: np.ones(5)},
                                    {"sigma_rel": 0.01, "sigma": np.sqrt}])
def test_bad_sigma_options_are_refused(tmp_path, kwargs):
    path = write_text(tmp_path / "two.dat", columns_text([0.1, 0.2], [4.0, 9.0]))
    with pytest.raises(InputError, match=r"two\.dat"):
        saxs.read_curve(path, q_unit="1/nm", **kwargs)


def test_sigma_option_with_sigma_column_is_refused(tmp_path):
    path = write_text(tmp_path / "three.dat", columns_text([0.1, 0.2], [4.0, 9.0], [0.1, 0.1]))
    with pytest.raises(InputError, match=r"three\.dat.*uncertainty column"):
        saxs.read_curve(path, q_unit="1/nm", sigma_rel=0.01)


# ---------------------------------------------------------------------------------------------
# invalid points and ordering


@pytest.mark.parametrize("bad_sigma", ["0.0", "-1.0", "nan"])
def test_invalid_sigma_is_refused_with_count_and_lines(tmp_path, bad_sigma):
    text = (f"# q_nm^-1 I sigma\n0.1 1.0 0.1\n0.2 1.0 {bad_sigma}\n0.3 1.0 0.1\n"
            f"0.4 1.0 {bad_sigma}\n")
    path = write_text(tmp_path / "bad.dat", text)
    with pytest.raises(InputError, match=r"bad\.dat: 2 of 4 points.*lines 3, 5.*drop_invalid"):
        saxs.read_curve(path)


def test_drop_invalid_drops_and_records(tmp_path, caplog):
    text = "# q_nm^-1 I sigma\n0.1 1.0 0.1\n0.2 nan 0.1\n0.3 1.0 0.0\n0.4 2.0 0.2\n"
    path = write_text(tmp_path / "bad.dat", text)
    with caplog.at_level(logging.WARNING, logger="saxs.io.curves"):
        curve = saxs.read_curve(path, drop_invalid=True)
    np.testing.assert_array_equal(curve.q, [0.1, 0.4])
    assert curve.provenance[-1].action == "drop_invalid"
    assert curve.provenance[-1].parameters["n_dropped"] == 2
    assert any("dropped 2 of 4" in r.getMessage() for r in caplog.records)


def test_all_points_invalid_is_refused_even_with_drop(tmp_path):
    path = write_text(tmp_path / "bad.dat", "# q_nm^-1 I sigma\n0.1 1.0 0\n0.2 1.0 -1\n")
    with pytest.raises(InputError, match=r"bad\.dat.*no valid point"):
        saxs.read_curve(path, drop_invalid=True)


def test_unsorted_q_is_sorted_and_logged(tmp_path, caplog):
    text = "# q_nm^-1 I sigma\n0.3 3.0 0.3\n0.1 1.0 0.1\n0.2 2.0 0.2\n"
    path = write_text(tmp_path / "unsorted.dat", text)
    with caplog.at_level(logging.WARNING, logger="saxs.io.curves"):
        curve = saxs.read_curve(path)
    np.testing.assert_array_equal(curve.q, [0.1, 0.2, 0.3])
    np.testing.assert_array_equal(curve.intensity, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(curve.sigma, [0.1, 0.2, 0.3])
    assert curve.provenance == (Step("sort_q", {}),)
    assert any("not increasing" in r.getMessage() for r in caplog.records)


def test_duplicated_q_is_refused(tmp_path):
    path = write_text(tmp_path / "dup.dat", "# q_nm^-1 I sigma\n0.1 1 1\n0.2 1 1\n0.1 2 1\n")
    with pytest.raises(InputError, match=r"dup\.dat: q = 0\.1 1/nm occurs more than once.*2, 4"):
        saxs.read_curve(path)


# ---------------------------------------------------------------------------------------------
# PDH


def pdh_text(n_header: int, rows: np.ndarray, temperature: float = 24.9,
             wavelength: float = 0.1542, footer: bool = True) -> str:
    lines = ["my title", "SAXS BOX",
             f"{n_header:9d}" + "        0" * 7,
             f"  0.000000E+00   3.068000E+02   0.000000E+00   7.854830E+02   {wavelength:.6E}",
             f"  {temperature:.6E}   1.062232E+00   0.000000E+00   0.000000E+00   0.000000E+00"]
    lines += ["  ".join(f"{v:.6E}" for v in row) for row in rows]
    if footer:
        lines += ['<?xml version="1.0" encoding="utf-8"?>', "<fileinfo>",
                  '  <column key="X">', '    <value key="unit">n_m^-1</value>',
                  "  </column>", "  1 2 3 4 5 6", "</fileinfo>"]
    return "\n".join(lines) + "\n"


def pdh_rows(n: int, seed: int = 11) -> np.ndarray:
    rng = np.random.default_rng(seed)
    q = np.linspace(0.1, 7.5, n)
    intensity = rng.uniform(0.01, 1.0, n)
    return np.column_stack([q, intensity, intensity * 0.1 + 0.001])


@pytest.mark.parametrize("suffix", [".pdh", ".txt"])
def test_read_synthetic_pdh(tmp_path, suffix):
    rows = pdh_rows(25)
    path = write_text(tmp_path / f"s{suffix}", pdh_text(25, rows, temperature=60.1))
    curve = saxs.read_curve(path)
    assert len(curve) == 25
    np.testing.assert_allclose(curve.q, rows[:, 0], rtol=1e-6)
    np.testing.assert_allclose(curve.sigma, rows[:, 2], rtol=1e-6)
    assert curve.metadata["title"] == "my title"
    assert curve.metadata["temperature_c"] == 60.1
    assert curve.metadata["wavelength_nm"] == 0.1542
    assert curve.intensity_unit == "arb"


def test_pdh_q_unit_argument(tmp_path):
    rows = pdh_rows(5)
    path = write_text(tmp_path / "s.pdh", pdh_text(5, rows, footer=False))
    np.testing.assert_allclose(saxs.read_curve(path).q, rows[:, 0], rtol=1e-6)
    np.testing.assert_allclose(saxs.read_curve(path, q_unit="1/A").q, rows[:, 0] * 10, rtol=1e-6)
    with_footer = write_text(tmp_path / "f.pdh", pdh_text(5, rows))
    with pytest.raises(InputError, match=r"f\.pdh.*states q"):
        saxs.read_curve(with_footer, q_unit="1/A")


def test_pdh_truncated_is_refused(tmp_path):
    path = write_text(tmp_path / "short.pdh", pdh_text(30, pdh_rows(10), footer=False))
    with pytest.raises(InputError, match=r"short\.pdh.*announces 30 points but only 10"):
        saxs.read_curve(path)


def test_pdh_bad_count_line_is_refused(tmp_path):
    text = pdh_text(5, pdh_rows(5)).replace("        5        0", "     five        0", 1)
    path = write_text(tmp_path / "bad.pdh", text)
    with pytest.raises(InputError, match=r"bad\.pdh.*line 3"):
        saxs.read_curve(path)


def test_pdh_row_not_numeric_is_refused(tmp_path):
    lines = pdh_text(5, pdh_rows(5)).splitlines()
    lines[7] = "garbage row"
    path = write_text(tmp_path / "bad.pdh", "\n".join(lines))
    with pytest.raises(InputError, match=r"bad\.pdh: PDH line 8"):
        saxs.read_curve(path)


def real_pdh_files() -> list[Path]:
    return sorted(PDH_DIR.glob("*.pdh")) if PDH_DIR.is_dir() else []


def test_real_pdh_files():
    files = real_pdh_files()
    if not files:
        pytest.skip(f"real PDH examples not found under {PDH_DIR}")
    for path in files:
        lines = path.read_text(encoding="latin-1").splitlines()
        n = int(lines[2].split()[0])
        temperature = float(lines[4].split()[0])
        first_q = float(lines[5].split()[0])
        curve = saxs.read_curve(path)
        assert len(curve) == n, path.name
        assert curve.metadata["temperature_c"] == temperature, path.name
        assert curve.metadata["wavelength_nm"] == pytest.approx(0.1542)
        assert np.all(np.diff(curve.q) > 0), path.name
        assert curve.q[0] == first_q  # q is stored in 1/nm (footer unit n_m^-1)
        assert curve.intensity_unit == "arb"
        assert curve.provenance == ()


# ---------------------------------------------------------------------------------------------
# bad input


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match=r"nope\.dat: file not found"):
        saxs.read_curve(tmp_path / "nope.dat")
    with pytest.raises(InputError, match="is a folder"):
        saxs.read_curve(tmp_path)


def test_unknown_suffix(tmp_path):
    path = write_text(tmp_path / "c.xyz", columns_text([0.1], [1.0], [0.1]))
    with pytest.raises(InputError, match=r"c\.xyz: unknown curve file suffix '\.xyz'.*fmt="):
        saxs.read_curve(path)
    assert len(saxs.read_curve(path, fmt="text", q_unit="1/nm")) == 1
    with pytest.raises(InputError, match=r"c\.xyz.*fmt='bogus'"):
        saxs.read_curve(path, fmt="bogus")


@pytest.mark.parametrize(("text", "message"), [
    ("0.1\n0.2\n0.3\n", r"1 numeric column"),
    ("# q I sigma\n0.1 1 0.1\n0.2 abc 0.1\n", r"line 3 is not numeric"),
    ("0.1 1 0.1\nfooter text\n", r"line 2 is not numeric"),
    ("0.1 1 0.1\n0.2 1\n", r"line 2 has 2 columns but line 1 has 3"),
    ("", r"no numeric rows"),
    ("# only a header\n", r"no numeric rows"),
    ("q I sigma\n", r"no numeric rows"),
    ("# provenance = [not json\n0.1 1 0.1\n", r"provenance"),
])
def test_bad_text_files(tmp_path, text, message):
    path = write_text(tmp_path / "bad.dat", text)
    with pytest.raises(InputError, match=r"bad\.dat: .*" + message):
        saxs.read_curve(path, q_unit="1/nm")


def test_binary_garbage_with_text_suffix(tmp_path):
    path = tmp_path / "garbage.dat"
    path.write_bytes(np.random.default_rng(12).integers(0, 256, 300, dtype=np.uint8).tobytes())
    with pytest.raises(InputError, match=r"garbage\.dat"):
        saxs.read_curve(path)


def test_hdf5_suffix_but_not_hdf5(tmp_path):
    path = write_text(tmp_path / "fake.h5", "0.1 1 0.1\n")
    with pytest.raises(InputError, match=r"fake\.h5: not a readable HDF5 file"):
        saxs.read_curve(path)


def test_hdf5_without_sasentry(tmp_path):
    path = tmp_path / "frames.h5"
    with h5py.File(path, "w") as f:
        f.create_group("entry_0000").attrs["NX_class"] = "NXentry"
        f["entry_0000/data"] = np.zeros((2, 4, 4))
    with pytest.raises(InputError, match=r"frames\.h5: no NXcanSAS SASentry"):
        saxs.read_curve(path)


def test_hdf5_entry_without_sasdata(tmp_path):
    path = tmp_path / "empty.h5"
    with h5py.File(path, "w") as f:
        entry = f.create_group("sasentry01")
        entry.attrs["canSAS_class"] = "SASentry"
        entry["definition"] = "NXcanSAS"
    with pytest.raises(InputError, match=r"empty\.h5: .*no NXcanSAS SASdata group"):
        saxs.read_curve(path)


def test_hdf5_two_dimensional_sasdata_is_refused(tmp_path):
    path = tmp_path / "twod.h5"
    with h5py.File(path, "w") as f:
        entry = f.create_group("sasentry01")
        entry.attrs["canSAS_class"] = "SASentry"
        data = entry.create_group("sasdata01")
        data.attrs.update({"canSAS_class": "SASdata", "signal": "I", "I_axes": "Qx,Qy"})
        data["I"] = np.ones((3, 3))
        data["Qx"] = np.ones((3, 3))
    with pytest.raises(InputError, match=r"twod\.h5: .*only 1-D curves"):
        saxs.read_curve(path)


def test_hdf5_missing_uncertainty_needs_sigma(tmp_path):
    path = tmp_path / "nosigma.h5"
    with h5py.File(path, "w") as f:
        entry = f.create_group("sasentry01")
        entry.attrs["canSAS_class"] = "SASentry"
        data = entry.create_group("sasdata01")
        data.attrs.update({"canSAS_class": "SASdata", "signal": "I", "I_axes": "Q"})
        data["Q"] = [0.1, 0.2]
        data["Q"].attrs["units"] = "1/nm"
        data["I"] = [2.0, 1.0]
    with pytest.raises(InputError, match=r"nosigma\.h5: .*sigma_rel="):
        saxs.read_curve(path)
    assert saxs.read_curve(path, sigma_rel=0.1).sigma[0] == pytest.approx(0.2)


def test_hdf5_bad_q_unit(tmp_path):
    path = write_foreign_nxcansas(tmp_path / "u.h5", [0.1], [1.0], [0.1], q_units="furlong")
    with pytest.raises(InputError, match=r"u\.h5: .*q unit 'furlong'"):
        saxs.read_curve(path)


def test_write_bad_suffix_and_bad_object(tmp_path):
    with pytest.raises(InputError, match=r"c\.pdh: cannot write"):
        saxs.write_curve(tmp_path / "c.pdh", make_curve())
    with pytest.raises(InputError, match=r"needs a saxs\.Curve"):
        saxs.write_curve(tmp_path / "c.h5", {"q": [1.0]})
    assert list(tmp_path.iterdir()) == []


def test_text_metadata_that_cannot_be_written(tmp_path):
    curve = Curve([0.1], [1.0], [0.1], metadata={"sample name": "x"})
    with pytest.raises(InputError, match=r"c\.dat: metadata key 'sample name'"):
        saxs.write_curve(tmp_path / "c.dat", curve)
    assert_same_curve(saxs.read_curve(saxs.write_curve(tmp_path / "c.h5", curve)), curve)


# ---------------------------------------------------------------------------------------------
# overwriting and atomicity


@pytest.mark.parametrize("name", ["c.h5", "c.dat"])
def test_existing_file_is_kept_unless_overwrite(tmp_path, name):
    first, second = make_curve(13), make_curve(14)
    path = saxs.write_curve(tmp_path / name, first)
    before = path.read_bytes()
    with pytest.raises(InputError, match=rf"{name}: file exists.*overwrite=True"):
        saxs.write_curve(path, second)
    assert path.read_bytes() == before
    saxs.write_curve(path, second, overwrite=True)
    assert_same_curve(saxs.read_curve(path), second)
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_failing_write_leaves_nothing(tmp_path, monkeypatch):
    from saxs.io import curves

    def broken(target, curve, extra, file_name, q_unit):
        with h5py.File(target, "w") as f:
            f["partial"] = curve.q
        raise OSError("disk full")

    monkeypatch.setattr(curves, "write_nxcansas", broken)
    with pytest.raises(OSError, match="disk full"):
        saxs.write_curve(tmp_path / "c.h5", make_curve(15))
    assert list(tmp_path.iterdir()) == []


def test_failing_extra_leaves_nothing(tmp_path):
    with pytest.raises(InputError, match=r"c\.h5: extra\['obj'\] cannot be stored as JSON"):
        saxs.write_curve(tmp_path / "c.h5", make_curve(16), extra={"obj": object()})
    assert list(tmp_path.iterdir()) == []


def test_write_creates_missing_folders(tmp_path):
    path = saxs.write_curve(tmp_path / "processed" / "deep" / "c.h5", make_curve(17))
    assert path.is_file()


def test_atomic_path_renames_on_success(tmp_path):
    target = tmp_path / "out.edf"
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path
        assert tmp.name.startswith(".")
        assert tmp.suffix == ".edf"
        assert not target.exists()
        tmp.write_bytes(b"payload")
    assert target.read_bytes() == b"payload"
    assert [p.name for p in tmp_path.iterdir()] == ["out.edf"]


def write_then_fail(target: Path, error: BaseException) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise error


def test_atomic_path_removes_temporary_on_failure(tmp_path):
    with pytest.raises(RuntimeError, match="boom"):
        write_then_fail(tmp_path / "out.h5", RuntimeError("boom"))
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_cleans_up_on_interrupt(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        write_then_fail(tmp_path / "out.h5", KeyboardInterrupt())
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_refuses_existing_and_folders(tmp_path):
    target = write_text(tmp_path / "out.txt", "old")
    with pytest.raises(InputError, match=r"out\.txt: file exists"), atomic_path(target):
        pass
    with atomic_path(target, overwrite=True) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"
    with pytest.raises(InputError, match="is a folder"), atomic_path(tmp_path, overwrite=True):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_atomic_path_refuses_file_created_meanwhile(tmp_path):
    target = tmp_path / "out.txt"

    def race() -> None:
        with atomic_path(target) as tmp:
            tmp.write_text("mine")
            target.write_text("theirs")

    with pytest.raises(InputError, match="while writing"):
        race()
    assert target.read_text() == "theirs"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_atomic_path_requires_the_file_to_be_written(tmp_path):
    with pytest.raises(SaxsError, match="without creating"), atomic_path(tmp_path / "x.h5"):
        pass
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# q resolution (Curve.q_resolution): Curve, text, NXcanSAS, canSAS XML


def with_resolution(curve: Curve) -> Curve:
    return curve.replace(q_resolution=0.01 + 0.05 * curve.q)


def test_curve_q_resolution_is_validated_and_follows_select():
    curve = with_resolution(make_curve())
    assert not curve.q_resolution.flags.writeable
    part = curve.select(1.0, 3.0)
    np.testing.assert_array_equal(part.q_resolution, 0.01 + 0.05 * part.q)
    assert make_curve().q_resolution is None
    with pytest.raises(InputError, match="q_resolution has 3 values"):
        make_curve().replace(q_resolution=[0.1, 0.1, 0.1])
    with pytest.raises(InputError, match="finite and >= 0"):
        make_curve(n=4).replace(q_resolution=[0.1, -0.1, 0.1, 0.1])
    # a new q grid of another length drops the resolution; same length keeps it
    assert curve.replace(q=curve.q[:10], intensity=curve.intensity[:10],
                         sigma=curve.sigma[:10]).q_resolution is None
    assert curve.replace(intensity=curve.intensity * 2).q_resolution is not None


@pytest.mark.parametrize("suffix", [".h5", ".dat"])
def test_q_resolution_round_trip_is_exact(tmp_path, suffix):
    curve = with_resolution(make_curve())
    read = saxs.read_curve(saxs.write_curve(tmp_path / f"c{suffix}", curve))
    assert_same_curve(read, curve)
    assert read.q_resolution.tobytes() == curve.q_resolution.tobytes()


def test_nxcansas_qdev_layout(tmp_path):
    path = saxs.write_curve(tmp_path / "c.h5", with_resolution(make_curve()))
    with h5py.File(path, "r") as f:
        data = f["sasentry01/sasdata01"]
        assert data["Q"].attrs["resolutions"] == "Qdev"
        assert data["Qdev"].attrs["units"] == "1/nm"
    no_dq = saxs.write_curve(tmp_path / "d.h5", make_curve())
    with h5py.File(no_dq, "r") as f:
        assert "Qdev" not in f["sasentry01/sasdata01"]
        assert "resolutions" not in f["sasentry01/sasdata01/Q"].attrs


def test_foreign_nxcansas_qdev_in_angstrom(tmp_path):
    path = write_foreign_nxcansas(tmp_path / "f.h5", np.array([0.01, 0.02]),
                                  np.array([2.0, 1.0]), np.array([0.1, 0.1]))
    with h5py.File(path, "a") as f:
        entry = next(g for g in f.values() if isinstance(g, h5py.Group))
        data = next(g for g in entry.values() if isinstance(g, h5py.Group) and "I" in g)
        data["Qdev"] = np.array([0.001, 0.002])
        data["Qdev"].attrs["units"] = "1/angstrom"
    curve = saxs.read_curve(path)
    np.testing.assert_allclose(curve.q_resolution, [0.01, 0.02], rtol=1e-15)


def test_text_fourth_column_is_the_resolution(tmp_path):
    path = write_text(tmp_path / "c.dat", "# q[1/A] I sigma dq\n0.01 5 0.1 0.001\n"
                      "0.02 4 0.1 0.0015\n0.03 3 0.1 0\n")
    curve = saxs.read_curve(path)
    np.testing.assert_allclose(curve.q_resolution, [0.01, 0.015, 0.0], rtol=1e-15)
    zero = write_text(tmp_path / "z.dat", "# q_nm^-1 I sigma dq\n0.1 5 0.1 0\n0.2 4 0.1 0\n")
    assert saxs.read_curve(zero).q_resolution is None


CANSAS_XML = """<?xml version="1.0"?>
<SASroot version="1.1" xmlns="urn:cansas1d:1.1">
  <SASentry name="pinhole">
    <Title>test pinhole</Title><Run>42</Run>
    <SASdata>
      <Idata><Q unit="1/A">0.02</Q><I unit="1/cm">4.0</I><Idev unit="1/cm">0.2</Idev>
        <Qdev unit="1/A">0.002</Qdev></Idata>
      <Idata><Q unit="1/A">0.01</Q><I unit="1/cm">8.0</I><Idev unit="1/cm">0.4</Idev>
        <Qdev unit="1/A">0.001</Qdev></Idata>
      <Idata><Q unit="1/A">0.03</Q><I unit="1/cm">2.0</I><Idev unit="1/cm">0.1</Idev>
        <Qdev unit="1/A">0.003</Qdev></Idata>
    </SASdata>
    <SASsample><ID>latex</ID><thickness unit="mm">1</thickness>
      <transmission>0.5</transmission></SASsample>
  </SASentry>
  <SASentry>
    <Title>test slit</Title>
    <SASdata>
      <Idata><Q unit="1/nm">0.1</Q><I unit="1/cm">1.0</I><Idev unit="1/cm">0.1</Idev>
        <dQl unit="1/nm">1.2</dQl></Idata>
      <Idata><Q unit="1/nm">0.2</Q><I unit="1/cm">0.5</I><Idev unit="1/cm">0.1</Idev>
        <dQl unit="1/nm">1.2</dQl></Idata>
    </SASdata>
  </SASentry>
</SASroot>
"""


def test_cansas_xml_reader(tmp_path, caplog):
    path = write_text(tmp_path / "d.xml", CANSAS_XML)
    with caplog.at_level(logging.INFO, logger="saxs"):
        curve = saxs.read_curve(path)
    assert "2 SASdata blocks" in caplog.text
    np.testing.assert_allclose(curve.q, [0.1, 0.2, 0.3], rtol=1e-15)   # sorted, 1/A -> 1/nm
    np.testing.assert_allclose(curve.intensity, [8.0, 4.0, 2.0])
    np.testing.assert_allclose(curve.sigma, [0.4, 0.2, 0.1])
    np.testing.assert_allclose(curve.q_resolution, [0.01, 0.02, 0.03], rtol=1e-15)
    assert curve.intensity_unit == "1/cm"
    assert curve.metadata["title"] == "test pinhole"
    assert curve.metadata["sample"] == "latex"
    assert curve.metadata["thickness_cm"] == pytest.approx(0.1)
    slit = saxs.read_curve(f"{path}::1")
    np.testing.assert_allclose(slit.q, [0.1, 0.2])
    assert slit.q_resolution is None
    assert slit.metadata["slit_length_per_nm"] == pytest.approx(1.2)
    with pytest.raises(InputError, match=r"block 2 does not exist; the file has 2"):
        saxs.read_curve(f"{path}::2")
    with pytest.raises(InputError, match="index"):
        saxs.read_curve(f"{path}::x")
    with pytest.raises(InputError, match="canSAS XML"):
        saxs.read_curve(f"{saxs.write_curve(tmp_path / 'c.dat', make_curve())}::0")


def test_cansas_xml_bad_files(tmp_path):
    with pytest.raises(InputError, match="not well-formed"):
        saxs.read_curve(write_text(tmp_path / "a.xml", "<SASroot><SASentry>"))
    with pytest.raises(InputError, match="not <SASroot>"):
        saxs.read_curve(write_text(tmp_path / "b.xml", "<?xml version='1.0'?><root/>"))
    bad = CANSAS_XML.replace("<I unit=\"1/cm\">4.0</I>", "<I unit=\"1/cm\">four</I>")
    with pytest.raises(InputError, match="not a number"):
        saxs.read_curve(write_text(tmp_path / "c.xml", bad))


def test_duplicated_q_is_refused_or_merged(tmp_path):
    path = write_text(tmp_path / "d.dat", "# q_nm^-1 I sigma dq\n0.1 5 1 0.01\n0.2 4 1 0.02\n"
                      "0.2 6 2 0.04\n0.3 3 1 0.03\n")
    with pytest.raises(InputError, match="merge_duplicates=True"):
        saxs.read_curve(path)
    curve = saxs.read_curve(path, merge_duplicates=True)
    np.testing.assert_allclose(curve.q, [0.1, 0.2, 0.3])
    # inverse-variance weights 1 and 1/4: I = (4 + 6/4) / 1.25, sigma = 1.25^-1/2
    np.testing.assert_allclose(curve.intensity[1], 4.4, rtol=1e-15)
    np.testing.assert_allclose(curve.sigma[1], 1.25 ** -0.5, rtol=1e-15)
    np.testing.assert_allclose(curve.q_resolution[1], np.sqrt((0.02**2 + 0.04**2 / 4) / 1.25),
                               rtol=1e-15)
    assert curve.provenance[-1].action == "merge_duplicates"


def test_sasview_example_xml_files_read(shared_dir):
    folder = shared_dir / "data" / "real" / "sasview_examples"
    latex = saxs.read_curve(folder / "latex_smeared.xml", merge_duplicates=True)
    assert len(latex) == 299
    assert latex.q_resolution[0] == pytest.approx(0.0109)          # 0.00109 1/A
    aot = saxs.read_curve(folder / "AOT_Microemulsion-Core_Contrast.xml")
    assert len(aot) == 137
    assert aot.q_resolution is None                                # Qdev = 0 everywhere
