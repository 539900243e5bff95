"""AICity 2020 track 2 (CityFlow-ReID) and its simulated VehicleX set: loader and writer.

Real layout (``AIC20_ReID``)::

    image_train/ image_query/ image_test/     000001.jpg, ... (numbered per split)
    train_label.xml                           <Item imageName= vehicleID= cameraID= />
    name_query.txt, name_test.txt             one image name per line (submission order)
    test_track.txt                            one gallery track per line, names separated by spaces
    train_track.txt                           (optional) the same for the training images

``train_label.xml`` declares ``encoding="gb2312"``, which Python's expat parser refuses for
bytes; the loader decodes the bytes with the declared codec and parses the text.

In the contest, query and gallery identities are unknown: the records get pid -1 and
camid -1 and the dataset is ``labelled=False``. Extension: when ``query_label.xml`` and
``test_label.xml`` (same schema as train_label.xml) are present, identities and cameras
are read from them and the dataset is ``labelled=True``; :func:`write_aicity` writes them.

Simulated layout (``AIC20_ReID_Simulation``, VehicleX): ``image_train/`` and a
``train_label.xml`` whose items also carry ``colorID``, ``typeID`` and ``orientation``;
train split only, those labels go to ``attrs`` as ``color``, ``type`` and ``orientation``
(rounded to an integer).
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from typing import Callable, Mapping, Sequence
from xml.sax.saxutils import quoteattr

import numpy as np

from ...atomic import atomic_write
from ..records import UNKNOWN, ImageRecord, ReidDataset
from ._files import (
    check_listed,
    read_lines,
    read_tracks,
    require_dir,
    require_file,
    save_jpeg,
    tracks_of,
    with_tracks,
    write_lines,
)

XML_CODEC = "gb2312"
SIMULATED_ATTRIBUTES = {"color": "colorID", "type": "typeID", "orientation": "orientation"}

_DECLARED_ENCODING = re.compile(rb"\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']")
_CAMERA = re.compile(r"[cC]?(-?\d+)")


def read_label_xml(path: str) -> list[dict[str, str]]:
    """The attributes of every ``<Item>`` of an AICity label file, in file order.

    The bytes are decoded with the codec the XML declaration names (UTF-8 when it names
    none) and the text is parsed. ValueError naming the file when it cannot be decoded or
    parsed.
    """
    require_file(path)
    with open(path, "rb") as f:
        data = f.read()
    declared = _DECLARED_ENCODING.match(data)
    codec = declared.group(1).decode("ascii") if declared else "utf-8-sig"
    try:
        text = data.decode(codec)
    except (LookupError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: cannot decode with its declared encoding {codec!r}: {e}") from None
    try:
        root = ET.fromstring(text)
    except ET.ParseError as e:
        raise ValueError(f"{path}: not well-formed XML: {e}") from None
    return [dict(item.attrib) for item in root.iter("Item")]


def _attribute(item: Mapping[str, str], key: str, path: str, number: int) -> str:
    if key not in item:
        raise ValueError(
            f"{path}: <Item> number {number + 1} has no {key!r} attribute (it has {sorted(item)})"
        )
    return item[key]


def _integer(text: str, key: str, path: str, number: int) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{path}: <Item> number {number + 1}: {key}={text!r} is not an integer") from None


def _camera(text: str, path: str, number: int) -> int:
    """``c001`` -> 1; an empty value -> -1."""
    if not text.strip():
        return UNKNOWN
    match = _CAMERA.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{path}: <Item> number {number + 1}: cameraID={text!r} is not like 'c001'")
    return int(match.group(1))


def _labelled_records(folder: str, label_path: str, simulated: bool) -> list[ImageRecord]:
    """Records of the images a label file lists, in its order."""
    items = read_label_xml(label_path)
    names = [_attribute(item, "imageName", label_path, i) for i, item in enumerate(items)]
    check_listed(names, folder, label_path)
    records = []
    for i, (item, name) in enumerate(zip(items, names)):
        attrs = {}
        if simulated:
            for attr, key in SIMULATED_ATTRIBUTES.items():
                text = _attribute(item, key, label_path, i)
                try:
                    attrs[attr] = int(round(float(text)))
                except ValueError:
                    raise ValueError(
                        f"{label_path}: <Item> number {i + 1}: {key}={text!r} is not a number"
                    ) from None
        records.append(
            ImageRecord(
                path=os.path.join(folder, name),
                pid=_integer(_attribute(item, "vehicleID", label_path, i), "vehicleID", label_path, i),
                camid=_camera(_attribute(item, "cameraID", label_path, i), label_path, i),
                attrs=attrs,
            )
        )
    return records


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
    label_path = os.path.join(root, "train_label.xml")
    if not (os.path.isdir(os.path.join(root, "image_train")) and os.path.isfile(label_path)):
        return False
    with open(label_path, "rb") as f:
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
    train = _labelled_records(train_dir, os.path.join(root, "train_label.xml"), simulated)
    if simulated:
        return ReidDataset(name="aicity-sim", train=train, query=[], gallery=[], root=root)

    train = _with_optional_tracks(train, os.path.join(root, "train_track.txt"))
    query_dir = require_dir(os.path.join(root, "image_query"))
    test_dir = require_dir(os.path.join(root, "image_test"))
    label_files = [os.path.join(root, "query_label.xml"), os.path.join(root, "test_label.xml")]
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


def _number(value: int, width: int, prefix: str = "") -> str:
    """``prefix`` + zero-padded ``value``; ``-1`` for unknown values."""
    return f"{prefix}{value:0{width}d}" if value >= 0 else str(UNKNOWN)


def _write_label_xml(path: str, element: str, records: Sequence[ImageRecord], names: Sequence[str]) -> None:
    lines = [
        f'<?xml version="1.0" encoding="{XML_CODEC}"?>',
        f'<{element} Version="1.0">',
        f'<Items number="{len(records)}">',
    ]
    for record, name in zip(records, names):
        lines.append(
            f"<Item imageName={quoteattr(name)} vehicleID={quoteattr(_number(record.pid, 4))} "
            f"cameraID={quoteattr(_number(record.camid, 3, 'c'))} />"
        )
    lines += ["</Items>", f"</{element}>", ""]
    atomic_write(path, lambda f: f.write("\n".join(lines).encode(XML_CODEC)), sync=False)


def write_aicity(
    root: str | os.PathLike, dataset: ReidDataset, read_image: Callable[[ImageRecord], np.ndarray]
) -> None:
    """Write ``dataset`` in the AICity 2020 layout under ``root`` (created if needed).

    Images: ``read_image(record)`` ((H, W, 3) uint8) saved as quality-95 JPEGs named
    ``000001.jpg``, ... per split in record order. Files: train_label.xml (declared and
    encoded gb2312), name_query.txt, name_test.txt, test_track.txt and train_track.txt
    (records grouped by trackid, increasing; trackid -1 records are in no track), and, when
    ``dataset.labelled``, the ground truth in query_label.xml and test_label.xml.
    :func:`load_aicity` reads it back (trackids renumbered 0.. by track order; query
    trackids are not stored).
    """
    root = os.fspath(root)
    splits = {"train": dataset.train, "query": dataset.query, "test": dataset.gallery}
    names = {split: [f"{i + 1:06d}.jpg" for i in range(len(records))] for split, records in splits.items()}
    for split, records in splits.items():
        folder = os.path.join(root, f"image_{split}")
        os.makedirs(folder, exist_ok=True)
        for record, name in zip(records, names[split]):
            save_jpeg(os.path.join(folder, name), read_image(record), record)
    _write_label_xml(os.path.join(root, "train_label.xml"), "TrainingImages", dataset.train, names["train"])
    if dataset.labelled:
        _write_label_xml(os.path.join(root, "query_label.xml"), "QueryImages", dataset.query, names["query"])
        _write_label_xml(os.path.join(root, "test_label.xml"), "TestImages", dataset.gallery, names["test"])
    write_lines(os.path.join(root, "name_query.txt"), names["query"])
    write_lines(os.path.join(root, "name_test.txt"), names["test"])
    train_tracks = tracks_of(dataset.train, names["train"])
    test_tracks = tracks_of(dataset.gallery, names["test"])
    write_lines(os.path.join(root, "train_track.txt"), map(" ".join, train_tracks))
    write_lines(os.path.join(root, "test_track.txt"), map(" ".join, test_tracks))
