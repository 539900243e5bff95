"""The training configuration: one flat dataclass whose fields are grouped into sections.

Sources, later ones winning: the defaults below, a config file (``--config FILE``: TOML
with ``[data]``, ``[model]``, ... sections, or the JSON a run folder stores), then the
command-line options. Every field is a ``--kebab-case`` option of
``reid-fast train``; its ``help`` metadata is the ``--help`` text.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Sequence

from .. import validation
from ..atomic import write_text
from ..augment import AUTOAUGMENT_DRAWS, INTERPOLATIONS, AugmentConfig
from ..data.formats import LAYOUTS
from ..data.tasks import DEFAULT_ORIENTATION_BINS, MAX_ORIENTATION_BINS, TASKS
from ..losses import LOSS_KINDS, LossOptions
from ..models import BACKBONES
from ..ops.params import DEFAULT_RERANK, RerankParams
from ..registry import import_plugins, plugin_reference


def _opt(default: Any, section: str, help: str | Callable[[], str],
         choices: tuple | Callable[[], tuple] | None = None, nargs: int | None = None,
         **kw: Any) -> Any:
    """A field with its section, ``--help`` text, choices and (lists) the number of
    values its option takes (default: any); help and choices may be callables,
    evaluated when the parser is built (registries: what plugins added)."""
    meta = {"section": section, "help": help, "choices": choices, "nargs": nargs}
    if isinstance(default, (list, tuple)):
        return field(default_factory=lambda: list(default), metadata=meta, **kw)
    return field(default=default, metadata=meta, **kw)


SECTIONS = ("data", "model", "loss", "augment", "optim", "train", "eval")

_LOSS_DEFAULTS = LossOptions(num_classes=1, feat_dim=1)
"""The losses' option defaults (one home: :class:`reid_fast.losses.LossOptions`)."""


def option_name(field_name: str) -> str:
    """The ``reid-fast train`` option of a :class:`TrainConfig` field: ``batch_size`` ->
    ``--batch-size``, ``lambda_`` -> ``--lambda``."""
    return "--" + field_name.rstrip("_").replace("_", "-")


