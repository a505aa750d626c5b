"""``si-real`` and ``si-mix``: sampling by interpolation kept close to the real masks.

Why they could help where plain SI (``si``) does not. Plain SI trains the target only on decoded
masks: T(1) is G(z), z ~ N(0, I), and every later item is a decoded step from one of them. When
the generator's masks differ from the real ones (a 2-D VAE decodes smooth, average-looking rings),
the target learns the generator's distribution while the test set is real masks, so a better
choice *within* the decoded distribution can still lose to random real masks
(``benchmarks/vessels_why.py`` measures that gap). Both variants keep SI's hard-sample step but
anchor it to the real data:

* **si-real**: T(1) is the seed's random draw of *real* pool masks (the same items random sampling
  starts from, so t=1 is the same model), and each later step starts from a labelled item's latent
  point, real ones at their encoding E(x); the step's gradient is the target's loss on the labelled
  input itself (the real mask for a pool item, the post-processed decoded mask for a synthesized
  one) against that input's label, through G (``loss_on="real"`` of
  :func:`latentlab.gradients.latent_gradient`), because the label belongs to that input, not to
  its decoding. The new items are decoded, post-processed and labelled, as in SI.
* **si-mix**: the same, but each round only half the batch is synthesized; the other half is
  random unlabelled real pool masks, so the real share of the train set never falls below one
  half and new real start points arrive every round.

Start points are drawn uniformly from every labelled item (real and synthesized). Rejected decodes
are redrawn from fresh start points, as in SI.
"""

from __future__ import annotations

import numpy as np

from ..exceptions import ConfigError
from ..gradients import latent_gradient
from .base import Proposal, Strategy, register_strategy
from .si import InterpolationStrategy

__all__ = ["RealStartSI", "MixedSI"]


@register_strategy
class RealStartSI(InterpolationStrategy):
    """SI anchored to real masks: real T(1), steps from labelled real and synthesized points.

    Parameters
    ----------
    random_fraction : float, default 0
        Share of each round's batch taken as random unlabelled pool items (``si-mix``: 0.5).
    max_attempts : int, default 10
        See :class:`~latentlab.strategies.si.InterpolationStrategy`.
    """

    name = "si-real"
    random_fraction = 0.0
    initial = Strategy.initial  # the seed's shared random draw of real pool items

    def __init__(self, max_attempts: int = 10, random_fraction: float | None = None):
        super().__init__(max_attempts)
        if random_fraction is not None:
            if not 0.0 <= random_fraction < 1.0:
                raise ConfigError(f"random_fraction must be in [0, 1), got {random_fraction}")
            self.random_fraction = float(random_fraction)

    def check(self, ctx, per_round: int) -> None:
        super().check(ctx, per_round)
        if ctx.embeddings is None:
            raise ConfigError(
                f"strategy {self.name!r} starts from encoded pool items: it needs the pool's "
                "embeddings (LatentSpace.from_generator)"
            )
        n_random = int(round(self.random_fraction * per_round))
        n_free = ctx.pool.n_pool - ctx.pool.n_labelled
        if n_random > n_free:
            raise ConfigError(
                f"{n_random} random pool items per round but only {n_free} unlabelled are left; "
                "lower --per-round or --rounds"
            )

    def start_points(self, ctx):
        """Every labelled item as a start point: ``(z, x, y)``, pool items first (z = E(x))."""
        z, x, y = [], [], []
        idx = ctx.pool.labelled_indices()
        if idx.size:
            z.append(ctx.embeddings[idx].astype(np.float64))
            x.append(ctx.x_pool[idx])
            y.append(ctx.y_pool[idx])
        syn = ctx.synthetic
        if syn and len(syn["z"]):
            z.append(np.asarray(syn["z"], np.float64))
            x.append(syn["x"])
            y.append(syn["y"])
        if not z:
            raise ConfigError(f"strategy {self.name!r} steps from labelled items; label an initial set first")
        return np.concatenate(z), np.concatenate(x), np.concatenate(y)

    def propose(self, ctx, per_round, rng):
        """``random_fraction`` of the batch as random pool items, the rest stepped by ``alpha`` from
        labelled items along the gradient of the target's loss on them."""
        self.check(ctx, per_round)
        if not ctx.alpha > 0:
            raise ConfigError(f"alpha must be > 0 (a step length in latent units), got {ctx.alpha}")
        n_random = int(round(self.random_fraction * per_round))
        idx = np.zeros(0, np.int64)
        if n_random:
            idx = np.sort(rng.choice(ctx.pool.unlabelled_indices(), n_random, replace=False))
        n_syn = per_round - n_random
        if n_syn == 0:
            return Proposal(indices=idx)
        z0, x0, y0 = self.start_points(ctx)

        def step(start):
            p = z0[start]
            g = latent_gradient(ctx.generator, ctx.target, ctx.task, p, y0[start], x=x0[start], loss_on="real")
            return p, g.d, g.grad_norm, g.loss

        return self._propose_steps(ctx, n_syn, len(z0), step, rng, indices=idx)


@register_strategy
class MixedSI(RealStartSI):
    """``si-real`` with half of every round's batch random unlabelled real pool masks."""

    name = "si-mix"
    random_fraction = 0.5
