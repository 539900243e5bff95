"""``reid-fast submit``: the AICity track2.txt of a distances file: one line per
query in name_query.txt order with the 100 best gallery indices, 1-based in
name_test.txt order; validated on write."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..eval.submission import AICITY_TOP, ranked_gallery, write_aicity_submission
from ..testtime.feature_file import check_same_rows, load_distances
from . import _common


def _names(path: Path) -> list[str]:
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: --data must be an AICity dataset root")
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def build_parser() -> argparse.ArgumentParser:
    p = _common.parser("submit", "AICity track2.txt of a distances file")
    p.add_argument("distances", help="distances .npz of reid-fast rerank")
    p.add_argument("--output", default="track2.txt", help="submission file")
    p.add_argument("--data", default="", help="AICity root: check the rows and columns against "
                                             "name_query.txt and name_test.txt")
    p.add_argument("--top", type=int, default=AICITY_TOP, help="gallery indices per query")
    _common.add_json(p)
    return p


def submit(args: argparse.Namespace) -> None:
    matrix = load_distances(args.distances)
    if args.data:
        root = Path(args.data)
        check_same_rows(_names(root / "name_query.txt"), matrix.query_names,
                        "queries of the distances vs name_query.txt")
        check_same_rows(_names(root / "name_test.txt"), matrix.gallery_names,
                        "gallery of the distances vs name_test.txt")
    g = len(matrix.gallery_names)
    path = write_aicity_submission(args.output, ranked_gallery(matrix.distances, min(args.top, g)),
                                  g, top=min(args.top, g))
    _common.emit(args, f"wrote {path}: {len(matrix.query_names)} queries x {min(args.top, g)} "
                    "gallery indices (validated)",
              {"output": str(path), "queries": len(matrix.query_names), "top": min(args.top, g)})


def main(argv: list[str] | None = None) -> int:
    return _common.run(submit, build_parser().parse_args(argv))
