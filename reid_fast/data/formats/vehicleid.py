"""PKU VehicleID: loader.

Layout::

    image/<name>.jpg
    train_test_split/train_list.txt                     lines "<name> <vehicle id>"
    train_test_split/test_list_800.txt, _1600, _2400    the three test sets, same format

No cameras (camid -1), so no same-camera junk rule. Standard protocol: for each identity of
the chosen test list, one image chosen at random (seeded) is the gallery, all its other
images are queries.
"""

from __future__ import annotations

import os
import random

from ..records import UNKNOWN, ImageRecord, ReidDataset
from ._files import check_listed, read_lines, require_dir

TEST_SIZES = (800, 1600, 2400)


def _read_list(path: str, image_dir: str) -> list[tuple[str, int]]:
    """(file name, vehicle id) per line of a VehicleID list."""
    entries = []
    for number, line in enumerate(read_lines(path), start=1):
        fields = line.split()
        if len(fields) != 2:
            raise ValueError(f"{path}, line {number}: expected '<name> <vehicle id>', got {line!r}")
        try:
            pid = int(fields[1])
        except ValueError:
            raise ValueError(f"{path}, line {number}: vehicle id {fields[1]!r} is not an integer") from None
        entries.append((f"{fields[0]}.jpg", pid))
    check_listed((name for name, _ in entries), image_dir, path)
    return entries


def load_vehicleid(root: str | os.PathLike, test_size: int = 800, seed: int = 0) -> ReidDataset:
    """Load VehicleID with the ``test_size`` test list (800, 1600 or 2400).

    Gallery: one image per test identity, drawn with ``random.Random(seed)`` (identities in
    order of first appearance in the list); query: the other test images, in list order.
    The same ``seed`` gives the same split.
    """
    if test_size not in TEST_SIZES:
        raise ValueError(f"test_size must be one of {TEST_SIZES}, got {test_size!r}")
    root = require_dir(os.fspath(root))
    image_dir = require_dir(os.path.join(root, "image"))
    split_dir = require_dir(os.path.join(root, "train_test_split"))
    train = [
        ImageRecord(path=os.path.join(image_dir, name), pid=pid, camid=UNKNOWN)
        for name, pid in _read_list(os.path.join(split_dir, "train_list.txt"), image_dir)
    ]
    test = _read_list(os.path.join(split_dir, f"test_list_{test_size}.txt"), image_dir)
    by_id: dict[int, list[int]] = {}
    for i, (_, pid) in enumerate(test):
        by_id.setdefault(pid, []).append(i)
    rng = random.Random(seed)
    chosen = [rng.choice(indices) for indices in by_id.values()]
    chosen_set = set(chosen)

    def record(i: int) -> ImageRecord:
        name, pid = test[i]
        return ImageRecord(path=os.path.join(image_dir, name), pid=pid, camid=UNKNOWN)

    return ReidDataset(
        name=f"vehicleid-{test_size}",
        train=train,
        query=[record(i) for i in range(len(test)) if i not in chosen_set],
        gallery=[record(i) for i in chosen],
        root=root,
        same_camera_junk=False,
    )
