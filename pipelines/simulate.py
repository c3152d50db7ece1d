"""``saxs simulate``: a simulated beamtime folder from a scenario YAML."""

from __future__ import annotations

import argparse

from saxs_pipelines.messages import EXIT_OK


def cmd_simulate(args: argparse.Namespace) -> int:
    """``saxs simulate``."""
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
