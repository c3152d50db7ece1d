"""Module attributes that import their module on first access (keeps imports cheap)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_attributes(package: str, namespace: dict[str, Any], names: Mapping[str, str],
                    submodules: tuple[str, ...] = ()) -> tuple[Callable, Callable]:
    """``__getattr__`` and ``__dir__`` for ``package``.

    ``names`` maps an attribute to the module defining it; ``submodules`` are returned as
    modules. A looked-up attribute is cached in ``namespace`` (the package's globals).
    """

    def __getattr__(name: str) -> Any:  # noqa: N807
        if name in submodules:
            return importlib.import_module(f"{package}.{name}")
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:  # noqa: N807
        return sorted(set(namespace) | set(names) | set(submodules))

    return __getattr__, __dir__
