"""``reid-fast fuse``: several models' feature files into one (per-model L2
normalisation, weights, concatenation, renormalisation)."""

from __future__ import annotations

import argparse

from ..testtime.chain import fuse_feature_sets
from ..testtime.feature_file import load_features, save_features
from . import _common


def build_parser() -> argparse.ArgumentParser:
    p = _common.parser("fuse", __doc__.split(": ", 1)[1])
    p.add_argument("features", nargs="+", help="feature .npz files of reid-fast extract")
    p.add_argument("--weights", type=float, nargs="+", default=None,
                   help="one weight per file (default: all 1)")
    p.add_argument("--output", required=True, help="fused features .npz")
    _common.add_json(p)
    return p


def fuse(args: argparse.Namespace) -> None:
    if args.weights is not None and len(args.weights) != len(args.features):
        raise ValueError(f"--weights needs one value per feature file ({len(args.features)}); "
                         f"got {len(args.weights)}")
    fused = fuse_feature_sets([load_features(p) for p in args.features], args.weights)
    path = save_features(fused, args.output)
    _common.emit(args, f"fused {len(args.features)} feature files into dimension "
                    f"{fused.meta['embedding_dim']}: wrote {path}",
              {"output": str(path), "inputs": args.features, **fused.meta})


def main(argv: list[str] | None = None) -> int:
    return _common.run(fuse, build_parser().parse_args(argv))
