"""Write the small reader test files of data_samples/readers/ (seeded, reproducible).

Run from the repository root:  python data_samples/make_reader_samples.py
It refuses to overwrite existing files; delete data_samples/readers/ first to remake them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from saxs.io.atomic import atomic_path
from saxs.io.edf import write_edf
from saxs.io.lima import write_lima
from saxs.io.scalers import write_scalers
from saxs.models.distributions import Species
from saxs.simulate import Beam, Beamstop, DetectorModel, Layer, simulate_stack
from saxs.simulate.beamtime import frame_header
from saxs.simulate.models import FlatBackground, SampleModel, Spheres
from saxs.simulate.scenario import Measurement, scenario_from_dict

SEED = 20261124
OUT = Path(__file__).resolve().parent / "readers"


def main() -> None:
    scenario = scenario_from_dict({
        "version": 1, "seed": SEED, "collection": "mini",
        "detector": {"name": "eiger2", "shape": [64, 60], "pixel_size_m": 6e-4,
                     "distance_m": 0.5, "center_px": [29.6, 31.2], "binning": [4, 4]},
        "solvent": {"level_per_cm": 0.03},
        "measurements": [{"name": "spheres", "kind": "sample", "populations": [
            {"radius_nm": 1.0, "rel_width": 0.05, "volume_fraction": 2e-3}]}],
    })
    det = DetectorModel(scenario.detector.geometry, gap_rows=((30, 32),),
                        beamstop=Beamstop(radius_px=3, arm_width_px=2), seed=SEED)
    model = SampleModel((Spheres((Species(1.0, 2e-3, 0.05),)), FlatBackground(0.03)))
    rng = np.random.default_rng(SEED)
    stack = simulate_stack(det, [Layer("sample", 0.15, model.intensity)], transmission=0.8,
                           n_frames=4, exposure_time_s=0.1, beam=Beam(flux_ph_s=5e12), rng=rng)
    m: Measurement = scenario.measurement("spheres")
    header = frame_header(scenario, m)
    with atomic_path(OUT / "mini_eiger2_00001_00.h5") as tmp:
        write_lima(tmp, stack.frames, header, detector="eiger2", compression="bitshuffle-lz4",
                   exposure_time_s=0.1)
    with atomic_path(OUT / "mini_scalers_00001_00.h5") as tmp:
        write_scalers(tmp, i0=stack.i0, i1=stack.i1, exposure_time_s=stack.exposure_time_s,
                      start_epoch=float(header["HMStartEpoch"]))
    frame = stack.frames[0].astype(np.float32)
    with atomic_path(OUT / "frame_with_variance.edf") as tmp:
        write_edf(tmp, frame, {**header, "Intensity1": repr(float(stack.i1[0]))},
                  variance=np.maximum(frame, 1))
    base = {**det.geometry.to_header(), "Dummy": "-10", "DDummy": "0.1"}
    dark = det.dark_frames(10, rng).astype(np.float64).mean(axis=0).astype(np.float32)
    for name, image, extra in (("dark", dark, {}), ("flat", det.flat.astype(np.float32), {}),
                               ("mask", (det.gap_mask | det.beamstop_mask).astype(np.uint8),
                                {"Dummy": "0"})):
        with atomic_path(OUT / f"{name}.edf") as tmp:
            write_edf(tmp, image, {**base, "Title": name, **extra})
    det.geometry.to_poni(OUT / "geometry.poni")


if __name__ == "__main__":
    main()
