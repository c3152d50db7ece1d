"""read_frames on LIMA HDF5, EDF and other fabio images; lazy reads; bad input."""

from __future__ import annotations

import re

import fabio
import h5py
import numpy as np
import pytest

import saxs
from saxs import FrameStack, InputError
from saxs.io.edf import pair_blocks, write_edf
from saxs.io.lima import write_lima
from saxs.io.scalers import write_scalers


def _header(geometry, **extra):
    return {**geometry.to_header(), "Dummy": "-10", "DDummy": "0.1", "Title": "t", **extra}


@pytest.fixture
def frames(rng, small_geometry):
    return rng.poisson(50, (6, *small_geometry.shape)).astype(np.int32)


@pytest.mark.parametrize("compression", ["none", "gzip", "bitshuffle-lz4"])
def test_lima_round_trip(tmp_path, frames, small_geometry, compression):
    path = tmp_path / "s_eiger2_00001_00.h5"
    write_lima(path, frames, _header(small_geometry, ExposureTime="0.1 s"),
               compression=compression, exposure_time_s=0.1)
    stack = saxs.read_frames(path)
    assert len(stack) == 6
    assert stack.dtype == np.int32
    np.testing.assert_array_equal(stack[:], frames)
    np.testing.assert_array_equal(stack[4], frames[4])
    np.testing.assert_array_equal(stack[[5, 1, 1]], frames[[5, 1, 1]])
    np.testing.assert_array_equal(stack[-1], frames[-1])
    assert stack.geometry == small_geometry
    assert stack.header["Title"] == "t"
    assert stack.dummy == -10.0
    np.testing.assert_allclose(stack.exposure_time_s, 0.1)
    with h5py.File(path) as f:
        data = f["/entry_0000/measurement/data"]
        filters = data.id.get_create_plist()
        ids = [filters.get_filter(i)[0] for i in range(filters.get_nfilters())]
        expected = {"none": [], "gzip": [h5py.h5z.FILTER_SHUFFLE, h5py.h5z.FILTER_DEFLATE],
                    "bitshuffle-lz4": [32008]}[compression]  # 32008: bitshuffle filter id
        assert ids == expected


@pytest.mark.parametrize("compression", ["none", "bitshuffle-lz4"])
def test_read_into_a_reused_buffer(tmp_path, frames, small_geometry, compression):
    path = tmp_path / "s_eiger2_00001_00.h5"
    write_lima(path, frames, _header(small_geometry), compression=compression)
    stack = saxs.read_frames(path)
    buffer = np.full((4, *frames.shape[1:]), -1, dtype=np.int32)
    got = stack.read_into(np.array([1, 2, 3]), buffer)
    assert np.shares_memory(got, buffer)
    np.testing.assert_array_equal(got, frames[1:4])
    np.testing.assert_array_equal(buffer[3], -1)  # only the asked frames are written
    view = stack.subset([5, 0])  # unsorted source indices: read, then copied in
    np.testing.assert_array_equal(view.read_into(np.array([0, 1]), buffer), frames[[5, 0]])
    edf = tmp_path / "s.edf"
    write_edf(edf, frames, _header(small_geometry))
    np.testing.assert_array_equal(saxs.read_frames(edf).read_into(np.array([2]), buffer)[0],
                                  frames[2])
    with pytest.raises(InputError, match="does not fit"):
        stack.source.read(np.array([0, 1]), out=np.empty((3, *frames.shape[1:]), np.int32))


def test_lima_geometry_matches_simulator_integrator(tmp_path, frames, small_geometry):
    path = tmp_path / "x.h5"
    write_lima(path, frames, _header(small_geometry))
    ai_file = saxs.read_frames(path).geometry.integrator()
    ai_sim = small_geometry.integrator()
    for name in ("poni1", "poni2", "dist", "rot1", "rot2", "rot3", "wavelength"):
        assert getattr(ai_file, name) == pytest.approx(getattr(ai_sim, name), abs=1e-12)


