"""``reid-fast pipeline``: the whole AICity 2020 test-time chain from trained
runs to metrics and a submission: extract (flip + multi-scale TTA) -> fuse -> a recipe
-> evaluate -> submit, printing the mAP effect of every step (the ablation table), with
ranked-list pictures and heatmaps.

Recipes (``--recipe``): ``basic`` (alpha query expansion, DBA, cluster query expansion,
track averaging, re-ranking), ``aicity2020`` (the 1st place's track fusion, query
clusters, predicted-camera penalty, camera clusters, direction, ntop and re-ranking, with
``--camera-model`` / ``--orientation-model`` runs of ``reid-fast train --task camera`` /
``--task orientation``) and ``voc`` (the 2nd place's camera and orientation similarity
subtraction). No step reads the test labels; only the evaluation does.

Without --data the runs' synthetic test set is written in the AICity layout
(image_query/, image_test/, name_query.txt, name_test.txt, test_track.txt and the
ground-truth XMLs) to OUTPUT/data_aicity and read back from there, as a real AICity root
would be. OUTPUT/data_aicity/SOURCE.json names the synthetic configuration it was written
from; a later run with another configuration replaces the folder (written beside it, then
renamed into place) and never evaluates on the old test set.

Every query and gallery image must be readable (an error names the first that is not),
so that the features, track2.txt and the evaluation stay numbered by name_query.txt and
name_test.txt; --placeholder-unreadable gives an unreadable image a zero placeholder
feature instead, ranks the placeholder gallery images last for every query (a final row
of the ablation table measures that step) and lists them in the summary."""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from dataclasses import asdict, fields
from pathlib import Path

from ..atomic import write_text
from ..data.cache import image_pixels
from ..data.formats import load_dataset
from ..devices import resolve_device
from ..eval.submission import ranked_gallery, write_aicity_submission
from ..ops.params import DEFAULT_RERANK, RerankParams
from ..post import AICITY2020, Aicity2020Recipe, VocRecipe
from ..runs.datasets import synthetic_vehicles
from ..testtime.attributes import check_attribute_runs, extract_attributes
from ..testtime.chain import (
    Ablation,
    AblationRow,
    ablation_steps,
    distances_for,
    evaluate_distances,
    format_ablation,
    fuse_feature_sets,
)
from ..testtime.extraction import extract_dataset, rank_placeholders_last
from ..testtime.feature_file import DistanceMatrix, save_distances, save_features
from ..testtime.recipes import RECIPES, aicity2020_chain, voc_chain
from ..testtime.run_model import load_run
from ..viz.reports import heatmap_report, pick_queries, ranked_list_report
from . import _common
from .extract import add_testtime_options, placeholder_note, testtime_arguments
from .postprocess import add_feature_options, post_config


def build_parser() -> argparse.ArgumentParser:
    p = _common.parser("pipeline", "extract -> fuse -> recipe (basic, aicity2020, voc) -> "
                                "evaluate -> submit, with the ablation table")
    p.add_argument("runs", nargs="+", help="run folders of reid-fast train (several = fusion)")
    p.add_argument("--data", default="", help="dataset root (default: the first run's synthetic "
                                              "test set, written in the AICity layout)")
    p.add_argument("--layout", default="auto", help="layout of --data")
    p.add_argument("--output", default="chain", help="folder for every output")
    add_testtime_options(p, [1.0, 1.125])
    p.add_argument("--weights", type=float, nargs="+", default=None,
                   help="fusion weights, one per run (default all 1)")
    p.add_argument("--recipe", choices=RECIPES, default="basic",
                   help="post-processing recipe (default basic)")
    p.add_argument("--camera-model", nargs="+", default=[], metavar="RUN",
                   help="camera runs (reid-fast train --task camera; several are fused): "
                        "predicted cameras, camera clusters (aicity2020) or camera "
                        "similarity (voc)")
    p.add_argument("--orientation-model", nargs="+", default=[], metavar="RUN",
                   help="orientation runs (reid-fast train --task orientation): direction "
                        "penalty (aicity2020) or orientation similarity (voc)")
    p.add_argument("--attribute-scales", type=float, nargs="+", default=[1.0],
                   help="test-time scales of the camera and orientation models (summed)")
    recipe = p.add_argument_group("aicity2020 recipe constants (default: the seed's; "
                                  "reid_fast.post.Aicity2020Recipe; a weight of 0 turns its "
                                  "step off)")
    for field in fields(Aicity2020Recipe):
        if field.name != "rerank":
            recipe.add_argument(f"--aicity-{field.name.replace('_', '-')}",
                                type=type(field.default),
                                default=None, help=f"default {field.default:g}")
    voc = p.add_argument_group("voc recipe constants (reid_fast.post.VocRecipe)")
    for field in fields(VocRecipe):
        voc.add_argument(f"--voc-{field.name.replace('_', '-')}", type=float, default=None,
                         help=f"default {field.default:g}")
    add_feature_options(p)
    p.add_argument("--no-rerank", action="store_true", help="skip re-ranking")
    p.add_argument("--track-rerank", action="store_true",
                   help="also try track-level re-ranking (replaces image re-ranking when on; "
                        "basic recipe)")
    _common.add_rerank(p, None, "the recipe's: 20, 6, 0.3; aicity2020: 70, 10, 0.2")
    p.add_argument("--pictures", type=int, default=20, help="queries in the ranked-list HTML (0 = none)")
    p.add_argument("--batch-size", type=int, default=128, help="images per forward pass")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    _common.add_device(p)
    _common.add_json(p)
    return p


