"""The ``saxs`` command: every subcommand's options, in one parser, in workflow order.

Each subcommand names its handler as ``"module:function"`` (imported only when that command
runs, so ``saxs --help`` stays fast); the handlers live in the module of their command
(:mod:`saxs_pipelines.reduce`, :mod:`saxs_pipelines.mc`, ...). Options shared by several
commands come from :mod:`saxs_pipelines.options`, in one spelling.

Exit codes (:mod:`saxs_pipelines.messages`): 0 ok, 1 error (or curves that differ, for
``saxs compare``), 2 usage, 3 finished with failed items, 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence

from saxs_pipelines.messages import (
    EXIT_ERROR,
    EXIT_FAILED_ITEMS,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    cli_wording,
)
from saxs_pipelines.options import add_monte_carlo_options, add_q_unit_in

__all__ = ["EXIT_ERROR", "EXIT_FAILED_ITEMS", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE",
           "HELP_ORDER", "build_parser", "main"]

log = logging.getLogger("saxs")

#: The order of ``saxs --help``: a beamtime's workflow (one curve, then whole folders), then
#: the tools.
HELP_ORDER = ("calibrate", "reduce", "mc", "fit", "analyze", "compare", "batch", "watch",
              "kinetics", "reprocess", "config", "simulate", "demo", "bench")


def _command(sub: argparse._SubParsersAction, name: str, handler: str, *, help: str,
             description: str) -> argparse.ArgumentParser:
    """A subcommand whose handler is ``handler`` ("module:function" in saxs_pipelines), with
    the options every command has (-q, -v) added last by :func:`build_parser`."""
    parser = sub.add_parser(name, help=help, description=description)
    parser.set_defaults(handler=f"saxs_pipelines.{handler}")
    return parser


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more log output (-vv for debug)")


def _overwrite(parser: argparse.ArgumentParser, what: str = "replace existing outputs") -> None:
    parser.add_argument("--overwrite", action="store_true", help=what)


# ----------------------------------------------------------------- one curve at a time


def _calibrate(sub) -> argparse.ArgumentParser:
    cal = _command(
        sub, "calibrate", "calibrate:cmd_calibrate",
        help="refine the geometry from a calibrant frame (AgBh, LaB6, ...)",
        description="Guess the beam centre and distance from the image, extract control points "
        "on the calibrant's rings and refine distance, PONI and tilts with pyFAI; print the "
        "geometry with uncertainties and the residual per ring; write a PONI file and a "
        "diagnostic PNG.")
    cal.add_argument("frame", help="calibrant frame (any file saxs.read_frames reads)")
    cal.add_argument("-c", "--calibrant", default="AgBh",
                     help="pyFAI calibrant name(s), e.g. AgBh, LaB6, 'AgBh+LaB6' (default AgBh)")
    energy = cal.add_mutually_exclusive_group()
    energy.add_argument("-w", "--wavelength", type=float, help="wavelength, Angstrom")
    energy.add_argument("-e", "--energy", type=float, help="photon energy, keV")
    cal.add_argument("--pixel", type=float, help="pixel size, um (default: from the header)")
    cal.add_argument("--distance", type=float, help="distance guess, mm (breaks ring-order ties)")
    cal.add_argument("--fix", help="parameters to hold, comma separated (default rot3): "
                     "dist,poni1,poni2,rot1,rot2,rot3")
    cal.add_argument("-m", "--mask", help="mask file (non-zero = masked)")
    cal.add_argument("-o", "--output", required=True, help="PONI file to write")
    cal.add_argument("--plot", help="diagnostic PNG (default: the PONI name with .png)")
    cal.add_argument("--no-plot", action="store_true", help="do not write the PNG")
    _overwrite(cal)
    return cal


def _reduce(sub) -> argparse.ArgumentParser:
    red = _command(
        sub, "reduce", "reduce:cmd_reduce", help="reduce frame stacks to I(q) curves",
        description="Reduce frame stacks to I(q): one averaged NXcanSAS curve per stack "
        "(<stem>.h5), or with --per-frame one curve per frame (or per --bin-frames group) in "
        "ID02's processed layout, <stem>_ave.h5 (entry_0000/PyFAI/result_ave: q, data, "
        "data_errors, t). Settings not given as options come from -c pipeline.yaml (section "
        "'reduce'), else from the defaults.")
    red.add_argument("frames", nargs="+", help="stacks: ID02 LIMA .h5, EDF, file.h5::/path")
    red.add_argument("-c", "--config", help="pipeline.yaml (section 'reduce')")
    red.add_argument("-p", "--poni", help="PONI file (default: geometry from the header)")
    red.add_argument("-m", "--mask", action="append", help="mask file (repeatable)")
    red.add_argument("-d", "--dark", help="dark image")
    red.add_argument("-f", "--flat", help="flat field")
    red.add_argument("-n", "--npt", type=int, help="q bins (reduce.npt)")
    red.add_argument("-u", "--unit", metavar="{q_nm^-1,q_A^-1}",
                     help="radial unit of the written curves, pyFAI's names (default q_nm^-1)")
    red.add_argument("--method", metavar="SPLIT[,ALGO,IMPL]",
                     help="pyFAI integration method: pixel splitting (no, bbox, pseudo, full), "
                     "optionally with algorithm and implementation, e.g. bbox,csr,cython "
                     "(reduce.method)")
    red.add_argument("--intensity-unit", choices=["arb", "1/cm"],
                     help="what the normalised intensity is (reduce.intensity_unit)")
    red.add_argument("--per-frame", action="store_true", help="one curve per frame")
    red.add_argument("--bin-frames", type=int, metavar="N",
                     help="with --per-frame: one curve per N frames (default 1)")
    red.add_argument("--azimuth-range", action="append", metavar="MIN,MAX",
                     help="with --per-frame: integrate only this sector, degrees within "
                     "-180..360; write --azimuth-range=-30,30 when MIN is negative (repeatable: "
                     "the first in result_ave, the next in result_ave_1, ...)")
    red.add_argument("--normalization", metavar="{auto,i1,exposure,none}",
                     help="divide each frame by the transmitted flux I1, the exposure time, or "
                     "nothing (default auto: I1 when known, else the exposure time)")
    red.add_argument("--monitor", type=float, metavar="VALUE",
                     help="the I1 monitor of every frame, given directly (files without one)")
    red.add_argument("-o", "--output", default=".", help="output folder")
    _overwrite(red)
    return red


def _mc(sub) -> argparse.ArgumentParser:
    mc = _command(
        sub, "mc", "mc:cmd_mc", help="Monte Carlo size distributions of curves",
        description="McSAS-style Monte Carlo size distributions of any particle shape; writes "
        "<stem>_mc.h5 (curve + every repetition) and <stem>_mc.png.")
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
    _overwrite(mc)
    return mc


def _fit(sub) -> argparse.ArgumentParser:
    fit = _command(
        sub, "fit", "commands:cmd_fit",
        help="parametric lmfit fit of a curve (any shape, size distribution)",
        description="Fit a population of particles (built-in shape or any sasmodels 1-D model, "
        "Gaussian / log-normal / Schulz sizes) or an analytic model to a curve, smeared by the "
        "curve's q resolution when it has one. Prints the values with errors and chi2_r; "
        "writes OUT.h5 (NXcanSAS curve + the fit) and OUT.png.")
    fit.add_argument("curve", help="curve (.dat, .pdh, NXcanSAS .h5, canSAS .xml[::N])")
    fit.add_argument("--model", required=True,
                     help="sphere, core_shell_sphere, cylinder, spheroid, disc, a sasmodels "
                     "name, or guinier, porod, lorentzian_peak, gaussian_peak, flat")
    fit.add_argument("--distribution", default="lognormal",
                     choices=["lognormal", "gaussian", "schulz", "none"],
                     help="size distribution (default lognormal; none = monodisperse)")
    fit.add_argument("--param", action="append", metavar="NAME=VALUE",
                     help="fixed shape parameter, e.g. length_nm=20 (repeatable)")
    fit.add_argument("--init", action="append", metavar="NAME=VALUE",
                     help="starting value, e.g. radius_nm=2 (repeatable)")
    fit.add_argument("--free", action="append", metavar="NAME",
                     help="also fit this fixed parameter (repeatable)")
    fit.add_argument("--fix", action="append", metavar="NAME",
                     help="keep this parameter at its starting value (repeatable)")
    fit.add_argument("--contrast", type=float, metavar="PER_CM2",
                     help="particle-solvent contrast of homogeneous shapes, 1/cm^2")
    fit.add_argument("--background", default="none", choices=["none", "flat"],
                     help="add a flat background bg_level (default none)")
    add_q_unit_in(fit)
    fit.add_argument("--q-range", type=float, nargs=2, metavar=("LO", "HI"),
                     help="fit only LO <= q <= HI, in 1/nm")
    fit.add_argument("--no-smearing", action="store_true",
                     help="ignore the curve's q resolution")
    fit.add_argument("--merge-duplicates", action="store_true",
                     help="merge points whose q occurs twice (e.g. two SANS detectors)")
    fit.add_argument("-o", "--output", metavar="OUT.h5",
                     help="result file (default <curve stem>_fit.h5); the PNG goes beside it")
    _overwrite(fit)
    return fit


def _analyze(sub) -> argparse.ArgumentParser:
    ana = _command(
        sub, "analyze", "commands:cmd_analyze", help="series findings from result files",
        description="Series findings from sample result files (saxs batch, saxs mc): quantized "
        "magic-size steps, families and continuous growth of the size populations, or with "
        "--bragg the Bragg phases, d-spacings and melting; prints them and optionally writes a "
        "CSV table.")
    ana.add_argument("results", nargs="+", help="sample files written by saxs batch / saxs mc")
    ana.add_argument("--variable", default="temperature_c",
                     help="metadata key that orders the series (default temperature_c)")
    ana.add_argument("--bragg", action="store_true",
                     help="Bragg peaks and melting instead of size populations")
    ana.add_argument("-o", "--output", help="CSV table to write")
    _overwrite(ana, "replace an existing table")
    return ana


def _compare(sub) -> argparse.ArgumentParser:
    cmp = _command(
        sub, "compare", "compare:cmd_compare",
        help="check a curve against a reference curve (exit 1 if they differ)",
        description="Compare a curve with a reference (glassy carbon, water, a standard sample) "
        "on their common q range: chi2_r and its p-value, the largest deviation in sigma and "
        "where, and CorMap's p-value for systematic differences. Exit 0 when both tests accept "
        "the curves as the same at --alpha, 1 when they differ.")
    cmp.add_argument("curve", help="the new curve (.dat, .pdh, NXcanSAS .h5)")
    cmp.add_argument("reference", help="the reference curve, same intensity unit")
    cmp.add_argument("--alpha", type=float,
                     help="significance level of both tests (default 0.01)")
    cmp.add_argument("--qmin", type=float, help="lowest q compared, 1/nm")
    cmp.add_argument("--qmax", type=float, help="highest q compared, 1/nm")
    add_q_unit_in(cmp)
    return cmp


# ------------------------------------------------------------------ whole beamtimes


def _beamtime_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", help="pipeline.yaml (saxs config init)")
    parser.add_argument("-o", "--output", help="output folder (default BEAMTIME/processed)")
    parser.add_argument("-j", "--jobs", type=int, help="local worker processes")
    parser.add_argument("--scheduler", help="Dask scheduler address: run the jobs there")
    parser.add_argument("-n", "--npt", type=int, help="q bins (reduce.npt)")
    add_monte_carlo_options(parser, shape=False)
    _overwrite(parser)


def _batch(sub) -> argparse.ArgumentParser:
    batch = _command(
        sub, "batch", "commands:cmd_batch", help="process a whole beamtime folder",
        description="Reduce every stack, subtract blanks, fit size distributions, analyse each "
        "series, write the report.")
    batch.add_argument("beamtime", help="beamtime folder (raw/, calib/, samples.csv)")
    _beamtime_options(batch)
    batch.add_argument("--resume", action="store_true",
                       help="keep jobs whose records prove them complete; run the rest")
    return batch


def _watch(sub) -> argparse.ArgumentParser:
    watch = _command(
        sub, "watch", "commands:cmd_watch", help="process stacks as they are written (live mode)",
        description="Live mode during a beamtime: scan the folder, process each stack once its "
        "file is complete (unchanged for --settle s), and refresh the series and the report; "
        "stop with Ctrl-C or after --idle-timeout s without a new stack.")
    watch.add_argument("beamtime", help="beamtime folder being written")
    _beamtime_options(watch)
    watch.add_argument("--interval", type=float, default=2.0, help="seconds between scans")
    watch.add_argument("--settle", type=float, default=2.0,
                       help="seconds a file must stay unchanged to count as complete")
    watch.add_argument("--idle-timeout", type=float,
                       help="stop after this many seconds without a new stack")
    return watch


def _kinetics(sub) -> argparse.ArgumentParser:
    kin = _command(
        sub, "kinetics", "kinetics:cmd_kinetics",
        help="species volume fractions vs time and rate constants (time-resolved)",
        description="Blank-subtract every curve of a per-frame file (<stem>_ave.h5 from saxs "
        "reduce --per-frame), fit each by the Monte Carlo, track the species over time, and "
        "fit first-order sequential conversion (A -> B, A -> B -> C) and the onset of "
        "continuous growth. Writes <stem>_kinetics.csv and <stem>_kinetics.png.")
    kin.add_argument("frames", help="per-frame curves: <stem>_ave.h5 (ID02 layout, with t)")
    kin.add_argument("--blank", help="solvent blank curve (NXcanSAS .h5, .dat)")
    kin.add_argument("--empty-cell", help="empty-cell curve (two-step subtraction)")
    kin.add_argument("--solvent-volume-fraction", type=float, default=1.0,
                     help="displaced-volume factor of the solvent (default 1)")
    kin.add_argument("--model", metavar="{auto,A->B,A->B->C}",
                     help="sequential model (default: the config's kinetics.model, auto: as "
                     "many species as found, 2 or 3)")
    kin.add_argument("--bin-frames", type=int, metavar="N",
                     help="average N consecutive curves before the Monte Carlo (default: the "
                     "config's kinetics.bin_frames, 1)")
    kin.add_argument("--sector", type=int, default=0, metavar="K",
                     help="which result of the file (0: result_ave, k: result_ave_k)")
    kin.add_argument("-c", "--config", help="pipeline.yaml (sections 'mc' and 'kinetics')")
    add_monte_carlo_options(kin)
    kin.add_argument("-j", "--jobs", type=int, help="local worker processes for the Monte Carlo")
    kin.add_argument("--scheduler", help="Dask scheduler address: run the Monte Carlo there")
    kin.add_argument("-o", "--output", default=".", help="output folder")
    _overwrite(kin)
    return kin


def _reprocess(sub) -> argparse.ArgumentParser:
    rep = _command(
        sub, "reprocess", "commands:cmd_reprocess", help="run the job of a record again",
        description="Run the job stored in a batch record again (same inputs, parameters and "
        "outputs), e.g. after fixing a calibration file; the record is rewritten with the new "
        "result.")
    rep.add_argument("record", help="records/<stage>/<name>.json of a batch")
    _overwrite(rep, "replace the job's outputs")
    return rep


def _config(sub) -> argparse.ArgumentParser:
    cfg = _command(
        sub, "config", "commands:cmd_config", help="configuration files",
        description="Configuration files: 'saxs config init' writes the commented default "
        "pipeline.yaml (unknown keys and bad values are errors when it is read).")
    actions = cfg.add_subparsers(dest="action", required=True, metavar="ACTION")
    init = actions.add_parser("init", help="write the commented default pipeline.yaml")
    init.add_argument("path", nargs="?", default="pipeline.yaml")
    _overwrite(init, "replace an existing file")
    _common(init)
    return cfg


# -------------------------------------------------------------------------- tools


def _simulate(sub) -> argparse.ArgumentParser:
    sim = _command(
        sub, "simulate", "simulate:cmd_simulate",
        help="write a simulated beamtime folder from a scenario",
        description="Simulate a whole beamtime (raw ID02 stacks, blanks, calibration files, "
        "sample sheet, true curves) from a scenario YAML.")
    sim.add_argument("scenario", help="scenario YAML, e.g. data_samples/scenario.yaml")
    sim.add_argument("-o", "--output", required=True, help="folder to create")
    _overwrite(sim, "replace an existing folder")
    return sim


def _demo(sub) -> argparse.ArgumentParser:
    demo = _command(
        sub, "demo", "demo:cmd_demo", help="simulate the shipped beamtime and process it",
        description="Simulate the shipped CdSe beamtime of data_samples/, process it with saxs "
        "batch, print the findings and the report's path; then follow the shipped stopped-flow "
        "series in time.")
    demo.add_argument("-o", "--output", default="saxs-demo", help="folder (default saxs-demo)")
    demo.add_argument("-c", "--config", help="pipeline.yaml")
    demo.add_argument("-j", "--jobs", type=int, help="worker processes")
    _overwrite(demo, "redo an existing demo folder")
    return demo


def _bench(sub) -> argparse.ArgumentParser:
    bench = _command(sub, "bench", "bench:cmd_bench", help="speed and memory benchmarks",
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
    return bench


#: Command name -> the function that adds its parser.
COMMANDS = {"calibrate": _calibrate, "reduce": _reduce, "mc": _mc, "fit": _fit,
            "analyze": _analyze, "compare": _compare, "batch": _batch, "watch": _watch,
            "kinetics": _kinetics, "reprocess": _reprocess, "config": _config,
            "simulate": _simulate, "demo": _demo, "bench": _bench}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``saxs`` command (subcommands in :data:`HELP_ORDER`)."""
    parser = argparse.ArgumentParser(
        prog="saxs", description="SAXS reduction and size analysis for ESRF ID02 beamtimes")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in HELP_ORDER:
        command = COMMANDS[name](sub)
        if name != "config":  # its action has them
            _common(command)
    return parser


