"""Experiment runner: strategies x seeds on one data set, with outputs a paper table is made from.

``run_experiment(config, out)`` trains (or loads from cache) the generator once, runs every
(strategy, seed) as an :class:`~latentlab.loop.ActiveLoop` checkpointed under ``out/runs/``, and
writes

* ``results.csv`` — tidy: dataset, strategy, seed, round, n_labelled, metric, value
  (deterministic: same seed, same bytes);
* ``rounds.csv`` — every round record, timings included (not deterministic: wall times);
* ``summary.md`` — a Table-1-style pivot, mean +- std over seeds per round and strategy, and the
  labels needed to reach a metric threshold;
* ``learning_curves.png`` — metric vs labelled items, mean and spread over seeds.

The settings are :mod:`latentlab.config`'s, the output folder's rules :mod:`latentlab.run_folder`'s;
both are re-exported here, so ``from latentlab.experiment import ExperimentConfig, check_writable``
keeps working.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np


if TYPE_CHECKING:
    import torch

    from .datasets import Dataset
    from .latent import LatentSpace
    from .strategies import Strategy

from .config import (
    ALPHAGAN_HIDDEN,
    RUN_SETTINGS,
    SETTINGS,
    ExperimentConfig,
    Setting,
    apply_overrides,
    config_from_settings,
    dataset_info,
    get_path,
)
from .datasets import DATASETS, load_dataset
from .exceptions import ConfigError, LatentLabError
from .generative import get_generator
from .latent import LatentSpace
from .loop import ActiveLoop
from .report import RESULT_COLUMNS
from .run_folder import (
    RUN_MARKER,
    RunLock,
    check_out,
    check_writable,
    read_config,
    remove_run_files,
    undo_start,
    write_config,
    write_marker,
)
from .strategies import get_strategy

if TYPE_CHECKING:
    from .datasets import Dataset
    from .labeling import Labeler
    from .strategies import Strategy

__all__ = [
    "ExperimentConfig",
    "SETTINGS",
    "RUN_SETTINGS",
    "Setting",
    "config_from_settings",
    "apply_overrides",
    "get_path",
    "dataset_info",
    "ALPHAGAN_HIDDEN",
    "prepare",
    "check_fits_data",
    "labeler_for",
    "label_validation",
    "run_experiment",
    "run_jobs",
    "needs_decoder",
    "Given",
    "RESULT_COLUMNS",
    "check_writable",
    "check_out",
    "write_marker",
    "write_config",
    "read_config",
    "remove_run_files",
    "RUN_MARKER",
]


def prepare(
    config: ExperimentConfig,
    data_root: str | os.PathLike | None = None,
    progress: bool = True,
    device: str | torch.device | None = None,
    dataset_kwargs: dict[str, Any] | None = None,
    retrain_generator: bool = False,
    generator: Any = None,
) -> tuple[Dataset, LatentSpace | None]:
    """Load the data set and the (cached) generator; returns ``(dataset, latent_space)``.

    Parameters
    ----------
    config : ExperimentConfig
        The experiment (data set, subsets, validation split, generator settings).
    data_root : str or os.PathLike, optional
        Folder holding the data set's files (:func:`latentlab.datasets.load_dataset`).
    progress : bool, default True
        Show the generator's training progress.
    device : str or torch.device, optional
        Where the generator is trained and kept (e.g. ``torch.device("cuda")``, see
        :func:`latentlab.profiles.resolve_device`); CPU by default. It is not part of the run's
        identity (config.json).
    dataset_kwargs : dict, optional
        Passed to the data set's loader (e.g. ``n``, ``seed`` of the generated vessels).
    retrain_generator : bool, default False
        Train the generator afresh (``get_generator(retrain=True)``), replacing its cache entry.
    generator : object, optional
        A trained model (``encode``/``decode``/``latent_dim``) to use instead; nothing is trained.

    Returns
    -------
    dataset : Dataset
        The data set, subset and split as ``config`` says.
    latent_space : LatentSpace or None
        Generator, pool embeddings and index; None when no strategy of ``config`` needs a generator.
    """
    kwargs = dict(dataset_kwargs or {})
    if config.n_test and _accepts(DATASETS.resolve(config.dataset), "n_test_used"):
        kwargs.setdefault("n_test_used", config.n_test)  # a loader that labels its test set labels only these
    ds = load_dataset(config.dataset, root=data_root, **kwargs)
    if config.n_pool or config.n_test:
        ds = ds.subset(config.n_pool, config.n_test, seed=0)
    # one data split for every strategy and seed of the run (seed 0): seeds vary the sampling only
    ds = ds.with_validation(config.n_val, seed=0)
    check_fits_data(config, ds)
    needs_gen = any(get_strategy(s).needs_generator for s in config.strategies)
    if not needs_gen:
        return ds, None
    if generator is not None:
        return ds, LatentSpace.from_generator(generator, ds.x_train)
    gen = get_generator(
        ds, config.generator, seed=config.gen_seed, progress=progress, device=device, retrain=retrain_generator
    )
    return ds, LatentSpace.from_generator(gen, ds.x_train)


def _accepts(fn, name: str) -> bool:
    import inspect

    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def check_fits_data(config: ExperimentConfig, ds) -> None:
    """Checks that need the data set's sizes, made before any generator or target model is trained."""
    n_pool = len(ds.x_train)
    lc = config.loop
    if lc.initial > n_pool:
        raise ConfigError(f"initial set of {lc.initial} is larger than the pool ({n_pool} items); lower --initial")
    pool_based = [s for s in config.strategies if get_strategy(s).shares_initial_set]
    if pool_based and lc.rounds > 1 and lc.per_round > n_pool - lc.initial:
        raise ConfigError(
            f"per-round batch of {lc.per_round} is larger than the {n_pool - lc.initial} unlabelled "
            "pool items left after the initial set; lower --per-round or --initial"
        )
    if lc.target and ds.targets and lc.target not in ds.targets and not _given_target(lc.target):
        raise ConfigError(
            f"target model {lc.target!r} does not fit data set {ds.name!r} "
            f"({ds.task}); use --target {' or '.join(ds.targets)}"
        )