def test_lazy_read_touches_only_asked_frames(tmp_path, small_geometry, monkeypatch):
    big = np.zeros((2000, 8, 8), dtype=np.uint16)
    big[7] = 7
    geometry = small_geometry.with_shape((8, 8))
    path = tmp_path / "big.h5"
    write_lima(path, big, _header(geometry), compression="gzip")
    stack = saxs.read_frames(path)
    calls = []
    original = h5py.Dataset.read_direct

    def spy(self, dest, source_sel=None, dest_sel=None):
        calls.append(source_sel)
        return original(self, dest, source_sel, dest_sel)

    monkeypatch.setattr(h5py.Dataset, "read_direct", spy)
    frame = stack[7]
    assert np.all(frame == 7)
    assert calls == [np.s_[7:8]]
    calls.clear()
    chunks = list(stack.subset(slice(10, 25)).iter_chunks(4))
    assert [len(p) for p, _ in chunks] == [4, 4, 4, 3]
    assert calls == [np.s_[10:14], np.s_[14:18], np.s_[18:22], np.s_[22:25]]


def test_several_entries_and_explicit_dataset(tmp_path, frames, small_geometry):
    path = tmp_path / "multi.h5"
    write_lima(path, frames[:2], _header(small_geometry, Title="first"))
    write_lima(path, frames[2:5], _header(small_geometry, Title="second"), entry=1)
    first = saxs.read_frames(path)
    second = saxs.read_frames(f"{path}::/entry_0001/measurement/data")
    assert (len(first), len(second)) == (2, 3)
    assert second.header.title == "second"
    np.testing.assert_array_equal(second[0], frames[2])


def test_plain_hdf5_2d_dataset_with_poni(tmp_path, small_geometry):
    path = tmp_path / "img.h5"
    image = np.arange(np.prod(small_geometry.shape), dtype=np.float32).reshape(
        small_geometry.shape)
    with h5py.File(path, "w") as f:
        f["/some/image"] = image
    poni = small_geometry.to_poni(tmp_path / "g.poni")
    stack = saxs.read_frames(f"{path}::/some/image", poni=poni)
    assert len(stack) == 1
    np.testing.assert_array_equal(stack[0], image)
    assert stack.geometry.distance_m == pytest.approx(small_geometry.distance_m)


def test_scaler_file_found_and_used(tmp_path, frames, small_geometry):
    path = tmp_path / "cdse_eiger2_00012_00.h5"
    write_lima(path, frames, _header(small_geometry))
    i1 = np.linspace(1.0e5, 1.1e5, 6)
    i0 = i1 * 1.3
    write_scalers(tmp_path / "cdse_scalers_00012_00.h5", i0=i0, i1=i1,
                  exposure_time_s=np.full(6, 0.1), start_epoch=1.7e9)
    stack = saxs.read_frames(path)
    np.testing.assert_allclose(stack.monitor_i1, i1, rtol=1e-12)
    np.testing.assert_allclose(stack.monitor_i0, i0, rtol=1e-12)
    np.testing.assert_allclose(stack.exposure_time_s, 0.1, rtol=1e-12)
    assert stack.timestamps_s[0] == pytest.approx(1.7e9)
    assert np.all(np.diff(stack.timestamps_s) > 0)
    sub = stack.subset([1, 3])
    np.testing.assert_allclose(sub.monitor_i1, i1[[1, 3]])
    no_scalers = saxs.read_frames(path, scalers=None)
    assert no_scalers.monitor_i1 is None


def test_scaler_count_mismatch_is_an_error(tmp_path, frames, small_geometry):
    path = tmp_path / "cdse_eiger2_00013_00.h5"
    write_lima(path, frames, _header(small_geometry))
    write_scalers(tmp_path / "cdse_scalers_00013_00.h5", i0=np.ones(4), i1=np.ones(4),
                  exposure_time_s=np.full(4, 0.1), start_epoch=0.0)
    with pytest.raises(InputError, match="4 values for 6 frames"):
        saxs.read_frames(path)


