"""Per-frame reduction (saxs.perframe via Reducer.integrate_frames): curves equal pyFAI's own
integrate1d of each frame (same method, same corrections) to 1e-6 relative, for stacks of
every storage; sectors; frame binning; outlier flags; bad input."""

from __future__ import annotations

import numpy as np
import pytest

import saxs
from saxs import InputError, Reducer
from saxs.azimuthal import integrate1d
from saxs.io.edf import write_edf
from saxs.io.lima import write_lima
from saxs.io.scalers import write_scalers

NPT = 60
N_FRAMES = 7
DUMMY = 4294967295.0  # uint32 Eiger-style dummy; -10 for float EDF


def _calibration(geometry, rng):
    mask = np.zeros(geometry.shape, dtype=bool)
    mask[10:13, :] = True          # a gap
    mask[28:34, 25:32] = True      # a beamstop
    dark = rng.uniform(0.0, 2.0, geometry.shape)
    flat = rng.uniform(0.9, 1.1, geometry.shape)
    return mask, dark, flat


def _frames(geometry, rng, dtype, dummy):
    """Poisson frames with a ring, one frame brighter (a bubble), dummies in some frames."""
    rows, cols = np.indices(geometry.shape)
    r = np.hypot(rows - 30.3, cols - 28.7)
    level = 300 + 2000 * np.exp(-0.5 * ((r - 18) / 2.0) ** 2)
    frames = rng.poisson(level, (N_FRAMES, *geometry.shape)).astype(dtype)
    frames[1, 5, 7] = dummy
    frames[4, 40:42, 50] = dummy
    return frames


def _header(geometry, dummy):
    return {**geometry.to_header(), "Dummy": repr(dummy), "DDummy": "0",
            "PolarizationFactor": "0.95", "NormalizationFactor": "2.5", "Title": "kinetics"}


def _write(tmp_path, geometry, storage, rng):
    """A stack of ``storage`` with per-frame monitors (a scaler file, or EDF headers)."""
    dtype = {"int32": np.int32, "uint32": np.uint32, "gzip": np.uint32,
             "edf": np.float32}[storage]
    dummy = -10.0 if storage == "edf" else (-1.0 if storage == "int32" else DUMMY)
    frames = _frames(geometry, rng, dtype, dummy)
    monitors = rng.uniform(0.9e5, 1.1e5, N_FRAMES)
    exposure = np.full(N_FRAMES, 0.1)
    header = _header(geometry, dummy)
    if storage == "edf":
        path = tmp_path / "kin_saxs_00001.edf"
        write_edf(path, frames, header, frame_headers=[
            {"Intensity1": repr(float(m)), "ExposureTime": "0.1",
             "HMStartEpoch": repr(10.0 + 0.2 * k)}
            for k, m in enumerate(monitors)])
    else:
        path = tmp_path / "kin_eiger2_00001_00.h5"
        write_lima(path, frames, header,
                   compression="gzip" if storage == "gzip" else "bitshuffle-lz4")
        write_scalers(tmp_path / "kin_scalers_00001_00.h5", i0=monitors * 1.3, i1=monitors,
                      exposure_time_s=exposure, start_epoch=100.0)
    return path, frames


def _pyfai(stack, reducer, k, split, azimuth_range=None, monitors=None):
    g = stack.geometry
    nf = stack.header.number("NormalizationFactor")
    pf = stack.header.number("PolarizationFactor")
    monitor = (stack.monitor_i1 if monitors is None else monitors)[k]
    return integrate1d(
        g, stack[k], NPT, mask=~reducer.valid, dark=reducer.dark,
        flat=np.where(reducer.valid, reducer.flat, 1.0), polarization_factor=pf,
        normalization_factor=monitor * g.pixel1_m * g.pixel2_m / (g.distance_m**2 * nf),
        error_model="poisson", dummy=stack.dummy, delta_dummy=stack.delta_dummy,
        method=(split, "csr", "cython"), azimuth_range_deg=azimuth_range)


