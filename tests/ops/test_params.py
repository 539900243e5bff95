"""reid_fast.RerankParams: the defaults, the checks and the clamp of every re-ranking
entry point."""

from __future__ import annotations

import inspect

import pytest

import reid_fast
from reid_fast.ops import sharded
from reid_fast.ops.params import DEFAULT_RERANK, RerankParams
from reid_fast.post import penalised_rerank, track_rerank
from reid_fast.runs.config import TrainConfig
from reid_fast.testtime.chain import PostConfig


def test_defaults_are_the_winners_and_shared():
    assert (DEFAULT_RERANK.k1, DEFAULT_RERANK.k2, DEFAULT_RERANK.lambda_) == (20, 6, 0.3)
    for fn in (reid_fast.rerank, reid_fast.rerank_distances, reid_fast.rerank_similarities,
               sharded.rerank, track_rerank, penalised_rerank):
        parameters = inspect.signature(fn).parameters
        assert (parameters["k1"].default, parameters["k2"].default,
                parameters["lambda_"].default) == (20, 6, 0.3), fn
    for cfg in (PostConfig(), TrainConfig()):
        assert (cfg.k1, cfg.k2, cfg.lambda_) == (20, 6, 0.3)
    assert TrainConfig(k1=7, k2=3, lambda_=0.5).rerank_params == RerankParams(7, 3, 0.5)


def test_checks():
    with pytest.raises(TypeError, match="k1 must be an integer, got float 2.0"):
        RerankParams(2.0)
    with pytest.raises(ValueError, match="k1 must be >= 1, got 0"):
        RerankParams(0)
    with pytest.raises(ValueError, match=r"k2 must be <= k1 \+ 1 = 4 .*got 5"):
        RerankParams(3, 5)
    with pytest.raises(ValueError, match=r"lambda_ must be in \[0, 1\], got 1.5"):
        RerankParams(3, 2, 1.5)
    with pytest.raises(TypeError, match="lambda_ must be a real number"):
        RerankParams(3, 2, "0.3")
    assert RerankParams(3, 4, 1) == RerankParams(3, 4, 1.0)


@pytest.mark.parametrize("items, expected", [(100, (20, 6)), (21, (20, 6)), (5, (4, 5)),
                                             (3, (2, 3)), (2, (1, 2))])
def test_clamp_to_the_problem(items, expected):
    params = RerankParams.for_items(items, 20, 6, 0.3)
    assert (params.k1, params.k2, params.lambda_) == (*expected, 0.3)


def test_clamp_keeps_small_k2_and_checks_first():
    assert RerankParams.for_items(4, 20, 1, 0.0) == RerankParams(3, 1, 0.0)
    assert RerankParams.for_items(100, 2, 10, 0.3) == RerankParams(2, 3, 0.3)
    with pytest.raises(ValueError, match="k2 must be >= 1, got 0"):
        RerankParams.for_items(100, 20, 0, 0.3)
