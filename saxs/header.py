"""The raw key/value header of a detector file, with typed accessors.

Keys are kept exactly as written; look-ups ignore case, because ESRF files spell the same key
``PSize_1`` or ``Psize_1``, ``BSize_1`` or ``Bsize_1`` (ID02.md §2.2).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from saxs.curve import FrozenMapping
from saxs.errors import InputError, where
from saxs.units import parse_quantity

_MISSING = object()


def _as_text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace").strip()
    return str(value).strip()


@dataclass(frozen=True, eq=False)
class Header(Mapping[str, str]):
    """Header values as strings, keyed as in the file, looked up case-insensitively.

    Parameters
    ----------
    values : mapping
        Key -> value. Values are converted to stripped strings (bytes are decoded).
    source : str
        Where the header came from (file and dataset), used in error messages.
    """

    values: Mapping[str, str] = field(default_factory=dict)
    source: str = ""
    _folded: Mapping[str, str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        clean = {str(k): _as_text(v) for k, v in dict(self.values).items()}
        object.__setattr__(self, "values", FrozenMapping(clean))
        object.__setattr__(self, "_folded", FrozenMapping({k.lower(): k for k in clean}))

    # Mapping protocol -------------------------------------------------------------------
    def __getitem__(self, key: str) -> str:
        real = self._folded.get(key.lower())
        if real is None:
            raise KeyError(key)
        return self.values[real]

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._folded

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Header):
            return NotImplemented
        return dict(self.values) == dict(other.values)

    __hash__ = None  # type: ignore[assignment]

    # Typed accessors ----------------------------------------------------------------------
    def first_key(self, *keys: str) -> str | None:
        """The first of ``keys`` present in the header (as spelled in the file), or None."""
        for key in keys:
            real = self._folded.get(key.lower())
            if real is not None:
                return real
        return None

    def text(self, *keys: str, default: object = _MISSING) -> str:
        """The value of the first present key among ``keys``, as text."""
        real = self.first_key(*keys)
        if real is None:
            if default is _MISSING:
                raise self._missing(keys)
            return default  # type: ignore[return-value]
        return self.values[real]

    def number(self, *keys: str, default: object = _MISSING, kind: str = "none") -> float:
        """The value of the first present key among ``keys`` as a float.

        ``kind`` ("time", "length", "energy") allows a unit suffix such as ``"0.005 s"``,
        converted to s, m or keV.
        """
        real = self.first_key(*keys)
        if real is None:
            if default is _MISSING:
                raise self._missing(keys)
            return default  # type: ignore[return-value]
        raw = self.values[real]
        try:
            value = parse_quantity(raw, kind)
        except InputError as exc:
            raise InputError(f"{where(self.source)}header key {real!r} = {raw!r}: {exc}") from None
        if not math.isfinite(value):
            raise InputError(f"{where(self.source)}header key {real!r} = {raw!r} is not finite")
        return value

    def integer(self, *keys: str, default: object = _MISSING) -> int:
        """The value of the first present key among ``keys`` as an int."""
        value = self.number(*keys, default=default)
        if value is default:
            return value  # type: ignore[return-value]
        if value != int(value):
            real = self.first_key(*keys)
            raise InputError(f"{where(self.source)}header key {real!r} = {value!r} "
                             "must be a whole number")
        return int(value)

    @property
    def dummy(self) -> float | None:
        """The invalid-pixel marker, or None. ``Dummy = 0`` means no dummy (an ID02 rule)."""
        value = self.number("Dummy", default=None)
        return None if value in (None, 0.0) else value

    @property
    def delta_dummy(self) -> float:
        """Tolerance of the Dummy test: a pixel is invalid if abs(I - Dummy) <= DDummy."""
        return abs(self.number("DDummy", default=0.0))

    @property
    def title(self) -> str:
        """The Title key, or an empty string."""
        return self.text("Title", default="")

    def merged(self, overrides: Mapping[str, object]) -> Header:
        """A new header where ``overrides`` replace keys of the same (case-folded) name."""
        folded = {k.lower() for k in overrides}
        kept = {k: v for k, v in self.values.items() if k.lower() not in folded}
        kept.update({k: _as_text(v) for k, v in overrides.items()})
        return Header(kept, self.source)

    def _missing(self, keys: tuple[str, ...]) -> InputError:
        names = " or ".join(repr(k) for k in keys)
        return InputError(f"{where(self.source)}header key {names} is missing; add it to the "
                          "file header or pass the value explicitly (e.g. a PONI file)")
