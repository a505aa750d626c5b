"""``bald`` and ``batchbald``: Bayesian uncertainty from Monte-Carlo dropout samples of F.

Written here in torch rather than taken from baal (whose install pulls jupyter, torchmetrics and
structlog into the core); ``tests/test_strategies_baselines.py`` checks :func:`bald_scores` against
baal's ``BALD`` heuristic and :func:`batchbald` against batchbald-redux on the same samples, when
those packages are installed (``pip install 'latentlab-sampling[bench]'``).

Both need a target model with dropout (``--target lenet-dropout``); the number of samples ``K``
is ``--mc-samples`` (:attr:`SamplingContext.mc_samples`), drawn by
:func:`latentlab.predictive.mc_dropout_probs` with one seeded dropout mask per pass.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.special import xlogy

from ..exceptions import ConfigError
from ..predictive import candidate_items, mc_dropout_probs, require_classification, require_dropout
from .base import Proposal, Strategy, register_strategy

__all__ = ["BALDStrategy", "BatchBALDStrategy", "bald_scores", "batchbald"]


def bald_scores(probs: torch.Tensor) -> torch.Tensor:
    """BALD (Houlsby et al. 2011): mutual information between the label and the weights, shape (n,).

    ``H[mean_k p_k] - mean_k H[p_k]`` for class probabilities ``probs`` of shape (n, K, C): 0 when
    every sample agrees, high when samples are confident and disagree.
    """
    probs = torch.as_tensor(probs, dtype=torch.float64)
    mean = probs.mean(1)
    return -xlogy(mean, mean).sum(1) + xlogy(probs, probs).sum(2).mean(1)


def _sampled_joint(probs: torch.Tensor, m: int, gen: torch.Generator) -> torch.Tensor:
    """``P[m, k] = p(y^(m) | omega_k)`` for ``K * (m // K)`` label configurations ``y^(m)`` of the
    selected items, drawn ``m // K`` per sample ``k`` from ``p(y | omega_k)``; shape (M', K)."""
    n, k, c = probs.shape
    s = max(m // k, 1)
    choices = torch.multinomial(probs.reshape(-1, c), s, replacement=True, generator=gen).reshape(n, 1, k, s)
    # probs of every sample k (dim 1) for the configuration drawn under sample k' (dim 2)
    picked = torch.gather(probs[:, :, None, :].expand(n, k, k, c), 3, choices.expand(n, k, k, s))
    return torch.exp(torch.log(picked).sum(0)).reshape(k, -1).t()


def batchbald(
    probs: torch.Tensor,
    batch_size: int,
    n_joint_samples: int = 10_000,
    seed: int = 0,
    chunk_elems: int = 2**23,
    device=None,
) -> tuple[np.ndarray, np.ndarray]:
    """BatchBALD (Kirsch et al. 2019), the greedy algorithm: indices of ``batch_size`` items, in order picked.

    Step ``i`` adds the item ``b`` that maximises ``I(y_1..y_i, y_b; omega) = H(y_1..y_i, y_b) -
    sum H(y_j | omega)``. The joint entropy is exact while the selected items have at most
    ``n_joint_samples`` label configurations (``C ** i``), and estimated from ``n_joint_samples``
    sampled configurations (importance-weighted, as batchbald-redux) after that.

    Parameters
    ----------
    probs : tensor (n, K, C)
        Class probabilities of ``K`` consistent MC samples (the same weights ``omega_k`` for all items).
    batch_size : int
    n_joint_samples : int
        ``M``: the configurations kept for the joint entropy (batchbald-redux's ``num_samples``).
    seed : int
        Seeds the configuration sampling (the only randomness).
    chunk_elems : int
        Bound on the (items, M, C) block computed at once (float64), for memory.
    device : torch device, optional
        Where to compute (default: where ``probs`` is). The cost is ``O(batch_size * n * M * K * C)``:
        on one CPU thread 10 000 candidates, ``K = 20``, ``M = 10 000`` and 10 picks take minutes.

    Returns
    -------
    picks : ndarray int64 (batch_size,)
    scores : ndarray float64 (batch_size,)
        The batch's joint mutual information ``I(y_1..y_i; omega)`` once pick ``i`` is added (the
        first is the first pick's BALD score), as batchbald-redux reports it.
    """
    probs = torch.as_tensor(probs, dtype=torch.float64)
    if device is not None:
        probs = probs.to(device)
    n, k, c = probs.shape
    batch_size = min(int(batch_size), n)
    gen = torch.Generator(device=probs.device)
    gen.manual_seed(int(seed))
    cond = -xlogy(probs, probs).sum((1, 2)) / k  # (n,)
    joint = torch.ones(1, k, dtype=probs.dtype, device=probs.device)  # exact P[m, k] of the selected items
    weight = None  # None = exact; else the sampled configurations' importance weights q_m
    picks: list[int] = []
    scores: list[float] = []
    score = torch.empty(n, dtype=torch.float64)
    for i in range(batch_size):
        if i > 0:
            if c ** len(picks) <= n_joint_samples:
                joint = (joint[:, None, :] * probs[picks[-1]].t()[None]).reshape(-1, k)
            else:
                joint = _sampled_joint(probs[picks], n_joint_samples, gen)
                weight = joint.mean(1)
        m = joint.shape[0]
        step = max(1, chunk_elems // (m * c))
        for a in range(0, n, step):
            pb = probs[a : a + step]  # p(y_1..y_i = config m, y_b = c) = mean_k P[m, k] p_b[k, c]: one GEMM
            p_hat = (joint / k) @ pb.permute(1, 0, 2).reshape(k, -1)  # (m, b * c)
            nats = torch.special.entr(p_hat).view(m, len(pb), c).sum(2)  # (m, b)
            if weight is not None:  # importance weights of the sampled configurations
                nats = nats.div_(weight[:, None]).div_(m)
            score[a : a + step] = nats.sum(0).cpu()
        score -= (cond + cond[picks].sum()).cpu()
        if picks:
            score[picks] = -float("inf")
        best = int(torch.argmax(score))
        picks.append(best)
        scores.append(float(score[best]))
    return np.asarray(picks, np.int64), np.asarray(scores, np.float64)


class _MCDropout(Strategy):
    """Shared checks and sampling: candidates, then ``ctx.mc_samples`` seeded MC-dropout passes."""

    def _samples(self, ctx, per_round, rng):
        require_classification(ctx.task, self.name)
        self.check(ctx, per_round)
        require_dropout(ctx.target, self.name)
        if not isinstance(ctx.mc_samples, int) or ctx.mc_samples < 2:
            raise ConfigError(f"strategy {self.name!r} needs --mc-samples >= 2, got {ctx.mc_samples!r}")
        free = candidate_items(ctx, per_round, rng)
        seed = int(rng.integers(2**62))
        return free, mc_dropout_probs(ctx.target, ctx.x_pool, ctx.mc_samples, seed, items=free), rng


@register_strategy
class BALDStrategy(_MCDropout):
    """Highest BALD score (Gal et al. 2017) from ``--mc-samples`` MC-dropout passes of F."""

    name = "bald"
    utility_name = "BALD score (mutual information, MC dropout)"

    def utility(self, ctx, x):
        require_classification(ctx.task, self.name)
        require_dropout(ctx.target, self.name)
        return bald_scores(mc_dropout_probs(ctx.target, x, max(int(ctx.mc_samples), 2), seed=0)).numpy()

    def propose(self, ctx, per_round, rng):
        free, probs, _ = self._samples(ctx, per_round, rng)
        score = bald_scores(probs).numpy()
        order = np.argsort(-score, kind="stable")[:per_round]
        return Proposal(indices=free[order], score=score[order])


@register_strategy
class BatchBALDStrategy(_MCDropout):
    """Greedy BatchBALD (Kirsch et al. 2019): the batch with the highest joint mutual information.

    Parameters
    ----------
    n_joint_samples : int
        Label configurations kept for the joint entropy once exact enumeration exceeds it (10 000,
        batchbald-redux's MNIST setting).
    """

    name = "batchbald"

    def __init__(self, n_joint_samples: int = 10_000):
        if isinstance(n_joint_samples, bool) or not isinstance(n_joint_samples, int) or n_joint_samples < 1:
            raise ConfigError(f"batchbald: n_joint_samples must be a whole number >= 1, got {n_joint_samples!r}")
        self.n_joint_samples = n_joint_samples

    def propose(self, ctx, per_round, rng):
        free, probs, rng = self._samples(ctx, per_round, rng)
        dev = next(iter(ctx.target.parameters())).device
        picks, score = batchbald(probs, per_round, self.n_joint_samples, seed=int(rng.integers(2**62)), device=dev)
        return Proposal(indices=free[picks], score=score)
