"""Query strategies behind one interface, chosen by name (the modAL/baal pattern).

A strategy's :meth:`Strategy.propose` gets a :class:`SamplingContext` (the frozen generator, the
current target model, the pool state, the embeddings and their index) and returns a
:class:`Proposal`: which unlabelled pool items to label next plus everything worth recording
(start points p, moved points p', directions d, gradient norms, losses).

=================  ==========================================================================
``random``         uniform over the unlabelled pool (the paper's baseline)
``snn``            sampling by nearest neighbour (Algorithm 1): p' = p + alpha d, nearest free item
``snn-random-dir`` control: same step length alpha, random unit direction instead of the gradient
``entropy``        classic uncertainty sampling: highest predictive entropy (a stronger baseline)
=================  ==========================================================================

SNN and its control differ only in :meth:`LatentStepStrategy.directions` (one hook, shared rest).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from .exceptions import ConfigError, unknown_choice
from .gradients import latent_gradient
from .neighbours import LatentIndex
from .pool import PoolState

__all__ = ["SamplingContext", "Proposal", "Strategy", "STRATEGIES", "register_strategy", "get_strategy",
           "RandomStrategy", "SNNStrategy", "RandomDirectionStrategy", "EntropyStrategy"]


@dataclass
class SamplingContext:
    """Everything a strategy may look at; strategies must not change it.

    Attributes
    ----------
    x_pool : ndarray, shape (N, C, H, W)   pool images
    y_pool : ndarray, shape (N, ...)       oracle labels (read only for *labelled* items)
    pool : PoolState
    task : latentlab.tasks.Task
    target : torch.nn.Module               current target model F
    generator : module with encode/decode, or None for strategies that need none
    embeddings : ndarray, shape (N, n)     E(x_pool), fixed
    index : LatentIndex                    KD-tree over ``embeddings``
    alpha : float                          step size of Eq. 2 (latent units; prior std is 1)
    loss_on : str                          "decoded" (paper) or "real", see gradients.latent_gradient
    """

    x_pool: np.ndarray
    y_pool: np.ndarray
    pool: PoolState
    task: object
    target: torch.nn.Module
    generator: object = None
    embeddings: np.ndarray | None = None
    index: LatentIndex | None = None
    alpha: float = 0.2
    loss_on: str = "decoded"
    candidates: int | None = None
    labeler: object = None
    synthetic: dict | None = None  # labelled synthesized items: {"x", "y", "z", "round"} arrays

    @property
    def n_labelled(self) -> int:
        return self.pool.n_labelled + (len(self.synthetic["round"]) if self.synthetic else 0)


@dataclass
class Proposal:
    """A batch to label plus what the strategy saw. Arrays have one row per proposed item.

    A proposal names pool items (``indices``) or carries synthesized inputs (``x_new``, with their
    latent points ``z_new``), never both.
    """

    indices: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    x_new: np.ndarray | None = None
    z_new: np.ndarray | None = None
    n_rejected: int = 0
    p: np.ndarray | None = None
    p_prime: np.ndarray | None = None
    d: np.ndarray | None = None
    grad_norm: np.ndarray | None = None
    loss: np.ndarray | None = None
    start_indices: np.ndarray | None = None
    neighbour_dist: np.ndarray | None = None
    score: np.ndarray | None = None

    def arrays(self) -> dict:
        """Array fields worth recording (synthesized images excluded: the store keeps them)."""
        return {k: v for k, v in self.__dict__.items()
                if isinstance(v, np.ndarray) and k != "x_new" and not (k == "indices" and v.size == 0)}


class Strategy:
    """Base class. Subclasses set ``name`` and implement :meth:`propose`."""

    name = "base"
    needs_generator = False

    def propose(self, ctx: SamplingContext, n: int, rng: np.random.Generator) -> Proposal:  # pragma: no cover
        raise NotImplementedError

    def initial(self, ctx: SamplingContext, n: int, rng: np.random.Generator) -> Proposal:
        """The initial set T(1): ``n`` random pool items (override for synthesized starts, as SI does).

        ``rng`` depends on the run seed only, so every pool-based strategy of one seed starts alike.
        """
        return Proposal(indices=np.sort(rng.choice(ctx.pool.n_pool, n, replace=False)))

    @property
    def shares_initial_set(self) -> bool:
        """True when T(1) is the seed's shared random pool draw (so t=1 results of one seed must agree)."""
        return type(self).initial is Strategy.initial

    def check(self, ctx: SamplingContext, n: int) -> None:
        n_free = ctx.pool.n_pool - ctx.pool.n_labelled
        if n < 1:
            raise ConfigError(f"per-round batch size must be >= 1, got {n}")
        if n > n_free:
            raise ConfigError(f"per-round batch of {n} is larger than the {n_free} unlabelled pool items left; "
                              "lower --per-round or --rounds")
        if self.needs_generator and (ctx.generator is None or ctx.index is None):
            raise ConfigError(f"strategy {self.name!r} needs a trained generator and pool embeddings")

    def __repr__(self):
        return f"{self.__class__.__name__}()"


