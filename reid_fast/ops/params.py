"""The re-ranking parameters: one home for their defaults, their checks and their clamp
to the size of a problem (docs/design.md 3.2)."""

from __future__ import annotations

from dataclasses import dataclass

from .. import validation


@dataclass(frozen=True)
class RerankParams:
    """k-reciprocal re-ranking parameters (Zhong et al.; the AICity 2020 winners' 20/6/0.3).

    Attributes:
        k1: size of the k-reciprocal neighbourhoods, >= 1; needs k1 + 1 <= N = q + g.
        k2: width of the local query expansion, 1 <= k2 <= k1 + 1.
        lambda_: weight of the original distance in the blend, in [0, 1].

    Construction validates (TypeError for a wrong type, ValueError for a wrong value).
    """

    k1: int = 20
    k2: int = 6
    lambda_: float = 0.3

    def __post_init__(self) -> None:
        k1 = validation.integer("k1", self.k1, 1)
        k2 = validation.integer("k2", self.k2, 1)
        if k2 > k1 + 1:
            raise ValueError(f"k2 must be <= k1 + 1 = {k1 + 1} (it averages over the k1 + 1 "
                             f"nearest), got {k2}")
        object.__setattr__(self, "k1", k1)
        object.__setattr__(self, "k2", k2)
        object.__setattr__(self, "lambda_", validation.real("lambda_", self.lambda_, 0.0, 1.0))

    @classmethod
    def for_items(cls, items: int, k1: int, k2: int, lambda_: float) -> RerankParams:
        """The parameters for a problem of ``items`` = q + g items, clamped so that small
        query and gallery sets work: k1 at most items - 1, then k2 at most k1 + 1 (each is
        checked on its own first)."""
        k1 = min(validation.integer("k1", k1, 1), items - 1)
        return cls(k1, min(validation.integer("k2", k2, 1), k1 + 1), lambda_)


DEFAULT_RERANK = RerankParams()
"""k1 20, k2 6, lambda 0.3: the defaults of every re-ranking entry point."""
