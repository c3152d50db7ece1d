"""``saxs reduce``: stacks to curves, one per stack (NXcanSAS) or one per frame (ID02 ``_ave.h5``).

Settings come from the options, else from ``-c pipeline.yaml`` (section ``reduce``), else from
this command's defaults (500 q bins, arbitrary intensity unit, the reducer's methods). Every
option is checked (:func:`check_options`) before any file is read or any folder created.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path

from saxs_pipelines.messages import EXIT_FAILED_ITEMS, EXIT_OK, cli_wording

NORMALIZATIONS = ("auto", "i1", "exposure", "none")
#: pyFAI's names of the radial units the curves may be written in, and the unit.
UNITS = {"q_nm^-1": "1/nm", "q_A^-1": "1/A"}
#: The command's own defaults (without -c).
NPT = 500


@dataclass(frozen=True)
class ReduceOptions:
    """The checked options of one ``saxs reduce`` call."""

    per_frame: bool
    bin_frames: int
    sectors: tuple[tuple[float, float], ...]
    normalization: str
    monitor: float | None
    unit: str = "q_nm^-1"


def reducer_settings(args: argparse.Namespace) -> dict:
    """The Reducer's settings: the options, else ``-c``'s section ``reduce``, else the
    command's defaults (checked: a bad value is an InputError naming it)."""
    from saxs.azimuthal import check_method  # noqa: PLC0415
    from saxs.errors import InputError  # noqa: PLC0415
    from saxs_pipelines.config import load_config  # noqa: PLC0415

    section = load_config(args.config)["reduce"] if args.config else {}
    npt = args.npt if args.npt is not None else section.get("npt", NPT)
    if npt < 2:
        raise InputError(f"-n {npt}: give at least 2 q bins")
    settings = {"npt": npt, "intensity_unit": args.intensity_unit
                or section.get("intensity_unit", "arb")}
    method = args.method if args.method is not None else section.get("method")
    if method is not None:
        try:
            settings["method"] = check_method(method)
        except InputError:
            raise InputError(f"--method {method!r}: give SPLIT (no, bbox, full) or "
                             "SPLIT,ALGO,IMPL, e.g. bbox,csr,cython") from None
    for key in ("frame_threshold", "zinger_threshold"):
        if key in section:
            settings[key] = section[key]
    return settings


def parse_sector(text: str, option: str = "--azimuth-range") -> tuple[float, float]:
    """``"MIN,MAX"`` in degrees -> (lo, hi); InputError naming the option and the value.

    Both ends within -180..360, lo < hi, at most 360 wide, and not crossing both 0 and 180 deg
    (pyFAI integrates a sector within [-180, 180) or [0, 360)).
    """
    from saxs.errors import InputError  # noqa: PLC0415

    parts = [p.strip() for p in str(text).split(",")]
    try:
        lo, hi = (float(p) for p in parts)
    except ValueError:
        raise InputError(f"{option} {text!r}: write MIN,MAX in degrees, e.g. "
                         f"{option} -30,30") from None
    if not (math.isfinite(lo) and math.isfinite(hi)) or not -180.0 <= lo < hi <= 360.0 \
            or hi - lo > 360.0:
        raise InputError(f"{option} {text!r}: the sector must lie within -180..360 deg with "
                         "MIN < MAX, e.g. -30,30 or 150,210")
    if lo < 0.0 and hi > 180.0:
        raise InputError(f"{option} {text!r}: the sector crosses both 0 and 180 deg; split it "
                         "into two sectors")
    return lo, hi


def check_options(*, per_frame: bool, bin_frames: int | None, sectors: list[str] | None,
                  normalization: str | None, monitor: float | None,
                  unit: str | None = None) -> ReduceOptions:
    """Validate the reduction options (InputError naming the option and value)."""
    from saxs.errors import InputError  # noqa: PLC0415

    if not per_frame and (bin_frames is not None or sectors):
        flag = "--bin-frames" if bin_frames is not None else "--azimuth-range"
        raise InputError(f"{flag} applies to per-frame curves; add --per-frame")
    if bin_frames is not None and bin_frames < 1:
        raise InputError(f"--bin-frames {bin_frames}: give a number of frames >= 1")
    norm = normalization or "auto"
    if norm not in NORMALIZATIONS:
        raise InputError(f"--normalization {norm!r}: choose one of {', '.join(NORMALIZATIONS)}")
    if monitor is not None:
        if not (math.isfinite(monitor) and monitor > 0):
            raise InputError(f"--monitor {monitor:g}: the monitor must be a positive number")
        if norm in ("exposure", "none"):
            raise InputError(f"--monitor with --normalization {norm}: the monitor is only "
                             "used by --normalization i1 or auto")
    if unit is not None and unit not in UNITS:
        raise InputError(f"--unit {unit!r}: saxs reduce writes q; choose one of "
                         f"{', '.join(UNITS)}")
    parsed = tuple(parse_sector(s) for s in sectors or [])
    return ReduceOptions(per_frame=per_frame, bin_frames=bin_frames or 1, sectors=parsed,
                         normalization=norm, monitor=monitor, unit=unit or "q_nm^-1")