def _given_target(name: str) -> bool:
    """A target given as an object to run_experiment: the data set's list of fitting targets does not bind it."""
    from .models import TARGETS

    return isinstance(TARGETS.get(name), _Target)


def labeler_for(ds, target: str | None = None):
    """The labeler the dataset names (``ds.labeler``: the oracle, or a tool such as ``"fem"``); with
    ``target``, first check that the target model suits the dataset (``ds.targets``), before anything
    is trained."""
    from .labeling import make_labeler

    if target is not None and ds.targets and target not in ds.targets and not _given_target(target):
        raise ConfigError(
            f"target model {target!r} does not fit data set {ds.name!r} "
            f"({ds.task}); use --target {' or '.join(ds.targets)}"
        )
    return make_labeler(ds.labeler, ds)


def label_validation(ds, labeler, progress: bool = True):
    """Give the validation set its labels from ``labeler`` when they are not known in advance.

    The oracle's labels are known; a labeling tool (e.g. the FEM solver) labels each validation item
    once (it caches by content). Items the tool cannot label are dropped from the validation set.
    """
    if ds.x_val is None or ds.y_val is not None:
        return ds
    res = labeler.label(ds.x_val, progress=progress)
    if not np.any(res.ok):
        raise ConfigError(
            "the labeling tool labelled none of the validation items; see its errors above, or run without --val"
        )
    return dataclasses.replace(ds, x_val=ds.x_val[res.ok], y_val=np.asarray(res.y))


