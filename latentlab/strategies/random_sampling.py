"""``random``: uniform over the unlabelled pool (the paper's baseline)."""

from __future__ import annotations

import numpy as np

from .base import Proposal, Strategy, register_strategy

__all__ = ["RandomStrategy"]


@register_strategy
class RandomStrategy(Strategy):
    """Uniform over the unlabelled pool (the paper's baseline)."""

    name = "random"

    def explain_step(self) -> str:
        return "Step: no move; rings mark J random unlabelled items (random's next picks: it looks at nothing)"

    def propose(self, ctx, per_round, rng):
        self.check(ctx, per_round)
        free = ctx.pool.unlabelled_indices()
        return Proposal(indices=np.sort(rng.choice(free, per_round, replace=False)))
