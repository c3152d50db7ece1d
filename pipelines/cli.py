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
