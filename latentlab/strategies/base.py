"""The strategy interface: what a strategy sees (:class:`SamplingContext`), what it returns
(:class:`Proposal`), the :class:`Strategy` base class and the registry (the modAL/baal pattern).

A strategy's :meth:`Strategy.propose` gets the context (the latent space, the current target
model, the pool state) and returns which unlabelled pool items to label next (or synthesized
inputs), plus everything worth recording (start points p, moved points p', directions d, gradient
norms, losses).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..exceptions import ConfigError
from ..latent import LatentSpace
from ..loop_config import LoopConfig
from ..neighbours import LatentIndex
from ..pool import PoolState
from ..registry import Registry

__all__ = ["SamplingContext", "Proposal", "Strategy", "STRATEGIES", "register_strategy", "get_strategy"]


@dataclass
class SamplingContext:
    """Everything a strategy may look at; strategies must not change it.

    Parameters
    ----------
    x_pool : ndarray, shape (N, C, H, W)
        Pool images.
    y_pool : ndarray, shape (N, ...)
        Oracle labels (read only for *labelled* items).
    pool : PoolState
        Which items are labelled.
    task : latentlab.tasks.Task
        Loss, metric, predictions.
    target : torch.nn.Module
        The current target model F.
    latent : LatentSpace or None
        None for strategies that need no generator (``generator``, ``embeddings``, ``index`` read
        through it).
    alpha : float
        Step size of Eq. 2 (latent units; prior std is 1).
    loss_on : str
        ``"decoded"`` (paper) or ``"real"``, see :func:`~latentlab.gradients.latent_gradient`.
    candidates : int or None
        Score a seeded random subset of this many unlabelled items.
    labeler : Labeler or None
        The run's label source (strategies that synthesize inputs ask it what it can label).
    synthetic : dict or None
        Labelled synthesized items: ``{"x", "y", "z", "round"}`` arrays.
    mc_samples : int
        Monte-Carlo dropout passes of BALD and BatchBALD (K).
    """

    x_pool: np.ndarray
    y_pool: np.ndarray
    pool: PoolState
    task: object
    target: torch.nn.Module
    latent: LatentSpace | None = None
    alpha: float = LoopConfig.alpha  # the defaults of a run's settings live in LoopConfig only
    loss_on: str = LoopConfig.loss_on
    candidates: int | None = LoopConfig.candidates
    labeler: object = None
    synthetic: dict | None = None  # labelled synthesized items: {"x", "y", "z", "round"} arrays
    mc_samples: int = LoopConfig.mc_samples

    @property
    def n_labelled(self) -> int:
        """Labelled items: pool items plus synthesized ones."""
        return self.pool.n_labelled + (len(self.synthetic["round"]) if self.synthetic else 0)

    @property
    def generator(self) -> torch.nn.Module | None:
        """The frozen generator (None without a latent space)."""
        return None if self.latent is None else self.latent.generator

    @property
    def embeddings(self) -> np.ndarray | None:
        """The pool's latent codes, shape (N, dim) (None without a latent space)."""
        return None if self.latent is None else self.latent.embeddings

    @property
    def index(self) -> LatentIndex | None:
        """The KD-tree over the pool's codes (None without a latent space)."""
        return None if self.latent is None else self.latent.index


