"""Evolve sampling points for several steps without re-selection (the paper's Fig. 4).

Each step takes the current point's gradient direction, moves it by alpha (Eq. 2) and jumps to
the nearest pool item, whose embedding and (oracle) label become the next point: SNN's rule
applied repeatedly to the same starting points. Every p, p', d, loss and neighbour is kept, for
the trajectory figure and the live explorer.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .exceptions import ConfigError
from .gradients import latent_gradient
from .loop_config import LoopConfig

__all__ = ["Move", "advance", "nearest_unvisited", "Walk", "Trajectory", "trajectory"]


@dataclass(frozen=True)
class Trajectory:
    """Arrays indexed ``[step, point]``; ``steps`` rows, J points.

    Parameters
    ----------
    p : ndarray, shape (steps, J, n)
        The point at the start of each step.
    p_prime : ndarray, shape (steps, J, n)
        The moved point, p + alpha d.
    d : ndarray, shape (steps, J, n)
        The unit directions (normalised loss gradients).
    grad_norm, loss : ndarray, shape (steps, J)
        The gradient's norm and F's loss at p.
    item : ndarray, shape (steps, J)
        The pool item at p (-1 for a free start point).
    neighbour : ndarray, shape (steps, J)
        The pool item nearest to p' (the next point).
    neighbour_dist : ndarray, shape (steps, J)
        Latent distance from p' to that item.
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
        """Trajectories whose p' had no pool item within ``max_dist`` at some step (Fig. 4 e/f).

        Parameters
        ----------
        max_dist : float
            Latent distance.

        Returns
        -------
        numpy.ndarray
            A bool per trajectory, shape (J,).
        """
        return (self.neighbour_dist > max_dist).any(axis=0)


@dataclass(frozen=True)
class Move:
    """One SNN move of J points (:func:`advance`); arrays have one row per point."""

    p: np.ndarray  # (J, n) points before the move
    p_prime: np.ndarray  # (J, n) p + alpha d
    d: np.ndarray  # (J, n) normalised loss gradients
    grad_norm: np.ndarray  # (J,)
    loss: np.ndarray  # (J,) loss of F(G(p)) (or of the real item, loss_on="real")
    neighbour: np.ndarray  # (J,) pool item nearest to p' (not yet visited by that point)
    neighbour_dist: np.ndarray  # (J,)


def advance(
    latent, target, task, items, y, *, alpha: float, visited=None, x_pool=None, loss_on: str = LoopConfig.loss_on
) -> Move:
    """The engine's one step: move the points of pool items ``items`` (labels ``y``) by SNN's rule.

    p = E(x), d = normalised dL/dp (Eq. 1), p' = p + alpha d (Eq. 2), then the nearest pool item to
    p'. With ``visited`` (one set of pool items per point, updated in place) a point never jumps to
    an item it has visited (so it cannot stall on a 2-cycle; points are independent of each other);
    if all of its k nearest were visited it takes the nearest. ``visited=None`` allows revisits.
    Used by :func:`trajectory` and by the explorer's Step.

    Parameters
    ----------
    latent : LatentSpace
        Generator, pool embeddings and their index.
    target : torch.nn.Module
        The target model F.
    task : latentlab.tasks.Task
        Gives F's loss.
    items : array-like of int
        The pool items the points stand on, shape (J,).
    y : array-like
        Their labels.
    alpha : float
        Step length (latent units).
    visited : list of set of int, optional
        Pool items each point has visited, updated in place (None: revisits allowed).
    x_pool : numpy.ndarray, optional
        The pool's images (needed for ``loss_on="real"``).
    loss_on : {"decoded", "real"}
        As for :func:`latentlab.gradients.latent_gradient`.

    Returns
    -------
    Move
        ``p``, ``p_prime``, ``d``, ``grad_norm``, ``loss``, ``neighbour``, ``neighbour_dist``, one
        row per point.
    """
    items = np.asarray(items, np.int64)
    p = latent.embeddings[items].astype(np.float64)
    g = latent_gradient(
        latent.generator, target, task, p, y, x=x_pool[items] if loss_on == "real" else None, loss_on=loss_on
    )
    pp = p + alpha * g.d
    nb, dist = nearest_unvisited(latent, pp, visited)
    return Move(p=p, p_prime=pp, d=g.d, grad_norm=g.grad_norm, loss=g.loss, neighbour=nb, neighbour_dist=dist)


