"""``reid-fast visualize``: ranked-list sheets (PNG for a few queries, a
self-contained HTML page for many; green = same identity, red = different, greyed =
junk) and activation heatmaps of a trained model over images."""

from __future__ import annotations

import argparse

from ..devices import resolve_device
from ..testtime.chain import distances_for
from ..testtime.feature_file import load_features
from ..testtime.run_model import load_run
from ..viz.reports import heatmap_report, pick_queries, ranked_list_report
from . import _common


def build_parser() -> argparse.ArgumentParser:
    p = _common.parser("visualize", "ranked-list sheets and activation heatmaps")
    sub = p.add_subparsers(dest="what", required=True)
    r = sub.add_parser("ranked", help="ranked-list sheets of a features (and distances) file",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    r.add_argument("features", help="features .npz (labels and image paths)")
    r.add_argument("--distances", default="", help="distances .npz (default: cosine of the features)")
    r.add_argument("--queries", type=int, nargs="*", default=None,
                   help="query indices (default: --count spread over the query set)")
    r.add_argument("--count", type=int, default=20, help="queries when --queries is not given")
    r.add_argument("--top", type=int, default=10, help="gallery images per query")
    r.add_argument("--png", default="ranked_lists.png", help="PNG of the first --png-rows queries")
    r.add_argument("--png-rows", type=int, default=4, help="queries in the PNG")
    r.add_argument("--html", default="ranked_lists.html", help="HTML page of all chosen queries")
    _common.add_json(r)
    h = sub.add_parser("heatmap", help="activation heatmaps of a trained run over images",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    h.add_argument("run", help="run folder of reid-fast train")
    h.add_argument("images", nargs="+", help="image files")
    h.add_argument("--output", default="heatmaps.png", help="PNG sheet")
    _common.add_device(h)
    _common.add_json(h)
    return p


def visualize(args: argparse.Namespace) -> None:
    if args.what == "heatmap":
        device = resolve_device(args.device)
        trained = load_run(args.run, device)
        path = heatmap_report(trained.model, args.images, trained.image_size, args.output, device)
        _common.emit(args, f"wrote {path}", {"output": str(path), "images": len(args.images)})
        return
    features = load_features(args.features)
    distances = distances_for(features, args.distances)
    queries = args.queries if args.queries else pick_queries(len(features.query.names), args.count)
    bad = [i for i in queries if not 0 <= i < len(features.query.names)]
    if bad:
        raise ValueError(f"--queries must be in 0..{len(features.query.names) - 1}; got {bad}")
    out = ranked_list_report(distances, features, queries=queries, top=args.top, png=args.png,
                             html=args.html, png_rows=args.png_rows)
    _common.emit(args, f"wrote {out['png']} and {out['html']} ({out['queries']} queries)", out)


def main(argv: list[str] | None = None) -> int:
    return _common.run(visualize, build_parser().parse_args(argv))
