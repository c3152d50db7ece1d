"""``saxs kinetics``: species volume fractions vs time and rate constants from an ``_ave.h5``.

Reads the per-frame curves of ``saxs reduce --per-frame`` (or an ID02 ``_ave.h5``), subtracts
the blank(s) from every frame, runs the Monte Carlo per frame (or per ``--bin-frames`` group)
in a local process pool (``-j``) or on a Dask cluster (``--scheduler``), and fits the
sequential conversion model (:func:`saxs.follow_kinetics`). Writes ``<stem>_kinetics.csv``
(for ``<stem>_ave.h5``; one row per time: each species' volume fraction, its error and the
model) and
``<stem>_kinetics.png``.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

from saxs_pipelines.messages import EXIT_OK
from saxs_pipelines.options import monte_carlo_overrides

MODELS = ("auto", "A->B", "A->B->C")


def _outputs(args: argparse.Namespace) -> tuple[Path, Path]:
    from saxs.errors import InputError  # noqa: PLC0415

    for option, value in (("", args.frames), ("--blank", args.blank),
                          ("--empty-cell", args.empty_cell), ("-c", args.config)):
        if value and not Path(value).is_file():
            raise InputError(f"{option + ' ' if option else ''}{value}: file not found")
    if args.bin_frames is not None and args.bin_frames < 1:
        raise InputError(f"--bin-frames {args.bin_frames}: give a number of frames >= 1")
    if args.jobs is not None and args.jobs < 1:
        raise InputError(f"-j {args.jobs}: give a number of worker processes >= 1")
    if args.model is not None and args.model not in MODELS:
        raise InputError(f"--model {args.model!r}: choose one of {', '.join(MODELS)}")
    if args.sector < 0:
        raise InputError(f"--sector {args.sector}: give 0 (result_ave) or k (result_ave_k)")
    if not 0 < args.solvent_volume_fraction <= 1:
        raise InputError(f"--solvent-volume-fraction {args.solvent_volume_fraction:g}: give a "
                         "value in (0, 1]")
    monte_carlo_overrides(args)  # checked before any work
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise InputError(f"-o {out}: exists and is not a folder; choose another -o")
    stem = Path(args.frames).stem.removesuffix("_ave")
    table, png = out / f"{stem}_kinetics.csv", out / f"{stem}_kinetics.png"
    for path in (table, png):
        if path.exists() and not args.overwrite:
            raise InputError(f"{path}: exists; pass --overwrite to replace it")
    return table, png


@contextlib.contextmanager
def mapper(jobs: int | None, scheduler: str | None) -> Iterator[Callable]:
    """``map`` over a local process pool (``jobs`` > 1), a Dask cluster, or in this process."""
    from saxs.errors import InputError  # noqa: PLC0415

    if scheduler:
        try:
            from dask.distributed import Client  # noqa: PLC0415
        except ImportError:
            raise InputError("--scheduler needs dask.distributed: pip install 'saxs[dask]'"
                             ) from None
        with Client(scheduler) as client:
            yield lambda f, items: client.gather(client.map(f, list(items), pure=False))
        return
    if jobs and jobs > 1:
        import multiprocessing  # noqa: PLC0415
        from concurrent.futures import ProcessPoolExecutor  # noqa: PLC0415

        from saxs_pipelines.workers import init_worker  # noqa: PLC0415

        with ProcessPoolExecutor(jobs, initializer=init_worker,
                                 mp_context=multiprocessing.get_context("spawn")) as pool:
            yield pool.map
        return
    yield map


def _settings(args: argparse.Namespace) -> tuple[object, str, int]:
    """The Monte Carlo settings, the rate model and the frame binning: the options, else the
    config's ``mc`` and ``kinetics`` sections (the file read once)."""
    from saxs_pipelines.config import load_config, mc_config  # noqa: PLC0415

    settings = load_config(args.config)
    config = mc_config(settings["mc"], monte_carlo_overrides(args))
    section = settings["kinetics"]
    return (config, args.model if args.model is not None else section["model"],
            args.bin_frames if args.bin_frames is not None else section["bin_frames"])


def write_table(path: Path, rows: list[dict], overwrite: bool) -> Path:
    """The kinetics table as CSV (atomic)."""
    from saxs_pipelines.series import csv_text, write_text  # noqa: PLC0415

    write_text(path, csv_text(rows), overwrite=overwrite)
    return path


def run_kinetics(frames_path: str, *, blank: str | None, empty_cell: str | None,
                 solvent_volume_fraction: float, config, model: str = "auto",
                 bin_frames: int = 1, sector: int = 0, jobs: int | None = None,
                 scheduler: str | None = None):
    """Read an ``_ave.h5`` and its blanks and follow the kinetics (used by the demo too)."""
    import saxs  # noqa: PLC0415
    from saxs.errors import InputError  # noqa: PLC0415

    groups = saxs.read_ave(frames_path)
    if sector >= len(groups):
        raise InputError(f"--sector {sector}: {frames_path} holds {len(groups)} result(s) "
                         f"(sectors 0..{len(groups) - 1})")
    solvent = saxs.read_curve(blank) if blank else None
    empty = saxs.read_curve(empty_cell) if empty_cell else None
    with mapper(jobs, scheduler) as run:
        return saxs.follow_kinetics(groups[sector], blank=solvent, empty_cell=empty,
                                    solvent_volume_fraction=solvent_volume_fraction,
                                    interpolate=True, config=config,
                                    resolution=saxs.monodisperse_width, model=model,
                                    bin_frames=bin_frames, map=run)


def cmd_kinetics(args: argparse.Namespace) -> int:
    """``saxs kinetics``."""
    from saxs_pipelines.kinetics_plot import plot_kinetics  # noqa: PLC0415

    table, png = _outputs(args)
    config, model, bin_frames = _settings(args)
    result = run_kinetics(args.frames, blank=args.blank, empty_cell=args.empty_cell,
                          solvent_volume_fraction=args.solvent_volume_fraction, config=config,
                          model=model, bin_frames=bin_frames, sector=args.sector,
                          jobs=args.jobs, scheduler=args.scheduler)
    print(result.report())
    Path(args.output).mkdir(parents=True, exist_ok=True)
    write_table(table, result.table(), args.overwrite)
    plot_kinetics(result, png, title=Path(args.frames).name, overwrite=args.overwrite)
    print(f"-> {table}, {png}")
    return EXIT_OK
