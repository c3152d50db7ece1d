"""Any 1-D sasmodels model as a :class:`~saxs.models.formfactor.FormFactor` (:func:`sasmodel`).

The numbers are sasmodels' own: its compiled C kernels (``load_model(name, dtype="double",
platform="dll")``, OpenCL disabled) called through ``sasmodels.direct_model.call_Fq`` with
scale = 1, background = 0 and no polydispersity, once per size. Tested with sasmodels 1.1.0
(:data:`SASMODELS_TESTED`); this is the only module of the package that imports sasmodels.

Units and names
---------------
q is converted 1/nm -> 1/A (/10). Parameters whose sasmodels unit is A are given in nm with a
``_nm`` suffix (``length_nm``; x10 inside); SLD parameters keep sasmodels' names and unit
(1e-6/A^2); every other parameter keeps its sasmodels name and unit. The size parameter is a
sasmodels *volume* parameter in A (default ``radius`` if the model has one, else the first);
orientation (theta, phi, psi), magnetic and the scale/background parameters cannot be set (the
evaluation is 1-D, orientation-averaged by sasmodels).

Required parameters: every volume parameter besides the size (no silent sasmodels default),
and every SLD, except for models whose only SLDs are ``sld`` and ``sld_solvent``: if neither is
given the shape is homogeneous (``contrast_per_cm2`` None, the user supplies the contrast). The
elements of vector parameters (``thickness1`` ... of core_multi_shell) and all other scalar
parameters default to sasmodels' defaults.

Normalisation
-------------
sasmodels' kernel returns, per particle, <F^2> with F = 1e-2 sum drho_i V_i f_i (drho in
1e-6/A^2, V in A^3) and its I(q) = scale <F^2> / V_shell + background in 1/cm, where V_shell is
the volume of particle material (the form volume for solid shapes, the shell alone for hollow
ones: vesicle, hollow_cylinder, ...). Our phi is the volume fraction of whole particles, of
volume V_form (sasmodels' form volume), so

    I(q) / phi = <F^2> / V_form   (1/cm)   and   K = <F^2> / (V_form drho_ref^2 1e-21),

with drho_ref in 1/cm^2 (= drho_ref[1e-6/A^2] x 1e10, so drho_ref^2 1e-21 = 0.1 drho_ref^2 in
sasmodels' unit). ``volume_nm3`` is V_form / 1000. For a homogeneous model this is V P with
P(0) = 1 (sld = 1, sld_solvent = 0 are passed). The reference contrast of models with more SLDs
is max |sld_i - sld_solvent| over the scalar non-solvent SLDs (the vector elements if there are
none; "solvent" SLDs are those whose name contains "solvent"; with no solvent SLD the largest
difference between two SLDs, or |sld| for a single one); it must be non-zero. Models without SLD
parameters (the model's intensity carries its own scale) use drho_ref = 1e-6/A^2, so that
I / phi = 0.1 K. Models that do not normalise by a volume (sasmodels' form volume 1 A^3, e.g.
lamellar) keep sasmodels' convention: K is right per unit volume fraction, but ``volume_nm3``
is the placeholder 1e-3 nm^3 and number-weighted results are meaningless for them.

Largest dimension (``max_dimension_nm``, used only to size tables): the sum of the length
volume parameters named ``length*`` or ``d_spacing`` plus twice the others (radii,
thicknesses): 2R + L for a cylinder, 2(R + t) for a core-shell sphere, an upper bound for most
convex shapes.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any, ClassVar

import numpy as np

from saxs.errors import InputError
from saxs.models.formfactor import (
    SLD_UNIT,
    SLD_UNIT_PER_CM2,
    FormFactor,
    ParameterSpec,
)

#: sasmodels version this bridge was written and tested against.
SASMODELS_TESTED = "1.1.0"
#: Angstrom per nm (lengths x this, q / this).
A_PER_NM = 10.0
#: q (1/A) at which volumes are evaluated (the volume does not depend on q).
_VOLUME_Q_PER_A = 0.01
_PREFIX = "sasmodels:"
_NOT_SETTABLE = ("orientation", "magnetic")
_EXAMPLES = ("sphere", "core_shell_sphere", "cylinder", "ellipsoid", "vesicle",
             "hollow_cylinder", "parallelepiped", "lamellar", "fractal")


def _sasmodels() -> tuple[Any, Any]:
    """sasmodels.core and sasmodels.direct_model, imported lazily with OpenCL off."""
    os.environ.setdefault("SAS_OPENCL", "none")
    from sasmodels import core, direct_model  # noqa: PLC0415  (heavy, optional at import)

    return core, direct_model


@lru_cache(maxsize=1)
def sasmodels_names() -> tuple[str, ...]:
    """Names of the models shipped with the installed sasmodels."""
    core, _ = _sasmodels()
    return tuple(core.list_models())


@cache
def _model_info(name: str) -> Any:
    core, _ = _sasmodels()
    return core.load_model_info(name)


@cache
def _kernel_model(name: str) -> Any:
    core, _ = _sasmodels()
    return core.build_model(_model_info(name), dtype="double", platform="dll")


# --------------------------------------------------------------------------- model checks


def _has_1d_kernel(info: Any) -> bool:
    """True if the model defines I(q) (Iq or Fq), not only 2-D kernels."""
    if info.Iq is not None or getattr(info, "Fq", None) is not None or info.have_Fq:
        return True
    if not info.compiled:
        return False
    from sasmodels import generate  # noqa: PLC0415

    text = info.c_code or ""
    for path in generate.model_sources(info):
        with open(path, encoding="utf-8") as handle:
            text += handle.read()
    return re.search(r"\b(Iq|Fq)\s*\(", text) is not None


def check_model(name: str, info: Any) -> None:
    """InputError unless the sasmodels model ``name`` is a 1-D form factor."""
    if info.structure_factor:
        raise InputError(f"sasmodels:{name} is a structure factor, not a particle shape; "
                         "use a form-factor model")
    if not _has_1d_kernel(info):
        raise InputError(f"sasmodels:{name} defines only 2-D (oriented) kernels and no I(q); "
                         "use a model with a 1-D I(q)")


def _unknown_model(name: str) -> InputError:
    return InputError(
        f"unknown model {name!r}: not one of the {len(sasmodels_names())} models of sasmodels "
        f"(e.g. {', '.join(_EXAMPLES)}); the built-in shapes are listed by "
        "saxs.models.known_models()")


# --------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class _Param:
    """One settable parameter: our name, sasmodels id, factor ours -> sasmodels, kind."""

    ours: str
    sas: str
    factor: float
    kind: str  # "volume", "sld", "other"
    vector: bool


@dataclass(frozen=True)
class _Plan:
    """How a (model, size parameter, homogeneous) maps onto sasmodels' call parameters."""

    model: str
    size: _Param
    size_limits: tuple[float, float]
    params: tuple[_Param, ...]
    specs: tuple[ParameterSpec, ...]
    homogeneous: bool
    solvent: tuple[str, ...]
    sld_scalar: tuple[str, ...]
    sld_vector: tuple[str, ...]
    full_lengths: tuple[str, ...]
    radial_lengths: tuple[str, ...]


