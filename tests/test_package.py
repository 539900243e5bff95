"""The architecture of docs/design.md 1, checked on the code: every submodule imports,
no submodule shadows a public name of ``reid_fast``, and imports only go down the layers
(read from each module's import statements, those inside functions included)."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import reid_fast

PACKAGE_DIR = Path(reid_fast.__file__).resolve().parent

# docs/design.md 1: the layers, top to bottom. A module may import its own top-level
# package and any package of a lower layer; nothing imports cli (or a __main__).
LAYERS: list[set[str]] = [
    {"cli", "__main__"},
    {"train", "testtime"},
    {"runs"},
    {"eval", "post", "viz", "losses"},
    {"data", "augment", "models"},
    {"ops", "reference"},
    {"_native", "_build", "validation", "atomic", "registry", "devices", "_openmp"},
    {"_C"},  # the compiled core
]
# Within a layer only these imports are allowed: _build reports what _native loaded, and
# devices asks _build whether reid_fast can use CUDA.
SAME_LAYER = {("_build", "_native"), ("devices", "_build")}


def _layer(top: str) -> int:
    for index, members in enumerate(LAYERS):
        if top in members:
            return index
    raise AssertionError(f"reid_fast.{top} is in no layer of docs/design.md 1: add it there "
                         "and to LAYERS")


def _modules() -> list[str]:
    names = ["reid_fast"]
    for info in pkgutil.walk_packages([str(PACKAGE_DIR)], prefix="reid_fast."):
        names.append(info.name)
    return sorted(names)


def _imports(path: Path, module: str) -> set[str]:
    """The reid_fast modules ``path`` imports (absolute names)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "reid_fast")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "reid_fast":
                continue
            if node.module is None or target in ("reid_fast",):
                # "from . import x" / "from .. import x": the names may be modules
                found.update(f"{target}.{a.name}" for a in node.names)
            else:
                found.add(target)
    return found


def _top(name: str) -> str | None:
    """The first-level part of reid_fast.<top>...; None for the package root."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else None


def _source(module: str) -> Path:
    relative = Path(*module.split(".")[1:])
    package = PACKAGE_DIR / relative / "__init__.py"
    return package if package.is_file() else (PACKAGE_DIR / relative).with_suffix(".py")


def test_every_submodule_imports_and_no_public_name_is_shadowed():
    public = {name: getattr(reid_fast, name) for name in reid_fast.__all__}
    for name in _modules():
        if name.endswith("__main__"):
            continue  # running them is the command line's business
        importlib.import_module(name)
    for name, value in public.items():
        assert getattr(reid_fast, name) is value, f"importing the submodules rebinds reid_fast.{name}"
    # no module or package at the root has the name of a public function
    roots = {p.stem for p in PACKAGE_DIR.iterdir() if p.suffix == ".py" or (p / "__init__.py").is_file()}
    assert not roots & set(reid_fast.__all__), roots & set(reid_fast.__all__)


def test_imports_only_go_down_the_layers():
    violations = []
    for module in _modules():
        top = _top(module)
        if top is None:
            continue  # the root facade: checked below
        source = _source(module)
        here = "__main__" if source.stem == "__main__" else top
        for target in _imports(source, module):
            other = _top(target)
            if other is None:
                if here not in ("cli", "__main__"):
                    violations.append(f"{module} imports the facade reid_fast (only the commands may)")
                continue
            if other == top:
                continue
            if other == "__main__" or other == "cli":
                if here not in ("cli", "__main__"):
                    violations.append(f"{module} imports {target} (nothing imports the commands)")
                continue
            a, b = _layer(here), _layer(other)
            if a > b or (a == b and (top, other) not in SAME_LAYER):
                violations.append(f"{module} (layer of {here}) imports {target} (layer of {other})")
    assert not violations, "\n".join(violations)


def test_the_facade_imports_only_ops_the_core_and_the_inference_api():
    allowed = {"ops", "testtime", "_build", "_native", "_openmp"}
    imported = {_top(t) for t in _imports(PACKAGE_DIR / "__init__.py", "reid_fast")} - {None}
    assert imported <= allowed, imported - allowed


def test_train_and_testtime_do_not_import_each_other():
    for module in _modules():
        top = _top(module)
        if top not in ("train", "testtime") or module.endswith("__main__"):
            continue
        other = "testtime" if top == "train" else "train"
        assert not any(_top(t) == other for t in _imports(_source(module), module)), module


def test_the_layer_check_sees_a_violation(tmp_path):
    # The checker itself: an upward import in a module of ops is found.
    path = tmp_path / "bad.py"
    path.write_text("from ..train import Trainer\n\ndef f():\n    from ..cli import main\n")
    assert _imports(path, "reid_fast.ops.bad") == {"reid_fast.train", "reid_fast.cli"}


@pytest.mark.parametrize("layer", [m for layer in LAYERS for m in layer if m not in ("__main__", "_C")])
def test_every_layer_member_exists(layer):
    assert (PACKAGE_DIR / layer).is_dir() or (PACKAGE_DIR / f"{layer}.py").is_file(), layer