@dataclass
class TrainConfig:
    # data
    data: list = _opt([], "data", "dataset roots (several are merged into one label space, "
                      "VehicleNet-style; the first is evaluated); empty = the built-in "
                      "synthetic vehicles")
    layout: str = _opt("auto", "data", "layout of the dataset roots (auto-detected by default)",
                       lambda: ("auto", *LAYOUTS))
    synthetic: bool = _opt(False, "data", "also merge the synthetic vehicles into the training "
                           "data of real roots (the AICity recipe's real + synthetic)")
    synthetic_train_ids: int = _opt(0, "data", "synthetic training identities (0 = dataset default)")
    synthetic_test_ids: int = _opt(0, "data", "synthetic test identities (0 = dataset default)")
    synthetic_seed: int = _opt(0, "data", "seed of the synthetic dataset")
    image_size: list = _opt([64, 64], "data", "training image size H W", nargs=2)
    cache_dir: str = _opt("", "data", "image cache folder (default $REID_FAST_CACHE or "
                          "~/.cache/reid_fast)")
    sampler: str = _opt("pk", "data", "batch sampler", ("shuffle", "balanced", "pk"))
    instances: int = _opt(4, "data", "images per identity in a PK batch")
    batch_size: int = _opt(64, "data", "images per step on each process")
    task: str = _opt("identity", "data", "what the model learns to classify: identity (the re-ID "
                     "embedding), camera or orientation (the AICity 2020 winners' camera and "
                     "orientation models); training images without a label for it are left out",
                     TASKS)
    orientation_bins: int = _opt(DEFAULT_ORIENTATION_BINS, "data", "orientation classes of --task "
                                 "orientation: bins of 360/N degrees")
    # model
    arch: str = _opt("resnet_small", "model", "backbone", lambda: tuple(BACKBONES))
    pool: str = _opt("avg", "model", "pooling", ("avg", "max", "avgmax", "gem"))
    head: str = _opt("bnneck", "model", "head", ("bnneck", "classblock"))
    embedding_dim: int = _opt(512, "model", "class-block embedding size")
    dropout: float = _opt(0.0, "model", "class-block dropout")
    last_stride: int = _opt(1, "model", "stride of the last stage", (1, 2))
    ibn: bool = _opt(False, "model", "IBN-a ResNet")
    pretrained: str = _opt("", "model", "weights to start the backbone from: 'imagenet' (the "
                           "arch's published ImageNet weights, downloaded into the cache and "
                           "hash-checked on first use) or a local torchvision/timm-format file")
    # loss
    loss: str = _opt("ce+triplet", "loss", lambda: "loss terms and weights, e.g. ce+triplet or "
                     f"ce=1,circle=0.5 ({', '.join(LOSS_KINDS)})")
    label_smoothing: float = _opt(0.1, "loss", "cross-entropy label smoothing")
    triplet_margin: float = _opt(0.3, "loss", "triplet margin (0 = soft margin)")
    arc_scale: float = _opt(_LOSS_DEFAULTS.arc_scale, "loss", "ArcFace scale s (the AICity "
                            "2020 winner's ArcLoss: 64)")
    arc_margin: float = _opt(_LOSS_DEFAULTS.arc_margin, "loss", "ArcFace angular margin m "
                             "(radians)")
    sphere_margin: int = _opt(_LOSS_DEFAULTS.sphere_margin, "loss", "SphereFace (A-softmax) "
                              "angle multiplier m")
    sphere_lambda_min: float = _opt(_LOSS_DEFAULTS.sphere_lambda_min, "loss", "SphereFace: "
                                    "floor of the annealed lambda, max(lambda_min, 1500 / (1 + "
                                    "0.1 n)) at the n-th step")
    # augment
    pad: int = _opt(4, "augment", "padding before the random crop (or the random-resized crop)")
    random_resized_crop: bool = _opt(False, "augment", "pad, then a random-resized crop back to "
                                     "the image size, instead of pad + crop")
    rrc_scale: list = _opt(list(AugmentConfig.rrc_scale), "augment", "random-resized crop: "
                           "range of the area fraction", nargs=2)
    rrc_ratio: list = _opt(list(AugmentConfig.rrc_ratio), "augment", "random-resized crop: "
                           "range of the aspect ratio (width / height)", nargs=2)
    interpolation: str = _opt(AugmentConfig.interpolation, "augment", "resize filter: of the "
                              "image cache's decode-time resize to the image size and of the "
                              "on-device resizes (the random-resized crop, evaluation)",
                              INTERPOLATIONS)
    flip_p: float = _opt(0.5, "augment", "horizontal flip probability")
    erasing_p: float = _opt(0.5, "augment", "random erasing probability")
    color_jitter: float = _opt(0.0, "augment", "colour jitter strength")
    autoaugment_p: float = _opt(0.0, "augment", "initial AutoAugment probability, fading "
                                "linearly to 0 over training")
    autoaugment_per: str = _opt(AugmentConfig.autoaugment_per, "augment", "AutoAugment "
                                "probability drawn once per sample, or once per batch (the AICity "
                                "2020 winner: a batch is all augmented or all plain)",
                                AUTOAUGMENT_DRAWS)
    # optim
    optimizer: str = _opt("adamw", "optim", "optimiser", ("sgd", "adamw"))
    lr: float = _opt(1e-3, "optim", "base learning rate (head)")
    backbone_lr_mult: float = _opt(1.0, "optim", "backbone learning rate multiplier "
                                   "(0.1 for fine-tuning ImageNet weights)")
    momentum: float = _opt(0.9, "optim", "SGD momentum (Nesterov)")
    weight_decay: float = _opt(5e-4, "optim", "weight decay")
    schedule: str = _opt("cosine", "optim", "learning-rate schedule", ("cosine", "multistep"))
    milestones: list = _opt([40, 70], "optim", "multi-step epochs")
    gamma: float = _opt(0.1, "optim", "multi-step factor")
    warmup_epochs: float = _opt(1.0, "optim", "linear warm-up length in epochs")
    warmup_start: float = _opt(0.01, "optim", "learning-rate factor at the start of the "
                               "warm-up (rising linearly to 1)")
    epochs: int = _opt(40, "optim", "training epochs")
    # train
    device: str = _opt("auto", "train", "device: auto (CUDA when available), cpu, cuda, cuda:N")
    precision: str = _opt("fp32", "train", "mixed precision", ("fp32", "bf16", "fp16"))
    channels_last: bool = _opt(True, "train", "channels-last memory format")
    compile: bool = _opt(False, "train", "torch.compile the model")
    ema: float = _opt(0.0, "train", "EMA decay of the weights (0 = off); the EMA model is evaluated")
    seed: int = _opt(0, "train", "random seed")
    output: str = _opt("runs", "train", "folder that receives the run folder")
    name: str = _opt("", "train", "run folder name (default: timestamp)")
    resume: str = _opt("", "train", "run folder or checkpoint to resume exactly")
    finetune: str = _opt("", "train", "run folder (or its model.pt) to start from: every "
                         "tensor of its model but the classifier's is copied, the classifier is "
                         "new for this run's classes (stage II of the AICity 2020 recipe)")
    tensorboard: bool = _opt(False, "train", "also write the logged scalars as a TensorBoard "
                             "log in the run folder (needs the tensorboard extra)")
    checkpoint_every: int = _opt(0, "train", "also checkpoint every N steps (0 = each epoch only)")
    max_steps: int = _opt(0, "train", "stop after this many steps in total (0 = all epochs)")
    log_every: int = _opt(10, "train", "steps between metric log lines")
    plugins: list = _opt([], "train", "Python modules (names or .py paths) to import first: "
                         "they may register backbones, dataset layouts and losses; the run "
                         "records them for the commands that load it")
    progress: bool = _opt(True, "train", "progress bars")
    # eval
    eval_every: int = _opt(0, "eval", "evaluate every N epochs (0 = at the end only)")
    eval_untrained: bool = _opt(True, "eval", "also evaluate the untrained network first")
    eval_batch_size: int = _opt(256, "eval", "images per extraction batch")
    flip_test: bool = _opt(True, "eval", "average the features of the image and its mirror")
    rerank: bool = _opt(True, "eval", "also report k-reciprocal re-ranked metrics")
    k1: int = _opt(DEFAULT_RERANK.k1, "eval", "re-ranking k1")
    k2: int = _opt(DEFAULT_RERANK.k2, "eval", "re-ranking k2")
    lambda_: float = _opt(DEFAULT_RERANK.lambda_, "eval", "re-ranking lambda")

    def __post_init__(self) -> None:
        """Check the values whose errors would otherwise come late or never (a negative
        epoch count trains nothing, a NaN learning rate trains garbage); messages name the
        ``--option``."""
        o = option_name
        validation.one_of(o("task"), self.task, TASKS)
        validation.integer(o("orientation_bins"), self.orientation_bins, 1, MAX_ORIENTATION_BINS)
        validation.size_hw(o("image_size"), self.image_size)
        for name in ("epochs", "batch_size", "instances", "embedding_dim", "log_every",
                     "eval_batch_size"):
            validation.integer(o(name), getattr(self, name), 1)
        for name in ("synthetic_train_ids", "synthetic_test_ids", "pad", "max_steps",
                     "checkpoint_every", "eval_every"):
            validation.integer(o(name), getattr(self, name), 0)
        for i, milestone in enumerate(self.milestones):
            validation.integer(f"{o('milestones')}[{i}]", milestone, 0)
        validation.real(o("lr"), self.lr, positive=True)
        for name in ("backbone_lr_mult", "weight_decay", "warmup_epochs", "warmup_start",
                     "triplet_margin", "color_jitter"):
            validation.real(o(name), getattr(self, name), 0)
        validation.real(o("gamma"), self.gamma, positive=True)
        for name in ("momentum", "flip_p", "erasing_p", "autoaugment_p", "dropout",
                     "label_smoothing"):
            validation.probability(o(name), getattr(self, name))

    @property
    def rerank_params(self) -> RerankParams:
        """The evaluation's re-ranking parameters (validated)."""
        return RerankParams(self.k1, self.k2, self.lambda_)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Sectioned plain dict (JSON / TOML ready)."""
        out: dict[str, dict[str, Any]] = {s: {} for s in SECTIONS}
        for f in fields(self):
            out[f.metadata["section"]][f.name] = getattr(self, f.name)
        return out

    def save(self, path: str | os.PathLike) -> None:
        write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")


def _coerce(name: str, value: Any, default: Any) -> Any:
    """Check a value from a config file against the field's default type."""
    kind = type(default)
    if kind is bool:
        if not isinstance(value, bool):
            raise ValueError(f"config value {name} must be true or false; got {value!r}")
        return value
    if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind is list:
        if not isinstance(value, list):
            raise ValueError(f"config value {name} must be a list; got {value!r}")
        return list(value)
    if not isinstance(value, kind) or isinstance(value, bool) != (kind is bool):
        raise ValueError(f"config value {name} must be a {kind.__name__}; got {value!r}")
    return value


