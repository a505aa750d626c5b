"""Latent strategies beyond the paper: ``snn-hard``, ``uncertainty-ascent``, ``diverse-entropy``,
``latent-coreset``.

* ``snn-hard``: SNN (Algorithm 1) started from the labelled items F gets most wrong;
* ``uncertainty-ascent``: unlabelled points stepped along the gradient of F's predictive entropy
  of G(p) (no label needed), then the nearest free item;
* ``diverse-entropy``: the top-entropy candidates thinned by greedy k-centre in the latent plane;
* ``latent-coreset``: greedy k-centre over all free items, no model (the control that says how
  much of ``diverse-entropy``'s gain is coverage alone).

The first two are :class:`~latentlab.strategies.snn.LatentStepStrategy` subclasses (they override
``starts`` and/or ``directions``); the last two move no point and record the picks' embeddings as
``p`` (no ``p_prime``), so the map draws them without an arrow. Their greedy k-centre is
``coreset``'s (:func:`latentlab.strategies.diversity.k_centre_greedy`, re-exported here).
"""

from __future__ import annotations

import numpy as np

from ..exceptions import ConfigError
from ..gradients import latent_gradient
from .base import Proposal, Strategy, entropy_utility, register_strategy
from .diversity import k_centre_greedy
from .snn import LatentStepStrategy, SNNStrategy

__all__ = [
    "HardStartSNNStrategy",
    "UncertaintyAscentStrategy",
    "DiverseEntropyStrategy",
    "LatentCoresetStrategy",
    "k_centre_greedy",
]


def _needs_classes(strategy: Strategy, ctx) -> None:
    if not getattr(ctx.task, "categorical", False):
        raise ConfigError(
            f"strategy {strategy.name!r} needs F's class probabilities (a classification task); "
            "for regression use snn, snn-hard or random"
        )


def _entropy_of_free(ctx, rng, per_round: int) -> tuple[np.ndarray, np.ndarray]:
    """Unlabelled items (all, or a seeded random subset of ``ctx.candidates``, as ``entropy``) and F's
    predictive entropy of each, float64."""
    free = ctx.pool.unlabelled_indices()
    if ctx.candidates and ctx.candidates < len(free):
        free = np.sort(rng.choice(free, max(ctx.candidates, per_round), replace=False))
    ent = ctx.task.entropy(ctx.task.predict(ctx.target, ctx.x_pool[free])).numpy().astype(np.float64)
    return free, ent


@register_strategy
class HardStartSNNStrategy(SNNStrategy):
    """SNN started from the labelled items with the highest current loss of F on their real x.

    Why it could help: after training, F's loss on a random labelled item is ~1e-4, so SNN's
    gradient there is nearly noise; the items F still gets wrong sit where its decision boundary
    is, and a step from them points at the region F has not learnt yet. Works for regression too
    (the loss is defined for every task). Start points are the top ``per_round`` losses (ties
    broken by a seeded draw); when ``per_round`` exceeds the labelled set, the ranking is cycled.
    """

    name = "snn-hard"

    def starts(self, ctx, per_round, rng):
        labelled = ctx.pool.labelled_indices()
        if labelled.size == 0:
            raise ConfigError(f"strategy {self.name!r} starts from labelled items; label an initial set first")
        loss = ctx.task.item_loss(ctx.target, ctx.x_pool[labelled], ctx.y_pool[labelled])
        order = np.lexsort((rng.permutation(labelled.size), -loss))  # highest loss first, seeded ties
        return labelled[np.resize(order, per_round)]


