"""Export a model's test-time embedding to ONNX, checked against PyTorch with onnxruntime.

``onnx`` is needed to export (PyTorch's exporter imports it); ``onnxruntime`` is needed
to verify the exported file. Both are optional dependencies of reid_fast:
``pip install onnx onnxruntime`` (or ``pip install "reid_fast[export]"``).
"""

from __future__ import annotations

import copy
import os
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import validation
from ..atomic import atomic_path

INPUT_NAME = "images"
OUTPUT_NAME = "embedding"
BATCH_AXIS = "batch"

MIN_OPSET = 13


def _max_opset() -> int:
    """Newest opset PyTorch's TorchScript-based exporter writes (20 in torch 2.13)."""
    try:
        from torch.onnx import _constants

        return int(_constants.ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET)
    except (ImportError, AttributeError):  # pragma: no cover - depends on the torch version
        return 20


MAX_OPSET = _max_opset()

_INSTALL_HINT = 'pip install onnx onnxruntime (or pip install "reid_fast[export]")'


@dataclass
class ExportReport:
    """What :func:`export_onnx` wrote and how it was checked.

    Attributes:
        path: the ONNX file.
        opset: its ONNX opset.
        input_shape: shape of the ``images`` input, ``("batch", 3, H, W)`` with a dynamic
            batch axis, else ``(B, 3, H, W)``.
        embedding_dim: width of the ``embedding`` output.
        checked_with: ``"onnxruntime"`` when the file was run and compared with PyTorch,
            ``"none"`` otherwise.
        max_abs_diff: largest |onnxruntime - PyTorch| over the checked batches (None when
            not checked).
        seconds: wall time of the export and its check.
    """

    path: Path
    opset: int
    input_shape: tuple
    embedding_dim: int
    checked_with: str
    max_abs_diff: float | None
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (path as a string, input_shape as a list)."""
        out = asdict(self)
        out["path"] = str(self.path)
        out["input_shape"] = list(self.input_shape)
        return out


def _import_onnx():
    try:
        import onnx
    except ImportError as error:
        raise RuntimeError(f"exporting to ONNX needs the onnx package, which is not installed "
                           f"({error}); install it with: {_INSTALL_HINT}") from error
    return onnx


def _import_onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        return None
    return onnxruntime


def _run_onnxruntime(ort, path: Path, batches: list[torch.Tensor]) -> list:
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only
    session = ort.InferenceSession(str(path), sess_options=options,
                                   providers=["CPUExecutionProvider"])
    try:
        return [session.run([OUTPUT_NAME], {INPUT_NAME: batch.numpy()})[0] for batch in batches]
    finally:
        del session  # release the file before it is renamed


def export_onnx(
    model: nn.Module,
    path: str | os.PathLike,
    image_size: tuple[int, int],
    *,
    batch_size: int = 4,
    opset: int = 17,
    dynamic_batch: bool = True,
    check: bool = True,
    atol: float = 1e-4,
    seed: int = 0,
) -> ExportReport:
    """Export ``model``'s eval-mode embedding to the ONNX file ``path``.

    The graph takes ``images`` (B, 3, H, W) float32 (normalised like the training images)
    and returns ``embedding`` (B, D) float32. It is traced from a float32 CPU copy of the
    model in eval mode; ``model`` itself (device, dtype, training mode) is left alone.
    The file is written atomically (:func:`reid_fast.atomic.atomic_path`): a temporary file
    in the same folder, checked, then renamed over ``path``.

    Args:
        model: a :class:`reid_fast.models.ReidModel` (or any module whose eval forward
            maps (B, 3, H, W) images to a (B, D) tensor).
        path: destination, ending in ``.onnx``; missing folders are created.
        image_size: (H, W) of the exported input.
        batch_size: batch of the example input traced (and checked).
        opset: ONNX opset, :data:`MIN_OPSET` .. :data:`MAX_OPSET`.
        dynamic_batch: make the batch axis dynamic (any B at run time); False fixes it at
            ``batch_size``.
        check: when onnxruntime is installed, run the file on a seeded random batch (and,
            with ``dynamic_batch``, on a second batch size) and compare with PyTorch.
        atol: largest allowed |onnxruntime - PyTorch|.
        seed: seed of the random example batches.

    Returns:
        An :class:`ExportReport`.

    Raises:
        ValueError: a bad argument (the message names it and its value), or a model whose
            eval output is not a (B, D) tensor.
        RuntimeError: ``onnx`` is not installed, or the check found a difference above
            ``atol`` (the file is then not written).

    Without onnxruntime (and ``check=True``) the file is written unverified, with a
    warning, and ``checked_with`` is ``"none"``.
    """
    start = time.perf_counter()
    path = Path(path)
    if path.suffix.lower() != ".onnx":
        raise ValueError(f"path must end in .onnx, got {os.fspath(path)!r}")
    height, width = validation.size_hw("image_size", image_size)
    batch_size = validation.integer("batch_size", batch_size, 1)
    opset = validation.integer("opset", opset, MIN_OPSET, MAX_OPSET)
    atol = validation.real("atol", atol, 0.0)
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    onnx = _import_onnx()
    ort = _import_onnxruntime() if check else None
    if check and ort is None:
        warnings.warn(f"onnxruntime is not installed: {path} is exported but not verified "
                      f"against PyTorch; install it with: {_INSTALL_HINT}", stacklevel=2)

    export_model = copy.deepcopy(model).to(device="cpu", dtype=torch.float32).eval()
    generator = torch.Generator().manual_seed(int(seed))
    example = torch.randn(batch_size, 3, height, width, generator=generator)
    batches = [example]
    if dynamic_batch:
        other = 1 if batch_size > 1 else 2
        batches.append(torch.randn(other, 3, height, width, generator=generator))
    with torch.no_grad():
        expected = [export_model(batch) for batch in batches]
    out = expected[0]
    if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[0] != batch_size:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"model must return a (B, D) embedding tensor in eval mode, got {got}")
    embedding_dim = int(out.shape[1])

    dynamic_axes = ({INPUT_NAME: {0: BATCH_AXIS}, OUTPUT_NAME: {0: BATCH_AXIS}}
                    if dynamic_batch else None)
    with atomic_path(path) as tmp:
        with warnings.catch_warnings():
            # Expected noise: the TorchScript exporter's own deprecation notices, and the
            # tracer noting that ReidModel's input-shape check becomes a constant.
            warnings.filterwarnings("ignore", message=r".*legacy TorchScript-based ONNX export")
            warnings.filterwarnings("ignore", message=r"The feature will be removed")
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning,
                                    module=r"reid_fast\.models\.")
            torch.onnx.export(
                export_model, (example,), str(tmp),
                input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                opset_version=opset, dynamic_axes=dynamic_axes, dynamo=False,
                do_constant_folding=True, export_params=True,
            )
        onnx.checker.check_model(str(tmp))
        max_abs_diff = None
        if ort is not None:
            got = _run_onnxruntime(ort, tmp, batches)
            diffs = [float(abs(g - e.numpy()).max()) for g, e in zip(got, expected)]
            max_abs_diff = max(diffs)
            if not max_abs_diff <= atol:  # NaN fails too
                sizes = ", ".join(str(b.shape[0]) for b in batches)
                raise RuntimeError(
                    f"ONNX export of {path.name} does not match PyTorch: max |onnxruntime - "
                    f"torch| = {max_abs_diff:.3g} > atol {atol:g} (batch sizes {sizes}, "
                    f"opset {opset})")

    input_shape = (BATCH_AXIS if dynamic_batch else batch_size, 3, height, width)
    return ExportReport(path=path, opset=opset, input_shape=input_shape,
                        embedding_dim=embedding_dim,
                        checked_with="onnxruntime" if ort is not None else "none",
                        max_abs_diff=max_abs_diff, seconds=time.perf_counter() - start)
