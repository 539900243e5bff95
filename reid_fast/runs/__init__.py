"""The run folder contract shared by training (which writes runs) and test time (which
reads them): the configuration (``TrainConfig``, presets, config files), checkpoints, and
the datasets a configuration names."""

from .checkpoint import load_checkpoint, save_atomic
from .config import TrainConfig, load_config_file, parse_config
from .datasets import PreparedData, build_dataset, evaluation_data, prepare_data

__all__ = ["PreparedData", "TrainConfig", "build_dataset", "evaluation_data", "load_checkpoint",
           "load_config_file", "parse_config", "prepare_data", "save_atomic"]
