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
