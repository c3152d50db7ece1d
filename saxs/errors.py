"""Exceptions raised by the package.

Every message names the file, the key or the value at fault and says what would fix it.
"""

from __future__ import annotations


class SaxsError(Exception):
    """Base class of every error this package raises on purpose."""


class InputError(SaxsError, ValueError):
    """Bad input: a file, a header key, a value or a configuration the package cannot use."""


def where(path: object | None) -> str:
    """Return ``"<path>: "`` for message prefixes, or ``""`` when there is no path."""
    return f"{path}: " if path else ""
