"""The objects a user hands :func:`~latentlab.experiment.run_experiment` instead of settings.

``run_experiment(dataset=, target=, strategies=, generator=, labeler=, prepared=)`` takes in-memory
objects: a :class:`~latentlab.datasets.Dataset`, a target class or factory, Strategy objects or
subclasses, a trained generator (or an ``(encoder, decoder)`` pair, or a generator class to train) and
a labeler. :func:`_given` sorts them into one :class:`Given`, refusing what cannot run with a message
naming the fix.

* **Looked up by name in a scope.** ``Given.scope()`` puts each object in its registry
  (``DATASETS``, ``TARGETS``, ``GENERATORS``, ``STRATEGIES``) under its name only inside the block
  (``Registry.scoped``), in this process and in every worker process: nothing is registered for good,
  and a worker never rebuilds a default in their place. ``Given.configure`` writes those names into the
  config, so the rest of the runner reads settings as for a registered run.
* **What config.json records.** ``Given.record`` (names, classes, the data's fingerprint), written
  through :class:`_Recorded`; a run whose objects are what ``prepare(config)`` gives records nothing
  more than before objects could be given.
* **Shipped to the workers.** :func:`_ship` pickles the ``Given`` once (cloudpickle when installed, so
  objects defined in a notebook's ``__main__`` travel by value); each job unpickles it, which imports
  this module (``latentlab.given``) in the worker.

The runner that uses them (``run_experiment``, ``run_jobs``, ``_prepare_given``) stays in
:mod:`latentlab.experiment`, which re-exports ``Given`` and ``needs_decoder``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from typing import TYPE_CHECKING, Any

from .datasets import DATASETS
from .exceptions import ConfigError
from .strategies import get_strategy

if TYPE_CHECKING:
    from .config import ExperimentConfig


# latent-space strategies that read the pool's codes but never decode: they run without a decoder
ENCODER_ONLY = ("latent-coreset", "diverse-entropy")


def needs_decoder(strategy) -> bool:
    """Whether ``strategy`` decodes latent points (SNN, the SI family) and so needs a generator's decoder.

    A strategy of your own says so with a ``needs_decoder`` attribute (default: ``needs_generator``)."""
    flag = getattr(strategy, "needs_decoder", None)
    if flag is not None:
        return bool(flag)
    return bool(strategy.needs_generator) and strategy.name not in ENCODER_ONLY


def _qualname(obj) -> str:
    """``module.Name`` of a class or function (of an instance: its class)."""
    o = obj if isinstance(obj, type) or callable(obj) and hasattr(obj, "__qualname__") else type(obj)
    return f"{getattr(o, '__module__', '?')}.{getattr(o, '__qualname__', type(o).__name__)}"


class _Data:
    """The registry entry of an in-memory data set: the loader that returns it."""

    def __init__(self, ds):
        self.ds = ds

    def __call__(self, root=None, **kwargs):
        return self.ds


class _Target:
    """The registry entry of a target class or factory: ``cls(image_shape, n_outputs, **kw)`` or ``cls(**kw)``."""

    def __init__(self, fn, name: str):
        self.fn, self.name = fn, name
        self.positional = _positional(fn, name)

    def __call__(self, image_shape, n_outputs, **kwargs):
        from torch import nn

        model = self.fn(image_shape, n_outputs, **kwargs) if self.positional else self.fn(**kwargs)
        if not isinstance(model, nn.Module):
            raise ConfigError(f"target {self.name!r} built a {type(model).__name__}, not a torch nn.Module")
        return model


def _given_target(name: str) -> bool:
    """A target given as an object to run_experiment: the data set's list of fitting targets does not bind it."""
    from .models import TARGETS

    return isinstance(TARGETS.get(name), _Target)


def _positional(fn, name: str) -> bool:
    """True when ``fn`` takes ``(image_shape, n_outputs)``, False when it takes no argument."""
    import inspect

    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    required = [p for p in params if p.kind in kinds and p.default is inspect.Parameter.empty]
    if len(required) not in (0, 2):
        raise ConfigError(
            f"target {name!r} must be callable as {name}() or {name}(image_shape, n_outputs); "
            f"it requires {len(required)} argument(s) ({', '.join(p.name for p in required)})"
        )
    return len(required) == 2


