"""Named extension points: backbones, dataset layouts and losses are registered by name.

A :class:`Registry` maps names to entries in registration order. The package registers
its own entries when the module that defines them is imported; a user's module adds more
with the decorators built on it (``reid_fast.models.register_backbone``,
``reid_fast.data.register_layout``, ``reid_fast.losses.register_loss``), without editing
the package. The command line takes its choices from the registries, and ``reid-fast
train --plugins MODULE`` imports a user's module first (:func:`import_plugins`; the run
records it, so later commands on the run import it too; docs/design.md 11).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Iterator, Mapping, Sequence, TypeVar

T = TypeVar("T")


class Registry(Mapping[str, T]):
    """Names -> entries of one kind (``kind`` names it in messages: "arch", "layout",
    "loss"). Read like a dict; :meth:`add` and :meth:`remove` change it."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T, *, replace: bool = False) -> T:
        """Register ``entry`` as ``name`` and return it. A name is a non-empty string
        without whitespace; registering a taken name needs ``replace=True``."""
        if not isinstance(name, str):
            raise TypeError(f"{self.kind} name must be a string, got {type(name).__name__} "
                            f"{name!r}")
        if not name or any(c.isspace() for c in name):
            raise ValueError(f"{self.kind} name must be non-empty without whitespace, got {name!r}")
        if name in self._entries and not replace:
            raise ValueError(f"{self.kind} {name!r} is already registered; pass replace=True "
                             f"to replace it")
        self._entries[name] = entry
        return entry

    def remove(self, name: str) -> T:
        """Unregister ``name`` and return its entry."""
        self.lookup(name)
        return self._entries.pop(name)

    def lookup(self, name: str) -> T:
        """The entry of ``name``; ValueError listing the registered names otherwise."""
        if name not in self._entries:
            raise ValueError(f"{self.kind} must be one of {', '.join(self._entries)}; "
                             f"got {name!r}")
        return self._entries[name]

    def __getitem__(self, name: str) -> T:
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self._entries)})"


def plugin_reference(plugin: str) -> str:
    """What a run records for a plugin: a ``.py`` path made absolute (the run may be
    loaded from another folder), a module name as it is."""
    return str(Path(plugin).resolve()) if plugin.endswith(".py") else plugin


def import_plugins(plugins: Sequence[str]) -> list[ModuleType]:
    """Import the user modules that register backbones, layouts or losses (each once).

    Each item is an importable module name (``my_lab.backbones``) or the path of a ``.py``
    file (loaded as a module named after the file). Returns the modules.
    """
    if isinstance(plugins, (str, bytes)) or not isinstance(plugins, Sequence):
        raise TypeError(f"plugins must be a sequence of module names or .py paths, got "
                        f"{type(plugins).__name__} {plugins!r}")
    modules = []
    for plugin in plugins:
        if not isinstance(plugin, str) or not plugin:
            raise TypeError(f"plugins must hold module names or .py paths, got {plugin!r}")
        if plugin.endswith(".py"):
            modules.append(_import_file(Path(plugin).resolve()))
        else:
            modules.append(importlib.import_module(plugin))
    return modules


def _import_file(path: Path) -> ModuleType:
    for module in list(sys.modules.values()):
        if getattr(module, "__file__", None) == str(path):
            return module
    if not path.is_file():
        raise FileNotFoundError(f"plugin file not found: {path}")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[path.stem]
        raise
    return module
