"""``saxs bench``: speed and memory benchmarks, run as separate processes.

``reduce``: a simulated Eiger2 4M stack (2162 x 2068 uint32, bitshuffle-LZ4, ID02 gap layout)
is reduced by :class:`saxs.Reducer` (read, average with outlier rejection, integrate with
errors) and, frame by frame, to one curve per frame (``integrate_frames``, written as
``_ave.h5``); in the same run, each frame is read and integrated by pyFAI ``integrate1d`` with
the same corrections and method, and two references are timed: the naive user path (h5py +
hdf5plugin, numpy sum, one integration) and decompression alone. Each measurement runs in its
own process so its peak memory (max RSS) is its own.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

EIGER2_4M = (2162, 2068)
# Eiger2 4M module gaps (pyFAI detector_factory("Eiger2_4M").mask; ID02.md §1.1)
GAP_ROWS = ((512, 550), (1062, 1100), (1612, 1650))
GAP_COLS = ((1028, 1040),)


def make_stack(folder: Path, n_frames: int, shape: tuple[int, int], seed: int = 0) -> Path:
    """Write the benchmark stack, its scaler file and calibration files; return the frames."""
    import h5py  # noqa: PLC0415

    from saxs.geometry import Geometry  # noqa: PLC0415
    from saxs.io.edf import write_edf  # noqa: PLC0415
    from saxs.io.hdf5util import compression_options  # noqa: PLC0415
    from saxs.io.scalers import write_scalers  # noqa: PLC0415
    from saxs.models.distributions import Species  # noqa: PLC0415
    from saxs.simulate import Beamstop, DetectorModel  # noqa: PLC0415
    from saxs.simulate.models import FlatBackground, SampleModel, Spheres  # noqa: PLC0415

    geometry = Geometry(distance_m=0.8, poni1_m=1081.3 * 75e-6, poni2_m=1034.6 * 75e-6,
                        pixel1_m=75e-6, pixel2_m=75e-6, wavelength_m=1e-10, shape=shape)
    det = DetectorModel(geometry, gap_rows=GAP_ROWS if shape == EIGER2_4M else (),
                        gap_cols=GAP_COLS if shape == EIGER2_4M else (),
                        beamstop=Beamstop(radius_px=30, arm_width_px=12), dtype="uint32",
                        dark_mean_counts=0.1, dark_sigma_counts=0.05, seed=seed)
    model = SampleModel((Spheres((Species(1.5, 2e-3, 0.1, "lognormal"),)),
                         FlatBackground(0.03)))
    expected = 3e10 * det.response() * 0.15 * model.intensity(det.q_nm)
    rng = np.random.default_rng(seed)
    distinct = [det.expose(expected, rng) for _ in range(min(8, n_frames))]
    header = {**geometry.to_header(), "Dummy": repr(det.dummy), "DDummy": "0",
              "Title": "bench", "PolarizationFactor": "0.99"}
    path = folder / "bench_eiger2_00001_00.h5"
    with h5py.File(path, "w") as f:
        data = f.create_dataset("entry_0000/measurement/data", shape=(n_frames, *shape),
                                dtype="uint32", chunks=(1, *shape),
                                **compression_options("bitshuffle-lz4"))
        for k in range(n_frames):
            data[k] = distinct[k % len(distinct)]
        hdr = f.create_group("entry_0000/ESRF-ID02")
        hdr.attrs["NX_class"] = "NXinstrument"
        det_group = hdr.create_group("eiger2")
        det_group.attrs["NX_class"] = "NXdetector"
        for key, value in header.items():
            det_group.create_dataset(f"header/{key}", data=value)
    monitors = np.full(n_frames, 1e5) * (1 + 0.01 * rng.standard_normal(n_frames))
    write_scalers(folder / "bench_scalers_00001_00.h5", i0=monitors * 1.25, i1=monitors,
                  exposure_time_s=np.full(n_frames, 0.01), start_epoch=0.0)
    write_edf(folder / "dark.edf", det.dark.astype(np.float32), {})
    write_edf(folder / "flat.edf", det.flat.astype(np.float32), {})
    write_edf(folder / "mask.edf", (det.gap_mask | det.beamstop_mask).astype(np.uint8), {})
    return path


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _reducer(path: str, npt: int, **kwargs):
    import saxs  # noqa: PLC0415

    folder = Path(path).parent
    frames = saxs.read_frames(path)
    reducer = saxs.Reducer(frames.geometry, mask=folder / "mask.edf", dark=folder / "dark.edf",
                           flat=folder / "flat.edf", npt=npt, **kwargs)
    return frames, reducer


def run_ours(path: str, npt: int) -> dict:
    """Child process: the whole reduction of the stack (averaged, outliers rejected)."""
    frames, reducer = _reducer(path, npt)
    reducer.reduce(frames.subset(slice(0, 2)))  # warm-up: numba cache, pyFAI CSR matrix
    start = time.perf_counter()
    curve = reducer.reduce(frames)
    seconds = time.perf_counter() - start
    # the next stack, as a batch reduces it: the reducer's streaming memory is in place
    start = time.perf_counter()
    reducer.reduce(frames)
    seconds_next = time.perf_counter() - start
    return {"seconds": seconds, "seconds_next": seconds_next, "frames": len(frames),
            "points": len(curve), "peak_rss_mb": _peak_rss_mb()}


def run_per_frame(path: str, npt: int) -> dict:
    """Child process: one curve per frame of the whole stack (:meth:`saxs.Reducer.
    integrate_frames`, flags on) written as ``_ave.h5``; where the time goes: the same pass
    with an empty matrix (reading and decompression only), the matrix, the writing."""
    import dataclasses  # noqa: PLC0415

    from saxs.io.ave import write_ave  # noqa: PLC0415
    from saxs.perframe import integrate_stack  # noqa: PLC0415

    frames, reducer = _reducer(path, npt)
    start = time.perf_counter()
    reducer.integrate_frames(frames.subset(slice(0, 2)))  # matrix, numba cache
    setup = time.perf_counter() - start
    start = time.perf_counter()
    series = reducer.integrate_frames(frames)
    seconds = time.perf_counter() - start
    prepared = next(iter(reducer._prepared.values()))
    empty = dataclasses.replace(prepared, ptr=np.zeros_like(prepared.ptr))
    monitors, _ = reducer._monitors(frames)
    start = time.perf_counter()
    integrate_stack(frames, empty, reducer.dark, monitors, zinger_threshold=None)
    decode = time.perf_counter() - start
    start = time.perf_counter()
    write_ave(Path(path).with_name(f"ave_{time.time_ns()}.h5"), series, frames)
    write = time.perf_counter() - start
    return {"seconds": seconds, "frames": len(frames), "setup_s": setup, "decode_s": decode,
            "write_s": write, "peak_rss_mb": _peak_rss_mb(),
            "zinger_pixels": int(series.frame_flags["zinger_pixels"].sum())}


def run_pyfai(path: str, npt: int, n_frames: int, split: str = "bbox") -> dict:
    """Child process: read and integrate ``n_frames`` frames one by one with pyFAI (method
    ``(split, "csr", "cython")``), the corrections of the reducer."""
    frames, reducer = _reducer(path, npt)
    g = frames.geometry
    ai = g.integrator()
    mask = ~reducer.valid
    flat = np.where(reducer.valid, reducer.flat, 1.0)

    def one(k: int) -> None:
        ai.integrate1d(frames[k], npt, dark=reducer.dark, flat=flat, mask=mask,
                       polarization_factor=0.99, correctSolidAngle=True,
                       normalization_factor=frames.monitor_i1[k] * g.pixel1_m * g.pixel2_m
                       / g.distance_m**2, error_model="poisson", dummy=frames.dummy,
                       delta_dummy=0.0, method=(split, "csr", "cython"), unit="q_nm^-1")

    one(0)  # warm-up: CSR matrix
    start = time.perf_counter()
    for k in range(n_frames):
        one(k % len(frames))
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "frames": n_frames, "peak_rss_mb": _peak_rss_mb()}


def run_naive(path: str, npt: int) -> dict:
    """Child process: the naive user path: h5py + hdf5plugin read every frame through the
    HDF5 filter, numpy sums them (float64), one pyFAI integrate1d of the sum."""
    import h5py  # noqa: PLC0415
    import hdf5plugin  # noqa: F401, PLC0415  (registers the bitshuffle filter)

    frames, reducer = _reducer(path, npt)
    g = frames.geometry
    start = time.perf_counter()
    with h5py.File(path, "r") as f:
        data = f["entry_0000/measurement/data"]
        total = np.zeros(data.shape[1:])
        for k in range(data.shape[0]):
            total += data[k]
    n = len(frames)
    g.integrator().integrate1d(total, npt, dark=reducer.dark * n,
                               flat=np.where(reducer.valid, reducer.flat, 1.0),
                               mask=~reducer.valid, polarization_factor=0.99,
                               normalization_factor=float(frames.monitor_i1.sum()) * g.pixel1_m
                               * g.pixel2_m / g.distance_m**2, error_model="poisson",
                               method=("bbox", "csr", "cython"), unit="q_nm^-1")
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "frames": n, "peak_rss_mb": _peak_rss_mb()}


def run_decompress(path: str) -> dict:
    """Child process: decompression alone, bitshuffle's multi-threaded C call into a buffer
    (the limit of any reduction of this stack)."""
    import saxs  # noqa: PLC0415

    frames = saxs.read_frames(path)
    buffer = np.empty((16, *frames.frame_shape), dtype=frames.dtype)
    buffer.fill(0)
    start = time.perf_counter()
    for positions in frames.chunk_positions(16):
        frames.read_into(positions, buffer)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "frames": len(frames), "peak_rss_mb": _peak_rss_mb()}


def per_frame_memory(path: str, npt: int = 200) -> dict:
    """Child process: peak RSS of :meth:`saxs.Reducer.integrate_frames` of a whole stack."""
    import saxs  # noqa: PLC0415

    frames = saxs.read_frames(path)
    series = saxs.Reducer(frames.geometry, npt=npt).integrate_frames(frames)
    return {"frames": len(series), "peak_rss_mb": _peak_rss_mb()}


def _child(function: str, *args: object, env: dict | None = None) -> tuple[dict, float]:
    """Run ``function(*args)`` of this module in a fresh process: (its JSON result, wall s)."""
    import os  # noqa: PLC0415

    code = (f"import json, sys; from saxs_pipelines.bench import {function}; "
            f"print(json.dumps({function}(*json.loads(sys.argv[1]))))")
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code, json.dumps(list(args))],
                         capture_output=True, text=True, check=False,
                         env={**os.environ, **(env or {})})
    wall = time.perf_counter() - start
    if out.returncode != 0:
        raise RuntimeError(f"benchmark step {function} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1]), wall


def bench_reduce(n_frames: int = 100, baseline_frames: int = 10, npt: int = 1000,
                 shape: tuple[int, int] = EIGER2_4M, workdir: str | None = None) -> dict:
    """Run the reduction benchmark; returns the figures (frames/s, ratios, peak memory).

    Every step runs in its own process, one after the other on the same stack: the averaged
    stack, one curve per frame on 1 and on 2 threads, pyFAI per frame (bounding-box and no
    splitting, the methods of the two paths), the naive user path and decompression alone.
    """
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        start = time.perf_counter()
        path = str(make_stack(Path(tmp), n_frames, shape))
        made = time.perf_counter() - start
        ours, _ = _child("run_ours", path, npt)
        per_frame = {threads: _child("run_per_frame", path, npt,
                                     env={"NUMBA_NUM_THREADS": str(threads)})[0]
                     for threads in (1, 2)}
        base, _ = _child("run_pyfai", path, npt, baseline_frames, "bbox")
        base_no, _ = _child("run_pyfai", path, npt, baseline_frames, "no")
        base_no_1, _ = _child("run_pyfai", path, npt, baseline_frames, "no",
                              env={"OMP_NUM_THREADS": "1"})
        naive, _ = _child("run_naive", path, npt)
        limit, _ = _child("run_decompress", path)
    rate = {name: r["frames"] / r["seconds"] for name, r in
            (("ours", ours), ("pyfai", base), ("pyfai_no", base_no), ("pyfai_no_1", base_no_1),
             ("naive", naive), ("limit", limit))}
    next_rate = ours["frames"] / ours["seconds_next"]
    pf2, pf1 = per_frame[2], per_frame[1]
    pf_rate = {t: r["frames"] / r["seconds"] for t, r in per_frame.items()}
    return {"shape": list(shape), "frames": n_frames, "npt": npt, "stack_written_s": made,
            "saxs_reduce_frames_per_s": rate["ours"],
            "saxs_reduce_peak_rss_mb": ours["peak_rss_mb"],
            "pyfai_per_frame_frames_per_s": rate["pyfai"], "pyfai_frames_timed": baseline_frames,
            "pyfai_peak_rss_mb": base["peak_rss_mb"], "speedup": rate["ours"] / rate["pyfai"],
            "saxs_reduce_next_frames_per_s": next_rate, "speedup_next": next_rate / rate["pyfai"],
            "pyfai_no_split_frames_per_s": rate["pyfai_no"],
            "pyfai_no_split_peak_rss_mb": base_no["peak_rss_mb"],
            "saxs_per_frame_frames_per_s": pf_rate[2],
            "saxs_per_frame_1_thread_frames_per_s": pf_rate[1],
            "speedup_per_frame": pf_rate[2] / rate["pyfai_no"],
            "pyfai_no_split_1_thread_frames_per_s": rate["pyfai_no_1"],
            "speedup_per_frame_1_thread": pf_rate[1] / rate["pyfai_no_1"],
            "saxs_per_frame_peak_rss_mb": pf2["peak_rss_mb"],
            "saxs_per_frame_setup_s": pf2["setup_s"],
            "per_frame_decode_ms": 1e3 * pf2["decode_s"] / pf2["frames"],
            "per_frame_matrix_ms": 1e3 * (pf2["seconds"] - pf2["decode_s"]) / pf2["frames"],
            "per_frame_write_ms": 1e3 * pf2["write_s"] / pf2["frames"],
            "per_frame_1_thread_decode_ms": 1e3 * pf1["decode_s"] / pf1["frames"],
            "per_frame_1_thread_matrix_ms": 1e3 * (pf1["seconds"] - pf1["decode_s"])
            / pf1["frames"],
            "naive_frames_per_s": rate["naive"], "naive_peak_rss_mb": naive["peak_rss_mb"],
            "speedup_naive": rate["ours"] / rate["naive"],
            "decompress_frames_per_s": rate["limit"],
            "decompress_peak_rss_mb": limit["peak_rss_mb"],
            "stack_fraction_of_decompress": rate["ours"] / rate["limit"],
            "per_frame_fraction_of_decompress": pf_rate[2] / rate["limit"]}


def reduce_rows(r: dict) -> list[tuple[str, ...]]:
    """The rows of the ``saxs bench`` table for :func:`bench_reduce`'s figures: (benchmark,
    saxs, baseline, baseline value, ratio, peak RSS)."""
    fps = "{:.1f} frames/s".format
    mb = "{:.0f} MB".format
    return [
        ("reduce a stack (read, average, reject, integrate)", fps(r["saxs_reduce_frames_per_s"]),
         "pyFAI integrate1d per frame (bbox)", fps(r["pyfai_per_frame_frames_per_s"]),
         f"{r['speedup']:.1f}x",
         f"{mb(r['saxs_reduce_peak_rss_mb'])} / {mb(r['pyfai_peak_rss_mb'])}"),
        ("  the next stack (same reducer, as a batch)", fps(r["saxs_reduce_next_frames_per_s"]),
         "", "", f"{r['speedup_next']:.1f}x", ""),
        ("  as a fraction of decompression alone", f"{r['stack_fraction_of_decompress']:.0%}",
         "", "", "", ""),
        ("one curve per frame, 2 threads (+ flags)", fps(r["saxs_per_frame_frames_per_s"]),
         "pyFAI integrate1d per frame (no split)", fps(r["pyfai_no_split_frames_per_s"]),
         f"{r['speedup_per_frame']:.1f}x",
         f"{mb(r['saxs_per_frame_peak_rss_mb'])} / {mb(r['pyfai_no_split_peak_rss_mb'])}"),
        ("  1 thread", fps(r["saxs_per_frame_1_thread_frames_per_s"]),
         "  pyFAI, OMP_NUM_THREADS=1", fps(r["pyfai_no_split_1_thread_frames_per_s"]),
         f"{r['speedup_per_frame_1_thread']:.1f}x", ""),
        ("  time per frame: read+decompress / matrix / write _ave.h5",
         (f"{r['per_frame_decode_ms']:.1f} / {r['per_frame_matrix_ms']:.1f} / "
          f"{r['per_frame_write_ms']:.2f} ms"), "", "", "", ""),
        ("  1 thread: read+decompress / matrix",
         f"{r['per_frame_1_thread_decode_ms']:.1f} / {r['per_frame_1_thread_matrix_ms']:.1f} ms",
         "", "", "", ""),
        ("reference: naive user path (h5py+hdf5plugin, numpy sum, one integrate1d)",
         fps(r["naive_frames_per_s"]), "", "", f"stack {r['speedup_naive']:.1f}x faster",
         mb(r["naive_peak_rss_mb"])),
        ("reference: decompression alone (bitshuffle C, 2 cores)",
         fps(r["decompress_frames_per_s"]), "", "", "the limit",
         mb(r["decompress_peak_rss_mb"])),
    ]


MC_CURVE = Path(__file__).resolve().parents[2] / "shared" / "peers" / "data" / \
    "synth_gauss_r1.0_s0.1_q0.1-8_n5pct.dat"
PEER_SCRIPT = MC_CURVE.parents[1] / "run_mcsas3.py"


#: The shape benchmark: cylinders of fixed length with log-normal radii (median 2 nm,
#: sigma 0.1), 120 log-spaced points over q = 0.1..8 1/nm, 3 % Gaussian noise.
CYLINDER_LENGTH_NM = 20.0
CYLINDER_RANGE_NM = (0.5, 6.0)


def make_cylinder_curve(folder: Path, seed: int = 0) -> Path:
    """Write the polydisperse-cylinder benchmark curve (q 1/nm, I 1/m, sigma) to ``folder``."""
    from saxs.models import Species, form_factor, species_intensity  # noqa: PLC0415

    q = np.geomspace(0.1, 8.0, 120)
    form = form_factor("cylinder", length_nm=CYLINDER_LENGTH_NM)
    intensity = species_intensity(q, [Species(2.0, 2e-3, 0.1, "lognormal", model=form)],
                                  33.4e-6 * 1e16) + 0.01
    sigma = 0.03 * intensity
    noisy = intensity + np.random.default_rng(seed).normal(0.0, 1.0, q.size) * sigma
    path = folder / "cylinders_l20_r2_lognormal.dat"
    np.savetxt(path, np.column_stack([q, noisy * 100, sigma * 100]),
               header="q [1/nm]  I [1/m]  sigma [1/m]: cylinders L = 20 nm, R log-normal 2 nm")
    return path


def run_mc(path: str, run: dict) -> dict:
    """Child process: the whole Monte Carlo analysis of one curve, timed from inside.

    ``run``: n_rep, n_contrib, conv_crit, model, length_nm, r_min, r_max.
    """
    start = time.perf_counter()
    n_rep, n_contrib, conv_crit = run["n_rep"], run["n_contrib"], run["conv_crit"]
    model, length_nm, r_min, r_max = run["model"], run["length_nm"], run["r_min"], run["r_max"]
    import saxs  # noqa: PLC0415
    from saxs.models.table import form_factor_table  # noqa: PLC0415

    curve = saxs.read_curve(path, intensity_unit="1/m")
    shape = {"model": model, "model_parameters": {"length_nm": length_nm} if length_nm else {}}
    settings = {"radius_range_nm": (r_min, r_max), "contrast_per_cm2": 33.4e-6 * 1e16, **shape}
    config = saxs.MCConfig(n_rep=n_rep, n_contrib=n_contrib, conv_crit=conv_crit, seed=1,
                           sigma_floor_rel=0.0, **settings)
    import logging  # noqa: PLC0415

    t_table = time.perf_counter()
    table = form_factor_table(config.form, curve.q, (r_min, r_max))
    table_s = time.perf_counter() - t_table
    warm = time.perf_counter()  # loads the compiled chain from the numba cache (one-off)
    quiet = logging.getLogger("saxs.montecarlo")
    quiet.disabled = True  # the one-step warm-up is not converged, on purpose
    saxs.monte_carlo(curve, saxs.MCConfig(n_rep=1, max_iter=1, seed=1, **settings))
    quiet.disabled = False
    load = time.perf_counter() - warm
    t_fit = time.perf_counter()
    dist = saxs.monte_carlo(curve, config)
    fit = time.perf_counter() - t_fit
    h = dist.histogram(bins=50, range_nm=(r_min, r_max))
    return {"fit_s": fit, "load_s": load, "table_s": table_s,
            "table_sizes": int(table.values.shape[0]), "table_error": table.max_error,
            "inside_process_s": time.perf_counter() - start,
            "n_rep": n_rep, "steps_mean": float(dist.steps.mean()),
            "chi2_r_mean": float(dist.chi2_r.mean()), "volume_fraction": h.volume_fraction.tolist(),
            "volume_fraction_std": h.volume_fraction_std.tolist(),
            "bin_edges": h.bin_edges_nm.tolist()}


def run_peer(peer_python: str, path: Path, run: dict) -> dict:
    """McSAS3 1.4.1 through the shared ``run_mcsas3.py`` wrapper, same curve and settings
    (spheres: McSAS3's built-in sphere; other shapes: sasmodels' model of the same name)."""
    start = time.perf_counter()
    n_rep, n_contrib, conv_crit = run["n_rep"], run["n_contrib"], run["conv_crit"]
    model, length_nm, r_min, r_max = run["model"], run["length_nm"], run["r_min"], run["r_max"]
    shape = ([] if model == "sphere" else
             ["--model", model, "--static", f"length={length_nm}"])
    out = subprocess.run(
        [peer_python, str(PEER_SCRIPT), str(path), "--rmin", str(r_min), "--rmax", str(r_max),
         "--nrep", str(n_rep), "--ncontrib", str(n_contrib), "--convcrit", str(conv_crit),
         "--seed", "1", "--data-nbins", "0", "--hist-nbins", "50", "--hist-min", str(r_min),
         "--hist-max", str(r_max), "--ncores", "1", *shape],
        capture_output=True, text=True, check=False, env={"MPLBACKEND": "Agg",
                                                          "PATH": "/usr/bin:/bin"})
    wall = time.perf_counter() - start
    if out.returncode != 0:
        raise RuntimeError(f"McSAS3 failed:\n{out.stderr[-2000:]}")
    result = json.loads(out.stdout)
    result["wall_s"] = wall
    return result


def bench_mc(*, n_rep: int = 10, n_contrib: int = 300, conv_crit: float = 1.0,
             peer_python: str | None = None, curve: Path = MC_CURVE, model: str = "sphere",
             length_nm: float = 0.0, radius_range_nm: tuple[float, float] = (0.3, 5.0)) -> dict:
    """Monte Carlo speed: s per repetition (1 and all threads) and whole-process wall time."""
    if not curve.is_file():
        raise FileNotFoundError(f"{curve}: the benchmark curve is missing (../shared)")
    run = {"n_rep": n_rep, "n_contrib": n_contrib, "conv_crit": conv_crit, "model": model,
           "length_nm": length_nm, "r_min": radius_range_nm[0], "r_max": radius_range_nm[1]}
    args = (str(curve), run)
    _child("run_mc", *args)  # fills the numba cache
    one, _ = _child("run_mc", *args, env={"NUMBA_NUM_THREADS": "1"})
    ours, wall = _child("run_mc", *args)
    out = {"n_rep": n_rep, "n_contrib": n_contrib, "model": model,
           "n_points": int(np.loadtxt(curve, comments="#").shape[0]),
           "table_s": ours["table_s"], "table_sizes": ours["table_sizes"],
           "table_error": ours["table_error"],
           "saxs_s_per_rep_1_thread": one["fit_s"] / n_rep,
           "saxs_s_per_rep_all_threads": ours["fit_s"] / n_rep,
           "saxs_process_wall_s": wall, "saxs_kernel_load_s": ours["load_s"],
           "saxs_chi2_r_mean": ours["chi2_r_mean"],
           "saxs_steps_mean": ours["steps_mean"]}
    if peer_python:
        peer = run_peer(peer_python, curve, run)
        rt = peer["runtime_s"]
        out.update({"mcsas3_s_per_rep": rt["per_repetition_mean"],
                    "mcsas3_process_wall_s": peer["wall_s"],
                    "speedup_per_rep_1_thread": rt["per_repetition_mean"]
                    / out["saxs_s_per_rep_1_thread"],
                    "speedup_process": peer["wall_s"] / wall})
    return out


def bench_calibrate(*, shape: tuple[int, int] = (2162, 2068), pixel_m: float = 75e-6,
                    distance_m: float = 1.0, wavelength_nm: float = 0.1, seed: int = 0) -> dict:
    """Time ``saxs.calibrate`` on a simulated AgBh frame of an Eiger2 4M (automatic guess).

    Returns the wall time of the calibration alone (the simulation, and pyFAI's import, are
    not timed), the errors of the refined distance (relative) and beam centre (pixels) and
    the reported standard uncertainty of the distance. Reproduce with
    ``python -c "from saxs_pipelines.bench import bench_calibrate; print(bench_calibrate())"``.
    """
    import math  # noqa: PLC0415
    import time  # noqa: PLC0415

    import saxs  # noqa: PLC0415
    from saxs.calibration import calibrate, pyfai_refinement  # noqa: PLC0415
    from saxs.geometry import Geometry  # noqa: PLC0415
    from saxs.simulate.calibrant import eiger2_4m_gaps, simulate_calibrant  # noqa: PLC0415
    from saxs.simulate.detector import Beamstop  # noqa: PLC0415

    rows, cols = eiger2_4m_gaps()
    truth = Geometry(distance_m=distance_m, poni1_m=0.53 * shape[0] * pixel_m,
                     poni2_m=0.48 * shape[1] * pixel_m, pixel1_m=pixel_m, pixel2_m=pixel_m,
                     wavelength_m=wavelength_nm * 1e-9, shape=shape,
                     rot1_rad=math.radians(1.0), rot2_rad=math.radians(-2.0))
    frame = simulate_calibrant(truth, "AgBh", gap_rows=rows, gap_cols=cols,
                               beamstop=Beamstop(radius_px=30), seed=seed)
    start = time.perf_counter()
    result = calibrate(frame.image, "AgBh", wavelength_nm=wavelength_nm, pixel_size_m=pixel_m,
                       mask=frame.mask, seed=seed)
    elapsed = time.perf_counter() - start
    start = time.perf_counter()
    reference, reference_points = pyfai_refinement(
        frame.image, "AgBh", wavelength_nm=wavelength_nm, pixel_size_m=pixel_m,
        mask=frame.mask, seed=seed)
    reference_s = time.perf_counter() - start
    fit2d = truth.integrator().getFit2D()
    return {"shape": list(shape), "calibrate_s": elapsed, "saxs_version": saxs.__version__,
            "rings": len(result.rings), "control_points": int(result.control_points.shape[0]),
            "distance_rel_error": result.geometry.distance_m / distance_m - 1,
            "distance_rel_uncertainty": result.uncertainty["distance_m"] / distance_m,
            "pyfai_s": reference_s, "pyfai_control_points": reference_points,
            "pyfai_distance_rel_error": reference.distance_m / distance_m - 1,
            "beam_centre_error_px": math.hypot(result.beam_center_px[0] - fit2d["centerY"],
                                               result.beam_center_px[1] - fit2d["centerX"])}


def calibrate_rows(r: dict) -> list[tuple[str, ...]]:
    """The row of the ``saxs bench`` table for :func:`bench_calibrate`'s figures: (benchmark,
    saxs, baseline, baseline value, ratio, peak RSS)."""
    shape = "x".join(str(s) for s in r["shape"])
    return [(f"calibrate an AgBh frame ({shape}, {r['rings']} rings)",
             f"{r['calibrate_s']:.1f} s", "target", "10 s",
             f"{10.0 / r['calibrate_s']:.1f}x", ""),
            ("  against pyFAI's massif + refine3 on the full frame, same first guess",
             f"{r['calibrate_s']:.1f} s", "pyFAI refinement path", f"{r['pyfai_s']:.1f} s",
             f"{r['pyfai_s'] / r['calibrate_s']:.1f}x", "")]


# ----------------------------------------------------------------------- saxs bench


def _mc_rows(args: argparse.Namespace) -> list[tuple[str, ...]]:
    import os  # noqa: PLC0415

    peer = args.peer_python or os.environ.get("SAXS_PEER_PYTHON")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cases = [("spheres", {}),
                 ("cylinders", {"curve": make_cylinder_curve(Path(tmp)), "model": "cylinder",
                                "length_nm": CYLINDER_LENGTH_NM,
                                "radius_range_nm": CYLINDER_RANGE_NM})]
        per_rep = {}
        for name, options in cases:
            r = bench_mc(peer_python=peer, **options)
            per_rep[name] = r["saxs_s_per_rep_1_thread"]
            print(f"Monte Carlo, {name}: {r['n_points']} points, {r['n_contrib']} contributions, "
                  f"{r['n_rep']} repetitions, conv_crit 1; mean steps "
                  f"{r['saxs_steps_mean']:.0f}, chi2_r {r['saxs_chi2_r_mean']:.3f}; form-factor "
                  f"table {r['table_sizes']} sizes built in {r['table_s']:.2f} s (interpolation "
                  f"error {r['table_error']:.1e}); numba cache load "
                  f"{r['saxs_kernel_load_s']:.2f} s")
            peer_rep = r.get("mcsas3_s_per_rep")
            peer_proc = r.get("mcsas3_process_wall_s")
            peer_name = "McSAS3 1.4.1" + (" (sasmodels cylinder)" if name == "cylinders" else "")
            rows += [(f"MC {name} s/repetition, 1 thread",
                      f"{r['saxs_s_per_rep_1_thread'] * 1e3:.2f} ms", peer_name,
                      f"{peer_rep * 1e3:.0f} ms" if peer_rep else "not run",
                      f"{r['speedup_per_rep_1_thread']:.0f}x" if peer_rep else "-", ""),
                     (f"MC {name} s/repetition, all threads",
                      f"{r['saxs_s_per_rep_all_threads'] * 1e3:.2f} ms", "", "", "", ""),
                     (f"MC {name} whole process", f"{r['saxs_process_wall_s']:.2f} s", peer_name,
                      f"{peer_proc:.2f} s" if peer_proc else "not run",
                      f"{r['speedup_process']:.1f}x" if peer_proc else "-", "")]
    print(f"cylinders / spheres, s per repetition on 1 thread: "
          f"{per_rep['cylinders'] / per_rep['spheres']:.2f}")
    if not peer:
        print("  McSAS3 not run: pass --peer-python PEER_VENV/bin/python (../shared/peers)")
    return rows


def _reduce_rows(args: argparse.Namespace) -> list[tuple[str, ...]]:
    shape = tuple(args.shape)
    print(f"reduce: {args.frames} frames of {shape[0]} x {shape[1]} uint32, bitshuffle-LZ4; "
          f"pyFAI per-frame baseline on {args.baseline_frames} frames")
    r = bench_reduce(args.frames, args.baseline_frames, args.npt, shape, args.workdir)
    return reduce_rows(r)


def cmd_bench(args: argparse.Namespace) -> int:
    """``saxs bench``: the chosen benchmarks as one table."""
    rows = []
    if args.what in ("all", "reduce"):
        rows += _reduce_rows(args)
    if args.what in ("all", "mc"):
        rows += _mc_rows(args)
    if args.what in ("all", "calibrate"):
        print("calibrate: simulated AgBh frame of an Eiger2 4M at 1 m, automatic first guess")
        r = bench_calibrate()
        print(f"  distance error {r['distance_rel_error']:.1e} (reported "
              f"{r['distance_rel_uncertainty']:.1e}), beam centre error "
              f"{r['beam_centre_error_px']:.2f} px; pyFAI's path alone: distance error "
              f"{r['pyfai_distance_rel_error']:.1e} from {r['pyfai_control_points']} control "
              "points")
        rows += calibrate_rows(r)
    header = ("benchmark", "saxs", "baseline", "baseline value", "ratio", "peak RSS")
    widths = [max(len(str(row[k])) for row in [header, *rows]) for k in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    return 0
