"""``reid-fast postprocess``: feature-level AICity post-processing (alpha query
expansion, database-side augmentation, cluster query expansion, gallery track
averaging) of a features file; camera penalties and re-ranking are in
``reid-fast rerank``."""

from __future__ import annotations

import argparse

from ..devices import resolve_device
from ..testtime.chain import PostConfig, post_process_features
from ..testtime.feature_file import FeatureSet, load_features, save_features
from . import _common


def add_feature_options(p: argparse.ArgumentParser) -> None:
    d = PostConfig()
    p.add_argument("--qe-k", type=int, default=d.qe_k, help="alpha query expansion neighbours (0 = off)")
    p.add_argument("--qe-alpha", type=_common.nonnegative_float, default=d.qe_alpha,
                   help="alpha query expansion exponent")
    p.add_argument("--dba-k", type=int, default=d.dba_k, help="database-side augmentation neighbours (0 = off)")
    p.add_argument("--dba-alpha", type=_common.nonnegative_float, default=d.dba_alpha,
                   help="DBA weight exponent (0 = plain mean)")
    p.add_argument("--cluster-qe-eps", type=_common.nonnegative_float, default=d.cluster_qe_eps,
                   help="cluster query expansion DBSCAN radius on cosine distance (0 = off)")
    p.add_argument("--cluster-qe-min-samples", type=int, default=d.cluster_qe_min_samples,
                   help="cluster query expansion core size")
    p.add_argument("--track-weight", type=_common.nonnegative_float, default=d.track_weight,
                   help="gallery track averaging weight of the track mean (0 = off)")


def post_config(args: argparse.Namespace, **extra) -> PostConfig:
    names = ("qe_k", "qe_alpha", "dba_k", "dba_alpha", "cluster_qe_eps",
             "cluster_qe_min_samples", "track_weight")
    return PostConfig(**{n: getattr(args, n) for n in names if hasattr(args, n)}, **extra)


def build_parser() -> argparse.ArgumentParser:
    p = _common.parser("postprocess", "feature-level AICity post-processing of a features file")
    p.add_argument("features", help="features .npz")
    p.add_argument("--output", required=True, help="post-processed features .npz")
    add_feature_options(p)
    _common.add_device(p)
    _common.add_json(p)
    return p


def postprocess(args: argparse.Namespace) -> None:
    features = load_features(args.features)
    cfg = post_config(args)
    steps: list[str] = []
    query, gallery = post_process_features(features, cfg, resolve_device(args.device),
                                           on_step=lambda step, *_: steps.append(step))
    meta = dict(features.meta, post=cfg.as_dict())
    path = save_features(FeatureSet(features.query.replace(query), features.gallery.replace(gallery),
                                    meta), args.output)
    _common.emit(args, "applied: " + (", ".join(s.lstrip("+ ") for s in steps) or "nothing")
              + f"\nwrote {path}", {"output": str(path), "steps": steps, **cfg.as_dict()})


def main(argv: list[str] | None = None) -> int:
    return _common.run(postprocess, build_parser().parse_args(argv))