def load_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """Flat {field: value} from a TOML or JSON file with (optional) sections."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    kind = "JSON" if path.suffix == ".json" else "TOML"
    try:
        text = path.read_text(encoding="utf-8")
        raw = json.loads(text) if kind == "JSON" else tomllib.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError, tomllib.TOMLDecodeError) as error:
        raise ValueError(f"{path}: not a readable {kind} configuration ({error})") from error
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: a configuration is a {kind} table of keys, got a "
                         f"{type(raw).__name__}")
    defaults = {f.name: f for f in fields(TrainConfig)}
    flat: dict[str, Any] = {}

    def put(key: str, value: Any, where: str) -> None:
        name = key.replace("-", "_")
        if name == "lambda":
            name = "lambda_"
        if name not in defaults:
            raise ValueError(f"{path}: unknown key {where}{key!r}; valid keys: "
                             f"{', '.join(sorted(defaults))}")
        default = getattr(TrainConfig(), name)
        flat[name] = _coerce(name, value, default)

    for key, value in raw.items():
        if isinstance(value, dict):
            if key not in SECTIONS:
                raise ValueError(f"{path}: unknown section [{key}]; valid: {', '.join(SECTIONS)}")
            for sub, v in value.items():
                put(sub, v, f"[{key}] ")
        else:
            put(key, value, "")
    return flat


RUN_MARKERS = ("config.json", "checkpoint.pt", "model.pt")
"""A folder holding any of these holds a run: training refuses it without ``--overwrite``."""

RUN_FILES = (*RUN_MARKERS, "metrics.jsonl", "final_eval.json", "curves.png", "tensorboard")
"""What training writes in a run folder (``tensorboard`` is a folder): ``--overwrite``
deletes these first, and nothing else."""


PRESETS_DIR = Path(__file__).resolve().parent.parent / "configs"


def preset_names() -> list[str]:
    """The shipped presets, sorted: ``aicity2020``, ``aicity2020-ft``, ``transreid``,
    ``veri776``, ``veri776-ft``."""
    return sorted(p.stem for p in PRESETS_DIR.glob("*.toml"))


def resolve_config_path(name: str) -> Path:
    """A config file path, or the name of a shipped preset (:func:`preset_names`)."""
    path = Path(name)
    if path.is_file():
        return path
    preset = PRESETS_DIR / f"{name}.toml"
    if preset.is_file():
        return preset
    shipped = ", ".join(preset_names())
    raise FileNotFoundError(f"--config {name!r} is neither a file nor a shipped preset "
                            f"({shipped})")


SMOKE_OVERRIDES: dict[str, Any] = {
    "data": [], "synthetic": False, "synthetic_train_ids": 8, "synthetic_test_ids": 4,
    "image_size": [64, 64], "batch_size": 4, "instances": 2, "max_steps": 3, "log_every": 1,
    "pretrained": "", "finetune": "", "device": "cpu", "compile": False,
    "checkpoint_every": 0, "eval_every": 0, "eval_untrained": False, "rerank": False,
    "eval_batch_size": 16, "progress": False,
}
"""What ``--smoke`` sets on top of the config file (explicit options still win): 3 steps
of batch 4 (PK 2 x 2) at 64 x 64 on the CPU, on 8 + 4 built-in synthetic identities,
without pretrained or fine-tuning weights, with one final evaluation without
re-ranking. The backbone, head, loss, augmentation and optimiser are the preset's."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reid-fast train",
        description="Train a re-identification embedding. With no arguments: a small ResNet "
                    "on the built-in synthetic vehicles, evaluated with and without re-ranking.")
    parser.add_argument("--config", default="", help="TOML/JSON config file or preset name "
                        f"({', '.join(preset_names())}); command-line options override it")
    parser.add_argument("--json", action="store_true", help="print the final summary as JSON")
    parser.add_argument("--print-config", action="store_true", help="print the resolved "
                        "configuration as JSON and exit without training")
    parser.add_argument("--smoke", action="store_true", help="a few steps of the configuration "
                        "at a small size on the CPU: " + ", ".join(
                            f"{k}={v}" for k, v in SMOKE_OVERRIDES.items()))
    parser.add_argument("--overwrite", action="store_true", help="replace the run already in "
                        "--output/--name: first delete the files training writes there ("
                        f"{', '.join(RUN_FILES)}); without it such a folder is refused (continue "
                        "it with --resume)")
    groups = {s: parser.add_argument_group(s) for s in SECTIONS}
    for f in fields(TrainConfig):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        option = option_name(f.name)
        help_text, choices = f.metadata["help"], f.metadata["choices"]
        kw: dict[str, Any] = {"dest": f.name, "default": None,
                              "help": (help_text() if callable(help_text) else help_text)
                              + f" (default: {default})"}
        if choices:
            kw["choices"] = choices() if callable(choices) else choices
        if isinstance(default, bool):
            kw["action"] = argparse.BooleanOptionalAction
        elif isinstance(default, list):
            kw["nargs"] = f.metadata["nargs"] or "*"
            element = type(default[0]) if default else str
            kw["type"] = element
        else:
            kw["type"] = type(default)
        kw["help"] = kw["help"].replace("%", "%%")
        groups[f.metadata["section"]].add_argument(option, **kw)
    return parser