def _assert_equal_to_pyfai(series, k, ref, rtol=1e-6):
    np.testing.assert_allclose(series.q, ref.q, rtol=1e-12)
    full = ref.count > 0
    np.testing.assert_array_equal(series.count[k] > 0, full)
    np.testing.assert_allclose(series.count[k][full], ref.count[full], rtol=1e-12)
    np.testing.assert_allclose(series.intensity[k][full], ref.intensity[full], rtol=rtol)
    np.testing.assert_allclose(series.sigma[k][full], ref.sigma[full], rtol=rtol)


@pytest.mark.parametrize("storage", ["int32", "uint32", "gzip", "edf"])
@pytest.mark.parametrize("split", ["no", "bbox"])
def test_curves_equal_pyfai_per_frame(tmp_path, small_geometry, storage, split):
    rng = np.random.default_rng(7)
    mask, dark, flat = _calibration(small_geometry, rng)
    path, _ = _write(tmp_path, small_geometry, storage, rng)
    stack = saxs.read_frames(path)
    assert stack.reads_compressed == (storage in ("int32", "uint32"))
    reducer = Reducer(stack.geometry, mask=mask, dark=dark, flat=flat, npt=NPT,
                      method=(split, "csr", "cython"))
    series = reducer.integrate_frames(stack)
    assert series.intensity.shape == (N_FRAMES, NPT)
    for k in range(N_FRAMES):
        _assert_equal_to_pyfai(series, k, _pyfai(stack, reducer, k, split))
    assert series.frame_flags["dummy_pixels"].tolist() == [0, 1, 0, 0, 2, 0, 0]
    assert series.metadata["normalization"] == "i1"
    step = series.provenance[0]
    assert step.parameters["per_frame"]
    assert step.parameters["normalization"] == "i1"
    np.testing.assert_allclose(series.monitor, stack.monitor_i1, rtol=1e-12)
    assert series.time_s is not None
    assert series.time_s[0] == 0.0


def test_default_method_is_no_splitting(tmp_path, small_geometry):
    rng = np.random.default_rng(8)
    path, _ = _write(tmp_path, small_geometry, "uint32", rng)
    stack = saxs.read_frames(path)
    reducer = Reducer(stack.geometry, npt=NPT)
    series = reducer.integrate_frames(stack)
    assert series.provenance[0].parameters["method"] == ["no", "csr", "cython"]
    _assert_equal_to_pyfai(series, 3, _pyfai(stack, reducer, 3, "no"))
    curves = reducer.reduce_frames(stack)  # the Curve list of the same numbers
    assert len(curves) == N_FRAMES
    assert curves[2].metadata["frame"] == 2
    keep = series.count[2] > 0
    np.testing.assert_array_equal(curves[2].intensity, series.intensity[2][keep])


@pytest.mark.parametrize("sector", [(-30.0, 45.0), (100.0, 170.0), (150.0, 250.0),
                                    (-180.0, -90.0)])
def test_sectors_equal_pyfai_azimuth_range(tmp_path, small_geometry, sector):
    rng = np.random.default_rng(9)
    mask, dark, flat = _calibration(small_geometry, rng)
    path, _ = _write(tmp_path, small_geometry, "uint32", rng)
    stack = saxs.read_frames(path)
    reducer = Reducer(stack.geometry, mask=mask, dark=dark, flat=flat, npt=NPT)
    whole, part = reducer.integrate_frames(stack, azimuth_range=[None, sector])
    assert whole.azimuth_range_deg is None
    assert part.azimuth_range_deg == sector
    for k in (0, 4):
        _assert_equal_to_pyfai(part, k, _pyfai(stack, reducer, k, "no", sector))
        _assert_equal_to_pyfai(whole, k, _pyfai(stack, reducer, k, "no"))
    assert part.count[0].sum() < 0.6 * whole.count[0].sum()