# --------------------------------------------------------------------------- your own objects
# In-memory objects (a Dataset, a target class, Strategy objects, a generator, a labeler) given to
# run_experiment are looked up under their names only inside the run (Registry.scoped), in this process
# and in every worker process (they travel with each job, pickled): nothing is registered for good, and
# a worker never rebuilds a default in their place.

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


_CHILD_PREPARED: dict = {}


def _run_job(
    config_dict: dict, strategy: str, seed: int, folder: str, data_root, device, given: bytes | None = None
) -> str:
    """One (strategy, seed) run in a worker process, checkpointed in ``folder`` (one torch thread).

    ``given``: the run's in-memory objects (:class:`Given`, pickled), looked up by name inside the job."""
    import hashlib
    import pickle

    import torch

    torch.set_num_threads(1)
    g = pickle.loads(given) if given is not None else Given()  # noqa: S301 - bytes from our own parent
    with g.scope():
        config = ExperimentConfig.from_dict(config_dict)
        needs_gen = any(get_strategy(s).needs_generator for s in config.strategies)
        key = (
            json.dumps(
                {k: v for k, v in config_dict.items() if k not in ("strategies", "seeds", "loop")}, sort_keys=True
            )
            + f"|{data_root}|{needs_gen}|{config.loop.target}|"
            + (hashlib.sha256(given).hexdigest() if given is not None else "")
        )
        if key not in _CHILD_PREPARED:  # a worker keeps the data and generator for its next job
            _CHILD_PREPARED.clear()
            ds, latent, labeler = _prepare_given(config, g, data_root, False, device)
            _CHILD_PREPARED[key] = (label_validation(ds, labeler, False), latent, labeler)
        ds, latent, labeler = _CHILD_PREPARED[key]
        _run_one(config, strategy, seed, (ds, latent, labeler), Path(folder), progress=False, device=device)
    return folder


def _prepare_given(config, g: Given, data_root, progress: bool, device):
    """``(dataset, latent_space, labeler)`` of a run with objects ``g`` (inside ``g.scope()``)."""
    if g.prepared:
        ds, latent = g.dataset, g.latent
    else:
        ds, latent = prepare(config, data_root, progress, device, generator=g.generator)
    if g.labeler is not None:
        labeler = g.labeler
    elif ds.labeler == "given":
        raise ConfigError(
            f"{ds.name}: pool labels are unknown and no labeler was given; pass labeler=your_function "
            "(x_item -> label) to run_experiment"
        )
    else:
        labeler = labeler_for(ds, config.loop.target)
    return ds, latent, labeler


def _run_one(config, strategy: str, seed: int, data, folder: Path, *, progress: bool, device) -> list:
    """Run (or resume, or read back) one (strategy, seed) checkpointed in ``folder``; its round records.

    ``data``: ``(dataset, latent_space, labeler)``; every strategy gets the latent
    space (the diagnostics measure picks in it)."""
    ds, latent, labeler = data
    strat = get_strategy(strategy)
    folder.mkdir(parents=True, exist_ok=True)
    with RunLock(folder):  # every process writing a run's checkpoints holds its lock (workers included)
        loop = ActiveLoop(
            ds,
            strat,
            config.loop,
            seed,
            latent=latent,  # strategies that need no generator ignore it; the diagnostics measure picks in it
            labeler=labeler,
            checkpoint_dir=folder,
            progress=progress,
            device=device,
        )
        return loop.run()


