"""The label XML files AICity 2020, its simulated VehicleX set and VeRi-776 share: reading,
writing, and the item attributes that become record fields and ``attrs``.

A label file lists one ``<Item>`` per image::

    <?xml version="1.0" encoding="gb2312"?>
    <TrainingImages Version="1.0">
    <Items number="2">
    <Item imageName="000001.jpg" vehicleID="0001" cameraID="c004" colorID="3" typeID="1" orientation="87.6" />
    ...

``imageName``, ``vehicleID`` and ``cameraID`` are always there; ``colorID`` and ``typeID``
(VeRi-776, VehicleX) and ``orientation`` (VehicleX: the yaw relative to the camera in
degrees, 0 front, 90 left side, 180 rear, 270 right side) are read into ``attrs`` as
``color``, ``type`` and ``orientation``, rounded to integers (:data:`ATTRIBUTES`).

The files declare ``encoding="gb2312"``, which Python's expat parser refuses for bytes;
:func:`read_label_xml` decodes the bytes with the declared codec and parses the text.
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from typing import Mapping, Sequence
from xml.sax.saxutils import quoteattr

from ...atomic import atomic_write
from ..records import UNKNOWN, ImageRecord
from ._files import require_file

XML_CODEC = "gb2312"

ATTRIBUTES = {"color": "colorID", "type": "typeID", "orientation": "orientation"}
"""``attrs`` key -> the item attribute that holds it."""

LABEL_FILES = {
    "train": ("train_label.xml", "TrainingImages"),
    "query": ("query_label.xml", "QueryImages"),
    "test": ("test_label.xml", "TestImages"),
}
"""Split folder name (``image_<split>``) -> (label file name, root element)."""

_DECLARED_ENCODING = re.compile(rb"\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']")
_CAMERA = re.compile(r"[cC]?(-?\d+)")


def label_path(root: str, split: str) -> str:
    """The label file of ``split`` ("train", "query" or "test") under ``root``."""
    return os.path.join(root, LABEL_FILES[split][0])


def read_label_xml(path: str) -> list[dict[str, str]]:
    """The attributes of every ``<Item>`` of a label file, in file order.

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


def item_text(item: Mapping[str, str], key: str, path: str, number: int) -> str:
    """Attribute ``key`` of item ``number`` (0-based) of ``path``; ValueError naming the
    file, the item and what it has when it is missing."""
    if key not in item:
        raise ValueError(
            f"{path}: <Item> number {number + 1} has no {key!r} attribute (it has {sorted(item)})"
        )
    return item[key]


def item_integer(item: Mapping[str, str], key: str, path: str, number: int) -> int:
    """Attribute ``key`` as an integer (``"0002"`` -> 2)."""
    text = item_text(item, key, path, number)
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{path}: <Item> number {number + 1}: {key}={text!r} is not an integer") from None


def item_camera(item: Mapping[str, str], path: str, number: int) -> int:
    """The ``cameraID``: ``c001`` -> 1; an empty value -> -1."""
    text = item_text(item, "cameraID", path, number)
    if not text.strip():
        return UNKNOWN
    match = _CAMERA.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{path}: <Item> number {number + 1}: cameraID={text!r} is not like 'c001'")
    return int(match.group(1))


def item_attrs(item: Mapping[str, str], path: str, number: int, *, required: bool) -> dict[str, int]:
    """The :data:`ATTRIBUTES` of an item as ``attrs`` (numbers rounded to integers:
    orientation ``"87.6"`` -> 88). ``required``: each must be there (ValueError naming
    the missing one); otherwise those present."""
    attrs = {}
    for attr, key in ATTRIBUTES.items():
        if key not in item and not required:
            continue
        text = item_text(item, key, path, number)
        try:
            attrs[attr] = int(round(float(text)))
        except ValueError:
            raise ValueError(f"{path}: <Item> number {number + 1}: {key}={text!r} is not a number") from None
    return attrs


def _number(value: int, width: int, prefix: str = "") -> str:
    """``prefix`` + zero-padded ``value``; ``-1`` for unknown values."""
    return f"{prefix}{value:0{width}d}" if value >= 0 else str(UNKNOWN)


def write_label_xml(
    root: str,
    split: str,
    records: Sequence[ImageRecord],
    names: Sequence[str],
    *,
    attributes: bool = False,
    required: bool = False,
) -> None:
    """Write the label file of ``split`` (:data:`LABEL_FILES`) under ``root``: one item per
    record, ``names[i]`` the image name written for ``records[i]``, vehicleID ``0003``,
    cameraID ``c005`` (``-1`` for unknown values), declared and encoded gb2312.

    ``attributes``: also write the :data:`ATTRIBUTES` each record's ``attrs`` hold;
    ``required``: each record must hold them all (ValueError naming the record and the
    missing key, before anything is written).
    """
    file_name, element = LABEL_FILES[split]
    lines = [
        f'<?xml version="1.0" encoding="{XML_CODEC}"?>',
        f'<{element} Version="1.0">',
        f'<Items number="{len(records)}">',
    ]
    for record, name in zip(records, names):
        extra = ""
        if attributes:
            missing = [attr for attr in ATTRIBUTES if attr not in record.attrs]
            if required and missing:
                raise ValueError(
                    f"{file_name} needs attrs {sorted(ATTRIBUTES)} for every record; "
                    f"{record.path!r} has no {missing[0]!r} (attrs {dict(record.attrs)})"
                )
            extra = "".join(
                f" {key}={quoteattr(str(record.attrs[attr]))}"
                for attr, key in ATTRIBUTES.items()
                if attr in record.attrs
            )
        lines.append(
            f"<Item imageName={quoteattr(name)} vehicleID={quoteattr(_number(record.pid, 4))} "
            f"cameraID={quoteattr(_number(record.camid, 3, 'c'))}{extra} />"
        )
    lines += ["</Items>", f"</{element}>", ""]
    text = "\n".join(lines).encode(XML_CODEC)
    atomic_write(os.path.join(root, file_name), lambda f: f.write(text), sync=False)