def test_frame_binning_adds_frames_before_dividing(tmp_path, small_geometry):
    rng = np.random.default_rng(10)
    path, _ = _write(tmp_path, small_geometry, "uint32", rng)
    stack = saxs.read_frames(path)
    reducer = Reducer(stack.geometry, npt=NPT)
    single = reducer.integrate_frames(stack)
    binned = reducer.integrate_frames(stack, bin_frames=3)
    assert binned.frame_range.tolist() == [[0, 3], [3, 6], [6, 7]]
    np.testing.assert_allclose(binned.monitor[0], stack.monitor_i1[:3].sum(), rtol=1e-12)
    # a group is the pixel-wise sum: I = sum_f S_f / sum_f N_f, with N_f = M_f N (the bins
    # where no frame of the group lost a dummy pixel)
    same = (single.count[:3] == single.count[0]).all(axis=0) & (single.count[0] > 0)
    w = single.monitor[:3, None]
    expected = (single.intensity[:3] * w).sum(axis=0) / w.sum()
    expected_sigma = np.sqrt(((single.sigma[:3] * w) ** 2).sum(axis=0)) / w.sum()
    assert same.sum() > NPT // 2
    np.testing.assert_allclose(binned.intensity[0][same], expected[same], rtol=1e-10)
    np.testing.assert_allclose(binned.sigma[0][same], expected_sigma[same], rtol=1e-10)
    np.testing.assert_allclose(binned.intensity[2], single.intensity[6], rtol=1e-12)


def test_outliers_are_flagged_not_removed(tmp_path, small_geometry):
    rng = np.random.default_rng(11)
    frames = rng.poisson(200, (12, *small_geometry.shape)).astype(np.uint32)
    frames[5] = rng.poisson(260, small_geometry.shape)        # a bubble / beam jump
    zingers = [(2, 7, 9), (2, 40, 33), (8, 20, 20)]
    for k, i, j in zingers:
        frames[k, i, j] += 5000
    frames[11, 3, 3] += 5000                                   # in the last frame
    header = {**small_geometry.to_header(), "Intensity1": "1e5"}
    write_lima(tmp_path / "z.h5", frames, header)
    stack = saxs.read_frames(tmp_path / "z.h5")
    reducer = Reducer(stack.geometry, npt=NPT)
    series = reducer.integrate_frames(stack)
    flags = series.frame_flags
    assert flags["total_outlier"].tolist() == [k == 5 for k in range(12)]
    assert flags["total_ratio"][5] == pytest.approx(1.3, rel=0.02)
    hits = flags["zinger_pixels"]
    assert hits[2] == 2
    assert hits[8] == 1
    assert hits[11] == 1
    assert hits[[0, 1, 3, 4, 6, 7, 9, 10]].sum() <= 1  # 8 sigma: rare false alarms
    assert series.metadata["frames_flagged"] == [5]
    # flagged, never applied: frame 5 keeps its own (higher) curve
    assert np.nanmedian(series.intensity[5] / series.intensity[4]) == pytest.approx(1.3,
                                                                                   rel=0.02)


def test_zinger_flags_do_not_depend_on_the_pass_size(tmp_path, small_geometry, monkeypatch):
    import saxs.perframe

    rng = np.random.default_rng(12)
    frames = rng.poisson(50, (11, *small_geometry.shape)).astype(np.uint32)
    for k in range(11):
        frames[k, k + 3, 2 * k + 1] += 2000
    write_lima(tmp_path / "z.h5", frames, {**small_geometry.to_header(), "Intensity1": "1e5"})
    stack = saxs.read_frames(tmp_path / "z.h5")
    results = []
    for size in (32, 3, 1):
        monkeypatch.setattr(saxs.perframe, "PASS_COMPRESSED", size)
        results.append(Reducer(stack.geometry, npt=NPT).integrate_frames(stack))
    for other in results[1:]:
        np.testing.assert_array_equal(other.frame_flags["zinger_pixels"],
                                      results[0].frame_flags["zinger_pixels"])
        np.testing.assert_array_equal(other.intensity, results[0].intensity)
    assert (results[0].frame_flags["zinger_pixels"] >= 1).all()


