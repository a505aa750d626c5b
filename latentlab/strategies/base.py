"""The strategy interface: what a strategy sees (:class:`SamplingContext`), what it returns
(:class:`Proposal`), the :class:`Strategy` base class and the registry (the modAL/baal pattern).

A strategy's :meth:`Strategy.propose` gets the context (the latent space, the current target
model, the pool state) and returns which unlabelled pool items to label next (or synthesized
inputs), plus everything worth recording (start points p, moved points p', directions d, gradient
norms, losses).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..exceptions import ConfigError
from ..latent import LatentSpace
from ..loop_config import LoopConfig
from ..neighbours import LatentIndex
from ..pool import PoolState
from ..registry import Registry

__all__ = [
    "SamplingContext",
    "Proposal",
    "StepResult",
    "STEP_LABELS",
    "step_labels",
    "entropy_utility",
    "Strategy",
    "STRATEGIES",
    "register_strategy",
    "get_strategy",
]


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
    def generator(self):
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


STEP_LABELS = ("start", "prediction", "oracle")  # what label a Step's loss uses at an unlabelled point


@dataclass
class StepResult:
    """One explorer Step of J sampling points by a strategy's own rule (:meth:`Strategy.step`); nothing labelled.

    ``p``, ``p_prime``, ``d`` (J, n): points, moved points, unit directions (``p_prime == p`` and
    ``d == 0`` when the strategy does not move points); ``grad_norm``, ``value`` (J,): |gradient| and
    the objective at p (``objective`` names it: "loss", "entropy", or "" when none); ``picks``:
    pool items the strategy would label next (scoring strategies; empty otherwise); ``used``: one
    line naming what the step used (which label, which score).
    """

    p: np.ndarray
    p_prime: np.ndarray
    d: np.ndarray
    grad_norm: np.ndarray
    value: np.ndarray
    objective: str = ""
    picks: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    used: str = ""

    @property
    def moves(self) -> bool:
        """True when the step moved the points (a direction was taken)."""
        return bool(np.any(self.d))

    @classmethod
    def still(cls, p: np.ndarray, picks=None, used: str = "") -> "StepResult":
        """No move: the points stay where they are; ``picks`` are the strategy's next picks."""
        p = np.asarray(p, np.float64)
        z = np.zeros(len(p))
        picks = np.zeros(0, np.int64) if picks is None else np.asarray(picks, np.int64)
        return cls(p, p.copy(), np.zeros_like(p), z, np.full(len(p), np.nan), "", picks, used)


def step_labels(ctx: SamplingContext, items: np.ndarray, start_y: np.ndarray, p: np.ndarray, choice: str):
    """The labels a Step's loss uses at the points ``p`` (now at pool items ``items``) and a line saying so.

    ``"start"``: the label of each point's start item (paid for, the default); ``"prediction"``: F's
    own answer at G(p) (classification: argmax; regression: F's output, so the loss is zero unless
    F changes); ``"oracle"``: the true label of the item the point sits on (a peek at a label
    nobody paid for, named as such on the page).
    """
    if choice not in STEP_LABELS:
        raise ConfigError(f"step_label must be one of {', '.join(STEP_LABELS)}, got {choice!r}")
    if choice == "start":
        return np.asarray(start_y), "loss w.r.t. each start point's (paid) label"
    if choice == "oracle":
        return np.asarray(ctx.y_pool)[np.asarray(items)], "loss w.r.t. the ORACLE's label here (a peek: not paid for)"
    with torch.no_grad():
        ctx.target.eval()
        out = ctx.target(torch.as_tensor(ctx.latent.decode(np.asarray(p, np.float64))))
    y = out.argmax(1).numpy() if getattr(ctx.task, "categorical", False) else out.numpy()
    return y, "loss w.r.t. F's own prediction at G(p) (no label used)"


def entropy_utility(ctx: SamplingContext, x: np.ndarray) -> np.ndarray:
    """F's predictive entropy of images ``x`` (the utility of the entropy family), float64."""
    return ctx.task.entropy(ctx.task.predict(ctx.target, x)).numpy().astype(np.float64)


class Strategy:
    """Base class. Subclasses set ``name`` and implement :meth:`propose`.

    For the explorer a strategy also says what one Step does (:meth:`step`, :meth:`explain_step`)
    and what its background map shows (:meth:`utility`, :attr:`utility_name`).
    """

    name = "base"
    needs_generator = False
    utility_name = ""  # what utility() returns ('' = the strategy has no per-item score)

    def step(
        self, ctx: SamplingContext, p: np.ndarray, rng: np.random.Generator, y=None, items=None, label: str = "start"
    ) -> StepResult:
        """One explorer Step of the points ``p`` (J, n) by this strategy's own rule; nothing is labelled.

        The default (a strategy that scores or draws pool items) does not move: it names its next
        ``len(p)`` picks.

        Parameters
        ----------
        ctx : SamplingContext
            What the strategy may look at (F, the pool, the latent space).
        p : numpy.ndarray
            The sampling points (J, latent dim).
        rng : numpy.random.Generator
            The Step's seeded stream.
        y : numpy.ndarray, optional
            The start points' labels.
        items : numpy.ndarray, optional
            The pool items the points sit on.
        label : str, default "start"
            A :data:`STEP_LABELS` choice (used by strategies whose step needs a label).

        Returns
        -------
        StepResult
            The new points, their direction and what the step used.
        """
        self.check(ctx, len(p))
        return StepResult.still(p, self.propose(ctx, len(p), rng).indices, used=f"{self.name}'s next picks")

    def explain_step(self) -> str:
        """One line the explorer shows: what Step does for this strategy.

        Returns
        -------
        str
            The line, starting with ``Step:``.
        """
        first = " ".join((type(self).__doc__ or self.name).split("\n\n")[0].split())
        return f"Step: no move; rings mark the next J items {self.name} would label ({first})"

    def utility(self, ctx: SamplingContext, x: np.ndarray) -> np.ndarray | None:
        """The strategy's score of images ``x`` (higher = picked sooner), or None when it has none.

        Parameters
        ----------
        ctx : SamplingContext
            What the strategy may look at (F above all).
        x : numpy.ndarray
            Images (n, C, H, W), e.g. decoded grid points of the map.

        Returns
        -------
        numpy.ndarray or None
            One score per image; None for a strategy without a per-item score.
        """
        return None

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


def register_strategy(cls=None, *, replace: bool = False):
    """Class decorator: register a :class:`Strategy` subclass (``cls``) under its ``name``.

    ``@register_strategy`` or ``@register_strategy(replace=True)``; a taken name (``random``, ...) is
    refused unless ``replace=True``. An in-memory strategy needs no registration: pass it to
    ``run_experiment(strategies=[...])``.

    Parameters
    ----------
    replace : bool, default False
        Replace a strategy already registered under the same name.

    Returns
    -------
    type or callable
        ``cls``, unchanged (or the decorator, when called with keywords only).
    """
    if cls is None:
        return lambda c: STRATEGIES.register(replace=replace)(c)
    return STRATEGIES.register(replace=replace)(cls)


def get_strategy(name: str, **kwargs) -> Strategy:
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
