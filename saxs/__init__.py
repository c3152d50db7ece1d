"""SAXS reduction and size analysis.

``import saxs`` is cheap: heavy modules (pyFAI, h5py, fabio, numba) load on first use of the
names that need them.
"""

from __future__ import annotations

from saxs._lazy import lazy_attributes
from saxs.curve import Curve, Step
from saxs.errors import InputError, SaxsError
from saxs.geometry import Geometry
from saxs.header import Header

__version__ = "0.1.0"

# public name -> module that defines it (imported on first access)
_LAZY = {
    "FrameStack": "saxs.frames",
    "read_frames": "saxs.io.frames",
    "read_mask": "saxs.io.calib",
    "read_dark": "saxs.io.calib",
    "read_flat": "saxs.io.calib",
    "read_calibration": "saxs.io.calib",
    "CalibrationImages": "saxs.calibration_images",
    "FrameCurves": "saxs.framecurves",
    "write_ave": "saxs.io.ave",
    "read_ave": "saxs.io.ave",
    "ave_path": "saxs.io.ave",
    "read_curve": "saxs.io.curves",
    "write_curve": "saxs.io.curves",
    "Reducer": "saxs.reducer",
    "subtract": "saxs.blanks",
    "subtract_blanks": "saxs.blanks",
    "divide_thickness": "saxs.blanks",
    "absolute_scale_factor": "saxs.blanks",
    "apply_scale": "saxs.blanks",
    "MCConfig": "saxs.montecarlo",
    "monte_carlo": "saxs.montecarlo",
    "SizeDistribution": "saxs.sizedist",
    "fit_curve": "saxs.fitting",
    "find_bragg_peaks": "saxs.bragg",
    "BraggFindings": "saxs.bragg",
    "follow_bragg": "saxs.bragg_series",
    "BraggSeries": "saxs.bragg_series",
    "find_populations": "saxs.populations",
    "find_quantized_steps": "saxs.series",
    "SeriesFindings": "saxs.series_findings",
    "write_result": "saxs.io.results",
    "read_result": "saxs.io.results",
    "read_distribution": "saxs.io.results",
    "Population": "saxs.populations",
    "Species": "saxs.models.distributions",
    "FormFactor": "saxs.models.formfactor",
    "form_factor": "saxs.models.registry",
    "monodisperse_width": "saxs.montecarlo",
    "SampleModel": "saxs.simulate.models",
    "calibrate": "saxs.calibration",
    "Calibration": "saxs.calibration",
    "q_calibration": "saxs.qcalibration",
    "QCalibration": "saxs.qcalibration",
    "follow_kinetics": "saxs.kinetics",
    "compare": "saxs.comparison",
    "Comparison": "saxs.comparison",
    "guinier_auto": "saxs.comparison",
    "KineticsResult": "saxs.kinetics",
}

__all__ = [  # noqa: RUF022  (grouped: eager names, then lazy ones)
    "Curve", "Geometry", "Header", "InputError", "SaxsError", "Step",
    "FrameStack", "read_frames", "read_mask", "read_dark", "read_flat", "read_calibration",
    "CalibrationImages", "FrameCurves", "write_ave", "read_ave", "ave_path", "read_curve",
    "write_curve", "Reducer", "subtract", "subtract_blanks", "divide_thickness",
    "absolute_scale_factor", "apply_scale", "MCConfig", "monte_carlo", "SizeDistribution",
    "fit_curve", "find_bragg_peaks", "BraggFindings", "follow_bragg", "BraggSeries",
    "find_populations", "find_quantized_steps", "SeriesFindings",
    "write_result", "read_result", "read_distribution",
    "Population", "Species", "FormFactor", "form_factor", "monodisperse_width", "SampleModel",
    "simulate", "models", "calibrate", "Calibration", "q_calibration", "QCalibration",
    "follow_kinetics", "KineticsResult", "compare", "Comparison", "guinier_auto",
]


_SUBPACKAGES = ("simulate", "io", "fitting", "sizing", "models")


__getattr__, __dir__ = lazy_attributes(__name__, globals(), _LAZY, _SUBPACKAGES)
