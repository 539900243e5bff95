"""The training loop: data, model, loss, optimiser, checkpoints, evaluation, run folder.

A run folder holds ``config.json`` (the resolved configuration), ``checkpoint.pt`` (the
latest resumable state, written atomically), ``model.pt`` (final weights, the config, the
task and its classes, for extraction; both .pt files carry a checksum,
:mod:`reid_fast.runs.checkpoint`), ``metrics.jsonl`` (one JSON object per logged step and
per evaluation; a resume cuts it back to the checkpoint's step), ``curves.png`` and
``final_eval.json``; with ``tensorboard`` also ``tensorboard/`` (the same scalars as a
TensorBoard log).

The task (``cfg.task``, :mod:`reid_fast.data.tasks`) decides the labels: identities (the
re-ID embedding, evaluated by ranking the gallery for each query), cameras or
orientation bins (evaluated by the top-1 accuracy of the model's classifier on the query
and gallery images whose class is known: an evaluation record then holds
``"classification"`` instead of ``"plain"`` / ``"rerank"``).
"""

from __future__ import annotations

import json
import math
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from tqdm.auto import tqdm

from ..atomic import write_text
from ..augment import AugmentConfig, EvalTransform, TrainAugment
from ..data.loader import BatchLoader
from ..data.samplers import PKSampler, build_sampler
from ..data.tasks import mirror_keeps_class, task_labels
from ..eval.classification import ClassificationMetrics, evaluate_classification
from ..eval.embeddings import evaluate_features, extract_features
from ..losses import build_loss
from ..registry import import_plugins
from ..runs.checkpoint import load_checkpoint, save_atomic
from ..runs.config import RUN_FILES, RUN_MARKERS, TrainConfig
from ..runs.datasets import PreparedData, prepare_data
from ..runs.model import build_run_model
from ..viz.curves import plot_training_curves
from .ddp import DistContext, setup_distributed, teardown_distributed
from .ema import ModelEMA
from .finetune import load_finetune
from .optim import build_optimizer, lr_factor
from .tensorboard import ScalarLog

_AUTOCAST = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


class MetricsLog:
    """Appends JSON lines to ``metrics.jsonl`` (main process only), and their scalars to
    a TensorBoard log when given a ``scalars`` writer."""

    def __init__(self, path: Path, enabled: bool, scalars: ScalarLog | None = None) -> None:
        self.path = path
        self.enabled = enabled
        self.scalars = scalars

    def write(self, **record: Any) -> None:
        if self.enabled:
            with self.path.open("a") as f:
                f.write(json.dumps(record) + "\n")
            if self.scalars is not None:
                self.scalars.write(record)

    def close(self) -> None:
        """Flush and close the TensorBoard log, if any."""
        if self.scalars is not None:
            self.scalars.close()

    def truncate(self, step: int) -> None:
        """Keep the records of steps <= ``step`` (a resumed run's checkpoint: the run logs
        the later ones again), and drop a last line cut short by a kill; rewritten
        atomically. A complete line that is not a JSON record with a ``step`` is a
        ValueError naming the file and the line."""
        if not (self.enabled and self.path.is_file()):
            return
        text = self.path.read_text()
        lines = text.split("\n")[:-1]   # the part after the last newline is torn (or empty)
        kept = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                record = None
            if not (isinstance(record, dict) and isinstance(record.get("step"), int)):
                raise ValueError(f"{self.path}, line {number}: not a JSON record with a step")
            if record["step"] <= step:
                kept.append(line + "\n")
        write_text(self.path, "".join(kept))

    def read(self) -> list[dict]:
        if not self.path.is_file():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]


def _run_dir(cfg: TrainConfig, ctx: DistContext) -> Path:
    if cfg.resume:
        path = Path(cfg.resume)
        return path.parent if path.is_file() else path
    name = cfg.name or datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    if ctx.distributed:
        holder = [name]
        dist.broadcast_object_list(holder, src=0)
        name = holder[0]
    return Path(cfg.output) / name


