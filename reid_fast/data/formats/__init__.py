"""Dataset layouts on disk: loaders, layout detection and the registry.

Every loader returns a :class:`~reid_fast.data.records.ReidDataset` with absolute image
paths. ``load_dataset(root)`` recognises the layout of ``root`` (:func:`detect_layout`)
and loads it; ``load_datasets`` loads several roots and merges them (VehicleNet).

Layouts are registered by name in :data:`LAYOUTS` (:func:`register_layout` adds a user's
own). The built-ins: ``aicity``, ``aicity-sim``, ``veri``, ``vehicleid``, ``market``,
``folder``, ``manifest``. Detection tries the layouts in registration order (built-ins:
manifest, veri, aicity-sim, aicity, vehicleid, market), then the most generic, folder,
last; VeRi and AICity folders look alike and are told apart by their image names. VeRi
comes before aicity-sim because a VeRi train_label.xml may carry orientations too (what
:func:`write_veri` writes for the synthetic vehicles), while the VehicleX set has no
image_query/ with VeRi names.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from ...registry import Registry
from ..records import ReidDataset
from ._files import image_names, is_image_name, read_lines
from .aicity import is_simulated, load_aicity, write_aicity
from .folder import is_split_root, load_folder
from .manifest import load_manifest
from .market import load_market
from .merge import merge_datasets
from .vehicleid import load_vehicleid
from .veri import load_veri, parse_veri_name, write_veri


@dataclass(frozen=True)
class Layout:
    """A dataset layout: what its root holds, how to recognise it (``matches(root)``,
    None: only chosen by name), how to load it (``load(root, **options)``)."""

    name: str
    expects: str
    matches: Callable[[str], bool] | None
    load: Callable[..., ReidDataset]


LAYOUTS: Registry[Layout] = Registry("layout")
"""Every dataset layout, by name (``--layout`` of ``reid-fast train``)."""

GENERIC_LAYOUT = "folder"
"""The layout detection tries last: any folder of identity folders matches it."""


def register_layout(name: str, *, expects: str, matches: Callable[[str], bool] | None = None,
                    replace: bool = False
                    ) -> Callable[[Callable[..., ReidDataset]], Callable[..., ReidDataset]]:
    """Decorator: register a loader ``load(root, **options) -> ReidDataset`` as the layout
    ``name``; ``expects`` says what its root holds (shown when nothing matches), and
    ``matches(root)`` recognises it for :func:`detect_layout` (None: chosen by name
    only). The loader is returned unchanged."""
    def register(load: Callable[..., ReidDataset]) -> Callable[..., ReidDataset]:
        LAYOUTS.add(name, Layout(name, expects, matches, load), replace=replace)
        return load
    return register


def _has(root: str, *entries: str) -> bool:
    """True when every entry exists under root (names ending in / must be folders)."""
    for entry in entries:
        path = os.path.join(root, entry.rstrip("/"))
        if not (os.path.isdir(path) if entry.endswith("/") else os.path.isfile(path)):
            return False
    return True


def _is_manifest(root: str) -> bool:
    if os.path.isfile(root):
        return root.lower().endswith(".csv")
    return _has(root, "train.csv") or _has(root, "query.csv", "gallery.csv")


def _veri_style_names(root: str) -> bool:
    """True when the first query image is named like VeRi's 0002_c002_00030600_0.jpg."""
    if not _has(root, "image_query/", "image_test/"):
        return False
    names_path = os.path.join(root, "name_query.txt")
    if os.path.isfile(names_path):
        names = read_lines(names_path)
    else:
        names = image_names(os.path.join(root, "image_query"))
    try:
        parse_veri_name(names[0] if names else "")
    except ValueError:
        return False
    return True


def _is_identity_folders(root: str) -> bool:
    if is_split_root(root):
        return True
    with os.scandir(root) as entries:
        folders = [e.path for e in entries if e.is_dir()]
    for folder in folders:
        with os.scandir(folder) as entries:
            if any(e.is_file() and is_image_name(e.name) for e in entries):
                return True
    return False