def _is_length(par: Any) -> bool:
    return par.units == "Ang"


def _settable(info: Any) -> list[Any]:
    """sasmodels call parameters one can set (vector parameters expanded)."""
    return [p for p in info.parameters.call_parameters
            if p.id not in ("scale", "background") and p.type not in _NOT_SETTABLE]


def _vector_ids(info: Any) -> set[str]:
    ids = set()
    for par in info.parameters.kernel_parameters:
        if par.length > 1:
            ids.update(f"{par.id}{k}" for k in range(1, par.length + 1))
    return ids


def _spec(par: Any, ours: str, factor: float, required: bool) -> ParameterSpec:
    low, high = (float(v) for v in par.limits)
    unit = "nm" if factor != 1.0 else (SLD_UNIT if par.type == "sld" else par.units or "")
    default = None if required else float(par.default) / factor
    return ParameterSpec(ours, unit, default, low / factor, high / factor,
                         par.description or "")


def _size_id(name: str, info: Any, size: str | None) -> str:
    volume = [p for p in _settable(info) if p.type == "volume"]
    lengths = [p.id for p in volume if _is_length(p)]
    listed = ", ".join(f"{p.id}_nm" if _is_length(p) else p.id for p in volume) or "none"
    if size is None:
        if not lengths:
            raise InputError(f"sasmodels:{name} has no volume parameter in A that could be the "
                             f"size (its volume parameters: {listed})")
        return "radius" if "radius" in lengths else lengths[0]
    wanted = str(size).removesuffix("_nm")
    if wanted not in lengths:
        raise InputError(f"sasmodels:{name}: size parameter {size!r} is not a volume length "
                         f"of the model; choose one of {listed}")
    return wanted


