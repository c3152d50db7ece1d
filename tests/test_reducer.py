"""Reduction: frames -> absolute, blank-subtracted I(q), checked against the simulator's truth."""

from __future__ import annotations

import numpy as np
import pytest

import saxs
from saxs import InputError, Reducer
from saxs.io.edf import write_edf
from saxs.simulate import scenario_from_dict, write_beamtime

NPT = 120


def _scenario(seed=11, frames=4, outliers=None, **detector):
    sample = {"name": "np", "kind": "sample", "populations": [
        {"radius_nm": 1.2, "rel_width": 0.1, "shape": "lognormal", "volume_fraction": 2e-3}]}
    if outliers:
        sample["outliers"] = outliers
        sample["frames"] = 6
    return scenario_from_dict({
        "version": 1, "seed": seed, "collection": "loop",
        "beam": {"flux_ph_s": 2e13},
        "detector": {"shape": [150, 140], "pixel_size_m": 5e-4, "distance_m": 0.5,
                     "center_px": [68.3, 74.6], "gaps": {"rows": [[100, 103]]},
                     "beamstop": {"radius_px": 4, "arm_width_px": 2}, **detector},
        "acquisition": {"frames": frames, "dark_frames": 20},
        "cell": {"window_thickness_cm": 0.005, "transmission": 0.985, "window": {}},
        "solvent": {"level_per_cm": 0.03, "transmission": 0.8},
        "measurements": [{"name": "empty", "kind": "empty_cell"},
                         {"name": "ode", "kind": "solvent"}, sample],
    })


def _reducer(files, geometry, **kw):
    calib = files.calib
    return Reducer(geometry, mask=[calib["mask_gaps"], calib["mask_beamstop"]],
                   dark=calib["dark"], flat=calib["flat"], npt=NPT, intensity_unit="1/cm", **kw)


def _binned(reducer, function, pf=0.99):
    """The truth as the reducer bins it: the noise-free model image integrated the same way."""
    g = reducer.geometry
    ai = reducer.integrator
    from saxs.azimuthal import polarization, q_array_nm

    image = function(q_array_nm(g)) * ai.solidAngleArray(g.shape) * polarization(g, pf) \
        * reducer.flat
    res = ai.integrate1d(image, NPT, correctSolidAngle=True, polarization_factor=pf,
                         flat=np.where(reducer.valid, reducer.flat, 1.0), mask=~reducer.valid,
                         method=reducer.method, unit="q_nm^-1")
    return np.asarray(res.radial), np.asarray(res.intensity)


def _reduce_chain(tmp_path, scenario):
    files = write_beamtime(scenario, tmp_path)
    stacks = {name: saxs.read_frames(path) for name, path in files.raw.items()}
    reducer = _reducer(files, stacks["np"].geometry)
    curves = {name: reducer.reduce(stack) for name, stack in stacks.items()}
    m = scenario.measurement("np")
    signal = saxs.subtract_blanks(curves["np"], curves["ode"], curves["empty"],
                                  solvent_volume_fraction=m.solvent_volume_fraction)
    q, truth = _binned(reducer, m.signal.intensity)
    truth = np.interp(signal.q, q, truth)
    return signal, truth, curves, reducer


def test_closed_loop_recovers_absolute_signal(tmp_path):
    signal, truth, curves, _ = _reduce_chain(tmp_path, _scenario())
    usable = (signal.q > 0.3) & (signal.q < 5.0)
    z = (signal.intensity - truth)[usable] / signal.sigma[usable]
    chi2r = float(np.mean(z**2))
    assert 0.7 < chi2r < 1.5
    w = 1 / signal.sigma[usable] ** 2
    scale = np.sum(w * signal.intensity[usable] * truth[usable]) / np.sum(w * truth[usable] ** 2)
    assert scale == pytest.approx(1.0, abs=0.01)
    assert signal.intensity_unit == "1/cm"
    actions = [s.action for s in signal.provenance]
    assert actions == ["reduce", "subtract", "subtract"]  # empty cell, then solvent
    blank_steps = signal.provenance[-1].parameters["blank_provenance"]
    assert [s["action"] for s in blank_steps] == ["reduce", "subtract"]  # solvent - empty
    # I1/I0 = (g1 / g0) T with diode gains g1 = 2e-6, g0 = 1e-6 (the scenario's defaults)
    assert curves["np"].metadata["i1_over_i0"] == pytest.approx(2 * 0.8 * 0.985, rel=1e-9)
    assert curves["empty"].metadata["i1_over_i0"] == pytest.approx(2 * 0.985, rel=1e-9)


