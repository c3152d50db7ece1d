"""The 1-D scattering curve I(q) with its uncertainties, metadata and provenance."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from saxs.errors import InputError

INTENSITY_UNITS = ("1/cm", "arb")


def readonly_array(values: Any, name: str, owner: str) -> np.ndarray:
    """A read-only, C-contiguous 1-D float64 copy of ``values``."""
    try:
        array = np.array(values, dtype=np.float64, copy=True, order="C")
    except (TypeError, ValueError) as exc:
        raise InputError(f"{owner}.{name}: not numeric ({exc})") from None
    if array.ndim != 1:
        raise InputError(f"{owner}.{name} must be 1-D, got shape {array.shape}")
    array.flags.writeable = False
    return array


def jsonable(value: Any) -> Any:
    """``value`` as JSON-ready Python values: an object's own ``to_dict()`` when it has one,
    other dataclasses field by field (:func:`fields_dict`), numpy scalars and arrays, mappings
    and sequences element by element."""
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict) and not isinstance(value, type):
        return jsonable(to_dict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return fields_dict(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def fields_dict(obj: Any, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """A dataclass's fields (but ``skip``) as JSON-ready values (:func:`jsonable`)."""
    return {f.name: jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)
            if f.name not in skip}


class FrozenMapping(Mapping[str, Any]):
    """A read-only, picklable mapping (``types.MappingProxyType`` cannot be pickled)."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        self._data = dict(data or {})

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"FrozenMapping({self._data!r})"

    def __getstate__(self) -> dict[str, Any]:
        return self._data

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._data = state


def frozen_mapping(values: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """A read-only copy of ``values`` with numpy scalars made plain (JSON-ready)."""
    return FrozenMapping({str(k): jsonable(v) for k, v in dict(values or {}).items()})


@dataclass(frozen=True)
class Step:
    """One processing step in a curve's provenance: what was done and with which parameters."""

    action: str
    parameters: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=True)

    def __post_init__(self) -> None:
        if not self.action:
            raise InputError("Step.action must be a non-empty string")
        object.__setattr__(self, "parameters", frozen_mapping(self.parameters))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"action": self.action, "parameters": dict(self.parameters)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Step:
        """Inverse of :meth:`to_dict`."""
        return cls(str(data["action"]), dict(data.get("parameters", {})))


def provenance_to_json(steps: tuple[Step, ...]) -> str:
    """Serialise a provenance tuple to JSON text."""
    return json.dumps([s.to_dict() for s in steps])


def provenance_from_json(text: str) -> tuple[Step, ...]:
    """Inverse of :func:`provenance_to_json`."""
    return tuple(Step.from_dict(d) for d in json.loads(text or "[]"))