def config_from_args(args: argparse.Namespace, base: dict[str, Any] | None = None) -> TrainConfig:
    """Defaults < ``base`` (e.g. a resumed run's stored values) < ``--config`` file <
    :data:`SMOKE_OVERRIDES` (with ``--smoke``) < explicit command-line options."""
    values: dict[str, Any] = dict(base or {})
    if args.config:
        values.update(load_config_file(resolve_config_path(args.config)))
    if getattr(args, "smoke", False):
        values.update({k: list(v) if isinstance(v, list) else v
                       for k, v in SMOKE_OVERRIDES.items()})
    for f in fields(TrainConfig):
        value = getattr(args, f.name, None)
        if value is not None:
            values[f.name] = value
    values["plugins"] = [plugin_reference(p) for p in values.get("plugins", [])]
    return TrainConfig(**values)


def command_line_plugins(argv: Sequence[str]) -> list[str]:
    """The ``--plugins`` of a command line, read before the full parser is built."""
    early = argparse.ArgumentParser(add_help=False)
    early.add_argument("--plugins", nargs="*", default=[])
    return early.parse_known_args(list(argv))[0].plugins


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The arguments of a ``reid-fast train`` command line (``sys.argv[1:]`` for None). Its
    ``--plugins`` are imported first, so that the parser takes its choices from registries
    that hold what they register."""
    argv = sys.argv[1:] if argv is None else argv
    import_plugins(command_line_plugins(argv))
    return build_parser().parse_args(argv)


def parse_config(argv: list[str] | None = None) -> tuple[TrainConfig, argparse.Namespace]:
    """The configuration of a ``reid-fast train`` command line, and its arguments."""
    args = parse_args(argv)
    return config_from_args(args), args