@pytest.mark.slow
def test_error_bars_are_honest_over_repetitions(tmp_path):
    """Across 20 seeded repetitions the scatter of the points matches their sigma (15 %)."""
    z_all, sig_all = [], []
    for seed in range(20):
        signal, truth, _, _ = _reduce_chain(tmp_path / str(seed), _scenario(seed=100 + seed))
        usable = (signal.q > 0.3) & (signal.q < 5.0)
        z_all.append((signal.intensity - truth)[usable] / signal.sigma[usable])
        sig_all.append(signal.sigma[usable])
    z = np.concatenate(z_all)
    assert np.std(z) == pytest.approx(1.0, abs=0.15)
    assert abs(np.mean(z)) < 3 / np.sqrt(z.size) + 0.05


def test_outliers_give_the_same_curve_and_are_recorded(tmp_path):
    clean = _scenario(seed=21)
    spoiled = _scenario(seed=21, outliers={"bubble_frames": [2], "zingers_per_frame": 5})
    c_sig, _, _, _ = _reduce_chain(tmp_path / "c", clean)
    s_sig, s_truth, curves, _ = _reduce_chain(tmp_path / "s", spoiled)
    record = curves["np"].metadata
    assert [d["frame"] for d in record["frames_dropped"]] == [2]
    assert "median" in record["frames_dropped"][0]["reason"]
    assert record["zinger_pixels"] >= 10
    usable = (s_sig.q > 0.3) & (s_sig.q < 5.0)
    diff = (s_sig.intensity - c_sig.intensity)[usable]
    z = diff / np.hypot(s_sig.sigma, c_sig.sigma)[usable]
    assert np.mean(z**2) < 1.5
    z_truth = ((s_sig.intensity - s_truth) / s_sig.sigma)[usable]
    assert 0.7 < np.mean(z_truth**2) < 1.5
    # without rejection, the bubble frame biases the curve
    files = write_beamtime(spoiled, tmp_path / "raw")
    stack = saxs.read_frames(files.raw["np"])
    naive = _reducer(files, stack.geometry, frame_threshold=None, zinger_threshold=None)
    biased = naive.reduce(stack)
    assert np.median(biased.intensity / curves["np"].intensity) < 0.97


def test_single_frame_equals_direct_pyfai_call(tmp_path):
    files = write_beamtime(_scenario(frames=1), tmp_path)
    stack = saxs.read_frames(files.raw["np"])
    reducer = _reducer(files, stack.geometry)
    curve = reducer.reduce(stack)
    g = stack.geometry
    nf = stack.header.number("NormalizationFactor")
    pf = stack.header.number("PolarizationFactor")
    res = g.integrator().integrate1d(
        stack[0], NPT, dark=reducer.dark, flat=np.where(reducer.valid, reducer.flat, 1.0),
        mask=~reducer.valid, polarization_factor=pf, correctSolidAngle=True,
        normalization_factor=stack.monitor_i1[0] * g.pixel1_m * g.pixel2_m
        / (g.distance_m**2 * nf), error_model="poisson", dummy=stack.dummy,
        delta_dummy=stack.delta_dummy, method=reducer.method, unit="q_nm^-1")
    keep = np.asarray(res.count) > 0
    np.testing.assert_array_equal(curve.q, np.asarray(res.radial)[keep])
    np.testing.assert_allclose(curve.intensity, np.asarray(res.intensity)[keep], rtol=1e-12)
    np.testing.assert_allclose(curve.sigma, np.asarray(res.sigma)[keep], rtol=1e-12)


