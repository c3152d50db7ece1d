"""The shipped reader samples read back with the headers, geometry and monitors they claim."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import saxs

READERS = Path(__file__).resolve().parents[1] / "data_samples" / "readers"


def test_lima_stack_with_scalers():
    stack = saxs.read_frames(READERS / "mini_eiger2_00001_00.h5")
    assert len(stack) == 4
    assert stack.frame_shape == (64, 60)
    assert stack.dummy == -10
    assert np.all(stack[:][:, 30:32] == -10)  # the gap rows
    assert stack.monitor_i1 is not None
    assert np.all(stack.monitor_i1 > 0)
    assert stack.header.number("NormalizationFactor") > 0
    poni = saxs.Geometry.from_poni(READERS / "geometry.poni")
    for name in ("distance_m", "poni1_m", "poni2_m", "wavelength_m"):
        assert getattr(stack.geometry, name) == pytest.approx(getattr(poni, name), abs=1e-12)


def test_edf_frame_and_variance():
    stack = saxs.read_frames(READERS / "frame_with_variance.edf")
    assert len(stack) == 1
    var = stack.variance(0)
    np.testing.assert_array_equal(var, np.maximum(stack[0], 1))
    assert stack.monitor_i1[0] > 0


def test_calibration_files_fit_the_stack():
    shape = (64, 60)
    mask = saxs.read_mask(READERS / "mask.edf", shape)
    assert mask[30:32].all()
    assert 0.03 < mask.mean() < 0.2
    dark = saxs.read_dark(READERS / "dark.edf", shape)
    assert 0.5 < np.median(dark) < 5
    flat = saxs.read_flat(READERS / "flat.edf", shape)
    assert np.median(flat) == pytest.approx(1.0, abs=0.05)
