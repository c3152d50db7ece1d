"""The shapes by name: :func:`form_factor`, :func:`known_models` and :data:`BUILTIN`.

Above :mod:`~saxs.models.formfactor`, :mod:`~saxs.models.shapes` and
:mod:`~saxs.models.bridge`, which do not import it: a built-in name gives our own shape, any
other name is looked up in sasmodels.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from saxs.errors import InputError
from saxs.models import bridge
from saxs.models.formfactor import FormFactor, Sphere
from saxs.models.shapes import CoreShellSphere, Cylinder, Disc, Spheroid

#: name -> class of the built-in shapes.
BUILTIN: Mapping[str, type[FormFactor]] = MappingProxyType({
    cls.name: cls for cls in (Sphere, CoreShellSphere, Cylinder, Disc, Spheroid)})


def known_models() -> list[str]:
    """Names of the built-in shapes (any 1-D sasmodels model name works too)."""
    return sorted(BUILTIN)


def form_factor(model: str | FormFactor | Mapping[str, Any], **parameters: Any) -> FormFactor:
    """A :class:`FormFactor` from a built-in name, a sasmodels name, a dict or an instance.

    Parameters
    ----------
    model : str, FormFactor or mapping
        "sphere", "core_shell_sphere", "cylinder", "spheroid", "disc" (see
        :func:`known_models`), any 1-D sasmodels model name ("sasmodels:NAME" forces the
        sasmodels version of a built-in name), a :class:`FormFactor`, or the dict of
        :meth:`FormFactor.to_dict`.
    **parameters
        The fixed parameters (lengths in nm with a ``_nm`` suffix).

    Examples
    --------
    >>> form_factor("cylinder", length_nm=20.0).size_parameter
    'radius_nm'
    """
    if isinstance(model, FormFactor):
        if parameters:
            raise InputError(f"form_factor: {model.label} is already built; its parameters "
                             "cannot be changed (build a new one from its name)")
        return model
    if isinstance(model, Mapping):
        return _from_dict({**model, "parameters": {**model.get("parameters", {}), **parameters}})
    if not isinstance(model, str) or not model.strip():
        raise InputError(f"form_factor: the model must be a name or a FormFactor, got "
                         f"{model!r}")
    name = model.strip()
    if name in BUILTIN:
        return BUILTIN[name](**parameters)
    sas_name = name.removeprefix("sasmodels:")
    if sas_name not in bridge.sasmodels_names():
        raise InputError(
            f"unknown model {name!r}: the built-in shapes are {', '.join(known_models())}, "
            f"and any 1-D sasmodels model name works ({len(bridge.sasmodels_names())} in "
            f"sasmodels {bridge.SASMODELS_TESTED}, e.g. vesicle, ellipsoid, core_shell_cylinder)")
    return bridge.sasmodel(sas_name, **parameters)


def _from_dict(spec: Mapping[str, Any]) -> FormFactor:
    """The shape described by :meth:`FormFactor.to_dict` (stored results, configs)."""
    if "model" not in spec:
        raise InputError(f"form_factor: a model description needs a 'model' key, got "
                         f"{dict(spec)!r}")
    params = dict(spec.get("parameters") or {})
    name = str(spec["model"])
    size = spec.get("size_parameter")
    if name.startswith("sasmodels:"):
        size = size.removesuffix("_nm") if isinstance(size, str) else None
        return bridge.sasmodel(name.removeprefix("sasmodels:"), size=size, **params)
    return form_factor(name, **params)
