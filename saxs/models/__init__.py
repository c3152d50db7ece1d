"""The physics: particle shapes, size distributions and material constants.

One layer under fitting, the Monte Carlo, series analysis and the simulator (which import from
here, never the reverse).

* :mod:`saxs.models.formfactor`: :class:`FormFactor` (one shape: size parameter in nm, fixed
  parameters, ``volume_nm3``, ``intensity`` K = V P) and :func:`form_factor` (by name);
* :mod:`saxs.models.shapes`: the built-in shapes besides the sphere (core-shell sphere,
  cylinder of fixed length or aspect ratio, spheroid, disc);
* :mod:`saxs.models.bridge`: :func:`sasmodel`, any 1-D sasmodels model as a FormFactor;
* :mod:`saxs.models.distributions`: :class:`Species` (a size distribution of a shape with a
  volume fraction) and the polydisperse intensity;
* :mod:`saxs.models.table`: form-factor tables on a size grid for the Monte Carlo;
* :mod:`saxs.models.constants`: CdSe / ODE constants and X-ray SLDs.
"""

from __future__ import annotations

from saxs._lazy import lazy_attributes

_LAZY = {
    "FormFactor": "saxs.models.formfactor",
    "ParameterSpec": "saxs.models.formfactor",
    "form_factor": "saxs.models.registry",
    "known_models": "saxs.models.registry",
    "sphere_volume_nm3": "saxs.models.formfactor",
    "sasmodel": "saxs.models.bridge",
    "Species": "saxs.models.distributions",
    "species_intensity": "saxs.models.distributions",
    "spheres_intensity": "saxs.models.distributions",
    "FormFactorTable": "saxs.models.table",
    "form_factor_table": "saxs.models.table",
    "DEFAULT_CONTRAST_PER_CM2": "saxs.models.constants",
    "xray_sld_per_cm2": "saxs.models.constants",
    "electron_sld_per_cm2": "saxs.models.constants",
}

__all__ = [  # noqa: RUF022  (as in _LAZY)
    "FormFactor",
    "ParameterSpec",
    "form_factor",
    "known_models",
    "sphere_volume_nm3",
    "sasmodel",
    "Species",
    "species_intensity",
    "spheres_intensity",
    "FormFactorTable",
    "form_factor_table",
    "DEFAULT_CONTRAST_PER_CM2",
    "xray_sld_per_cm2",
    "electron_sld_per_cm2",
]

__getattr__, __dir__ = lazy_attributes(__name__, globals(), _LAZY)
