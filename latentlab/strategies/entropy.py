"""``entropy``: classic uncertainty sampling, the highest predictive entropy of F (a stronger baseline)."""

from __future__ import annotations

import numpy as np

from ..predictive import candidate_items, forward
from .base import Proposal, Strategy, entropy_utility, register_strategy

__all__ = ["EntropyStrategy"]


@register_strategy
class EntropyStrategy(Strategy):
    """Highest predictive entropy of F among unlabelled items (optionally a seeded random subset of
    ``ctx.candidates`` items, the usual trick to bound the cost on large pools)."""

    name = "entropy"
    utility_name = "entropy"

    def explain_step(self) -> str:
        return (
            "Step: no move; rings mark the J highest-entropy items, entropy's next picks "
            "(background 'strategy' shows F's entropy)"
        )

    def utility(self, ctx, x):
        return entropy_utility(ctx, x)

    def propose(self, ctx, per_round, rng):
        self.check(ctx, per_round)
        free = candidate_items(ctx, per_round, rng)  # the same draw as before (predictive.candidate_items)
        ent = ctx.task.entropy(forward(ctx.target, ctx.x_pool, free)).numpy()
        order = np.argsort(-ent, kind="stable")[:per_round]
        return Proposal(indices=free[order], score=ent[order])