def test_per_frame_mode(tmp_path):
    """One curve per frame: pyFAI's integrate1d of each frame, to 1e-6 (tests/test_per_frame.py
    covers the storages, sectors and flags); the frames' mean follows the averaged stack."""
    from saxs.azimuthal import integrate1d

    scenario = _scenario(frames=3)
    files = write_beamtime(scenario, tmp_path)
    stack = saxs.read_frames(files.raw["np"])
    reducer = _reducer(files, stack.geometry)
    curves = reducer.reduce_frames(stack)
    assert [c.metadata["frame"] for c in curves] == [0, 1, 2]
    g = stack.geometry
    nf = stack.header.number("NormalizationFactor")
    pf = stack.header.number("PolarizationFactor")
    for k, curve in enumerate(curves):
        ref = integrate1d(g, stack[k], NPT, mask=~reducer.valid, dark=reducer.dark,
                          flat=np.where(reducer.valid, reducer.flat, 1.0),
                          polarization_factor=pf, normalization_factor=stack.monitor_i1[k]
                          * g.pixel1_m * g.pixel2_m / (g.distance_m**2 * nf),
                          dummy=stack.dummy, delta_dummy=stack.delta_dummy,
                          method=reducer.per_frame_method)
        keep = ref.count > 0
        np.testing.assert_allclose(curve.q, ref.q[keep], rtol=1e-12)
        np.testing.assert_allclose(curve.intensity, ref.intensity[keep], rtol=1e-6)
        np.testing.assert_allclose(curve.sigma, ref.sigma[keep], rtol=1e-6)
        assert curve.metadata["frames_used"] == [k]
    mean = reducer.reduce(stack)
    avg = np.mean([c.intensity for c in curves], axis=0)
    ratio = np.interp(mean.q, curves[0].q, avg) / mean.intensity
    usable = (mean.q > 0.5) & (mean.q < 4.0)
    assert np.median(ratio[usable]) == pytest.approx(1.0, abs=0.01)


def test_reused_reducer_and_threads_give_the_same_curves(tmp_path):
    """The reducer keeps its streaming memory between stacks: reusing it, or two threads
    sharing it, changes no number."""
    from concurrent.futures import ThreadPoolExecutor

    files = write_beamtime(_scenario(frames=5), tmp_path)
    stacks = [saxs.read_frames(files.raw[name]) for name in ("np", "ode", "empty", "np")]
    geometry = stacks[0].geometry
    fresh = [_reducer(files, geometry, chunk_size=2).reduce(s) for s in stacks]
    shared = _reducer(files, geometry, chunk_size=2)
    reused = [shared.reduce(s) for s in stacks]
    with ThreadPoolExecutor(2) as pool:
        threaded = list(pool.map(shared.reduce, stacks))
    for a, b, c in zip(fresh, reused, threaded, strict=True):
        for other in (b, c):
            np.testing.assert_array_equal(a.intensity, other.intensity)
            np.testing.assert_array_equal(a.sigma, other.sigma)
    assert shared._workspace is not None
    assert shared._workspace.chunk_size == 2
    import pickle  # a copy for another process leaves the streaming memory behind

    clone = pickle.loads(pickle.dumps(shared))
    assert clone._workspace is None
    np.testing.assert_array_equal(clone.reduce(stacks[0]).intensity, fresh[0].intensity)


