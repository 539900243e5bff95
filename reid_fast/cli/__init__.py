"""The commands: ``reid-fast <command> ...`` (console script) or ``python -m reid_fast
<command> ...``; ``python -m reid_fast.train`` runs the train command too.

One module per command below this package, each with ``build_parser()`` and
``main(argv) -> int``; ``_common`` holds what they share.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> one line for ``reid-fast --help``; the module is reid_fast.cli.<name>.
COMMANDS: dict[str, str] = {
    "train": "train a re-ID embedding on a dataset (default: the built-in synthetic vehicles)",
    "extract": "test features of a trained run, with flip and multi-scale TTA, to .npz",
    "fuse": "several models' feature files fused into one",
    "postprocess": "feature-level post-processing: query expansion, DBA, track averaging",
    "rerank": "distances of a features file: k-reciprocal re-ranking",
    "evaluate": "mAP, CMC, mINP of a features or distances file",
    "submit": "the AICity track2.txt of a distances file",
    "visualize": "ranked-list sheets and activation heatmaps",
    "export": "export a trained run's model to ONNX and check it with onnxruntime",
    "pipeline": "the whole AICity 2020 test-time chain with its ablation table",
    "demo": "a short demonstration and timing of the native ops",
}


def _parser() -> argparse.ArgumentParser:
    width = max(map(len, COMMANDS))
    listing = "\n".join(f"  {name:<{width}}  {line}" for name, line in COMMANDS.items())
    p = argparse.ArgumentParser(
        prog="reid-fast", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Fast vehicle and person re-identification.",
        epilog=f"commands:\n{listing}\n\n'reid-fast <command> --help' describes a command.")
    p.add_argument("command", metavar="command", choices=tuple(COMMANDS),
                   help="one of the commands below")
    p.add_argument("args", nargs=argparse.REMAINDER, help="the command's arguments")
    return p


def run_command(name: str, argv: list[str] | None) -> int:
    """Run command ``name`` with ``argv`` (its own arguments); returns the exit code."""
    if name not in COMMANDS:
        raise ValueError(f"name: unknown command {name!r}; expected one of {', '.join(COMMANDS)}")
    return importlib.import_module(f"{__name__}.{name}").main(argv)


def main(argv: list[str] | None = None) -> int:
    """``reid-fast <command> [args...]``."""
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    return run_command(args.command, args.args)