def run_jobs(
    jobs: list,
    *,
    workers: int,
    data_root=None,
    device=None,
    progress: bool = True,
    given: bytes | None = None,
    client=None,
) -> None:
    """Run ``(config, out, strategy, seed)`` jobs on ``workers`` processes (spawned, one torch thread each),
    or on a Dask cluster (``client``: a ``dask.distributed.Client`` or a scheduler address).

    Each job checkpoints into ``out/runs/<strategy>-seed<seed>`` exactly as :func:`run_experiment` does, so a
    following ``run_experiment(config, out, resume=True)`` only reads the finished runs back. Results equal
    a sequential ``OMP_NUM_THREADS=1`` run. Call :func:`prepare` first once, so the generator is trained
    (and cached) before the workers load it. ``given``: in-memory objects (a pickled :class:`Given`) every
    job receives.
    """
    from concurrent.futures.process import BrokenProcessPool

    from .executor import as_finished

    dev = None if device is None else str(device)
    root = None if data_root is None else str(data_root)
    args = [
        (cfg.to_dict(), s, seed, str(Path(out) / "runs" / f"{s}-seed{seed}"), root, dev, given)
        for cfg, out, s, seed in jobs
    ]
    try:
        for _ in as_finished(_run_job, args, processes=workers, client=client, progress=progress, desc="runs"):
            pass
    except BrokenProcessPool:
        raise ConfigError(
            "a worker process died while starting (its error is above). From a script, put the code that "
            'calls run_experiment under `if __name__ == "__main__":` (worker processes import the script '
            "again); objects it uses must be importable (defined at the top level of a module)"
        ) from None


def _guard_spawned_main() -> None:
    """Refuse a run started while a worker process imports the user's script (no ``__main__`` guard)."""
    import multiprocessing as mp

    if mp.parent_process() is not None and getattr(sys.modules.get("__main__"), "__name__", "") == "__mp_main__":
        raise ConfigError(
            "run_experiment was called while a worker process imported your script: put the code that "
            'calls it under `if __name__ == "__main__":` (worker processes are spawned and import the script)'
        )


