"""``margin`` and ``least-confidence``: classic uncertainty sampling from F's class probabilities.

Both score a seeded random subset of ``ctx.candidates`` unlabelled items when it is set (the
``entropy`` strategy's rule) and raise :class:`~latentlab.exceptions.ConfigError` on regression tasks.
"""

from __future__ import annotations

import numpy as np

from ..predictive import candidate_items, class_probs, require_classification
from .base import Proposal, Strategy, register_strategy

__all__ = ["MarginStrategy", "LeastConfidenceStrategy", "margin_scores", "least_confidence_scores"]


def margin_scores(probs: np.ndarray) -> np.ndarray:
    """Top-1 minus top-2 class probability per item, shape (n,); small = uncertain."""
    top2 = np.sort(np.asarray(probs), axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0]


def least_confidence_scores(probs: np.ndarray) -> np.ndarray:
    """The largest class probability per item, shape (n,); small = uncertain."""
    return np.asarray(probs).max(axis=1)


class _LowestScore(Strategy):
    """Label the ``per_round`` candidates with the lowest ``_score`` (ties: lower pool index first)."""

    def _score(self, probs: np.ndarray) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def explain_step(self) -> str:
        return f"Step: no move; rings mark the J items with the lowest {self.name} score, its next picks"

    def utility(self, ctx, x):
        require_classification(ctx.task, self.name)
        return 1.0 - self._score(class_probs(ctx.target, x).numpy())  # higher = picked sooner

    def propose(self, ctx, per_round, rng):
        require_classification(ctx.task, self.name)
        self.check(ctx, per_round)
        free = candidate_items(ctx, per_round, rng)
        score = self._score(class_probs(ctx.target, ctx.x_pool, items=free).numpy())
        order = np.argsort(score, kind="stable")[:per_round]
        return Proposal(indices=free[order], score=score[order])


@register_strategy
class MarginStrategy(_LowestScore):
    """Smallest margin between F's two most probable classes (Scheffer et al. 2001)."""

    name = "margin"
    utility_name = "1 - margin (top-1 minus top-2 probability)"

    def _score(self, probs):
        return margin_scores(probs)


@register_strategy
class LeastConfidenceStrategy(_LowestScore):
    """Lowest top-1 probability of F (Lewis & Gale 1994; Settles 2009)."""

    name = "least-confidence"
    utility_name = "1 - F's top-1 probability"

    def _score(self, probs):
        return least_confidence_scores(probs)
