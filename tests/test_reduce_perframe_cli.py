"""``saxs reduce --per-frame``: the ID02 ``_ave.h5`` from the command line, read with h5py."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import saxs
from saxs.io.lima import write_lima
from saxs.io.scalers import write_scalers
from saxs_pipelines.cli import main

NPT = 40
N_FRAMES = 6


@pytest.fixture
def stack(tmp_path, small_geometry):
    """A 6-frame LIMA stack with its scaler file (frames 0.05 s, 1 ms dead time)."""
    rng = np.random.default_rng(7)
    frames = rng.poisson(200, (N_FRAMES, *small_geometry.shape)).astype(np.uint32)
    header = {**small_geometry.to_header(), "Dummy": "-1", "DDummy": "0", "Title": "kin"}
    raw = tmp_path / "raw"
    raw.mkdir()
    path = raw / "kin_eiger2_00004_00.h5"
    write_lima(path, frames, header)
    write_scalers(raw / "kin_scalers_00004_00.h5", i0=np.full(N_FRAMES, 2e5),
                  i1=np.linspace(1e5, 1.2e5, N_FRAMES), exposure_time_s=np.full(N_FRAMES, 0.05),
                  start_epoch=1.7e9)
    return path


def _run(*argv) -> int:
    return main(["reduce", *map(str, argv), "-q"])


def test_per_frame_writes_ave_read_back_with_h5py(stack, tmp_path):
    out = tmp_path / "processed"
    assert _run(stack, "--per-frame", "-n", NPT, "-o", out) == 0
    path = out / "kin_eiger2_00004_00_ave.h5"
    frames = saxs.read_frames(stack)
    expected = saxs.Reducer(frames.geometry, npt=NPT).integrate_frames(frames)
    with h5py.File(path, "r") as f:
        result = f["entry_0000/PyFAI/result_ave"]
        q, data = result["q"][()], result["data"][()]
        errors, t = result["data_errors"][()], result["t"][()]
        assert result["q"].attrs["unit"] == "q_nm^-1"
        assert data.shape == errors.shape == (N_FRAMES, NPT)
        np.testing.assert_array_equal(q, expected.q)
        full = expected.count > 0
        np.testing.assert_allclose(data[full], expected.intensity[full], rtol=1e-6)
        np.testing.assert_allclose(errors[full], expected.sigma[full], rtol=1e-6)
        np.testing.assert_array_equal(t, expected.time_s)
        # TFG delta_time; the epochs (~1.7e9 s) carry float64 rounding of ~2e-7 s
        np.testing.assert_allclose(t, np.arange(N_FRAMES) * 0.051, atol=1e-6)
        assert f["entry_0000/PyFAI/parameters/normalization"][()].decode() == "i1"


def test_bin_frames_sectors_and_normalization(stack, tmp_path):
    out = tmp_path / "processed"
    assert _run(stack, "--per-frame", "--bin-frames", 4, "--azimuth-range=-90,90",
                "--azimuth-range", "90,270", "--normalization", "exposure", "-n", NPT,
                "-o", out) == 0
    frames = saxs.read_frames(stack)
    reducer = saxs.Reducer(frames.geometry, npt=NPT, normalization="exposure")
    expected = reducer.integrate_frames(frames, bin_frames=4,
                                        azimuth_range=[(-90.0, 90.0), (90.0, 270.0)])
    with h5py.File(out / "kin_eiger2_00004_00_ave.h5", "r") as f:
        process = f["entry_0000/PyFAI"]
        for name, want in zip(("result_ave", "result_ave_1"), expected, strict=True):
            group = process[name]
            np.testing.assert_array_equal(group.attrs["azimuth_range_deg"],
                                          want.azimuth_range_deg)
            assert group["data"].shape == (2, NPT)  # 6 frames in groups of 4: 4 + 2
            np.testing.assert_array_equal(group["frames"][()], [[0, 4], [4, 6]])
            full = want.count > 0
            np.testing.assert_allclose(group["data"][()][full], want.intensity[full],
                                       rtol=1e-6)
            np.testing.assert_allclose(group["t"][()], [0.0, 4 * 0.051], atol=1e-6)
        assert process["parameters/normalization"][()].decode() == "exposure"
    back = saxs.read_ave(out / "kin_eiger2_00004_00_ave.h5")
    assert [c.azimuth_range_deg for c in back] == [(-90.0, 90.0), (90.0, 270.0)]
    full = expected[1].count > 0
    np.testing.assert_allclose(back[1].intensity[full], expected[1].intensity[full], rtol=1e-6)


def test_monitor_given_on_the_command_line(stack, tmp_path):
    out = tmp_path / "processed"
    assert _run(stack, "--per-frame", "--normalization", "i1", "--monitor", "5e4", "-n", NPT,
                "-o", out) == 0
    with h5py.File(out / "kin_eiger2_00004_00_ave.h5", "r") as f:
        np.testing.assert_allclose(f["entry_0000/PyFAI/MCS/monitor"][()], 5e4)


@pytest.mark.parametrize(("argv", "words"), [
    (["--per-frame", "--bin-frames", "0"], ["--bin-frames 0", ">= 1"]),
    (["--per-frame", "--azimuth-range=-200,10"], ["--azimuth-range '-200,10'", "-180..360"]),
    (["--per-frame", "--azimuth-range", "10,400"], ["--azimuth-range '10,400'"]),
    (["--per-frame", "--azimuth-range", "30,10"], ["--azimuth-range '30,10'", "MIN < MAX"]),
    (["--per-frame", "--azimuth-range=-10,200"], ["crosses both 0 and 180"]),
    (["--per-frame", "--azimuth-range", "ten"], ["--azimuth-range 'ten'", "MIN,MAX"]),
    (["--per-frame", "--normalization", "flux"], ["--normalization 'flux'", "exposure"]),
    (["--per-frame", "--monitor", "-3"], ["--monitor -3", "positive"]),
    (["--per-frame", "--monitor", "3", "--normalization", "none"], ["--monitor"]),
    (["--bin-frames", "2"], ["--bin-frames", "--per-frame"]),
    (["--unit", "2th_deg"], ["--unit '2th_deg'", "q_nm^-1, q_A^-1"]),
    (["--method", "splitpixel"], ["--method 'splitpixel'", "bbox,csr,cython"]),
    (["--method", "bbox,csr,opencl"], ["--method 'bbox,csr,opencl'"]),
    (["-c", "nope.yaml"], ["-c nope.yaml: file not found"]),
    (["-n", "1"], ["-n 1", "at least 2"]),
])
def test_bad_options_one_line_before_any_output(stack, tmp_path, capsys, argv, words):
    out = tmp_path / "not_made"
    assert _run(stack, *argv, "-o", out) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "Traceback" not in err
    assert err.startswith("saxs reduce: error:")
    for word in words:
        assert word in err
    assert not out.exists()


def test_existing_output_and_missing_input_refused_before_work(stack, tmp_path, capsys):
    out = tmp_path / "processed"
    out.mkdir()
    (out / "kin_eiger2_00004_00_ave.h5").write_bytes(b"")
    assert _run(stack, "--per-frame", "-o", out) == 3  # that item failed, before its work
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert (out / "kin_eiger2_00004_00_ave.h5").read_bytes() == b""
    assert _run(tmp_path / "nope.h5", "--per-frame", "-o", tmp_path / "x") == 1
    assert "nope.h5: file not found" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_stack_without_time_axis_is_an_input_error(tmp_path, small_geometry, capsys):
    rng = np.random.default_rng(3)
    frames = rng.poisson(100, (3, *small_geometry.shape)).astype(np.uint32)
    path = tmp_path / "plain.h5"
    with h5py.File(path, "w") as f:
        f["data"] = frames
    poni = small_geometry.to_poni(tmp_path / "g.poni")
    out = tmp_path / "processed"
    assert _run(f"{path}::/data", "--per-frame", "-p", poni, "--normalization", "none",
                "-n", NPT, "-o", out) == 3
    err = capsys.readouterr().err
    assert "no frame times" in err
    assert "Traceback" not in err
    assert not (out / "plain_ave.h5").exists()


def test_unit_method_and_config(stack, tmp_path):
    """pyFAI's --unit and --method, and the settings of -c pipeline.yaml (options win)."""
    import yaml

    frames = saxs.read_frames(stack)
    out = tmp_path / "a"
    assert _run(stack, "-n", NPT, "--unit", "q_A^-1", "--method", "no", "-o", out) == 0
    expected = saxs.Reducer(frames.geometry, npt=NPT, method=("no", "csr", "cython")).reduce(
        frames)
    with h5py.File(out / "kin_eiger2_00004_00.h5", "r") as f:
        q = f["sasentry01/sasdata01/Q"]
        assert q.attrs["units"] == "1/angstrom"
        np.testing.assert_allclose(q[()], expected.q / 10, rtol=1e-12)
    back = saxs.read_curve(out / "kin_eiger2_00004_00.h5")
    np.testing.assert_allclose(back.q, expected.q, rtol=1e-12)
    np.testing.assert_allclose(back.intensity, expected.intensity, rtol=1e-12)
    # per frame in 1/A: the file says so, read_ave converts back
    assert _run(stack, "--per-frame", "-n", NPT, "-u", "q_A^-1", "-o", out) == 0
    with h5py.File(out / "kin_eiger2_00004_00_ave.h5", "r") as f:
        assert f["entry_0000/PyFAI/result_ave/q"].attrs["unit"] == "q_A^-1"
        assert f["entry_0000/PyFAI/parameters/unit"][()].decode() == "q_A^-1"
    per_frame = saxs.Reducer(frames.geometry, npt=NPT).integrate_frames(frames)
    np.testing.assert_allclose(saxs.read_ave(out / "kin_eiger2_00004_00_ave.h5")[0].q,
                               per_frame.q, rtol=1e-12)
    # -c: npt and method from the config's reduce section; -n on the command line wins
    config = tmp_path / "pipeline.yaml"
    config.write_text(yaml.safe_dump({"reduce": {"npt": 33, "method": ["full", "csr",
                                                                        "cython"]}}))
    assert _run(stack, "-c", config, "-o", tmp_path / "b") == 0
    curve = saxs.read_curve(tmp_path / "b" / "kin_eiger2_00004_00.h5")
    assert len(curve) <= 33
    assert any(step.parameters.get("method") == ["full", "csr", "cython"]
               for step in curve.provenance)
    assert _run(stack, "-c", config, "-n", 21, "-o", tmp_path / "c") == 0
    assert len(saxs.read_curve(tmp_path / "c" / "kin_eiger2_00004_00.h5")) <= 21
