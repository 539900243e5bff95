"""The whole test-time chain, ``reid-fast pipeline``, on the built-in synthetic data.

A run is trained briefly first (reid_bench.PIPELINE: training identities and steps; its
quality is not the point), on the machine's device; then the chain runs end to end on a
synthetic test set written in the AICity layout: extraction with flip and two scales,
alpha query expansion, gallery track averaging, camera penalty, re-ranking, evaluation and
the validated submission (no pictures). The first call, which also writes the AICity copy
of the test set, is the warm-up. Recorded: the chain's time, each step's time from the
ablation table (``step_s``) and the final mAP. Ours only: the chain has no single public
counterpart (the seed runs it as a series of scripts).
"""

from __future__ import annotations

import json

import pytest
import torch

import reid_bench


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    from reid_fast.cli.train import main as train

    spec = reid_bench.PIPELINE
    root = tmp_path_factory.mktemp("pipeline")
    status = train(["--synthetic-train-ids", str(spec["train_ids"]),
                    "--synthetic-test-ids", str(spec["test_ids"]), "--max-steps", str(spec["steps"]),
                    "--no-eval-untrained", "--no-rerank", "--no-progress", "--cache-dir", str(root / "cache"),
                    "--output", str(root), "--name", "run"])
    assert status == 0
    return root / "run"


def test_pipeline_synthetic(benchmark, record, request, trained_run, tmp_path):
    from reid_fast.cli.pipeline import main as pipeline

    device = "cuda" if torch.cuda.is_available() else "cpu"
    output = tmp_path / "chain"

    def chain():
        assert pipeline([str(trained_run), "--output", str(output), "--pictures", "0",
                         "--no-progress", "--json"]) == 0
        reid_bench.synchronize(device)

    benchmark.group = f"pipeline synthetic {device}"
    rounds = request.config.getoption("--reid-rounds") or 3
    benchmark.pedantic(chain, rounds=rounds, warmup_rounds=1, iterations=1)
    summary = json.loads((output / "ablation.json").read_text())
    spec = reid_bench.PIPELINE
    fields = {"op": "pipeline", "side": "ours", "impl": "reid-fast pipeline (no pictures)",
              "size": f"synthetic-{spec['test_ids']}ids", "device": device, "dtype": "float32",
              "shapes": {"train_ids": spec["train_ids"], "test_ids": spec["test_ids"],
                         "train_steps": spec["steps"]},
              "step_s": {row["step"]: row["seconds"] for row in summary["ablation"]},
              "final_mAP": summary["final"]["mAP"], "peak_memory_bytes": None}
    benchmark.extra_info.update(fields)
    record(benchmark, **fields)
