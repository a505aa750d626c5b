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

Where F is probed (``probe``, an option beyond the paper). F is trained on *post-processed*
masks (thresholded: 0/1), but Eq. 1 evaluates it on the raw decoded image G(p) (soft, blurred
borders), an input unlike any it was trained on. ``probe="soft"`` evaluates it on a smooth
surrogate of the post-processing instead, ``sigmoid((G(p) - threshold) / temperature)`` (the
labeler's ``soft_prepare``), through which the gradient still flows to p; ``probe="raw"`` (the
default) is the paper's. Measured on the vessels protocol by ``benchmarks/vessels_probe.py``.

Rejection fallback (the paper does not say): a rejected item is retried from a fresh start
(round 1: a new z ~ N(0, I); later rounds: a new random start point from the store, stepped
along its own gradient) until the batch is full or ``max_attempts`` draws per requested item
were spent; the batch may then be smaller than J, and the record says how many were rejected.
"""

from __future__ import annotations

import functools

import numpy as np

from ..exceptions import ConfigError
from ..generative import decode
from ..gradients import latent_gradient
from .base import StepResult, step_labels, Proposal, Strategy, register_strategy

__all__ = ["InterpolationStrategy", "PROBES"]

PROBES = ("raw", "soft")  # where F is evaluated for Eq. 1: G(p) itself, or a smooth surrogate of prepare(G(p))


@register_strategy
class InterpolationStrategy(Strategy):
    """SI (Algorithm 2): synthesized inputs G(z) labelled by a tool; z moved along the loss gradient.

    Parameters
    ----------
    max_attempts : int, default 10
        Draws allowed per requested item before a batch is returned short.
    probe : {"raw", "soft"}, default "raw"
        Where F is evaluated for the gradient: on ``G(p)`` (the paper), or on the labeler's smooth
        surrogate of its post-processing, ``labeler.soft_prepare(G(p), temperature)``.
    temperature : float, optional
        Width of the soft threshold, image intensity units (> 0); only with ``probe="soft"``,
        where it is required.
    """

    name = "si"
    needs_generator = True

    def __init__(self, max_attempts: int = 10, probe: str = "raw", temperature: float | None = None):
        if max_attempts < 1:
            raise ConfigError(f"max_attempts must be >= 1, got {max_attempts}")
        self.max_attempts = int(max_attempts)
        if probe not in PROBES:
            raise ConfigError(f"probe must be one of {', '.join(map(repr, PROBES))}, got {probe!r}")
        if probe == "raw" and temperature is not None:
            raise ConfigError("temperature is the soft probe's; pass probe='soft' with it, or leave it out")
        if probe == "soft":
            if temperature is None:
                raise ConfigError("probe='soft' needs a temperature (> 0, image intensity units), e.g. 0.05")
            ok = isinstance(temperature, (int, float)) and not isinstance(temperature, bool)
            if not (ok and np.isfinite(temperature) and temperature > 0):
                raise ConfigError(
                    f"temperature must be a finite number > 0 (image intensity units), got {temperature!r}"
                )
        self.probe = probe
        self.temperature = None if temperature is None else float(temperature)

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
        if self.probe == "soft" and not callable(getattr(lab, "soft_prepare", None)):
            raise ConfigError(
                f"probe='soft' evaluates F on a smooth surrogate of the labeler's post-processing, "
                f"which the labeler {getattr(lab, 'name', None)!r} does not offer (no soft_prepare); use probe='raw'"
            )

    def __repr__(self):
        soft = f"probe='soft', temperature={self.temperature:g}" if self.probe == "soft" else ""
        return f"{self.__class__.__name__}({soft})"

    def transform(self, ctx):
        """What F sees of ``G(p)`` for Eq. 1: None (``G(p)`` itself) or the labeler's soft surrogate."""
        if self.probe == "raw":
            return None
        return functools.partial(ctx.labeler.soft_prepare, temperature=self.temperature)

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

    def _propose_steps(self, ctx, n, m, step, rng, **fields) -> Proposal:
        """The Proposal of ``n`` points ``p' = p + alpha d`` that the labeler accepts (:meth:`_fill`),
        each stepped from one of ``m`` start points drawn by ``rng`` (with replacement when ``n > m``):
        ``step(starts) -> (p, d, grad_norm, loss)`` for an index array. It records p, p', d, the
        gradient norm and the loss of every accepted point; ``fields`` go to the Proposal as given."""

        def draw(k):
            p, d, grad_norm, loss = step(rng.choice(m, k, replace=k > m))
            return p + ctx.alpha * d, {"p": p, "d": d, "grad_norm": grad_norm, "loss": loss}

        x, z, ext, rejected = self._fill(n, draw, ctx.generator, ctx.labeler)
        return Proposal(x_new=x, z_new=z, n_rejected=rejected, p_prime=z, **ext, **fields)

    def initial(self, ctx, n, rng):
        """T(1): ``n`` valid decoded samples of z ~ N(0, I) (seeded by ``rng``)."""
        self.check(ctx, n)
        dim = ctx.generator.latent_dim

        def draw(k):
            return rng.standard_normal((k, dim)), {}

        x, z, _, rejected = self._fill(n, draw, ctx.generator, ctx.labeler)
        return Proposal(x_new=x, z_new=z, n_rejected=rejected)

    def directions(self, ctx, p, y, rng):
        """Unit step directions at ``p`` (labels ``y``): Eq. 1 on what :meth:`transform` makes of G(p).

        Returns ``(d, grad_norm, loss)``, one row per point (the one hook the control overrides).
        """
        g = latent_gradient(ctx.generator, ctx.target, ctx.task, p, y, loss_on="decoded", transform=self.transform(ctx))
        return g.d, g.grad_norm, g.loss

    utility_name = "loss"

    def step(self, ctx, p, rng, y=None, items=None, label="start"):
        """p' = p + alpha d with SI's direction (:meth:`directions`); nothing synthesized is labelled."""
        p = np.asarray(p, np.float64)
        y, used = step_labels(ctx, items, y, p, label)
        d, gnorm, loss = self.directions(ctx, p, y, rng)
        return StepResult(p, p + ctx.alpha * d, d, gnorm, loss, "loss", used=used)

    def explain_step(self) -> str:
        how = (
            "in a random unit direction (the control)"
            if self.name.endswith("random-dir")
            else "along its loss gradient"
        )
        return f"Step: p' = p + alpha d {how}; a round would label G(p') itself with the labeling tool"

    def propose(self, ctx, per_round, rng):
        """T(t): ``per_round`` (the paper's J) points of the synthetic store, stepped by ``alpha``
        along their loss gradient."""
        self.check(ctx, per_round)
        if not ctx.alpha > 0:
            raise ConfigError(f"alpha must be > 0 (a step length in latent units), got {ctx.alpha}")
        syn = ctx.synthetic
        if not syn or len(syn["z"]) == 0:
            raise ConfigError("strategy 'si' steps from labelled synthesized points; label an initial set first")

        def step(start):
            p = syn["z"][start].astype(np.float64)
            return (p, *self.directions(ctx, p, syn["y"][start], rng))

        return self._propose_steps(ctx, per_round, len(syn["z"]), step, rng)


@register_strategy
class RandomDirectionSI(InterpolationStrategy):
    """Control for SI: the same step length alpha in a uniformly random direction.

    The loss and gradient norm at p are still computed (and recorded); only the direction differs.
    If this control matches SI, the gradient is not what SI's result depends on.
    """

    name = "si-random-dir"

    def directions(self, ctx, p, y, rng):
        _, gnorm, loss = super().directions(ctx, p, y, rng)
        r = rng.standard_normal(p.shape)
        return r / np.linalg.norm(r, axis=1, keepdims=True), gnorm, loss
