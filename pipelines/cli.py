"""The ``saxs`` command.

Exit codes: 0 ok, 1 error, 2 usage, 3 finished with failed items, 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

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


def _print_mc_bench(args: argparse.Namespace) -> None:
    import os  # noqa: PLC0415

    from saxs_pipelines.bench import bench_mc  # noqa: PLC0415

    peer = args.peer_python or os.environ.get("SAXS_PEER_PYTHON")
    r = bench_mc(peer_python=peer)
    print(f"Monte Carlo benchmark: {r['n_points']} points, {r['n_contrib']} contributions, "
          f"{r['n_rep']} repetitions, conv_crit 1 (peer synthetic Gaussian spheres)")
    print(f"  saxs: {r['saxs_s_per_rep_1_thread'] * 1e3:.2f} ms per repetition (1 thread), "
          f"{r['saxs_s_per_rep_all_threads'] * 1e3:.2f} ms (all threads); whole process "
          f"{r['saxs_process_wall_s']:.2f} s (numba cache warm, loading it "
          f"{r['saxs_kernel_load_s']:.2f} s); mean steps "
          f"{r['saxs_steps_mean']:.0f}, chi2_r {r['saxs_chi2_r_mean']:.3f}")
    if "mcsas3_s_per_rep" in r:
        print(f"  McSAS3: {r['mcsas3_s_per_rep'] * 1e3:.0f} ms per repetition; whole process "
              f"{r['mcsas3_process_wall_s']:.2f} s")
        print(f"  speed-up: {r['speedup_per_rep_1_thread']:.0f}x per repetition (1 thread), "
              f"{r['speedup_process']:.1f}x whole process")
    else:
        print("  McSAS3 not run: pass --peer-python PEER_VENV/bin/python (../shared/peers)")


def _cmd_bench(args: argparse.Namespace) -> int:
    from saxs_pipelines.bench import bench_reduce  # noqa: PLC0415

    if args.what == "mc":
        _print_mc_bench(args)
    if args.what == "reduce":
        shape = tuple(args.shape)
        print(f"reduce benchmark: {args.frames} frames of {shape[0]} x {shape[1]} uint32, "
              f"bitshuffle-LZ4; pyFAI per-frame baseline on {args.baseline_frames} frames")
        r = bench_reduce(args.frames, args.baseline_frames, args.npt, shape, args.workdir)
        rows = [("saxs Reducer.reduce (read + average + reject + integrate)",
                 f"{r['saxs_reduce_frames_per_s']:.1f} frames/s",
                 f"{r['saxs_reduce_peak_rss_mb']:.0f} MB"),
                ("pyFAI integrate1d per frame (read + integrate)",
                 f"{r['pyfai_per_frame_frames_per_s']:.1f} frames/s",
                 f"{r['pyfai_peak_rss_mb']:.0f} MB")]
        for name, rate, mem in rows:
            print(f"  {name:<60} {rate:>16} {mem:>9} peak")
        print(f"  speed-up: {r['speedup']:.1f}x")
    return EXIT_OK


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
    bench = sub.add_parser("bench", help="speed and memory benchmarks",
                           description="Benchmarks (each step in its own process).")
    bench.add_argument("what", choices=["reduce", "mc"], help="which benchmark")
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
    return parser


def _version() -> str:
    from saxs import __version__  # noqa: PLC0415

    return f"saxs {__version__}"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``saxs`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
                        format="%(levelname)s %(name)s: %(message)s")
    # pyFAI's import probes OpenCL through silx and warns when it is absent: not our concern
    logging.getLogger("silx.opencl.common").setLevel(logging.ERROR)
    from saxs.errors import SaxsError  # noqa: PLC0415

    try:
        return args.func(args)
    except SaxsError as exc:
        print(f"saxs {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"saxs {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
