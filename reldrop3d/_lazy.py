"""Lazy attributes of a package: its subpackages and names load on first use.

``import reldrop3d`` then costs almost nothing, so the command line answers
``--help`` and argument errors before torch is imported, and ``rd.train`` or
``rd.evaluate`` still work after ``import reldrop3d as rd``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable


def attach(package: str, names: dict[str, str]) -> tuple[Callable, Callable, list[str]]:
    """``(__getattr__, __dir__, __all__)`` for ``package``.

    ``names`` maps each public name to the module that defines it, relative to
    the package (``""`` for a subpackage of the same name: ``{"drop": ""}``
    makes ``package.drop`` the subpackage ``package.drop``).
    """

    def __getattr__(name: str):
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        if names[name] == "":
            return importlib.import_module(f"{package}.{name}")
        value = getattr(importlib.import_module(f"{package}.{names[name]}"), name)
        globals_ = importlib.import_module(package).__dict__
        globals_[name] = value  # later lookups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted(names)

    return __getattr__, __dir__, sorted(names)
