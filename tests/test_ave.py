"""The ID02 ``_ave`` layout (saxs.io.ave): read back with plain h5py at ID02's paths."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import saxs
from saxs import InputError, Reducer
from saxs.io.ave import DUMMY, ave_path, write_ave
from saxs.io.lima import write_lima
from saxs.io.scalers import write_scalers

NPT = 50


def _stack(tmp_path, geometry, n=6, scalers=True):
    rng = np.random.default_rng(21)
    frames = rng.poisson(150, (n, *geometry.shape)).astype(np.uint32)
    header = {**geometry.to_header(), "Dummy": "-1", "DDummy": "0", "Title": "gel",
              "PolarizationFactor": "0.9"}
    path = tmp_path / "raw" / "kin_eiger2_00003_00.h5"
    path.parent.mkdir()
    write_lima(path, frames, header)
    if scalers:
        write_scalers(tmp_path / "raw" / "kin_scalers_00003_00.h5",
                      i0=np.linspace(2e5, 2.2e5, n), i1=np.linspace(1e5, 1.1e5, n),
                      exposure_time_s=np.full(n, 0.05), start_epoch=1.7e9)
    return saxs.read_frames(path)


def test_layout_read_back_with_h5py(tmp_path, small_geometry):
    stack = _stack(tmp_path, small_geometry)
    reducer = Reducer(stack.geometry, npt=NPT)
    series = reducer.integrate_frames(stack)
    out = ave_path(stack.path, tmp_path / "processed")
    assert out.name == "kin_eiger2_00003_00_ave.h5"
    write_ave(out, series, stack)
    with h5py.File(out, "r") as f:
        result = f["entry_0000/PyFAI/result_ave"]
        assert result.attrs["NX_class"] == "NXdata"
        assert result.attrs["signal"] == "data"
        assert result["q"].attrs["unit"] == "q_nm^-1"
        np.testing.assert_array_equal(result["q"][()], series.q)
        data, errors = result["data"][()], result["data_errors"][()]
        assert data.shape == (6, NPT)
        assert data.dtype == np.float32
        full = series.count > 0
        np.testing.assert_allclose(data[full], series.intensity[full], rtol=1e-6)
        np.testing.assert_allclose(errors[full], series.sigma[full], rtol=1e-6)
        assert np.all(data[~full] == DUMMY)
        t = result["t"][()]
        assert result["t"].attrs["units"] == "s"
        np.testing.assert_allclose(t, np.arange(6) * 0.051, atol=1e-6)  # TFG delta_time
        params = f["entry_0000/PyFAI/parameters"]
        g = stack.geometry
        assert params["Center_1"][()] == pytest.approx(g.center_1_px, rel=1e-12)
        assert params["Center_2"][()] == pytest.approx(g.center_2_px, rel=1e-12)
        assert params["PSize_1"][()] == g.pixel2_m
        assert params["PSize_2"][()] == g.pixel1_m
        assert params["SampleDistance"][()] == g.distance_m
        assert params["WaveLength"][()] == g.wavelength_m
        assert params["Dummy"][()] == -10.0
        assert params["DDummy"][()] == 0.1
        assert params["BSize_1"][()] == 1.0
        assert params["BSize_2"][()] == 1.0
        assert params["normalization"][()].decode() == "i1"
        mcs = f["entry_0000/PyFAI/MCS"]
        np.testing.assert_allclose(mcs["Intensity1UnCor"][()], stack.monitor_i1, rtol=1e-12)
        np.testing.assert_allclose(mcs["Intensity0UnCor"][()], stack.monitor_i0, rtol=1e-12)
        np.testing.assert_allclose(mcs["ExposureTime"][()], 0.05, rtol=1e-9)
        assert f.attrs["default"] == "/entry_0000"
        assert f["entry_0000"].attrs["default"] == "PyFAI/result_ave"
        assert f["entry_0000/PyFAI/flags/zinger_pixels"].shape == (6,)


def test_sectors_and_binning_in_one_file(tmp_path, small_geometry):
    stack = _stack(tmp_path, small_geometry)
    reducer = Reducer(stack.geometry, npt=NPT)
    whole, sector = reducer.integrate_frames(stack, bin_frames=2,
                                             azimuth_range=[None, (0.0, 90.0)])
    out = write_ave(tmp_path / "x_ave.h5", [whole, sector], stack)
    with h5py.File(out, "r") as f:
        process = f["entry_0000/PyFAI"]
        assert process["result_ave/data"].shape == (3, NPT)
        assert process["result_ave/frames"][()].tolist() == [[0, 2], [2, 4], [4, 6]]
        np.testing.assert_allclose(process["result_ave/t"][()], [0, 0.102, 0.204], atol=1e-6)
        assert process["result_ave_1"].attrs["azimuth_range_deg"].tolist() == [0.0, 90.0]
        back = process["result_ave_1/data"][()]
        full = sector.count > 0
        np.testing.assert_allclose(back[full], sector.intensity[full], rtol=1e-6)
        np.testing.assert_allclose(process["MCS/monitor"][()], whole.monitor, rtol=1e-12)


def test_never_overwrites_unless_asked(tmp_path, small_geometry):
    stack = _stack(tmp_path, small_geometry)
    series = Reducer(stack.geometry, npt=NPT).integrate_frames(stack)
    out = write_ave(tmp_path / "a_ave.h5", series, stack)
    before = out.read_bytes()
    with pytest.raises(InputError, match="exists"):
        write_ave(out, series, stack)
    assert out.read_bytes() == before
    write_ave(out, series, stack, overwrite=True)
    assert not list(tmp_path.glob(".a_ave*"))  # no temporary left behind


def test_missing_time_axis(tmp_path, small_geometry):
    stack = _stack(tmp_path, small_geometry, scalers=False)
    assert stack.timestamps_s is None
    series = Reducer(stack.geometry, npt=NPT).integrate_frames(stack)
    assert series.time_s is None
    with pytest.raises(InputError, match="no frame times"):
        write_ave(tmp_path / "t_ave.h5", series, stack)
    assert not (tmp_path / "t_ave.h5").exists()