def _handler(args: argparse.Namespace):
    module, function = args.handler.split(":")
    return getattr(importlib.import_module(module), function)


def _version() -> str:
    from saxs import __version__  # noqa: PLC0415

    return f"saxs {__version__}"


def setup_logging(verbose: int) -> None:
    """Console logging at the level ``-v`` asks for (WARNING, INFO, DEBUG)."""
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:  # the console shows only what -v asks for,
        if type(handler) is logging.StreamHandler:  # whatever the batch's log file records
            handler.setLevel(level)
    # pyFAI's import probes OpenCL through silx and warns when it is absent: not our concern
    logging.getLogger("silx.opencl.common").setLevel(logging.ERROR)


def guarded(command: str, call: Callable[[], int]) -> int:
    """``call()``'s exit code; an error ends in one line naming ``command`` and its code."""
    from saxs.errors import SaxsError  # noqa: PLC0415

    try:
        return call()
    except SaxsError as exc:
        print(f"saxs {command}: error: {cli_wording(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:  # unwritable folder, a path under a file, a full disk ...
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"saxs {command}: error: {where}{exc.strerror or exc}; check the path, its "
              "permissions and the free space", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"saxs {command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``saxs`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    return guarded(args.command, lambda: _handler(args)(args))


if __name__ == "__main__":
    sys.exit(main())
