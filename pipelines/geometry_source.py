"""Where a batch takes its detector geometry from: a calibrant frame, a PONI file or the headers.

``discovery.geometry_from`` chooses: ``auto`` (the default) takes the calibrant frame when
``discovery.calibrant_frame`` names one, else the PONI file when ``discovery.poni`` names one,
else the frame headers; ``calibrant_frame``, ``poni`` and ``header`` ask for one and fail when
it is not configured. A calibrant frame is calibrated once per batch (``saxs.calibrate`` with
the beamtime's masks), its PONI and diagnostic PNG are written to ``OUT/calibration/``, and
every reduction uses that PONI. The choice is recorded as ``calib["geometry_source"]`` in every
job's parameters (records) and in each reduced curve's metadata.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger("saxs.batch")

#: The values of ``discovery.geometry_from``.
CHOICES = ("auto", "calibrant_frame", "poni", "header")


def chosen(calib: dict[str, Any], discovery: dict[str, Any]) -> str:
    """"calibrant_frame", "poni" or "header", checked against what is configured."""
    wanted = discovery.get("geometry_from") or "auto"
    if wanted not in CHOICES:
        from saxs.errors import InputError  # noqa: PLC0415

        raise InputError(f"discovery.geometry_from: {wanted!r} is not one of {list(CHOICES)}")
    if wanted == "auto":
        return ("calibrant_frame" if calib.get("calibrant_frame")
                else "poni" if calib.get("poni") else "header")
    if wanted != "header" and not calib.get(wanted):
        from saxs.errors import InputError  # noqa: PLC0415

        raise InputError(f"discovery.geometry_from is {wanted!r} but discovery.{wanted} is not "
                         "set; name the file or choose another source")
    return wanted


def resolve(calib: dict[str, Any], discovery: dict[str, Any], out: Path, *,
            overwrite: bool) -> dict[str, Any]:
    """``calib`` with the geometry the reductions use: ``poni`` (None: the headers) and
    ``geometry_source``, a sentence saying where it came from. Calibrates a calibrant frame."""
    source = chosen(calib, discovery)
    if source == "header":
        return {**calib, "poni": None, "geometry_source": "frame headers"}
    if source == "poni":
        return {**calib, "geometry_source": f"PONI file {calib['poni']}"}
    frame = Path(calib["calibrant_frame"])
    poni = out / "calibration" / f"{frame.stem}.poni"
    calibrant = discovery.get("calibrant") or "AgBh"
    if poni.is_file() and not overwrite and poni.stat().st_mtime >= frame.stat().st_mtime:
        log.info("geometry from %s (calibrated earlier from %s)", poni, frame)
    else:
        _calibrate(frame, calibrant, calib.get("mask") or [], poni)
    return {**calib, "poni": str(poni),
            "geometry_source": f"calibrant frame {frame} ({calibrant}) -> {poni}"}


def _calibrate(frame: Path, calibrant: str, masks: list[str], poni: Path) -> None:
    import numpy as np  # noqa: PLC0415

    import saxs  # noqa: PLC0415
    from saxs_pipelines.calibration_plot import plot_calibration  # noqa: PLC0415

    stack = saxs.read_frames(frame, require_geometry=False)
    mask = None
    if masks:
        mask = np.zeros(stack.frame_shape, dtype=bool)
        for path in masks:
            mask |= saxs.read_mask(path, stack.frame_shape)
    calibration = saxs.calibrate(stack, calibrant, mask=mask)
    poni.parent.mkdir(parents=True, exist_ok=True)
    calibration.write_poni(poni, overwrite=True)
    plot_calibration(calibration, poni.with_suffix(".png"), overwrite=True)
    log.info("calibrated %s:\n%s", frame, calibration.report())