@cache
def _plan(name: str, size_id: str, homogeneous: bool) -> _Plan:
    info = _model_info(name)
    vector = _vector_ids(info)
    size = None
    params = []
    specs = []
    for par in _settable(info):
        length = _is_length(par)
        factor = A_PER_NM if length else 1.0
        ours = f"{par.id}_nm" if length else par.id
        entry = _Param(ours, par.id, factor, par.type if par.type in ("volume", "sld")
                       else "other", par.id in vector)
        if par.id == size_id:
            size = entry
            size_limits = tuple(float(v) / factor for v in par.limits)
            continue
        if homogeneous and par.type == "sld":
            continue
        required = par.type in ("volume", "sld") and par.id not in vector
        params.append(entry)
        specs.append(_spec(par, ours, factor, required))
    slds = [p for p in params if p.kind == "sld"]
    solvent = tuple(p.sas for p in slds if "solvent" in p.sas)
    lengths = [p for p in params if p.kind == "volume" and p.factor != 1.0] + [size]
    full = tuple(p.sas for p in lengths if p.sas.startswith("length") or p.sas == "d_spacing")
    return _Plan(
        model=name, size=size, size_limits=size_limits, params=tuple(params),
        specs=tuple(specs), homogeneous=homogeneous, solvent=solvent,
        sld_scalar=tuple(p.sas for p in slds if not p.vector and p.sas not in solvent),
        sld_vector=tuple(p.sas for p in slds if p.vector and p.sas not in solvent),
        full_lengths=full,
        radial_lengths=tuple(p.sas for p in lengths if p.sas not in full),
    )


# --------------------------------------------------------------------------- the shape


