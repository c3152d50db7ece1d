"""``saxs batch``: a whole beamtime folder through reduce -> subtract -> Monte Carlo -> series.

Samples marked ``kinetic`` in the sample sheet are time-resolved: their stacks are reduced per
frame (stage ``frames``, ``reduced/<name>_ave.h5`` in ID02's layout) and followed in time
(stage ``kinetics``: :func:`saxs.follow_kinetics` with their blanks) instead of averaged and
analysed as one curve; they take no part in a series.

Jobs run stage by stage (reduce, sample, series) on an executor: in this process (``jobs: 1``),
a local process pool (``-j N``) or a Dask cluster (``--scheduler``). A failing job is recorded
and the jobs that need its output are recorded as skipped; everything else goes on. Outputs are
written atomically; ``resume`` skips jobs whose records prove them complete and removes the
temporary files an interrupted run left behind.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from saxs.errors import InputError
from saxs_pipelines.beamtime import Beamtime, Item, discover
from saxs_pipelines.geometry_source import resolve as resolve_geometry
from saxs_pipelines.jobs import failed_record, output_paths, run_job, skipped_record
from saxs_pipelines.records import (
    BatchResult,
    JobRecord,
    JobSpec,
    is_complete,
    read_record,
    record_path,
)
from saxs_pipelines.workers import init_worker

log = logging.getLogger("saxs.batch")

BLANK_KINDS = ("sample", "precursor")


class Executor:
    """Runs job specs in this process, a local process pool, or on a Dask cluster."""

    def __init__(self, kind: str = "local", jobs: int = 1, scheduler: str | None = None,
                 client: Any = None, log_file: str | os.PathLike | None = None) -> None:
        if kind not in ("local", "dask"):
            raise InputError(f"batch.executor must be 'local' or 'dask', got {kind!r}")
        if int(jobs) < 1:
            raise InputError(f"-j/--jobs must be >= 1, got {jobs}")
        self.kind, self.jobs, self.scheduler, self.client = kind, int(jobs), scheduler, client
        self.log_file = str(log_file) if log_file else None
        self._pool = None

    def __enter__(self) -> Executor:
        if self.kind == "dask" and self.client is None:
            try:
                from dask.distributed import Client  # noqa: PLC0415
            except ImportError:
                raise InputError("the Dask executor needs dask.distributed: pip install "
                                 "'saxs[dask]'") from None
            if not self.scheduler:
                raise InputError("executor 'dask' needs --scheduler tcp://HOST:PORT (or "
                                 "batch.scheduler in the config)")
            self.client = Client(self.scheduler)
            self._own_client = True
        elif self.kind == "local" and self.jobs > 1:
            import multiprocessing  # noqa: PLC0415
            from concurrent.futures import ProcessPoolExecutor  # noqa: PLC0415

            self._pool = ProcessPoolExecutor(self.jobs, initializer=init_worker,
                                             initargs=(self.log_file,),
                                             mp_context=multiprocessing.get_context("spawn"))
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
        if getattr(self, "_own_client", False):
            self.client.close()

    def map(self, specs: list[JobSpec]) -> Iterator[JobRecord]:
        """Records of the jobs, in the order they finish. A job whose worker died (out of
        memory, killed, crashed) gets a failed record; the other jobs go on."""
        if not specs:
            return
        if self.client is None and self._pool is None:
            for spec in specs:
                yield run_job(spec)
            return
        if self.client is not None:
            from dask.distributed import as_completed  # noqa: PLC0415

            futures = dict(zip(self.client.map(run_job, specs, pure=False), specs, strict=True))
        else:
            from concurrent.futures import as_completed  # noqa: PLC0415

            futures = {self._pool.submit(run_job, s): s for s in specs}
        for future in as_completed(list(futures)):
            try:
                yield future.result()
            except Exception as exc:  # noqa: BLE001  (the worker died: record it, go on)
                yield failed_record(futures[future], f"worker lost: {type(exc).__name__}: "
                                                     f"{exc}")


def _spec(stage: str, name: str, out: Path, params: dict[str, Any], inputs: dict[str, str],
          *, overwrite: bool) -> JobSpec:
    return JobSpec(stage=stage, name=name, out=str(out), params=params, inputs=inputs,
                   outputs=output_paths(out, stage, name), overwrite=overwrite)


def _item_dict(item: Item) -> dict[str, Any]:
    return {"name": item.name, "kind": item.kind, "series": item.series,
            "values": {k: v for k, v in item.values.items() if not math.isnan(v)},
            "solvent_volume_fraction": item.solvent_volume_fraction}


def _analysis_config(config: dict[str, Any]) -> dict[str, Any]:
    """The configuration that shapes results (not where or how the jobs run)."""
    return {k: v for k, v in config.items() if k not in ("batch", "discovery")}


def _reduce_inputs(beamtime: Beamtime, item: Item) -> dict[str, str]:
    """The raw stack, its ID02 scaler file and the calibration files: any change reruns it."""
    from saxs.io.scalers import scaler_file_for  # noqa: PLC0415

    raw = beamtime.root / item.file
    inputs = {"raw": str(raw)}
    scaler = scaler_file_for(raw)
    if scaler is not None:
        inputs["scalers"] = str(scaler)
    calib = beamtime.calib
    for key in ("poni", "dark", "flat", "calibrant_frame"):
        if calib.get(key):
            inputs[key] = str(calib[key])
    for k, mask in enumerate(calib.get("mask") or []):
        inputs[f"mask{k}"] = str(mask)
    return inputs


def plan_reduce(beamtime: Beamtime, config: dict[str, Any], out: Path,
                overwrite: bool) -> list[JobSpec]:
    """One reduce job per stack with a raw file (a ``frames`` job for a kinetic sample)."""
    specs = []
    for item in beamtime.items:
        if not (beamtime.root / item.file).is_file():
            continue
        params = {"item": _item_dict(item), "calib": beamtime.calib,
                  "config": {k: config[k] for k in ("version", "reduce")}}
        specs.append(_spec("frames" if item.kinetic else "reduce", item.name, out, params,
                           _reduce_inputs(beamtime, item), overwrite=overwrite))
    return specs


def _blank_inputs(item: Item, reduced: dict[str, str]) -> dict[str, str]:
    inputs = {}
    if item.blank:
        inputs["solvent"] = reduced.get(item.blank, "")
    if item.empty_cell:
        inputs["empty_cell"] = reduced.get(item.empty_cell, "")
    return inputs


def plan_kinetics(beamtime: Beamtime, config: dict[str, Any], out: Path,
                  overwrite: bool) -> list[JobSpec]:
    """One kinetics job per kinetic sample: its per-frame curves and its blanks."""
    reduced = {i.name: output_paths(out, "reduce", i.name)["curve"] for i in beamtime.items}
    specs = []
    for item in beamtime.items:
        if not item.kinetic:
            continue
        inputs = {"frames": output_paths(out, "frames", item.name)["ave"],
                  **_blank_inputs(item, reduced)}
        params = {"item": _item_dict(item), "config": _analysis_config(config),
                  "blank": item.blank, "empty_cell": item.empty_cell}
        specs.append(_spec("kinetics", item.name, out, params, inputs, overwrite=overwrite))
    return specs


def plan_samples(beamtime: Beamtime, config: dict[str, Any], out: Path,
                 overwrite: bool) -> list[JobSpec]:
    """One job per sample that has a blank: subtraction and analysis."""
    specs = []
    reduced = {i.name: output_paths(out, "reduce", i.name)["curve"] for i in beamtime.items}
    for item in beamtime.items:
        if item.kind not in BLANK_KINDS or item.kinetic:
            continue
        inputs = {"sample": reduced[item.name], **_blank_inputs(item, reduced)}
        params = {"item": _item_dict(item), "config": _analysis_config(config),
                  "blank": item.blank, "empty_cell": item.empty_cell}
        specs.append(_spec("sample", item.name, out, params, inputs, overwrite=overwrite))
    return specs


def plan_series(beamtime: Beamtime, config: dict[str, Any], out: Path, overwrite: bool,
                done: set[str]) -> tuple[list[JobSpec], list[tuple[JobSpec, str]]]:
    """One job per series (sheet column ``series``) over its successfully analysed members.

    Returns the runnable specs and (spec, reason) pairs of series that cannot run.
    """
    analysis = config["analysis"]
    column = analysis["series_variable"]
    groups: dict[str, list[Item]] = {}
    for item in beamtime.items:
        if item.series and item.kind in BLANK_KINDS and not item.kinetic:
            groups.setdefault(item.series, []).append(item)
    specs, blocked = [], []
    for name, group in sorted(groups.items()):
        excluded = [{"name": m.name, "reason": "its sample job did not succeed"}
                    for m in group if m.name not in done]
        excluded += [{"name": m.name, "reason": f"no {column} in the sample sheet"}
                     for m in group if m.name in done and math.isnan(m.values.get(column,
                                                                                  math.nan))]
        skip = {e["name"] for e in excluded}
        members = sorted((m for m in group if m.name not in skip),
                         key=lambda m: m.values[column])
        kind = "sizes" if group[0].kind in analysis["mc_kinds"] else (
            "bragg" if group[0].kind in analysis["bragg_kinds"] else None)
        inputs = {m.name: output_paths(out, "sample", m.name)["result"] for m in members}
        params = {"kind": kind, "variable_name": column, "config": _analysis_config(config),
                  "members": [{"name": m.name, "variable": m.values[column]} for m in members],
                  "excluded": excluded}
        spec = _spec("series", name, out, params, inputs, overwrite=overwrite)
        values = [m.values[column] for m in members]
        repeated = sorted({m.name for m in members if values.count(m.values[column]) > 1})
        if kind is None:
            continue  # kinds without a series analysis (configured off)
        if repeated:
            why = (f"samples {repeated} share a value of {column}; a series needs one sample "
                   "per value (fix the sheet or rename the series of repeats)")
            blocked.append((spec, why))
        elif not members:
            blocked.append((spec, "no member of the series could be analysed: "
                                  + "; ".join(f"{e['name']}: {e['reason']}" for e in excluded)))
        else:
            specs.append(spec)
    return specs, blocked


def _missing_input(spec: JobSpec, ok: set[str]) -> str | None:
    """Why a sample job cannot run: an input whose reduce job did not succeed in this run (an
    older output of a failed job is never used) or is missing."""
    for role, path in spec.inputs.items():
        source = Path(path).stem if path else "?"
        if role == "frames":  # reduced/<name>_ave.h5 of the frames job
            source = source.removesuffix("_ave")
        if source not in ok:
            return f"its {role.replace('_', ' ')} {source!r} failed; nothing to analyse"
        if not Path(path).is_file():
            return f"its {role.replace('_', ' ')} {source!r} is missing; nothing to analyse"
    return None


def clean_temporaries(out: Path) -> list[Path]:
    """Remove hidden temporary files (``.name.<token>.tmp.ext``) an interrupted run left."""
    removed = []
    if out.is_dir():
        for path in out.rglob(".*.tmp*"):
            if path.is_file():
                path.unlink()
                removed.append(path)
    return removed


def _run_stage(executor: Executor, specs: list[JobSpec], resume: bool,
               progress: Callable[[str, int], Any]) -> list[JobRecord]:
    records, todo = [], []
    for spec in specs:
        if resume and is_complete(spec):
            records.append(read_record(record_path(spec)))
        else:
            todo.append(spec)
    bar = progress(specs[0].stage if specs else "", len(specs))
    bar.update(len(records))
    for record in executor.map(todo):
        records.append(record)
        bar.set_postfix_str(record.spec.name)
        bar.update()
    bar.close()
    return records


def _check_out(out: Path, resume: bool, overwrite: bool) -> None:
    if (out / "records").is_dir() and not (resume or overwrite):
        raise InputError(f"{out}: already holds batch results; pass --resume to continue that "
                         "batch or --overwrite to redo it (or choose another -o)")
    out.mkdir(parents=True, exist_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def locked(out: Path) -> Iterator[None]:
    """One run at a time per output folder (``OUT/.saxs.lock`` holds the owner's pid); the lock
    of a process that no longer exists is taken over."""
    lock = out / ".saxs.lock"
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                owner = int(lock.read_text().strip() or 0)
            except (OSError, ValueError):
                owner = 0
            if owner and _alive(owner):
                raise InputError(f"{out}: another saxs run (pid {owner}) is writing here; wait "
                                 f"for it or stop it (lock file {lock})") from None
            lock.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as handle:
            handle.write(str(os.getpid()))
        break
    else:  # pragma: no cover - another process took the stale lock at the same moment
        raise InputError(f"{out}: could not take the lock {lock}")
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


def _quiet_bar(_stage: str, total: int):
    from tqdm import tqdm  # noqa: PLC0415

    return tqdm(total=total, disable=True)


def run_batch(root: str | Path | Beamtime, config: dict[str, Any],
              out: str | Path | None = None, *, resume: bool = False, overwrite: bool = False,
              executor: Executor | None = None,
              progress: Callable[[str, int], Any] | None = None,
              only: Iterable[str] | None = None) -> BatchResult:
    """Process the beamtime folder ``root`` (see the module docstring), or a beamtime the
    caller has already discovered with this configuration.

    ``only`` restricts the batch to the named stacks (live mode: the complete ones).
    """
    beamtime = root if isinstance(root, Beamtime) else discover(root, config["discovery"])
    if only is not None:
        keep = set(only)
        beamtime = Beamtime(beamtime.root, tuple(i for i in beamtime.items if i.name in keep),
                            beamtime.calib, {k: v for k, v in beamtime.problems.items()
                                             if k in keep})
    out = Path(out) if out is not None else beamtime.root / "processed"
    _check_out(out, resume, overwrite)
    with locked(out):
        calib = resolve_geometry(beamtime.calib, config["discovery"], out,
                                 overwrite=overwrite)
        beamtime = replace(beamtime, calib=calib)
        log.info("geometry from %s", calib["geometry_source"])
        return _run_locked(beamtime, config, out, resume=resume, overwrite=overwrite,
                           executor=executor, progress=progress or _quiet_bar)


def _run_planned(specs: list[JobSpec], beamtime: Beamtime, *, executor: Executor,
                 reduced_ok: set[str], resume: bool,
                 progress: Callable[[str, int], Any]) -> list[JobRecord]:
    """Jobs that need reduced stacks: an item with a sheet problem fails, one whose reduction
    failed is skipped, the others run."""
    runnable, records = [], []
    for spec in specs:
        name = spec.name
        if name in beamtime.problems:
            records.append(failed_record(spec, beamtime.problems[name]))
        elif (why := _missing_input(spec, reduced_ok)) is not None:
            records.append(skipped_record(spec, why))
        else:
            runnable.append(spec)
    return records + (_run_stage(executor, runnable, resume, progress) if runnable else [])


def _run_locked(beamtime: Beamtime, config: dict[str, Any], out: Path, *, resume: bool,
                overwrite: bool, executor: Executor | None,
                progress: Callable[[str, int], Any]) -> BatchResult:
    from saxs_pipelines.reports import write_index  # noqa: PLC0415

    for path in clean_temporaries(out):
        log.info("removed %s left by an interrupted run", path)
    log_file = out / "saxs.log" if (out / "saxs.log").exists() else None
    executor = executor or Executor(config["batch"]["executor"], config["batch"]["jobs"],
                                    config["batch"]["scheduler"], log_file=log_file)
    write_over = overwrite or resume
    result = BatchResult(out)
    clock = _StageClock(result)
    with executor:
        result.records["reduce"] = _run_stage(
            executor, plan_reduce(beamtime, config, out, write_over), resume, progress)
        clock.lap("reduce")
        reduced_ok = {r.spec.name for r in result.records["reduce"] if r.ok}
        planned = {"sample": plan_samples(beamtime, config, out, write_over),
                   "kinetics": plan_kinetics(beamtime, config, out, write_over)}
        for stage, specs in planned.items():
            result.records[stage] = _run_planned(specs, beamtime, executor=executor,
                                                 reduced_ok=reduced_ok, resume=resume,
                                                 progress=progress)
            clock.lap(stage)
        done = {r.spec.name for r in result.records["sample"] if r.ok}
        series, blocked = plan_series(beamtime, config, out, write_over, done)
        result.records["series"] = [failed_record(spec, why) for spec, why in blocked]
        result.records["series"] += _run_stage(executor, series, resume, progress)
        clock.lap("series")
    if result.timing():
        log.info(result.timing())
    write_index(out, beamtime, result)
    return result


class _StageClock:
    """Wall time of each stage into ``result.seconds`` (logged)."""

    def __init__(self, result: BatchResult) -> None:
        self.result = result
        self.start = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.result.seconds[stage] = now - self.start
        self.start = now
        log.info("stage %s done in %.1f s", stage, self.result.seconds[stage])
