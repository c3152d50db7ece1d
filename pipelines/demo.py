"""``saxs demo``: the shipped beamtime (:func:`saxs_pipelines.commands.cmd_demo`) and the
shipped stopped-flow series (``data_samples/stopped_flow.yaml``): simulated, processed by
``saxs batch`` (its sample is ``kinetic`` in the sheet: reduced per frame and followed in time),
and the recovered rate constant and onset of continuous growth printed beside the truth.

The two are independent, so they run side by side: the stopped-flow series in a second process
(one thread: the second core), started before anything else, while this one does the
beamtime; its output is printed after the beamtime's. On a first run that process first
compiles the kernels the beamtime needs later (:mod:`saxs_pipelines.warmup`), while this one
compiles the stack kernel.

The second process is ``python -m saxs_pipelines.demo JOB_JSON``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import IO

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


class _SecondProcess:
    """The stopped-flow part in its own process, its output kept until :meth:`finish`."""

    def __init__(self, job: dict) -> None:
        # kept open until stop(), which closes them
        self.out: IO[str] = tempfile.TemporaryFile("w+")  # noqa: SIM115
        self.err: IO[str] = tempfile.TemporaryFile("w+")  # noqa: SIM115
        # one thread: it is the second core's work (the beamtime keeps its threads)
        env = {**os.environ, "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "saxs_pipelines.demo", json.dumps(job, default=str)],
            stdin=subprocess.DEVNULL, stdout=self.out, stderr=self.err, env=env)

    def finish(self) -> int:
        """Wait for it, print what it printed; its exit code."""
        code = self.process.wait()
        for stream, target in ((self.out, sys.stdout), (self.err, sys.stderr)):
            stream.seek(0)
            target.write(stream.read())
            target.flush()
        return code

    def stop(self) -> None:
        """End it if it still runs (the beamtime part failed or was interrupted)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.out.close()
        self.err.close()


def cmd_demo(args: argparse.Namespace) -> int:
    """``saxs demo``: the shipped CdSe beamtime, and beside it the stopped-flow kinetics."""
    from saxs.errors import InputError  # noqa: PLC0415
    from saxs_pipelines.commands import _config  # noqa: PLC0415
    from saxs_pipelines.commands import cmd_demo as beamtime_demo  # noqa: PLC0415

    for scenario in (DEMO_SCENARIO, KINETICS_SCENARIO):
        if not scenario.is_file():
            raise InputError(f"{scenario}: the shipped scenario is missing; run saxs demo "
                             "from a source checkout (pip install -e .)")
    root = Path(args.output)
    if root.exists() and any(root.iterdir()) and not args.overwrite:
        raise InputError(f"{root}: exists and is not empty; pass --overwrite to redo the demo "
                         "there or -o to choose another folder")
    config = _config(args)
    second = _SecondProcess({"root": str(root / "stopped_flow"), "config": config,
                             "overwrite": bool(args.overwrite), "verbose": args.verbose})
    try:
        code = beamtime_demo(args, config)
        kinetic = second.finish()
    finally:
        second.stop()
    return code if code != EXIT_OK else kinetic


def _warmup_plan(config: dict) -> dict:
    """What the second process compiles before its own work (nothing once cached): the
    kernels the beamtime needs after its first stacks (:func:`saxs_pipelines.warmup.plan`),
    for the pixel type of its detector, from the scenario. No per-frame integration: the
    storage (compressed or not), which only that kernel depends on, does not matter."""
    import numpy as np  # noqa: PLC0415

    from saxs.simulate import load_scenario  # noqa: PLC0415
    from saxs_pipelines import warmup  # noqa: PLC0415

    dtype = np.dtype(load_scenario(DEMO_SCENARIO).detector.dtype)
    return warmup.plan(mc=config["mc"], dtype=dtype.str, compressed=False, per_frame=False)


def main(argv: list[str]) -> int:
    """The second process: compile what the beamtime will need, then the stopped flow."""
    from saxs_pipelines import warmup  # noqa: PLC0415
    from saxs_pipelines.cli import guarded, setup_logging  # noqa: PLC0415

    job = json.loads(argv[0])
    setup_logging(job["verbose"])

    def run() -> int:
        try:
            warmup.compile_kernels(_warmup_plan(job["config"]))
        except Exception as exc:  # noqa: BLE001
            # only a head start: the beamtime compiles what it still needs itself
            logging.getLogger(__name__).debug("compiling ahead failed: %s", exc)
        return _kinetics_demo(Path(job["root"]), job["config"], overwrite=job["overwrite"],
                              quiet=True)

    return guarded("demo", run)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
