"""Mask, dark and flat files: conventions, binning, bad shapes."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import saxs
from saxs import InputError
from saxs.io.calib import rebin
from saxs.io.edf import write_edf


def _write(path, image, **header):
    write_edf(path, np.asarray(image), {k: str(v) for k, v in header.items()})
    return path


def test_mask_nonzero_convention(tmp_path):
    image = np.zeros((8, 10), np.uint8)
    image[2, 3] = 1
    mask = saxs.read_mask(_write(tmp_path / "m.edf", image))
    assert mask.dtype == bool
    assert mask.sum() == 1
    assert mask[2, 3]


def test_mask_dummy_convention_auto_and_forced(tmp_path):
    # dahu: masked where abs(value - Dummy) <= DDummy, Dummy from the mask's own header
    image = np.ones((8, 10), np.float32)
    image[1, 1] = -10
    path = _write(tmp_path / "d.edf", image, Dummy=-10, DDummy=0.1)
    assert saxs.read_mask(path).sum() == 1
    assert saxs.read_mask(path, convention="nonzero").all()
    with pytest.raises(InputError, match="Dummy"):
        saxs.read_mask(_write(tmp_path / "n.edf", image), convention="dummy")


def test_binned_mask_brought_to_data_binning(tmp_path):
    fine = np.zeros((8, 12), np.uint8)
    fine[5, 7] = 1
    path = _write(tmp_path / "fine.edf", fine, BSize_1=1, BSize_2=1)
    coarse = saxs.read_mask(path, (4, 6), binning=(2, 2))
    assert coarse.shape == (4, 6)
    assert coarse.sum() == 1
    assert coarse[2, 3]
    # a 2x2-binned mask expanded to unbinned data
    path2 = _write(tmp_path / "coarse.edf", coarse.astype(np.uint8), BSize_1=2, BSize_2=2)
    expanded = saxs.read_mask(path2, (8, 12), binning=(1, 1))
    assert expanded.sum() == 4
    assert expanded[4:6, 6:8].all()


def test_mask_of_wrong_shape(tmp_path):
    path = _write(tmp_path / "wrong.edf", np.zeros((7, 10), np.uint8))
    with pytest.raises(InputError, match=r"wrong\.edf.*\(7, 10\).*\(8, 10\)"):
        saxs.read_mask(path, (8, 10))


def test_mask_binning_keys_disagree(tmp_path):
    path = _write(tmp_path / "b.edf", np.zeros((8, 10), np.uint8), BSize_1=1, BSize_2=1)
    with pytest.raises(InputError, match="binning"):
        saxs.read_mask(path, (8, 10), binning=(2, 2))


def test_dark_stack_mean_median_and_sum_binning(tmp_path):
    stack = np.stack([np.full((4, 6), v, np.float32) for v in (1.0, 2.0, 9.0)])
    path = tmp_path / "dark.edf"
    write_edf(path, stack, {})
    assert saxs.read_dark(path).mean() == pytest.approx(4.0)
    assert saxs.read_dark(path, combine="median").mean() == pytest.approx(2.0)
    binned = saxs.read_dark(path, (2, 3))
    np.testing.assert_allclose(binned, 16.0)  # 2x2 pixels of 4 counts: charge adds


def test_dark_from_hdf5_dataset(tmp_path):
    path = tmp_path / "dark.h5"
    with h5py.File(path, "w") as f:
        f["entry_0000/measurement/data"] = np.full((3, 4, 6), 5, np.uint16)
    np.testing.assert_allclose(saxs.read_dark(path), 5.0)


def test_flat_dummy_and_nonpositive_pixels_become_zero(tmp_path):
    flat = np.ones((4, 6), np.float32)
    flat[0, 0] = -10
    flat[1, 1] = 0
    flat[2, 2] = 1.2
    path = _write(tmp_path / "flat.edf", flat, Dummy=-10, DDummy=0.1)
    out = saxs.read_flat(path)
    assert out[0, 0] == 0
    assert out[1, 1] == 0
    assert out[2, 2] == pytest.approx(1.2)
    binned = saxs.read_flat(path, (2, 3))
    assert binned[0, 0] == 0  # a block with an invalid pixel stays invalid
    assert binned[1, 2] == pytest.approx(1.0)


def test_rebin_rules():
    image = np.arange(16, dtype=float).reshape(4, 4)
    np.testing.assert_allclose(rebin(image, (2, 2), "mean"), [[2.5, 4.5], [10.5, 12.5]])
    np.testing.assert_allclose(rebin(image, (2, 2), "sum"), [[10, 18], [42, 50]])
    up = rebin(np.ones((2, 2)), (4, 4), "sum")
    assert up.sum() == pytest.approx(4.0)
    with pytest.raises(InputError, match="integer binning"):
        rebin(image, (3, 3), "mean")


def test_read_calibration_builds_one_object(tmp_path):
    from saxs.calibration_images import CalibrationImages
    from saxs.io.calib import read_calibration

    gaps = np.zeros((8, 10), np.uint8)
    gaps[3] = 1
    stop = np.zeros((8, 10), bool)
    stop[5, 5] = True
    flat = np.ones((8, 10), np.float32)
    flat[0, 0] = -1  # invalid: 0 in the object, masked by the reducer
    calib = read_calibration((8, 10), mask=[_write(tmp_path / "g.edf", gaps), stop],
                             dark=2.5, flat=_write(tmp_path / "f.edf", flat))
    assert isinstance(calib, CalibrationImages)
    assert calib.mask.sum() == 11
    assert calib.dark.tolist() == np.full((8, 10), 2.5).tolist()
    assert calib.flat[0, 0] == 0.0
    assert not calib.valid[0, 0]
    assert calib.sources["mask"].endswith("g.edf, array (8, 10)")
    with pytest.raises(ValueError, match="read-only"):
        calib.dark[0, 0] = 1.0
    reducer = saxs.Reducer(saxs.Geometry(distance_m=1.0, poni1_m=4e-4, poni2_m=5e-4,
                                         pixel1_m=1e-4, pixel2_m=1e-4, wavelength_m=1e-10,
                                         shape=(8, 10)), calibration=calib, npt=5)
    assert reducer.calibration is calib
    assert reducer.sources["dark"] == "2.5"


def test_calibration_of_another_shape_or_with_nan(tmp_path):
    from saxs.calibration_images import CalibrationImages

    with pytest.raises(InputError, match="share one 2-D shape"):
        CalibrationImages(mask=np.zeros((4, 4), bool), dark=np.zeros((4, 5)),
                          flat=np.ones((4, 4)))
    with pytest.raises(InputError, match="NaN"):
        CalibrationImages.from_arrays((4, 4), dark=np.full((4, 4), np.nan))
    with pytest.raises(InputError, match="give an array here"):
        CalibrationImages.from_arrays((4, 4), flat="flat.edf")