def test_edf_round_trip_with_variance_blocks(tmp_path, frames, small_geometry):
    path = tmp_path / "f.edf"
    data = frames[:3].astype(np.float32)
    var = data + 1
    per_frame = [{"Intensity1": 1e5 + k, "ExposureTime": "0.5 s"} for k in range(3)]
    write_edf(path, data, _header(small_geometry), frame_headers=per_frame, variance=var)
    assert fabio.open(str(path)).nframes == 6  # Psd, Error, Psd, Error, ...
    stack = saxs.read_frames(path)
    assert len(stack) == 3
    np.testing.assert_array_equal(stack[:], data)
    np.testing.assert_array_equal(stack.variance(slice(None)), var)
    np.testing.assert_array_equal(stack.variance(2), var[2])
    np.testing.assert_allclose(stack.monitor_i1, [1e5, 1e5 + 1, 1e5 + 2])
    np.testing.assert_allclose(stack.exposure_time_s, 0.5)
    assert stack.geometry == small_geometry


def test_edf_error_block_selected_by_id_not_position():
    # an Error block stored before its Psd block, and one with a number matching none
    kinds = [(1, "error"), (0, "psd"), (1, "psd"), (7, "error")]
    psd, errors = pair_blocks(kinds)
    assert psd == [1, 2]
    assert errors == [3, 0]
    # fabio's default numbering: 0.Image.Psd followed by 1.Image.Error
    assert pair_blocks([(0, "psd"), (1, "error")]) == ([0], [1])


def test_edf_without_variance(tmp_path, frames, small_geometry):
    path = tmp_path / "nv.edf"
    write_edf(path, frames[0].astype(np.float32), _header(small_geometry))
    stack = saxs.read_frames(path)
    assert stack.variance(0) is None


def test_tiff_needs_poni(tmp_path, small_geometry):
    path = tmp_path / "img.tif"
    image = np.arange(np.prod(small_geometry.shape), dtype=np.int32).reshape(small_geometry.shape)
    fabio.tifimage.TifImage(data=image).write(str(path))
    with pytest.raises(InputError, match="poni"):
        saxs.read_frames(path)
    stack = saxs.read_frames(path, poni=small_geometry.to_poni(tmp_path / "g.poni"))
    np.testing.assert_array_equal(stack[0], image)
    assert stack.geometry.shape == small_geometry.shape
    assert saxs.read_frames(path, require_geometry=False).geometry is None


def test_header_overrides(tmp_path, frames, small_geometry):
    path = tmp_path / "o.h5"
    write_lima(path, frames, _header(small_geometry))
    stack = saxs.read_frames(path, header_overrides={"SampleDistance": "0.9"})
    assert stack.geometry.distance_m == 0.9


def test_framestack_is_read_only_and_picklable(tmp_path, frames, small_geometry):
    import pickle

    path = tmp_path / "p.h5"
    write_lima(path, frames, _header(small_geometry, Intensity1="2e5"))
    stack = saxs.read_frames(path)
    assert isinstance(stack, FrameStack)
    with pytest.raises(ValueError, match="read-only"):
        stack.monitor_i1[0] = 1
    clone = pickle.loads(pickle.dumps(stack))
    np.testing.assert_array_equal(clone[3], frames[3])


# Bad input ------------------------------------------------------------------------------------

def test_truncated_hdf5(tmp_path, frames, small_geometry):
    path = tmp_path / "t.h5"
    write_lima(path, frames, _header(small_geometry), compression="gzip")
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(InputError, match=r"t\.h5.*truncated"):
        saxs.read_frames(path)[:]


def test_truncated_hdf5_data_only(tmp_path, small_geometry):
    # header and metadata intact, frame chunks cut off: the error comes at read time
    path = tmp_path / "late.h5"
    frames = np.random.default_rng(0).integers(0, 60000, (20, 64, 60)).astype(np.uint16)
    write_lima(path, frames, _header(small_geometry), compression="none")
    stack = saxs.read_frames(path)
    with h5py.File(path) as f:
        dataset = f["/entry_0000/measurement/data"]
        offset = dataset.id.get_chunk_info_by_coord((19, 0, 0)).byte_offset
    path.write_bytes(path.read_bytes()[: offset + 1000])
    with pytest.raises(InputError, match=r"late\.h5"):
        stack[19]


