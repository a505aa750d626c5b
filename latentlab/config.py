"""A run's settings: :class:`ExperimentConfig` and the one declaration of every setting.

Each run setting is declared once in :data:`RUN_SETTINGS` (its name, the config field it sets, how a
flag parses it, its help). The flags of ``latentlab run``/``tune`` (:func:`latentlab.cli.add_run_arguments`),
:func:`config_from_settings` (the CLI, the notebooks and the explorer all build their config
through it), the notebook helpers and ``tune --grid`` are built from that declaration. Defaults live
in the config dataclasses only (:class:`~latentlab.loop_config.LoopConfig`,
:class:`~latentlab.training.TrainConfig`, :class:`~latentlab.generative.GeneratorConfig` and
:class:`ExperimentConfig`); help texts read them from there.

A new setting: a config field (with its default and why), one :class:`Setting` line below.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from typing import Callable

from .datasets import DATASETS
from .exceptions import ConfigError
from .generative import GeneratorConfig
from .gradients import LOSS_ON
from .loop_config import ALPHA_UNITS, LoopConfig
from .strategies import STRATEGIES, get_strategy
from .training import AUGMENTATIONS, OPTIMIZERS, SCHEDULES

__all__ = [
    "ExperimentConfig",
    "Setting",
    "RUN_SETTINGS",
    "SETTINGS",
    "RENAMED",
    "config_from_settings",
    "apply_overrides",
    "get_path",
    "dataset_info",
    "int_list",
    "str_list",
    "alpha_value",
    "ALPHAGAN_HIDDEN",
]


@dataclass(frozen=True)
class ExperimentConfig:
    """Everything one experiment needs: the data, the strategies and seeds, the loop and the generator.

    Frozen; change it with :meth:`override` (dotted paths) or build it from settings by name with
    :func:`config_from_settings`. Its :meth:`to_dict` is the run folder's ``config.json``.

    Parameters
    ----------
    dataset : str, default "digits"
        A registered data set (:data:`latentlab.DATASETS`); digits needs no file.
    strategies : tuple of str, default ("random", "snn")
        The strategies compared, on the same initial sets.
    seeds : tuple of int, default (0,)
        One run per seed and strategy.
    loop : LoopConfig
        The settings of each run (rounds, batch size, target, training recipe).
    generator : GeneratorConfig
        The generator whose latent space the latent strategies sample.
    gen_seed : int, default 0
        Seeds the one generator shared by all run seeds (seed-to-seed spread then measures
        sampling, not the generator).
    n_pool : int or None, default None
        A seeded stratified subset of the pool (None: all), for quick runs.
    n_test : int or None, default None
        A seeded stratified subset of the test set (None: all).
    n_val : int, default 0
        Pool items held out as a labelled validation set (every setting is chosen on it).
    """

    dataset: str = "digits"  # registry name; digits needs no file
    strategies: tuple = ("random", "snn")  # compared on the same initial sets
    seeds: tuple = (0,)  # one run per seed and strategy
    loop: LoopConfig = LoopConfig()
    generator: GeneratorConfig = GeneratorConfig()
    gen_seed: int = 0  # one generator for all run seeds: seed-to-seed spread then measures sampling, not the VAE
    n_pool: int | None = None  # seeded stratified subset of the pool (None = all); for quick runs
    n_test: int | None = None  # seeded stratified subset of the test set (None = all)
    n_val: int = 0  # pool items held out as a labelled validation set (every setting is chosen on it)

    def validate(self) -> "ExperimentConfig":
        """Check every setting (types and ranges), before any data is loaded or anything trained.

        Returns
        -------
        ExperimentConfig
            This config, unchanged.

        Raises
        ------
        ConfigError
            At the first setting out of its range, naming it and the fix.
        """
        from .checks import check_int

        DATASETS.resolve(self.dataset)
        if not self.strategies:
            raise ConfigError(f"give at least one strategy; valid: {', '.join(sorted(STRATEGIES))}")
        for s in self.strategies:
            get_strategy(s)
        if not self.seeds:
            raise ConfigError("give at least one seed, e.g. --seeds 0,1,2")
        if not isinstance(self.n_val, int) or self.n_val < 0:
            raise ConfigError(f"--val must be a whole number >= 0, got {self.n_val!r}")
        if len(set(self.strategies)) != len(self.strategies) or len(set(self.seeds)) != len(self.seeds):
            raise ConfigError("strategies and seeds must not repeat")
        for s in self.seeds:
            check_int("seeds", s, 0, "seeds must be whole numbers >= 0, e.g. --seeds 0,1,2")
        check_int("gen_seed", self.gen_seed, 0)
        for name in ("n_pool", "n_test"):
            if getattr(self, name) is not None:
                check_int(name, getattr(self, name), 1)
        self.generator.validate()
        self.loop.validate()
        return self

    def to_dict(self) -> dict:
        """The config as plain JSON types (``config.json``; :meth:`from_dict` reads it back).

        Returns
        -------
        dict
            Nested dicts and lists; ``n_val`` only when it is not 0.
        """
        d = {
            "dataset": self.dataset,
            "strategies": list(self.strategies),
            "seeds": list(self.seeds),
            "loop": self.loop.to_dict(),
            "generator": self.generator.to_dict(),
            "gen_seed": self.gen_seed,
            "n_pool": self.n_pool,
            "n_test": self.n_test,
        }
        if self.n_val:  # absent when 0, so run folders written before validation sets existed still resume
            d["n_val"] = self.n_val
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ExperimentConfig":
        """The config a :meth:`to_dict` dict describes (a run folder's ``config.json``).

        Parameters
        ----------
        d : dict
            As written by :meth:`to_dict`.

        Returns
        -------
        ExperimentConfig
            The config.
        """
        return cls(
            dataset=d["dataset"],
            strategies=tuple(d["strategies"]),
            seeds=tuple(d["seeds"]),
            loop=LoopConfig.from_dict(d["loop"]),
            generator=GeneratorConfig(**d["generator"]),
            gen_seed=d["gen_seed"],
            n_pool=d["n_pool"],
            n_test=d["n_test"],
            n_val=d.get("n_val", 0),
        )

    def override(self, changes: dict) -> "ExperimentConfig":
        """A copy with ``{"dotted.path": value}`` changes applied (``{"loop.train.epochs": 2.0}``).

        The one override mechanism: profiles, CLI flags, ``run --config FILE``, ``tune --grid``,
        notebook parameters and the explorer's settings all arrive here. Lists become tuples (JSON
        has no tuples). An unknown path raises ``ConfigError`` naming it.

        Parameters
        ----------
        changes : dict
            ``{"dotted.path": value}``.

        Returns
        -------
        ExperimentConfig
            The changed copy (this config is unchanged).
        """
        cfg = self
        for path, value in changes.items():
            cfg = _replace_path(cfg, path.split("."), _as_tuple(value), path)
        return cfg

    def get(self, path: str):
        """The value at a dotted path (``cfg.get("loop.per_round")``).

        Parameters
        ----------
        path : str
            A dotted path of config fields.

        Returns
        -------
        object
            The value there.
        """
        return get_path(self, path)


def _as_tuple(v):
    return tuple(_as_tuple(x) for x in v) if isinstance(v, (list, tuple)) else v


def apply_overrides(config: ExperimentConfig, overrides: dict) -> ExperimentConfig:
    """``config.override(overrides)``: ``config`` with ``{"dotted.path": value}`` settings replaced."""
    return config.override(overrides)


def get_path(config, path: str):
    """The value at a dotted path of a (nested) config, e.g. ``get_path(cfg, "loop.alpha")``."""
    obj = config
    for part in path.split("."):
        if not dataclasses.is_dataclass(obj) or not hasattr(obj, part):
            raise ConfigError(f"unknown setting {path!r}")
        obj = getattr(obj, part)
    return obj


def _replace_path(obj, parts: list, value, path: str):
    head, *rest = parts
    if not dataclasses.is_dataclass(obj) or head not in {f.name for f in dataclasses.fields(obj)}:
        raise ConfigError(f"setting {path!r}: {type(obj).__name__} has no field {head!r}")
    if rest:
        value = _replace_path(getattr(obj, head), rest, value, path)
    return dataclasses.replace(obj, **{head: value})


# --------------------------------------------------------------------------- the declaration
def int_list(s: str) -> tuple:
    """``"0,1,2"`` -> ``(0, 1, 2)`` (the type of ``--seeds``)."""
    try:
        return tuple(int(v) for v in s.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 0,1,2, got {s!r}") from None


def str_list(s: str) -> tuple:
    """``"random, snn"`` -> ``("random", "snn")`` (the type of ``--strategy``)."""
    return tuple(v.strip() for v in s.split(",") if v.strip())


def alpha_value(s: str):
    """``"0.2"`` -> 0.2, ``"auto"`` -> ``"auto"`` (the type of ``--alpha``)."""
    if s.strip().lower() == "auto":
        return "auto"
    try:
        return float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a step length like 0.2, or auto, got {s!r}") from None


@dataclass(frozen=True)
class Setting:
    """One run setting, declared once.

    ``name`` is the CLI flag's destination (``per_round`` -> ``--per-round``; the flag is
    :func:`latentlab.checks.flag`), the notebook parameter and the key of :func:`config_from_settings`;
    ``path`` the :class:`ExperimentConfig` field it sets. ``type``, ``choices`` and ``switch`` (an
    on/off flag) say how a flag is parsed (``help`` may be a function, read when the parser is built);
    ``convert`` turns a given value into the field's value; ``help`` ends with the default, read
    from the config dataclass (``default`` words it where the field's value would not say it).
    """

    name: str
    path: str
    help: str | Callable[[], str]
    type: Callable | None = None
    choices: tuple | None = None
    switch: bool = False
    convert: Callable | None = None
    default: str | None = None

    @property
    def flag(self) -> str:
        from .checks import flag

        return flag(self.name)

    def default_text(self) -> str:
        """The default as help shows it: from ``ExperimentConfig()`` unless ``default`` words it."""
        if self.default is not None:
            return self.default
        v = ExperimentConfig().get(self.path)
        if isinstance(v, tuple):
            return ",".join(str(x) for x in v) or "none"
        return "none" if v is None else str(v)

    def add_to(self, parser) -> None:
        """Add this setting's flag to an argparse parser; left off, it parses as None ("not given")."""
        help_ = self.help() if callable(self.help) else self.help
        kw = {"dest": self.name, "help": f"{help_} (default {self.default_text()})"}
        if self.switch:
            kw.update(action="store_true", default=None)
        if self.type is not None:
            kw["type"] = self.type
        if self.choices is not None:
            kw["choices"] = list(self.choices)
        parser.add_argument(self.flag, **kw)

    def value(self, v):
        """The field value of a given (not None) setting value."""
        return self.convert(v) if self.convert is not None else v


def _strategy_help() -> str:
    return f"comma-separated: {', '.join(sorted(STRATEGIES))} (si: vessels)"


ALPHAGAN_HIDDEN = 64  # alpha-GAN base channels (Tables S1-S4) when neither a flag nor a profile sets them

RUN_SETTINGS: tuple[Setting, ...] = (
    Setting("dataset", "dataset", "digits (embedded), mnist, cifar10, vessels"),
    Setting(
        "strategy",
        "strategies",
        _strategy_help,
        type=str_list,
        convert=lambda v: tuple(v) if not isinstance(v, str) else (v,),
    ),
    Setting("rounds", "loop.rounds", "rounds t = 1..N", type=int),
    Setting("initial", "loop.initial", "size of the random initial set T(1)", type=int),
    Setting("per_round", "loop.per_round", "items labelled per round (the paper's J)", type=int),
    Setting(
        "seeds",
        "seeds",
        "comma-separated seeds",
        type=int_list,
        convert=lambda v: tuple(int(s) for s in v) if not isinstance(v, (int, str)) else (int(v),),
    ),
    Setting(
        "alpha",
        "loop.alpha",
        "step length of Eq. 2, in --alpha-unit units; auto: chosen by a short validation grid (cached)",
        type=alpha_value,
    ),
    Setting(
        "alpha_unit",
        "loop.alpha_unit",
        "latent: alpha in latent units (prior std 1); nn: in the pool's median nearest-neighbour spacings",
        choices=ALPHA_UNITS,
    ),
    Setting("epochs", "loop.train.epochs", "target-model epochs per round", type=float),
    Setting("min_steps", "loop.train.min_steps", "floor on target-model optimiser steps per round", type=int),
    Setting("batch_size", "loop.train.batch_size", "target-model minibatch", type=int),
    Setting("lr", "loop.train.lr", "target-model learning rate", type=float),
    Setting(
        "augment",
        "loop.train.augment",
        "seeded on-the-fly augmentation of the target's training images: crop-flip (CIFAR), "
        "shift-rotate (digit images)",
        choices=AUGMENTATIONS,
    ),
    Setting("schedule", "loop.train.schedule", "learning rate over each round's steps", choices=SCHEDULES),
    Setting("optimizer", "loop.train.optimizer", "target-model optimiser", choices=OPTIMIZERS),
    Setting("weight_decay", "loop.train.weight_decay", "target-model weight decay", type=float),
    Setting(
        "cold_start",
        "loop.warm_start",
        "retrain the target model from scratch each round",
        switch=True,
        convert=lambda v: not v,
        default="off: warm start",
    ),
    Setting(
        "loss_on",
        "loop.loss_on",
        "decoded: the loss of F(G(p)) (Eq. 1); real: the loss of the real item x, its gradient taken through G",
        choices=LOSS_ON,
    ),
    Setting(
        "target",
        "loop.target",
        "target model F: lenet, lenet-dropout (MC dropout for bald/batchbald/baal-bald), s6 (vessels), vgg16 (CIFAR)",
        default=f"{LoopConfig.target}; the data set's own, e.g. s6 for vessels",
    ),
    Setting("gen_epochs", "generator.epochs", "generator training epochs", type=float),
    Setting("gen_min_steps", "generator.min_steps", "floor on generator optimiser steps", type=int),
    Setting("latent_dim", "generator.latent_dim", "latent dimension", type=int),
    Setting("gen_seed", "gen_seed", "generator seed (one generator shared by all run seeds)", type=int),
    Setting("budget", "loop.budget", "stop before exceeding this many labels", type=int),
    Setting("target_metric", "loop.target_metric", "stop once the test metric reaches this", type=float),
    Setting(
        "balanced_initial",
        "loop.initial_balanced",
        "initial set with equal counts per class (the BatchBALD protocol: 20 = 2 per class)",
        switch=True,
        default="off",
    ),
    Setting(
        "candidates",
        "loop.candidates",
        "entropy, margin, least-confidence, bald, batchbald, coreset, badge: score this many random unlabelled items",
        type=int,
        default="all",
    ),
    Setting(
        "mc_samples",
        "loop.mc_samples",
        "bald, batchbald: Monte-Carlo dropout passes (needs --target lenet-dropout)",
        type=int,
    ),
    Setting("n_pool", "n_pool", "use a seeded stratified subset of N pool items", type=int, default="all"),
    Setting("n_test", "n_test", "use a seeded stratified subset of N test items", type=int, default="all"),
    Setting(
        "n_val",
        "n_val",
        "hold out N pool items as a labelled validation set (never trained on); choose settings on it",
        type=int,
    ),
    Setting("gen_kind", "generator.kind", "generator: vae (MNIST, digits) or alphagan (CIFAR-10)"),
    Setting(
        "gen_hidden",
        "generator.hidden",
        "generator width: VAE hidden units, alpha-GAN base channels",
        type=int,
        default=f"{GeneratorConfig.hidden} for the VAE, {ALPHAGAN_HIDDEN} for the alpha-GAN",
    ),
    Setting(
        "target_width",
        "loop.target_kwargs",
        "channel multiplier of the target model",
        type=float,
        convert=lambda v: (("width", float(v)),),
        default="1: the model's full width",
    ),
)
# setting name -> the ExperimentConfig path it sets (what tune --grid and older code read)
SETTINGS: dict[str, str] = {s.name: s.path for s in RUN_SETTINGS}
_BY_NAME: dict[str, Setting] = {s.name: s for s in RUN_SETTINGS}

# names that notebooks and helpers used before they took the documented ones (ARCHITECTURE.md, "Names")
RENAMED = {"n_rounds": "rounds", "n_labelled": "initial"}


def config_from_settings(settings: dict | None = None, *, profile: str | None = None, **kw) -> ExperimentConfig:
    """The one path from settings to an :class:`ExperimentConfig` (the CLI, notebooks, explorer).

    ``settings`` (and ``kw``) map names of :data:`RUN_SETTINGS` (``rounds``, ``per_round``, ...) or dotted
    config paths (``"loop.train"``) to values; ``None`` means "not given". Not given, a setting keeps
    the :class:`ExperimentConfig` default, the data set's own default (``--target`` of a data set
    registered with ``targets=``) or the ``profile``'s value; given, it wins over all three.

    Parameters
    ----------
    settings : dict, optional
        Setting names or dotted paths -> values.
    profile : str, optional
        A named bundle of settings (:mod:`latentlab.profiles`, e.g. ``"cpu"``).
    **kw
        More settings, as ``settings``.

    Returns
    -------
    ExperimentConfig
        The config.

    Raises
    ------
    ConfigError
        For a name that is neither a setting nor a config path (an old name is told its new one).
    """
    given = {k: v for k, v in {**(settings or {}), **kw}.items() if v is not None}
    if "cold_start" in given and not given["cold_start"]:
        del given["cold_start"]  # a store_true flag left off is not a choice
    check_names(given)
    changes = {_BY_NAME[k].path: _BY_NAME[k].value(v) for k, v in given.items() if k in _BY_NAME}
    changes.update({k: v for k, v in given.items() if k not in _BY_NAME})  # dotted paths as they are
    cfg = ExperimentConfig().override(changes)
    if "loop.target" not in changes:
        targets = dataset_info(cfg.dataset).get("targets")
        if targets:
            cfg = cfg.override({"loop.target": targets[0]})
    if cfg.generator.kind == "alphagan" and "generator.hidden" not in changes:
        cfg = cfg.override({"generator.hidden": ALPHAGAN_HIDDEN})
    if profile:
        from .profiles import apply_profile

        cfg = apply_profile(cfg, profile, keep=set(changes))
    return cfg


def check_names(given) -> None:
    """Refuse names that are neither settings nor dotted paths; an old name is told its new one."""
    old = sorted(k for k in given if k in RENAMED)
    if old:
        raise ConfigError(
            "; ".join(f"setting {k!r} is now called {RENAMED[k]!r}" for k in old)
            + ": rename it (ARCHITECTURE.md, Names)"
        )
    unknown = sorted(k for k in given if k not in SETTINGS and "." not in k)
    if unknown:
        raise ConfigError(f"unknown setting(s) {', '.join(unknown)}; valid: {', '.join(sorted(SETTINGS))}")


def dataset_info(name: str) -> dict:
    """What a data set declared when it registered (``targets``, ...), without loading it; {} if unknown."""
    return DATASETS.info.get(name, {})
