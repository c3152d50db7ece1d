"""``saxs reduce``: stacks to curves, one per stack (NXcanSAS) or one per frame (ID02 ``_ave.h5``).

The parser of ``saxs reduce`` is made in :mod:`saxs_pipelines.commands`; :func:`extend_parser`
adds the per-frame and monitor options and routes the command here. Every option is checked
(:func:`check_options`) before any file is read or any folder created.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path

from saxs_pipelines.messages import cli_wording

EXIT_OK, EXIT_FAILED_ITEMS = 0, 3
NORMALIZATIONS = ("auto", "i1", "exposure", "none")


@dataclass(frozen=True)
class ReduceOptions:
    """The checked options of one ``saxs reduce`` call."""

    per_frame: bool
    bin_frames: int
    sectors: tuple[tuple[float, float], ...]
    normalization: str
    monitor: float | None


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
                  normalization: str | None, monitor: float | None) -> ReduceOptions:
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
    parsed = tuple(parse_sector(s) for s in sectors or [])
    return ReduceOptions(per_frame=per_frame, bin_frames=bin_frames or 1, sectors=parsed,
                         normalization=norm, monitor=monitor)


def _outputs(args: argparse.Namespace, per_frame: bool) -> dict[str, Path]:
    """Output file per input; every input checked (it exists, no two share an output) before
    any work."""
    from saxs.errors import InputError  # noqa: PLC0415
    from saxs.io.ave import ave_path  # noqa: PLC0415

    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise InputError(f"-o {out}: exists and is not a folder; choose another -o")
    for option, value in (("-p", args.poni), ("-d", args.dark), ("-f", args.flat),
                          *(("-m", m) for m in args.mask or [])):
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
                     dark=None, flat=None, npt: int = 500, intensity_unit: str = "arb",
                     overwrite: bool = False) -> tuple[Path, int, int]:
    """Reduce one stack per frame into ``target`` (``_ave.h5``); (path, curves, q bins)."""
    import saxs  # noqa: PLC0415

    frames = saxs.read_frames(name, poni=poni, monitor=options.monitor)
    if frames.timestamps_s is None:  # before the reduction: the _ave.h5 needs its t axis
        raise saxs.InputError(f"{frames.describe()}: no frame times for the t axis of {target}: "
                              "the scaler file (TFG/delta_time) or the LIMA time_of_frame is "
                              "missing; put the scaler file beside the stack")
    reducer = saxs.Reducer(frames.geometry, mask=mask or None, dark=dark, flat=flat, npt=npt,
                           intensity_unit=intensity_unit, normalization=options.normalization)
    curves = reducer.integrate_frames(
        frames, bin_frames=options.bin_frames,
        azimuth_range=list(options.sectors) if options.sectors else None)
    items = curves if isinstance(curves, list) else [curves]
    path = saxs.write_ave(target, items, frames, geometry=reducer.geometry, overwrite=overwrite)
    return path, len(items[0]), items[0].q.size


def cmd_reduce(args: argparse.Namespace) -> int:
    """``saxs reduce``: stacks to NXcanSAS curves, or per frame to ``<stem>_ave.h5``."""
    import saxs  # noqa: PLC0415
    from saxs.errors import InputError, SaxsError  # noqa: PLC0415

    options = check_options(per_frame=args.per_frame, bin_frames=args.bin_frames,
                            sectors=args.azimuth_range, normalization=args.normalization,
                            monitor=args.monitor)
    outputs = _outputs(args, options.per_frame)
    Path(args.output).mkdir(parents=True, exist_ok=True)
    failures = 0
    for name, target in outputs.items():
        try:
            if target.exists() and not args.overwrite:  # this item fails, before its work
                raise InputError(f"{target}: exists; pass --overwrite to replace it")
            if options.per_frame:
                path, n, n_q = reduce_per_frame(
                    name, target, options, poni=args.poni, mask=args.mask, dark=args.dark,
                    flat=args.flat, npt=args.npt, intensity_unit=args.intensity_unit,
                    overwrite=args.overwrite)
                sectors = f", {len(options.sectors)} sector(s)" if options.sectors else ""
                print(f"{name}: {n} curve(s) of {options.bin_frames} frame(s), {n_q} q bins"
                      f"{sectors} -> {path}")
                continue
            frames = saxs.read_frames(name, poni=args.poni, monitor=options.monitor)
            reducer = saxs.Reducer(frames.geometry, mask=args.mask or None, dark=args.dark,
                                   flat=args.flat, npt=args.npt,
                                   intensity_unit=args.intensity_unit,
                                   normalization=options.normalization)
            curve = reducer.reduce(frames)
            path = saxs.write_curve(target, curve, overwrite=args.overwrite)
            dropped = [d["frame"] for d in curve.metadata.get("frames_dropped", [])]
            print(f"{name}: 1 curve, {len(curve)} q bins -> {path}"
                  + (f" (frames dropped: {dropped})" if dropped else ""))
        except SaxsError as exc:
            failures += 1
            print(f"saxs reduce: {name}: {cli_wording(exc)}", file=sys.stderr)
    return EXIT_FAILED_ITEMS if failures else EXIT_OK


def add_parser(sub: argparse._SubParsersAction, add_common) -> None:
    """Register ``saxs reduce``."""
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
    red.description = (
        "Reduce frame stacks to I(q): one averaged NXcanSAS curve per stack (<stem>.h5), or "
        "with --per-frame one curve per frame (or per --bin-frames group) in ID02's processed "
        "layout, <stem>_ave.h5 (entry_0000/PyFAI/result_ave: q, data, data_errors, t).")
    red.add_argument("--bin-frames", type=int, metavar="N",
                     help="with --per-frame: one curve per N frames (default 1)")
    red.add_argument("--azimuth-range", action="append", metavar="MIN,MAX",
                     help="with --per-frame: integrate only this sector, degrees within "
                     "-180..360; write --azimuth-range=-30,30 when MIN is negative (repeatable: "
                     "the first in result_ave, the next in result_ave_1, ...)")
    red.add_argument("--normalization", metavar="{auto,i1,exposure,none}",
                     help="divide each frame by the transmitted flux I1, the exposure time, or "
                     "nothing (default auto: I1 when known, else the exposure time)")
    red.add_argument("--monitor", type=float, metavar="VALUE",
                     help="the I1 monitor of every frame, given directly (files without one)")
    red.set_defaults(func=cmd_reduce)
