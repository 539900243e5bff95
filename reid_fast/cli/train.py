"""``reid-fast train``: train a re-ID embedding and evaluate it.

With no arguments it trains the small CPU ResNet on the built-in synthetic vehicles
(a few minutes on 2 CPU cores), evaluates it untrained, trained, and trained with
k-reciprocal re-ranking, and prints a summary. Under ``torchrun --nproc_per_node N`` it
trains with DistributedDataParallel. ``--resume RUN_DIR`` continues a run exactly; a new
run refuses a folder that already holds one unless ``--overwrite``.
``--print-config`` prints the resolved configuration as JSON and exits; ``--smoke`` runs
a few CPU steps of any configuration at a small size (``SMOKE_OVERRIDES``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..runs.config import (
    TrainConfig,
    build_parser,
    config_from_args,
    load_config_file,
    parse_args,
)
from ..train.tensorboard import TENSORBOARD_MISSING, tensorboard_available
from ..train.trainer import Trainer
from . import _common

__all__ = ["build_parser", "format_summary", "main"]  # build_parser: generated from TrainConfig


def _resume_config(args) -> TrainConfig:
    """The stored configuration of the run to resume, with the explicit options on top."""
    run = Path(args.resume)
    run_dir = run.parent if run.is_file() else run
    stored = run_dir / "config.json"
    if not stored.is_file():
        raise FileNotFoundError(f"--resume {args.resume}: no config.json in {run_dir}")
    return config_from_args(args, base=load_config_file(stored))


def _row(label: str, metrics: dict) -> str:
    return (f"{label:<18}" + "".join(f"{100 * metrics[k]:>8.1f}"
                                     for k in ("mAP", "rank1", "rank5", "rank10", "mINP")))


def _classification_row(label: str, metrics: dict) -> str:
    top1 = "n/a" if metrics["top1"] is None else f"{100 * metrics['top1']:.1f}"
    return (f"{label:<18}{top1:>8}{100 * metrics['chance']:>8.1f}{metrics['num_classes']:>8}"
            f"{metrics['count']:>8}")


def format_summary(summary: dict) -> str:
    """The table printed at the end of a run: ranking metrics for the identity task, the
    classifier's top-1 accuracy (%, with chance level, classes and images counted) for
    the camera and orientation tasks."""
    task = summary.get("task", "identity")
    if task == "identity":
        lines = [f"{'':<18}{'mAP':>8}{'R1':>8}{'R5':>8}{'R10':>8}{'mINP':>8}"]
        for e in summary["evaluations"]:
            lines.append(_row(e["eval"], e["plain"]))
            if "rerank" in e:
                lines.append(_row(e["eval"] + " + rerank", e["rerank"]))
    else:
        lines = [f"{task + ' task':<18}{'top-1':>8}{'chance':>8}{'classes':>8}{'images':>8}"]
        lines += [_classification_row(e["eval"], e["classification"]) for e in summary["evaluations"]]
    lines.append(f"{summary['steps']} steps in {summary['seconds']:.0f} s on {summary['device']}"
                 + (f" x {summary['world_size']} processes" if summary["world_size"] > 1 else "")
                 + f"; run folder {summary['run_dir']}")
    return "\n".join(lines)


def train(args) -> int | None:
    """Train the configured run and print its summary; with ``--print-config`` print the
    resolved configuration instead. Returns 2 (after one ``error:`` line) when
    ``--tensorboard`` lacks the tensorboard package, else None (exit code 0)."""
    cfg = _resume_config(args) if args.resume else config_from_args(args)
    if args.print_config:
        print(json.dumps(cfg.to_dict(), indent=2), flush=True)
        return None
    if cfg.tensorboard and not tensorboard_available():
        print(f"error: {TENSORBOARD_MISSING}", file=sys.stderr, flush=True)
        return 2
    summary = Trainer(cfg, overwrite=args.overwrite).run()
    if "evaluations" in summary:
        print(json.dumps(summary, indent=2) if args.json else format_summary(summary), flush=True)


def main(argv: list[str] | None = None) -> int:
    return _common.run(train, parse_args(argv))
