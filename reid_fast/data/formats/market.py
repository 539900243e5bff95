"""Market-1501 (and layouts like it, e.g. DukeMTMC-reID): loader.

Layout::

    bounding_box_train/ bounding_box_test/ query/   0002_c1s1_000451_03.jpg = person 2, camera 1

In the gallery, pid -1 (names starting ``-1_``) marks junk images, kept with pid -1 so that
evaluation ignores them, and pid 0 (``0000_``) marks distractors, kept as an identity no
query has. Junk is dropped from the training split. Evaluation uses the same-camera junk
rule. Splits are in sorted file-name order.
"""

from __future__ import annotations

import os
import re

from ..records import UNKNOWN, ImageRecord, ReidDataset
from ._files import image_names, require_dir

_NAME = re.compile(r"(-?\d+)_c(\d+)")


def _split_records(folder: str) -> list[ImageRecord]:
    records = []
    for name in image_names(folder):
        match = _NAME.match(name)
        if match is None:
            raise ValueError(
                f"image name {name!r} in {folder} is not like Market-1501's '0002_c1s1_000451_03.jpg'"
            )
        pid, camid = int(match.group(1)), int(match.group(2))
        records.append(ImageRecord(path=os.path.join(folder, name), pid=pid, camid=camid))
    return records


def load_market(root: str | os.PathLike) -> ReidDataset:
    """Load a Market-1501 folder (see the module docstring); ``same_camera_junk=True``."""
    root = require_dir(os.fspath(root))
    train, query, gallery = (
        _split_records(require_dir(os.path.join(root, folder)))
        for folder in ("bounding_box_train", "query", "bounding_box_test")
    )
    train = [r for r in train if r.pid != UNKNOWN]
    return ReidDataset(
        name="market", train=train, query=query, gallery=gallery, root=root, same_camera_junk=True
    )
