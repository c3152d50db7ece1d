"""The ``saxs`` command.

Exit codes: 0 ok, 1 error, 2 usage, 3 finished with failed items, 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from saxs_pipelines.messages import cli_wording
from saxs_pipelines.options import add_monte_carlo_options, add_q_unit_in

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_FAILED_ITEMS, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

log = logging.getLogger("saxs")


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more log output (-vv for debug)")


def _cmd_simulate(args: argparse.Namespace) -> int:
    from tqdm import tqdm  # noqa: PLC0415

    from saxs.simulate import load_scenario, write_beamtime  # noqa: PLC0415

    scenario = load_scenario(args.scenario)
    with tqdm(total=len(scenario.measurements), desc="simulate", unit="stack",
              disable=args.quiet) as bar:
        files = write_beamtime(scenario, args.output, overwrite=args.overwrite,
                               progress=lambda name: (bar.set_postfix_str(name), bar.update()))
    print(f"wrote {len(files.raw)} stacks, calibration and sample sheet to {files.root}")
    print(f"sample sheet: {files.sample_sheet}")
    return EXIT_OK


def _cmd_mc(args: argparse.Namespace) -> int:
    from tqdm import tqdm  # noqa: PLC0415

    import saxs  # noqa: PLC0415
    from saxs_pipelines.config import load_config, mc_config, parse_assignments  # noqa: PLC0415
    from saxs_pipelines.plots import plot_mc  # noqa: PLC0415

    settings = load_config(args.config)
    radius = (args.rmin, args.rmax) if args.rmin is not None and args.rmax is not None else None
    if (args.rmin is None) != (args.rmax is None):
        raise saxs.InputError("give both --r-min-nm and --r-max-nm, or neither")
    shape = {"model": args.model,
             "model_parameters": parse_assignments(args.param, "--param") if args.param
             else None}
    config = mc_config(settings["mc"], {"n_rep": args.nrep, "n_contrib": args.ncontrib,
                                        "seed": args.seed, "conv_crit": args.conv_crit,
                                        "radius_range_nm": radius, **shape})
    hist_settings = settings["histogram"]
    out_dir = Path(args.output)
    out_dir.mkdir(parents=True, exist_ok=True)
    failures = 0
    for name in tqdm(args.curves, desc="mc", unit="curve", disable=args.quiet):
        path = Path(name)
        try:
            curve = saxs.read_curve(path, q_unit=args.unit)
            dist = saxs.monte_carlo(curve, config)
            rng = hist_settings["range_nm"]
            hist = dist.histogram(bins=hist_settings["bins"], scale=hist_settings["scale"],
                                  range_nm=tuple(rng) if rng else None,
                                  weighting=hist_settings["weighting"])
            result = saxs.write_result(out_dir / f"{path.stem}_mc.h5", curve, dist,
                                       extra={"config": settings}, overwrite=args.overwrite)
            png = out_dir / f"{path.stem}_mc.png"
            if png.exists() and not args.overwrite:
                raise saxs.InputError(f"{png}: exists; pass --overwrite to replace it")
            plot_mc(dist, hist, png, title=path.name)
        except saxs.SaxsError as exc:
            failures += 1
            tqdm.write(f"saxs mc: {path}: {cli_wording(exc)}", file=sys.stderr)
            continue
        mean, mean_std = hist.moments["mean_nm"]
        phi, phi_std = hist.moments["total_volume_fraction"]
        flag = ""
        if not dist.all_converged:
            failures += 1
            flag = (f"  NOT CONVERGED: {int((~dist.converged).sum())} of {dist.converged.size} "
                    f"repetitions stayed above conv_crit {dist.config['conv_crit']:g} (best "
                    f"chi2_r {dist.chi2_r.min():.3g}); the model does not describe this curve: "
                    "check the q unit (--q-unit-in), the blank subtraction and the shape; result "
                    "written, flagged")
        tqdm.write(f"{path.name}: volume-weighted mean R {mean:.4g} +- {mean_std:.2g} nm, "
                   f"volume fraction {phi:.4g} +- {phi_std:.2g}, chi2_r "
                   f"{dist.chi2_r.mean():.3f}{flag} -> {result}, {png}")
    return EXIT_FAILED_ITEMS if failures else EXIT_OK


def _mc_rows(args: argparse.Namespace) -> list[tuple[str, ...]]:
    import os  # noqa: PLC0415
    import tempfile  # noqa: PLC0415

    from saxs_pipelines import bench  # noqa: PLC0415

    peer = args.peer_python or os.environ.get("SAXS_PEER_PYTHON")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cases = [("spheres", {}),
                 ("cylinders", {"curve": bench.make_cylinder_curve(Path(tmp)), "model": "cylinder",
                                "length_nm": bench.CYLINDER_LENGTH_NM,
                                "radius_range_nm": bench.CYLINDER_RANGE_NM})]
        per_rep = {}
        for name, options in cases:
            r = bench.bench_mc(peer_python=peer, **options)
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
    from saxs_pipelines import bench  # noqa: PLC0415

    shape = tuple(args.shape)
    print(f"reduce: {args.frames} frames of {shape[0]} x {shape[1]} uint32, bitshuffle-LZ4; "
          f"pyFAI per-frame baseline on {args.baseline_frames} frames")
    r = bench.bench_reduce(args.frames, args.baseline_frames, args.npt, shape, args.workdir)
    return bench.reduce_rows(r)


def _cmd_bench(args: argparse.Namespace) -> int:
    rows = []
    if args.what in ("all", "reduce"):
        rows += _reduce_rows(args)
    if args.what in ("all", "mc"):
        rows += _mc_rows(args)
    if args.what in ("all", "calibrate"):
        from saxs_pipelines import bench  # noqa: PLC0415

        print("calibrate: simulated AgBh frame of an Eiger2 4M at 1 m, automatic first guess")
        r = bench.bench_calibrate()
        print(f"  distance error {r['distance_rel_error']:.1e} (reported "
              f"{r['distance_rel_uncertainty']:.1e}), beam centre error "
              f"{r['beam_centre_error_px']:.2f} px; pyFAI's path alone: distance error "
              f"{r['pyfai_distance_rel_error']:.1e} from {r['pyfai_control_points']} control "
              "points")
        rows += bench.calibrate_rows(r)
    header = ("benchmark", "saxs", "baseline", "baseline value", "ratio", "peak RSS")
    widths = [max(len(str(row[k])) for row in [header, *rows]) for k in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    return EXIT_OK


#: The order of ``saxs --help``: a beamtime's workflow (one curve, then whole folders), then
#: the tools.
HELP_ORDER = ("calibrate", "reduce", "mc", "fit", "analyze", "compare", "batch", "watch",
              "kinetics", "reprocess", "config", "simulate", "demo", "bench")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``saxs`` command."""
    parser = argparse.ArgumentParser(
        prog="saxs", description="SAXS reduction and size analysis for ESRF ID02 beamtimes")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    sim = sub.add_parser("simulate", help="write a simulated beamtime folder from a scenario",
                         description="Simulate a whole beamtime (raw ID02 stacks, blanks, "
                         "calibration files, sample sheet, true curves) from a scenario YAML.")
    sim.add_argument("scenario", help="scenario YAML, e.g. data_samples/scenario.yaml")
    sim.add_argument("-o", "--output", required=True, help="folder to create")
    sim.add_argument("--overwrite", action="store_true", help="replace an existing folder")
    _add_common(sim)
    sim.set_defaults(func=_cmd_simulate)
    mc = sub.add_parser("mc", help="Monte Carlo size distributions of curves",
                        description="McSAS-style Monte Carlo size distributions of any particle "
                        "shape; writes <stem>_mc.h5 (curve + every repetition) and "
                        "<stem>_mc.png.")
    mc.add_argument("curves", nargs="+", help="curves (.dat, .pdh, NXcanSAS .h5)")
    mc.add_argument("-c", "--config", help="pipeline.yaml (sections 'mc' and 'histogram')")
    mc.add_argument("-o", "--output", default=".", help="output folder")
    add_q_unit_in(mc)
    add_monte_carlo_options(mc)
    mc.add_argument("--conv-crit", type=float, help="convergence criterion on chi2_r")
    mc.add_argument("--model", help="particle shape: sphere (default), core_shell_sphere, "
                    "cylinder, spheroid, disc, or any 1-D sasmodels model name")
    mc.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                    help="fixed shape parameter, lengths in nm (e.g. length_nm=20); repeatable")
    mc.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    _add_common(mc)
    mc.set_defaults(func=_cmd_mc)
    bench = sub.add_parser("bench", help="speed and memory benchmarks",
                           description="Benchmarks (each step in its own process).")
    bench.add_argument("what", nargs="?", default="all",
                       choices=["all", "reduce", "mc", "calibrate"],
                       help="which benchmark (default: all, one table)")
    bench.add_argument("--peer-python", help="python of a McSAS3 1.4.1 venv for 'mc' "
                       "(or SAXS_PEER_PYTHON)")
    bench.add_argument("--frames", type=int, default=100, help="frames in the stack")
    bench.add_argument("--baseline-frames", type=int, default=10,
                       help="frames timed for the pyFAI per-frame baseline")
    bench.add_argument("-n", "--npt", type=int, default=1000, help="q bins")
    bench.add_argument("--shape", type=int, nargs=2, default=[2162, 2068],
                       metavar=("ROWS", "COLS"), help="frame shape (default Eiger2 4M)")
    bench.add_argument("--workdir", help="folder for the temporary stack")
    _add_common(bench)
    bench.set_defaults(func=_cmd_bench)
    from saxs_pipelines.commands import add_parsers  # noqa: PLC0415

    add_parsers(sub, _add_common)
    from saxs_pipelines.reduce import add_parser as add_reduce  # noqa: PLC0415

    add_reduce(sub, _add_common)
    from saxs_pipelines.kinetics import add_parser as add_kinetics  # noqa: PLC0415

    add_kinetics(sub, _add_common)
    from saxs_pipelines.demo import cmd_demo  # noqa: PLC0415

    sub.choices["demo"].set_defaults(func=cmd_demo)
    from saxs_pipelines.calibrate import add_parser as add_calibrate  # noqa: PLC0415
    add_calibrate(sub, _add_common)
    from saxs_pipelines.compare import add_parser as add_compare  # noqa: PLC0415

    add_compare(sub, _add_common)
    rank = {name: k for k, name in enumerate(HELP_ORDER)}
    sub._choices_actions.sort(key=lambda action: rank.get(action.dest, len(rank)))
    return parser


def _version() -> str:
    from saxs import __version__  # noqa: PLC0415

    return f"saxs {__version__}"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``saxs`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:  # the console shows only what -v asks for,
        if type(handler) is logging.StreamHandler:  # whatever the batch's log file records
            handler.setLevel(level)

    # pyFAI's import probes OpenCL through silx and warns when it is absent: not our concern
    logging.getLogger("silx.opencl.common").setLevel(logging.ERROR)
    from saxs.errors import SaxsError  # noqa: PLC0415

    try:
        return args.func(args)
    except SaxsError as exc:
        print(f"saxs {args.command}: error: {cli_wording(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:  # unwritable folder, a path under a file, a full disk ...
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"saxs {args.command}: error: {where}{exc.strerror or exc}; check the path, its "
              "permissions and the free space", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"saxs {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