@pytest.mark.parametrize(("corrupt", "match"), [
    (lambda raw: raw.replace(b"}\n", b" \n", 1), "header"),          # no closing brace
    (lambda raw: raw.replace(b"Dim_1 = 60 ;", b"Dim_1 = xx ;", 1), "header"),
    (lambda raw: raw[:-100], "truncated"),                          # data cut short
], ids=["no-brace", "bad-dim", "truncated"])
def test_broken_edf(tmp_path, small_geometry, corrupt, match):
    path = tmp_path / "broken.edf"
    write_edf(path, np.ones(small_geometry.shape, np.float32), _header(small_geometry))
    path.write_bytes(corrupt(path.read_bytes()))
    with pytest.raises(InputError, match=rf"broken\.edf.*{match}"):
        saxs.read_frames(path)


@pytest.mark.parametrize("missing", ["SampleDistance", "Center_2", "WaveLength"])
def test_missing_geometry_key(tmp_path, frames, small_geometry, missing):
    header = _header(small_geometry)
    del header[missing]
    path = tmp_path / "nogeo.h5"
    write_lima(path, frames, header)
    with pytest.raises(InputError, match=rf"nogeo\.h5.*{missing}"):
        saxs.read_frames(path)


def test_dataset_path_that_does_not_exist(tmp_path, frames, small_geometry):
    path = tmp_path / "d.h5"
    write_lima(path, frames, _header(small_geometry))
    with pytest.raises(InputError, match=r"d\.h5::/entry_0000/nothing.*no such dataset"):
        saxs.read_frames(f"{path}::/entry_0000/nothing")
    with pytest.raises(InputError, match="is a group"):
        saxs.read_frames(f"{path}::/entry_0000")


