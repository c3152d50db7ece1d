"""``saxs demo``: the shipped beamtime (:func:`saxs_pipelines.commands.cmd_demo`), then the
shipped stopped-flow series (``data_samples/stopped_flow.yaml``): simulated, processed by
``saxs batch`` (its sample is ``kinetic`` in the sheet: reduced per frame and followed in time),
and the recovered rate constant and onset of continuous growth printed beside the truth."""

from __future__ import annotations

import argparse
from pathlib import Path

from saxs_pipelines.commands import DEMO_SCENARIO
from saxs_pipelines.messages import EXIT_OK

KINETICS_SCENARIO = DEMO_SCENARIO.parent / "stopped_flow.yaml"


def _kinetics_demo(root: Path, config: dict, *, overwrite: bool, quiet: bool) -> int:
    from saxs.simulate import load_scenario, write_beamtime  # noqa: PLC0415
    from saxs_pipelines.batch import run_batch  # noqa: PLC0415
    from saxs_pipelines.commands import _progress, _summary, logged  # noqa: PLC0415

    scenario = load_scenario(KINETICS_SCENARIO)
    print(f"\nsimulating the stopped-flow series ({KINETICS_SCENARIO.name}) into "
          f"{root / 'beamtime'}")
    write_beamtime(scenario, root / "beamtime", overwrite=overwrite)
    print(f"processing it -> {root / 'processed'}")
    with logged(root / "processed"):
        result = run_batch(root / "beamtime", config, root / "processed", overwrite=overwrite,
                           progress=_progress(quiet))
    code = _summary(result)
    for record in result.records.get("kinetics", []):
        if not record.ok:
            continue
        outputs = record.spec.outputs
        print(f"== kinetics {record.spec.name} ==")
        print(Path(outputs["report"]).read_text().rstrip())
        kin = scenario.measurement(record.spec.name).kinetics
        onset = f", onset of growth {kin.growth.onset_s:g} s" if kin.growth else ""
        print(f"simulated: k1 = {kin.rate_per_s:g} 1/s{onset}")
        print(f"figure: {outputs['plot']}")
    return code


def cmd_demo(args: argparse.Namespace) -> int:
    """``saxs demo``: the shipped CdSe beamtime, then the stopped-flow kinetics."""
    from saxs.errors import InputError  # noqa: PLC0415
    from saxs_pipelines.commands import _config  # noqa: PLC0415
    from saxs_pipelines.commands import cmd_demo as beamtime_demo  # noqa: PLC0415

    if not KINETICS_SCENARIO.is_file():
        raise InputError(f"{KINETICS_SCENARIO}: the shipped scenario is missing; run saxs demo "
                         "from a source checkout (pip install -e .)")
    config = _config(args)
    helper = _compile_ahead(config)
    try:
        code = beamtime_demo(args, config)
        kinetic = _kinetics_demo(Path(args.output) / "stopped_flow", config,
                                 overwrite=args.overwrite, quiet=args.quiet)
    finally:
        from saxs_pipelines.warmup import stop  # noqa: PLC0415

        stop(helper)
    return code if code != EXIT_OK else kinetic


def _compile_ahead(config: dict):
    """The compilation helper (:mod:`saxs_pipelines.warmup`) for both demo beamtimes: the
    Monte Carlo, and the per-frame integration of the stopped-flow stacks (their detector's
    pixel type and storage, from the scenario)."""
    import numpy as np  # noqa: PLC0415

    from saxs.simulate import load_scenario  # noqa: PLC0415
    from saxs_pipelines import warmup  # noqa: PLC0415

    scenario = load_scenario(KINETICS_SCENARIO)
    dtype = np.dtype(scenario.detector.dtype)
    acquisition = scenario.acquisition
    compressed = (acquisition.file_format == "lima" and dtype.kind in "iu"
                  and acquisition.compression == "bitshuffle-lz4")
    return warmup.start(warmup.plan(mc=config["mc"], dtype=dtype.str, compressed=compressed,
                                    per_frame=True))
