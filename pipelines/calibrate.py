"""``saxs calibrate``: refine the detector geometry from a calibrant frame, headless.

Flags follow pyFAI-calib2 where they overlap: ``-w`` wavelength in Angstrom, ``-e`` energy in
keV, ``--pixel`` in micrometres, ``--distance`` in millimetres, ``-m`` mask, ``-o`` PONI.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def cmd_calibrate(args: argparse.Namespace) -> int:
    """Refine the geometry, print it with uncertainties, write the PONI file and a PNG."""
    import saxs  # noqa: PLC0415
    from saxs.calibration import PARAMETERS  # noqa: PLC0415

    poni = Path(args.output)
    png = Path(args.plot) if args.plot else poni.with_suffix(".png")
    for path in (poni, png):
        if path.exists() and not args.overwrite:
            raise saxs.InputError(f"{path}: exists; pass --overwrite to replace it")
    fix = [f.strip() for f in args.fix.split(",") if f.strip()] if args.fix else ["rot3"]
    bad = [f for f in fix if f not in PARAMETERS]
    if bad:
        raise saxs.InputError(f"--fix {','.join(bad)}: not a parameter; use any of "
                              f"{','.join(PARAMETERS)}")
    pixel = None if args.pixel is None else args.pixel * 1e-6
    calibration = saxs.calibrate(
        args.frame, args.calibrant,
        wavelength_nm=None if args.wavelength is None else args.wavelength / 10.0,
        energy_kev=args.energy, pixel_size_m=pixel,
        distance_m=None if args.distance is None else args.distance * 1e-3,
        mask=args.mask, fix=fix)
    print(calibration.report())
    calibration.write_poni(poni, overwrite=args.overwrite)
    if not args.no_plot:
        from saxs_pipelines.calibration_plot import plot_calibration  # noqa: PLC0415

        plot_calibration(calibration, png, overwrite=args.overwrite)
        print(f"wrote {poni} and {png}")
    else:
        print(f"wrote {poni}")
    return 0


def add_parser(sub: argparse._SubParsersAction, add_common) -> None:
    """Register ``saxs calibrate``."""
    cal = sub.add_parser(
        "calibrate", help="refine the geometry from a calibrant frame (AgBh, LaB6, ...)",
        description="Guess the beam centre and distance from the image, extract control points "
        "on the calibrant's rings and refine distance, PONI and tilts with pyFAI; print the "
        "geometry with uncertainties and the residual per ring; write a PONI file and a "
        "diagnostic PNG.")
    cal.add_argument("frame", help="calibrant frame (any file saxs.read_frames reads)")
    cal.add_argument("-c", "--calibrant", default="AgBh",
                     help="pyFAI calibrant name(s), e.g. AgBh, LaB6, 'AgBh+LaB6' (default AgBh)")
    energy = cal.add_mutually_exclusive_group()
    energy.add_argument("-w", "--wavelength", type=float, help="wavelength, Angstrom")
    energy.add_argument("-e", "--energy", type=float, help="photon energy, keV")
    cal.add_argument("--pixel", type=float, help="pixel size, um (default: from the header)")
    cal.add_argument("--distance", type=float, help="distance guess, mm (breaks ring-order ties)")
    cal.add_argument("--fix", help="parameters to hold, comma separated (default rot3): "
                     "dist,poni1,poni2,rot1,rot2,rot3")
    cal.add_argument("-m", "--mask", help="mask file (non-zero = masked)")
    cal.add_argument("-o", "--output", required=True, help="PONI file to write")
    cal.add_argument("--plot", help="diagnostic PNG (default: the PONI name with .png)")
    cal.add_argument("--no-plot", action="store_true", help="do not write the PNG")
    cal.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    add_common(cal)
    cal.set_defaults(func=cmd_calibrate)
