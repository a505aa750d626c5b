"""The settings of one progressive run (:class:`LoopConfig`): the one place their defaults live.

Strategies (:class:`~latentlab.strategies.SamplingContext`), the trajectory tools and the explorer
read their defaults from here, so SNN's step length, the loss the gradient follows and the MC
samples of BALD are each written once.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .exceptions import ConfigError
from .gradients import LOSS_ON
from .training import TrainConfig

__all__ = ["LoopConfig", "ALPHA_UNITS"]

ALPHA_UNITS = ("latent", "nn")  # what alpha counts: latent units, or the pool's nearest-neighbour spacings


@dataclass(frozen=True)
class LoopConfig:
    """Settings of one progressive run. Every default says why it is what it is (comments in the source).

    Parameters
    ----------
    rounds : int, default 10
        Rounds t = 1 .. N (Table 1 reports t = 1..10).
    initial : int, default 100
        |T(1)|, the random initial set.
    per_round : int, default 100
        |T(t)| for t >= 2 (J, the number of sampling points).
    alpha : float or "auto", default 0.2
        Step length of Eq. 2 in latent units (prior std 1), or in ``alpha_unit``; ``"auto"``: chosen
        on a validation grid (:mod:`latentlab.alpha`).
    alpha_unit : {"latent", "nn"}, default "latent"
        What ``alpha`` counts: latent units, or the pool's median nearest-neighbour spacings.
    step : float or None, default None
        The absolute step ``alpha`` resolved to (set by :func:`latentlab.alpha.resolve_alpha`).
    nn_spacing : float or None, default None
        The pool's median nearest-neighbour spacing the step was measured by.
    alpha_grid : tuple, default ()
        With ``alpha="auto"``: the ``(alpha, validation score)`` pairs it chose from.
    loss_on : {"decoded", "real"}, default "decoded"
        ``"decoded"``: F(G(p)) as in Eq. 1; ``"real"``: the loss of the real x, gradient through G.
    warm_start : bool, default True
        Continue training F across rounds (False: retrain from scratch each round).
    target : str, default "lenet"
        The target model F (``models.TARGETS``).
    target_kwargs : tuple of (str, object) pairs, default ()
        Extra keyword arguments of the target builder, e.g. ``(("width", 0.25),)``.
    train : TrainConfig
        F's training recipe.
    budget : int or None, default None
        Stop before the number of labels would exceed this.
    target_metric : float or None, default None
        Stop once the test metric reaches this.
    candidates : int or None, default None
        Score a seeded random subset of this many unlabelled items (None: all).
    initial_balanced : bool, default False
        T(1) with equal counts per class (the BatchBALD protocol) instead of random.
    mc_samples : int, default 20
        MC-dropout passes K of ``bald`` and ``batchbald``.
    """

    rounds: int = 10  # Table 1 reports t = 1..10
    initial: int = 100  # |T(1)|, random; the paper does not give sizes, BENCHMARKS.md says what we chose
    per_round: int = 100  # |T(t)| for t >= 2 (= J, the number of sampling points)
    alpha: float | str = 0.2  # step length of Eq. 2 in latent units (prior std 1); 0.05 was too short on MNIST
    #   "auto": chosen on a validation grid (latentlab.alpha); the paper's protocol gives a number
    alpha_unit: str = "latent"  # "nn": alpha counts the pool's median nearest-neighbour spacing in the latent
    step: float | None = None  # the absolute step alpha resolved to (latentlab.alpha.resolve_alpha); None: alpha
    nn_spacing: float | None = None  # the pool's median nearest-neighbour spacing the step was measured by
    alpha_grid: tuple = ()  # --alpha auto: ((alpha, validation score), ...) of the grid it chose from
    loss_on: str = "decoded"  # "decoded" = F(G(p)) as in Eq. 1; "real" = loss of the real x, gradient through G
    warm_start: bool = True  # continue training F across rounds: the paper's drop-and-rebound curves
    #   (Section 5) imply a model that keeps training; it is also cheaper. False = retrain from scratch.
    target: str = "lenet"  # target model F (models.TARGETS)
    target_kwargs: tuple = ()  # extra (key, value) pairs for the target builder, e.g. (("width", 0.25),)
    train: TrainConfig = TrainConfig(epochs=10, batch_size=64, lr=1e-3, min_steps=300)
    #   min_steps: at 100 labels 10 epochs are only ~16 steps; 300 steps train LeNet properly
    budget: int | None = None  # stop before the number of labels would exceed this
    target_metric: float | None = None  # stop once the test metric reaches this
    candidates: int | None = None  # entropy: score a random subset of this many unlabelled items (None = all)
    initial_balanced: bool = False  # T(1) with equal counts per class (the BatchBALD protocol) instead of random
    mc_samples: int = 20  # bald, batchbald: MC-dropout passes K (BatchBALD's MNIST runs use 20 to 100)

    def __post_init__(self):
        if isinstance(self.alpha, int) and not isinstance(self.alpha, bool):
            object.__setattr__(self, "alpha", float(self.alpha))

    @property
    def step_length(self) -> float:
        """The absolute latent step strategies take: ``step`` once resolved, else the plain alpha."""
        if self.step is not None:
            return self.step
        if self.alpha == "auto" or self.alpha_unit != "latent":
            raise ConfigError(
                f"alpha {self.alpha} ({self.alpha_unit} units) needs the pool's latent to become a step: "
                "run it through latentlab run / run_experiment, or call latentlab.alpha.resolve_alpha"
            )
        return float(self.alpha)

    def validate(self) -> "LoopConfig":
        """Check every setting (types and ranges), F's recipe included.

        Returns
        -------
        LoopConfig
            This config, unchanged.
        """
        from .checks import check_int, check_number

        check_int("rounds", self.rounds, 1, "rounds must be >= 1")
        check_int("initial", self.initial, 1, "initial set size must be >= 1")
        check_int("per_round", self.per_round, 1, "per-round batch size must be >= 1")
        if self.alpha != "auto" and not (
            isinstance(self.alpha, (int, float)) and not isinstance(self.alpha, bool) and np.isfinite(self.alpha)
            and self.alpha > 0
        ):  # fmt: skip
            raise ConfigError(
                f"alpha must be a finite number > 0 (a step length in latent units, e.g. {LoopConfig.alpha}) "
                f"or auto (chosen on validation), got {self.alpha}"
            )
        if self.alpha_unit not in ALPHA_UNITS:
            raise ConfigError(f"--alpha-unit must be one of {', '.join(ALPHA_UNITS)}, got {self.alpha_unit!r}")
        if self.step is not None:
            check_number("step", self.step, 0, strict=True)
        if self.loss_on not in LOSS_ON:
            raise ConfigError(f"loss_on must be one of {', '.join(LOSS_ON)}, got {self.loss_on!r}")
        tr = self.train
        check_number("epochs", tr.epochs, 0)
        check_int("min_steps", tr.min_steps, 0)
        check_int("batch_size", tr.batch_size, 1)
        check_number("lr", tr.lr, 0, strict=True)
        check_number("weight_decay", tr.weight_decay, 0)
        if tr.epochs <= 0 and tr.min_steps <= 0:
            raise ConfigError("target training needs epochs > 0 or min_steps > 0")
        tr.validate()
        if self.budget is not None:
            check_int("budget", self.budget, 1)
            if self.budget < self.initial:
                raise ConfigError(
                    f"--budget {self.budget} is smaller than the initial set ({self.initial}); "
                    "raise --budget or lower --initial"
                )
        if self.target_metric is not None:
            check_number("target_metric", self.target_metric)
        if self.candidates is not None:
            check_int("candidates", self.candidates, 1)
        if not isinstance(self.initial_balanced, bool):
            raise ConfigError(f"initial_balanced must be true or false, got {self.initial_balanced!r}")
        check_int(
            "mc_samples",
            self.mc_samples,
            2,
            "--mc-samples must be a whole number >= 2 (BALD needs samples to disagree)",
        )
        for k, v in self.target_kwargs:
            if k == "width":
                check_number("target_width", v, 0, strict=True)
        from .models import TARGETS

        TARGETS.resolve(self.target)
        return self

    def to_dict(self) -> dict:
        """The settings as plain JSON types (:meth:`from_dict` reads them back).

        Returns
        -------
        dict
            Field name -> value; fields at their old defaults are left out, so older run folders resume.
        """
        d = dataclasses.asdict(self)
        d["train"] = self.train.to_dict()
        if not self.initial_balanced:  # absent at its default, so older run folders still resume
            del d["initial_balanced"]
        d["target_kwargs"] = [list(kv) for kv in self.target_kwargs]
        for k in ("alpha_unit", "step", "nn_spacing", "alpha_grid"):  # absent at their defaults: the paper's
            if d[k] == getattr(LoopConfig, k):  # protocol keeps its config.json, older run folders resume
                del d[k]
            elif k == "alpha_grid":
                d[k] = [list(p) for p in self.alpha_grid]
        if self.mc_samples == LoopConfig.mc_samples:  # absent when default: older run folders still resume
            del d["mc_samples"]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "LoopConfig":
        """The settings a :meth:`to_dict` dict describes.

        Parameters
        ----------
        d : dict
            A run's settings as :meth:`to_dict` writes them (``config.json``'s ``loop``).

        Returns
        -------
        LoopConfig
            The settings, ``train`` a :class:`~latentlab.training.TrainConfig` again.
        """
        d = dict(d)
        d["train"] = TrainConfig(**d["train"])
        d["target_kwargs"] = tuple(tuple(kv) for kv in d.get("target_kwargs", ()))
        d["alpha_grid"] = tuple(tuple(p) for p in d.get("alpha_grid", ()))
        return cls(**d)
