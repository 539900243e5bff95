"""Test time: loading a trained run, feature extraction, feature and distance files, the
camera and orientation models' outputs, the post-processing chain and recipes, ONNX
export."""

from .attributes import AttributeFeatures, extract_attributes
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
from .recipes import RECIPES, aicity2020_chain, voc_chain
from .run_model import TrainedRun, load_run

__all__ = ["RECIPES", "AttributeFeatures", "DistanceMatrix", "FeatureSet", "PostConfig",
           "SplitFeatures", "TrainedRun", "aicity2020_chain", "chain_distances",
           "extract_attributes", "load_distances", "load_features", "load_run", "save_distances",
           "save_features", "voc_chain"]
