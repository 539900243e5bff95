"""VeRi-776: loader and writer.

Layout::

    image_train/ image_query/ image_test/   0002_c002_00030600_0.jpg = vehicle 2, camera 2
    name_train.txt, name_query.txt, name_test.txt   (optional) image order per split
    test_track.txt                          (optional) one gallery track per line:
                                            "0002_c002 0002_c002_00030600_0.jpg ..."
    train_label.xml, test_label.xml         (optional) <Item imageName= vehicleID= cameraID=
                                            colorID= typeID= /> per image
    query_label.xml                         (optional, an extension) the same for the queries

Splits follow the name lists when present, else the sorted folder listing. Gallery
trackids are the line index in test_track.txt (the leading vehicle/camera key of each line
is skipped). Evaluation uses the same-camera junk rule.

Identities and cameras come from the image names. The label files (:mod:`.label_xml`)
give ``attrs``: ``color`` and ``type`` from colorID and typeID, and ``orientation`` from an
``orientation`` attribute (an extension: the VehicleX convention, degrees), each when the
item has it. Images a present label file does not list, and the images of a split without
one, get no attrs. The query images of VeRi-776 are also test images and it ships no
query_label.xml: without one, query images take the attrs test_label.xml gives their name.
"""

from __future__ import annotations

import dataclasses
import os
import re
from typing import Callable

import numpy as np

from ..records import ImageRecord, ReidDataset
from ._files import (
    check_listed,
    image_names,
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
    item_text,
    label_path,
    read_label_xml,
    write_label_xml,
)

_NAME = re.compile(r"(-?\d+)_c(\d+)_")
SPLITS = {"train": "train", "query": "query", "gallery": "test"}


def parse_veri_name(name: str) -> tuple[int, int]:
    """(pid, camid) of a VeRi file name; ValueError naming it when it is not like
    ``0002_c002_00030600_0.jpg``."""
    match = _NAME.match(name)
    if match is None:
        raise ValueError(f"image name {name!r} is not like VeRi's '0002_c002_00030600_0.jpg'")
    return int(match.group(1)), int(match.group(2))


def _split_records(root: str, split: str) -> list[ImageRecord]:
    folder = require_dir(os.path.join(root, f"image_{split}"))
    names_path = os.path.join(root, f"name_{split}.txt")
    if os.path.isfile(names_path):
        names = read_lines(names_path)
        check_listed(names, folder, names_path)
    else:
        names = image_names(folder)
    records = []
    for name in names:
        pid, camid = parse_veri_name(name)
        records.append(ImageRecord(path=os.path.join(folder, name), pid=pid, camid=camid))
    return records


def _attrs_by_name(path: str) -> dict[str, dict[str, int]]:
    """image name -> attrs of the items of a label file; empty when there is no file."""
    if not os.path.isfile(path):
        return {}
    items = read_label_xml(path)
    return {
        item_text(item, "imageName", path, i): item_attrs(item, path, i, required=False)
        for i, item in enumerate(items)
    }


def _with_attrs(records: list[ImageRecord], attrs: dict[str, dict[str, int]]) -> list[ImageRecord]:
    return [dataclasses.replace(r, attrs=attrs[r.name]) if r.name in attrs else r for r in records]


def load_veri(root: str | os.PathLike) -> ReidDataset:
    """Load a VeRi-776 folder (see the module docstring); ``same_camera_junk=True``."""
    root = require_dir(os.fspath(root))
    train, query, gallery = (_split_records(root, split) for split in SPLITS.values())
    test_attrs = _attrs_by_name(label_path(root, "test"))
    query_file = label_path(root, "query")
    train = _with_attrs(train, _attrs_by_name(label_path(root, "train")))
    query = _with_attrs(query, _attrs_by_name(query_file) if os.path.isfile(query_file) else test_attrs)
    gallery = _with_attrs(gallery, test_attrs)
    track_path = os.path.join(root, "test_track.txt")
    if os.path.isfile(track_path):
        gallery = with_tracks(gallery, read_tracks(track_path), track_path)
    return ReidDataset(
        name="veri", train=train, query=query, gallery=gallery, root=root, same_camera_junk=True
    )


def write_veri(
    root: str | os.PathLike, dataset: ReidDataset, read_image: Callable[[ImageRecord], np.ndarray]
) -> None:
    """Write ``dataset`` in the VeRi-776 layout under ``root`` (created if needed).

    Images: ``read_image(record)`` ((H, W, 3) uint8) saved as quality-95 JPEGs named
    ``{pid:04d}_c{camid:03d}_{frame:08d}_{k}.jpg``, where ``frame`` numbers the images of
    all splits (so names are unique) and ``k`` counts the images of one vehicle and camera
    within the split. Files: name_train.txt, name_query.txt, name_test.txt (record order),
    test_track.txt (gallery records grouped by trackid, increasing, each line led by the
    ``{pid:04d}_c{camid:03d}`` key of its first image) and train_label.xml,
    query_label.xml, test_label.xml (every image, with the colorID, typeID and orientation
    its record's attrs hold). Every record needs pid >= 0 and camid >= 0 (ValueError
    otherwise). :func:`load_veri` reads it back (gallery trackids renumbered 0.. by track
    order; train and query trackids are not stored; attrs as written).
    """
    root = os.fspath(root)
    frame = 0
    for attribute, split in SPLITS.items():
        records = getattr(dataset, attribute)
        folder = os.path.join(root, f"image_{split}")
        os.makedirs(folder, exist_ok=True)
        names = []
        counts: dict[tuple[int, int], int] = {}
        for record in records:
            if record.pid < 0 or record.camid < 0:
                raise ValueError(
                    f"VeRi names need pid >= 0 and camid >= 0, got pid={record.pid} camid={record.camid} "
                    f"for {record.path!r} in {attribute}"
                )
            k = counts.get((record.pid, record.camid), 0)
            counts[(record.pid, record.camid)] = k + 1
            name = f"{record.pid:04d}_c{record.camid:03d}_{frame:08d}_{k}.jpg"
            frame += 1
            save_jpeg(os.path.join(folder, name), read_image(record), record)
            names.append(name)
        write_lines(os.path.join(root, f"name_{split}.txt"), names)
        write_label_xml(root, split, records, names, attributes=True)
        if attribute == "gallery":
            # Each line is led by the vehicle/camera key of its first image, e.g. "0002_c002".
            lines = [" ".join([t[0].rsplit("_", 2)[0], *t]) for t in tracks_of(records, names)]
            write_lines(os.path.join(root, "test_track.txt"), lines)