@register_strategy
class UncertaintyAscentStrategy(LatentStepStrategy):
    """Unlabelled points moved along the gradient of F's predictive entropy of G(p), then the
    nearest free item.

    Why it could help: entropy needs no label, so the step can start where F is already unsure
    (the top-entropy unlabelled items) and push further into the decision boundary, rather than
    from labelled items F has fitted; the nearest free item to p' is a real, labellable image.

    Parameters
    ----------
    start : {"top", "random"}, default "top"
        ``"top"``: the ``per_round`` highest-entropy unlabelled items (of a seeded subset of
        ``ctx.candidates`` items, if set); ``"random"``: a seeded random draw of unlabelled items.
    """

    name = "uncertainty-ascent"
    STARTS = ("top", "random")

    def __init__(self, start: str = "top"):
        if start not in self.STARTS:
            raise ConfigError(f"start must be one of {self.STARTS}, got {start!r}")
        self.start = start

    def starts(self, ctx, per_round, rng):
        _needs_classes(self, ctx)
        if self.start == "random":
            return np.sort(rng.choice(ctx.pool.unlabelled_indices(), per_round, replace=False))
        free, ent = _entropy_of_free(ctx, rng, per_round)
        return free[np.argsort(-ent, kind="stable")[:per_round]]

    def directions(self, ctx, p, start, rng):
        g = latent_gradient(ctx.generator, ctx.target, ctx.task, p, objective="entropy")
        return g.d, g.grad_norm, g.loss

    uses_label = False
    utility_name = "entropy"

    def step_directions(self, ctx, p, y, rng):
        _needs_classes(self, ctx)
        g = latent_gradient(ctx.generator, ctx.target, ctx.task, p, objective="entropy")
        return g.d, g.grad_norm, g.loss, "entropy"

    def explain_step(self) -> str:
        return "Step: p' = p + alpha d along the gradient of F's entropy of G(p) (no label), then the nearest item"

    def utility(self, ctx, x):
        _needs_classes(self, ctx)
        return entropy_utility(ctx, x)

    def propose(self, ctx, per_round, rng):
        prop = super().propose(ctx, per_round, rng)
        prop.score, prop.loss = prop.loss, None  # the entropy of F(G(p)), not a loss: no label was used
        return prop

    def __repr__(self):
        return f"{self.__class__.__name__}(start={self.start!r})"


@register_strategy
class DiverseEntropyStrategy(Strategy):
    """The ``factor * per_round`` highest-entropy unlabelled items, thinned by greedy k-centre in the
    latent plane with the labelled items as initial centres.

    Why it could help: plain top-entropy picks pile up along one stretch of F's decision boundary
    (near-duplicates whose labels teach F the same thing); spreading the batch in latent space
    keeps the uncertainty criterion while covering several boundaries and the unexplored regions.
    Records ``p`` = the picks' embeddings (no ``p_prime``: nothing moves), ``score`` = their entropy
    and ``neighbour_dist`` = each pick's latent distance to the nearest labelled item or earlier pick.

    Parameters
    ----------
    factor : int, default 10
        Candidates kept before thinning = ``factor * per_round`` (capped at the unlabelled pool).
    """

    name = "diverse-entropy"
    needs_generator = True

    def __init__(self, factor: int = 10):
        if not isinstance(factor, (int, np.integer)) or factor < 1:
            raise ConfigError(f"factor (candidates per pick) must be an integer >= 1, got {factor!r}")
        self.factor = int(factor)

    def propose(self, ctx, per_round, rng):
        self.check(ctx, per_round)
        _needs_classes(self, ctx)
        free, ent = _entropy_of_free(ctx, rng, per_round)
        top = np.argsort(-ent, kind="stable")[: min(self.factor * per_round, len(free))]
        cand = free[top]
        rows, dist = k_centre_greedy(ctx.embeddings[cand], ctx.embeddings[ctx.pool.labelled_indices()], per_round)
        idx = cand[rows]
        return Proposal(
            indices=idx, p=ctx.embeddings[idx].astype(np.float64), score=ent[top][rows], neighbour_dist=dist
        )

    def __repr__(self):
        return f"{self.__class__.__name__}(factor={self.factor})"


@register_strategy
class LatentCoresetStrategy(Strategy):
    """Greedy k-centre over the free items in the latent plane, labelled items as initial centres
    (a core set in the generator's latent space; F is not consulted).

    Why it could help: it labels the regions of the data manifold farthest from anything labelled,
    which is what a small labelled set lacks most; as a control it measures how much of
    ``diverse-entropy``'s gain is coverage rather than uncertainty. Works for any task. With
    ``ctx.candidates`` the k-centre runs over a seeded random subset of that many free items.
    Records ``p`` = the picks' embeddings and ``neighbour_dist`` as ``diverse-entropy``.
    """

    name = "latent-coreset"
    needs_generator = True

    def propose(self, ctx, per_round, rng):
        self.check(ctx, per_round)
        free = ctx.pool.unlabelled_indices()
        if ctx.candidates and ctx.candidates < len(free):
            free = np.sort(rng.choice(free, max(ctx.candidates, per_round), replace=False))
        rows, dist = k_centre_greedy(ctx.embeddings[free], ctx.embeddings[ctx.pool.labelled_indices()], per_round)
        idx = free[rows]
        return Proposal(indices=idx, p=ctx.embeddings[idx].astype(np.float64), neighbour_dist=dist)