def test_frames_decoded_in_the_kernel_give_the_same_curve(tmp_path, monkeypatch):
    """Bitshuffle-LZ4 stacks are decoded block by block inside the accumulation kernel; the
    curves equal those of the frames read whole, bit for bit, with outliers rejected."""
    import saxs.stack

    scenario = _scenario(seed=5, outliers={"bubble_frames": [1], "zingers_per_frame": 3})
    files = write_beamtime(scenario, tmp_path)
    stack = saxs.read_frames(files.raw["np"])
    assert stack.reads_compressed
    kernel = _reducer(files, stack.geometry, chunk_size=4).reduce(stack)
    monkeypatch.setattr(saxs.stack, "DECODE_IN_KERNEL", False)
    whole = _reducer(files, stack.geometry, chunk_size=4).reduce(stack)
    np.testing.assert_array_equal(kernel.intensity, whole.intensity)
    np.testing.assert_array_equal(kernel.sigma, whole.sigma)
    for key in ("frames_dropped", "zinger_pixels"):
        assert kernel.metadata[key] == whole.metadata[key]
    assert [d["frame"] for d in kernel.metadata["frames_dropped"]] == [1]


def test_pixel_dummy_in_one_frame_is_left_out_of_that_frame(tmp_path, small_geometry):
    """A pixel that is dummy in one frame only is left out of that frame's curve (as if
    masked there), without touching the other frames or the shared matrix."""
    from saxs.io.lima import write_lima

    rng = np.random.default_rng(3)
    frames = rng.poisson(400, (3, *small_geometry.shape)).astype(np.uint32)
    frames[1, 20, 30] = 7
    header = {**small_geometry.to_header(), "Dummy": "7", "DDummy": "0.1", "Intensity1": "1e5"}
    write_lima(tmp_path / "s.h5", frames, header, compression="bitshuffle-lz4")
    stack = saxs.read_frames(tmp_path / "s.h5")
    reducer = Reducer(stack.geometry, npt=40)
    curves = reducer.reduce_frames(stack)
    prepared = next(iter(reducer._prepared.values()))
    assert reducer.reduce_frames(stack)[1].intensity.tolist() == curves[1].intensity.tolist()
    assert next(iter(reducer._prepared.values())) is prepared  # matrix built once
    mask = np.zeros(small_geometry.shape, dtype=bool)
    mask[20, 30] = True  # the same pixel masked for every frame
    masked = Reducer(stack.geometry, mask=mask, npt=40).reduce_frames(stack)
    np.testing.assert_allclose(curves[1].intensity, masked[1].intensity, rtol=1e-12)
    np.testing.assert_allclose(curves[1].sigma, masked[1].sigma, rtol=1e-12)
    assert not np.allclose(curves[0].intensity, masked[0].intensity, rtol=1e-12, atol=0)


# Bad input ------------------------------------------------------------------------------------

def test_blank_with_other_geometry_is_refused(tmp_path):
    files = write_beamtime(_scenario(), tmp_path / "a")
    other = write_beamtime(_scenario(distance_m=0.6), tmp_path / "b")
    stack = saxs.read_frames(files.raw["np"])
    reducer = _reducer(files, stack.geometry)
    with pytest.raises(InputError, match=r"geometry.*differs"):
        reducer.reduce(saxs.read_frames(other.raw["ode"]))


def test_q_grid_mismatch_in_subtract(tmp_path):
    q = np.linspace(0.1, 5, 50)
    a = saxs.Curve(q, np.ones(50), np.full(50, 0.1), metadata={"sample": "a"})
    b = saxs.Curve(q * 1.01, np.ones(50), np.full(50, 0.1), metadata={"sample": "b"})
    with pytest.raises(InputError, match="q grids differ"):
        saxs.subtract(a, b)
    out = saxs.subtract(a, b, interpolate=True)
    assert out.q[-1] <= b.q[-1]
    with pytest.raises(InputError, match="solvent_volume_fraction"):
        saxs.subtract(a, a, solvent_volume_fraction=0)