def _claim_run_dir(run_dir: Path, cfg: TrainConfig, overwrite: bool, is_main: bool) -> None:
    """A new run (not ``cfg.resume``) refuses a folder that holds a run (a file of
    :data:`RUN_MARKERS`) unless ``overwrite``: then the main process deletes the
    :data:`RUN_FILES` there first."""
    if cfg.resume:
        if overwrite:
            raise ValueError("--overwrite replaces a run and --resume continues one: pass one")
        return
    found = [name for name in RUN_MARKERS if (run_dir / name).exists()]
    if found and not overwrite:
        raise ValueError(f"{run_dir} already holds a run ({', '.join(found)}): continue it with "
                         f"--resume {run_dir}, replace it with --overwrite (deletes its "
                         "training files first), or pick another --name")
    if overwrite and is_main:
        for name in RUN_FILES:
            path = run_dir / name
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)


class Trainer:
    """Trains ``cfg`` end to end: :meth:`run` returns the final summary (a dict).

    A new run's folder (``cfg.output / cfg.name``) must not hold a run yet, unless
    ``overwrite``: then its training files are deleted first (:func:`_claim_run_dir`).
    """

    def __init__(self, cfg: TrainConfig, *, overwrite: bool = False) -> None:
        import_plugins(cfg.plugins)
        self.cfg = cfg
        self.ctx = setup_distributed(cfg.device)
        self.device = self.ctx.device
        self.run_dir = _run_dir(cfg, self.ctx)
        self.is_main = self.ctx.is_main
        _claim_run_dir(self.run_dir, cfg, overwrite, self.is_main)
        self.show = cfg.progress and self.is_main
        if self.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        scalars = ScalarLog(self.run_dir) if cfg.tensorboard and self.is_main else None
        self.log = MetricsLog(self.run_dir / "metrics.jsonl", self.is_main, scalars)
        self.autocast_dtype = _AUTOCAST[cfg.precision]
        if cfg.precision == "fp16" and self.device.type != "cuda":
            raise ValueError("precision 'fp16' needs a CUDA device; use bf16 on the CPU")

    # ------------------------------------------------------------------ set-up
    def _prepare(self) -> None:
        cfg, ctx = self.cfg, self.ctx
        # Rank 0 decodes into the cache first; the others then open it.
        if ctx.is_main:
            self.data: PreparedData = prepare_data(cfg, progress=self.show)
        ctx.barrier()
        if not ctx.is_main:
            self.data = prepare_data(cfg, progress=False)
        if self.is_main:
            print(self.data.dataset.summary(), flush=True)
            for split in ("train", "query", "gallery"):
                skipped = getattr(self.data, split).skipped
                if skipped:
                    print(f"  {split}: skipped {len(skipped)} unreadable images "
                          f"(first: {skipped[0][0]}: {skipped[0][1]})", flush=True)
        train_labels = task_labels(self.data.train.records, cfg.task,
                                   orientation_bins=cfg.orientation_bins)
        self.labels, self.classes = train_labels.labels, train_labels.classes
        self.num_classes = len(self.classes)
        if self.num_classes < 2:
            raise ValueError(f"the training split has {self.num_classes} classes for task "
                             f"{cfg.task!r}; need >= 2")
        # Classification tasks: the test images' classes among the trained ones (-1: no
        # label, or a class the training images lack).
        self.eval_labels = {}
        if cfg.task != "identity":
            self.eval_labels = {
                split: task_labels(getattr(self.data, split).records, cfg.task,
                                   orientation_bins=cfg.orientation_bins, classes=self.classes).labels
                for split in ("query", "gallery")
            }

        torch.manual_seed(cfg.seed)
        model = build_run_model(cfg, self.num_classes, pretrained=cfg.pretrained or None)
        if cfg.finetune and not cfg.resume:
            report = load_finetune(model, cfg.finetune)
            if self.is_main:
                print(report.summary(), flush=True)
        memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
        self.model = model.to(self.device, memory_format=memory_format)
        self.criterion = build_loss(cfg.loss, num_classes=self.num_classes,
                                    feat_dim=model.embedding_dim,
                                    label_smoothing=cfg.label_smoothing,
                                    triplet_margin=cfg.triplet_margin or None,
                                    arc_scale=cfg.arc_scale, arc_margin=cfg.arc_margin,
                                    sphere_margin=cfg.sphere_margin,
                                    sphere_lambda_min=cfg.sphere_lambda_min).to(self.device)
        self.optimizer = build_optimizer(
            cfg.optimizer, model.backbone_parameters(),
            list(model.head_parameters()) + list(self.criterion.parameters()),
            lr=cfg.lr, backbone_lr_mult=cfg.backbone_lr_mult, weight_decay=cfg.weight_decay,
            momentum=cfg.momentum)
        self.base_lrs = [g["lr"] for g in self.optimizer.param_groups]
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=cfg.precision == "fp16")
        self.ema = ModelEMA(model, cfg.ema) if cfg.ema > 0 else None

        train_model: nn.Module = model
        if ctx.distributed:
            train_model = nn.parallel.DistributedDataParallel(
                model, device_ids=[self.device] if self.device.type == "cuda" else None)
        if cfg.compile:
            train_model = torch.compile(train_model)
        self.train_model = train_model

        sampler = build_sampler(cfg.sampler, self.labels, cfg.batch_size, k=cfg.instances,
                                seed=cfg.seed, rank=ctx.rank, world_size=ctx.world_size)
        if self.is_main:
            self._print_task(sampler)
        self.loader = BatchLoader(self.data.train, self.labels, sampler, self.device)
        if len(self.loader) == 0:
            raise ValueError(f"batch_size {cfg.batch_size} leaves no full batch in "
                             f"{len(self.labels)} training images")
        size = tuple(int(v) for v in cfg.image_size)
        self.augment = TrainAugment(AugmentConfig(
            size=size, pad=cfg.pad, random_resized_crop=cfg.random_resized_crop,
            rrc_scale=tuple(cfg.rrc_scale), rrc_ratio=tuple(cfg.rrc_ratio),
            interpolation=cfg.interpolation,
            flip_p=cfg.flip_p if mirror_keeps_class(cfg.task) else 0.0,
            erasing_p=cfg.erasing_p, color_jitter=cfg.color_jitter,
            autoaugment_p=cfg.autoaugment_p, autoaugment_per=cfg.autoaugment_per))
        self.eval_transform = EvalTransform(size, interpolation=cfg.interpolation)
        # Per-rank generator of the augmentation parameters (saved in checkpoints).
        self.generator = torch.Generator().manual_seed(cfg.seed * 1_000_003 + ctx.rank)
        torch.manual_seed(cfg.seed + 7919 * (ctx.rank + 1))   # dropout etc., per rank
        self.steps_per_epoch = len(self.loader)
        self.total_steps = cfg.epochs * self.steps_per_epoch
        self.epoch, self.step_in_epoch, self.global_step = 0, 0, 0
        self.evaluations: list[dict] = []
        self._input_buffer: torch.Tensor | None = None

    def _print_task(self, sampler) -> None:
        """What the run classifies: said for the camera and orientation tasks, and whenever
        training images are left out or a PK batch repeats classes."""
        cfg = self.cfg
        if cfg.task != "identity":
            print(f"task {cfg.task}: {self.num_classes} classes from {len(self.labels)} training "
                  f"images" + ("" if mirror_keeps_class(cfg.task) else
                               "; no horizontal flips (a mirror changes the class)"), flush=True)
        if self.data.left_out:
            print(f"  left out {self.data.left_out} training images without a {cfg.task} label",
                  flush=True)
        if isinstance(sampler, PKSampler) and sampler.classes_repeat:
            print(f"  pk sampler: {self.num_classes} classes for {sampler.p * self.ctx.world_size} "
                  f"chunks of {sampler.k} per batch: each batch takes classes more than once",
                  flush=True)

    # ------------------------------------------------------------ checkpoints
    def _rng_states(self) -> list[dict]:
        """Every rank's random-number states, gathered (a collective under DDP)."""
        mine = {"torch": torch.get_rng_state(), "augment": self.generator.get_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}
        if not self.ctx.distributed:
            return [mine]
        states: list = [None] * self.ctx.world_size
        dist.all_gather_object(states, mine)
        return states

    def _state(self, rng: list[dict]) -> dict:
        return {
            "config": self.cfg.to_dict(),
            "model": self.model.state_dict(),
            "criterion": self.criterion.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "ema": self.ema.state_dict() if self.ema else None,
            "position": {"epoch": self.epoch, "step_in_epoch": self.step_in_epoch,
                         "global_step": self.global_step},
            "rng": rng,
            "evaluations": json.dumps(self.evaluations),
            "num_classes": self.num_classes,
            "task": self.cfg.task,
            "classes": self.classes,
        }

    def save_checkpoint(self) -> None:
        """Called by every rank (the RNG states are gathered); rank 0 writes."""
        rng = self._rng_states()
        if self.is_main:
            save_atomic(self._state(rng), self.run_dir / "checkpoint.pt")

    def _restore(self, state: dict) -> None:
        saved = (state.get("task", "identity"), state.get("classes", self.classes))
        if saved != (self.cfg.task, self.classes):
            raise ValueError(f"the checkpoint was trained for task {saved[0]!r} with {len(saved[1])} "
                             f"classes, this run has task {self.cfg.task!r} with {self.num_classes}: "
                             "resume with the run's own task and data")
        self.model.load_state_dict(state["model"])
        self.criterion.load_state_dict(state["criterion"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        if self.ema is not None and state["ema"] is not None:
            self.ema.load_state_dict(state["ema"])
        pos = state["position"]
        self.epoch, self.step_in_epoch = pos["epoch"], pos["step_in_epoch"]
        self.global_step = pos["global_step"]
        self.evaluations = json.loads(state["evaluations"])
        states = state["rng"]
        if len(states) == self.ctx.world_size:
            mine = states[self.ctx.rank]
            torch.set_rng_state(mine["torch"])
            self.generator.set_state(mine["augment"])
            if torch.cuda.is_available() and mine["cuda"]:
                torch.cuda.set_rng_state_all(mine["cuda"])
        else:
            # A different number of processes: fresh per-rank streams, derived from the
            # seed and the position (the data order is unaffected).
            offset = self.global_step * 104729
            self.generator.manual_seed(self.cfg.seed * 1_000_003 + self.ctx.rank + offset)
            torch.manual_seed(self.cfg.seed + 7919 * (self.ctx.rank + 1) + offset)

    # ------------------------------------------------------------- evaluation
    def evaluate(self, label: str) -> dict:
        """Score the model on the query and gallery images (main process): ranking metrics
        of their features for the identity task, else the top-1 accuracy of the model's
        classifier on those whose class for the task is known."""
        model = self.ema.module if self.ema is not None else self.model
        common = dict(device=self.device, batch_size=self.cfg.eval_batch_size,
                      flip=self.cfg.flip_test and mirror_keeps_class(self.cfg.task),
                      autocast_dtype=self.autocast_dtype,
                      channels_last=self.cfg.channels_last, progress=self.show)
        if self.cfg.task != "identity":
            return self._evaluate_classification(label, model, common)
        start = time.perf_counter()
        qf = extract_features(model, self.data.query, self.eval_transform, desc="query", **common)
        gf = extract_features(model, self.data.gallery, self.eval_transform, desc="gallery", **common)
        rerank = self.cfg.rerank_params if self.cfg.rerank else None
        results = evaluate_features(qf, gf, self.data.query.records, self.data.gallery.records,
                                    same_camera_junk=self.data.dataset.same_camera_junk,
                                    rerank=rerank)
        record = {"eval": label, "epoch": self.epoch, "step": self.global_step,
                  "seconds": round(time.perf_counter() - start, 3)}
        for name, metrics in results.items():
            record[name] = metrics.as_dict()
        self.evaluations.append(record)
        self.log.write(**record)
        if self.is_main:
            for name, metrics in results.items():
                print(f"[{label}] {name:<7} {metrics.summary()}", flush=True)
        return record

    def _evaluate_classification(self, label: str, model: nn.Module, common: dict) -> dict:
        start = time.perf_counter()
        metrics = ClassificationMetrics.total([
            evaluate_classification(model, getattr(self.data, split), self.eval_labels[split],
                                    self.eval_transform, desc=split, **common)
            for split in ("query", "gallery")
        ])
        record = {"eval": label, "epoch": self.epoch, "step": self.global_step,
                  "seconds": round(time.perf_counter() - start, 3),
                  "classification": metrics.as_dict()}
        self.evaluations.append(record)
        self.log.write(**record)
        if self.is_main:
            print(f"[{label}] {self.cfg.task} {metrics.summary()}", flush=True)
        return record

    # ---------------------------------------------------------------- training
    def _train_step(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[float, dict]:
        factor = lr_factor(self.global_step, total_steps=self.total_steps,
                           steps_per_epoch=self.steps_per_epoch,
                           warmup_epochs=self.cfg.warmup_epochs, schedule=self.cfg.schedule,
                           milestones=self.cfg.milestones, gamma=self.cfg.gamma,
                           warmup_start=self.cfg.warmup_start)
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = base * factor
        progress = self.global_step / max(1, self.total_steps)
        # The previous step's input is dead once its backward ran: reuse its buffer.
        reuse = self._input_buffer
        if reuse is not None and reuse.shape[0] != images.shape[0]:
            reuse = None
        x = self.augment(images, self.generator, progress=progress, out=reuse)
        self._input_buffer = x
        with torch.autocast(self.device.type, dtype=self.autocast_dtype or torch.float32,
                            enabled=self.autocast_dtype is not None):
            output = self.train_model(x)
            loss, parts = self.criterion(output, labels)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss became {float(loss)} at step {self.global_step}; "
                                     "lower --lr or use --precision fp32")
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.ema is not None:
            self.ema.update(self.model)
        return float(loss.detach()), {k: float(v) for k, v in parts.items()}

    def _stop_requested(self) -> bool:
        return bool(self.cfg.max_steps) and self.global_step >= self.cfg.max_steps

    def train(self) -> None:
        cfg = self.cfg
        self.model.train()
        while self.epoch < cfg.epochs and not self._stop_requested():
            bar = tqdm(total=self.steps_per_epoch, initial=self.step_in_epoch,
                       desc=f"epoch {self.epoch + 1}/{cfg.epochs}", disable=not self.show,
                       unit="step", dynamic_ncols=True)
            tick, seen = time.perf_counter(), 0
            for images, labels, _ in self.loader.epoch(self.epoch, start=self.step_in_epoch):
                loss, parts = self._train_step(images, labels)
                self.global_step += 1
                self.step_in_epoch += 1
                seen += images.shape[0] * self.ctx.world_size
                if self.global_step % cfg.log_every == 0 or self.step_in_epoch == self.steps_per_epoch:
                    rate = seen / max(1e-9, time.perf_counter() - tick)
                    self.log.write(step=self.global_step, epoch=self.epoch, loss=loss,
                                   parts=parts, lr=self.optimizer.param_groups[-1]["lr"],
                                   lr_backbone=self.optimizer.param_groups[0]["lr"],
                                   images_per_s=round(rate, 1))
                    tick, seen = time.perf_counter(), 0
                    bar.set_postfix(loss=f"{loss:.3f}", img_s=f"{rate:.0f}")
                bar.update(1)
                if cfg.checkpoint_every and self.global_step % cfg.checkpoint_every == 0:
                    self.save_checkpoint()
                if self._stop_requested():
                    break
            bar.close()
            if self.step_in_epoch >= self.steps_per_epoch:
                self.epoch += 1
                self.step_in_epoch = 0
                self.save_checkpoint()
                if cfg.eval_every and self.epoch % cfg.eval_every == 0 and self.epoch < cfg.epochs:
                    if self.is_main:
                        self.evaluate(f"epoch {self.epoch}")
                    self.ctx.barrier()
            elif self._stop_requested():
                self.save_checkpoint()

    def _broadcast_buffers(self) -> None:
        """DDP syncs buffers (BatchNorm statistics) from rank 0 at the start of each
        forward; after the last step every rank takes rank 0's, so replicas end equal."""
        if self.ctx.distributed:
            for buffer in self.model.buffers():
                dist.broadcast(buffer, src=0)

    # ------------------------------------------------------------------- run
    def replicas_in_sync(self) -> bool:
        """All processes hold bit-identical weights (always True for one process)."""
        if not self.ctx.distributed:
            return True
        # On the training device: NCCL only moves CUDA tensors.
        flat = torch.cat([p.detach().reshape(-1).float() for p in self.model.state_dict().values()
                          if p.dtype.is_floating_point])
        gathered = [torch.zeros_like(flat) for _ in range(self.ctx.world_size)]
        dist.all_gather(gathered, flat)
        return all(torch.equal(gathered[0], g) for g in gathered[1:])

    def run(self) -> dict:
        start = time.perf_counter()
        try:
            self._prepare()
            resumed = False
            if self.cfg.resume:
                self._restore(load_checkpoint(self.run_dir, map_location="cpu",
                                              what=f"--resume {self.cfg.resume}"))
                resumed = True
                self.log.truncate(self.global_step)
                if self.is_main:
                    print(f"resumed {self.run_dir} at epoch {self.epoch + 1}, step "
                          f"{self.global_step}", flush=True)
            if self.is_main:
                self.cfg.save(self.run_dir / "config.json")
                if self.cfg.eval_untrained and not resumed and self.global_step == 0:
                    self.evaluate("untrained")
            self.ctx.barrier()
            try:
                self.train()
            except KeyboardInterrupt:
                if not self.ctx.distributed:   # other ranks may already be gone
                    self.save_checkpoint()
                if self.is_main:
                    print(f"\ninterrupted: checkpoint saved; continue with --resume {self.run_dir}",
                          flush=True)
                raise
            self._broadcast_buffers()
            in_sync = self.replicas_in_sync()
            summary: dict[str, Any] = {"run_dir": str(self.run_dir), "steps": self.global_step,
                                       "replicas_in_sync": in_sync}
            if self.is_main:
                finished = self.epoch >= self.cfg.epochs
                final = self.evaluate("final" if finished else f"step {self.global_step}")
                save_atomic({"config": self.cfg.to_dict(), "num_classes": self.num_classes,
                             "task": self.cfg.task, "classes": self.classes,
                             "model": (self.ema.module if self.ema else self.model).state_dict()},
                            self.run_dir / "model.pt")
                summary.update(self._finish(final, time.perf_counter() - start))
            self.ctx.barrier()
            return summary
        finally:
            self.log.close()
            teardown_distributed(self.ctx)

    def _finish(self, final: dict, seconds: float) -> dict:
        summary = {"seconds": round(seconds, 1), "device": str(self.device),
                   "world_size": self.ctx.world_size, "task": self.cfg.task,
                   "evaluations": self.evaluations}
        write_text(self.run_dir / "final_eval.json", json.dumps(final, indent=2) + "\n")
        steps = [r for r in self.log.read() if "loss" in r]
        losses = {"total": ([r["step"] for r in steps], [r["loss"] for r in steps])}
        for key in (steps[-1]["parts"] if steps else {}):
            losses[key] = ([r["step"] for r in steps], [r["parts"].get(key, math.nan) for r in steps])
        scores = {}
        for kind in ("plain", "rerank"):
            pts = [(e["epoch"], 100 * e[kind]["mAP"]) for e in self.evaluations if kind in e]
            if pts:
                scores[f"mAP {kind}"] = ([p[0] for p in pts], [p[1] for p in pts])
        pts = [(e["epoch"], 100 * e["classification"]["top1"]) for e in self.evaluations
               if e.get("classification", {}).get("top1") is not None]
        if pts:
            scores[f"top-1 {self.cfg.task}"] = ([p[0] for p in pts], [p[1] for p in pts])
        plot_training_curves(self.run_dir / "curves.png", losses, scores)
        return summary