def test_thread_count_does_not_change_the_numbers(tmp_path, small_geometry):
    import numba

    rng = np.random.default_rng(13)
    path, _ = _write(tmp_path, small_geometry, "uint32", rng)
    stack = saxs.read_frames(path)
    out = []
    for threads in (1, numba.config.NUMBA_NUM_THREADS):
        numba.set_num_threads(threads)
        out.append(Reducer(stack.geometry, npt=NPT).integrate_frames(stack))
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    np.testing.assert_array_equal(out[0].intensity, out[1].intensity)
    np.testing.assert_array_equal(out[0].sigma, out[1].sigma)


# Monitors -------------------------------------------------------------------------------------

def test_monitor_free_frames_reduce_without_an_extra_step(tmp_path, small_geometry):
    rng = np.random.default_rng(14)
    frames = rng.poisson(100, (3, *small_geometry.shape)).astype(np.float32)
    write_edf(tmp_path / "lab.edf", frames, small_geometry.to_header())
    stack = saxs.read_frames(tmp_path / "lab.edf")
    assert stack.monitor_i1 is None
    assert stack.exposure_time_s is None
    curve = Reducer(stack.geometry, npt=NPT).reduce(stack)
    assert curve.metadata["normalization"] == "none"
    assert curve.provenance[-1].parameters["normalization"] == "none"
    with pytest.raises(InputError, match="no transmitted-flux monitor"):
        Reducer(stack.geometry, npt=NPT, normalization="i1").reduce(stack)
    timed = saxs.read_frames(tmp_path / "lab.edf", header_overrides={"ExposureTime": "0.5"})
    series = Reducer(stack.geometry, npt=NPT).integrate_frames(timed)
    assert series.metadata["normalization"] == "exposure"
    untimed = Reducer(stack.geometry, npt=NPT, normalization="none").integrate_frames(stack)
    np.testing.assert_allclose(series.intensity, untimed.intensity / 0.5, rtol=1e-12)


def test_monitor_passed_directly(tmp_path, small_geometry):
    rng = np.random.default_rng(15)
    frames = rng.poisson(100, (3, *small_geometry.shape)).astype(np.uint32)
    write_lima(tmp_path / "m.h5", frames, small_geometry.to_header())
    stack = saxs.read_frames(tmp_path / "m.h5", monitor=[1.0, 2.0, 4.0])
    np.testing.assert_array_equal(stack.monitor_i1, [1.0, 2.0, 4.0])
    series = Reducer(stack.geometry, npt=NPT).integrate_frames(stack)
    assert series.metadata["normalization"] == "i1"
    plain = Reducer(stack.geometry, npt=NPT, normalization="none").integrate_frames(stack)
    np.testing.assert_allclose(series.intensity[2], plain.intensity[2] / 4.0, rtol=1e-12)
    one = saxs.read_frames(tmp_path / "m.h5", monitor=3.0)
    np.testing.assert_array_equal(one.monitor_i1, [3.0, 3.0, 3.0])
    with pytest.raises(InputError, match="monitor has 2 values for 3 frames"):
        saxs.read_frames(tmp_path / "m.h5", monitor=[1.0, 2.0])


def test_real_tiff_without_monitor(shared_dir):
    """A SAXSLAB Pilatus TIFF (no I1): read and reduced with no extra step."""
    path = shared_dir / "data" / "real" / "agbh_saxslab_2d" / "agbh_latest_0000141_caz.tiff"
    frames = saxs.read_frames(path)
    assert frames.monitor_i1 is None
    reducer = Reducer(frames.geometry, npt=400, zinger_threshold=None)
    curve = reducer.reduce(frames)
    kind = curve.metadata["normalization"]
    assert kind == ("exposure" if frames.exposure_time_s is not None else "none")
    assert curve.provenance[-1].parameters["normalization"] == kind
    q1 = curve.q[np.argmax(np.where((curve.q > 0.9) & (curve.q < 1.3), curve.intensity, 0))]
    assert q1 == pytest.approx(1.0763, rel=0.02)  # AgBh first order (header distance ~1 %)
    series = reducer.integrate_frames(frames)
    assert series.metadata["normalization"] == kind
    assert len(series) == 1


