"""``reid-fast evaluate``: mAP, CMC rank-1/5/10/20, mINP and the AICity
mAP@100 of a features file (cosine distance) or of a distances file, with the dataset's
junk rule; optional per-query CSV."""

from __future__ import annotations

import argparse
import csv

from ..atomic import atomic_write
from ..devices import resolve_device
from ..testtime.chain import distances_for, evaluate_distances
from ..testtime.feature_file import load_features
from . import _common


def build_parser() -> argparse.ArgumentParser:
    p = _common.parser("evaluate", "ranking metrics of features or distances")
    p.add_argument("features", help="features .npz: the labels (and the distances when "
                                    "--distances is not given)")
    p.add_argument("--distances", default="", help="distances .npz of reid-fast rerank")
    p.add_argument("--per-query", default="", help="write per-query results to this CSV")
    _common.add_device(p)
    _common.add_json(p)
    return p


def evaluate(args: argparse.Namespace) -> None:
    features = load_features(args.features)
    distances = distances_for(features, args.distances, resolve_device(args.device))
    metrics = evaluate_distances(distances, features)
    if args.per_query:
        columns = metrics.per_query()

        def write_rows(f) -> None:
            writer = csv.writer(f)
            writer.writerow(["query", "name", *columns])
            for i, name in enumerate(features.query.names):
                writer.writerow([i, name, *(columns[c][i] for c in columns)])

        atomic_write(args.per_query, write_rows, text=True)
    _common.emit(args, metrics.summary(), {**metrics.as_dict(), "per_query": args.per_query or None})


def main(argv: list[str] | None = None) -> int:
    return _common.run(evaluate, build_parser().parse_args(argv))
