"""``coreset`` and ``badge``: batches spread over F's penultimate feature space.

Both read the input of F's last ``nn.Linear`` (:func:`latentlab.predictive.penultimate_features`:
lenet, lenet-dropout, vgg16), score a seeded random subset of ``ctx.candidates`` unlabelled items
when it is set, and raise :class:`~latentlab.exceptions.ConfigError` on regression tasks.
"""

from __future__ import annotations

import numpy as np
import torch

from ..exceptions import ConfigError
from ..predictive import candidate_items, penultimate_features, require_classification
from .base import Proposal, Strategy, register_strategy

__all__ = ["CoresetStrategy", "BadgeStrategy", "k_centre_greedy", "gradient_embedding"]


# Below this many dimensions a KD-tree finds each candidate's nearest centre exactly and fast (the
# latent plane); above it, where a KD-tree degrades to brute force, torch's chunked cdist is faster.
_KDTREE_MAX_DIM = 16


def _nearest_centre_dist(x: np.ndarray, centres: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """Euclidean distance of each row of ``x`` to its nearest row of ``centres`` (float64)."""
    if x.shape[1] <= _KDTREE_MAX_DIM:
        from scipy.spatial import cKDTree

        return np.asarray(cKDTree(centres).query(x, k=1)[0], np.float64)
    xt, ct = torch.from_numpy(x), torch.from_numpy(centres)
    out = torch.full((len(x),), float("inf"), dtype=torch.float64)
    for a in range(0, len(x), chunk):
        for b in range(0, len(ct), chunk):
            d = torch.cdist(xt[a : a + chunk], ct[b : b + chunk]).min(1).values
            out[a : a + chunk] = torch.minimum(out[a : a + chunk], d)
    return out.numpy()


def k_centre_greedy(
    points: np.ndarray, centres: np.ndarray, k: int, rng: np.random.Generator | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy k-centre (farthest-first traversal, Sener & Savarese 2018).

    Picks ``k`` rows of ``points``, each the farthest from ``centres`` and the rows picked before
    it. The one k-centre of latentlab: ``coreset`` runs it on F's penultimate features,
    ``diverse-entropy`` and ``latent-coreset`` in the latent plane. Written here by hand (a
    farthest-first loop over one nearest-centre query, about ten lines): active-learning packages
    carry core-set samplers, but none is a dependency here and the loop is shorter than an adapter.

    Parameters
    ----------
    points : numpy.ndarray
        Candidates, shape (M, D), in priority order: ties go to the earlier row.
    centres : numpy.ndarray
        Fixed initial centres, shape (C, D), e.g. the labelled items. C may be 0: the first pick is
        then drawn by ``rng``, or is row 0 when ``rng`` is None.
    k : int
        How many rows to pick, 1 <= k <= M.
    rng : numpy.random.Generator, optional
        Draws the first pick when ``centres`` is empty; unused otherwise.

    Returns
    -------
    rows : numpy.ndarray
        The picked rows, int64, shape (k,), distinct, in the order picked.
    dist : numpy.ndarray
        Each pick's distance to its nearest centre or earlier pick when it was picked, float64,
        shape (k,) (inf for a first pick without centres).

    Raises
    ------
    ConfigError
        If ``k`` is not between 1 and the number of candidates.
    """
    points = np.ascontiguousarray(points, np.float64)
    if not 1 <= k <= len(points):
        raise ConfigError(f"k-centre needs 1 <= k <= {len(points)} candidates, got k={k}")
    if len(centres):
        mind = _nearest_centre_dist(points, np.ascontiguousarray(centres, np.float64))
    else:
        mind = np.full(len(points), np.inf)
    rows, dist = np.zeros(k, np.int64), np.zeros(k)
    for i in range(k):
        first_drawn = i == 0 and not len(centres) and rng is not None
        j = int(rng.integers(len(points))) if first_drawn else int(np.argmax(mind))  # first maximum wins ties
        rows[i], dist[i] = j, mind[j]
        mind = np.minimum(mind, np.linalg.norm(points - points[j], axis=1))
        mind[j] = -np.inf  # never again (np.minimum keeps it), even where points repeat
    return rows, dist


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
        picks, dist = k_centre_greedy(feats, centres, per_round, rng)
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