class SasmodelsFormFactor(FormFactor):
    """Base of the bridge classes: one per (sasmodels model, size parameter, homogeneous).

    Made by :func:`sasmodel`; see the module docstring for units, required parameters and the
    normalisation of K. ``sasmodels_parameters(size_nm)`` shows exactly what is passed to
    sasmodels.
    """

    _plan: ClassVar[_Plan]

    def __init__(self, **parameters: Any) -> None:
        plan = self._plan
        info = _model_info(plan.model)
        ours = {p.ours for p in plan.params} | {plan.size.ours}
        for key in parameters:
            if key in ours:
                continue
            par = next((p for p in info.parameters.call_parameters if p.id == key), None)
            if key in ("scale", "background"):
                raise InputError(f"{self.label}: {key} is not a shape parameter (always "
                                 "scale = 1, background = 0 here)")
            if par is not None and par.type in _NOT_SETTABLE:
                raise InputError(f"{self.label}: {par.type} parameter {key!r} cannot be set "
                                 "(the 1-D intensity is orientation-averaged, non-magnetic)")
            if par is not None and f"{key}_nm" in ours:
                raise InputError(f"{self.label}: give {key} in nm as {key}_nm (sasmodels' "
                                 f"{key} is in A)")
        super().__init__(**parameters)
        if self._reference_sld() == 0.0:
            slds = {p.ours: self.parameters[p.ours] for p in plan.params if p.kind == "sld"}
            raise InputError(f"{self.label}: the SLDs {slds} (1e-6/A^2) give no contrast; "
                             "the particle would not scatter")

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # the class is made at run time: rebuild it from the model name and size parameter
        return (_rebuild, (self._plan.model, self._plan.size.ours, dict(self.parameters)))

    # ------------------------------------------------------------------ description
    @property
    def contrast_per_cm2(self) -> float | None:
        """None for a homogeneous model, else the reference contrast (1/cm^2, module doc)."""
        if self._plan.homogeneous:
            return None
        return self._reference_sld() * SLD_UNIT_PER_CM2

    def _reference_sld(self) -> float:
        plan = self._plan
        if plan.homogeneous:
            return 1.0
        value = {p.sas: self.parameters[p.ours] for p in plan.params}
        others = plan.sld_scalar or plan.sld_vector
        if plan.solvent:
            solvent = value[plan.solvent[0]]
            return max((abs(value[s] - solvent) for s in others), default=0.0)
        if len(others) == 1:
            return abs(value[others[0]])
        if not others:
            return 1.0
        return max(abs(value[a] - value[b]) for a in others for b in others)

    def sasmodels_parameters(self, size_nm: float) -> dict[str, float]:
        """The keyword parameters passed to sasmodels for one size (sasmodels' units, A)."""
        plan = self._plan
        pars = {"scale": 1.0, "background": 0.0,
                plan.size.sas: float(size_nm) * plan.size.factor}
        for p in plan.params:
            pars[p.sas] = self.parameters[p.ours] * p.factor
        if plan.homogeneous:
            pars.update(sld=1.0, sld_solvent=0.0)
        return pars

    # ------------------------------------------------------------------ numbers
    def _check_sizes(self, sizes: np.ndarray) -> None:
        low, high = self._plan.size_limits
        if np.any(sizes < low) or np.any(sizes > high):
            raise InputError(f"{self.label}: sizes {self.size.name} must lie in "
                             f"[{low:g}, {high:g}] nm (sasmodels' limits)")

    def _evaluate(self, q_per_a: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray,
                                                                        np.ndarray]:
        """<F^2> (n_sizes, n_q) and form volumes (A^3) from sasmodels, one call per size."""
        self._check_sizes(sizes)
        _, direct_model = _sasmodels()
        kernel = _kernel_model(self._plan.model).make_kernel([q_per_a])
        f2 = np.empty((sizes.size, q_per_a.size))
        volume = np.empty(sizes.size)
        try:
            for i, size in enumerate(sizes):
                _, f2_i, _, shell, ratio = direct_model.call_Fq(
                    kernel, self.sasmodels_parameters(size), mono=True)
                f2[i] = f2_i
                volume[i] = shell * ratio
        finally:
            kernel.release()
        if not np.all(np.isfinite(volume)) or np.any(volume <= 0):
            raise InputError(f"{self.label}: sasmodels reports a non-positive volume for "
                             f"some sizes in [{sizes.min():g}, {sizes.max():g}] nm")
        return f2, volume

    def _volume(self, sizes: np.ndarray) -> np.ndarray:
        _, volume = self._evaluate(np.array([_VOLUME_Q_PER_A]), sizes)
        return volume / A_PER_NM**3

    def _kernel(self, q: np.ndarray, sizes: np.ndarray) -> np.ndarray:
        f2, volume = self._evaluate(np.ascontiguousarray(q / A_PER_NM), sizes)
        ref = self._reference_sld()
        return f2 / volume[:, None] / (0.1 * ref * ref)

    def _extent(self, sizes: np.ndarray) -> np.ndarray:
        plan = self._plan
        total = np.zeros_like(sizes)
        for sas_id, weight in ([(s, 1.0) for s in plan.full_lengths]
                               + [(s, 2.0) for s in plan.radial_lengths]):
            if sas_id == plan.size.sas:
                total = total + weight * sizes
            else:
                ours = next(p.ours for p in plan.params if p.sas == sas_id)
                total = total + weight * self.parameters[ours]
        return total


