"""``reid-fast rerank``: query x gallery distances of a features file: exact
k-reciprocal re-ranking (image- or track-level), or, with --no-rerank, the cosine
distance. The identities and cameras stored in the file are never read (they are
evaluation labels); camera- and direction-aware ranking from predicted cameras is
``reid-fast pipeline --recipe aicity2020``."""

from __future__ import annotations

import argparse

from ..devices import resolve_device
from ..testtime.chain import PostConfig, chain_distances
from ..testtime.feature_file import DistanceMatrix, load_features, save_distances
from . import _common


def build_parser() -> argparse.ArgumentParser:
    p = _common.parser("rerank", "distances of a features file, re-ranked")
    p.add_argument("features", help="features .npz (reid-fast extract / fuse / postprocess)")
    p.add_argument("--output", required=True, help="distances .npz")
    p.add_argument("--no-rerank", action="store_true", help="cosine distance only")
    p.add_argument("--track-level", action="store_true",
                   help="re-rank against the gallery tracks' mean features")
    _common.add_rerank(p)
    _common.add_device(p)
    _common.add_json(p)
    return p


def rerank(args: argparse.Namespace) -> None:
    features = load_features(args.features)
    device = resolve_device(args.device)
    cfg = PostConfig(k1=args.k1, k2=args.k2, lambda_=args.lambda_)
    distances = chain_distances(features.query.tensor(device), features.gallery.tensor(device),
                                features, cfg, None, rerank=not args.no_rerank,
                                track_level=args.track_level)
    meta = {"features": args.features, "rerank": not args.no_rerank,
            "track_level": args.track_level,
            "k1": cfg.k1, "k2": cfg.k2, "lambda": cfg.lambda_,
            "same_camera_junk": features.same_camera_junk}
    path = save_distances(DistanceMatrix(distances, features.query.names, features.gallery.names,
                                         meta), args.output)
    _common.emit(args, f"{tuple(distances.shape)} distances wrote {path}", {"output": str(path), **meta})


def main(argv: list[str] | None = None) -> int:
    return _common.run(rerank, build_parser().parse_args(argv))
