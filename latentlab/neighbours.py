"""Nearest-neighbour search in latent space with exclusions and no item chosen twice.

:class:`LatentIndex` builds one KD-tree (``scipy.spatial.cKDTree``) over the whole pool's
embeddings once (they are fixed: the generator is frozen) and answers, for a batch of query
points, the nearest item that is *not excluded* (already labelled) and *not already taken* by an
earlier query of the same batch. Candidates come from ``k``-nearest queries; a point whose ``k``
candidates are all excluded is asked again with a larger ``k``, so a round costs a few vectorised
tree queries plus an O(J k) pass over candidate rows (J = batch size), never an O(N) Python loop.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from .exceptions import ConfigError

__all__ = ["LatentIndex"]


class LatentIndex:
    """KD-tree over pool embeddings.

    Parameters
    ----------
    embeddings : ndarray, shape (N, n)
        The pool's latent codes, finite.
    """

    def __init__(self, embeddings: np.ndarray):
        self.embeddings = np.asarray(embeddings, dtype=np.float64)
        if self.embeddings.ndim != 2 or not np.all(np.isfinite(self.embeddings)):
            raise ConfigError("embeddings must be a finite (N, n) array")
        self.tree = cKDTree(self.embeddings)
        self.n = len(self.embeddings)

    def nearest_distinct(self, points: np.ndarray, excluded: np.ndarray | None = None, k0: int = 16):
        """For each query point, the nearest pool item that is neither excluded nor taken before it.

        Queries are served in the order given (greedy): when the nearest free item of point j was
        already taken by a point before j, point j gets its next nearest. The result equals the
        sequential brute-force greedy assignment exactly.

        Parameters
        ----------
        points : ndarray, shape (J, n)
            The query points, served in this order.
        excluded : ndarray of bool, shape (N,), optional
            Items that may not be chosen (e.g. labelled ones).
        k0 : int, default 16
            Neighbours asked for first; a point whose candidates are all taken is asked again
            with eight times as many.

        Returns
        -------
        indices : ndarray, shape (J,), int64
            The pool item given to each point (distinct).
        distances : ndarray, shape (J,), float64
            Each point's latent distance to its item.

        Raises
        ------
        ConfigError
            Fewer free items than query points.
        """
        points = np.atleast_2d(np.asarray(points, dtype=np.float64))
        taken = np.zeros(self.n, bool) if excluded is None else np.asarray(excluded, bool).copy()
        n_free = self.n - int(taken.sum())
        if len(points) > n_free:
            raise ConfigError(
                f"asked for {len(points)} distinct items but only {n_free} pool items are free; "
                "lower the batch size (per_round) or use a larger pool"
            )
        out = np.full(len(points), -1, np.int64)
        dist = np.full(len(points), np.inf)
        pending = np.arange(len(points))
        k = min(k0, self.n)
        while pending.size:
            dd, ii = self.tree.query(points[pending], k=k)
            dd, ii = dd.reshape(len(pending), -1), ii.reshape(len(pending), -1)
            # pre-filter rows with one vectorised mask; the short greedy pass only sees free candidates
            free = ~taken[np.minimum(ii, self.n - 1)] & (ii < self.n)
            stop = len(pending)
            for row, j in enumerate(pending):
                cand = ii[row][free[row]]
                cd = dd[row][free[row]]
                ok = ~taken[cand]
                if not ok.any():  # this point's k candidates are all gone: re-ask it (and every later
                    stop = row  # point, to keep the greedy order exact) with a larger k
                    break
                first = int(np.argmax(ok))
                out[j], dist[j] = cand[first], cd[first]
                taken[cand[first]] = True
            pending = pending[stop:]
            if k == self.n:
                break
            k = min(k * 8, self.n)
        return out, dist

    def nearest(self, points: np.ndarray, k: int = 1):
        """Plain k-nearest query: ``(distances, indices)`` as ``cKDTree.query``.

        Parameters
        ----------
        points : numpy.ndarray
            Query points, shape (m, n) (one point may be given as shape (n,)).
        k : int, default 1
            Neighbours per point.

        Returns
        -------
        distances : numpy.ndarray
            Shape (m,) for ``k=1``, else (m, k).
        indices : numpy.ndarray
            Pool indices, the same shape.
        """
        return self.tree.query(np.atleast_2d(points), k=k)
