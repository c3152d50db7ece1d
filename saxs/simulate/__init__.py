"""Physics-faithful simulation of SAXS measurements in absolute units.

* :mod:`saxs.simulate.models`: absolute cross-sections dSigma/dOmega(q) in 1/cm (spheres of any
  radius distribution, solvent, Kapton windows, Bragg peaks, a broad low-q peak).
* :mod:`saxs.simulate.detector`: projection onto a detector through a pyFAI geometry (solid
  angle, polarisation, flat field, dark current, gaps, beamstop, dead pixels, Poisson noise).
* :mod:`saxs.simulate.measurement`: a stack of frames with monitors and outlier frames.
* :mod:`saxs.simulate.scenario` / :mod:`saxs.simulate.beamtime`: a YAML scenario to a whole
  beamtime folder (ID02 LIMA files, scaler files, calibration files, sample sheet, truth).

Everything is seeded: the same scenario gives the same files, bit for bit.
"""

from __future__ import annotations

from saxs.simulate.beamtime import BeamtimeFiles, simulate_measurement, write_beamtime
from saxs.simulate.detector import Beamstop, DetectorModel
from saxs.simulate.measurement import Beam, Layer, Outliers, SimulatedStack, simulate_stack
from saxs.simulate.scenario import Scenario, load_scenario, scenario_from_dict

__all__ = [
    "Beam",
    "Beamstop",
    "BeamtimeFiles",
    "DetectorModel",
    "Layer",
    "Outliers",
    "Scenario",
    "SimulatedStack",
    "load_scenario",
    "scenario_from_dict",
    "simulate_measurement",
    "simulate_stack",
    "write_beamtime",
]
