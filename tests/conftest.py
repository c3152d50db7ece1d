"""Shared fixtures: a small detector, frame files written by our writers, the shared data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from saxs.geometry import Geometry

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture
def shared_dir() -> Path:
    """The developers' shared folder beside the repository (skip when absent)."""
    if not SHARED.is_dir():
        pytest.skip("../shared is not present")
    return SHARED


@pytest.fixture
def small_geometry() -> Geometry:
    """A 64 x 60 detector with tilts, 172 um pixels, 0.5 m."""
    return Geometry(distance_m=0.5, poni1_m=30.3 * 172e-6, poni2_m=28.7 * 172e-6,
                    pixel1_m=172e-6, pixel2_m=172e-6, wavelength_m=1.0e-10, shape=(64, 60),
                    rot1_rad=0.002, rot2_rad=-0.001, rot3_rad=0.0003)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    """``saxs demo -o saxs-demo`` run once: (the folder it ran in, its stdout, its exit code)."""
    import contextlib
    import io
    import os

    from saxs_pipelines.cli import main

    where = tmp_path_factory.mktemp("demo")
    printed = io.StringIO()
    cwd = os.getcwd()
    os.chdir(where)
    try:
        with contextlib.redirect_stdout(printed):
            code = main(["demo", "-o", "saxs-demo", "-q"])
    finally:
        os.chdir(cwd)
    return where, printed.getvalue(), code