STRATEGIES: dict[str, type] = {}


def register_strategy(cls):
    STRATEGIES[cls.name] = cls
    return cls


def get_strategy(name: str, **kwargs) -> Strategy:
    """A strategy instance by name; an unknown name lists the valid ones."""
    if name not in STRATEGIES:
        raise unknown_choice("strategy", name, STRATEGIES)
    return STRATEGIES[name](**kwargs)


@register_strategy
class RandomStrategy(Strategy):
    name = "random"

    def propose(self, ctx, n, rng):
        self.check(ctx, n)
        free = ctx.pool.unlabelled_indices()
        return Proposal(indices=np.sort(rng.choice(free, n, replace=False)))


@register_strategy
class EntropyStrategy(Strategy):
    """Highest predictive entropy of F among unlabelled items (optionally a seeded random subset of
    ``ctx.candidates`` items, the usual trick to bound the cost on large pools)."""

    name = "entropy"

    def propose(self, ctx, n, rng):
        self.check(ctx, n)
        free = ctx.pool.unlabelled_indices()
        if ctx.candidates and ctx.candidates < len(free):
            free = np.sort(rng.choice(free, max(ctx.candidates, n), replace=False))
        logits = ctx.task.predict(ctx.target, ctx.x_pool[free])
        if logits.ndim != 2:
            raise ConfigError("entropy sampling needs a classification task (class scores per item)")
        logp = torch.log_softmax(logits, 1)
        ent = -(logp.exp() * logp).sum(1).numpy()
        order = np.argsort(-ent, kind="stable")[:n]
        return Proposal(indices=free[order], score=ent[order])


class LatentStepStrategy(Strategy):
    """Shared body of SNN-like strategies: start from labelled points, step, take nearest free items.

    Subclasses implement :meth:`directions` only.
    """

    needs_generator = True

    def directions(self, ctx, p, start, rng):
        """Return ``(d, grad_norm, loss)`` for start points ``p`` (J, n) of pool items ``start``."""
        raise NotImplementedError

    def propose(self, ctx, n, rng):
        self.check(ctx, n)
        if not ctx.alpha > 0:
            raise ConfigError(f"alpha must be > 0 (a step length in latent units), got {ctx.alpha}")
        labelled = ctx.pool.labelled_indices()
        if labelled.size == 0:
            raise ConfigError(f"strategy {self.name!r} starts from labelled items; label an initial set first")
        # Algorithm 1, line 5: a random subset S of the labelled set. When the batch is larger than
        # the labelled set, points are drawn with replacement (their neighbours stay distinct).
        start = rng.choice(labelled, n, replace=n > labelled.size)
        p = ctx.embeddings[start].astype(np.float64)
        d, gnorm, loss = self.directions(ctx, p, start, rng)
        p_prime = p + ctx.alpha * d
        idx, dist = ctx.index.nearest_distinct(p_prime, excluded=ctx.pool.labelled_mask)
        return Proposal(indices=idx, p=p, p_prime=p_prime, d=d, grad_norm=gnorm, loss=loss,
                        start_indices=start, neighbour_dist=dist)


@register_strategy
class SNNStrategy(LatentStepStrategy):
    """Sampling by nearest neighbour (Algorithm 1): d = normalised dL/dp of F(G(p))."""

    name = "snn"

    def directions(self, ctx, p, start, rng):
        g = latent_gradient(ctx.generator, ctx.target, ctx.task, p, ctx.y_pool[start],
                            x=ctx.x_pool[start] if ctx.loss_on == "real" else None, loss_on=ctx.loss_on)
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
