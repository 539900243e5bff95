"""``reid-fast extract``: test features of a trained run, with flip and
multi-scale test-time augmentation, saved as .npz (and optionally .mat)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..devices import resolve_device
from ..runs.datasets import evaluation_data
from ..testtime.extraction import extract_dataset
from ..testtime.feature_file import save_features, save_mat
from ..testtime.run_model import load_run
from . import _common


def build_parser() -> argparse.ArgumentParser:
    p = _common.parser("extract", __doc__.split("\n\n")[0].split(": ", 1)[1])
    p.add_argument("run", help="run folder of reid-fast train (holds model.pt)")
    p.add_argument("--data", default="", help="dataset root (default: the run's own data)")
    p.add_argument("--layout", default="auto", help="layout of --data (auto-detected)")
    p.add_argument("--scales", type=float, nargs="+", default=[1.0],
                   help="test-time scales of the trained image size, each applied to the "
                        "original image")
    p.add_argument("--no-flip", action="store_true", help="no horizontal-flip augmentation")
    p.add_argument("--half", action="store_true", help="store float16 features")
    p.add_argument("--output", default="", help="features .npz (default RUN/features.npz)")
    p.add_argument("--mat", default="", help="also write a .mat with the historical keys")
    p.add_argument("--batch-size", type=int, default=128, help="images per forward pass")
    p.add_argument("--cache-dir", default="", help="image cache folder (default: the run's)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    _common.add_device(p)
    _common.add_json(p)
    return p


def extract(args: argparse.Namespace) -> None:
    device = resolve_device(args.device)
    trained = load_run(args.run, device)
    dataset, reader, key = evaluation_data(trained.config, args.data or None, args.layout)
    start = time.perf_counter()
    features = extract_dataset(
        trained.model, dataset, image_size=trained.image_size, scales=args.scales,
        flip=not args.no_flip, device=device, batch_size=args.batch_size, half=args.half,
        reader=reader, cache_key=key, cache_dir=args.cache_dir or trained.config.cache_dir or None,
        progress=not args.no_progress, meta={"model": str(trained.run_dir)})
    seconds = time.perf_counter() - start
    path = save_features(features, _common.output_path(args.output, trained.run_dir / "features.npz"))
    mat = save_mat(features, Path(args.mat)) if args.mat else None
    q, g = len(features.query.names), len(features.gallery.names)
    text = (f"{q} query and {g} gallery features of dimension {features.meta['embedding_dim']} "
            f"({features.meta['dtype']}, scales {args.scales}, flip {not args.no_flip}) "
            f"in {seconds:.1f} s\nwrote {path}" + (f" and {mat}" if mat else ""))
    _common.emit(args, text, {"features": str(path), "mat": str(mat) if mat else None,
                           "queries": q, "gallery": g, "seconds": round(seconds, 3),
                           **features.meta})


def main(argv: list[str] | None = None) -> int:
    return _common.run(extract, build_parser().parse_args(argv))
