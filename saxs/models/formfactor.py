"""One particle shape: :class:`FormFactor` and its parameters; the sphere.

A form factor is the scattering of one kind of particle whose *size parameter* (a radius, in
nm) varies while its other parameters are fixed. What it computes is

    K(q, s) = V(s) P(q, s)   (nm^3),

the scattering per unit volume fraction and unit squared contrast, so that a population of such
particles at volume fraction phi scatters

    I(q) = phi drho^2 1e-21 K(q, s)   (1/cm, drho in 1/cm^2, 1e-21 cm^3 per nm^3).

For a homogeneous particle P is the normalised form factor (P(0) = 1) and drho its contrast
against the solvent, supplied by the user (``contrast_per_cm2`` is None). A particle with an SLD
profile (a core-shell sphere, most sasmodels models) fixes its SLDs as parameters; its K is then
normalised by the shape's own reference contrast ``contrast_per_cm2`` (stated per shape), and
the same formula gives I(q) with drho = that reference contrast.

Shapes are made by :func:`saxs.models.registry.form_factor` from a name and fixed parameters
(built-in shapes, see :func:`~saxs.models.registry.known_models`; any other name is looked up in
sasmodels, :mod:`saxs.models.bridge`).
Parameters carry their unit in their name (``length_nm``) or, for SLDs, are in 1e-6 1/A^2 as in
SasView (stated in ``parameter_units``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from saxs.curve import frozen_mapping
from saxs.errors import InputError

#: Unit of SLD parameters (as in SasView and sasmodels).
SLD_UNIT = "1e-6/A^2"
#: 1e-6 1/A^2 in 1/cm^2.
SLD_UNIT_PER_CM2 = 1e10


@dataclass(frozen=True)
class ParameterSpec:
    """A parameter of a shape: name (with its unit), unit, default (None: required), bounds."""

    name: str
    unit: str
    default: float | None = None
    lower: float = -math.inf
    upper: float = math.inf
    description: str = ""

    def check(self, owner: str, value: Any) -> float:
        """``value`` as a float within the bounds, or InputError naming ``owner.name``."""
        if isinstance(value, bool):
            raise InputError(f"{owner}: parameter {self.name} must be a number, got {value!r}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise InputError(f"{owner}: parameter {self.name} must be a number, got "
                             f"{value!r}") from None
        if not math.isfinite(number) or not self.lower <= number <= self.upper:
            raise InputError(f"{owner}: parameter {self.name} = {value!r} is outside "
                             f"[{self.lower:g}, {self.upper:g}] {self.unit}")
        return number


def size_array(size_nm: Any, owner: str) -> np.ndarray:
    """Sizes as a 1-D float64 array, all finite and > 0."""
    try:
        sizes = np.atleast_1d(np.asarray(size_nm, dtype=np.float64))
    except (TypeError, ValueError):
        raise InputError(f"{owner}: sizes must be numbers, got {size_nm!r}") from None
    if sizes.ndim != 1 or not np.all(np.isfinite(sizes)) or np.any(sizes <= 0):
        raise InputError(f"{owner}: sizes must be finite and > 0 (nm), got {size_nm!r}")
    return np.ascontiguousarray(sizes)


def q_array(q_nm: Any, owner: str) -> np.ndarray:
    """q as a 1-D float64 array, finite and >= 0 (1/nm)."""
    try:
        q = np.atleast_1d(np.asarray(q_nm, dtype=np.float64))
    except (TypeError, ValueError):
        raise InputError(f"{owner}: q must be numbers, got {q_nm!r}") from None
    if q.ndim != 1 or not np.all(np.isfinite(q)) or np.any(q < 0):
        raise InputError(f"{owner}: q must be a 1-D array of finite values >= 0 (1/nm)")
    return np.ascontiguousarray(q)


class FormFactor:
    """Base class of particle shapes (see the module docstring for what K(q, s) is).

    Subclasses set ``name``, ``size`` (a :class:`ParameterSpec` of the size parameter),
    ``PARAMETERS`` (the fixed ones) and implement ``_volume`` and ``_kernel``. Instances are
    immutable, picklable and compare by name and parameters.
    """

    name: ClassVar[str] = ""
    size: ClassVar[ParameterSpec] = ParameterSpec("radius_nm", "nm", lower=0.0)
    PARAMETERS: ClassVar[tuple[ParameterSpec, ...]] = ()
    description: ClassVar[str] = ""

    def __init__(self, **parameters: Any) -> None:
        values = self._check_parameters(self.label, self.PARAMETERS, self.size, parameters)
        object.__setattr__(self, "_parameters", frozen_mapping(values))

    @staticmethod
    def _check_parameters(owner: str, specs: tuple[ParameterSpec, ...], size: ParameterSpec,
                          given: Mapping[str, Any]) -> dict[str, float]:
        known = {spec.name: spec for spec in specs}
        for name in given:
            if name == size.name:
                raise InputError(f"{owner}: {name} is the size parameter (drawn by the Monte "
                                 "Carlo, fitted by lmfit); it cannot be fixed")
            if name not in known:
                raise InputError(f"{owner}: unknown parameter {name!r}; the fixed parameters "
                                 f"are {sorted(known) or 'none'}")
        values = {}
        for spec in specs:
            if spec.name in given:
                values[spec.name] = spec.check(owner, given[spec.name])
            elif spec.default is None:
                raise InputError(f"{owner}: parameter {spec.name} ({spec.unit}) is required"
                                 + (f": {spec.description}" if spec.description else ""))
            else:
                values[spec.name] = float(spec.default)
        return values

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    # ------------------------------------------------------------------ description
    @property
    def label(self) -> str:
        """The model's name as the user writes it."""
        return self.name

    @property
    def parameters(self) -> Mapping[str, float]:
        """The fixed parameters, in the units of ``parameter_units``."""
        return self._parameters  # type: ignore[attr-defined]

    @property
    def size_parameter(self) -> str:
        """Name of the size parameter (nm), e.g. "radius_nm"."""
        return self.size.name

    @property
    def parameter_units(self) -> dict[str, str]:
        """Unit of every parameter, the size parameter included."""
        return {self.size.name: self.size.unit, **{p.name: p.unit for p in self.PARAMETERS}}

    @property
    def contrast_per_cm2(self) -> float | None:
        """Reference contrast by which K is normalised (None: homogeneous, user's contrast)."""
        return None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description: {"model", "size_parameter", "parameters"}."""
        return {"model": self.label, "size_parameter": self.size_parameter,
                "parameters": dict(self.parameters)}

    @property
    def key(self) -> tuple[Any, ...]:
        """Hashable identity (model and fixed parameters)."""
        return (self.label, tuple(sorted(self.parameters.items())))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FormFactor) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __repr__(self) -> str:
        fixed = ", ".join(f"{k}={v:g}" for k, v in self.parameters.items())
        return f"form_factor({self.label!r}{', ' if fixed else ''}{fixed})"

    def __reduce__(self) -> tuple[Callable[..., FormFactor], tuple[Any, ...]]:
        # A module-level class and its fixed parameters (classes made at run time, as the
        # sasmodels bridge does, override this).
        return (_construct, (type(self), dict(self.parameters)))

    # ------------------------------------------------------------------ numbers
    def volume_nm3(self, size_nm: Any) -> np.ndarray:
        """Particle volume V(s) in nm^3 for each size (nm); the whole particle (shell included)."""
        return self._volume(size_array(size_nm, self.label))

    def max_dimension_nm(self, size_nm: Any) -> np.ndarray:
        """Largest dimension of the particle (nm): sets how fast K oscillates with q and s."""
        return self._extent(size_array(size_nm, self.label))

    def intensity(self, q_nm: Any, size_nm: Any) -> np.ndarray:
        """K(q, s) = V(s) P(q, s) in nm^3, shape (n_sizes, n_q) (see the module docstring)."""
        q = q_array(q_nm, self.label)
        sizes = size_array(size_nm, self.label)
        return np.asarray(self._kernel(q, sizes), dtype=np.float64).reshape(sizes.size, q.size)

    def intensity_per_cm(self, q_nm: Any, size_nm: Any, volume_fraction: float,
                         contrast_per_cm2: float | None = None) -> np.ndarray:
        """Absolute intensity phi drho^2 1e-21 K(q, s) (1/cm), shape (n_sizes, n_q).

        ``contrast_per_cm2`` is required for homogeneous shapes and must be left out for shapes
        with their own SLDs.
        """
        drho = self.resolve_contrast(contrast_per_cm2)
        return volume_fraction * drho**2 * 1e-21 * self.intensity(q_nm, size_nm)

    def resolve_contrast(self, contrast_per_cm2: float | None) -> float:
        """The contrast (1/cm^2) that turns K into absolute intensity for this shape."""
        own = self.contrast_per_cm2
        if own is not None:
            return own
        if contrast_per_cm2 is None or not math.isfinite(contrast_per_cm2):
            raise InputError(f"{self.label}: a homogeneous shape needs the particle-solvent "
                             "contrast (contrast_per_cm2)")
        return float(contrast_per_cm2)

    # ------------------------------------------------------------------ for subclasses
    def _volume(self, sizes: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _extent(self, sizes: np.ndarray) -> np.ndarray:
        return 2.0 * sizes

    def _kernel(self, q: np.ndarray, sizes: np.ndarray) -> np.ndarray:
        raise NotImplementedError


def sphere_volume_nm3(radius_nm: Any) -> Any:
    """V = 4/3 pi R^3 (nm^3): the one sphere-volume formula of the package."""
    return 4.0 / 3.0 * math.pi * np.asarray(radius_nm, dtype=np.float64) ** 3


class Sphere(FormFactor):
    """Homogeneous sphere: K = V(R) [3 (sin x - x cos x) / x^3]^2, x = qR (closed form).

    Evaluated by :mod:`saxs_kernels.sphere` (series below x = 1; relative error < 2e-15 before
    the first zero of P, absolute error < 2e-15 of the envelope 9/x^4 beyond).
    """

    name = "sphere"
    description = "homogeneous sphere (closed form)"

    def _volume(self, sizes: np.ndarray) -> np.ndarray:
        return sphere_volume_nm3(sizes)

    def _kernel(self, q: np.ndarray, sizes: np.ndarray) -> np.ndarray:
        from saxs_kernels.sphere import sphere_form_factor  # noqa: PLC0415  (numba, lazy)

        x = np.ascontiguousarray((sizes[:, None] * q[None, :]).ravel())
        return sphere_volume_nm3(sizes)[:, None] * sphere_form_factor(x).reshape(sizes.size,
                                                                                 q.size)


def _construct(cls: type[FormFactor], parameters: dict[str, float]) -> FormFactor:
    return cls(**parameters)