def test_non_positive_monitor(tmp_path):
    files = write_beamtime(_scenario(), tmp_path)
    stack = saxs.read_frames(files.raw["np"])
    reducer = _reducer(files, stack.geometry)
    bad = stack.__class__(source=stack.source, header=stack.header, geometry=stack.geometry,
                          monitor_i1=np.array([1.0, 0.0, 1.0, 1.0]))
    with pytest.raises(InputError, match=r"I1 is not positive for frame\(s\) \[1\]"):
        reducer.reduce(bad)
    no_monitor = stack.__class__(source=stack.source, header=stack.header,
                                 geometry=stack.geometry)
    # an ID02 acquisition (its header names the I1 scaler, HSI1) needs its monitor...
    with pytest.raises(InputError, match="no transmitted-flux monitor"):
        reducer.reduce(no_monitor)
    # ...unless the normalisation says otherwise
    plain = _reducer(files, stack.geometry, normalization="none").reduce(no_monitor)
    assert plain.metadata["normalization"] == "none"


def test_stack_with_no_valid_frame(tmp_path, small_geometry):
    path = tmp_path / "dead_saxs_00001.edf"
    header = {**small_geometry.to_header(), "Dummy": "-10", "DDummy": "0.1",
              "Intensity1": "1e5"}
    write_edf(path, np.full((3, *small_geometry.shape), -10, np.float32), header)
    stack = saxs.read_frames(path)
    with pytest.raises(InputError, match="no valid"):
        Reducer(small_geometry, npt=50).reduce(stack)
    with pytest.raises(InputError, match=r"dead_saxs_00001\.edf: frame 0 holds no valid pixel"):
        Reducer(small_geometry, npt=50).reduce_frames(stack)


def test_nan_pixels(tmp_path, small_geometry):
    path = tmp_path / "nan.edf"
    data = np.ones((2, *small_geometry.shape), np.float32)
    data[1, 5, 5] = np.nan
    header = {**small_geometry.to_header(), "Intensity1": "1e5"}
    write_edf(path, data, header)
    for mode in ("reduce", "reduce_frames"):
        with pytest.raises(InputError, match=r"nan\.edf: frame 1 holds NaN"):
            getattr(Reducer(small_geometry, npt=50), mode)(saxs.read_frames(path))


def test_reducer_input_validation(small_geometry):
    with pytest.raises(InputError, match="npt"):
        Reducer(small_geometry, npt=1)
    with pytest.raises(InputError, match="mask array"):
        Reducer(small_geometry, mask=np.zeros((3, 3), bool))
    with pytest.raises(InputError, match="no valid pixel"):
        Reducer(small_geometry, mask=np.ones(small_geometry.shape, bool))


@pytest.mark.parametrize(("name", "orders"), [("141", 8), ("155", 2)])
def test_silver_behenate_real_frames(shared_dir, name, orders):
    """AgBh d = 58.380 Å (Huang et al. 1993, J. Appl. Cryst. 26, 180): q_n = n x 1.0763 1/nm.

    The SAXSLAB header distances are 1-2 % off (data/real README), so absolute positions are
    checked to 2 %. At 300 mm, where eight orders are seen, the ratios q_n / q_1 = n are also
    checked (0.5 %), since a distance error scales all orders alike. At 1000 mm the second
    order sits on a short arc at the detector edge (q_2 / q_1 = 1.983 there), so only the
    absolute positions are checked.
    """
    from scipy.signal import find_peaks

    path = shared_dir / "data" / "real" / "agbh_saxslab_2d" / f"agbh_latest_0000{name}_caz.tiff"
    frames = saxs.read_frames(path, header_overrides={"Intensity1": 1})
    assert frames.dummy == -1.5  # PILATUS: negative pixels are gaps and bad pixels
    curve = Reducer(frames.geometry, npt=800, zinger_threshold=None).reduce(frames)
    peaks, _ = find_peaks(curve.intensity, prominence=5 * np.median(curve.sigma))
    found = curve.q[peaks]
    q1 = 1.0763
    positions = []
    for n in range(1, orders + 1):
        nearest = found[np.argmin(np.abs(found - n * q1))]
        assert nearest == pytest.approx(n * q1, rel=0.02), n
        positions.append(nearest)
    if orders > 2:
        ratios = np.array(positions) / positions[0]
        np.testing.assert_allclose(ratios, np.arange(1, orders + 1), rtol=0.005)


