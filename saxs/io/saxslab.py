"""SAXSLAB (Xenocs Ganesha) TIFF headers: the ``<SAXSLABparameters>`` XML in the TIFF.

The instrument software writes its parameters as ``<param name="...">value</param>``
elements in a TIFF tag. The geometry is turned into ID02 header keys at this edge:
``detector_dist`` [mm] -> ``SampleDistance`` [m], ``wavelength`` [Å] -> ``WaveLength`` [m],
``pixelsize`` [mm] -> ``PSize_1/2`` [m], ``beamcenter_actual`` (row, column) [px] ->
``Center_2``, ``Center_1``. PILATUS frames mark gaps with -1 and bad pixels with -2, so
``Dummy = -1.5, DDummy = 0.6`` masks every negative pixel value.
"""

from __future__ import annotations

import re
from pathlib import Path

from saxs.units import length_to_m

_PARAM = re.compile(rb'<param name="([^"]+)">([^<]*)</param>')
_MARKER = b"<SAXSLABparameters>"


def read_saxslab_parameters(path: Path) -> dict[str, str]:
    """The SAXSLAB parameters of a TIFF file (empty if it has none)."""
    raw = path.read_bytes()
    start = raw.find(_MARKER)
    if start < 0:
        return {}
    end = raw.find(b"</SAXSLABparameters>", start)
    block = raw[start:end if end > 0 else len(raw)]
    return {m.group(1).decode("latin-1"): m.group(2).decode("latin-1").strip()
            for m in _PARAM.finditer(block)}


def saxslab_to_id02(params: dict[str, str]) -> dict[str, str]:
    """ID02 header keys for the geometry in SAXSLAB parameters (only those present)."""
    keys: dict[str, str] = {}
    if params.get("detector_dist"):
        keys["SampleDistance"] = repr(length_to_m(float(params["detector_dist"]), "mm"))
    if params.get("wavelength"):
        keys["WaveLength"] = repr(length_to_m(float(params["wavelength"]), "A"))
    if params.get("pixelsize"):
        sizes = [length_to_m(float(v), "mm") for v in params["pixelsize"].split()]
        keys["PSize_1"], keys["PSize_2"] = repr(sizes[0]), repr(sizes[-1])
    if params.get("beamcenter_actual"):
        row, col = (float(v) for v in params["beamcenter_actual"].split()[:2])
        keys["Center_1"], keys["Center_2"] = repr(col), repr(row)
    if "PILATUS" in params.get("detectortype", "").upper():
        keys["Dummy"], keys["DDummy"] = "-1.5", "0.6"
    return keys