def run_experiment(
    config: ExperimentConfig,
    out: str | os.PathLike,
    *,
    data_root: str | os.PathLike | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    prepared: tuple[Dataset, LatentSpace | None] | None = None,
    device: str | torch.device | None = None,
    workers: int = 1,
    dataset: Dataset | None = None,
    target: Callable[..., Any] | str | None = None,
    strategies: Sequence[str | Strategy | type[Strategy]] | None = None,
    generator: Any = None,
    labeler: Callable[[np.ndarray], Any] | Labeler | None = None,
    client: Any = None,
) -> list[dict]:
    """Run every (strategy, seed) of ``config``; write outputs to ``out``; return the tidy rows.

    Your own objects (``dataset``, ``target``, ``strategies``, ``generator``, ``labeler``) need no
    registered name: they stand in for the settings of ``config`` that name them, in this process and
    in every worker process, and ``config.json`` records them (names, classes, the data's fingerprint).
    See docs/your-data.md.

    Parameters
    ----------
    config : ExperimentConfig
        The settings; the objects below replace the ones they name.
    out : path
        Output folder. An existing run there is an error unless ``resume`` (same settings:
        finished runs are read back, a killed run continues from its last complete round) or
        ``overwrite``.
    data_root : path, optional
        Folder holding the data set's files (see :func:`latentlab.datasets.load_dataset`).
    resume : bool, default False
        Continue the run in ``out`` (the same settings only).
    overwrite : bool, default False
        Replace the run in ``out``.
    progress : bool, default True
        Show progress bars (tqdm).
    prepared : tuple, optional
        ``(dataset, latent_space)`` from :func:`prepare`, to share across calls; used as they are
        (also by the worker processes).
    device : str or torch.device, optional
        Where generator and target models run (CPU by default; the ``paper`` profile picks cuda).
    workers : int
        Run the (strategy, seed) jobs on this many processes (one torch thread each); results equal
        a sequential run with ``OMP_NUM_THREADS=1``. From a script, call under
        ``if __name__ == "__main__":`` (the workers are spawned and import the script).
    dataset : Dataset, optional
        Your data (:meth:`Dataset.from_arrays`, :meth:`Dataset.from_torch`); ``config``'s ``n_pool``,
        ``n_test`` and ``n_val`` still apply. Never looked up by name.
    target : nn.Module class or callable, optional
        Builds the target model F, called as ``target(image_shape, n_outputs)`` or ``target()``; a
        new model every round, seeded before the call. Or a registered name.
    strategies : list of str or Strategy, optional
        Registered names and/or your :class:`~latentlab.strategies.Strategy` objects (or subclasses),
        each with its own ``name``; replaces ``config.strategies``.
    generator : nn.Module, (encoder, decoder), or class, optional
        The latent space: a trained model with ``encode``/``decode``/``latent_dim``, or a pretrained
        ``(encoder, decoder)`` pair (decoder may be None: SNN and the SI family need it, latent-coreset,
        diverse-entropy and pool-scoring strategies do not), used without training; or a generator
        class, trained on the pool as a registered one is.
    labeler : callable or Labeler, optional
        Where labels come from: a function ``x_item -> label`` (e.g. a simulation), called for each
        chosen item, or a :class:`~latentlab.labeling.Labeler`. Default: the data set's labels.
    client : dask.distributed.Client or str, optional
        Send the (strategy, seed) jobs to this Dask cluster instead (same results); the cache and
        ``out`` must be visible to its workers at the same paths.

    Returns
    -------
    list of dict
        The rows of ``results.csv`` (dataset, strategy, seed, round, n_labelled, metric, value).
    """
    _guard_spawned_main()
    given, config = _given(config, dataset, target, strategies, generator, labeler, prepared)
    with given.scope():
        config = given.configure(config).validate()
        out = check_writable(out)
        from .alpha import needs_resolution, resolve_alpha

        if needs_resolution(config):  # --alpha auto / --alpha-unit nn: measure the map (and run the grid) first
            config, (given.dataset, given.latent) = resolve_alpha(
                config,
                lambda: _prepare_given(config, given, data_root, progress, device)[:2],
                lambda cfg, folder, data: run_experiment(
                    cfg, folder, data_root=data_root, resume=True, progress=progress, prepared=data, device=device
                ),
            )
            given.prepared = True
        blob = _ship(given) if workers > 1 or client is not None else None
        recorded = _Recorded(config, given)
        created = not out.exists()
        out.mkdir(parents=True, exist_ok=True)
        try:
            with RunLock(out):
                check_out(out, recorded, resume, overwrite)
                undo = undo_start(out)  # a command refused from here on leaves the folder as it found it
                try:
                    write_marker(out)
                    ds, latent, labeler_ = _prepare_given(config, given, data_root, progress, device)
                    ds = label_validation(ds, labeler_, progress)
                    write_config(out, recorded)
                    return _run_all(
                        config,
                        out,
                        ds,
                        latent,
                        labeler_,
                        data_root=data_root,
                        progress=progress,
                        device=device,
                        workers=workers,
                        given=blob,
                        client=client,
                    )
                except LatentLabError:
                    undo()
                    raise
        except LatentLabError:
            if created and not (out / "config.json").exists():  # a failed start leaves nothing behind
                (out / RUN_MARKER).unlink(missing_ok=True)
                with contextlib.suppress(OSError):
                    out.rmdir()
            raise


def _run_all(config, out, ds, latent, labeler, *, data_root, progress, device, workers, given=None, client=None):
    from tqdm.auto import tqdm

    from .report import write_outputs

    runs = {}
    jobs = [(s, seed) for seed in config.seeds for s in config.strategies]
    if client is not None or (workers > 1 and len(jobs) > 1):
        run_jobs(
            [(config, out, s, seed) for s, seed in jobs],
            workers=workers,
            data_root=data_root,
            device=device,
            progress=progress,
            given=given,
            client=client,
        )
    for s, seed in tqdm(jobs, desc=f"{config.dataset} runs", disable=not progress):
        folder = out / "runs" / f"{s}-seed{seed}"
        runs[(s, seed)] = _run_one(config, s, seed, (ds, latent, labeler), folder, progress=progress, device=device)
    shared = {s for s in config.strategies if get_strategy(s).shares_initial_set}
    return write_outputs(out, config.dataset, runs, data=ds, shared_initial=shared)
