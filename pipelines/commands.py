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


def cmd_reduce(args: argparse.Namespace) -> int:
    """``saxs reduce``: stacks to NXcanSAS curves (one per stack, or per frame)."""
    import saxs  # noqa: PLC0415
    from saxs.errors import SaxsError  # noqa: PLC0415

    out = Path(args.output)
    failures = 0
    for name in args.frames:
        try:
            frames = saxs.read_frames(name, poni=args.poni)
            reducer = saxs.Reducer(frames.geometry, mask=args.mask or None, dark=args.dark,
                                   flat=args.flat, npt=args.npt,
                                   intensity_unit=args.intensity_unit)
            stem = Path(name.split("::")[0]).stem
            curves = reducer.reduce_frames(frames) if args.per_frame else [reducer.reduce(frames)]
            for k, curve in enumerate(curves):
                suffix = f"_{k:05d}" if args.per_frame else ""
                path = saxs.write_curve(out / f"{stem}{suffix}.h5", curve,
                                        overwrite=args.overwrite)
            dropped = [d["frame"] for d in curves[0].metadata.get("frames_dropped", [])]
            print(f"{name}: {len(curves)} curve(s), {len(curves[-1])} q bins -> {path}"
                  + (f" (frames dropped: {dropped})" if dropped else ""))
        except SaxsError as exc:
            failures += 1
            print(f"saxs reduce: {name}: {exc}", file=sys.stderr)
    return EXIT_FAILED_ITEMS if failures else EXIT_OK


def cmd_analyze(args: argparse.Namespace) -> int:
    """``saxs analyze``: series findings from Monte Carlo result files."""
    import saxs  # noqa: PLC0415
    from saxs.errors import InputError  # noqa: PLC0415
    from saxs_pipelines.series import csv_text, write_text  # noqa: PLC0415

    curves = [saxs.read_curve(p) for p in args.results]
    values = []
    for path, curve in zip(args.results, curves, strict=True):
        value = curve.metadata.get(args.variable)
        if value is None:
            raise InputError(f"{path}: no {args.variable!r} in the curve's metadata; pass "
                             "another --variable")
        values.append(float(value))
    order = sorted(range(len(values)), key=values.__getitem__)
    names = [str(curves[k].metadata.get("sample") or Path(args.results[k]).stem)
             for k in order]
    if args.bragg:
        found = saxs.follow_bragg([curves[k] for k in order], [values[k] for k in order],
                                  variable_name=args.variable, samples=names)
    else:
        found = saxs.find_quantized_steps(
            [saxs.read_distribution(args.results[k]) for k in order],
            [values[k] for k in order], variable_name=args.variable, samples=names)
    print(found.report())
    if args.output:
        write_text(args.output, csv_text(found.table()), overwrite=args.overwrite)
        print(f"table: {args.output}")
    return EXIT_OK


def add_parsers(sub: argparse._SubParsersAction, add_common) -> None:
    """Register the beamtime commands on the ``saxs`` parser."""
    red = sub.add_parser("reduce", help="reduce frame stacks to I(q) curves")
    red.add_argument("frames", nargs="+", help="stacks: ID02 LIMA .h5, EDF, file.h5::/path")
    red.add_argument("-p", "--poni", help="PONI file (default: geometry from the header)")
    red.add_argument("-m", "--mask", action="append", help="mask file (repeatable)")
    red.add_argument("-d", "--dark", help="dark image")
    red.add_argument("-f", "--flat", help="flat field")
    red.add_argument("-n", "--npt", type=int, default=500, help="q bins")
    red.add_argument("--intensity-unit", default="arb", choices=["arb", "1/cm"])
    red.add_argument("--per-frame", action="store_true", help="one curve per frame")
    red.add_argument("-o", "--output", default=".", help="output folder")
    red.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    add_common(red)
    red.set_defaults(func=cmd_reduce)
    ana = sub.add_parser("analyze", help="series findings from result files")
    ana.add_argument("results", nargs="+", help="sample files written by saxs batch / saxs mc")
    ana.add_argument("--variable", default="temperature_c",
                     help="metadata key that orders the series (default temperature_c)")
    ana.add_argument("--bragg", action="store_true",
                     help="Bragg peaks and melting instead of size populations")
    ana.add_argument("-o", "--output", help="CSV table to write")
    ana.add_argument("--overwrite", action="store_true", help="replace an existing table")
    add_common(ana)
    ana.set_defaults(func=cmd_analyze)
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
