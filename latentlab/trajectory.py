"""Evolve sampling points for several steps without re-selection (the paper's Fig. 4).

Each step takes the current point's gradient direction, moves it by alpha (Eq. 2) and jumps to
the nearest pool item, whose embedding and (oracle) label become the next point: SNN's rule
applied repeatedly to the same starting points. Every p, p', d, loss and neighbour is kept, for
the trajectory figure and the live explorer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .exceptions import ConfigError
from .gradients import latent_gradient

__all__ = ["Trajectory", "trajectory"]


@dataclass(frozen=True)
class Trajectory:
    """Arrays indexed ``[step, point]``; ``steps`` rows, J points.

    Attributes
    ----------
    p : ndarray, shape (steps, J, n)        point at the start of each step
    p_prime : ndarray, shape (steps, J, n)  p + alpha d
    d : ndarray, shape (steps, J, n)
    grad_norm, loss : ndarray, shape (steps, J)
    item : ndarray, shape (steps, J)         pool item at p (-1 for a free start point)
    neighbour : ndarray, shape (steps, J)    pool item nearest to p' (the next point)
    neighbour_dist : ndarray, shape (steps, J)
    """

    p: np.ndarray
    p_prime: np.ndarray
    d: np.ndarray
    grad_norm: np.ndarray
    loss: np.ndarray
    item: np.ndarray
    neighbour: np.ndarray
    neighbour_dist: np.ndarray

    @property
    def path(self) -> np.ndarray:
        """Polyline of each trajectory: p at every step, then the last p', shape (steps + 1, J, n)."""
        return np.concatenate([self.p, self.p_prime[-1:]], axis=0)

    def off_manifold(self, max_dist: float) -> np.ndarray:
        """bool (J,): trajectories whose p' had no pool item within ``max_dist`` at some step (Fig. 4 e/f)."""
        return (self.neighbour_dist > max_dist).any(axis=0)


def trajectory(latent, target, task, y_pool, start_items, *, steps: int = 10, alpha: float = 0.2,
               x_pool=None, loss_on: str = "decoded", revisit: bool = False) -> Trajectory:
    """Evolve the points of pool items ``start_items`` for ``steps`` SNN steps without re-selection.

    Parameters
    ----------
    latent : LatentSpace                 generator, pool embeddings E(x) and their index
    target, task : as for :func:`latentlab.gradients.latent_gradient`
    y_pool : ndarray, shape (N, ...)     labels of the pool (an oracle: a trajectory visits items
                                          whose labels are then revealed)
    start_items : array of int, shape (J,)
    steps : int
    alpha : float > 0
    revisit : bool
        If False (default) a trajectory never jumps back to an item it already visited, so it
        cannot stall on a 2-cycle; trajectories are independent of each other.
    """
    if not alpha > 0:
        raise ConfigError(f"alpha must be > 0, got {alpha}")
    if steps < 1:
        raise ConfigError(f"steps must be >= 1, got {steps}")
    generator, embeddings, index = latent.generator, latent.embeddings, latent.index
    items = np.asarray(start_items, np.int64).copy()
    J = len(items)
    visited = [set([int(i)]) for i in items]
    rec = {k: [] for k in ("p", "p_prime", "d", "grad_norm", "loss", "item", "neighbour", "neighbour_dist")}
    for _ in range(steps):
        p = embeddings[items].astype(np.float64)
        g = latent_gradient(generator, target, task, p, y_pool[items],
                            x=x_pool[items] if loss_on == "real" else None, loss_on=loss_on)
        pp = p + alpha * g.d
        nxt = np.empty(J, np.int64)
        nd = np.empty(J)
        for j in range(J):  # independent trajectories: each excludes only its own history
            if revisit:
                dist, ii = index.nearest(pp[j], k=1)
                nxt[j], nd[j] = int(np.ravel(ii)[0]), float(np.ravel(dist)[0])
                continue
            k = min(len(visited[j]) + 1, index.n)
            dist, ii = index.nearest(pp[j], k=k)
            for dd, i in zip(np.ravel(dist), np.ravel(ii)):
                if int(i) not in visited[j]:
                    nxt[j], nd[j] = int(i), float(dd)
                    break
            visited[j].add(int(nxt[j]))
        for k_, v in (("p", p), ("p_prime", pp), ("d", g.d), ("grad_norm", g.grad_norm), ("loss", g.loss),
                      ("item", items.copy()), ("neighbour", nxt), ("neighbour_dist", nd)):
            rec[k_].append(v)
        items = nxt
    return Trajectory(**{k: np.stack(v) for k, v in rec.items()})