# Bad input ------------------------------------------------------------------------------------

def test_scaler_file_of_another_length(tmp_path, small_geometry):
    rng = np.random.default_rng(16)
    frames = rng.poisson(100, (4, *small_geometry.shape)).astype(np.uint32)
    write_lima(tmp_path / "x_eiger2_00002_00.h5", frames, small_geometry.to_header())
    write_scalers(tmp_path / "x_scalers_00002_00.h5", i0=np.ones(5), i1=np.ones(5),
                  exposure_time_s=np.full(5, 0.1), start_epoch=0.0)
    with pytest.raises(InputError, match=r"has 5 values for 4 frames"):
        saxs.read_frames(tmp_path / "x_eiger2_00002_00.h5")


@pytest.mark.parametrize("sector", [(-190.0, 0.0), (10.0, 370.0), (30.0, 30.0), (50.0, 10.0),
                                    (-90.0, 200.0)])
def test_sectors_outside_the_azimuth_range(tmp_path, small_geometry, sector):
    frames = np.ones((2, *small_geometry.shape), np.uint32)
    write_lima(tmp_path / "s.h5", frames, {**small_geometry.to_header(), "Intensity1": "1"})
    stack = saxs.read_frames(tmp_path / "s.h5")
    with pytest.raises(InputError, match="azimuth range"):
        Reducer(stack.geometry, npt=NPT).integrate_frames(stack, azimuth_range=sector)


def test_bad_bin_frames(tmp_path, small_geometry):
    frames = np.ones((2, *small_geometry.shape), np.uint32)
    write_lima(tmp_path / "b.h5", frames, small_geometry.to_header())
    stack = saxs.read_frames(tmp_path / "b.h5")
    with pytest.raises(InputError, match="bin_frames"):
        Reducer(stack.geometry, npt=NPT).integrate_frames(stack, bin_frames=0)


def test_processing_modules_open_no_file():
    """The engines import no module of saxs.io (type annotations aside); azimuthal.py imports
    saxs.geometry for annotations only (no geometry <-> adapter import circle)."""
    import ast
    from pathlib import Path

    root = Path(saxs.__file__).parent

    def runtime_imports(path):
        tree = ast.parse(path.read_text())
        typing_only = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
                typing_only.update(id(n) for n in ast.walk(node))
        return {node.module for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.module
                and id(node) not in typing_only}

    for name in ("perframe.py", "stack.py", "azimuthal.py", "framecurves.py",
                 "calibration_images.py"):
        assert not any(m.startswith("saxs.io") for m in runtime_imports(root / name)), name
    assert "saxs.geometry" not in runtime_imports(root / "azimuthal.py")


@pytest.mark.slow
def test_peak_memory_does_not_grow_with_the_frames(tmp_path):
    """100 and 1000 frames of a 256 x 256 bitshuffle-LZ4 stack, each reduced frame by frame
    in a fresh process: the peak RSS differs by the results only (1000 x 100 bins), not by
    the frames (1000 frames are 262 MB decoded)."""
    from saxs_pipelines.bench import _child, make_stack

    peaks = {}
    for n in (100, 1000):
        folder = tmp_path / str(n)
        folder.mkdir()
        path = make_stack(folder, n, (256, 256))
        result, _ = _child("per_frame_memory", str(path), 100)
        assert result["frames"] == n
        peaks[n] = result["peak_rss_mb"]
    print(f"peak RSS: 100 frames {peaks[100]:.0f} MB, 1000 frames {peaks[1000]:.0f} MB")
    assert peaks[1000] - peaks[100] < 20.0
