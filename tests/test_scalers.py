"""ID02 scaler (C216/MCS) files: monitors from raw counters, pins by number or name."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from saxs import InputError
from saxs.io.scalers import read_scalers, scaler_file_for, write_scalers


def _write(path, **kw):
    defaults = {"i0": np.array([2.0e5, 2.1e5]), "i1": np.array([1.0e5, 1.05e5]),
                "exposure_time_s": np.array([0.1, 0.1]), "start_epoch": 100.0}
    write_scalers(path, **{**defaults, **kw})
    return path


def _strip_interpreted(path):
    with h5py.File(path, "a") as f:
        mcs = f["entry_0000/ESRF-ID02/MCS"]
        for key in ("Intensity0UnCor", "Intensity1UnCor", "ExposureTime"):
            del mcs[key]


def test_interpreted_values_read(tmp_path):
    m = read_scalers(_write(tmp_path / "s.h5"))
    np.testing.assert_allclose(m.i1, [1.0e5, 1.05e5], rtol=1e-12)
    np.testing.assert_allclose(m.i0, [2.0e5, 2.1e5], rtol=1e-12)
    np.testing.assert_allclose(m.exposure_time_s, 0.1)
    assert m.timestamps_s[0] == 100.0


def test_monitors_recomputed_from_raw_counters(tmp_path):
    # HS32V = (HS32C - HS32Z t_live) HS32F (integrating counters), ID02.md §1.4
    path = _write(tmp_path / "raw.h5")
    _strip_interpreted(path)
    m = read_scalers(path)
    np.testing.assert_allclose(m.i1, [1.0e5, 1.05e5], rtol=1e-9)
    np.testing.assert_allclose(m.i0, [2.0e5, 2.1e5], rtol=1e-9)
    np.testing.assert_allclose(m.exposure_time_s, 0.1, rtol=1e-9)


def test_pins_by_name_and_shutter_correction(tmp_path):
    path = _write(tmp_path / "named.h5")
    _strip_interpreted(path)
    with h5py.File(path, "a") as f:
        mcs = f["entry_0000/ESRF-ID02/MCS"]
        del mcs["HSI1"]
        mcs["HSI1"] = "PIN8"  # BLISS era: the counter name
        mcs["ShutterOpeningTime"] = "0.005 s"
        mcs["ShutterClosingTime"] = "0.002 s"
    plain = read_scalers(path)
    np.testing.assert_allclose(plain.i1, [1.0e5, 1.05e5], rtol=1e-9)
    corrected = read_scalers(path, correction="shutter")
    factor = (0.1 - 0.005 + 0.002) / (0.1 - 0.005)
    np.testing.assert_allclose(corrected.i1, plain.i1 * factor, rtol=1e-12)


def test_bad_pin_and_missing_group(tmp_path):
    path = _write(tmp_path / "bad.h5")
    _strip_interpreted(path)
    with h5py.File(path, "a") as f:
        mcs = f["entry_0000/ESRF-ID02/MCS"]
        del mcs["HSI1"]
        mcs["HSI1"] = "NOPE"
    with pytest.raises(InputError, match=r"bad\.h5.*HSI1.*NOPE"):
        read_scalers(path)
    empty = tmp_path / "empty.h5"
    with h5py.File(empty, "w") as f:
        f.create_group("entry_0000/inst")
    with pytest.raises(InputError, match="MCS"):
        read_scalers(empty)
    with pytest.raises(InputError, match="correction"):
        read_scalers(path, correction="magic")


def test_scaler_file_naming(tmp_path):
    raw = tmp_path / "nk04_saxs_00047.h5"
    assert scaler_file_for(raw) is None
    (tmp_path / "nk04_scalers_00047.h5").touch()
    assert scaler_file_for(raw) == tmp_path / "nk04_scalers_00047.h5"
    bliss = tmp_path / "ewoks_eiger2_00009_00.h5"
    (tmp_path / "ewoks_scalers_00009_00.h5").touch()
    assert scaler_file_for(bliss) == tmp_path / "ewoks_scalers_00009_00.h5"
