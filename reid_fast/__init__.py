"""reid_fast: fast vehicle and person re-identification.

The public API: the array ops (they accept torch tensors, NumPy arrays and CuPy arrays,
on CPU or CUDA, and return results of the same kind on the same device), the re-ranking
parameters, the inference API (``model = reid_fast.load(RUN)``; ``model.embed(images)``)
and the build status. Subpackages: ``reid_fast.data``, ``.models``, ``.losses``,
``.augment``, ``.eval``, ``.post``, ``.viz``, ``.train``, ``.testtime``, ``.cli``
(docs/design.md 1).
"""

from __future__ import annotations

from ._openmp import default_wait_policy

default_wait_policy()  # before anything loads the OpenMP runtime (torch, reid_fast._C)

from ._build import build_info, cuda_available, cuda_status  # noqa: E402
from .ops.distance import METRICS, pairwise_distance  # noqa: E402
from .ops.jaccard import SparseRows, jaccard_distance, jaccard_distance_batched  # noqa: E402
from .ops.knn import knn  # noqa: E402
from .ops.params import RerankParams  # noqa: E402
from .ops.rerank import rerank, rerank_distances, rerank_similarities  # noqa: E402
from .ops.topk_rows import topk_rows  # noqa: E402

__version__ = "0.1.0"

_INFERENCE_API = ("Embedder", "load")


def __getattr__(name: str):
    """``load`` and ``Embedder`` import the model stack on first use, so that ``import
    reid_fast`` for the array ops stays light."""
    if name in _INFERENCE_API:
        from .testtime import embedder

        value = getattr(embedder, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'reid_fast' has no attribute {name!r}")


__all__ = [
    "METRICS",
    "Embedder",
    "RerankParams",
    "SparseRows",
    "build_info",
    "cuda_available",
    "cuda_status",
    "jaccard_distance",
    "jaccard_distance_batched",
    "knn",
    "load",
    "pairwise_distance",
    "rerank",
    "rerank_distances",
    "rerank_similarities",
    "topk_rows",
    "__version__",
]
