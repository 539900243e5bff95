"""Test time: loading a trained run, feature extraction, feature and distance files, the
post-processing chain, ONNX export."""

from .chain import PostConfig, chain_distances
from .feature_file import (
    DistanceMatrix,
    FeatureSet,
    SplitFeatures,
    load_distances,
    load_features,
    save_distances,
    save_features,
)
from .run_model import TrainedRun, load_run

__all__ = ["DistanceMatrix", "FeatureSet", "PostConfig", "SplitFeatures", "TrainedRun",
           "chain_distances", "load_distances", "load_features", "load_run", "save_distances",
           "save_features"]
