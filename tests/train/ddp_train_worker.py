"""Worker of tests/train/test_train.py's two-process run (launched by torchrun): trains with
the command-line options it is given, then saves this rank's final weights to
``<out>/rank<N>.pt`` so the test can compare the replicas itself."""

from __future__ import annotations

import os
import sys

import torch

from reid_fast.runs.config import build_parser, config_from_args
from reid_fast.train.trainer import Trainer


def main() -> None:
    out, argv = sys.argv[1], sys.argv[2:]
    cfg = config_from_args(build_parser().parse_args(argv))
    trainer = Trainer(cfg)
    summary = trainer.run()
    rank = int(os.environ["RANK"])
    torch.save({"model": trainer.model.state_dict(), "steps": summary["steps"],
                "world_size": trainer.ctx.world_size}, os.path.join(out, f"rank{rank}.pt"))


if __name__ == "__main__":
    main()