class _GivenStrategy:
    """The registry entry of a Strategy object: a fresh copy for every run, as a registered class gives."""

    def __init__(self, obj):
        self.obj = obj
        self.name = obj.name
        self.needs_generator = obj.needs_generator

    def __call__(self, **kwargs):
        import copy

        return copy.deepcopy(self.obj)


@dataclasses.dataclass
class Given:
    """The in-memory objects of one run (see :func:`run_experiment`); each travels to the workers.

    Attributes
    ----------
    dataset : Dataset or None
    prepared : bool
        ``dataset`` and ``latent`` came from :func:`prepare` (``prepared=``): used as they are.
    latent : LatentSpace or None
    generator : nn.Module or None
        A trained model with ``encode``/``decode``/``latent_dim`` (nothing is trained).
    generator_class : type or None
        A generator class to train (as a registered one would be).
    target : callable or None
    strategies : dict
        name -> Strategy object or subclass.
    labeler : Labeler or None
    """

    dataset: object = None
    prepared: bool = False
    latent: object = None
    generator: object = None
    generator_class: type | None = None
    target: object = None
    strategies: dict = dataclasses.field(default_factory=dict)
    labeler: object = None

    @property
    def empty(self) -> bool:
        objects = (self.dataset, self.latent, self.generator, self.generator_class, self.target, self.labeler)
        return all(o is None for o in objects) and not self.strategies

    def from_config(self, config: ExperimentConfig) -> bool:
        """``prepared=`` holding what ``prepare(config)`` gives: a registered data set and the generator kind
        ``config`` names (config.json then needs no record of it, as before objects could be given)."""
        from .models import GENERATORS

        gen = getattr(self.latent, "generator", None)
        return (
            self.prepared
            and DATASETS.get(self.dataset.name) is not None
            and not isinstance(DATASETS[self.dataset.name], _Data)
            and (gen is None or type(gen) is GENERATORS.get(config.generator.kind))
        )

    def target_name(self) -> str:
        return getattr(self.target, "name", None) or getattr(self.target, "__name__", type(self.target).__name__)

    def generator_name(self) -> str:
        return getattr(self.generator_class, "name", None) or self.generator_class.__name__

    def configure(self, config: ExperimentConfig) -> ExperimentConfig:
        """``config`` with the objects' names in place of the settings they stand for."""
        changes: dict = {}
        if self.dataset is not None:
            changes["dataset"] = self.dataset.name
        if self.strategies:
            changes["strategies"] = tuple(self.strategies)
        if self.target is not None:
            changes["loop"] = dataclasses.replace(config.loop, target=self.target_name())
        if self.generator_class is not None:
            changes["generator"] = dataclasses.replace(config.generator, kind=self.generator_name())
        return dataclasses.replace(config, **changes)

    @contextlib.contextmanager
    def scope(self):
        """The objects looked up by name (data set, target, strategies, generator class) inside the block."""
        from .models import GENERATORS, TARGETS
        from .strategies import STRATEGIES

        with contextlib.ExitStack() as stack:
            if self.dataset is not None:
                ds = self.dataset
                stack.enter_context(DATASETS.scoped({ds.name: _Data(ds)}, {ds.name: {"targets": ds.targets}}))
            if self.target is not None:
                name = self.target_name()
                stack.enter_context(TARGETS.scoped({name: _Target(self.target, name)}))
            if self.generator_class is not None:
                stack.enter_context(GENERATORS.scoped({self.generator_name(): self.generator_class}))
            entries = {k: v if isinstance(v, type) else _GivenStrategy(v) for k, v in self.strategies.items()}
            if entries:
                stack.enter_context(STRATEGIES.scoped(entries))
            yield

    def record(self, config: ExperimentConfig) -> dict:
        """What config.json says the objects were (names, classes, the data's fingerprint)."""
        rec: dict = {}
        if self.dataset is not None and not self.from_config(config):
            ds = self.dataset
            rec["dataset"] = {
                "name": ds.name,
                "fingerprint": ds.fingerprint(),
                "image_shape": list(ds.image_shape),
                "n_pool": len(ds.x_train),
                "n_test": len(ds.x_test),
                "source": "prepared" if self.prepared else "in memory",
            }
        if self.target is not None:
            rec["target"] = {"name": self.target_name(), "class": _qualname(self.target)}
        if self.strategies:
            rec["strategies"] = {
                k: {"class": _qualname(v), **({} if isinstance(v, type) else {"object": repr(v)})}
                for k, v in self.strategies.items()
            }
        gen = self.generator if self.generator is not None else getattr(self.latent, "generator", None)
        if gen is not None and not self.from_config(config):
            from .generative import EncoderDecoder, has_decoder

            parts = (
                {"encoder": _qualname(gen.encoder), "decoder": _qualname(gen.decoder) if gen.decoder else None}
                if isinstance(gen, EncoderDecoder)
                else {}
            )
            rec["generator"] = {
                "class": _qualname(gen),
                **parts,
                "decoder": has_decoder(gen),
                "trained": "before the run (given)",
            }
        if self.generator_class is not None:
            rec["generator"] = {"class": _qualname(self.generator_class), "trained": "by this run"}
        if self.labeler is not None:
            fn = getattr(self.labeler, "fn", self.labeler)
            rec["labeler"] = _qualname(fn)
        return {"given": rec} if rec else {}