def _aicity_copy(cfg, output: Path) -> Path:
    """The run's synthetic test set in the AICity layout at ``output/data_aicity``, keyed
    by its synthetic configuration: SOURCE.json there holds the configuration and its
    cache key. A folder written from another configuration (or without a readable
    SOURCE.json) is replaced: the new one is written to a sibling temporary folder, then
    renamed into place."""
    synthetic = synthetic_vehicles(cfg)
    source = {"synthetic": asdict(synthetic.config), "cache_key": synthetic.cache_key}
    root = output / "data_aicity"
    try:
        if json.loads((root / "SOURCE.json").read_text())["cache_key"] == synthetic.cache_key:
            return root
    except (OSError, ValueError, KeyError, TypeError):
        pass
    replacing = root.exists()
    print(f"writing the synthetic test set in the AICity layout to {root}"
          + (" (replacing one written from another synthetic configuration)" if replacing
             else ""), flush=True)
    fresh = Path(tempfile.mkdtemp(prefix=".data_aicity-", dir=output))
    old = fresh.with_name(fresh.name + "-old")
    try:
        synthetic.write(fresh, layout="aicity")
        write_text(fresh / "SOURCE.json", json.dumps(source, indent=2) + "\n")
        if replacing:
            root.rename(old)
        fresh.rename(root)
    finally:
        shutil.rmtree(fresh, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    return root


def _recipe(args: argparse.Namespace) -> Aicity2020Recipe | VocRecipe:
    """The chosen recipe's constants: the defaults, with the options given on top."""
    if args.recipe == "voc":
        given = {f.name: getattr(args, f"voc_{f.name}") for f in fields(VocRecipe)}
        return VocRecipe(**{k: v for k, v in given.items() if v is not None})
    given = {f.name: getattr(args, f"aicity_{f.name}") for f in fields(Aicity2020Recipe)
             if f.name != "rerank"}
    return Aicity2020Recipe(**{k: v for k, v in given.items() if v is not None},
                            rerank=RerankParams(**_rerank_options(args, AICITY2020.rerank)))


def _rerank_options(args: argparse.Namespace, defaults: RerankParams) -> dict:
    """k1, k2, lambda_: the options given, the recipe's ``defaults`` for the others."""
    return {name: getattr(defaults, name) if getattr(args, name) is None else getattr(args, name)
            for name in ("k1", "k2", "lambda_")}


def pipeline(args: argparse.Namespace) -> None:
    if args.recipe == "basic" and (args.camera_model or args.orientation_model):
        raise ValueError("--camera-model and --orientation-model need --recipe aicity2020 or voc")
    if args.recipe == "voc" and not (args.camera_model or args.orientation_model):
        raise ValueError("--recipe voc needs --camera-model or --orientation-model runs")
    if args.weights is not None and len(args.weights) != len(args.runs):
        raise ValueError(f"--weights gives {len(args.weights)} fusion weights for "
                         f"{len(args.runs)} runs: give one per run")
    device = resolve_device(args.device)
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    trained = [load_run(run, device) for run in args.runs]
    attribute_runs = {}
    for task, option, runs in (("camera", "--camera-model", args.camera_model),
                               ("orientation", "--orientation-model", args.orientation_model)):
        if runs:
            attribute_runs[task] = [load_run(run, device) for run in runs]
            check_attribute_runs(attribute_runs[task], task, option)
    root = Path(args.data) if args.data else _aicity_copy(trained[0].config, output)
    dataset = load_dataset(root, None if args.layout == "auto" else args.layout)
    progress = not args.no_progress
    rows: list[AblationRow] = []

    def extract(run, **testtime):
        return extract_dataset(run.model, dataset, image_size=run.image_size,
                               **{**testtime_arguments(args, run), **testtime}, device=device,
                               batch_size=args.batch_size, cache_dir=run.config.cache_dir or None,
                               progress=progress, meta={"model": str(run.run_dir)})

    def plain_row(step, features, seconds):
        rows.append(AblationRow(step, evaluate_distances(distances_for(features, device=device),
                                                         features), seconds))

    start = time.perf_counter()
    plain_row("baseline: model 1, one scale, no flip",
              extract(trained[0], scales=[1.0], flip=False, crops=None),
              time.perf_counter() - start)
    sets = []
    for number, run in enumerate(trained, start=1):
        start = time.perf_counter()
        sets.append(extract(run))
        save_features(sets[-1], output / f"features_model{number}.npz")
        if number == 1:
            tta = (("flip + " if not args.no_flip else "") + f"{args.tta} scales {args.scales}"
                   + (" + crops" if args.crops else ""))
            plain_row(f"+ test-time augmentation ({tta})", sets[0], time.perf_counter() - start)
    features = sets[0]
    if len(sets) > 1:
        start = time.perf_counter()
        features = fuse_feature_sets(sets, args.weights, device)
        plain_row(f"+ fusion of {len(sets)} models", features, time.perf_counter() - start)
        save_features(features, output / "features_fused.npz")

    cfg = post_config(args, rerank=not args.no_rerank, track_rerank=args.track_rerank,
                      **_rerank_options(args, DEFAULT_RERANK))
    attributes = {task: extract_attributes(
                      models, task, dataset, scales=args.attribute_scales, device=device,
                      batch_size=args.batch_size, cache_dir=models[0].config.cache_dir or None,
                      progress=progress)
                  for task, models in attribute_runs.items()}
    if args.recipe == "basic":
        steps, distances = ablation_steps(features, cfg, device)
        rows += steps[1:]                       # steps[0] repeats the last row
        settings = {"post": cfg.as_dict()}
    else:
        record = Ablation(features)
        models = {"cameras": attributes.get("camera"),
                  "orientations": attributes.get("orientation")}
        recipe = _recipe(args)
        if args.recipe == "aicity2020":
            distances = aicity2020_chain(features, query_pixels=image_pixels(dataset.query),
                                         gallery_pixels=image_pixels(dataset.gallery),
                                         recipe=recipe, rerank=not args.no_rerank,
                                         device=device, record=record, **models)
        else:
            rerank = None if args.no_rerank else RerankParams(**_rerank_options(args,
                                                                                DEFAULT_RERANK))
            distances = voc_chain(features, recipe=recipe, rerank=rerank, device=device,
                                  record=record, **models)
        rows += record.rows
        settings = {"recipe": asdict(recipe)}
    placeholders = features.meta["placeholders"]
    if placeholders["gallery"]:
        start = time.perf_counter()
        distances = rank_placeholders_last(distances, features)
        rows.append(AblationRow(f"+ {len(placeholders['gallery'])} unreadable gallery images "
                                "ranked last", evaluate_distances(distances, features),
                                time.perf_counter() - start))
    save_distances(DistanceMatrix(distances, features.query.names, features.gallery.names,
                                  {**settings, "runs": args.runs}),
                   output / "distances.npz")
    g = len(features.gallery.names)
    submission = write_aicity_submission(output / "track2.txt", ranked_gallery(distances, min(100, g)),
                                         g, top=min(100, g))
    pictures = {}
    if args.pictures > 0:
        queries = pick_queries(len(features.query.names), args.pictures)
        pictures = ranked_list_report(distances, features, queries=queries,
                                      png=output / "ranked_lists.png",
                                      html=output / "ranked_lists.html")
        pictures["heatmaps"] = str(heatmap_report(trained[0].model, features.query.paths[:8],
                                                  trained[0].image_size,
                                                  output / "heatmaps.png", device))
    table = format_ablation(rows)
    accuracy = {f"{task}_model": {"runs": a.runs, "accuracy": a.accuracy.as_dict()}
                for task, a in attributes.items()}
    summary = {"data": str(root), "runs": args.runs, "recipe_name": args.recipe, **settings,
               **accuracy, "ablation": [r.as_dict() for r in rows], "submission": str(submission),
               "final": rows[-1].metrics.as_dict(), "placeholders": placeholders, **pictures}
    models = "".join(f"\n{task} model top-1 on the test split: {a.accuracy.summary()}"
                     for task, a in attributes.items())
    write_text(output / "ablation.json", json.dumps(summary, indent=2) + "\n")
    write_text(output / "ablation.txt", table + "\n")
    _common.emit(args, f"{table}{models}{placeholder_note(features.meta)}\n\nsubmission "
                    f"{submission}; tables, features, distances and pictures in {output}",
                 summary)


def main(argv: list[str] | None = None) -> int:
    return _common.run(pipeline, build_parser().parse_args(argv))
