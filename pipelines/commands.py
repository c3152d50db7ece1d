"""The beamtime commands: ``saxs batch``, ``reprocess``, ``config init``, ``watch``, ``demo``,
and the single-curve commands ``saxs reduce``, ``analyze`` and ``fit``."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from saxs_pipelines.messages import EXIT_FAILED_ITEMS, EXIT_OK

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


@contextlib.contextmanager
def logged(out: Path) -> Iterator[None]:
    """``OUT/saxs.log`` records the ``saxs`` loggers (INFO and up) while the block runs."""
    handler = _log_to(out)
    try:
        yield
    finally:
        logging.getLogger("saxs").removeHandler(handler)
        handler.close()


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
    ok = sum(r.ok for r in records)
    print(f"{ok} of {len(records)} jobs ok, {len(result.failed)} failed, "
          f"{len(result.skipped)} skipped; report: {result.out / 'index.html'}")
    if result.timing():
        print(result.timing())
    for r in result.failed + result.skipped:
        print(f"  {r.status.upper()} {r.spec.stage} {r.spec.name}: {r.error} "
              f"(record {r.record})", file=sys.stderr)
    return EXIT_FAILED_ITEMS if result.failed else EXIT_OK


def cmd_batch(args: argparse.Namespace) -> int:
    """``saxs batch``."""
    from saxs_pipelines.batch import run_batch  # noqa: PLC0415
    from saxs_pipelines.beamtime import discover  # noqa: PLC0415

    config = _config(args)
    beamtime = discover(args.beamtime, config["discovery"])  # folder, sheet, calibration first
    for name, why in beamtime.problems.items():  # said before any work, recorded as failures
        print(f"saxs batch: {name}: {why} (this item will fail; the others run)",
              file=sys.stderr)
    out = Path(args.output) if args.output else Path(args.beamtime) / "processed"
    with logged(out), compiling_ahead(beamtime, config):
        result = run_batch(beamtime, config, out, resume=args.resume,
                           overwrite=args.overwrite, progress=_progress(args.quiet))
    return _summary(result)


@contextlib.contextmanager
def compiling_ahead(beamtime, config: dict[str, Any]) -> Iterator[None]:
    """While the batch runs, the kernels of its later stages compile on the second core
    (:mod:`saxs_pipelines.warmup`: only on a first run, never changing a result)."""
    from saxs.stack import decodes_in_kernel  # noqa: PLC0415
    from saxs_pipelines import warmup  # noqa: PLC0415

    dtype, compressed = None, False
    first = next((beamtime.root / i.file for i in beamtime.items
                  if (beamtime.root / i.file).is_file()), None)
    if first is not None:
        import saxs  # noqa: PLC0415

        try:
            frames = saxs.read_frames(first, require_geometry=False, scalers=None)
            dtype, compressed = frames.dtype.str, decodes_in_kernel(frames)
        except saxs.SaxsError:  # the batch reports it
            pass
    sizes = any(i.kind in config["analysis"]["mc_kinds"] or i.kinetic for i in beamtime.items)
    helper = warmup.start(warmup.plan(
        mc=config["mc"] if sizes else None, dtype=dtype, compressed=compressed,
        per_frame=any(i.kinetic for i in beamtime.items)))
    try:
        yield
    finally:
        warmup.stop(helper)


def cmd_reprocess(args: argparse.Namespace) -> int:
    """``saxs reprocess RECORD``: run the job stored in a record again."""
    from saxs.errors import InputError  # noqa: PLC0415
    from saxs_pipelines.jobs import run_job  # noqa: PLC0415
    from saxs_pipelines.records import read_record  # noqa: PLC0415

    spec = read_record(args.record).spec
    existing = [p for p in spec.outputs.values() if Path(p).exists()]
    if existing and not args.overwrite:
        raise InputError(f"{existing[0]}: exists; pass --overwrite to replace the outputs of "
                         f"{spec.stage} {spec.name}")
    record = run_job(spec.replace(overwrite=bool(args.overwrite)))
    print(f"{spec.stage} {spec.name}: {record.status}"
          f"{'' if record.ok else ': ' + str(record.error)}"
          f" ({record.seconds:.1f} s); record {record.record}")
    return EXIT_OK if record.ok else EXIT_FAILED_ITEMS


def cmd_config(args: argparse.Namespace) -> int:
    """``saxs config init [PATH]``: the commented default configuration."""
    from saxs_pipelines.config import write_default  # noqa: PLC0415

    path = write_default(args.path, overwrite=args.overwrite)
    print(f"wrote {path}")
    return EXIT_OK


def cmd_watch(args: argparse.Namespace) -> int:
    """``saxs watch``."""
    from saxs_pipelines.beamtime import discover  # noqa: PLC0415
    from saxs_pipelines.watch import watch  # noqa: PLC0415

    config = _config(args)
    discover(args.beamtime, config["discovery"])  # the folder, sheet and calibration, first
    out = Path(args.output) if args.output else Path(args.beamtime) / "processed"
    print(f"watching {args.beamtime} (every {args.interval:g} s; Ctrl-C to stop); "
          f"report: {out / 'index.html'}")
    with logged(out):
        result = watch(args.beamtime, config, out, interval=args.interval,
                       settle_s=args.settle, idle_timeout=args.idle_timeout,
                       progress=_progress(args.quiet))
    return _summary(result) if result is not None else EXIT_OK


def _findings(result) -> list[str]:
    lines = []
    for record in result.records.get("series", []):
        if record.ok:
            lines.append(f"== series {record.spec.name} ==")
            lines.append(Path(record.spec.outputs["report"]).read_text().rstrip())
    return lines


def cmd_demo(args: argparse.Namespace, config: dict[str, Any] | None = None) -> int:
    """The beamtime part of ``saxs demo`` (:func:`saxs_pipelines.demo.cmd_demo` checks the
    scenario and the output folder first): simulate the shipped beamtime, process it, print
    the findings (with ``config``, the configuration already read from ``args``)."""
    from saxs.simulate import load_scenario, write_beamtime  # noqa: PLC0415
    from saxs_pipelines.batch import run_batch  # noqa: PLC0415

    root = Path(args.output)
    config = config if config is not None else _config(args)
    print(f"simulating the shipped beamtime ({DEMO_SCENARIO.name}) into {root / 'beamtime'}")
    files = write_beamtime(load_scenario(DEMO_SCENARIO), root / "beamtime",
                           overwrite=args.overwrite)
    print(f"processing {len(files.raw)} stacks -> {root / 'processed'}")
    with logged(root / "processed"):
        result = run_batch(root / "beamtime", config, root / "processed",
                           overwrite=args.overwrite, progress=_progress(args.quiet))
    print("\n".join(_findings(result)))
    return _summary(result)


def cmd_analyze(args: argparse.Namespace) -> int:
    """``saxs analyze``: series findings from Monte Carlo result files."""
    import saxs  # noqa: PLC0415
    from saxs.errors import InputError  # noqa: PLC0415
    from saxs.montecarlo import monodisperse_width  # noqa: PLC0415
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
            [values[k] for k in order], variable_name=args.variable, samples=names,
            resolution=monodisperse_width)
    print(found.report())
    if args.output:
        write_text(args.output, csv_text(found.table()), overwrite=args.overwrite)
        print(f"table: {args.output}")
    return EXIT_OK


def _fit_outputs(args: argparse.Namespace) -> tuple[Path, Path]:
    """The result file and PNG of ``saxs fit``, checked before any work."""
    from saxs.errors import InputError  # noqa: PLC0415

    stem = Path(args.curve.split("::")[0]).stem
    out = Path(args.output) if args.output else Path(f"{stem}_fit.h5")
    if out.suffix.lower() not in (".h5", ".hdf5", ".nxs"):
        raise InputError(f"{out}: the fit is written as NXcanSAS; give -o a .h5 file name")
    png = out.with_suffix(".png")
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        raise InputError(f"{folder}: output folder does not exist; create it or choose -o")
    if not os.access(folder, os.W_OK):
        raise InputError(f"{folder}: output folder is not writable; choose another -o")
    for path in (out, png):
        if path.exists() and not args.overwrite:
            raise InputError(f"{path}: exists; pass --overwrite to replace it")
    return out, png


def _fit_model(args: argparse.Namespace):
    from saxs import fitting  # noqa: PLC0415
    from saxs_pipelines.config import parse_assignments  # noqa: PLC0415

    fixed = parse_assignments(args.param, "--param")
    kwargs = {} if args.contrast is None else {"contrast_per_cm2": args.contrast}
    model = fitting.model(args.model, distribution=args.distribution, **kwargs, **fixed)
    if args.background == "flat":
        model = model + fitting.flat(prefix="bg_")
    return model


def _fit_params(args: argparse.Namespace, model):
    from saxs.errors import InputError  # noqa: PLC0415
    from saxs_pipelines.config import parse_assignments  # noqa: PLC0415

    params = model.make_params()
    for option, names in (("--free", args.free), ("--fix", args.fix)):
        for name in names or []:
            if name not in params:
                raise InputError(f"{option} {name}: unknown parameter; the model has "
                                 f"{list(params)}")
            params[name].vary = option == "--free"
    for name, value in parse_assignments(args.init, "--init").items():
        if name not in params:
            raise InputError(f"--init {name}: unknown parameter; the model has {list(params)}")
        params[name].value = value
    return params


def _unit_of(name: str, model, intensity_unit: str) -> str:
    for part in getattr(model, "components", None) or [model]:
        form = getattr(part.func, "form", None)
        root = name.removeprefix(part.prefix)
        if form is not None and root in form.parameter_units:
            return form.parameter_units[root]
    if name.endswith("_nm"):
        return "nm"
    if name.endswith("contrast_per_cm2"):
        return "1/cm^2"
    if name.endswith(("level", "i0", "height")):
        return intensity_unit
    return ""


def _print_fit(fit, model, curve, path: str, label: str) -> None:
    print(f"{path}: {label}, "
          f"{len(fit.model_curve)} points, q {fit.model_curve.q[0]:.4g} to "
          f"{fit.model_curve.q[-1]:.4g} 1/nm"
          + (", resolution-smeared" if fit.smeared else ""))
    width = max(len(k) for k in fit.values)
    for name, value in fit.values.items():
        error = fit.errors[name]
        if name not in fit.varied:
            spread = "(fixed)"
        else:
            spread = f"+- {error:.3g}" if error is not None else "+- ? (not estimated)"
        unit = _unit_of(name, model, curve.intensity_unit)
        print(f"  {name:<{width}}  {value:12.6g} {spread:<22} {unit}".rstrip())
    print(f"  chi2_r = {fit.chi2_r:.4g}" + ("" if fit.success else
                                             "  (lmfit did NOT report success)"))


def cmd_fit(args: argparse.Namespace) -> int:
    """``saxs fit``: one parametric lmfit fit of a curve, written with the curve."""
    import saxs  # noqa: PLC0415
    from saxs import fitting  # noqa: PLC0415
    from saxs_pipelines.plots import plot_fit  # noqa: PLC0415

    out, png = _fit_outputs(args)
    model = _fit_model(args)
    params = _fit_params(args, model)
    curve = saxs.read_curve(args.curve, q_unit=args.unit,
                            merge_duplicates=args.merge_duplicates)
    q_range = tuple(args.q_range) if args.q_range else (None, None)
    fit = saxs.fit_curve(curve, model, params, q_range_nm=q_range,
                         smearing=not args.no_smearing)
    label = args.model if args.model in fitting.ANALYTIC else \
        f"{args.model} ({args.distribution})"
    label += " + flat background" if args.background == "flat" else ""
    _print_fit(fit, model, curve, args.curve, label)
    saxs.write_curve(out, curve, overwrite=args.overwrite, extra=fit.to_items())
    plot_fit(curve, fit, png, title=f"{Path(args.curve).name}: {label}",
             overwrite=args.overwrite)
    print(f"  -> {out}, {png}")
    return EXIT_OK
