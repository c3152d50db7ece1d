"""The beamtime commands: ``saxs batch``, ``reprocess``, ``config init``, ``watch``, ``demo``."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_FAILED_ITEMS = 0, 3
DEMO_SCENARIO = Path(__file__).resolve().parents[1] / "data_samples" / "scenario.yaml"


def _progress(quiet: bool):
    from tqdm import tqdm  # noqa: PLC0415

    def bar(stage: str, total: int):
        return tqdm(total=total, desc=f"{stage:>7}", unit="job", disable=quiet, leave=True)

    return bar


def _log_to(out: Path) -> logging.Handler:
    out.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(out / "saxs.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    logger = logging.getLogger("saxs")
    logger.addHandler(handler)
    logger.setLevel(min(logger.getEffectiveLevel(), logging.INFO))
    return handler


def _config(args: argparse.Namespace) -> dict[str, Any]:
    from saxs_pipelines.config import load_config, override  # noqa: PLC0415

    config = load_config(args.config)
    executor = "dask" if getattr(args, "scheduler", None) else None
    return override(config, {"batch.jobs": getattr(args, "jobs", None),
                             "batch.scheduler": getattr(args, "scheduler", None),
                             "batch.executor": executor,
                             "reduce.npt": getattr(args, "npt", None),
                             "mc.n_rep": getattr(args, "nrep", None),
                             "mc.seed": getattr(args, "seed", None)})


def _summary(result) -> int:
    records = result.all()
    ok = sum(r["status"] == "ok" for r in records)
    print(f"{ok} of {len(records)} jobs ok, {len(result.failed)} failed, "
          f"{len(result.skipped)} skipped; report: {result.out / 'index.html'}")
    for r in result.failed + result.skipped:
        spec = r["spec"]
        print(f"  {r['status'].upper()} {spec['stage']} {spec['name']}: {r.get('error')} "
              f"(record {r['record']})", file=sys.stderr)
    return EXIT_FAILED_ITEMS if result.failed else EXIT_OK


def cmd_batch(args: argparse.Namespace) -> int:
    """``saxs batch``."""
    from saxs_pipelines.batch import run_batch  # noqa: PLC0415

    config = _config(args)
    out = Path(args.output) if args.output else Path(args.beamtime) / "processed"
    if (out / "records").is_dir() and not (args.resume or args.overwrite):
        from saxs.errors import InputError  # noqa: PLC0415

        raise InputError(f"{out}: already holds batch results; pass --resume to continue that "
                         "batch or --overwrite to redo it (or choose another -o)")
    handler = _log_to(out)
    try:
        result = run_batch(args.beamtime, config, out, resume=args.resume,
                           overwrite=args.overwrite, progress=_progress(args.quiet))
    finally:
        logging.getLogger("saxs").removeHandler(handler)
        handler.close()
    return _summary(result)


def cmd_reprocess(args: argparse.Namespace) -> int:
    """``saxs reprocess RECORD``: run the job stored in a record again."""
    from saxs.errors import InputError  # noqa: PLC0415
    from saxs_pipelines.jobs import run_job  # noqa: PLC0415
    from saxs_pipelines.records import read_record  # noqa: PLC0415

    spec = read_record(args.record)["spec"]
    existing = [p for p in spec["outputs"].values() if Path(p).exists()]
    if existing and not args.overwrite:
        raise InputError(f"{existing[0]}: exists; pass --overwrite to replace the outputs of "
                         f"{spec['stage']} {spec['name']}")
    spec["overwrite"] = bool(args.overwrite)
    record = run_job(spec)
    print(f"{spec['stage']} {spec['name']}: {record['status']}"
          f"{'' if record['status'] == 'ok' else ': ' + str(record.get('error'))}"
          f" ({record['seconds']:.1f} s); record {record['record']}")
    return EXIT_OK if record["status"] == "ok" else EXIT_FAILED_ITEMS


def cmd_config(args: argparse.Namespace) -> int:
    """``saxs config init [PATH]``: the commented default configuration."""
    from saxs_pipelines.config import write_default  # noqa: PLC0415

    path = write_default(args.path, overwrite=args.overwrite)
    print(f"wrote {path}")
    return EXIT_OK


def cmd_watch(args: argparse.Namespace) -> int:
    """``saxs watch``."""
    from saxs_pipelines.watch import watch  # noqa: PLC0415

    config = _config(args)
    out = Path(args.output) if args.output else Path(args.beamtime) / "processed"
    handler = _log_to(out)
    print(f"watching {args.beamtime} (every {args.interval:g} s; Ctrl-C to stop); "
          f"report: {out / 'index.html'}")
    try:
        result = watch(args.beamtime, config, out, interval=args.interval,
                       settle_s=args.settle, idle_timeout=args.idle_timeout,
                       progress=_progress(args.quiet))
    finally:
        logging.getLogger("saxs").removeHandler(handler)
        handler.close()
    return _summary(result) if result is not None else EXIT_OK


def _findings(result) -> list[str]:
    lines = []
    for record in result.records.get("series", []):
        if record["status"] == "ok":
            lines.append(f"== series {record['spec']['name']} ==")
            lines.append(Path(record["spec"]["outputs"]["report"]).read_text().rstrip())
    return lines


def cmd_demo(args: argparse.Namespace) -> int:
    """``saxs demo``: simulate the shipped beamtime, process it, print the findings."""
    from saxs.errors import InputError  # noqa: PLC0415
    from saxs.simulate import load_scenario, write_beamtime  # noqa: PLC0415
    from saxs_pipelines.batch import run_batch  # noqa: PLC0415

    if not DEMO_SCENARIO.is_file():
        raise InputError(f"{DEMO_SCENARIO}: the shipped scenario is missing; run saxs demo "
                         "from a source checkout (pip install -e .)")
    root = Path(args.output)
    if root.exists() and any(root.iterdir()) and not args.overwrite:
        raise InputError(f"{root}: exists and is not empty; pass --overwrite to redo the demo "
                         "there or -o to choose another folder")
    config = _config(args)
    print(f"simulating the shipped beamtime ({DEMO_SCENARIO.name}) into {root / 'beamtime'}")
    files = write_beamtime(load_scenario(DEMO_SCENARIO), root / "beamtime",
                           overwrite=args.overwrite)
    print(f"processing {len(files.raw)} stacks -> {root / 'processed'}")
    result = run_batch(root / "beamtime", config, root / "processed", overwrite=args.overwrite,
                       progress=_progress(args.quiet))
    print("\n".join(_findings(result)))
    return _summary(result)


def add_parsers(sub: argparse._SubParsersAction, add_common) -> None:
    """Register the beamtime commands on the ``saxs`` parser."""
    batch = sub.add_parser("batch", help="process a whole beamtime folder",
                           description="Reduce every stack, subtract blanks, fit size "
                           "distributions, analyse each series, write the report.")
    batch.add_argument("beamtime", help="beamtime folder (raw/, calib/, samples.csv)")
    _batch_options(batch, add_common)
    batch.add_argument("--resume", action="store_true",
                       help="keep jobs whose records prove them complete; run the rest")
    batch.set_defaults(func=cmd_batch)
    watch = sub.add_parser("watch", help="process stacks as they are written (live mode)")
    watch.add_argument("beamtime", help="beamtime folder being written")
    _batch_options(watch, add_common)
    watch.add_argument("--interval", type=float, default=2.0, help="seconds between scans")
    watch.add_argument("--settle", type=float, default=2.0,
                       help="seconds a file must stay unchanged to count as complete")
    watch.add_argument("--idle-timeout", type=float,
                       help="stop after this many seconds without a new stack")
    watch.set_defaults(func=cmd_watch)
    demo = sub.add_parser("demo", help="simulate the shipped beamtime and process it")
    demo.add_argument("-o", "--output", default="saxs-demo", help="folder (default saxs-demo)")
    demo.add_argument("-c", "--config", help="pipeline.yaml")
    demo.add_argument("-j", "--jobs", type=int, help="worker processes")
    demo.add_argument("--overwrite", action="store_true", help="redo an existing demo folder")
    add_common(demo)
    demo.set_defaults(func=cmd_demo)
    rep = sub.add_parser("reprocess", help="run the job of a record again")
    rep.add_argument("record", help="records/<stage>/<name>.json of a batch")
    rep.add_argument("--overwrite", action="store_true", help="replace the job's outputs")
    add_common(rep)
    rep.set_defaults(func=cmd_reprocess)
    cfg = sub.add_parser("config", help="configuration files")
    cfg_sub = cfg.add_subparsers(dest="action", required=True, metavar="ACTION")
    init = cfg_sub.add_parser("init", help="write the commented default pipeline.yaml")
    init.add_argument("path", nargs="?", default="pipeline.yaml")
    init.add_argument("--overwrite", action="store_true", help="replace an existing file")
    add_common(init)
    cfg.set_defaults(func=cmd_config)


def _batch_options(parser: argparse.ArgumentParser, add_common) -> None:
    parser.add_argument("-c", "--config", help="pipeline.yaml (saxs config init)")
    parser.add_argument("-o", "--output", help="output folder (default BEAMTIME/processed)")
    parser.add_argument("-j", "--jobs", type=int, help="local worker processes")
    parser.add_argument("--scheduler", help="Dask scheduler address: run the jobs there")
    parser.add_argument("-n", "--npt", type=int, help="q bins (reduce.npt)")
    parser.add_argument("--nrep", type=int, help="Monte Carlo repetitions (mc.n_rep)")
    parser.add_argument("--seed", type=int, help="Monte Carlo seed (mc.seed)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    add_common(parser)
