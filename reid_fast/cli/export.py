"""``reid-fast export RUN``: export a trained run's embedding model to ONNX.

Reads ``RUN/model.pt`` (a finished run folder of ``reid-fast train``), writes
``RUN/model.onnx`` (input ``images`` (B, 3, H, W) float32, normalised like the training
images; output ``embedding`` (B, D)) and, when onnxruntime is installed, checks it against
PyTorch. Needs ``pip install onnx onnxruntime`` (or ``pip install "reid_fast[export]"``).
"""

from __future__ import annotations

import argparse
import importlib
import pickle
import sys
from pathlib import Path

from ..testtime.onnx_export import MAX_OPSET, MIN_OPSET, ExportReport, export_onnx
from ..testtime.run_model import load_run
from . import _common


def build_parser() -> argparse.ArgumentParser:
    parser = _common.parser("export", "Export the embedding model of a trained run to ONNX "
                                      "and check it against PyTorch with onnxruntime.")
    parser.add_argument("run", metavar="RUN",
                        help="finished run folder of reid-fast train (or its model.pt)")
    parser.add_argument("--output", "-o", default=None,
                        help="ONNX file to write (default: RUN/model.onnx)")
    parser.add_argument("--batch-size", type=_common.positive_int, default=4,
                        help="batch of the traced example input (the batch axis stays "
                             "dynamic unless --static-batch)")
    parser.add_argument("--opset", type=int, default=17,
                        choices=range(MIN_OPSET, MAX_OPSET + 1), metavar="N",
                        help=f"ONNX opset ({MIN_OPSET}..{MAX_OPSET})")
    parser.add_argument("--static-batch", action="store_true",
                        help="fix the batch axis at --batch-size instead of leaving it dynamic")
    parser.add_argument("--no-check", action="store_true",
                        help="skip running the file with onnxruntime against PyTorch")
    parser.add_argument("--image-size", type=_common.positive_int, nargs=2, metavar=("H", "W"),
                        default=None, help="input size (default: the run's training size)")
    _common.add_json(parser)
    return parser


def format_summary(report: ExportReport, run_dir: Path, size_mb: float, checked: bool) -> str:
    """The lines printed after an export."""
    shape = ", ".join(str(v) for v in report.input_shape)
    lines = [f"exported {run_dir} -> {report.path} ({size_mb:.1f} MB, opset {report.opset}, "
             f"{report.seconds:.1f} s)",
             f'input "images" ({shape}) float32 -> output "embedding" '
             f"({report.input_shape[0]}, {report.embedding_dim})"]
    if report.checked_with == "onnxruntime":
        lines.append(f"verified with onnxruntime: max |onnx - torch| = {report.max_abs_diff:.2e}")
    elif checked:
        lines.append("not verified: onnxruntime is not installed (pip install onnxruntime)")
    else:
        lines.append("not verified (--no-check)")
    return "\n".join(lines)


def export(args: argparse.Namespace) -> int:
    try:
        importlib.import_module("onnx")  # fail early, before loading the run
    except ImportError:
        raise ValueError('exporting to ONNX needs the onnx package: pip install onnx onnxruntime '
                         '(or pip install "reid_fast[export]")') from None
    run = Path(args.run)
    if not run.exists():
        raise FileNotFoundError(f"run folder {run} does not exist: pass a finished run folder "
                                "of reid-fast train (it holds model.pt)")
    try:
        trained = load_run(run, device="cpu")
    except FileNotFoundError:
        raise
    except (OSError, KeyError, RuntimeError, pickle.UnpicklingError) as error:
        first_line = (str(error).strip().splitlines() or [""])[0][:200]
        raise ValueError(f"cannot load the model of run {run}: not a model.pt written by "
                         f"reid-fast train ({type(error).__name__}: {first_line})") from None

    output = Path(args.output) if args.output else trained.run_dir / "model.onnx"
    image_size = tuple(args.image_size) if args.image_size else trained.image_size
    try:
        report = export_onnx(trained.model, output, image_size, batch_size=args.batch_size,
                             opset=args.opset, dynamic_batch=not args.static_batch,
                             check=not args.no_check)
    except RuntimeError as error:  # the file disagrees with PyTorch: not the user's input
        print(f"error: {error}", file=sys.stderr, flush=True)
        return 1

    size_mb = report.path.stat().st_size / 2**20
    result = report.as_dict()
    result.update(run_dir=str(trained.run_dir), arch=trained.config.arch,
                  dynamic_batch=not args.static_batch, size_mb=round(size_mb, 3))
    _common.emit(args, format_summary(report, trained.run_dir, size_mb,
                                      checked=not args.no_check), result)
    return 0


def main(argv: list[str] | None = None) -> int:
    return _common.run(export, build_parser().parse_args(argv))
