"""AICity 2020 track 2 (CityFlow-ReID) and its simulated VehicleX set: loader and writer.

Real layout (``AIC20_ReID``)::

    image_train/ image_query/ image_test/     000001.jpg, ... (numbered per split)
    train_label.xml                           <Item imageName= vehicleID= cameraID= />
    name_query.txt, name_test.txt             one image name per line (submission order)
    test_track.txt                            one gallery track per line, names separated by spaces
    train_track.txt                           (optional) the same for the training images

The label files are read and written by :mod:`.label_xml` (shared with VeRi-776).

In the contest, query and gallery identities are unknown: the records get pid -1 and
camid -1 and the dataset is ``labelled=False``. Extension: when ``query_label.xml`` and
``test_label.xml`` (same schema as train_label.xml) are present, identities and cameras
(and colorID / typeID / orientation where an item carries them) are read from them and
the dataset is ``labelled=True``; :func:`write_aicity` writes them, with the records'
attrs. Only evaluation reads this ground truth.

Simulated layout (``AIC20_ReID_Simulation``, VehicleX): ``image_train/`` and a
``train_label.xml`` whose items also carry ``colorID``, ``typeID`` and ``orientation``;
train split only, those labels go to ``attrs`` as ``color``, ``type`` and ``orientation``
(rounded to an integer). ``write_aicity(..., simulated=True)`` writes it.
"""

from __future__ import annotations

import os
from typing import Callable

import numpy as np

from ..records import UNKNOWN, ImageRecord, ReidDataset
from ._files import (
    check_listed,
    read_lines,
    read_tracks,
    require_dir,
    save_jpeg,
    tracks_of,
    with_tracks,
    write_lines,
)
from .label_xml import (
    item_attrs,
    item_camera,
    item_integer,
    item_text,
    label_path,
    read_label_xml,
    write_label_xml,
)


def _labelled_records(folder: str, label_file: str, simulated: bool) -> list[ImageRecord]:
    """Records of the images a label file lists, in its order; attrs required (simulated)
    or read where an item carries them (the query / test ground truth extension)."""
    items = read_label_xml(label_file)
    names = [item_text(item, "imageName", label_file, i) for i, item in enumerate(items)]
    check_listed(names, folder, label_file)
    return [
        ImageRecord(
            path=os.path.join(folder, name),
            pid=item_integer(item, "vehicleID", label_file, i),
            camid=item_camera(item, label_file, i),
            attrs=item_attrs(item, label_file, i, required=simulated),
        )
        for i, (item, name) in enumerate(zip(items, names))
    ]


def _listed_records(folder: str, names_path: str, labels_path: str | None) -> list[ImageRecord]:
    """Records in the order of a name list, labelled from ``labels_path`` when given."""
    names = read_lines(names_path)
    check_listed(names, folder, names_path)
    if labels_path is None:
        return [ImageRecord(path=os.path.join(folder, n), pid=UNKNOWN, camid=UNKNOWN) for n in names]
    labelled = {r.name: r for r in _labelled_records(folder, labels_path, simulated=False)}
    missing = [n for n in names if n not in labelled]
    if missing:
        raise ValueError(f"{labels_path} has no <Item> for {missing[0]!r} (listed in {names_path})")
    return [labelled[n] for n in names]


def _with_optional_tracks(records: list[ImageRecord], path: str) -> list[ImageRecord]:
    return with_tracks(records, read_tracks(path), path) if os.path.isfile(path) else records


def is_simulated(root: str | os.PathLike) -> bool:
    """True when ``root`` looks like the VehicleX set: ``image_train/`` and a
    ``train_label.xml`` whose first items carry an ``orientation`` attribute."""
    train_labels = label_path(os.fspath(root), "train")
    if not (os.path.isdir(os.path.join(root, "image_train")) and os.path.isfile(train_labels)):
        return False
    with open(train_labels, "rb") as f:
        return b"orientation=" in f.read(65536)