@dataclass
class Proposal:
    """A batch to label plus what the strategy saw. Arrays have one row per proposed item.

    A proposal names pool items (``indices``), carries synthesized inputs (``x_new``, with their
    latent points ``z_new``), or both (a mixed batch: then ``p``, ``p_prime``, ``d``, ``grad_norm``
    and ``loss`` describe the synthesized rows).

    Parameters
    ----------
    indices : ndarray of int64
        Unlabelled pool items to label, distinct.
    x_new : ndarray or None
        Synthesized inputs to label, shape (m, C, H, W).
    z_new : ndarray or None
        Their latent points, shape (m, dim).
    n_rejected : int
        Synthesized inputs the strategy dropped before labeling.
    p, p_prime, d : ndarray or None
        Start points, moved points and unit directions in the latent space, shape (J, dim).
    grad_norm : ndarray or None
        Norm of the latent gradient at each start point.
    loss : ndarray or None
        F's loss at each start point.
    start_indices : ndarray or None
        The pool items the points started from.
    neighbour_dist : ndarray or None
        Latent distance from each moved point to the item proposed for it.
    score : ndarray or None
        The score a scoring strategy ranked by (entropy, BALD, ...).
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
        """Array fields worth recording (synthesized images excluded: the store keeps them).

        Returns
        -------
        dict of str to numpy.ndarray
            Field name -> array, for the fields that are set.
        """
        return {
            k: v
            for k, v in self.__dict__.items()
            if isinstance(v, np.ndarray) and k != "x_new" and not (k == "indices" and v.size == 0)
        }


class Strategy:
    """Base class. Subclasses set ``name`` and implement :meth:`propose`."""

    name = "base"
    needs_generator = False

    def propose(self, ctx: SamplingContext, per_round: int, rng: np.random.Generator) -> Proposal:  # pragma: no cover
        """The next batch: ``per_round`` items (the paper's J) to label.

        Parameters
        ----------
        ctx : SamplingContext
            What the strategy may look at.
        per_round : int
            Items to propose.
        rng : numpy.random.Generator
            The strategy's seeded stream for this round.

        Returns
        -------
        Proposal
            The batch and what the strategy saw.
        """
        raise NotImplementedError

    def initial(self, ctx: SamplingContext, n: int, rng: np.random.Generator) -> Proposal:
        """The initial set T(1): ``n`` random pool items (override for synthesized starts, as SI does).

        Parameters
        ----------
        ctx : SamplingContext
            What the strategy may look at.
        n : int
            Size of the initial set.
        rng : numpy.random.Generator
            Depends on the run seed only, so every pool-based strategy of one seed starts alike.

        Returns
        -------
        Proposal
            The initial set.
        """
        return Proposal(indices=np.sort(rng.choice(ctx.pool.n_pool, n, replace=False)))

    @property
    def shares_initial_set(self) -> bool:
        """True when T(1) is the seed's shared random pool draw (so t=1 results of one seed must agree)."""
        return type(self).initial is Strategy.initial

    def check(self, ctx: SamplingContext, per_round: int) -> None:
        """Refuse a batch this strategy cannot propose (too large, or no latent space when it needs one).

        Parameters
        ----------
        ctx : SamplingContext
            What the strategy may look at.
        per_round : int
            The batch size asked for.

        Raises
        ------
        ConfigError
            Naming the setting to change.
        """
        n_free = ctx.pool.n_pool - ctx.pool.n_labelled
        if per_round < 1:
            raise ConfigError(f"per-round batch size must be >= 1, got {per_round}")
        if per_round > n_free:
            raise ConfigError(
                f"per-round batch of {per_round} is larger than the {n_free} unlabelled pool items left; "
                "lower --per-round or --rounds"
            )
        if self.needs_generator and (ctx.generator is None or ctx.index is None):
            raise ConfigError(f"strategy {self.name!r} needs a trained generator and pool embeddings")

    def __repr__(self):
        return f"{self.__class__.__name__}()"


STRATEGIES = Registry("strategy")  # name -> Strategy subclass
STRATEGIES.__doc__ = """The registered strategies: name -> :class:`Strategy` subclass (:func:`register_strategy`)."""


def register_strategy(cls):
    """Class decorator: register a :class:`Strategy` subclass (``cls``) under its ``name``.

    Returns
    -------
    type
        ``cls``, unchanged.
    """
    return STRATEGIES.register()(cls)


def get_strategy(name: str, **kwargs: Any) -> Strategy:
    """A strategy instance by name; an unknown name lists the valid ones.

    Parameters
    ----------
    name : str
        A registered strategy (:data:`STRATEGIES`).
    **kwargs
        Passed to the strategy's constructor (e.g. ``factor=`` of ``diverse-entropy``).

    Returns
    -------
    Strategy
        The instance.
    """
    return STRATEGIES.resolve(name)(**kwargs)
