"""``saxs bench``: speed and memory benchmarks, run as separate processes.

``reduce``: a simulated Eiger2 4M stack (2162 x 2068 uint32, bitshuffle-LZ4, ID02 gap layout)
is reduced by :class:`saxs.Reducer` (read, average with outlier rejection, integrate with
errors), and, in the same run, each frame is read and integrated by pyFAI ``integrate1d`` with
the same corrections. Each measurement runs in its own process so its peak memory (max RSS)
is its own.
"""

from __future__ import annotations

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


def run_ours(path: str, npt: int) -> dict:
    """Child process: the whole reduction of the stack."""
    import saxs  # noqa: PLC0415

    folder = Path(path).parent
    frames = saxs.read_frames(path)
    reducer = saxs.Reducer(frames.geometry, mask=folder / "mask.edf", dark=folder / "dark.edf",
                           flat=folder / "flat.edf", npt=npt)
    reducer.reduce(frames.subset(slice(0, 2)))  # warm-up: numba cache, pyFAI CSR matrix
    start = time.perf_counter()
    curve = reducer.reduce(frames)
    seconds = time.perf_counter() - start
    # the next stack, as a batch reduces it: the reducer's streaming memory is in place
    start = time.perf_counter()
    reducer.reduce(frames)
    seconds_next = time.perf_counter() - start
    # time-resolved: one curve per frame, on (at most) the first 20 frames
    some = frames.subset(slice(0, 20))
    start = time.perf_counter()
    reducer.reduce_frames(some)
    per_frame_rate = len(some) / (time.perf_counter() - start)
    return {"seconds": seconds, "seconds_next": seconds_next, "frames": len(frames),
            "points": len(curve), "per_frame_frames_per_s": per_frame_rate,
            "peak_rss_mb": _peak_rss_mb()}


def run_pyfai(path: str, npt: int, n_frames: int) -> dict:
    """Child process: read and integrate ``n_frames`` frames one by one with pyFAI."""
    import saxs  # noqa: PLC0415

    folder = Path(path).parent
    frames = saxs.read_frames(path)
    reducer = saxs.Reducer(frames.geometry, mask=folder / "mask.edf", dark=folder / "dark.edf",
                           flat=folder / "flat.edf", npt=npt)
    g = frames.geometry
    ai = g.integrator()
    mask = ~reducer.valid
    flat = np.where(reducer.valid, reducer.flat, 1.0)

    def one(k: int) -> None:
        ai.integrate1d(frames[k], npt, dark=reducer.dark, flat=flat, mask=mask,
                       polarization_factor=0.99, correctSolidAngle=True,
                       normalization_factor=frames.monitor_i1[k] * g.pixel1_m * g.pixel2_m
                       / g.distance_m**2, error_model="poisson", dummy=frames.dummy,
                       delta_dummy=0.0, method=reducer.method, unit="q_nm^-1")

    one(0)  # warm-up: CSR matrix
    start = time.perf_counter()
    for k in range(n_frames):
        one(k % len(frames))
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "frames": n_frames, "peak_rss_mb": _peak_rss_mb()}


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
    """Run the reduction benchmark; returns the figures (frames/s, ratio, peak memory)."""
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        start = time.perf_counter()
        path = make_stack(Path(tmp), n_frames, shape)
        made = time.perf_counter() - start
        ours, _ = _child("run_ours", str(path), npt)
        base, _ = _child("run_pyfai", str(path), npt, baseline_frames)
    ours_rate = ours["frames"] / ours["seconds"]
    next_rate = ours["frames"] / ours["seconds_next"]
    base_rate = base["frames"] / base["seconds"]
    return {"shape": list(shape), "frames": n_frames, "npt": npt, "stack_written_s": made,
            "saxs_reduce_frames_per_s": ours_rate, "saxs_reduce_peak_rss_mb": ours["peak_rss_mb"],
            "pyfai_per_frame_frames_per_s": base_rate, "pyfai_frames_timed": baseline_frames,
            "pyfai_peak_rss_mb": base["peak_rss_mb"], "speedup": ours_rate / base_rate,
            "saxs_reduce_next_frames_per_s": next_rate, "speedup_next": next_rate / base_rate,
            "saxs_per_frame_frames_per_s": ours["per_frame_frames_per_s"],
            "speedup_per_frame": ours["per_frame_frames_per_s"] / base_rate}


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
