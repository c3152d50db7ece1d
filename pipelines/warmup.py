"""The second core on a first run: compile the kernels of a batch's later stages meanwhile.

numba compiles each kernel the first time it is called and keeps the result in its cache
(``cache=True``), so a first run spends most of its time compiling, one kernel after the other,
on one core. :func:`start` launches a helper process that runs the later stages' kernels on a
tiny made-up input of the same types (the Monte Carlo of the configured shape; the per-frame
integration of stacks of the batch's pixel type and storage; the removal of a rejected frame)
while the batch reduces its first stacks. Each kernel the helper has compiled by the time the
batch needs it is loaded from the cache instead of compiled again; one the helper has not
reached yet is compiled by the batch as before, so results never depend on the helper. It is
not started when those kernels are in the cache already (every run after the first).

Run as ``python -m saxs_pipelines.warmup SPEC_JSON``.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

#: The kernels each kind of work needs (module, function), to see whether they are cached.
KERNELS = {"mc": (("saxs_kernels.montecarlo", "_run_repetitions"),),
           "per_frame": (("saxs_kernels.csr", "_integrate_compressed"),
                         ("saxs_kernels.csr", "_integrate_frames")),
           "remove_frame": (("saxs_kernels.stack", "_remove_frames"),)}


def _cached(kind: str, compressed: bool) -> bool:
    """True when numba's cache holds a compiled version of the kernels of ``kind`` (a
    version for other argument types is compiled anyway when it is needed)."""
    import importlib  # noqa: PLC0415

    names = KERNELS[kind]
    if kind == "per_frame":
        names = names[:1] if compressed else names[1:]
    try:
        for module, name in names:
            kernel = getattr(importlib.import_module(module), name)
            if not kernel._cache._cache_file._load_index():
                return False
    except Exception:  # noqa: BLE001 - any doubt: warm up
        return False
    return True


def plan(*, mc: dict | None, dtype: str | None, compressed: bool, per_frame: bool) -> dict:
    """What the helper should compile: ``mc`` (the config's ``mc`` section, or None when no
    Monte Carlo is run), the pixel type and storage of the stacks, whether some are reduced
    per frame. Kinds already cached are left out."""
    kinds = []  # in the order a batch needs them: a rejected frame, sizes, time series
    if dtype is not None and not _cached("remove_frame", compressed):
        kinds.append("remove_frame")
    if mc is not None and not _cached("mc", compressed):
        kinds.append("mc")
    if dtype is not None and per_frame and not _cached("per_frame", compressed):
        kinds.append("per_frame")
    return {"kinds": kinds, "mc": mc, "dtype": dtype, "compressed": compressed}


def start(spec: dict) -> subprocess.Popen | None:
    """Launch the helper for ``spec`` (:func:`plan`); None when there is nothing to compile
    or only one core."""
    if not spec["kinds"] or (os.cpu_count() or 1) < 2:
        return None
    try:
        # one thread: it compiles (one core's work); the batch keeps the threads it has
        env = {**os.environ, "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
        return subprocess.Popen([sys.executable, "-m", "saxs_pipelines.warmup",
                                 json.dumps(spec)], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    except OSError as exc:  # no harm: the batch compiles what it needs itself
        log.debug("compilation helper not started: %s", exc)
        return None


def stop(helper: subprocess.Popen | None) -> None:
    """End the helper if it still runs (it only writes numba's cache)."""
    if helper is not None and helper.poll() is None:
        helper.terminate()
        try:
            helper.wait(timeout=10)
        except subprocess.TimeoutExpired:
            helper.kill()


def _monte_carlo(mc: dict[str, Any]) -> None:
    import saxs  # noqa: PLC0415
    from saxs.curve import Curve  # noqa: PLC0415
    from saxs_pipelines.config import mc_config  # noqa: PLC0415

    q = np.geomspace(0.2, 5.0, 60)
    x = q * 1.0
    intensity = 1e-3 * (3 * (np.sin(x) - x * np.cos(x)) / x**3) ** 2 + 1e-4
    curve = Curve(q=q, intensity=intensity, sigma=0.05 * intensity)
    saxs.monte_carlo(curve, mc_config(mc, {"n_rep": 2, "n_contrib": 20, "max_iter": 50,
                                           "seed": 0}))


def _stack(folder: Path, dtype: str, compressed: bool) -> Path:
    """A 3-frame LIMA stack of ``dtype`` with its scaler file."""
    from saxs.geometry import Geometry  # noqa: PLC0415
    from saxs.io.lima import write_lima  # noqa: PLC0415
    from saxs.io.scalers import write_scalers  # noqa: PLC0415

    geometry = Geometry(distance_m=1.0, poni1_m=3.2e-3, poni2_m=3.1e-3, pixel1_m=1e-4,
                        pixel2_m=1e-4, wavelength_m=1e-10, shape=(64, 64))
    frames = np.random.default_rng(0).poisson(50, (3, 64, 64)).astype(dtype)
    header = {**geometry.to_header(), "Dummy": "-1", "DDummy": "0"}
    path = folder / "warm_eiger2_00001_00.h5"
    write_lima(path, frames, header, compression="bitshuffle-lz4" if compressed else "none")
    write_scalers(folder / "warm_scalers_00001_00.h5", i0=np.full(3, 2e5),
                  i1=np.full(3, 1e5), exposure_time_s=np.full(3, 0.1), start_epoch=0.0)
    return path


def _per_frame(dtype: str, compressed: bool, folder: Path) -> None:
    import saxs  # noqa: PLC0415

    frames = saxs.read_frames(_stack(folder, dtype, compressed))
    saxs.Reducer(frames.geometry, npt=20).integrate_frames(frames)


def _remove_frame(dtype: str) -> None:
    """The kernel that takes a rejected frame out of a stack's sums, on one 16-pixel frame."""
    from saxs_kernels.stack import (  # noqa: PLC0415
        FrameTotals,
        PixelSettings,
        add_frames,
        pixel_state,
    )

    add_frames(np.ones((1, 16), dtype=dtype), np.zeros(1, np.int64), np.ones(1),
               PixelSettings(np.zeros(16), np.ones(16, dtype=bool), True, -1.0, 0.0),
               pixel_state(16), FrameTotals.zeros(1), sign=-1)


def main(argv: list[str]) -> int:
    """Compile what the spec asks for, in the order the batch needs it."""
    compile_kernels(json.loads(argv[0]))
    return 0


def compile_kernels(spec: dict) -> None:
    """Compile the kernels of ``spec`` (:func:`plan`) in this process, in its order."""
    with tempfile.TemporaryDirectory() as tmp:
        for kind in spec["kinds"]:
            if kind == "mc":
                _monte_carlo(spec["mc"])
            elif kind == "per_frame":
                _per_frame(spec["dtype"], spec["compressed"], Path(tmp))
            else:
                _remove_frame(spec["dtype"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