def test_cake_matches_the_1d_curve(tmp_path):
    files = write_beamtime(_scenario(), tmp_path)
    stack = saxs.read_frames(files.raw["np"])
    reducer = _reducer(files, stack.geometry)
    cake = reducer.reduce_2d(stack, npt_azim=36)
    assert cake.intensity.shape == (36, NPT)
    assert cake.chi_deg.size == 36
    curve = reducer.reduce(stack)
    # isotropic sample: the chi-mean of the cake follows the 1-D curve
    mean = np.nanmean(cake.intensity, axis=0)
    q_mid = (curve.q > 0.5) & (curve.q < 3.0)
    ratio = np.interp(curve.q[q_mid], cake.q, mean) / curve.intensity[q_mid]
    assert np.median(ratio) == pytest.approx(1.0, abs=0.01)
    assert np.nanmax(np.abs(cake.intensity[:, 20] / np.nanmedian(cake.intensity[:, 20]) - 1)) < 0.5


def test_reduction_parameters_stored_with_the_curve(tmp_path):
    scenario = _scenario(outliers={"bubble_frames": [1]})
    files = write_beamtime(scenario, tmp_path / "bt")
    stack = saxs.read_frames(files.raw["np"])
    curve = _reducer(files, stack.geometry).reduce(stack)
    path = saxs.write_curve(tmp_path / "np.h5", curve)
    back = saxs.read_curve(path)
    step = back.provenance[0]
    assert step.action == "reduce"
    assert step.parameters["distance_m"] == stack.geometry.distance_m
    assert step.parameters["frames_dropped"] == [1]
    assert "mask_gaps.edf" in step.parameters["mask"]
    assert step.parameters["dark"].endswith("dark.edf")
    assert back.metadata["frames_dropped"][0]["frame"] == 1
    np.testing.assert_array_equal(back.intensity, curve.intensity)


def test_implausible_calibration_images_are_refused(tmp_path):
    """A dark read with the wrong byte order, a dark above the frames, a flat of zeros or of
    absurd spread: one-line errors naming the image, nothing reduced."""
    files = write_beamtime(_scenario(frames=2), tmp_path)
    stack = saxs.read_frames(files.raw["np"])
    geometry = stack.geometry
    dark = saxs.read_dark(files.calib["dark"], geometry.shape)
    swapped_path = tmp_path / "dark_swapped.edf"
    swapped = np.asarray(dark, np.float32).byteswap()
    write_edf(swapped_path, swapped[None], {})
    with pytest.raises(InputError, match=r"dark_swapped\.edf: values up to .*wrong byte order"):
        Reducer(geometry, dark=str(swapped_path))
    frame_mean = float(np.mean(stack[0]))
    with pytest.raises(InputError, match=r"dark .* are above the frames"):
        Reducer(geometry, dark=np.full(geometry.shape, 50 * frame_mean + 100)).reduce(stack)
    flat = np.ones(geometry.shape)
    flat[:, : geometry.shape[1] * 2 // 3] = 0
    with pytest.raises(InputError,
                       match=r"flat array \(150, 140\): \d+ % of the unmasked pixels are 0"):
        Reducer(geometry, flat=flat)
    spread = np.random.default_rng(0).lognormal(0, 3, geometry.shape)
    with pytest.raises(InputError, match="not orders of magnitude"):
        Reducer(geometry, flat=spread)
    # a plausible dark and flat pass
    Reducer(geometry, dark=dark, flat=np.full(geometry.shape, 1.02)).reduce(stack)