@dataclass(frozen=True, eq=False)
class Curve:
    """An azimuthally averaged scattering curve.

    Parameters
    ----------
    q : array
        Scattering vector, strictly increasing, in ``q_unit`` (always "1/nm" inside the package).
    intensity : array
        I(q) in ``intensity_unit``: "1/cm" (absolute) or "arb".
    sigma : array
        One-standard-deviation uncertainty of ``intensity``, > 0.
    metadata : mapping
        Sample name, temperature_c, reaction_time_s, transmission, thickness_cm, ...
    provenance : tuple of Step
        The processing steps applied, oldest first.
    q_resolution : array or None
        Standard deviation of the Gaussian q resolution at each point (pinhole smearing,
        NXcanSAS ``Qdev``), in ``q_unit``, >= 0 (0: no smearing at that point); None when
        unknown. Used by :func:`saxs.fit_curve` to smear models.
    """

    q: np.ndarray
    intensity: np.ndarray
    sigma: np.ndarray
    q_unit: str = "1/nm"
    intensity_unit: str = "arb"
    metadata: Mapping[str, Any] = field(default_factory=dict)
    provenance: tuple[Step, ...] = ()
    q_resolution: np.ndarray | None = None

    def __post_init__(self) -> None:
        for name in ("q", "intensity", "sigma"):
            object.__setattr__(self, name, readonly_array(getattr(self, name), name, "Curve"))
        n = self.q.size
        if self.intensity.size != n or self.sigma.size != n:
            raise InputError(f"Curve arrays differ in length: q {n}, intensity "
                             f"{self.intensity.size}, sigma {self.sigma.size}")
        if self.q_resolution is not None:
            dq = readonly_array(self.q_resolution, "q_resolution", "Curve")
            if dq.size != n:
                raise InputError(f"Curve.q_resolution has {dq.size} values for {n} points; "
                                 "give one standard deviation per q (or None)")
            object.__setattr__(self, "q_resolution", dq)
        if n == 0:
            raise InputError("Curve has no points")
        if self.q_unit != "1/nm":
            raise InputError(f"Curve.q_unit must be '1/nm' (convert at the reader), got "
                             f"{self.q_unit!r}")
        if self.intensity_unit not in INTENSITY_UNITS:
            raise InputError(f"Curve.intensity_unit must be one of {INTENSITY_UNITS}, got "
                             f"{self.intensity_unit!r}")
        self._check_values()
        object.__setattr__(self, "metadata", frozen_mapping(self.metadata))
        steps = tuple(self.provenance)
        if not all(isinstance(s, Step) for s in steps):
            raise InputError("Curve.provenance must be a tuple of Step")
        object.__setattr__(self, "provenance", steps)

    def _check_values(self) -> None:
        for name in ("q", "intensity", "sigma"):
            bad = np.flatnonzero(~np.isfinite(getattr(self, name)))
            if bad.size:
                raise InputError(f"Curve.{name} has {bad.size} non-finite value(s), first at "
                                 f"index {bad[0]}; drop those points before building the curve")
        if self.q.size > 1 and np.any(np.diff(self.q) <= 0):
            i = int(np.flatnonzero(np.diff(self.q) <= 0)[0])
            raise InputError(f"Curve.q must be strictly increasing; q[{i}] = {self.q[i]} >= "
                             f"q[{i + 1}] = {self.q[i + 1]}")
        bad = np.flatnonzero(self.sigma <= 0)
        if bad.size:
            raise InputError(f"Curve.sigma must be > 0; {bad.size} point(s) are not, first at "
                             f"q = {self.q[bad[0]]} 1/nm")
        if self.q_resolution is not None:
            bad = np.flatnonzero(~np.isfinite(self.q_resolution) | (self.q_resolution < 0))
            if bad.size:
                raise InputError(f"Curve.q_resolution must be finite and >= 0; {bad.size} "
                                 f"value(s) are not, first at q = {self.q[bad[0]]} 1/nm")

    def __len__(self) -> int:
        return int(self.q.size)

    def with_step(self, action: str, **parameters: Any) -> Curve:
        """A copy with one more provenance step (values unchanged)."""
        return replace(self, provenance=(*self.provenance, Step(action, parameters)))

    def replace(self, **changes: Any) -> Curve:
        """A copy with fields changed (validated again).

        A new ``q`` of another length without a new ``q_resolution`` drops the resolution
        (it described the old points); pass ``q_resolution=`` to keep one.
        """
        if ("q" in changes and "q_resolution" not in changes and self.q_resolution is not None
                and np.size(changes["q"]) != self.q.size):
            changes["q_resolution"] = None
        return replace(self, **changes)

    def select(self, q_min: float | None = None, q_max: float | None = None) -> Curve:
        """The points with q_min <= q <= q_max (bounds in 1/nm), as a new curve."""
        keep = np.ones(self.q.size, dtype=bool)
        if q_min is not None:
            keep &= self.q >= q_min
        if q_max is not None:
            keep &= self.q <= q_max
        if not keep.any():
            raise InputError(f"no point of the curve lies in q = [{q_min}, {q_max}] 1/nm "
                             f"(the curve spans {self.q[0]:.4g} to {self.q[-1]:.4g} 1/nm)")
        dq = None if self.q_resolution is None else self.q_resolution[keep]
        return replace(self, q=self.q[keep], intensity=self.intensity[keep],
                       sigma=self.sigma[keep], q_resolution=dq).with_step(
                           "select", q_min_nm=q_min, q_max_nm=q_max)