@cache
def _bridge_class(name: str, size_id: str, homogeneous: bool) -> type[SasmodelsFormFactor]:
    plan = _plan(name, size_id, homogeneous)
    title = _model_info(name).title or name
    attrs = {
        "name": f"{_PREFIX}{name}",
        "size": ParameterSpec(plan.size.ours, "nm", lower=plan.size_limits[0],
                              upper=plan.size_limits[1]),
        "PARAMETERS": plan.specs,
        "description": f"sasmodels {name}: {title}",
        "_plan": plan,
        "__module__": __name__,
    }
    class_name = "Sasmodels_" + re.sub(r"\W", "_", name)
    return type(class_name, (SasmodelsFormFactor,), attrs)


def sasmodel(name: str, size: str | None = None, **fixed: Any) -> FormFactor:
    """A 1-D sasmodels model as a :class:`~saxs.models.formfactor.FormFactor`.

    Parameters
    ----------
    name : str
        A sasmodels model name ("cylinder", "core_shell_sphere", "vesicle", ...; a leading
        "sasmodels:" is accepted). Its label is "sasmodels:NAME".
    size : str, optional
        The sasmodels volume parameter (in A in sasmodels) that is the size, e.g. "length"
        or "length_nm"; default "radius" if the model has it, else its first volume length.
    **fixed
        Fixed parameters: lengths in nm with a ``_nm`` suffix, SLDs in 1e-6/A^2, others in
        sasmodels' units (module docstring).

    Returns
    -------
    FormFactor
        K(q, s) = <F^2> / (V_form drho_ref^2 1e-21) in nm^3 from sasmodels' C kernel (same
        accuracy as sasmodels; its adaptive 20/76/500/5000-point orientation quadrature).

    Raises
    ------
    InputError
        Unknown model, structure factor or 2-D-only model, bad size parameter, missing,
        unknown or out-of-range parameters, zero contrast.

    Examples
    --------
    >>> sasmodel("cylinder", length_nm=20.0).label
    'sasmodels:cylinder'
    """
    if not isinstance(name, str) or not name.strip():
        raise InputError(f"sasmodel: the model must be a sasmodels name, got {name!r}")
    model = name.strip().removeprefix(_PREFIX)
    if model not in sasmodels_names():
        raise _unknown_model(model)
    info = _model_info(model)
    check_model(model, info)
    size_id = _size_id(model, info, size)
    sld_ids = {p.id for p in _settable(info) if p.type == "sld"}
    homogeneous = (sld_ids == {"sld", "sld_solvent"}
                   and not ({"sld", "sld_solvent"} & set(fixed)))
    return _bridge_class(model, size_id, homogeneous)(**fixed)


def _rebuild(name: str, size: str, parameters: dict[str, float]) -> FormFactor:
    return sasmodel(name, size=size, **parameters)


def sasmodel_intensity_per_cm(name: str, q_nm: Any, **pars_sasmodels: float) -> np.ndarray:
    """sasmodels' own I(q) (1/cm) for parameters in its units (A), scale/background as given.

    A thin convenience for comparisons: ``q_nm`` in 1/nm is converted to 1/A.
    """
    if name not in sasmodels_names():
        raise _unknown_model(name)
    _, direct_model = _sasmodels()
    q = np.ascontiguousarray(np.atleast_1d(np.asarray(q_nm, dtype=np.float64)) / A_PER_NM)
    kernel = _kernel_model(name).make_kernel([q])
    try:
        return np.asarray(direct_model.call_kernel(kernel, dict(pars_sasmodels), mono=True))
    finally:
        kernel.release()


__all__ = ["SASMODELS_TESTED", "SasmodelsFormFactor", "check_model", "sasmodel",
           "sasmodel_intensity_per_cm", "sasmodels_names"]
