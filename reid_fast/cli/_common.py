"""Shared pieces of the ``reid-fast <command>`` commands: argument helpers, the
error convention (one ``error: ...`` line on stderr, exit code 2) and output."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable

from .. import validation
from ..ops.params import DEFAULT_RERANK, RerankParams

# ConnectionError: e.g. --pretrained imagenet on a machine without network (the message
# says how to pass a local file instead).
USER_ERRORS = (FileNotFoundError, ValueError, TypeError, ConnectionError)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, except the None of options whose help says what
    they default to."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None:
            return action.help
        return super()._get_help_string(action)


def parser(prog: str, description: str) -> argparse.ArgumentParser:
    """The parser of ``reid-fast <prog>``."""
    return argparse.ArgumentParser(prog=f"reid-fast {prog}", description=description,
                                   formatter_class=HelpFormatter)


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def nonnegative_float(text: str) -> float:
    """argparse type: a finite number >= 0 (not NaN, which every comparison lets through)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    try:
        return validation.real("the value", value, 0.0)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_device(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda, cuda:N")


def add_json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print a JSON object instead of text")


def add_rerank(p: argparse.ArgumentParser, defaults: RerankParams | None = DEFAULT_RERANK,
               later: str = "") -> None:
    """--k1, --k2, --lambda with ``defaults``; None: default None, resolved by the command
    as ``later`` says (e.g. by the chosen recipe)."""
    for flag, dest, kind in (("--k1", "k1", int), ("--k2", "k2", int),
                             ("--lambda", "lambda_", nonnegative_float)):
        value = getattr(defaults, dest) if defaults is not None else None
        note = f"default {value}" if defaults is not None else f"default: {later}"
        p.add_argument(flag, dest=dest, type=kind, default=value,
                       help=f"re-ranking {flag[2:]} ({note})")


def run(main: Callable[[argparse.Namespace], Any], args: argparse.Namespace) -> int:
    """Call ``main(args)``; user errors become one stderr line and exit code 2."""
    try:
        result = main(args)
    except USER_ERRORS as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        return 2
    return 0 if result is None else int(result)


def emit(args: argparse.Namespace, text: str, payload: dict) -> None:
    """Print ``payload`` as JSON with ``--json``, otherwise ``text``."""
    print(json.dumps(payload, indent=2, default=str) if args.json else text, flush=True)


def output_path(value: str, default: Path) -> Path:
    return Path(value) if value else default