def nearest_unvisited(latent, pp: np.ndarray, visited=None) -> tuple[np.ndarray, np.ndarray]:
    """Pool item nearest to each point ``pp`` (J, n) that its ``visited`` set (updated in place) lacks,
    and the distance; the nearest when all of its k nearest were visited or ``visited`` is None."""
    k = 1 if visited is None else min(max(len(v) for v in visited) + 1, latent.index.n)
    dist, ii = latent.nearest(pp, k=k)
    dist, ii = np.asarray(dist).reshape(len(pp), -1), np.asarray(ii).reshape(len(pp), -1)
    col = np.zeros(len(pp), np.int64)
    if visited is not None:
        for j, vis in enumerate(visited):
            free = [c for c in range(ii.shape[1]) if int(ii[j, c]) not in vis]
            col[j] = free[0] if free else 0
            vis.add(int(ii[j, col[j]]))
    rows = np.arange(len(pp))
    return ii[rows, col].astype(np.int64), dist[rows, col].astype(np.float64)


def trajectory(
    latent,
    target,
    task,
    y_pool,
    start_items,
    *,
    steps: int = 10,
    alpha: float = LoopConfig.alpha,
    x_pool=None,
    loss_on: str = LoopConfig.loss_on,
    revisit: bool = False,
) -> Trajectory:
    """Evolve the points of pool items ``start_items`` for ``steps`` SNN steps without re-selection.

    Parameters
    ----------
    latent : LatentSpace
        Generator, pool embeddings E(x) and their index.
    target, task : torch.nn.Module, latentlab.tasks.Task
        As for :func:`latentlab.gradients.latent_gradient`.
    y_pool : ndarray, shape (N, ...)
        Labels of the pool (an oracle: a trajectory visits items whose labels are then revealed).
    start_items : array of int, shape (J,)
        The pool items the trajectories start from.
    steps : int
        SNN steps, >= 1.
    alpha : float
        Step length, > 0.
    x_pool : numpy.ndarray, optional
        The pool's images (needed for ``loss_on="real"``).
    loss_on : {"decoded", "real"}
        As for :func:`latentlab.gradients.latent_gradient`.
    revisit : bool
        If False (default) a trajectory never jumps back to an item it already visited (see
        :func:`advance`); trajectories are independent of each other.

    Returns
    -------
    Trajectory
        Arrays indexed ``[step, point]``.
    """
    if not alpha > 0:
        raise ConfigError(f"alpha must be > 0, got {alpha}")
    if steps < 1:
        raise ConfigError(f"steps must be >= 1, got {steps}")
    items = np.asarray(start_items, np.int64).copy()
    visited = None if revisit else [{int(i)} for i in items]
    rec = {k: [] for k in ("p", "p_prime", "d", "grad_norm", "loss", "item", "neighbour", "neighbour_dist")}
    for _ in range(steps):
        m = advance(
            latent, target, task, items, y_pool[items], alpha=alpha, visited=visited, x_pool=x_pool, loss_on=loss_on
        )
        for k, v in dataclasses.asdict(m).items():
            rec[k].append(v)
        rec["item"].append(items)
        items = m.neighbour
    return Trajectory(**{k: np.stack(v) for k, v in rec.items()})


