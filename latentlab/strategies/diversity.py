"""``coreset`` and ``badge``: batches spread over F's penultimate feature space.

Both read the input of F's last ``nn.Linear`` (:func:`latentlab.predictive.penultimate_features`:
lenet, lenet-dropout, vgg16), score a seeded random subset of ``ctx.candidates`` unlabelled items
when it is set, and raise :class:`~latentlab.exceptions.ConfigError` on regression tasks.
"""

from __future__ import annotations

import numpy as np
import torch

from ..predictive import candidate_items, penultimate_features, require_classification
from .base import Proposal, Strategy, register_strategy

__all__ = ["CoresetStrategy", "BadgeStrategy", "kcenter_greedy", "gradient_embedding"]


def _min_sq_dist(x: torch.Tensor, centres: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
    """Squared distance of each row of ``x`` to its nearest row of ``centres``, chunked both ways."""
    out = torch.full((len(x),), float("inf"), dtype=x.dtype)
    for a in range(0, len(x), chunk):
        for b in range(0, len(centres), chunk):
            d = torch.cdist(x[a : a + chunk], centres[b : b + chunk]).pow(2).min(1).values
            out[a : a + chunk] = torch.minimum(out[a : a + chunk], d)
    return out


def kcenter_greedy(
    features: np.ndarray, centres: np.ndarray, n: int, rng: np.random.Generator | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy k-centre (Sener & Savarese 2018): ``n`` rows of ``features``, each the farthest from
    ``centres`` and the rows picked before it.

    Parameters
    ----------
    features : ndarray (N, D)   candidates
    centres : ndarray (L, D)    the labelled items (may be empty: the first pick is then drawn by ``rng``)
    n : int
    rng : numpy Generator, needed only when ``centres`` is empty

    Returns
    -------
    picks : ndarray int64 (n,)     row indices into ``features``, in order picked
    dist : ndarray float64 (n,)    each pick's distance to its nearest centre when picked
    """
    x = torch.as_tensor(np.asarray(features), dtype=torch.float64)
    n = min(int(n), len(x))
    if len(centres):
        d2 = _min_sq_dist(x, torch.as_tensor(np.asarray(centres), dtype=torch.float64))
    else:
        d2 = torch.full((len(x),), float("inf"), dtype=torch.float64)
    picks, dist = [], []
    for i in range(n):
        j = int(torch.argmax(d2)) if (i or len(centres)) else int((rng or np.random.default_rng(0)).integers(len(x)))
        picks.append(j)
        dist.append(float(d2[j].sqrt()))
        d2 = torch.minimum(d2, (x - x[j]).pow(2).sum(1))
        d2[picks] = -1.0  # never again, even where features repeat
    return np.asarray(picks, np.int64), np.asarray(dist)


def gradient_embedding(features: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """BADGE's embedding (Ash et al. 2020): the gradient of the cross-entropy at the predicted label
    with respect to the last layer's weights, ``(softmax - onehot(argmax)) outer features``, (n, C * D)."""
    z = torch.as_tensor(np.asarray(logits), dtype=torch.float32)
    g = torch.softmax(z, 1)
    g[torch.arange(len(g)), g.argmax(1)] -= 1.0
    h = torch.as_tensor(np.asarray(features), dtype=torch.float32)
    return (g[:, :, None] * h[:, None, :]).reshape(len(g), -1).numpy()


class _FeatureStrategy(Strategy):
    def _candidates(self, ctx, per_round, rng):
        require_classification(ctx.task, self.name)
        self.check(ctx, per_round)
        free = candidate_items(ctx, per_round, rng)
        return free, *penultimate_features(ctx.target, ctx.x_pool, items=free)


@register_strategy
class CoresetStrategy(_FeatureStrategy):
    """Core-set (Sener & Savarese 2018), greedy k-centre on F's penultimate features; the labelled
    items (pool and synthesized) are the initial centres."""

    name = "coreset"

    def propose(self, ctx, per_round, rng):
        free, feats, _ = self._candidates(ctx, per_round, rng)
        centres = penultimate_features(ctx.target, ctx.x_pool, items=ctx.pool.labelled_indices())[0]
        if ctx.synthetic:
            centres = np.concatenate([centres, penultimate_features(ctx.target, ctx.synthetic["x"])[0]])
        picks, dist = kcenter_greedy(feats, centres, per_round, rng)
        return Proposal(indices=free[picks], score=dist)


@register_strategy
class BadgeStrategy(_FeatureStrategy):
    """BADGE (Ash et al. 2020): k-means++ seeding (``sklearn.cluster.kmeans_plusplus``, seeded) on
    gradient embeddings, which mixes uncertainty (embedding norm) and diversity (spread)."""

    name = "badge"

    def propose(self, ctx, per_round, rng):
        from sklearn.cluster import kmeans_plusplus  # here: scikit-learn's import is a third of `import latentlab`

        free, feats, logits = self._candidates(ctx, per_round, rng)
        emb = gradient_embedding(feats, logits)
        _, picks = kmeans_plusplus(emb, per_round, random_state=int(rng.integers(2**31 - 1)))
        picks = list(dict.fromkeys(int(i) for i in picks))  # k-means++ repeats a point only when all are alike
        if len(picks) < per_round:
            rest = np.setdiff1d(np.arange(len(free)), picks)
            picks += rng.choice(rest, per_round - len(picks), replace=False).tolist()
        picks = np.asarray(picks, np.int64)
        return Proposal(indices=free[picks], score=np.linalg.norm(emb[picks], axis=1))
