"""Reading the simulation scenario's YAML sections into typed objects, with clear errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from saxs.errors import InputError

_REQUIRED = object()


class Section:
    """A YAML mapping read key by key; unknown keys are an error when :meth:`done` is called."""

    def __init__(self, data: Any, where: str) -> None:
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise InputError(f"{where}: expected a mapping of keys, got {type(data).__name__}")
        self.data = dict(data)
        self.where = where
        self.used: set[str] = set()

    def get(self, key: str, default: Any = _REQUIRED, kind: type | tuple = object) -> Any:
        """The value of ``key`` (checked against ``kind``) or ``default``."""
        self.used.add(key)
        if key not in self.data:
            if default is _REQUIRED:
                raise InputError(f"{self.where}: required key {key!r} is missing")
            return default
        value = self.data[key]
        if kind in (float, (float,)) and isinstance(value, int | float | str):
            try:
                value = float(value)
            except ValueError:
                raise InputError(f"{self.where}.{key}: {value!r} is not a number") from None
        if kind is int and isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            expected = getattr(kind, "__name__", str(kind))
            raise InputError(f"{self.where}.{key}: expected {expected}, got {value!r}")
        return value

    def section(self, key: str, required: bool = False) -> Section:
        """A nested section (empty if absent and not required)."""
        value = self.get(key, _REQUIRED if required else None)
        return Section(value, f"{self.where}.{key}")

    def items(self, key: str) -> list[Section]:
        """A list of nested sections."""
        values = self.get(key, [], list)
        return [Section(v, f"{self.where}.{key}[{i}]") for i, v in enumerate(values)]

    def done(self) -> None:
        """Raise if the mapping had keys nobody asked for (typos)."""
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise InputError(f"{self.where}: unknown key(s) {', '.join(map(repr, unknown))}; "
                             f"known here: {', '.join(sorted(self.used))}")
