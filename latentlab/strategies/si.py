"""Sampling by interpolation (SI, Section 3.5 and Algorithm 2 of the paper).

For a labeling tool that annotates *any* valid input (here the FEM wall-stress solver), SI
trains the target model on synthesized inputs only:

* round 1 (:meth:`InterpolationStrategy.initial`): z ~ N(0, I), x' = prepare(G(z)), label x';
* round t >= 2 (:meth:`InterpolationStrategy.propose`): pick J labelled synthesized points p
  from the store, d = normalised dL/dp of the target's loss on F(G(p)) against p's label
  (Eq. 1, :func:`latentlab.gradients.latent_gradient`), p' = p + alpha d (Eq. 2),
  x' = prepare(G(p')), label x'.

``prepare`` is the labeler's post-processing (for masks: threshold, keep the wall ring, fill
holes; :meth:`latentlab.vessels.FEMLabeler.prepare`); decoded images it cannot turn into a
valid input are *rejected* and counted (``Proposal.n_rejected``, ``RoundRecord.n_failed``).

Rejection fallback (the paper does not say): a rejected item is retried from a fresh start
(round 1: a new z ~ N(0, I); later rounds: a new random start point from the store, stepped
along its own gradient) until the batch is full or ``max_attempts`` draws per requested item
were spent; the batch may then be smaller than J, and the record says how many were rejected.
"""

from __future__ import annotations

import numpy as np

from ..exceptions import ConfigError
from ..generative import decode
from ..gradients import latent_gradient
from .base import Proposal, Strategy, register_strategy

__all__ = ["InterpolationStrategy"]


@register_strategy
class InterpolationStrategy(Strategy):
    """SI (Algorithm 2): synthesized inputs G(z) labelled by a tool; z moved along the loss gradient.

    Parameters
    ----------
    max_attempts : int, default 10
        Draws allowed per requested item before a batch is returned short.
    """

    name = "si"
    needs_generator = True

    def __init__(self, max_attempts: int = 10):
        if max_attempts < 1:
            raise ConfigError(f"max_attempts must be >= 1, got {max_attempts}")
        self.max_attempts = int(max_attempts)

    def check(self, ctx, per_round: int) -> None:
        if per_round < 1:
            raise ConfigError(f"per-round batch size must be >= 1, got {per_round}")
        lab = ctx.labeler
        if lab is None or not getattr(lab, "can_label_synthetic", False):
            name = getattr(lab, "name", None)
            raise ConfigError(
                f"strategy 'si' synthesizes inputs, which the labeler {name!r} cannot label: it "
                "needs a labeling tool that annotates arbitrary inputs (e.g. the FEM solver, "
                "--dataset vessels); on benchmark data sets use snn or random"
            )
        if ctx.generator is None:
            raise ConfigError("strategy 'si' needs a trained generator (pass generator=...)")

    def _fill(self, n, draw, generator, labeler):
        """Call ``draw(k) -> (z, extras)`` until ``n`` decoded items pass ``labeler.prepare``.

        Returns accepted ``x``, ``z``, a dict of accepted ``extras`` rows and the reject count.
        """
        xs, zs, extras, rejected, drawn = [], [], {}, 0, 0
        budget = self.max_attempts * n
        while sum(len(z) for z in zs) < n and drawn < budget:
            k = min(n - sum(len(z) for z in zs), budget - drawn)
            z, ext = draw(k)
            drawn += k
            x_ok, acc = labeler.prepare(decode(generator, z))
            rejected += int((~acc).sum())
            xs.append(x_ok)
            zs.append(z[acc])
            for key, v in ext.items():
                extras.setdefault(key, []).append(v[acc])
        x = np.concatenate(xs)[:n]
        z = np.concatenate(zs)[:n]
        extras = {k: np.concatenate(v)[:n] for k, v in extras.items()}
        return x, z, extras, rejected

    def initial(self, ctx, n, rng):
        """T(1): ``n`` valid decoded samples of z ~ N(0, I) (seeded by ``rng``)."""
        self.check(ctx, n)
        dim = ctx.generator.latent_dim

        def draw(k):
            return rng.standard_normal((k, dim)), {}

        x, z, _, rejected = self._fill(n, draw, ctx.generator, ctx.labeler)
        return Proposal(x_new=x, z_new=z, n_rejected=rejected)

    def propose(self, ctx, per_round, rng):
        """T(t): ``per_round`` (the paper's J) points of the synthetic store, stepped by ``alpha``
        along their loss gradient."""
        self.check(ctx, per_round)
        if not ctx.alpha > 0:
            raise ConfigError(f"alpha must be > 0 (a step length in latent units), got {ctx.alpha}")
        syn = ctx.synthetic
        if not syn or len(syn["z"]) == 0:
            raise ConfigError("strategy 'si' steps from labelled synthesized points; label an initial set first")
        m = len(syn["z"])

        def draw(k):
            start = rng.choice(m, k, replace=k > m)
            p = syn["z"][start].astype(np.float64)
            g = latent_gradient(ctx.generator, ctx.target, ctx.task, p, syn["y"][start], loss_on="decoded")
            p_prime = p + ctx.alpha * g.d
            return p_prime, {"p": p, "d": g.d, "grad_norm": g.grad_norm, "loss": g.loss}

        x, z, ext, rejected = self._fill(per_round, draw, ctx.generator, ctx.labeler)
        return Proposal(
            x_new=x,
            z_new=z,
            n_rejected=rejected,
            p=ext["p"],
            p_prime=z,
            d=ext["d"],
            grad_norm=ext["grad_norm"],
            loss=ext["loss"],
        )
