"""``snn`` and its control ``snn-random-dir``: a latent step from labelled points, then the nearest free item.

``snn`` is sampling by nearest neighbour (Algorithm 1): p' = p + alpha d with d the normalised loss
gradient, then the nearest unlabelled pool item. ``snn-random-dir`` takes the same step length in a
random direction. They differ only in :meth:`LatentStepStrategy.directions` (one hook, shared rest).
"""

from __future__ import annotations

import numpy as np

from ..exceptions import ConfigError
from ..gradients import latent_gradient
from .base import Proposal, StepResult, Strategy, register_strategy, step_labels

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

    def step_directions(self, ctx, p, y, rng):
        """``(d, grad_norm, value, objective)`` of the explorer's Step at ``p`` with labels ``y``: the
        normalised gradient of F's loss of G(p) (the subclasses' own rule where it differs)."""
        g = latent_gradient(ctx.generator, ctx.target, ctx.task, p, y, loss_on="decoded")
        return g.d, g.grad_norm, g.loss, "loss"

    uses_label = True  # the step's objective needs a label (explorer: the step_label choice)

    def step(self, ctx, p, rng, y=None, items=None, label="start"):
        """p' = p + alpha d with this strategy's direction d (Step then jumps to the nearest item)."""
        p = np.asarray(p, np.float64)
        used = "no label"
        if self.uses_label:
            y, used = step_labels(ctx, items, y, p, label)
        d, gnorm, value, objective = self.step_directions(ctx, p, y, rng)
        return StepResult(p, p + ctx.alpha * d, d, gnorm, value, objective, used=used)

    def explain_step(self) -> str:
        return "Step: p' = p + alpha d along the gradient of F's loss of G(p), then the nearest pool item"

    def utility(self, ctx, x):
        return None  # the loss needs a label: the view's loss map (nearest pool item's label) stands in

    utility_name = "loss"

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
        return _random_unit(rng, p.shape), gnorm, loss

    def step_directions(self, ctx, p, y, rng):
        _, gnorm, loss, objective = super().step_directions(ctx, p, y, rng)
        return _random_unit(rng, p.shape), gnorm, loss, objective

    def explain_step(self) -> str:
        return "Step: p' = p + alpha d in a uniformly random unit direction d (the control), then the nearest item"


def _random_unit(rng, shape) -> np.ndarray:
    """Uniformly random unit vectors, one per row of ``shape``."""
    r = rng.standard_normal(shape)
    return r / np.linalg.norm(r, axis=1, keepdims=True)
