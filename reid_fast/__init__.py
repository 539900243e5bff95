"""reid_fast: fast vehicle and person re-identification.

The array ops accept torch tensors, NumPy arrays and CuPy arrays (on CPU or CUDA) and
return results of the same kind on the same device.
"""

from __future__ import annotations

from ._build import build_info, cuda_available
from .ops.distance import METRICS, pairwise_distance
from .ops.knn import knn

__version__ = "0.1.0"

__all__ = ["METRICS", "build_info", "cuda_available", "knn", "pairwise_distance", "__version__"]
