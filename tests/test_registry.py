"""reid_fast.registry: the named extension points and the plugin import."""

from __future__ import annotations

import sys

import pytest

from reid_fast.data.formats import LAYOUTS
from reid_fast.losses import LOSS_KINDS, LOSSES
from reid_fast.models import ARCHS, BACKBONES
from reid_fast.registry import Registry, import_plugins


def test_add_lookup_replace_remove():
    registry: Registry[int] = Registry("widget")
    assert registry.add("a", 1) == 1 and registry.add("b", 2) == 2
    assert list(registry) == ["a", "b"] and registry["a"] == 1 and len(registry) == 2
    assert "a" in registry and dict(registry) == {"a": 1, "b": 2}
    with pytest.raises(ValueError, match="widget 'a' is already registered; pass replace=True"):
        registry.add("a", 3)
    registry.add("a", 3, replace=True)
    assert registry.lookup("a") == 3
    with pytest.raises(ValueError, match="widget must be one of a, b; got 'c'"):
        registry.lookup("c")
    assert registry.remove("a") == 3 and list(registry) == ["b"]
    with pytest.raises(ValueError, match="got 'a'"):
        registry.remove("a")
    with pytest.raises(TypeError, match="widget name must be a string, got int 5"):
        registry.add(5, 1)
    for bad in ("", "two words"):
        with pytest.raises(ValueError, match="non-empty without whitespace"):
            registry.add(bad, 1)


def test_the_built_ins_are_registered_in_order():
    assert tuple(BACKBONES)[: len(ARCHS)] == ARCHS == (
        "resnet_small", "resnet18", "resnet34", "resnet50", "resnet101", "se_resnext101_32x4d",
        "densenet121", "resnext101_32x8d", "resnext101_32x16d", "resnext101_64x4d",
        "res2net101_26w_4s", "efficientnet_b4", "vit_small_patch16", "vit_base_patch16")
    assert tuple(LOSS_KINDS)[: len(LOSSES)] == LOSSES == (
        "ce", "triplet", "circle", "instance", "arcface", "cosface", "sphereface")
    # veri before aicity-sim: a VeRi root written with orientations has a train_label.xml
    # that carries them too.
    assert tuple(LAYOUTS) == ("manifest", "veri", "aicity-sim", "aicity", "vehicleid", "market",
                              "folder")


def test_import_plugins_by_name_and_by_file_once(tmp_path, monkeypatch):
    plugin = tmp_path / "counting_plugin.py"
    plugin.write_text("import builtins\nbuiltins.plugin_imports = getattr(builtins, "
                      "'plugin_imports', 0) + 1\n")
    import builtins

    monkeypatch.setattr(builtins, "plugin_imports", 0, raising=False)
    try:
        (first,) = import_plugins([str(plugin)])
        (again,) = import_plugins([str(plugin)])
        assert first is again and builtins.plugin_imports == 1
        monkeypatch.syspath_prepend(str(tmp_path))
        (by_name,) = import_plugins(["counting_plugin"])
        assert by_name is first and builtins.plugin_imports == 1
    finally:
        sys.modules.pop("counting_plugin", None)
    with pytest.raises(FileNotFoundError, match="plugin file not found"):
        import_plugins([str(tmp_path / "missing.py")])
    with pytest.raises(ModuleNotFoundError):
        import_plugins(["no_such_plugin_module"])
    with pytest.raises(TypeError, match="plugins must be a sequence"):
        import_plugins("counting_plugin")


def test_a_failing_plugin_file_leaves_no_module(tmp_path):
    plugin = tmp_path / "broken_plugin.py"
    plugin.write_text("raise RuntimeError('broken on purpose')\n")
    with pytest.raises(RuntimeError, match="broken on purpose"):
        import_plugins([str(plugin)])
    assert "broken_plugin" not in sys.modules
