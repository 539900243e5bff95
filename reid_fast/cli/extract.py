"""``reid-fast extract``: test features of a trained run, with flip and
multi-scale test-time augmentation, saved as .npz (and optionally .mat).

As the AICity 2020 winner's seed extracts (round(1.1 x the training size), bicubic, its
cumulative multi-scale TTA on --ms 1,1.1, features of detector crops added): reid-fast
extract RUN --data ROOT --test-size-factor 1.1 --interpolation bicubic --tta seed
--scales 1 1.1 --crops CROPS, where CROPS holds a crop of any test image at the image's
path relative to ROOT (CROPS/image_query/000001.jpg); images without one keep their own
feature."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..data.cache import INTERPOLATIONS
from ..devices import resolve_device
from ..runs.datasets import evaluation_data
from ..testtime.extraction import TTA_MODES, extract_dataset
from ..testtime.feature_file import save_features, save_mat
from ..testtime.run_model import TrainedRun, load_run
from . import _common


def build_parser() -> argparse.ArgumentParser:
    p = _common.parser("extract", __doc__.split("\n\n")[0].split(": ", 1)[1])
    p.epilog = "\n\n".join(__doc__.split("\n\n")[1:])
    p.add_argument("run", help="run folder of reid-fast train (holds model.pt)")
    p.add_argument("--data", default="", help="dataset root (default: the run's own data)")
    p.add_argument("--layout", default="auto", help="layout of --data (auto-detected)")
    add_testtime_options(p, [1.0])
    p.add_argument("--half", action="store_true", help="store float16 features")
    p.add_argument("--output", default="", help="features .npz (default RUN/features.npz)")
    p.add_argument("--mat", default="", help="also write a .mat with the historical keys")
    p.add_argument("--batch-size", type=int, default=128, help="images per forward pass")
    p.add_argument("--cache-dir", default="", help="image cache folder (default: the run's)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    _common.add_device(p)
    _common.add_json(p)
    return p


def add_testtime_options(p: argparse.ArgumentParser, scales: list[float]) -> None:
    """The test-input options ``extract`` and ``pipeline`` share (their one home):
    --scales (default ``scales``), --no-flip, --tta, --test-size-factor, --interpolation,
    --crops, --placeholder-unreadable; :func:`testtime_arguments` turns them into
    ``extract_dataset`` arguments."""
    p.add_argument("--scales", type=float, nargs="+", default=scales,
                   help="test-time scales; --tta resize: of the test size, each applied to "
                        "the original image; --tta seed: the seed's --ms values (area "
                        "factors: the tensor is interpolated by their square roots, "
                        "cumulatively)")
    p.add_argument("--no-flip", action="store_true", help="no horizontal-flip augmentation")
    p.add_argument("--tta", choices=TTA_MODES, default="resize",
                   help="multi-scale TTA: resize (each scale resizes the image; per-scale "
                        "features normalised and averaged) or seed (the AICity 2020 "
                        "seed's: bilinear tensor interpolation, raw outputs summed)")
    p.add_argument("--test-size-factor", type=float, default=1.0,
                   help="test size = round(factor x the training size) (the seed: 1.1)")
    p.add_argument("--interpolation", choices=INTERPOLATIONS, default=None,
                   help="Pillow filter resizing the images to the test size (default: the "
                        "run's training --interpolation; the seed: bicubic)")
    p.add_argument("--crops", default="", metavar="DIR",
                   help="folder of crops (e.g. a detector's) at the images' paths relative "
                        "to the dataset root; each image's feature is fused with its crop's")
    p.add_argument("--placeholder-unreadable", action="store_true",
                   help="give an unreadable query or gallery image a zero placeholder "
                        "feature (ranked last by pipeline; listed in the output) instead of "
                        "stopping with an error: rows stay aligned with the name lists")


def testtime_arguments(args: argparse.Namespace, run: TrainedRun) -> dict:
    """The ``extract_dataset`` keyword arguments of :func:`add_testtime_options` for
    ``run`` (whose training filter is the default interpolation)."""
    return {"scales": args.scales, "flip": not args.no_flip, "tta": args.tta,
            "size_factor": args.test_size_factor,
            "interpolation": args.interpolation or run.config.interpolation,
            "crops": args.crops or None, "placeholder_unreadable": args.placeholder_unreadable}


def placeholder_note(meta: dict) -> str:
    """A line naming the unreadable images given placeholder rows (metadata
    ``"placeholders"``, :mod:`reid_fast.testtime.extraction`), or "" when there are none."""
    names = meta.get("placeholders") or {}
    count = sum(len(v) for v in names.values())
    if not count:
        return ""
    listed = "; ".join(f"{split} {', '.join(v)}" for split, v in names.items() if v)
    return f"\n{count} unreadable images have a zero placeholder row: {listed}"


def extract(args: argparse.Namespace) -> None:
    device = resolve_device(args.device)
    trained = load_run(args.run, device)
    dataset, reader, key = evaluation_data(trained.config, args.data or None, args.layout)
    start = time.perf_counter()
    features = extract_dataset(
        trained.model, dataset, image_size=trained.image_size, **testtime_arguments(args, trained),
        device=device, batch_size=args.batch_size, half=args.half,
        reader=reader, cache_key=key, cache_dir=args.cache_dir or trained.config.cache_dir or None,
        progress=not args.no_progress, meta={"model": str(trained.run_dir)})
    seconds = time.perf_counter() - start
    path = save_features(features, _common.output_path(args.output, trained.run_dir / "features.npz"))
    mat = save_mat(features, Path(args.mat)) if args.mat else None
    q, g = len(features.query.names), len(features.gallery.names)
    meta = features.meta
    crops = (f"\ncrops fused for {meta['crops']['query']} of {q} query and "
             f"{meta['crops']['gallery']} of {g} gallery images (the others use the original)"
             if "crops" in meta else "")
    text = (f"{q} query and {g} gallery features of dimension {meta['embedding_dim']} "
            f"({meta['dtype']}, test size {meta['test_size']} {args.interpolation}, "
            f"{args.tta} scales {args.scales}, flip {not args.no_flip}) "
            f"in {seconds:.1f} s{crops}{placeholder_note(meta)}\nwrote {path}"
            + (f" and {mat}" if mat else ""))
    _common.emit(args, text, {"features": str(path), "mat": str(mat) if mat else None,
                           "queries": q, "gallery": g, "seconds": round(seconds, 3),
                           **features.meta})


def main(argv: list[str] | None = None) -> int:
    return _common.run(extract, build_parser().parse_args(argv))