def load_aicity(root: str | os.PathLike, simulated: bool | None = None) -> ReidDataset:
    """Load an AICity 2020 re-ID folder (``simulated=False``) or the simulated VehicleX set
    (``simulated=True``); ``None`` decides with :func:`is_simulated`.

    Real set: train in train_label.xml order (trackids from train_track.txt when present),
    query and gallery in name_query.txt / name_test.txt order (the numbering of the
    submission), gallery trackids = line index in test_track.txt. ``same_camera_junk`` is
    True (unknown cameras never match, so contest queries are not filtered).
    """
    root = require_dir(os.fspath(root))
    if simulated is None:
        simulated = is_simulated(root)
    train_dir = require_dir(os.path.join(root, "image_train"))
    train = _labelled_records(train_dir, label_path(root, "train"), simulated)
    if simulated:
        return ReidDataset(name="aicity-sim", train=train, query=[], gallery=[], root=root)

    train = _with_optional_tracks(train, os.path.join(root, "train_track.txt"))
    query_dir = require_dir(os.path.join(root, "image_query"))
    test_dir = require_dir(os.path.join(root, "image_test"))
    label_files = [label_path(root, "query"), label_path(root, "test")]
    present = [os.path.isfile(p) for p in label_files]
    if any(present) and not all(present):
        have, lack = (label_files[0], label_files[1]) if present[0] else (label_files[1], label_files[0])
        raise FileNotFoundError(f"found {have} but not {lack}: ground truth needs both")
    labelled = all(present)
    query_labels, test_labels = label_files if labelled else (None, None)
    query = _listed_records(query_dir, os.path.join(root, "name_query.txt"), query_labels)
    gallery = _listed_records(test_dir, os.path.join(root, "name_test.txt"), test_labels)
    gallery = _with_optional_tracks(gallery, os.path.join(root, "test_track.txt"))
    return ReidDataset(
        name="aicity",
        train=train,
        query=query,
        gallery=gallery,
        root=root,
        same_camera_junk=True,
        labelled=labelled,
    )


def write_aicity(
    root: str | os.PathLike,
    dataset: ReidDataset,
    read_image: Callable[[ImageRecord], np.ndarray],
    simulated: bool = False,
) -> None:
    """Write ``dataset`` in the AICity 2020 layout under ``root`` (created if needed).

    Images: ``read_image(record)`` ((H, W, 3) uint8) saved as quality-95 JPEGs named
    ``000001.jpg``, ... per split in record order. Files: train_label.xml (declared and
    encoded gb2312), name_query.txt, name_test.txt, test_track.txt and train_track.txt
    (records grouped by trackid, increasing; trackid -1 records are in no track), and, when
    ``dataset.labelled``, the ground truth in query_label.xml and test_label.xml.
    :func:`load_aicity` reads it back (trackids renumbered 0.. by track order; query
    trackids are not stored).

    ``simulated``: the VehicleX layout instead: the training split only (image_train/ and
    train_label.xml, no track file; query and gallery are not written), each item with
    the record's colorID, typeID and orientation; every training record must have
    ``color``, ``type`` and ``orientation`` in its attrs (ValueError naming the first that
    does not, before anything is written). :func:`load_aicity` detects it as simulated.
    """
    root = os.fspath(root)
    splits = {"train": dataset.train}
    if not simulated:
        splits.update(query=dataset.query, test=dataset.gallery)
    names = {split: [f"{i + 1:06d}.jpg" for i in range(len(records))] for split, records in splits.items()}
    os.makedirs(root, exist_ok=True)
    write_label_xml(root, "train", dataset.train, names["train"], attributes=simulated, required=simulated)
    if not simulated and dataset.labelled:
        write_label_xml(root, "query", dataset.query, names["query"], attributes=True)
        write_label_xml(root, "test", dataset.gallery, names["test"], attributes=True)
    for split, records in splits.items():
        folder = os.path.join(root, f"image_{split}")
        os.makedirs(folder, exist_ok=True)
        for record, name in zip(records, names[split]):
            save_jpeg(os.path.join(folder, name), read_image(record), record)
    if simulated:
        return
    write_lines(os.path.join(root, "name_query.txt"), names["query"])
    write_lines(os.path.join(root, "name_test.txt"), names["test"])
    train_tracks = tracks_of(dataset.train, names["train"])
    test_tracks = tracks_of(dataset.gallery, names["test"])
    write_lines(os.path.join(root, "train_track.txt"), map(" ".join, train_tracks))
    write_lines(os.path.join(root, "test_track.txt"), map(" ".join, test_tracks))
