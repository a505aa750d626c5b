"""``snn`` and its control ``snn-random-dir``: a latent step from labelled points, then the nearest free item.

``snn`` is sampling by nearest neighbour (Algorithm 1): p' = p + alpha d with d the normalised loss
gradient, then the nearest unlabelled pool item. ``snn-random-dir`` takes the same step length in a
random direction. They differ only in :meth:`LatentStepStrategy.directions` (one hook, shared rest).
"""

from __future__ import annotations

import numpy as np

from ..exceptions import ConfigError
from ..gradients import latent_gradient
from .base import Proposal, Strategy, register_strategy

__all__ = ["LatentStepStrategy", "SNNStrategy", "RandomDirectionStrategy"]


class LatentStepStrategy(Strategy):
    """Shared body of SNN-like strategies: start from labelled points, step, take nearest free items.

    Subclasses implement :meth:`directions`, and may override :meth:`starts` (which labelled
    items the points start from).
    """

    needs_generator = True

    def starts(self, ctx, per_round, rng):
        """Pool items of the ``per_round`` start points: Algorithm 1, line 5, a random subset S of the
        labelled set. When the batch is larger than the labelled set, points are drawn with
        replacement (their neighbours stay distinct)."""
        labelled = ctx.pool.labelled_indices()
        if labelled.size == 0:
            raise ConfigError(f"strategy {self.name!r} starts from labelled items; label an initial set first")
        return rng.choice(labelled, per_round, replace=per_round > labelled.size)

    def directions(self, ctx, p, start, rng):
        """Return ``(d, grad_norm, loss)`` for start points ``p`` (J, n) of pool items ``start``."""
        raise NotImplementedError

    def propose(self, ctx, per_round, rng):
        self.check(ctx, per_round)
        if not ctx.alpha > 0:
            raise ConfigError(f"alpha must be > 0 (a step length in latent units), got {ctx.alpha}")
        start = np.asarray(self.starts(ctx, per_round, rng), np.int64)
        p = ctx.embeddings[start].astype(np.float64)
        d, gnorm, loss = self.directions(ctx, p, start, rng)
        p_prime = p + ctx.alpha * d
        idx, dist = ctx.index.nearest_distinct(p_prime, excluded=ctx.pool.labelled_mask)
        return Proposal(
            indices=idx, p=p, p_prime=p_prime, d=d, grad_norm=gnorm, loss=loss, start_indices=start, neighbour_dist=dist
        )


@register_strategy
class SNNStrategy(LatentStepStrategy):
    """Sampling by nearest neighbour (Algorithm 1): d = normalised dL/dp of F(G(p))."""

    name = "snn"

    def directions(self, ctx, p, start, rng):
        g = latent_gradient(
            ctx.generator,
            ctx.target,
            ctx.task,
            p,
            ctx.y_pool[start],
            x=ctx.x_pool[start] if ctx.loss_on == "real" else None,
            loss_on=ctx.loss_on,
        )
        return g.d, g.grad_norm, g.loss


@register_strategy
class RandomDirectionStrategy(SNNStrategy):
    """Control for SNN: the same step length in a uniformly random direction.

    The loss and gradient norm at p are still computed (and recorded) so the two are comparable;
    only the direction differs. If this control matches SNN, proximity to labelled points, not
    the gradient, is what helps.
    """

    name = "snn-random-dir"

    def directions(self, ctx, p, start, rng):
        _, gnorm, loss = super().directions(ctx, p, start, rng)
        r = rng.standard_normal(p.shape)
        return r / np.linalg.norm(r, axis=1, keepdims=True), gnorm, loss