class _Recorded:
    """What ``config.json`` holds for a run with objects: its settings plus :meth:`Given.record`; a
    generator given trained replaces the generator settings (they did not make it)."""

    def __init__(self, config: ExperimentConfig, given: Given):
        self.config, self.given = config, given

    def __getattr__(self, name: str) -> Any:
        """The settings' own fields (``loop``, ``dataset``, ...): run-folder checks read them as from a config."""
        return getattr(self.config, name)

    def to_dict(self) -> dict:
        d = self.config.to_dict()
        rec = self.given.record(self.config)
        if rec:
            d.update(rec)
            gen = rec["given"].get("generator", {})
            if gen.get("trained") == "before the run (given)":
                d["generator"] = {"given": gen["class"]}
            if not any(get_strategy(s).needs_generator for s in self.config.strategies):
                d["generator"] = None  # no strategy of this run used one: its settings did not run
        return d


def _given(config, dataset, target, strategies, generator, labeler, prepared) -> tuple:
    """Sort the objects ``run_experiment`` received into a :class:`Given`, refusing what cannot run;
    ``(given, config)`` with the names given as plain strings (target, strategies) put in ``config``."""
    from .datasets import Dataset
    from .generative import EncoderDecoder, has_decoder
    from .labeling import Labeler, ToolLabeler
    from .latent import LatentSpace
    from .models import TARGETS
    from .strategies import STRATEGIES, Strategy

    g = Given()
    if prepared is not None:
        if dataset is not None or generator is not None:
            raise ConfigError("give prepared=(dataset, latent) or dataset=/generator=, not both")
        g.dataset, g.latent, g.prepared = prepared[0], prepared[1], True
    if dataset is not None:
        if not isinstance(dataset, Dataset):
            raise ConfigError(
                f"dataset= takes a latentlab Dataset, got {type(dataset).__name__}; build one with "
                "Dataset.from_arrays(x, y) or Dataset.from_torch(torch_dataset)"
            )
        g.dataset = dataset.validate()
    if target is not None:
        if isinstance(target, str):
            config = dataclasses.replace(config, loop=dataclasses.replace(config.loop, target=target))
        elif not callable(target):
            raise ConfigError(f"target= takes an nn.Module class or a function building one, got {target!r}")
        else:
            g.target = target
            name = g.target_name()
            _positional(target, name)
            if name in TARGETS and TARGETS[name] is not target:
                raise ConfigError(
                    f"target name {name!r} is latentlab's registered target; give your class another name "
                    "(or a `name` attribute)"
                )
    for s in strategies or ():
        if isinstance(s, str):
            STRATEGIES.resolve(s)
            g.strategies[s] = STRATEGIES[s]
            continue
        cls = s if isinstance(s, type) else type(s)
        if not issubclass(cls, Strategy):
            raise ConfigError(
                f"strategies= takes names or latentlab Strategy objects, got {s!r}; subclass "
                "latentlab.strategies.Strategy and implement propose()"
            )
        name = s.name
        if name == Strategy.name:
            raise ConfigError(f"strategy {cls.__name__} needs a name: set the class attribute name = '...'")
        if name in g.strategies:
            raise ConfigError(f"two strategies are named {name!r}; strategies and seeds must not repeat")
        if name in STRATEGIES and STRATEGIES[name] is not cls:
            raise ConfigError(
                f"strategy {cls.__name__} is named {name!r}, which is latentlab's "
                f"{STRATEGIES[name].__name__}; give it another name (name = '...')"
            )
        g.strategies[name] = s
    if all(isinstance(v, type) and STRATEGIES.get(k) is v for k, v in g.strategies.items()):
        config = dataclasses.replace(config, strategies=tuple(g.strategies) or config.strategies)
        g.strategies = {}  # names only: nothing to ship
    if generator is not None:
        if isinstance(generator, LatentSpace):
            generator = generator.generator
        if isinstance(generator, (tuple, list)):
            if len(generator) != 2:
                raise ConfigError("generator=(encoder, decoder): a pair (the decoder may be None)")
            generator = EncoderDecoder(*generator)
        if isinstance(generator, type):
            g.generator_class = generator
        elif callable(getattr(generator, "encode", None)):
            g.generator = generator
        else:
            raise ConfigError(
                "generator= takes a trained model with encode()/decode(), an (encoder, decoder) pair, "
                f"or a generator class to train; got {type(generator).__name__}"
            )
    if labeler is not None:
        if isinstance(labeler, Labeler):
            g.labeler = labeler
        elif callable(labeler):
            g.labeler = ToolLabeler(labeler)
        else:
            raise ConfigError(f"labeler= takes a function x_item -> label or a Labeler, got {labeler!r}")
    gen = g.generator if g.generator is not None else getattr(g.latent, "generator", None)
    if gen is not None and not has_decoder(gen):
        with g.scope():
            decoding = [n for n in g.configure(config).strategies if needs_decoder(get_strategy(n))]
        if decoding:
            raise ConfigError(
                f"strategy {', '.join(repr(n) for n in decoding)} decodes latent points and the generator has "
                "no decoder; give generator=(encoder, decoder), or use strategies that only read codes "
                f"({', '.join(ENCODER_ONLY)}) or score the pool (entropy, margin, bald, ...)"
            )
    return g, config


def _ship(given: Given) -> bytes | None:
    """``given`` as bytes for the worker processes (cloudpickle when installed: objects defined in a
    notebook's ``__main__`` then travel by value); None when there is nothing to ship."""
    if given.empty:
        return None
    import pickle

    try:
        import cloudpickle
    except ImportError:
        cloudpickle = None
    fix = (
        "define it in a module (a .py file you import), install cloudpickle (pip install cloudpickle), "
        "or run with workers=1"
    )
    try:
        blob = cloudpickle.dumps(given) if cloudpickle is not None else pickle.dumps(given)
    except Exception as e:  # noqa: BLE001 - any pickling failure gets the one message naming the fix
        raise ConfigError(f"an object given to run_experiment cannot reach the worker processes ({e}); {fix}") from None
    main = sys.modules.get("__main__")
    if cloudpickle is None and not hasattr(main, "__file__") and b"__main__" in blob:
        raise ConfigError(
            "an object given to run_experiment is defined in this notebook (__main__), which worker "
            f"processes cannot import; {fix}"
        )
    return blob