@dataclass
class Walk:
    """Sampling points moved step by step (the explorer's Step): their paths so far and the last move.

    ``items`` (J,) pool item of each point now; ``origin_y`` labels of the start items (used where
    pool labels are unknown); ``path`` list of (J, n) positions, one per step + 1; ``visited`` one
    set of pool items per point; ``last`` the last :class:`Move` as a dict plus ``loss_after`` (F's
    loss at the neighbours) and ``item`` (the points' items before the move).
    """

    items: np.ndarray
    origin_y: np.ndarray
    path: list
    visited: list
    steps: int = 0
    last: dict | None = None

    @classmethod
    def start(cls, items, origin_y, embeddings) -> "Walk":
        """Points at pool items ``items``, not moved yet."""
        return cls(items, origin_y, [embeddings[items].astype(np.float64)], [{int(i)} for i in items])

    @classmethod
    def draw(cls, loop, per_round: int, rng, embeddings) -> "Walk":
        """``per_round`` points at distinct random labelled pool items of ``loop`` (sorted), not moved yet."""
        labelled = loop.pool.labelled_indices()
        if labelled.size == 0 and loop.round:
            raise ConfigError(
                f"Step starts from labelled pool items and this run has none (strategy "
                f"{loop.strategy.name!r} labels synthesized images); pick snn or random to watch "
                "trajectories"
            )
        if per_round > labelled.size:
            raise ConfigError(
                f"per_round = {per_round} sampling points but only {labelled.size} labelled items to "
                f"start from; lower per_round to {labelled.size} or less, or run another round"
            )
        items = np.sort(rng.choice(labelled, per_round, replace=False))
        return cls.start(items, loop.pool_labels[items], embeddings)

    @classmethod
    def from_proposal(cls, prop: dict, origin_y, embeddings, loss_after, loss_before=None) -> "Walk":
        """A round's own latent step (the arrays the strategy recorded) as the walk's first move.

        The start points may be labelled (SNN) or not (``uncertainty-ascent``). A strategy that
        recorded no ``loss`` at p (one whose objective needs no label) gets ``loss_before`` (the
        caller's loss at the start items, for display), else NaN.
        """
        start, nb = np.asarray(prop["start_indices"]), np.asarray(prop["indices"])
        last = {k: prop[k] for k in ("p", "p_prime", "d", "grad_norm")}
        if "loss" in prop:
            last["loss"] = prop["loss"]
        else:
            last["loss"] = np.full(len(nb), np.nan) if loss_before is None else np.asarray(loss_before, np.float64)
        last.update(
            neighbour=nb,
            neighbour_dist=prop.get("neighbour_dist", np.zeros(len(nb))),
            loss_after=loss_after,
            item=start,
        )
        return cls(
            nb,
            origin_y,
            [np.asarray(prop["p"], np.float64), embeddings[nb].astype(np.float64)],
            [{int(a), int(b)} for a, b in zip(start, nb)],
            steps=1,
            last=last,
        )

    def record(self, move: Move, loss_after, embeddings) -> None:
        """Append ``move`` (from :func:`advance` with ``visited=self.visited``)."""
        self.last = {**dataclasses.asdict(move), "loss_after": loss_after, "item": self.items}
        self.items = move.neighbour
        self.path.append(embeddings[move.neighbour].astype(np.float64))
        self.steps += 1

    @staticmethod
    def arrays(walk: "Walk | None", embeddings) -> dict:
        """``paths`` (steps + 1, J, 2) and the last move's ``p``, ``p_prime``, ``d`` (J, 2), ``grad_norm``,
        ``loss``, ``loss_after``, ``neighbour`` (J,), ``neighbour_xy`` (J, 2); ``steps``. Empty before a move."""
        e2, e1 = np.zeros((0, 2)), np.zeros(0)
        empty = {"p_prime": e2, "d": e2, "neighbour": np.zeros(0, np.int64), "neighbour_xy": e2}
        if walk is None:
            return {
                "paths": np.zeros((0, 0, 2)),
                "p": e2,
                "grad_norm": e1,
                "loss": e1,
                "loss_after": e1,
                "steps": 0,
                **empty,
            }
        out = {"paths": np.stack(walk.path), "steps": walk.steps}
        if walk.last is None:
            z = np.zeros(len(walk.path[-1]))
            return {**out, "p": walk.path[-1], "grad_norm": z, "loss": z, "loss_after": z, **empty}
        out.update(
            {k: np.asarray(walk.last[k]) for k in ("p", "p_prime", "d", "grad_norm", "loss", "loss_after", "neighbour")}
        )
        out["neighbour_xy"] = embeddings[out["neighbour"]]
        return out