def test_missing_file_and_non_lima_hdf5(tmp_path):
    with pytest.raises(InputError, match="not found"):
        saxs.read_frames(tmp_path / "nope.h5")
    path = tmp_path / "plain.h5"
    with h5py.File(path, "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(InputError, match="no /entry_XXXX"):
        saxs.read_frames(path)
    with pytest.raises(InputError, match="2-D or 3-D"):
        saxs.read_frames(f"{path}::/x")


def test_raw_files_opened_read_only(tmp_path, frames, small_geometry):
    path = tmp_path / "ro.h5"
    write_lima(path, frames, _header(small_geometry))
    path.chmod(0o444)
    stack = saxs.read_frames(path)
    np.testing.assert_array_equal(stack[0], frames[0])
    assert path.stat().st_mode & 0o777 == 0o444


@pytest.mark.parametrize("c_entry", [True, False])
def test_bitshuffle_fast_path_equals_h5py(tmp_path, small_geometry, rng, monkeypatch, c_entry):
    from saxs.io import fastread
    from saxs.io.fastread import is_bitshuffle_lz4_per_frame, read_bitshuffle_frames

    if not c_entry:  # the Python function of the bitshuffle package, then a copy
        monkeypatch.setattr(fastread, "_DECOMPRESS", None)

    frames = rng.poisson(300, (9, *small_geometry.shape)).astype(np.uint32)
    path = tmp_path / "bs.h5"
    write_lima(path, frames, _header(small_geometry), compression="bitshuffle-lz4")
    with h5py.File(path) as f:
        data = f["/entry_0000/measurement/data"]
        assert is_bitshuffle_lz4_per_frame(data)
        out = np.empty((3, *small_geometry.shape), np.uint32)
        assert read_bitshuffle_frames(data, np.array([1, 4, 8]), out)
        np.testing.assert_array_equal(out, data[[1, 4, 8]])
    with h5py.File(tmp_path / "gz.h5", "w") as f:
        gz = f.create_dataset("d", data=frames, chunks=(1, *small_geometry.shape),
                              compression="gzip")
        assert not is_bitshuffle_lz4_per_frame(gz)
        assert not read_bitshuffle_frames(gz, np.array([0]), out[:1])


def test_frames_read_still_compressed(tmp_path, small_geometry, rng):
    """Integer bitshuffle-LZ4 stacks can be read as stored; decoding the blocks gives the
    frames h5py reads."""
    from saxs_kernels.bitshuffle import decode_blocks
    from saxs_kernels.bitshuffle_lib import BLOCK_DECODER

    frames = rng.poisson(300, (5, *small_geometry.shape)).astype(np.uint32)
    path = tmp_path / "bs.h5"
    write_lima(path, frames, _header(small_geometry), compression="bitshuffle-lz4")
    stack = saxs.read_frames(path)
    assert stack.reads_compressed
    stored = stack.read_compressed(np.array([4, 1]), lambda n: np.zeros(n + 7, np.uint8))
    npix = frames[0].size
    for row, k in enumerate((4, 1)):
        out = np.zeros(npix, np.uint32)
        assert decode_blocks(*BLOCK_DECODER, stored.payload, stored.offsets[row], 0,
                             stored.offsets.shape[1], npix, stored.block_elems, 4,
                             np.empty(stored.block_elems * 4, np.uint8), out)
        np.testing.assert_array_equal(out.reshape(frames[k].shape), frames[k])
    # float frames and other filters are read decompressed
    write_lima(tmp_path / "f.h5", frames.astype(np.float32), _header(small_geometry),
               compression="bitshuffle-lz4")
    write_lima(tmp_path / "gz.h5", frames, _header(small_geometry), compression="gzip")
    for name in ("f.h5", "gz.h5"):
        other = saxs.read_frames(tmp_path / name)
        assert not other.reads_compressed
        with pytest.raises(InputError, match="still compressed"):
            other.read_compressed(np.array([0]), lambda n: np.zeros(n, np.uint8))


@pytest.mark.parametrize("damage", ["cut", "garbage"])
def test_damaged_bitshuffle_frame_is_named(tmp_path, small_geometry, rng, damage):
    """A chunk cut short, or LZ4 data that does not decode: the error names the file and the
    frame, and the file is left as it was."""
    import hashlib

    from saxs import Reducer

    frames = rng.poisson(300, (6, *small_geometry.shape)).astype(np.uint32)
    path = tmp_path / "bs.h5"
    write_lima(path, frames, _header(small_geometry, Intensity1="1000"),
               compression="bitshuffle-lz4")
    with h5py.File(path, "r+") as f:
        data = f["/entry_0000/measurement/data"]
        _, chunk = data.id.read_direct_chunk((3, 0, 0))
        chunk = bytearray(chunk)
        if damage == "cut":
            chunk = chunk[:-5]
        else:  # the first block's LZ4 bytes, its size kept
            size = int.from_bytes(chunk[12:16], "big")
            chunk[16:16 + size] = b"\xff" * size
        data.id.write_direct_chunk((3, 0, 0), bytes(chunk))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    stack = saxs.read_frames(path)
    reducer = Reducer(stack.geometry, npt=50)
    message = "truncated or corrupt" if damage == "cut" else "does not decompress"
    with pytest.raises(InputError, match=rf"bs\.h5.*{message}") as info:
        reducer.reduce(stack)
    assert re.search(r"(chunk|frame) 3\b", str(info.value))
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest


def test_monitor_given_directly_replaces_the_scaler_file(tmp_path, frames, small_geometry):
    from saxs.io.lima import write_lima

    path = tmp_path / "cell_eiger2_00001_00.h5"
    write_lima(path, frames, small_geometry.to_header())
    stack = saxs.read_frames(path, monitor=np.arange(1.0, len(frames) + 1))
    np.testing.assert_array_equal(stack.monitor_i1, np.arange(1.0, len(frames) + 1))
    with pytest.raises(InputError, match="not a number"):
        saxs.read_frames(path, monitor="high")


def test_lima_time_of_frame_of_zeros_is_no_time_axis(tmp_path, frames, small_geometry):
    from saxs.io.lima import write_lima

    write_lima(tmp_path / "a.h5", frames, small_geometry.to_header())  # no exposure: zeros
    assert saxs.read_frames(tmp_path / "a.h5").timestamps_s is None
    write_lima(tmp_path / "b.h5", frames, small_geometry.to_header(), exposure_time_s=0.1)
    times = saxs.read_frames(tmp_path / "b.h5").timestamps_s
    np.testing.assert_allclose(np.diff(times), 0.1)
