"""Physics-faithful simulation of SAXS measurements in absolute units.

* :mod:`saxs.simulate.models`: absolute cross-sections dSigma/dOmega(q) in 1/cm (spheres of any
  radius distribution, solvent, Kapton windows, Bragg peaks, a broad low-q peak).
* :mod:`saxs.simulate.detector`: projection onto a detector through a pyFAI geometry (solid
  angle, polarisation, flat field, dark current, gaps, beamstop, dead pixels, Poisson noise).
* :mod:`saxs.simulate.measurement`: a stack of frames with monitors and outlier frames.
* :mod:`saxs.simulate.scenario` / :mod:`saxs.simulate.beamtime`: a YAML scenario to a whole
  beamtime folder (ID02 LIMA files, scaler files, calibration files, sample sheet, truth).

Everything is seeded: the same scenario gives the same files, bit for bit. The names below load
on first use, so ``saxs.simulate.models`` alone does not pull in pyFAI.
"""

from __future__ import annotations

from saxs._lazy import lazy_attributes

_LAZY = {
    "BeamtimeFiles": "saxs.simulate.beamtime", "simulate_measurement": "saxs.simulate.beamtime",
    "write_beamtime": "saxs.simulate.beamtime", "Beamstop": "saxs.simulate.detector",
    "DetectorModel": "saxs.simulate.detector", "Beam": "saxs.simulate.measurement",
    "Layer": "saxs.simulate.measurement", "Outliers": "saxs.simulate.measurement",
    "SimulatedStack": "saxs.simulate.measurement", "simulate_stack": "saxs.simulate.measurement",
    "Scenario": "saxs.simulate.scenario", "load_scenario": "saxs.simulate.scenario",
    "scenario_from_dict": "saxs.simulate.scenario",
    "simulate_calibrant": "saxs.simulate.calibrant", "CalibrantFrame": "saxs.simulate.calibrant",
}

__all__ = [
    "Beam", "Beamstop", "BeamtimeFiles", "CalibrantFrame", "DetectorModel", "Layer", "Outliers",
    "Scenario", "SimulatedStack", "load_scenario", "scenario_from_dict",
    "simulate_calibrant", "simulate_measurement", "simulate_stack", "write_beamtime",
]


__getattr__, __dir__ = lazy_attributes(__name__, globals(), _LAZY)
