"""One HDF5 file per sample: the curve (NXcanSAS) and its Monte Carlo result (DESIGN.md §5)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from saxs.curve import Curve
from saxs.io.curves import read_curve, write_curve
from saxs.io.nxcansas import read_extra
from saxs.sizedist import SizeDistribution, distribution_from_items, distribution_to_items


def write_result(path: str | os.PathLike, curve: Curve, distribution: SizeDistribution | None,
                 *, extra: Mapping[str, Any] | None = None, overwrite: bool = False) -> Path:
    """Write the curve and, if given, every repetition of its size analysis (atomically)."""
    items = dict(extra or {})
    if distribution is not None:
        items.update(distribution_to_items(distribution))
    return write_curve(path, curve, overwrite=overwrite, extra=items)


def read_distribution(path: str | os.PathLike) -> SizeDistribution:
    """The Monte Carlo result stored by :func:`write_result`."""
    return distribution_from_items(read_extra(path), source=str(path))


def read_result(path: str | os.PathLike) -> tuple[Curve, SizeDistribution]:
    """Curve and Monte Carlo result of a sample file."""
    return read_curve(path), read_distribution(path)