def _outputs(args: argparse.Namespace, per_frame: bool) -> dict[str, Path]:
    """Output file per input; every input checked (it exists, no two share an output) before
    any work."""
    from saxs.errors import InputError  # noqa: PLC0415
    from saxs.io.ave import ave_path  # noqa: PLC0415

    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise InputError(f"-o {out}: exists and is not a folder; choose another -o")
    for option, value in (("-p", args.poni), ("-d", args.dark), ("-f", args.flat),
                          ("-c", args.config), *(("-m", m) for m in args.mask or [])):
        if value and not Path(value).is_file():
            raise InputError(f"{option} {value}: file not found")
    outputs: dict[str, Path] = {}
    for name in args.frames:
        raw = Path(name.split("::")[0])
        if not raw.is_file():
            raise InputError(f"{raw}: file not found")
        target = ave_path(name, out) if per_frame else out / f"{raw.stem}.h5"
        if target in outputs.values():
            raise InputError(f"{name}: its output {target} is also another input's; reduce "
                             "them into separate folders")
        outputs[name] = target
    return outputs


def reduce_per_frame(name: str, target: Path, options: ReduceOptions, *, poni=None, mask=None,
                     dark=None, flat=None, settings: dict | None = None,
                     overwrite: bool = False) -> tuple[Path, int, int]:
    """Reduce one stack per frame into ``target`` (``_ave.h5``); (path, curves, q bins).
    ``settings``: further Reducer arguments (npt, method, intensity_unit ...)."""
    import saxs  # noqa: PLC0415

    frames = saxs.read_frames(name, poni=poni, monitor=options.monitor)
    if frames.timestamps_s is None:  # before the reduction: the _ave.h5 needs its t axis
        raise saxs.InputError(f"{frames.describe()}: no frame times for the t axis of {target}: "
                              "the scaler file (TFG/delta_time) or the LIMA time_of_frame is "
                              "missing; put the scaler file beside the stack")
    reducer = saxs.Reducer(frames.geometry, mask=mask or None, dark=dark, flat=flat,
                           normalization=options.normalization, **(settings or {}))
    curves = reducer.integrate_frames(
        frames, bin_frames=options.bin_frames,
        azimuth_range=list(options.sectors) if options.sectors else None)
    items = curves if isinstance(curves, list) else [curves]
    path = saxs.write_ave(target, items, frames, geometry=reducer.geometry, overwrite=overwrite,
                          unit=options.unit)
    return path, len(items[0]), items[0].q.size


def cmd_reduce(args: argparse.Namespace) -> int:
    """``saxs reduce``: stacks to NXcanSAS curves, or per frame to ``<stem>_ave.h5``."""
    import saxs  # noqa: PLC0415
    from saxs.errors import InputError, SaxsError  # noqa: PLC0415

    options = check_options(per_frame=args.per_frame, bin_frames=args.bin_frames,
                            sectors=args.azimuth_range, normalization=args.normalization,
                            monitor=args.monitor, unit=args.unit)
    outputs = _outputs(args, options.per_frame)
    settings = reducer_settings(args)
    Path(args.output).mkdir(parents=True, exist_ok=True)
    failures = 0
    for name, target in outputs.items():
        try:
            if target.exists() and not args.overwrite:  # this item fails, before its work
                raise InputError(f"{target}: exists; pass --overwrite to replace it")
            if options.per_frame:
                path, n, n_q = reduce_per_frame(
                    name, target, options, poni=args.poni, mask=args.mask, dark=args.dark,
                    flat=args.flat, settings=settings, overwrite=args.overwrite)
                sectors = f", {len(options.sectors)} sector(s)" if options.sectors else ""
                print(f"{name}: {n} curve(s) of {options.bin_frames} frame(s), {n_q} q bins"
                      f"{sectors} -> {path}")
                continue
            frames = saxs.read_frames(name, poni=args.poni, monitor=options.monitor)
            reducer = saxs.Reducer(frames.geometry, mask=args.mask or None, dark=args.dark,
                                   flat=args.flat, normalization=options.normalization,
                                   **settings)
            curve = reducer.reduce(frames)
            path = saxs.write_curve(target, curve, overwrite=args.overwrite,
                                    q_unit=UNITS[options.unit])
            dropped = [d["frame"] for d in curve.metadata.get("frames_dropped", [])]
            print(f"{name}: 1 curve, {len(curve)} q bins -> {path}"
                  + (f" (frames dropped: {dropped})" if dropped else ""))
        except SaxsError as exc:
            failures += 1
            print(f"saxs reduce: {name}: {cli_wording(exc)}", file=sys.stderr)
    return EXIT_FAILED_ITEMS if failures else EXIT_OK