for _layout in (
    Layout(
        "manifest",
        "a .csv file with columns path,id,camera[,track][,split], or a folder with train.csv "
        "and/or query.csv + gallery.csv",
        _is_manifest,
        load_manifest,
    ),
    Layout(
        "veri",
        "image_train/, image_query/, image_test/ with names like 0002_c002_00030600_0.jpg "
        "[, name_train.txt, name_query.txt, name_test.txt, test_track.txt, train_label.xml, "
        "query_label.xml, test_label.xml]",
        _veri_style_names,
        load_veri,
    ),
    Layout(
        "aicity-sim",
        "image_train/ and a train_label.xml whose items carry colorID, typeID and orientation",
        is_simulated,
        lambda root, **options: load_aicity(root, simulated=True, **options),
    ),
    Layout(
        "aicity",
        "image_train/, image_query/, image_test/, train_label.xml, name_query.txt, name_test.txt "
        "[, test_track.txt, train_track.txt, query_label.xml + test_label.xml]",
        lambda root: _has(
            root,
            "image_train/",
            "image_query/",
            "image_test/",
            "train_label.xml",
            "name_query.txt",
            "name_test.txt",
        ),
        lambda root, **options: load_aicity(root, simulated=False, **options),
    ),
    Layout(
        "vehicleid",
        "image/ and train_test_split/ (train_list.txt, test_list_800.txt, test_list_1600.txt, "
        "test_list_2400.txt)",
        lambda root: _has(root, "image/", "train_test_split/"),
        load_vehicleid,
    ),
    Layout(
        "market",
        "bounding_box_train/, bounding_box_test/, query/ with names like 0002_c1s1_000451_03.jpg",
        lambda root: _has(root, "bounding_box_train/", "bounding_box_test/", "query/"),
        load_market,
    ),
    Layout(
        "folder",
        "one folder of images per identity, directly under the root or under train/, query/ and gallery/",
        _is_identity_folders,
        load_folder,
    ),
):
    LAYOUTS.add(_layout.name, _layout)


def _contents(root: str, shown: int = 20) -> str:
    with os.scandir(root) as entries:
        names = sorted(e.name + ("/" if e.is_dir() else "") for e in entries)
    if not names:
        return "nothing (it is empty)"
    more = f", ... ({len(names) - shown} more)" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def detect_layout(root: str | os.PathLike) -> str:
    """The name of the layout of ``root`` (a folder, or a .csv manifest).

    FileNotFoundError when ``root`` does not exist; ValueError, listing what each layout
    expects and what ``root`` contains, when no layout matches.
    """
    root = os.fspath(root)
    if not os.path.exists(root):
        raise FileNotFoundError(f"dataset root {root!r} does not exist")
    if os.path.isfile(root):
        if _is_manifest(root):
            return "manifest"
        raise ValueError(
            f"cannot recognise the dataset layout of the file {root!r}: a manifest must be a .csv file"
        )
    for name in sorted(LAYOUTS, key=lambda n: n == GENERIC_LAYOUT):  # stable: generic last
        matches = LAYOUTS[name].matches
        if matches is not None and matches(root):
            return name
    expected = "\n".join(f"  {layout.name}: {layout.expects}" for layout in LAYOUTS.values())
    raise ValueError(
        f"cannot recognise the dataset layout of {root!r}, which contains: {_contents(root)}.\n"
        f"Known layouts and what they expect:\n{expected}"
    )


def load_dataset(root: str | os.PathLike, layout: str | None = None, **options: Any) -> ReidDataset:
    """Load the dataset at ``root`` with the named ``layout`` (detected when None);
    ``options`` go to the layout's loader (e.g. ``test_size`` for vehicleid)."""
    if layout is None:
        layout = detect_layout(root)
    return LAYOUTS.lookup(layout).load(root, **options)


def load_datasets(
    roots_and_layouts: Sequence[str | os.PathLike | tuple[str | os.PathLike, str | None]],
    eval_index: int = 0,
    name: str | None = None,
) -> ReidDataset:
    """Load several datasets and merge them with :func:`merge_datasets`.

    Each item is a root (layout detected) or a ``(root, layout)`` pair; query, gallery and
    evaluation rule come from item ``eval_index``.
    """
    datasets = []
    for item in roots_and_layouts:
        root, layout = item if isinstance(item, tuple) else (item, None)
        datasets.append(load_dataset(root, layout))
    return merge_datasets(datasets, eval_index=eval_index, name=name)


__all__ = [
    "LAYOUTS",
    "Layout",
    "detect_layout",
    "register_layout",
    "GENERIC_LAYOUT",
    "load_aicity",
    "load_dataset",
    "load_datasets",
    "load_folder",
    "load_manifest",
    "load_market",
    "load_vehicleid",
    "load_veri",
    "merge_datasets",
    "write_aicity",
    "write_veri",
]
